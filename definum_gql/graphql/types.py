"""The GraphQL object types. Resolvers only ask DataLoaders, which call batch statistics; a page
primes the loads its nodes ask (graphql/prefetch.py)."""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Awaitable, Mapping
from datetime import datetime
from enum import Enum
from typing import Annotated, Any, TypeAlias, TypeVar, cast

import strawberry
from strawberry.types.enum import has_enum_definition

from definum_gql.graphql.access import VIEW_HIDDEN_COURSES, VIEW_USER_DETAILS, VIEW_USER_IDENTITY
from definum_gql.graphql.context import Context
from definum_gql.graphql.errors import ClientError
from definum_gql.graphql.fields import described
from definum_gql.graphql.loaders import (
    badges_loader,
    completions_loader,
    course_aggregates_loader,
    course_time_loader,
    courses_loader,
    enrolments_loader,
    months_loader,
)
from definum_gql.graphql.prefetch import Need, Primer, settle
from definum_gql.stats import activity as stats_activity
from definum_gql.stats import badges as stats_badges
from definum_gql.stats import courses as stats_courses
from definum_gql.stats import document as stats_document
from definum_gql.stats import listing as stats_listing
from definum_gql.stats import users as stats_users
from definum_gql.stats.months import Month
from definum_gql.stats.strings import format_duration
from definum_gql.stats.timespent import Algorithm

Info = strawberry.Info[Context, None]
E = TypeVar("E", bound=Enum)
R = TypeVar("R")
#: What a resolver built on ``settle`` returns: the value, or an awaitable of it.
Ready: TypeAlias = R | Awaitable[R]


def when(timestamp: int | None, info: Info) -> datetime | None:
    """A Unix time in the site timezone; Moodle's 0 (never) and NULL become null."""
    if not timestamp:
        return None
    return datetime.fromtimestamp(timestamp, info.context.tz)


@strawberry.enum(description="The user field that `Query.user` matches `value` against.")
class UserIdField(Enum):
    ID = strawberry.enum_value("id", description="`user.id` (digits only).")
    USERNAME = strawberry.enum_value(
        "username", description="`user.username`, trimmed and lowercased, on this Moodle host."
    )
    IDNUMBER = strawberry.enum_value("idnumber", description="`user.idnumber`, exact.")
    EMAIL = strawberry.enum_value("email", description="`user.email`, case-insensitive.")
    OIDCUNIQUEID = strawberry.enum_value(
        "oidcuniqueid", description="The OpenID Connect unique id (auth_oidc plugin)."
    )
    OIDCUSERNAME = strawberry.enum_value(
        "oidcusername", description="The OpenID Connect username (auth_oidc plugin)."
    )


@strawberry.enum(description="How time spent on the site is worked out from the log.")
class TimeSpentAlgorithm(Enum):
    USE_STATS = strawberry.enum_value(
        "use_stats",
        description="block_use_stats: the time to the next log row, gaps over the threshold "
        "credited with the last-ping credit (the number the legacy document shows).",
    )
    DEDICATION = strawberry.enum_value(
        "dedication",
        description="block_dedication: sessions split at gaps over an hour, each lasting from its "
        "first to its last row; sessions of two minutes or less ignored.",
    )


def described_enum(cls: type[E], description: str, values: Mapping[E, str]) -> type[E]:
    """An Enum of another room as a GraphQL enum, its values described, in the order of ``values``.

    ``strawberry.enum_value`` describes a value only where the Enum is written.
    """
    if set(values) != set(cls):
        raise TypeError(f"describe every value of {cls.__name__}, and only those")
    wrapped = strawberry.enum(cls, description=description)
    assert has_enum_definition(wrapped)
    definition = wrapped.__strawberry_definition__
    by_name = {value.name: value for value in definition.values}
    definition.values = [
        dataclasses.replace(by_name[member.name], description=text)
        for member, text in values.items()
    ]
    return cls


