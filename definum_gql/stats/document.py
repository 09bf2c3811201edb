"""The ``definum_get_stats`` document: every number of the contract's section 4, for many users."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from definum_gql.moodle.site import RequestContext
from definum_gql.stats.activity import LearnerMonth, learner_months
from definum_gql.stats.badges import IssuedBadge, load_badges
from definum_gql.stats.courses import EnrolmentRow, counts_of, load_enrolments
from definum_gql.stats.months import Month
from definum_gql.stats.strings import format_datetime, format_duration, format_login
from definum_gql.stats.timespent import Algorithm, TimeSpent
from definum_gql.stats.users import UserRow, load_users


@dataclass(frozen=True)
class DefinumBadge:
    id: int
    name: str
    issuername: str
    issuerurl: str
    issuercontact: str
    dateissued: int
    dateissuedstr: str


@dataclass(frozen=True)
class DefinumStats:
    """Field order is the wire order of the REST answer."""

    id: int
    lastname: str
    firstname: str
    courses: int
    finishablecourses: int
    finishedcourses: int
    finishedcoursesratio: int
    badges: list[DefinumBadge]
    numbadges: int
    lastlogin: int
    lastloginstr: str
    timespentinmonth: int
    timespentinmonthstr: str
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
    enrolments = await load_enrolments(ctx, ids, True)
    badges = await load_badges(ctx, ids)
    months = await learner_months(ctx, ids, [month])
    return {
        uid: build_document(ctx, users[uid], enrolments[uid], badges[uid], months[(uid, month)])
        for uid in ids
    }
