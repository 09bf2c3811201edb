"""Whole answers, byte for byte, written by hand from the contract (sections 4 and 7).

Each site is built here; "now" is frozen at 2026-11-25T17:42:03Z (1795628523); the site timezone is
Europe/Paris (UTC+1 in November, UTC+2 until 25 October). The month starts 2026-11-01 00:00 Paris =
2026-10-31T23:00:00Z = 1793487600.
"""

from __future__ import annotations

import pytest

from definum_gql.moodle.site import Moodle
from tests.builders import NOW, Site
from tests.rest_support import XML_HEADERS, call, headers_of, params, ready

NOV_05_NOON_UTC = 1793880000  # 2026-11-05T12:00:00Z: Thursday, 13:00 in Paris
OCT_10_0830_UTC = 1791621000  # 2026-10-10T08:30:00Z: Saturday, 10:30 in Paris (CEST)
NOV_20_0900_UTC = 1795165200  # 2026-11-20T09:00:00Z


def xml_answer(*keys: tuple[str, object]) -> bytes:
    body = "".join(_key(name, value) for name, value in keys)
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>\n<RESPONSE>\n<SINGLE>\n'
        + body
        + "</SINGLE>\n</RESPONSE>\n"
    ).encode()


def _key(name: str, value: object) -> str:
    if isinstance(value, list):
        inner = "<MULTIPLE>\n" + "".join(
            "<SINGLE>\n" + "".join(_key(n, v) for n, v in badge) + "</SINGLE>\n" for badge in value
        )
        return f'<KEY name="{name}">{inner}</MULTIPLE>\n</KEY>\n'
    return f'<KEY name="{name}"><VALUE>{value}</VALUE>\n</KEY>\n'


async def test_a_user_without_courses_in_japanese(site: Site, moodle: Moodle) -> None:
    yamada = await site.user(username="yamada", lastname="山田", firstname="太郎")  # id 3
    await ready(site)
    response = await call(moodle, params(str(yamada)))
    assert response.status_code == 200
    # 山 U+5C71, 田 U+7530, 太 U+592A, 郎 U+90CE; lastlogin 0 reads "Never".
    assert response.content == (
        b'{"id":3,"lastname":"\\u5c71\\u7530","firstname":"\\u592a\\u90ce","courses":0,'
        b'"finishablecourses":0,"finishedcourses":0,"finishedcoursesratio":0,"badges":[],'
        b'"numbadges":0,"lastlogin":0,"lastloginstr":"Never","timespentinmonth":0,'
        b'"timespentinmonthstr":"0s","loginsinmonth":0}'
    )
    response = await call(moodle, params(str(yamada), fmt="xml"))
    assert headers_of(response) == XML_HEADERS
    assert response.content == xml_answer(
        ("id", 3),
        ("lastname", "山田"),
        ("firstname", "太郎"),
        ("courses", 0),
        ("finishablecourses", 0),
        ("finishedcourses", 0),
        ("finishedcoursesratio", 0),
        ("badges", []),
        ("numbadges", 0),
        ("lastlogin", 0),
        ("lastloginstr", "Never"),
        ("timespentinmonth", 0),
        ("timespentinmonthstr", "0s"),
        ("loginsinmonth", 0),
    )
    # The empty list is exactly "<MULTIPLE>\n</MULTIPLE>".
    assert b'<KEY name="badges"><MULTIPLE>\n</MULTIPLE>\n</KEY>\n' in response.content


async def _learner(site: Site) -> int:
    """Three active courses (two with completion, one completed) and a day of activity."""
    learner = await site.user(
        username="learner", lastname="Martin", firstname="Zoé", lastlogin=NOV_05_NOON_UTC
    )
    done = await site.course(enablecompletion=1)
    open_ = await site.course(enablecompletion=1)
    plain = await site.course(enablecompletion=0)
    for course in (done, open_, plain):
        await site.enrol(learner, course)
    await site.completion(learner, done, NOV_05_NOON_UTC)
    await site.completion(learner, open_, None)
    # The contract's worked example: login, 180 s later a course view, 420 s later a view that
    # nothing follows (lap = lastpingcredit 15 min = 900 s): 180 + 420 + 900 = 1500 s = 25m 0s.
    await site.login(learner, NOV_20_0900_UTC)
    await site.log(learner, NOV_20_0900_UTC + 180, courseid=done)
    await site.log(learner, NOV_20_0900_UTC + 600, courseid=done)
    return learner


async def test_courses_completions_and_time_spent(site: Site, moodle: Moodle) -> None:
    learner = await _learner(site)  # id 3
    await ready(site)
    response = await call(moodle, params(str(learner)))
    # courses 3, finishable 2, finished 1, ratio round(100 * 1 / 2) = 50.
    assert response.content == (
        b'{"id":3,"lastname":"Martin","firstname":"Zo\\u00e9","courses":3,'
        b'"finishablecourses":2,"finishedcourses":1,"finishedcoursesratio":50,"badges":[],'
        b'"numbadges":0,"lastlogin":1793880000,'
        b'"lastloginstr":"Thursday, 05 November 2026, 01:00 PM","timespentinmonth":1500,'
        b'"timespentinmonthstr":"25m 0s","loginsinmonth":1}'
    )


