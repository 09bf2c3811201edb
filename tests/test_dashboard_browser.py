"""The dashboard in a real browser (Playwright driving Debian's Chromium) on a served demo site.

Every number the page shows is compared with the answer of a GraphQL query this test writes and
sends itself (not the page's documents), for the same learner and month; durations are compared
with the API's ``3h 38m 20s`` form worked out here. The server keeps this month's figures for an
hour (DEFINUM_CURRENT_MONTH_CACHE_SECONDS), so the page and the test read the same current month
even though the demo's clock runs. Every request the page makes must go to its own origin.
Screenshots are written under the test session's temporary folder (paths printed; ``-s`` shows
them, ``--basetemp`` chooses where).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from definum_gql.demo import build_demo_site, demo_url
from definum_gql.graphql.errors import RequestRefused, refusal_body
from tests.builders import settled_clock
from tests.databases import REQUIRE_SERVERS
from tests.served import serving

try:
    from playwright.async_api import Browser, Page, Request, Route, async_playwright, expect
except ImportError as exc:
    PLAYWRIGHT_MISSING: str | None = f"playwright is not installed ({exc}): pip install -e '.[dev]'"
else:
    PLAYWRIGHT_MISSING = None

CHROMIUM = Path("/usr/bin/chromium")
TOKEN_KEY = "definum-gql.token"
#: What the French Chromium writes for each month (CLDR), worked out by hand.
FRENCH_MONTHS = (
    *("janvier", "février", "mars", "avril", "mai", "juin"),
    *("juillet", "août", "septembre", "octobre", "novembre", "décembre"),
)


def _browser_missing() -> str | None:
    if PLAYWRIGHT_MISSING is not None:
        return PLAYWRIGHT_MISSING
    if not CHROMIUM.exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


def hms(seconds: int) -> str:
    """The API's duration text: ``3h 38m 20s``, ``48m 0s``, ``41s``."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    return f"{minutes}m {secs}s" if minutes else f"{secs}s"


def months_before(month: str, count: int) -> list[str]:
    """The ``count`` months ending with ``month``, oldest first."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1
    return [f"{i // 12}-{i % 12 + 1:02d}" for i in range(index - count + 1, index + 1)]


@dataclass
class Demo:
    origin: str
    token: str
    expired_token: str
    screenshots: Path

    async def graphql(self, query: str, variables: dict[str, Any] | None = None) -> Any:
        async with httpx.AsyncClient(base_url=self.origin, timeout=30) as http:
            answer = await http.post(
                "/graphql",
                json={"query": query, "variables": variables or {}},
                headers={"Authorization": f"Bearer {self.token}"},
            )
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]


@pytest.fixture(scope="module")
async def demo(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Demo]:
    missing = _browser_missing()
    if missing is not None:
        if REQUIRE_SERVERS:
            pytest.fail(missing + " (DEFINUM_TEST_REQUIRE_SERVERS=1)")
        pytest.skip(missing)
    folder = tmp_path_factory.mktemp("dashboard")
    path = folder / "demo.sqlite"
    # The demo as serve --demo builds it, smaller; its clock set back so that the page's requests
    # and the test's own (cached under different fields) see the same current-month time spent.
    # This month still has activity unless it began in the last minutes.
    result = await build_demo_site(
        demo_url(path), users=60, courses=6, months=3, now=settled_clock()
    )
    env = {
        "DEFINUM_DATABASE_URL": demo_url(path),
        "DEFINUM_CURRENT_MONTH_CACHE_SECONDS": "3600",
    }
    screenshots = folder / "screenshots"
    screenshots.mkdir()
    async with serving(env) as served:
        yield Demo(
            f"http://127.0.0.1:{served.port}",
            result.tokens["valid"],
            result.tokens["expired"],
            screenshots,
        )


@pytest.fixture(scope="module")
async def browser(demo: Demo) -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=str(CHROMIUM))
        yield launched
        await launched.close()


@dataclass
class Tab:
    page: Page
    demo: Demo
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    async def shot(self, name: str) -> Path:
        path = self.demo.screenshots / f"{name}.png"
        await self.page.screenshot(path=path, full_page=True)
        print(f"screenshot: {path}")
        return path

    async def sign_in(self) -> None:
        """The demo's way in: the token is filled in and the button focused; Enter signs in."""
        await self.page.goto(self.demo.origin + "/")
        await expect(self.page.get_by_role("button", name="Sign in")).to_be_focused()
        await self.page.keyboard.press("Enter")
        await expect(self.page.locator("#account")).to_contain_text("Signed in")

    def outside(self) -> list[str]:
        return [url for url in self.requests if not url.startswith(self.demo.origin + "/")]