described_enum(
    stats_courses.EnrolmentStatus,
    "Where an enrolment stands now.",
    {
        stats_courses.EnrolmentStatus.ACTIVE: "Active: the learner has access.",
        stats_courses.EnrolmentStatus.SUSPENDED: "Suspended for this user.",
        stats_courses.EnrolmentStatus.NOT_STARTED: "Starts in the future.",
        stats_courses.EnrolmentStatus.ENDED: "Its end date has passed.",
        stats_courses.EnrolmentStatus.DISABLED: "The enrolment method is disabled in the course.",
    },
)


@strawberry.type(description="A Moodle course (never the site front page).")
class Course:
    row: strawberry.Private[stats_courses.CourseRow]

    @described("`course.id`.")
    def id(self) -> int:
        return self.row.id

    @described("Full name, as stored.")
    def fullname(self) -> str:
        return self.row.fullname

    @described("Short name, as stored.")
    def shortname(self) -> str:
        return self.row.shortname

    @described("The course's ID number (may be empty).")
    def idnumber(self) -> str:
        return self.row.idnumber

    @described("Id of the course category the course is in.")
    def category_id(self) -> int:
        return self.row.category

    @described("Whether the course is shown to learners.")
    def visible(self) -> bool:
        return self.row.visible

    @described("Whether completion tracking is on for the course.")
    def completion_enabled(self) -> bool:
        return self.row.enablecompletion

    @described("Course start date; null when unset.")
    def start_date(self, info: Info) -> datetime | None:
        return when(self.row.startdate, info)

    @described("Course end date; null when unset.")
    def end_date(self, info: Info) -> datetime | None:
        return when(self.row.enddate, info)

    @described(
        "Learners: distinct users with an active enrolment (any method), as the "
        "legacy `courses` count defines it. Null (FORBIDDEN) for a self service's token, as "
        "every learner figure of a course."
    )
    async def enrolled_learners(self, info: Info) -> int | None:
        found = await _aggregates(info, self.row.id, "Course.enrolledLearners")
        return found.enrolled if found else 0

    @described("Learners who have completed the course.")
    async def completed_learners(self, info: Info) -> int | None:
        found = await _aggregates(info, self.row.id, "Course.completedLearners")
        return found.completed if found else 0

    @described(
        "Percentage of learners who have completed the course, rounded (halves up); "
        "0 without learners; null when completion tracking is off."
    )
    async def completion_rate(self, info: Info) -> int | None:
        info.context.viewer.require_others("Course.completionRate")
        if not self.row.enablecompletion:
            return None
        found = await course_aggregates_loader(info.context).load(self.row.id)
        return stats_listing.completion_rate(found.completed, found.enrolled) if found else 0

    @described(
        "Learners with at least one log row in the course this calendar month (site timezone)."
    )
    async def active_learners_this_month(self, info: Info) -> int | None:
        found = await _aggregates(info, self.row.id, "Course.activeLearnersThisMonth")
        return found.active if found else 0

    @described(
        "Seconds the course's learners spent in it this calendar month "
        "(block_use_stats, the same laps as `User.activity.byCourse`)."
    )
    async def time_spent_this_month(self, info: Info) -> int | None:
        info.context.viewer.require_others("Course.timeSpentThisMonth")
        return await course_time_loader(info.context).load(self.row.id) or 0

    @described("`timeSpentThisMonth` written `3h 38m 20s`.")
    async def time_spent_this_month_text(self, info: Info) -> str | None:
        info.context.viewer.require_others("Course.timeSpentThisMonthText")
        return format_duration(await course_time_loader(info.context).load(self.row.id) or 0)


async def _aggregates(
    info: Info, course_id: int, field: str
) -> stats_listing.CourseAggregates | None:
    info.context.viewer.require_others(field)
    return await course_aggregates_loader(info.context).load(course_id)


