"""The activity log: sessions shaped like real ones, generated one day at a time.

Rows are tuples in ``LOG_COLUMNS`` order; a day's rows are sorted by time and numbered, so ids
follow time as in a real ``logstore_standard_log``, and millions of rows never sit in memory.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import datetime
from operator import itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from definum_gql.demo.model import ADMIN_ID, DAY, SYSTEM_CONTEXT_ID, DemoSpec, Person

LOG_COLUMNS = (
    "id",
    "eventname",
    "component",
    "action",
    "target",
    "objecttable",
    "objectid",
    "crud",
    "edulevel",
    "contextid",
    "contextlevel",
    "contextinstanceid",
    "userid",
    "courseid",
    "relateduserid",
    "anonymous",
    "other",
    "timecreated",
    "origin",
    "ip",
    "realuserid",
)
_TIME = LOG_COLUMNS.index("timecreated") - 1  # position in a row before its id is prepended
LogRow = tuple[Any, ...]


def month_start(now: int, tz: ZoneInfo) -> int:
    """The first second of the month holding ``now``, in ``tz`` (the site's months)."""
    local = datetime.fromtimestamp(now, tz).replace(day=1, hour=0, minute=0, second=0)
    return int(local.replace(microsecond=0).timestamp())


class Activity:
    """Generates the log of ``persons``; cron's rows (``cli_events``, by day) are merged in."""

    def __init__(
        self,
        spec: DemoSpec,
        persons: list[Person],
        cli_events: dict[int, list[LogRow]],
        rng: random.Random,
        tz: ZoneInfo,
    ) -> None:
        self.spec = spec
        self.now = spec.now
        self.persons = persons
        self._cli_events = cli_events
        self._log_rng = rng
        self._early_rng = random.Random(f"early:{spec.seed}:{spec.now}")
        self._month_start = month_start(spec.now, tz)
        self.log_rows = 0

    def logs(self) -> Iterator[list[tuple[Any, ...]]]:
        """Yields each day's log rows (with ids), ordered by time."""
        spec = self.spec
        first_day, last_day = spec.start // DAY, (spec.now - 1) // DAY
        next_id = 1
        for day in range(first_day, last_day + 1):
            rows = self._day(day)
            rows.extend(self._cli_events.get(day, ()))
            rows.sort(key=itemgetter(_TIME))
            out = [(next_id + i, *row) for i, row in enumerate(rows)]
            next_id += len(out)
            self.log_rows += len(out)
            yield out

    def _day(self, day: int) -> list[tuple[Any, ...]]:
        rng = self._log_rng
        rows: list[tuple[Any, ...]] = []
        midnight = day * DAY
        for person in self.persons:
            if person.kind in ("never", "deleted") or rng.random() >= person.active_chance:
                continue
            if not person.active_from <= midnight + 12 * 3600 <= person.active_until:
                continue
            sessions = 1 if rng.random() < 0.65 else 2 if rng.random() < 0.8 else 3
            start = midnight + rng.randint(6 * 3600, 19 * 3600)
            for _ in range(sessions):
                end = self._session(rows, person, start)
                start = end + rng.randint(1800, 4 * 3600)
                if start > midnight + 22 * 3600:
                    break
        if rng.random() < 0.15:
            self._login_as(rows, midnight + rng.randint(8 * 3600, 18 * 3600))
        self._early_sessions(rows, midnight)
        return rows

    def _early_sessions(self, rows: list[tuple[Any, ...]], midnight: int) -> None:
        """In the first day of the site's month, some learners come back before the daytime
        sessions (06:00-19:00 UTC) begin, so the current month has activity up to ``now`` even
        when the site is built an hour after the month began."""
        start, now = self._month_start, self.now
        if now - start >= DAY:
            return
        low, high = max(start, midnight), min(now - 60, midnight + DAY)
        if high <= low:
            return
        rng = self._early_rng
        eligible = [
            p
            for p in self.persons
            if p.kind == "regular" and p.enrolments and p.active_from <= low <= p.active_until
        ]
        for person in rng.sample(eligible, min(len(eligible), max(3, len(eligible) // 8))):
            t = max(rng.randint(low, high - 1), person.last_access + 600)
            if t < high:
                self._session(rows, person, t)

    def _session(self, rows: list[tuple[Any, ...]], person: Person, t: int) -> int:
        """One visit: login, pages minutes apart, sometimes a long idle gap, maybe a logout."""
        rng, now = self._log_rng, self.now
        if t >= now - 60:
            return t
        uid, ip = person.id, person.ip
        username = person.row["username"]
        rows.append(
            ("\\core\\event\\user_loggedin", "core", "loggedin", "user", "user", uid, "r", 0,
             SYSTEM_CONTEXT_ID, 10, 0, uid, 0, None, 0, f'{{"username":"{username}"}}', t,
             "web", ip, None)
        )  # fmt: skip
        person.note_login(t)
        person.note_access(t, 0)
        if rng.random() < 0.5:
            t += rng.randint(5, 60)
            rows.append(
                ("\\core\\event\\dashboard_viewed", "core", "viewed", "dashboard", None, None,
                 "r", 0, person.row["_context"], 30, uid, uid, 0, uid, 0, "null", t, "web", ip,
                 None)
            )  # fmt: skip
        courses = [
            e.course
            for e in person.enrolments
            if e.timeend >= 0 and e.timestart <= t and (e.timeend == 0 or t < e.timeend)
        ]
        course = rng.choice(courses) if courses else None
        for _ in range(rng.randint(4, 24) if courses else rng.randint(0, 2)):
            gap = (
                rng.randint(3700, 10800)
                if rng.random() < 0.03
                else 20 + int(rng.expovariate(1 / 150))
            )
            if t + gap >= now:
                break
            t += gap
            if course is None:
                rows.append(
                    ("\\core\\event\\user_profile_viewed", "core", "viewed", "user_profile",
                     "user", uid, "r", 0, person.row["_context"], 30, uid, uid, 0, uid, 0,
                     '{"courseid":"1"}', t, "web", ip, None)
                )  # fmt: skip
                person.note_access(t, 0)
                continue
            if rng.random() < 0.15:
                course = rng.choice(courses)
            cid = course.id
            roll = rng.random()
            if roll < 0.3:
                rows.append(
                    ("\\core\\event\\course_viewed", "core", "viewed", "course", None, None, "r",
                     2, course.context_id, 50, cid, uid, cid, None, 0, "null", t, "web", ip, None)
                )  # fmt: skip
            elif person.teacher and roll < 0.55 and course.students:
                student = rng.choice(course.students)
                rows.append(
                    ("\\core\\event\\user_graded", "core", "graded", "user", "grade_grades",
                     rng.randint(1, 10**6), "u", 2, course.context_id, 50, cid, uid, cid, student,
                     0, '{"itemid":1,"overridden":false,"finalgrade":15}', t, "web", ip, None)
                )  # fmt: skip
            else:
                cmid, context_id, module = rng.choice(course.modules)
                if module == "assign" and roll > 0.95:
                    rows.append(
                        ("\\mod_assign\\event\\assessable_submitted", "mod_assign", "submitted",
                         "assessable", "assign_submission", cmid, "u", 2, context_id, 70, cmid,
                         uid, cid, None, 0, '{"submission_editable":false}', t, "web", ip, None)
                    )  # fmt: skip
                else:
                    rows.append(
                        (f"\\mod_{module}\\event\\course_module_viewed", f"mod_{module}",
                         "viewed", "course_module", module, cmid, "r", 2, context_id, 70, cmid,
                         uid, cid, None, 0, "null", t, "web", ip, None)
                    )  # fmt: skip
            person.note_access(t, cid)
        if rng.random() < 0.35 and t + 300 < now:  # the logout is never after now
            t += rng.randint(10, 300)
            rows.append(
                ("\\core\\event\\user_loggedout", "core", "loggedout", "user", "user", uid, "r",
                 0, SYSTEM_CONTEXT_ID, 10, 0, uid, 0, None, 0,
                 f'{{"sessionid":"{rng.getrandbits(64):016x}"}}', t, "web", ip, None)
            )  # fmt: skip
            person.note_access(t, 0)
        return t

    def _login_as(self, rows: list[tuple[Any, ...]], t: int) -> None:
        """The admin logs in as a learner and looks around: rows with realuserid set."""
        rng = self._log_rng
        learners = [p for p in self.persons[2:] if p.enrolments and p.kind == "regular"]
        if not learners or t >= self.now - 3600:
            return
        target = rng.choice(learners)
        admin = self.persons[1]
        admin.note_access(t, 0)
        admin_ip = admin.ip
        rows.append(
            ("\\core\\event\\user_loggedinas", "core", "loggedinas", "user", "user", target.id,
             "r", 0, SYSTEM_CONTEXT_ID, 10, 0, ADMIN_ID, 0, target.id, 0,
             f'{{"originalusername":"admin","loggedinasusername":"{target.row["username"]}"}}',
             t, "web", admin_ip, None)
        )  # fmt: skip
        course = target.enrolments[0].course
        for _ in range(rng.randint(2, 5)):
            t += rng.randint(20, 240)
            rows.append(
                ("\\core\\event\\course_viewed", "core", "viewed", "course", None, None, "r", 2,
                 course.context_id, 50, course.id, target.id, course.id, None, 0, "null", t,
                 "web", admin_ip, ADMIN_ID)
            )  # fmt: skip
