"""Badges as badges_get_user_badges lists them (contract section 4)."""

from __future__ import annotations

from definum_gql.moodle.site import Moodle
from definum_gql.stats.badges import IssuedBadge, load_badges
from tests.builders import NOW, Site

DAY = 86400


async def badges(moodle: Moodle, user_id: int) -> list[IssuedBadge]:
    async with moodle.request() as ctx:
        return (await load_badges(ctx, [user_id]))[user_id]


async def test_badges_are_listed_newest_first(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    b_old = await site.badge(name="old")
    b_new = await site.badge(name="new")
    b_mid = await site.badge(name="mid")
    await site.issue(b_old, user, NOW - 30 * DAY)
    await site.issue(b_new, user, NOW - DAY)
    await site.issue(b_mid, user, NOW - 10 * DAY)
    assert [b.badge.name for b in await badges(moodle, user)] == ["new", "mid", "old"]


async def test_course_badges_only_when_the_site_allows_them(site: Site, moodle: Moodle) -> None:
    user, course = await site.user(), await site.course()
    site_badge = await site.badge(name="site")
    course_badge = await site.badge(name="course", type=2, courseid=course)
    await site.issue(site_badge, user, NOW - 2 * DAY)
    await site.issue(course_badge, user, NOW - DAY)
    assert [b.badge.name for b in await badges(moodle, user)] == ["course", "site"]
    await site.config(badges_allowcoursebadges="0")
    assert [b.badge.name for b in await badges(moodle, user)] == ["site"]


async def test_expired_and_archived_badges_are_listed_and_expiry_flagged(
    site: Site, moodle: Moodle
) -> None:
    user = await site.user()
    expired = await site.badge(name="expired")
    archived = await site.badge(name="archived", status=4)
    await site.issue(expired, user, NOW - 20 * DAY, dateexpire=NOW - DAY)
    await site.issue(archived, user, NOW - 30 * DAY, dateexpire=NOW + DAY)
    listed = await badges(moodle, user)
    assert [(b.badge.name, b.expired) for b in listed] == [("expired", True), ("archived", False)]
    assert listed[0].dateexpire == NOW - DAY


async def test_missing_issuer_fields_read_as_empty_strings(site: Site, moodle: Moodle) -> None:
    user = await site.user()
    bare = await site.badge(name="Participation ✓ 参加", issuerurl="", issuercontact=None)
    await site.issue(bare, user, NOW - DAY)
    (only,) = await badges(moodle, user)
    assert (only.badge.name, only.badge.issuerurl, only.badge.issuercontact) == (
        "Participation ✓ 参加",
        "",
        "",
    )