def shown_course(info: Info, row: stats_courses.CourseRow) -> Course:
    """The course, if the token's owner may see it (a hidden one needs viewhiddencourses)."""
    if not row.visible:
        info.context.viewer.require(VIEW_HIDDEN_COURSES, f"Hidden course {row.id}")
    return Course(row=row)


async def load_course(info: Info, course_id: int | None) -> Course | None:
    """The course of that id; null when there is none, FORBIDDEN when it is hidden from the
    token's owner."""
    if not course_id:
        return None
    row = await courses_loader(info.context).load(course_id)
    return shown_course(info, row) if row is not None else None


@strawberry.type(description="Course completion of one learner (`course_completions`).")
class Completion:
    row: strawberry.Private[stats_courses.CompletionRow]

    @described("When the learner was enrolled, for completion; null if unset.")
    def time_enrolled(self, info: Info) -> datetime | None:
        return when(self.row.timeenrolled, info)

    @described("When the learner started the course; null if not started.")
    def time_started(self, info: Info) -> datetime | None:
        return when(self.row.timestarted, info)

    @described("When the learner completed the course; null if not completed.")
    def time_completed(self, info: Info) -> datetime | None:
        return when(self.row.timecompleted, info)

    @described("Whether the course is completed (`timecompleted > 0`).")
    def completed(self) -> bool:
        return self.row.completed


@strawberry.type(
    description="A learner's courses and completion, as the legacy document counts them."
)
class CourseSummary:
    row: strawberry.Private[stats_courses.CourseCounts]

    @described("Distinct courses with an active enrolment (not the site course).")
    def courses(self) -> int:
        return self.row.courses

    @described("Those courses with completion tracking on.")
    def finishable_courses(self) -> int:
        return self.row.finishable

    @described("Those finishable courses the learner has completed.")
    def finished_courses(self) -> int:
        return self.row.finished

    @described("round(100 × finished / finishable), halves up; 0 without finishable courses.")
    def finished_courses_ratio(self) -> int:
        return self.row.ratio

    @described(
        "Every course completion on record, including courses the learner has left or whose "
        "tracking is off."
    )
    def completions_all_time(self) -> int:
        return self.row.completions_all_time


@strawberry.type(description="A user's enrolment in a course through one enrolment method.")
class Enrolment:
    row: strawberry.Private[stats_courses.EnrolmentRow]

    @described(
        "The course; null if it no longer exists, FORBIDDEN if it is hidden and the token's "
        "owner lacks moodle/course:viewhiddencourses."
    )
    async def course(self, info: Info) -> Course | None:
        return await load_course(info, self.row.courseid)

    @described("The enrolment method (`manual`, `self`, `cohort`...).")
    def method(self) -> str:
        return self.row.method

    @described("Where the enrolment stands now.")
    def status(self) -> stats_courses.EnrolmentStatus:
        return self.row.status

    @described("Whether the enrolment gives access now (status ACTIVE).")
    def active(self) -> bool:
        return self.row.active

    @described("Start of the enrolment; null when unrestricted.")
    def time_start(self, info: Info) -> datetime | None:
        return when(self.row.timestart, info)

    @described("End of the enrolment; null when unrestricted.")
    def time_end(self, info: Info) -> datetime | None:
        return when(self.row.timeend, info)

    @described("The course completion record; null when there is none.")
    def completion(self) -> Completion | None:
        found = self.row.completion
        return Completion(row=found) if found is not None else None


@strawberry.type(description="A badge definition.")
class Badge:
    row: strawberry.Private[stats_badges.BadgeRow]

    @described("`badge.id`.")
    def id(self) -> int:
        return self.row.id

    @described("The badge name, as stored.")
    def name(self) -> str:
        return self.row.name

    @described("The badge description, as stored.")
    def description(self) -> str:
        return self.row.description or ""

    @described("Issuer name (empty when unset).")
    def issuer_name(self) -> str:
        return self.row.issuername or ""

    @described("Issuer URL (empty when unset).")
    def issuer_url(self) -> str:
        return self.row.issuerurl or ""

    @described("Issuer contact (empty when unset).")
    def issuer_contact(self) -> str:
        return self.row.issuercontact or ""

    @described(
        "The course of a course badge; null for a site badge (FORBIDDEN for a hidden course "
        "without moodle/course:viewhiddencourses)."
    )
    async def course(self, info: Info) -> Course | None:
        return await load_course(info, self.row.courseid)


