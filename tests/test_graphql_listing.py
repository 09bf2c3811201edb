"""User and course lists: each filter, keyset pages, and who is never listed."""

from __future__ import annotations

from typing import Any

from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.graphql_support import admin_token, data

USERS = """
query($filter: UserFilter, $first: Int = 50, $after: String) {
  users(first: $first, after: $after, filter: $filter) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { node { username } }
  }
}
"""
COURSES = """
query($filter: CourseFilter) {
  courses(filter: $filter) { totalCount edges { node { shortname } } }
}
"""


async def categories(site: Site) -> dict[str, int]:
    """Science (1) > Physics (2) > Optics (3), and Arts (4), with Moodle's paths."""
    ids: dict[str, int] = {}
    for name, parent in (
        ("science", None),
        ("physics", "science"),
        ("optics", "physics"),
        ("arts", None),
    ):
        parent_id = ids[parent] if parent else 0
        cid = await site.insert(site.t.course_categories, name=name, parent=parent_id, path="")
        parent_path = ""
        if parent:
            parent_path = await _path(site, ids[parent])
        await site.set(site.t.course_categories, cid, path=f"{parent_path}/{cid}")
        ids[name] = cid
    return ids


async def _path(site: Site, category: int) -> str:
    from sqlalchemy import select

    cc = site.t.course_categories
    async with site.db.writer.connect() as conn:
        return str((await conn.execute(select(cc.c.path).where(cc.c.id == category))).scalar_one())


async def names(site: Site, moodle: Moodle, query: str, **variables: Any) -> list[str]:
    result = await data(moodle, query, variables, token=await admin_token(site))
    root = result.get("users") or result["courses"]
    return [
        edge["node"]["username" if "users" in result else "shortname"] for edge in root["edges"]
    ]


async def test_category_filter_includes_subcategories_unless_told(
    site: Site, moodle: Moodle
) -> None:
    cats = await categories(site)
    lens = await site.course(shortname="LENS", category=cats["optics"])
    mech = await site.course(shortname="MECH", category=cats["physics"])
    paint = await site.course(shortname="PAINT", category=cats["arts"])
    for username, course in (("olga", lens), ("max", mech), ("pia", paint)):
        await site.enrol(await site.user(username=username), course)
    assert await names(site, moodle, USERS, filter={"inCategory": cats["science"]}) == [
        "olga",
        "max",
    ]
    assert await names(site, moodle, USERS, filter={"inCategory": cats["physics"]}) == [
        "olga",
        "max",
    ]
    assert await names(
        site, moodle, USERS, filter={"inCategory": cats["physics"], "includeSubcategories": False}
    ) == ["max"]
    assert await names(site, moodle, COURSES, filter={"inCategory": cats["science"]}) == [
        "LENS",
        "MECH",
    ]
    assert (
        await names(
            site,
            moodle,
            COURSES,
            filter={"inCategory": cats["science"], "includeSubcategories": False},
        )
        == []
    )


async def test_enrolled_filter_counts_only_active_enrolments(site: Site, moodle: Moodle) -> None:
    course = await site.course()
    cases: dict[str, dict[str, Any]] = {
        "active": {},
        "suspended": {"status": 1},
        "future": {"timestart": NOW + 86400},
        "ended": {"timeend": NOW - 86400},
    }
    for username, options in cases.items():
        await site.enrol(await site.user(username=username), course, **options)
    assert await names(site, moodle, USERS, filter={"enrolledInCourse": course}) == ["active"]


async def test_deleted_users_and_the_guest_are_never_listed(site: Site, moodle: Moodle) -> None:
    await site.user(username="gone", deleted=1)
    await site.user(username="here")
    assert await names(site, moodle, USERS) == ["admin", "here"]


async def test_search_matches_every_word_and_takes_wildcards_literally(
    site: Site, moodle: Moodle
) -> None:
    await site.user(username="jdoe", firstname="Jane", lastname="Doe", email="jane@example.org")
    await site.user(username="jsmith", firstname="John", lastname="Smith", email="j@example.org")
    await site.user(username="pct", firstname="100%", lastname="Sure", email="p@example.org")
    assert await names(site, moodle, USERS, filter={"search": "j"}) == ["jdoe", "jsmith"]
    assert await names(site, moodle, USERS, filter={"search": "JANE doe"}) == ["jdoe"]
    assert await names(site, moodle, USERS, filter={"search": "jane smith"}) == []
    assert await names(site, moodle, USERS, filter={"search": "0%"}) == ["pct"]
    assert await names(site, moodle, USERS, filter={"search": "_"}) == []


async def test_pages_resume_after_the_cursor_even_when_rows_are_added(
    site: Site, moodle: Moodle
) -> None:
    for n in range(5):
        await site.user(username=f"p{n}")
    token = await admin_token(site)
    first = await data(moodle, USERS, {"first": 3}, token=token)
    page = first["users"]
    assert [e["node"]["username"] for e in page["edges"]] == ["admin", "p0", "p1"]
    assert page["totalCount"] == 6
    await site.user(username="late")  # keyset: a new row does not shift the next page
    second = await data(
        moodle, USERS, {"first": 3, "after": page["pageInfo"]["endCursor"]}, token=token
    )
    assert [e["node"]["username"] for e in second["users"]["edges"]] == ["p2", "p3", "p4"]
    assert second["users"]["pageInfo"]["hasNextPage"] is True
    empty = await data(moodle, USERS, {"first": 0}, token=token)
    assert empty["users"]["edges"] == []
    assert empty["users"]["pageInfo"] == {"hasNextPage": True, "endCursor": None}


async def test_course_filters(site: Site, moodle: Moodle) -> None:
    await site.course(shortname="VIS", fullname="Visible maths")
    await site.course(shortname="HID", fullname="Hidden maths", visible=0)
    await site.course(shortname="NOC", fullname="No completion", enablecompletion=0)
    assert await names(site, moodle, COURSES) == ["VIS", "HID", "NOC"]  # never the site course
    assert await names(site, moodle, COURSES, filter={"visible": False}) == ["HID"]
    assert await names(site, moodle, COURSES, filter={"completionEnabled": False}) == ["NOC"]
    assert await names(site, moodle, COURSES, filter={"search": "MATHS"}) == ["VIS", "HID"]