async def _tab(browser: Browser, demo: Demo, **options: Any) -> AsyncIterator[Tab]:
    context = await browser.new_context(
        viewport=options.pop("viewport", {"width": 1200, "height": 900}),
        locale=options.pop("locale", "en-US"),
        timezone_id="Europe/Paris",
        **options,
    )
    page = await context.new_page()
    tab = Tab(page, demo)

    def record(request: Request) -> None:
        tab.requests.append(request.url)

    page.on("request", record)
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    yield tab
    await context.close()
    # The page asked nothing of another origin, never put the token in a URL, and threw nothing.
    assert tab.outside() == []
    assert not [url for url in tab.requests if demo.token in url]
    assert tab.errors == []


@pytest.fixture
async def tab(browser: Browser, demo: Demo) -> AsyncIterator[Tab]:
    async for opened in _tab(browser, demo):
        yield opened


@pytest.fixture
async def phone(browser: Browser, demo: Demo) -> AsyncIterator[Tab]:
    async for opened in _tab(browser, demo, viewport={"width": 375, "height": 740}):
        yield opened


@pytest.fixture
async def french(browser: Browser, demo: Demo) -> AsyncIterator[Tab]:
    async for opened in _tab(browser, demo, locale="fr-FR"):
        yield opened


LEARNERS = """
query($month: String!) {
  users(first: 100) { edges { node {
    id fullname
    definumStats { finishableCourses numBadges }
    activity(month: $month) { logins byCourse { courseId } }
  } } }
}
"""

LEARNER = """
query($id: String!, $from: String!, $to: String!, $month: String!) {
  user(value: $id) {
    fullname lastLogin
    definumStats { courses finishableCourses finishedCourses finishedCoursesRatio }
    badges { badge { name issuerName } dateIssued }
    activityHistory(from: $from, to: $to) { month logins timeSpent activeDays }
    activity(month: $month) {
      month logins timeSpent timeSpentText activeDays
      byCourse { courseId course { fullname } timeSpent timeSpentText }
    }
    dedication: timeSpent(month: $month, algorithm: DEDICATION)
  }
}
"""


async def this_month(demo: Demo) -> str:
    data = await demo.graphql("{ me { activity { month } } }")
    month: str = data["me"]["activity"]["month"]
    return month


async def busy_learner(demo: Demo, month: str) -> dict[str, Any]:
    """A learner with finishable courses and badges, the most courses active in ``month`` (in its
    first minutes a month may have no activity yet: the page then says so, and is checked)."""
    data = await demo.graphql(LEARNERS, {"month": month})
    nodes = [edge["node"] for edge in data["users"]["edges"]]
    candidates = [
        n
        for n in nodes
        if n["definumStats"]["finishableCourses"] and n["definumStats"]["numBadges"]
    ]
    assert candidates, "the demo has no learner with finishable courses and badges"
    learner: dict[str, Any] = max(candidates, key=lambda n: len(n["activity"]["byCourse"]))
    return learner


async def learner_answer(demo: Demo, learner_id: int, month: str, current: str) -> Any:
    months = months_before(current, 12)
    variables = {"id": str(learner_id), "from": months[0], "to": months[-1], "month": month}
    return (await demo.graphql(LEARNER, variables))["user"]


async def check_month_panel(page: Page, user: dict[str, Any], algorithm: str) -> None:
    activity = user["activity"]
    panel = page.locator("section.month")
    await expect(panel).to_have_attribute("data-month", activity["month"])
    await expect(panel).to_have_attribute("data-algorithm", algorithm)
    time = activity["timeSpentText"] if algorithm == "use_stats" else hms(user["dedication"])
    await expect(panel.locator("[data-field=month-time]")).to_have_text(time)
    await expect(panel.locator("[data-field=month-logins]")).to_have_text(str(activity["logins"]))
    await expect(panel.locator("[data-field=month-active-days]")).to_have_text(
        str(activity["activeDays"])
    )
    rows = panel.locator(".hbar")
    expected = [
        (t["course"]["fullname"] if t["courseId"] else "The site, outside courses")
        + t["timeSpentText"]
        for t in activity["byCourse"]
    ]
    if expected:
        await expect(rows).to_have_text(expected)
    else:
        await expect(panel.get_by_test_id("no-activity")).to_be_visible()