@strawberry.type(description="A badge issued to a user.")
class IssuedBadge:
    row: strawberry.Private[stats_badges.IssuedBadge]

    @described("The badge.")
    def badge(self) -> Badge:
        return Badge(row=self.row.badge)

    @described("When the badge was issued.")
    def date_issued(self, info: Info) -> datetime | None:
        return when(self.row.dateissued, info)

    @described("When the issued badge expires; null when it never does.")
    def date_expire(self, info: Info) -> datetime | None:
        return when(self.row.dateexpire, info)

    @described("Whether the issued badge has expired.")
    def expired(self) -> bool:
        return self.row.expired


@strawberry.type(description="Time spent in one course (course id 0: the site outside courses).")
class CourseTime:
    course_id: int = strawberry.field(description="The course id; 0 for site-level pages.")
    time_spent: int = strawberry.field(description="Seconds.")

    @described(
        "The course; null for site-level time (FORBIDDEN for a hidden course without "
        "moodle/course:viewhiddencourses)."
    )
    async def course(self, info: Info) -> Course | None:
        return await load_course(info, self.course_id)

    @described("`timeSpent` written `3h 38m 20s`.")
    def time_spent_text(self) -> str:
        return format_duration(self.time_spent)


@strawberry.type(description="A user's activity in one calendar month (site timezone).")
class MonthlyActivity:
    row: strawberry.Private[stats_activity.MonthlyActivity]

    @described("The month, `YYYY-MM`.")
    def month(self) -> str:
        return str(self.row.month)

    @described("Log rows with action `loggedin` in the month.")
    def logins(self) -> int:
        return self.row.logins

    @described("Seconds on the site in the month (up to now for the current month).")
    def time_spent(self) -> int:
        return self.row.time_spent

    @described("`timeSpent` written `3h 38m 20s` (`48m 0s`, `41s`, `0s`).")
    def time_spent_text(self) -> str:
        return format_duration(self.row.time_spent)

    @described("Days of the month (site timezone) with at least one log row.")
    def active_days(self) -> int:
        return self.row.active_days

    @described("`timeSpent` split by course, largest first.")
    def by_course(self) -> list[CourseTime]:
        items = sorted(self.row.by_course.items(), key=lambda item: (-item[1], item[0]))
        return [CourseTime(course_id=cid, time_spent=seconds) for cid, seconds in items]


# The legacy document's two types hold plain values: a page of 500 documents resolves ~7,000 of
# their fields, and Strawberry reads a field without a resolver as an attribute, skipping the
# per-field resolver machinery (BENCHMARKS.md). Their Python names are the REST names with
# underscores (``finished_courses_ratio`` is ``finishedcoursesratio``): see _document_values.


@strawberry.type(description="A badge in the legacy document.")
class DefinumBadge:
    id: int = strawberry.field(description="`badge.id`.")
    name: str = strawberry.field(description="`badge.name`.")
    issuer_name: str = strawberry.field(description="`badge.issuername` (empty when unset).")
    issuer_url: str = strawberry.field(description="`badge.issuerurl` (empty when unset).")
    issuer_contact: str = strawberry.field(description="`badge.issuercontact` (empty when unset).")
    date_issued: int = strawberry.field(description="Unix time the badge was issued.")
    date_issued_str: str = strawberry.field(
        description="`dateIssued` as Moodle writes it (site language and timezone)."
    )

    @classmethod
    def of(cls, row: stats_document.DefinumBadge) -> DefinumBadge:
        return cls(**_document_values(cls, row))


