"""A small, deliberately plain reading of the contract's section 5, to check the SQL-backed code.

One user, one range, a list of log rows as dicts: no batching, no SQL, no cleverness.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo


@dataclass
class Expected:
    total: int
    by_course: dict[int, int]
    active_days: int


def counted_rows(
    rows: list[dict[str, Any]],
    user_id: int,
    start: int,
    end: int,
    now: int,
    enrolment_starts: list[int] | None = None,
) -> list[dict[str, Any]]:
    """The rows the contract reads for one user and range, in order (graded/user rows removed)."""
    end = min(end, now + 1)  # the current month's range ends at now
    if enrolment_starts:
        eligible = [s for s in enrolment_starts if s < end]
        if eligible:
            start = max(start, max(eligible))
    kept = []
    for row in rows:
        if row["userid"] != user_id:
            continue
        if not (start <= row["timecreated"] < end):
            continue
        if row.get("origin") == "cli":
            continue
        if row["action"] == "failed":
            continue
        if row.get("realuserid") is not None:
            continue
        if row["action"] == "graded" and row["target"] == "user":
            continue
        kept.append(row)
    kept.sort(key=lambda r: (r["timecreated"], r["id"]))
    return kept


def local_days(rows: list[dict[str, Any]], tz: ZoneInfo) -> int:
    return len({datetime.fromtimestamp(r["timecreated"], tz).date() for r in rows})


def use_stats(
    rows: list[dict[str, Any]],
    user_id: int,
    start: int,
    end: int,
    *,
    now: int,
    threshold: int,
    credit: int,
    tz: ZoneInfo,
    enrolment_starts: list[int] | None = None,
) -> Expected:
    kept = counted_rows(rows, user_id, start, end, now, enrolment_starts)
    by_course: dict[int, int] = {}
    for i, row in enumerate(kept):
        if i + 1 < len(kept):
            lap = kept[i + 1]["timecreated"] - row["timecreated"]
            if lap > threshold:
                lap = min(credit, now - row["timecreated"])
        else:
            lap = min(credit, now - row["timecreated"])
        if row["action"] in ("loggedout", "logout"):
            continue
        course = row.get("courseid") or 0
        by_course[course] = by_course.get(course, 0) + lap
    by_course = {c: s for c, s in by_course.items() if s}
    return Expected(sum(by_course.values()), by_course, local_days(kept, tz))


def sessions_total(times: list[int]) -> int:
    """block_dedication: split at gaps over an hour, keep sessions longer than two minutes."""
    total = 0
    sessions: list[list[int]] = []
    for t in times:
        if sessions and t - sessions[-1][-1] <= 3600:
            sessions[-1].append(t)
        else:
            sessions.append([t])
    for session in sessions:
        length = session[-1] - session[0]
        if length > 120:
            total += length
    return total


def dedication(
    rows: list[dict[str, Any]],
    user_id: int,
    start: int,
    end: int,
    *,
    now: int,
    tz: ZoneInfo,
    enrolment_starts: list[int] | None = None,
) -> Expected:
    kept = counted_rows(rows, user_id, start, end, now, enrolment_starts)
    courses = {r.get("courseid") or 0 for r in kept}
    by_course = {
        c: sessions_total([r["timecreated"] for r in kept if (r.get("courseid") or 0) == c])
        for c in courses
    }
    total = sessions_total([r["timecreated"] for r in kept])
    return Expected(total, {c: s for c, s in by_course.items() if s}, local_days(kept, tz))
