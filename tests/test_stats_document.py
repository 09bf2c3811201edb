"""The whole definum_get_stats document for one learner, every field worked out by hand."""

from __future__ import annotations

import pytest

from definum_gql.config import Settings
from definum_gql.moodle.site import Moodle
from definum_gql.stats.document import DefinumBadge, DefinumStats, definum_stats, document_for
from definum_gql.stats.errors import MultipleUsersFound
from definum_gql.stats.months import Month
from tests import databases
from tests.builders import NOW, Site

NOV_START = 1793487600  # 2026-11-01T00:00 Paris = 2026-10-31T23:00Z
LAST_LOGIN = 1793880000  # 2026-11-05T12:00Z = 13:00 Paris, a Thursday
BADGE_NEW = 1795167000  # 2026-11-20T09:30Z = 10:30 Paris (CET), a Friday
BADGE_OLD = 1792051200  # 2026-10-15T08:00Z = 10:00 Paris (CEST), a Thursday
T0 = 1795165200  # 2026-11-20T09:00Z


async def build_learner(site: Site) -> int:
    user = await site.user(firstname="Zoë", lastname="Smith & <b>Sons</b>", lastlogin=LAST_LOGIN)
    done = await site.course(enablecompletion=1)
    running = await site.course(enablecompletion=1)
    untracked = await site.course(enablecompletion=0)
    for course in (done, running, untracked):
        await site.enrol(user, course)
    await site.completion(user, done, T0 - 86400)
    new = await site.badge(
        name="Participation ✓ 参加",
        issuername="Université Définum",
        issuerurl="http://127.0.0.1:8082/",
        issuercontact=None,
    )
    old = await site.badge(
        name="Chimie <sécurité> & labo",
        issuername="Définum",
        issuerurl="https://definum.example.org/",
        issuercontact="badges@definum.example.org",
    )
    await site.issue(old, user, BADGE_OLD)
    await site.issue(new, user, BADGE_NEW)
    await site.login(user, NOV_START - 1)  # 23:59:59 on 31 October, Paris: October's
    await site.login(user, NOV_START)  # 00:00:00 on 1 November: counts (>=, not >)
    await site.login(user, T0)
    await site.log(user, T0 + 180, courseid=done)
    await site.log(user, T0 + 600, courseid=done)
    return user


async def test_full_document_in_english(site: Site, moodle: Moodle) -> None:
    user = await build_learner(site)
    async with moodle.request() as ctx:
        document = (await definum_stats(ctx, [user]))[user]
    # Time spent (threshold 60 min, credit 15 min, no enrolment filter):
    #   login at NOV_START: next row 19 days later > 3600 s → min(900, now - t) = 900
    #   login at T0 → 180, view at T0+180 → 420, last view → min(900, now - t) = 900
    #   900 + 180 + 420 + 900 = 2400 s = "40m 0s"
    assert document == DefinumStats(
        id=user,
        lastname="Smith & <b>Sons</b>",
        firstname="Zoë",
        courses=3,
        finishablecourses=2,
        finishedcourses=1,
        finishedcoursesratio=50,
        badges=[
            DefinumBadge(
                id=1,
                name="Participation ✓ 参加",
                issuername="Université Définum",
                issuerurl="http://127.0.0.1:8082/",
                issuercontact="",
                dateissued=BADGE_NEW,
                dateissuedstr="Friday, 20 November 2026, 10:30 AM",
            ),
            DefinumBadge(
                id=2,
                name="Chimie <sécurité> & labo",
                issuername="Définum",
                issuerurl="https://definum.example.org/",
                issuercontact="badges@definum.example.org",
                dateissued=BADGE_OLD,
                dateissuedstr="Thursday, 15 October 2026, 10:00 AM",
            ),
        ],
        numbadges=2,
        lastlogin=LAST_LOGIN,
        lastloginstr="Thursday, 05 November 2026, 01:00 PM",
        timespentinmonth=2400,
        timespentinmonthstr="40m 0s",
        loginsinmonth=2,
    )