@strawberry.type(
    description="The legacy `definum_get_stats` document, field for field the numbers the REST "
    "shim returns (Unix timestamps as Int), so a front end can migrate one field at a time."
)
class DefinumStats:
    id: int = strawberry.field(description="`user.id`.")
    lastname: str = strawberry.field(description="Last name, as stored.")
    firstname: str = strawberry.field(description="First name, as stored.")
    courses: int = strawberry.field(
        description="Courses with an active enrolment (the site course excluded)."
    )
    finishable_courses: int = strawberry.field(
        description="Those courses with completion tracking on."
    )
    finished_courses: int = strawberry.field(
        description="Those finishable courses the user has completed."
    )
    finished_courses_ratio: int = strawberry.field(
        description="round(100 × finished / finishable), halves up; 0 without finishable courses."
    )
    badges: list[DefinumBadge] = strawberry.field(description="Issued badges, newest first.")
    num_badges: int = strawberry.field(description="Number of badges listed.")
    last_login: int = strawberry.field(
        description="`user.lastlogin` (Moodle keeps the previous login there); 0."
    )
    last_login_str: str = strawberry.field(
        description="`lastLogin` as Moodle writes it; `Never` when 0."
    )
    time_spent_in_month: int = strawberry.field(
        description="Seconds on the site in the month (block_use_stats)."
    )
    time_spent_in_month_str: str = strawberry.field(
        description="`timeSpentInMonth` written `3h 38m 20s`."
    )
    logins_in_month: int = strawberry.field(
        description="Logins (`loggedin` log rows) since the month start."
    )

    @classmethod
    def of(cls, row: stats_document.DefinumStats) -> DefinumStats:
        values = _document_values(cls, row)
        values["badges"] = [DefinumBadge.of(badge) for badge in row.badges]
        return cls(**values)


@functools.cache
def _document_names(cls: type) -> tuple[tuple[str, str], ...]:
    """(GraphQL type's field, legacy row's field) pairs of ``cls``."""
    fields = cls.__strawberry_definition__.fields  # type: ignore[attr-defined]
    return tuple((f.python_name, f.python_name.replace("_", "")) for f in fields)


def _document_values(cls: type, row: object) -> dict[str, Any]:
    return {name: getattr(row, legacy) for name, legacy in _document_names(cls)}