async def check_chart_table(page: Page, user: dict[str, Any], seconds: list[int]) -> None:
    table = page.get_by_test_id("month-table")
    history = user["activityHistory"]
    await expect(table.locator("tbody tr")).to_have_count(12)
    months = [row["month"] for row in history]
    assert [
        await tr.get_attribute("data-month") for tr in await table.locator("tbody tr").all()
    ] == months
    await expect(table.locator("[data-field=time]")).to_have_text([hms(s) for s in seconds])
    await expect(table.locator("[data-field=logins]")).to_have_text(
        [str(row["logins"]) for row in history]
    )
    await expect(table.locator("[data-field=active-days]")).to_have_text(
        [str(row["activeDays"]) for row in history]
    )
    # The chart draws the same months, the current one marked partial.
    bars = page.locator("svg.chart g.bar")
    await expect(bars).to_have_count(12)
    await expect(page.locator("svg.chart g.bar.partial")).to_have_attribute(
        "data-month", months[-1]
    )


async def test_sign_in_search_and_the_learners_numbers_equal_graphql(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    current = await this_month(demo)
    learner = await busy_learner(demo, current)
    await page.goto(demo.origin + "/")
    # The demo fills its token in; nothing is stored until it is accepted.
    await expect(page.locator("#token")).to_have_value(demo.token)
    assert await page.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") is None
    await tab.shot("01-sign-in")
    await page.get_by_role("button", name="Sign in").click()
    me = (await demo.graphql("{ me { fullname } }"))["me"]
    await expect(page.locator("#account")).to_contain_text(f"Signed in: {me['fullname']}")
    assert await page.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") == demo.token
    assert demo.token not in page.url
    await expect(page.get_by_test_id("site-courses")).to_be_visible()
    await tab.shot("02-site")

    # Search as you type, by full name; then the keyboard: down into the results, Enter.
    words = learner["fullname"]
    search = page.get_by_role("searchbox")
    await search.press_sequentially(words, delay=30)
    found = await demo.graphql(
        "query($s: String!) { users(first: 10, filter: { search: $s }) { totalCount edges { "
        "node { id fullname } } } }",
        {"s": words},
    )
    total = found["users"]["totalCount"]
    counted = "1 learner matches" if total == 1 else f"{total} learners match"
    panel = page.locator("#search-results")
    await expect(panel.locator(".count")).to_have_text(f"{counted} “{words}”.")
    await expect(panel.locator(".results .name")).to_have_text(
        [edge["node"]["fullname"] for edge in found["users"]["edges"]]
    )
    await tab.shot("03-search")
    position = [edge["node"]["id"] for edge in found["users"]["edges"]].index(learner["id"])
    await search.press("ArrowDown")
    for _ in range(position):
        await page.keyboard.press("ArrowDown")
    await page.keyboard.press("Enter")
    await expect(page).to_have_url(f"{demo.origin}/#/learner/{learner['id']}")

    user = await learner_answer(demo, learner["id"], current, current)
    await expect(page.locator("h1")).to_have_text(user["fullname"])
    card = page.locator("section.learner-card")
    stats = user["definumStats"]
    await expect(card.locator("[data-field=courses]")).to_have_text(str(stats["courses"]))
    await expect(card.locator("[data-field=finishable]")).to_have_text(
        str(stats["finishableCourses"])
    )
    await expect(card.locator("[data-field=finished]")).to_have_text(str(stats["finishedCourses"]))
    await expect(card.locator("[data-field=ratio]")).to_have_text(
        f"{stats['finishedCoursesRatio']}%"
    )
    await expect(card.locator("svg.ring")).to_have_attribute(
        "aria-label", f"{stats['finishedCoursesRatio']}%"
    )
    last_login = card.locator("[data-field=last-login]")
    if user["lastLogin"] is None:
        await expect(last_login).to_have_text("Never")
    else:
        await expect(last_login.locator("time")).to_have_attribute("datetime", user["lastLogin"])
    badges = card.get_by_test_id("badges").locator("li")
    await expect(badges).to_have_count(len(user["badges"]))
    for item, issued in zip(await badges.all(), user["badges"], strict=True):
        await expect(item.locator(".badge-name")).to_have_text(issued["badge"]["name"])
        await expect(item).to_contain_text(f"from {issued['badge']['issuerName']}")
        await expect(item.locator("time")).to_have_attribute("datetime", issued["dateIssued"])

    await page.get_by_text("The figures as a table").click()
    await check_chart_table(page, user, [row["timeSpent"] for row in user["activityHistory"]])
    await check_month_panel(page, user, "use_stats")
    await expect(page.get_by_test_id("algorithm-sentence")).to_contain_text("block_use_stats")
    await tab.shot("04-learner")
    assert tab.outside() == []


async def test_months_and_algorithms_switch_and_stay_equal_to_graphql(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    current = await this_month(demo)
    learner = await busy_learner(demo, current)
    previous = months_before(current, 2)[0]
    await tab.sign_in()
    await page.goto(f"{demo.origin}/#/learner/{learner['id']}")
    await check_month_panel(
        page, await learner_answer(demo, learner["id"], current, current), "use_stats"
    )

    # The month picker: last month.
    await page.locator("#month-picker").select_option(previous)
    user = await learner_answer(demo, learner["id"], previous, current)
    await check_month_panel(page, user, "use_stats")
    await expect(page).to_have_url(f"{demo.origin}/#/learner/{learner['id']}?month={previous}")

    # Dedication: the sentence, the 12 bars and the month's time follow.
    await page.get_by_label("dedication").check()
    await expect(page.get_by_test_id("algorithm-sentence")).to_contain_text("block_dedication")
    months = months_before(current, 12)
    aliases = " ".join(
        f'm{i}: timeSpent(month: "{m}", algorithm: DEDICATION)' for i, m in enumerate(months)
    )
    series = (
        await demo.graphql(
            f"query($id: String!) {{ user(value: $id) {{ {aliases} }} }}",
            {"id": str(learner["id"])},
        )
    )["user"]
    await page.get_by_text("The figures as a table").click()
    await expect(page.get_by_test_id("month-table")).to_have_attribute(
        "data-algorithm", "dedication"
    )
    await check_chart_table(page, user, [series[f"m{i}"] for i in range(12)])
    await check_month_panel(page, user, "dedication")
    await tab.shot("05-dedication-last-month")

    # The chart is a keyboard control too: the selected bar has focus; Right moves a month on.
    selected = page.locator("svg.chart g.bar.selected")
    await selected.focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.locator("svg.chart g.bar.selected")).to_have_attribute("data-month", current)
    await expect(page.locator("svg.chart g.bar.selected")).to_be_focused()
    user = await learner_answer(demo, learner["id"], current, current)
    await check_month_panel(page, user, "dedication")
    # And a click on a bar.
    await page.locator(f'svg.chart g.bar[data-month="{previous}"]').click()
    await expect(page.locator("section.month")).to_have_attribute("data-month", previous)
    await page.get_by_label("use_stats").check()
    user = await learner_answer(demo, learner["id"], previous, current)
    await check_month_panel(page, user, "use_stats")


COURSES = """
{ courses(first: 50) { edges { node {
  id fullname completionRate enrolledLearners completedLearners activeLearnersThisMonth
  timeSpentThisMonth timeSpentThisMonthText
} } } }
"""

COURSE_LEARNERS = """
query($course: Int!) {
  users(first: 100, filter: { enrolledInCourse: $course }) { totalCount edges { node {
    fullname
    enrolments { course { id } completion { completed timeCompleted } }
    activity { byCourse { courseId timeSpentText } }
  } } }
}
"""


async def test_the_site_and_a_course_equal_graphql(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    courses = [e["node"] for e in (await demo.graphql(COURSES))["courses"]["edges"]]
    await tab.sign_in()
    table = page.get_by_test_id("site-courses")
    await expect(table.locator("tbody tr")).to_have_count(len(courses))
    await expect(table.locator("tbody th")).to_have_text([c["fullname"] for c in courses])
    await expect(table.locator("[data-field=active]")).to_have_text(
        [str(c["activeLearnersThisMonth"]) for c in courses]
    )
    await expect(table.locator("[data-field=time]")).to_have_text(
        [c["timeSpentThisMonthText"] for c in courses]
    )

    # The course with the most learners (more than one page of 20), completion tracked.
    course = max(
        (c for c in courses if c["completionRate"] is not None),
        key=lambda c: c["enrolledLearners"],
    )
    assert course["enrolledLearners"] > 20, "the demo's largest course fits on one page"
    await table.get_by_role("link", name=course["fullname"]).click()
    await expect(page).to_have_url(f"{demo.origin}/#/course/{course['id']}")
    await expect(page.locator("h1")).to_have_text(course["fullname"])
    figures = page.locator(".course-card")
    await expect(figures.locator("[data-field=completion-rate]")).to_have_text(
        f"{course['completionRate']}%"
    )
    await expect(figures.locator("[data-field=learners]")).to_have_text(
        str(course["enrolledLearners"])
    )
    await expect(figures.locator("[data-field=completed]")).to_have_text(
        str(course["completedLearners"])
    )
    await expect(figures.locator("[data-field=active]")).to_have_text(
        str(course["activeLearnersThisMonth"])
    )
    await expect(figures.locator("[data-field=time]")).to_have_text(
        course["timeSpentThisMonthText"]
    )

    answer = (await demo.graphql(COURSE_LEARNERS, {"course": course["id"]}))["users"]
    learners = [edge["node"] for edge in answer["edges"]]
    total = answer["totalCount"]

    def completion(node: dict[str, Any]) -> str:
        (enrolment,) = [e for e in node["enrolments"] if e["course"]["id"] == course["id"]]
        return "Completed " if (enrolment["completion"] or {}).get("completed") else "Not completed"

    def time(node: dict[str, Any]) -> str:
        spent = [t for t in node["activity"]["byCourse"] if t["courseId"] == course["id"]]
        return spent[0]["timeSpentText"] if spent else "0s"

    rows = page.get_by_test_id("course-learners").locator("tbody tr")
    counter = page.get_by_test_id("course-learner-count")
    await expect(counter).to_have_text(f"Showing 20 of {total} learners.")
    await expect(rows.locator("th")).to_have_text([n["fullname"] for n in learners[:20]])
    await tab.shot("06-course")
    more = page.get_by_role("button", name="More learners")
    await more.click()
    shown = min(40, total)
    await expect(counter).to_have_text(f"Showing {shown} of {total} learners.")
    await expect(rows.locator("th")).to_have_text([n["fullname"] for n in learners[:shown]])
    completions = await rows.locator("[data-field=completion]").all_text_contents()
    assert [c if c == "Not completed" else c[: len("Completed ")] for c in completions] == [
        completion(n) for n in learners[:shown]
    ]
    await expect(rows.locator("[data-field=time]")).to_have_text(
        [time(n) for n in learners[:shown]]
    )
    # Completed rows carry the date as data.
    for row, node in zip(await rows.all(), learners[:shown], strict=True):
        (enrolment,) = [e for e in node["enrolments"] if e["course"]["id"] == course["id"]]
        if (enrolment["completion"] or {}).get("completed"):
            await expect(row.locator("time")).to_have_attribute(
                "datetime", enrolment["completion"]["timeCompleted"]
            )


async def test_a_bad_or_expired_token_reads_as_a_sentence(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    await page.goto(demo.origin + "/")
    token = page.locator("#token")
    await token.fill("0123456789abcdef0123456789abcdef")
    await token.press("Enter")
    alert = page.get_by_role("alert")
    await expect(alert).to_have_text(
        "This token was not accepted: check that it is a whole web service token of the definum"
        " service, then sign in again."
    )
    assert await page.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") is None
    await expect(token).to_be_focused()
    await tab.shot("07-bad-token")
    await token.fill(demo.expired_token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(alert).to_have_text(
        "This token has expired: ask your Moodle administrator for a new one, then sign in again."
    )
    # A token that stops working while signed in sends the reader back here, with the sentence.
    await token.fill(demo.token)
    await token.press("Enter")
    await expect(page.get_by_test_id("site-courses")).to_be_visible()
    await page.evaluate(f"sessionStorage.setItem({TOKEN_KEY!r}, 'revoked-token')")
    await page.goto(demo.origin + "/#/learner/4")
    await expect(alert).to_contain_text("This token was not accepted")
    assert await page.evaluate(f"sessionStorage.getItem({TOKEN_KEY!r})") is None


async def test_an_unknown_learner_and_an_empty_search_read_as_sentences(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    await tab.sign_in()
    assert (await demo.graphql('{ user(value: "999999") { id } }'))["user"] is None
    await page.goto(demo.origin + "/#/learner/999999")
    await expect(page.get_by_role("alert")).to_have_text(
        "There is no learner with id 999999 on this site (or the account was deleted)."
    )
    await tab.shot("08-unknown-learner")
    await page.get_by_role("searchbox").fill("zzqxw")
    await expect(page.locator("#search-results .count")).to_have_text("No learner matches “zzqxw”.")


async def test_an_unavailable_database_reads_as_a_sentence_with_a_retry(tab: Tab) -> None:
    demo, page = tab.demo, tab.page
    await tab.sign_in()
    # What /graphql answers when the database is down (its own refusal body), for a while.
    down = refusal_body(
        RequestRefused(503, "The Moodle database is unavailable.", "DATABASE_UNAVAILABLE")
    )

    async def unavailable(route: Route) -> None:
        await route.fulfill(status=503, content_type="application/json", body=json.dumps(down))

    await page.route("**/graphql", unavailable)
    await page.goto(demo.origin + "/#/learner/4")
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text(
        "The Moodle database is unavailable right now: try again in a moment."
    )
    await tab.shot("09-database-unavailable")
    await page.unroute("**/graphql")
    await alert.get_by_role("button", name="Try again").click()
    name = (await demo.graphql('{ user(value: "4") { fullname } }'))["user"]["fullname"]
    await expect(page.locator("h1")).to_have_text(name)
    await expect(page.locator("section.learner-card [data-field=courses]")).to_be_visible()


async def test_phone_width_layout(phone: Tab) -> None:
    demo, page = phone.demo, phone.page
    current = await this_month(demo)
    learner = await busy_learner(demo, current)
    await phone.sign_in()
    for address, ready in (
        ("/#/", page.get_by_test_id("site-courses")),
        (f"/#/learner/{learner['id']}", page.locator("svg.chart")),
        (
            f"/#/course/{(await demo.graphql(COURSES))['courses']['edges'][0]['node']['id']}",
            page.get_by_test_id("course-learners"),
        ),
    ):
        await page.goto(demo.origin + address)
        await expect(ready).to_be_visible()
        # Nothing is wider than the screen: no sideways scrolling.
        widths = await page.evaluate(
            "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
        )
        assert widths[0] <= widths[1] == 375, (address, widths)
    await page.goto(f"{demo.origin}/#/learner/{learner['id']}")
    chart = page.locator("svg.chart")
    await expect(chart).to_be_visible()
    box = await chart.bounding_box()
    assert box is not None
    assert 0 <= box["x"] <= box["x"] + box["width"] <= 375
    await check_month_panel(
        page, await learner_answer(demo, learner["id"], current, current), "use_stats"
    )
    await phone.shot("10-phone-learner")


async def test_dates_follow_the_browsers_language(french: Tab) -> None:
    demo, page = french.demo, french.page
    current = await this_month(demo)
    learner = await busy_learner(demo, current)
    await french.sign_in()
    await page.goto(f"{demo.origin}/#/learner/{learner['id']}")
    year, month = current.split("-")
    option = page.locator(f'#month-picker option[value="{current}"]')
    await expect(option).to_have_text(f"{FRENCH_MONTHS[int(month) - 1]} {year} (partial)")
    await expect(page.locator("section.month h2")).to_contain_text(
        f"{FRENCH_MONTHS[int(month) - 1]} {year}"
    )
    user = await learner_answer(demo, learner["id"], current, current)
    badge = page.get_by_test_id("badges").locator("time").first
    issued = user["badges"][0]["dateIssued"]
    await expect(badge).to_have_attribute("lang", "fr-FR")
    # "12 nov. 2026": the day, a French month abbreviation, the year.
    text = await badge.text_content()
    assert text is not None
    day, abbreviation, badge_year = text.replace("\u202f", " ").split(" ")
    assert (int(day), badge_year) == (int(issued[8:10]), issued[:4])
    assert FRENCH_MONTHS[int(issued[5:7]) - 1].startswith(abbreviation.rstrip("."))
    await french.shot("11-french")
