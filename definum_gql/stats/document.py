"""The ``definum_get_stats`` document: every number of the contract's section 4, for many users."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from definum_gql.moodle.queries import LOOKUP_FIELDS, USER_COLUMNS, is_batch, moodle_now
from definum_gql.moodle.site import RequestContext
from definum_gql.stats.activity import LearnerMonth, learner_months
from definum_gql.stats.badges import IssuedBadge, issued_badge, load_badges
from definum_gql.stats.courses import EnrolmentRow, counts_of, enrolment_row, load_enrolments
from definum_gql.stats.errors import UserNotFound
from definum_gql.stats.identity import lookup, resolve_user, the_one
from definum_gql.stats.months import Month
from definum_gql.stats.strings import format_datetime, format_duration, format_login
from definum_gql.stats.timespent import Algorithm, TimeSpent, fold_trails, log_span
from definum_gql.stats.users import UserRow, load_users, user_row


@dataclass(frozen=True)
class DefinumBadge:
    """One issued badge of the document.

    Field order is the wire order of the REST answer; a field's ``metadata["description"]`` is
    its description in the OpenAPI document (rest/openapi.py reads both from here).
    """

    id: int
    name: str
    issuername: str
    issuerurl: str
    issuercontact: str
    dateissued: int = field(metadata={"description": "Unix time the badge was issued."})
    dateissuedstr: str = field(
        metadata={"description": "dateissued, readable, in the call's language."}
    )


@dataclass(frozen=True)
class DefinumStats:
    """Field order is the wire order of the REST answer.

    A field's ``metadata["description"]`` is its description in the OpenAPI document
    (rest/openapi.py generates the schema from these fields).
    """

    id: int
    lastname: str
    firstname: str
    courses: int = field(metadata={"description": "Courses with an active enrolment."})
    finishablecourses: int = field(metadata={"description": "Those with completion enabled."})
    finishedcourses: int = field(metadata={"description": "Those the user completed."})
    finishedcoursesratio: int = field(metadata={"description": "Percent, rounded half up."})
    badges: list[DefinumBadge] = field(metadata={"description": "Newest first."})
    numbadges: int
    lastlogin: int = field(metadata={"description": "Unix time of the previous login, 0 if none."})
    lastloginstr: str
    timespentinmonth: int = field(metadata={"description": "Seconds since the month start."})
    timespentinmonthstr: str = field(metadata={"description": "For example 3h 38m 20s."})
    loginsinmonth: int


def build_document(
    ctx: RequestContext,
    user: UserRow,
    enrolments: Sequence[EnrolmentRow],
    badges: Sequence[IssuedBadge],
    month: LearnerMonth,
) -> DefinumStats:
    """One user's document from its pieces (both doors assemble it here)."""
    tz, language = ctx.display_tz, ctx.lang
    count = counts_of(enrolments)
    listed = [
        DefinumBadge(
            id=issued.badge.id,
            name=issued.badge.name,
            issuername=issued.badge.issuername,
            issuerurl=issued.badge.issuerurl,
            issuercontact=issued.badge.issuercontact,
            dateissued=issued.dateissued,
            dateissuedstr=format_datetime(issued.dateissued, tz, language),
        )
        for issued in badges
    ]
    seconds = month.spent.get(Algorithm.USE_STATS, TimeSpent()).total
    return DefinumStats(
        id=user.id,
        lastname=user.lastname,
        firstname=user.firstname,
        courses=count.courses,
        finishablecourses=count.finishable,
        finishedcourses=count.finished,
        finishedcoursesratio=count.ratio,
        badges=listed,
        numbadges=len(listed),
        lastlogin=user.lastlogin,
        lastloginstr=format_login(user.lastlogin, tz, language),
        timespentinmonth=seconds,
        timespentinmonthstr=format_duration(seconds),
        loginsinmonth=month.logins,
    )


async def definum_stats(
    ctx: RequestContext,
    user_ids: Sequence[int],
    *,
    month: Month | None = None,
    users: Mapping[int, UserRow] | None = None,
) -> dict[int, DefinumStats]:
    """The document for each existing user id (unknown ids are left out).

    The month is the site's; a caller's timezone (moodlewssettingtimezone, in ``ctx.display_tz``)
    only changes how dates read, as the contract says. ``users`` spares reading rows in hand.
    """
    month = month or Month.containing(ctx.now, ctx.tz)
    if users is None or any(i not in users for i in user_ids):
        users = await load_users(ctx, user_ids)
    ids = [i for i in dict.fromkeys(user_ids) if i in users]
    if not ids:
        return {}
    enrolments, badges, months = await _pieces(ctx, ids, month)
    return {
        uid: build_document(ctx, users[uid], enrolments[uid], badges[uid], months[(uid, month)])
        for uid in ids
    }