@strawberry.type(description="A Moodle user (deleted users are never shown).")
class User:
    row: strawberry.Private[stats_users.UserRow]

    @described("`user.id`.")
    def id(self) -> int:
        return self.row.id

    @described(
        "Login name (Moodle stores it in lowercase). Another user's needs "
        "moodle/site:viewuseridentity (null and FORBIDDEN without), as `idnumber` and `email`."
    )
    def username(self, info: Info) -> str | None:
        self._require(info, VIEW_USER_IDENTITY, "User.username")
        return self.row.username

    @described("ID number (may be empty).")
    def idnumber(self, info: Info) -> str | None:
        self._require(info, VIEW_USER_IDENTITY, "User.idnumber")
        return self.row.idnumber

    @described("Email address.")
    def email(self, info: Info) -> str | None:
        self._require(info, VIEW_USER_IDENTITY, "User.email")
        return self.row.email

    @described("First name, as stored.")
    def firstname(self) -> str:
        return self.row.firstname

    @described("Last name, as stored.")
    def lastname(self) -> str:
        return self.row.lastname

    @described("First name, a space, last name.")
    def fullname(self) -> str:
        return f"{self.row.firstname} {self.row.lastname}"

    @described(
        "Whether the account is suspended. Another user's needs moodle/user:viewdetails "
        "(null and FORBIDDEN without), as `currentLogin` and `lastAccess`."
    )
    def suspended(self, info: Info) -> bool | None:
        self._require(info, VIEW_USER_DETAILS, "User.suspended")
        return self.row.suspended

    @described("The previous login (Moodle's `lastlogin`); null when never logged in.")
    def last_login(self, info: Info) -> datetime | None:
        return when(self.row.lastlogin, info)

    @described("The current (latest) login; null when never logged in.")
    def current_login(self, info: Info) -> datetime | None:
        self._require(info, VIEW_USER_DETAILS, "User.currentLogin")
        return when(self.row.currentlogin, info)

    @described("The last time the user did anything; null when never.")
    def last_access(self, info: Info) -> datetime | None:
        self._require(info, VIEW_USER_DETAILS, "User.lastAccess")
        return when(self.row.lastaccess, info)

    def _require(self, info: Info, capability: str, field: str) -> None:
        info.context.viewer.require_own(self.row.id, capability, field)

    @described("The user's course enrolments.", returns=list[Enrolment])
    def enrolments(
        self,
        info: Info,
        active_only: Annotated[
            bool | None,
            strawberry.argument(
                description="Only enrolments giving access now (the legacy `courses` count); "
                "false lists suspended, future, ended and disabled ones too."
            ),
        ] = True,
    ) -> Ready[list[Enrolment]]:
        ctx, uid = info.context, self.row.id
        return settle(
            lambda: _enrolment_needs(ctx, uid, {"activeOnly": active_only}),
            lambda found: [Enrolment(row=row) for row in found or []],
        )

    @described(
        "Course and completion counts, including all-time completions.", returns=CourseSummary
    )
    def course_summary(self, info: Info) -> Ready[CourseSummary]:
        ctx, uid = info.context, self.row.id
        return settle(
            lambda: _summary_needs(ctx, uid, {}),
            lambda rows, done: CourseSummary(row=stats_courses.counts_of(rows or [], done or 0)),
        )

    @described("Issued badges, newest first (expired ones included).", returns=list[IssuedBadge])
    def badges(self, info: Info) -> Ready[list[IssuedBadge]]:
        ctx, uid = info.context, self.row.id
        return settle(
            lambda: _badge_needs(ctx, uid, {}),
            lambda found: [IssuedBadge(row=row) for row in found or []],
        )

    @described("Activity in one calendar month.", returns=MonthlyActivity)
    def activity(
        self,
        info: Info,
        month: Annotated[
            str | None,
            strawberry.argument(description="`YYYY-MM`; the current month when omitted."),
        ] = None,
    ) -> Ready[MonthlyActivity]:
        ctx, uid = info.context, self.row.id
        return settle(
            lambda: _month_needs(ctx, uid, {"month": month}),
            lambda found: MonthlyActivity(row=_monthly(found, ctx.month(month))),
        )

    @described(
        "Activity month by month, oldest first (a chart series).", returns=list[MonthlyActivity]
    )
    def activity_history(
        self,
        info: Info,
        from_: Annotated[
            str, strawberry.argument(name="from", description="First month, `YYYY-MM`.")
        ],
        to: Annotated[str, strawberry.argument(description="Last month, `YYYY-MM`, included.")],
    ) -> Ready[list[MonthlyActivity]]:
        ctx, uid = info.context, self.row.id

        def build(*found: stats_activity.LearnerMonth | None) -> list[MonthlyActivity]:
            months = history_months(ctx, from_, to)
            return [MonthlyActivity(row=_monthly(r, m)) for r, m in zip(found, months, strict=True)]

        return settle(lambda: _history_needs(ctx, uid, {"from": from_, "to": to}), build)

    @described("Seconds on the site in a month.", returns=int)
    def time_spent(
        self,
        info: Info,
        month: Annotated[
            str | None,
            strawberry.argument(description="`YYYY-MM`; the current month when omitted."),
        ] = None,
        algorithm: Annotated[
            TimeSpentAlgorithm, strawberry.argument(description="How time is worked out.")
        ] = TimeSpentAlgorithm.USE_STATS,
    ) -> Ready[int]:
        ctx, uid = info.context, self.row.id
        chosen = Algorithm(cast(str, algorithm.value))
        return settle(
            lambda: _month_needs(ctx, uid, {"month": month, "algorithm": algorithm}),
            lambda found: _monthly(found, ctx.month(month), chosen).time_spent,
        )

    @described(
        "The legacy `definum_get_stats` document, with camelCase names.", returns=DefinumStats
    )
    def definum_stats(
        self,
        info: Info,
        month: Annotated[
            str | None,
            strawberry.argument(
                description="`YYYY-MM` for the month figures; the current month when omitted."
            ),
        ] = None,
    ) -> Ready[DefinumStats]:
        ctx = info.context
        row = self.row

        def build(
            enrolments: list[stats_courses.EnrolmentRow] | None,
            badges: list[stats_badges.IssuedBadge] | None,
            learned: stats_activity.LearnerMonth | None,
        ) -> DefinumStats:
            document = stats_document.build_document(
                ctx.stats,
                row,
                enrolments or [],
                badges or [],
                learned or stats_activity.LearnerMonth(),
            )
            return DefinumStats.of(document)

        return settle(lambda: _document_needs(ctx, row.id, {"month": month}), build)