async def test_language_and_timezone_settings(site: Site, moodle: Moodle) -> None:
    learner = await _learner(site)
    await ready(site)
    french = await call(moodle, params(str(learner), moodlewssettinglang="fr"))
    assert b'"lastloginstr":"jeudi 05 novembre 2026, 13:00"' in french.content
    utc = await call(moodle, params(str(learner), moodlewssettingtimezone="UTC"))
    assert b'"lastloginstr":"Thursday, 05 November 2026, 12:00 PM"' in utc.content
    unknown = await call(moodle, params(str(learner), moodlewssettinglang="xx"))
    assert b'"lastloginstr":"Thursday, 05 November 2026, 01:00 PM"' in unknown.content


async def test_badges_with_utf8_and_markup(site: Site, moodle: Moodle) -> None:
    owner = await site.user(username="badger", lastname="O'Brien", firstname='Ann "A"')
    newer = await site.badge(name="Café & <Thé>")  # id 1
    older = await site.badge(name="Étoile ★ 🎓", issuercontact=None, issuerurl="")  # id 2
    await site.issue(older, owner, OCT_10_0830_UTC)
    await site.issue(newer, owner, NOV_05_NOON_UTC)
    await ready(site)
    response = await call(moodle, params(str(owner)))
    # PHP escapes '/' and non-ASCII (🎓 U+1F393 as the pair d83c df93), not & < > or '.
    assert response.content == (
        b'{"id":3,"lastname":"O\'Brien","firstname":"Ann \\"A\\"","courses":0,'
        b'"finishablecourses":0,"finishedcourses":0,"finishedcoursesratio":0,"badges":['
        b'{"id":1,"name":"Caf\\u00e9 & <Th\\u00e9>","issuername":"Definum",'
        b'"issuerurl":"https:\\/\\/definum.example.org\\/","issuercontact":"badges@example.org",'
        b'"dateissued":1793880000,"dateissuedstr":"Thursday, 05 November 2026, 01:00 PM"},'
        b'{"id":2,"name":"\\u00c9toile \\u2605 \\ud83c\\udf93","issuername":"Definum",'
        b'"issuerurl":"","issuercontact":"","dateissued":1791621000,'
        b'"dateissuedstr":"Saturday, 10 October 2026, 10:30 AM"}],'
        b'"numbadges":2,"lastlogin":0,"lastloginstr":"Never","timespentinmonth":0,'
        b'"timespentinmonthstr":"0s","loginsinmonth":0}'
    )
    response = await call(moodle, params(str(owner), fmt="xml"))
    badge1 = [
        ("id", 1),
        ("name", "Café &amp; &lt;Thé&gt;"),
        ("issuername", "Definum"),
        ("issuerurl", "https://definum.example.org/"),
        ("issuercontact", "badges@example.org"),
        ("dateissued", 1793880000),
        ("dateissuedstr", "Thursday, 05 November 2026, 01:00 PM"),
    ]
    badge2 = [
        ("id", 2),
        ("name", "Étoile ★ 🎓"),
        ("issuername", "Definum"),
        ("issuerurl", ""),
        ("issuercontact", ""),
        ("dateissued", 1791621000),
        ("dateissuedstr", "Saturday, 10 October 2026, 10:30 AM"),
    ]
    assert response.content == xml_answer(
        ("id", 3),
        ("lastname", "O'Brien"),  # ' is not escaped
        ("firstname", "Ann &quot;A&quot;"),
        ("courses", 0),
        ("finishablecourses", 0),
        ("finishedcourses", 0),
        ("finishedcoursesratio", 0),
        ("badges", [badge1, badge2]),
        ("numbadges", 2),
        ("lastlogin", 0),
        ("lastloginstr", "Never"),
        ("timespentinmonth", 0),
        ("timespentinmonthstr", "0s"),
        ("loginsinmonth", 0),
    )


@pytest.mark.parametrize(("field", "value"), [("oidcuniqueid", "f00d-1"), ("oidcusername", "yt@x")])
async def test_oidc_lookup(site: Site, moodle: Moodle, field: str, value: str) -> None:
    yamada = await site.user(username="yamada", lastname="山田", firstname="太郎")
    await site.oidc_token(
        userid=yamada, username="yamada", oidcuniqid="f00d-1", oidcusername="yt@x"
    )
    await ready(site)
    response = await call(moodle, params(value, field=field))
    assert response.content.startswith(b'{"id":3,"lastname":"\\u5c71\\u7530",')


async def test_zero_time_when_activity_is_only_last_month(site: Site, moodle: Moodle) -> None:
    user = await site.user(
        username="october", lastname="Oct", firstname="Ober", lastlogin=OCT_10_0830_UTC
    )
    await site.login(user, OCT_10_0830_UTC)
    await site.log(user, OCT_10_0830_UTC + 60)
    await ready(site)
    response = await call(moodle, params("october", field="username", fmt="xml"))
    assert response.content == xml_answer(
        ("id", 3),
        ("lastname", "Oct"),
        ("firstname", "Ober"),
        ("courses", 0),
        ("finishablecourses", 0),
        ("finishedcourses", 0),
        ("finishedcoursesratio", 0),
        ("badges", []),
        ("numbadges", 0),
        ("lastlogin", OCT_10_0830_UTC),
        ("lastloginstr", "Saturday, 10 October 2026, 10:30 AM"),
        ("timespentinmonth", 0),
        ("timespentinmonthstr", "0s"),
        ("loginsinmonth", 0),
    )
    assert NOW > OCT_10_0830_UTC