async def _pieces(
    ctx: RequestContext, ids: Sequence[int], month: Month
) -> tuple[
    dict[int, list[EnrolmentRow]],
    dict[int, list[IssuedBadge]],
    dict[tuple[int, Month], LearnerMonth],
]:
    """The learners' enrolments, badges and month. For a batch, the enrolments and badges are
    read on a connection the pool spares while the month is read (the longest): MariaDB with
    the recommended index, 500 learners ~20 ms sooner (BENCHMARKS.md)."""
    if not is_batch(len(ids)):
        return (
            await load_enrolments(ctx, ids, True),
            await load_badges(ctx, ids),
            await learner_months(ctx, ids, [month]),
        )

    async def beside(
        other: RequestContext,
    ) -> tuple[dict[int, list[EnrolmentRow]], dict[int, list[IssuedBadge]]]:
        return await load_enrolments(other, ids, True), await load_badges(other, ids)

    (enrolments, badges), months = await ctx.beside(
        beside, lambda main: learner_months(main, ids, [month])
    )
    return enrolments, badges, months


async def document_for(ctx: RequestContext, field: str, value: str) -> DefinumStats:
    """The document of the learner ``field`` = ``value`` names, for the current month.

    On the servers, one statement brings the user and, as JSON, every row the document needs
    (queries.Statements._document; on MariaDB the badges come as rows of their own, joined);
    the rows are the batch statements' rows, so the same code turns them into the document.
    SQLite (the demo) and the OIDC fields take the batch path.

    Raises:
        UserNotFound, MultipleUsersFound, UnsupportedUserField: as :func:`resolve_user`.
    """
    if field not in LOOKUP_FIELDS or not ctx.reader.database.raw:
        user = await resolve_user(ctx, field, value)
        return (await definum_stats(ctx, [user.id], users={user.id: user}))[user.id]
    wanted = lookup(ctx, field, value)
    if wanted is None:
        raise UserNotFound(f"no user with {field} {value!r}")
    month = Month.containing(ctx.now, ctx.tz)
    ranges = [month.bounds(ctx.tz)]
    low, high = log_span(ranges, ctx.now) or (0, 0)
    pool = ctx.reader.database.pool
    joined = pool is not None and pool.mariadb is True
    statements = ctx.statements.document_joined_by if joined else ctx.statements.document_by
    rows = await ctx.reader.rows(
        statements[field],
        **wanted.params,
        rounded=moodle_now(ctx.now),
        coursebadges=int(ctx.site.flag("badges_allowcoursebadges")),
        low=low,
        high=high,
    )
    width = USER_COLUMNS
    # A row per user; joined, a row per badge (or one with none): the user's first row, and
    # its badges from every row.
    users: dict[int, tuple[UserRow, Sequence[Any]]] = {}
    issued: dict[int, list[Sequence[Any]]] = {}
    for r in rows:
        if r[0] not in users:
            users[r[0]] = (user_row(r), r)
        if joined and r[-1] is not None:
            issued.setdefault(r[0], []).append(r[width + 3 :])
    found = [(user, r) for user, r in users.values() if wanted.matches(user)]
    user, row = the_one(field, value, found)
    if joined:
        enrolments_json, log_json, starts_json = row[width : width + 3]
        badge_rows: Sequence[Sequence[Any]] = issued.get(user.id, [])
    else:
        enrolments_json, badges_json, log_json, starts_json = row[width : width + 4]
        badge_rows = _json(badges_json)
    rounded = moodle_now(ctx.now)
    enrolments = sorted(
        (enrolment_row(r, rounded) for r in _json(enrolments_json)),
        key=lambda e: (e.courseid, e.id),
    )
    if user.id == ctx.site.guest_id:
        enrolments = []
    badges = [
        issued_badge(r, ctx.now)
        for r in sorted(badge_rows, key=lambda b: (b[1], b[13]), reverse=True)
    ]
    trail = fold_trails(
        [user.id],
        ranges,
        # JSON arrays come unordered: in time order by (timecreated, id), then without the id.
        [r[:4] for r in sorted(_json(log_json), key=lambda r: (r[1], r[4]))],
        _json(starts_json),
        (Algorithm.USE_STATS,),
        params=ctx.use_stats,
        tz=ctx.tz,
        now=ctx.now,
    )[user.id][0]
    return build_document(ctx, user, enrolments, badges, LearnerMonth(trail.logins, trail.spent))


def _json(value: str | list[list[Any]] | None) -> list[list[Any]]:
    """A JSON array of rows as the database wrote it (NULL when there were none); SQLAlchemy's
    asyncpg set-up decodes ``json`` columns already."""
    if isinstance(value, list):
        return value
    return json.loads(value) if value else []