def _monthly(
    found: stats_activity.LearnerMonth | None,
    month: Month,
    algorithm: Algorithm = Algorithm.USE_STATS,
) -> stats_activity.MonthlyActivity:
    return (found or stats_activity.LearnerMonth()).activity(month, algorithm)


# What each batch field of User loads, from its GraphQL arguments: the resolvers settle on these
# keys, and a page of users primes them for all its nodes at once (graphql/prefetch.py).


def _enrolment_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    return [(enrolments_loader(ctx, args.get("activeOnly", True) is not False), uid)]


def _summary_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    return [(enrolments_loader(ctx, True), uid), (completions_loader(ctx), uid)]


def _badge_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    return [(badges_loader(ctx), uid)]


#: An ``algorithm`` argument as the resolver receives it (the member) or as graphql-core coerces
#: it (the member's value), to the statistics' Algorithm (asked per node of a page).
_ALGORITHMS: Mapping[Any, Algorithm] = {
    **{member: Algorithm(cast(str, member.value)) for member in TimeSpentAlgorithm},
    **{a.value: a for a in Algorithm},
}


def _month_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    chosen = _ALGORITHMS[args.get("algorithm", TimeSpentAlgorithm.USE_STATS)]
    return [(months_loader(ctx), (uid, ctx.month(args.get("month")), chosen))]


def _history_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    loader = months_loader(ctx)
    months = history_months(ctx, args["from"], args["to"])
    return [(loader, (uid, m, Algorithm.USE_STATS)) for m in months]


def _document_needs(ctx: Context, uid: int, args: Mapping[str, Any]) -> list[Need]:
    wanted = ctx.month(args.get("month"))
    return [
        (enrolments_loader(ctx, True), uid),
        (badges_loader(ctx), uid),
        (months_loader(ctx), (uid, wanted, Algorithm.USE_STATS)),
    ]


#: A page of users primes these fields of its nodes (GraphQL names).
USER_PRIMERS: Mapping[str, Primer] = {
    "enrolments": _enrolment_needs,
    "courseSummary": _summary_needs,
    "badges": _badge_needs,
    "activity": _month_needs,
    "activityHistory": _history_needs,
    "timeSpent": _month_needs,
    "definumStats": _document_needs,
}


def history_months(ctx: Context, first: str, last: str) -> list[Month]:
    start, end = Month.parse(first), Month.parse(last)
    if end < start:
        raise ClientError(f"'from' ({start}) is after 'to' ({end})", code="INVALID_MONTH")
    count = start.count_until(end)
    limit = ctx.settings.max_history_months
    if count > limit:
        raise ClientError(
            f"activityHistory covers {count} months; at most {limit} are allowed",
            code="HISTORY_TOO_LONG",
        )
    return start.until(end)