async def test_french_strings_and_a_past_month(site: Site, moodle: Moodle) -> None:
    user = await build_learner(site)
    async with moodle.request(lang="fr") as ctx:
        document = (await definum_stats(ctx, [user], month=Month(2026, 10)))[user]
    assert document.lastloginstr == "jeudi 05 novembre 2026, 13:00"
    assert [b.dateissuedstr for b in document.badges] == [
        "vendredi 20 novembre 2026, 10:30",
        "jeudi 15 octobre 2026, 10:00",
    ]
    # October holds one login (23:59:59 on the 31st), the last row of its range: 900 s.
    assert (document.loginsinmonth, document.timespentinmonth) == (1, 900)
    assert document.timespentinmonthstr == "15m 0s"


async def test_a_callers_timezone_changes_how_dates_read_not_the_month(
    site: Site, moodle: Moodle
) -> None:
    user = await build_learner(site)
    async with moodle.request(timezone="UTC") as ctx:
        document = (await definum_stats(ctx, [user]))[user]
    # The month stays Paris's (both logins of 1 November 00:00 and 20 November count) ...
    assert document.loginsinmonth == 2
    # ... but 12:00 UTC now reads as 12:00 PM instead of Paris's 01:00 PM.
    assert document.lastloginstr == "Thursday, 05 November 2026, 12:00 PM"


async def test_definum_timezone_setting_moves_the_month(site: Site, settings: Settings) -> None:
    user = await build_learner(site)
    moodle = Moodle.from_settings(
        settings.model_copy(update={"timezone": "UTC"}), clock=lambda: float(NOW)
    )
    try:
        async with moodle.request() as ctx:
            document = (await definum_stats(ctx, [user]))[user]
    finally:
        await moodle.dispose()
    # In UTC November starts an hour later: the logins at 22:59:59 and 23:00:00 UTC on
    # 31 October are October's; only T0 remains.
    assert document.loginsinmonth == 1
    assert document.lastloginstr == "Thursday, 05 November 2026, 12:00 PM"


async def test_never_logged_in_and_unknown_ids(site: Site, moodle: Moodle) -> None:
    fresh = await site.user(firstname="山田", lastname="太郎")
    async with moodle.request() as ctx:
        documents = await definum_stats(ctx, [fresh, 999999])
    assert list(documents) == [fresh]
    only = documents[fresh]
    assert (only.lastlogin, only.lastloginstr, only.courses, only.numbadges) == (0, "Never", 0, 0)
    assert (only.timespentinmonth, only.timespentinmonthstr, only.loginsinmonth) == (0, "0s", 0)


async def test_the_one_statement_document_is_the_batch_document(
    site: Site, moodle: Moodle, database: databases.TestDatabase
) -> None:
    """A REST call's document (one statement on the servers; on MariaDB the badges are joined, a
    row each) is the batch path's: a learner with no badge, and one with three, a course badge
    among them, with course badges allowed and not."""
    rich = await build_learner(site)
    course = await site.course()
    await site.issue(await site.badge(name="course", type=2, courseid=course), rich, BADGE_NEW + 1)
    bare = await site.user(username="bare")
    sent: list[str] = []
    moodle.db.listeners.append(sent.append)
    site_badges = ["Participation ✓ 参加", "Chimie <sécurité> & labo"]  # newest first
    for allowed, names in (("1", ["course", *site_badges]), ("0", site_badges)):
        await site.config(badges_allowcoursebadges=allowed)
        for user, expected in ((rich, names), (bare, [])):
            async with moodle.request() as ctx:
                batch = (await definum_stats(ctx, [user]))[user]
                one = await document_for(ctx, "id", str(user))
            assert one == batch
            assert [b.name for b in one.badges] == expected
            assert one.numbadges == len(expected)
    joined = [sql for sql in sent if "LEFT OUTER JOIN (" in sql and "mdl_badge_issued" in sql]
    assert len(joined) == (4 if database.backend == "mariadb" else 0)


async def test_two_users_with_badges_sharing_an_email_are_two_not_four(
    site: Site, moodle: Moodle
) -> None:
    """Each user's badges are rows of their own on MariaDB: two users with two badges each
    are still two users for a lookup that must name one."""
    badges = [await site.badge(name=f"b{n}") for n in range(2)]
    for name in ("twin1", "twin2"):
        user = await site.user(username=name, email="twins@example.org")
        for n, badge in enumerate(badges):
            await site.issue(badge, user, BADGE_NEW + n)
    async with moodle.request() as ctx:
        with pytest.raises(MultipleUsersFound, match=r"^2 users have email"):
            await document_for(ctx, "email", "twins@example.org")
