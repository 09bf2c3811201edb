"""GraphQL ceiling: the learner dashboard's types and fields, resolved from constants.

Exactly the types and fields ``queries/learner_dashboard.graphql`` selects, named and typed as in
``schema/schema.graphql``, with resolvers that return a constant answer shaped like a real one
(3 enrolments, one with a completion; 2 badges; 3 rows of time by course). Resolvers are async
where definum-gql's are (``Query.user``, ``User.enrolments``/``badges``/``activity``/
``definumStats`` and every ``course``); leaves are plain attributes. Served by strawberry's own
ASGI app inside Starlette, with the same parser and validation caches as definum-gql, so
ours / ceiling shows what definum-gql adds to what Strawberry itself costs. No database.

    python -m uvicorn bench.graphql_ceiling:app --workers 2
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from enum import Enum
from functools import partial

import strawberry
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, SchemaExtension, ValidationCache

from definum_gql.server import settle_gc


def _at(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)


@strawberry.enum
class UserIdField(Enum):
    ID = "ID"
    USERNAME = "USERNAME"
    IDNUMBER = "IDNUMBER"
    EMAIL = "EMAIL"
    OIDCUNIQUEID = "OIDCUNIQUEID"
    OIDCUSERNAME = "OIDCUSERNAME"


@strawberry.enum
class EnrolmentStatus(Enum):
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    NOT_STARTED = "NOT_STARTED"
    ENDED = "ENDED"
    DISABLED = "DISABLED"


@strawberry.type
class Course:
    id: int
    fullname: str


COURSES = {
    3: Course(id=3, fullname="Physique quantique"),
    4: Course(id=4, fullname="Chimie organique"),
    5: Course(id=5, fullname="日本語入門 (Japanese intro)"),
}


@strawberry.type
class Completion:
    completed: bool
    time_completed: datetime | None


@strawberry.type
class Enrolment:
    course_id: strawberry.Private[int]
    method: str
    status: EnrolmentStatus
    time_start: datetime | None
    time_end: datetime | None
    completion: Completion | None

    @strawberry.field
    async def course(self) -> Course | None:
        return COURSES.get(self.course_id)


@strawberry.type
class Badge:
    id: int
    name: str
    issuer_name: str
    course_id: strawberry.Private[int | None]

    @strawberry.field
    async def course(self) -> Course | None:
        return None if self.course_id is None else COURSES.get(self.course_id)


@strawberry.type
class IssuedBadge:
    badge: Badge
    date_issued: datetime | None
    date_expire: datetime | None
    expired: bool


@strawberry.type
class CourseTime:
    course_id: int
    time_spent: int

    @strawberry.field
    async def course(self) -> Course | None:
        return COURSES.get(self.course_id)


@strawberry.type
class MonthlyActivity:
    month: str
    logins: int
    time_spent: int
    time_spent_text: str
    active_days: int
    by_course: list[CourseTime]


@strawberry.type
class DefinumStats:
    courses: int
    finishable_courses: int
    finished_courses: int
    finished_courses_ratio: int
    num_badges: int
    time_spent_in_month: int
    time_spent_in_month_str: str
    logins_in_month: int


ENROLMENTS = [
    Enrolment(
        course_id=3,
        method="manual",
        status=EnrolmentStatus.ACTIVE,
        time_start=None,
        time_end=None,
        completion=None,
    ),
    Enrolment(
        course_id=4,
        method="manual",
        status=EnrolmentStatus.ACTIVE,
        time_start=_at(1788163200),
        time_end=None,
        completion=Completion(completed=True, time_completed=_at(1790755200)),
    ),
    Enrolment(
        course_id=5,
        method="self",
        status=EnrolmentStatus.ACTIVE,
        time_start=_at(1788163200),
        time_end=_at(1798761600),
        completion=Completion(completed=False, time_completed=None),
    ),
]
BADGES = [
    IssuedBadge(
        badge=Badge(id=1, name="Quantum basics", issuer_name="Definum", course_id=3),
        date_issued=_at(1790755200),
        date_expire=None,
        expired=False,
    ),
    IssuedBadge(
        badge=Badge(id=2, name="Site explorer", issuer_name="Definum", course_id=None),
        date_issued=_at(1789027200),
        date_expire=_at(1795628523),
        expired=True,
    ),
]
ACTIVITY = MonthlyActivity(
    month="2026-11",
    logins=4,
    time_spent=13100,
    time_spent_text="3h 38m 20s",
    active_days=3,
    by_course=[
        CourseTime(course_id=4, time_spent=7200),
        CourseTime(course_id=3, time_spent=4100),
        CourseTime(course_id=0, time_spent=1800),
    ],
)
STATS = DefinumStats(
    courses=3,
    finishable_courses=2,
    finished_courses=1,
    finished_courses_ratio=50,
    num_badges=2,
    time_spent_in_month=13100,
    time_spent_in_month_str="3h 38m 20s",
    logins_in_month=4,
)


@strawberry.type
class User:
    id: int
    fullname: str
    email: str
    last_login: datetime | None
    last_access: datetime | None

    @strawberry.field
    async def enrolments(self, active_only: bool | None = True) -> list[Enrolment]:
        return ENROLMENTS

    @strawberry.field
    async def badges(self) -> list[IssuedBadge]:
        return BADGES

    @strawberry.field
    async def activity(self, month: str | None = None) -> MonthlyActivity:
        return ACTIVITY

    @strawberry.field
    async def definum_stats(self, month: str | None = None) -> DefinumStats:
        return STATS


USER = User(
    id=10,
    fullname="太郎 山田",
    email="taro.yamada@example.jp",
    last_login=_at(1793880000),
    last_access=_at(1795620000),
)


@strawberry.type
class Query:
    @strawberry.field
    async def user(self, value: str, by: UserIdField = UserIdField.ID) -> User | None:
        return USER


extensions: list[Callable[[], SchemaExtension]] = [
    partial(ParserCache, maxsize=256),
    partial(ValidationCache, maxsize=256),
]
schema = strawberry.Schema(query=Query, extensions=extensions)


async def ready(request: Request) -> Response:
    return PlainTextResponse("ok")


app = Starlette(routes=[Route("/", ready), Route("/graphql", GraphQL(schema, graphql_ide=None))])
# The garbage collector tuned as in a served definum-gql process, so that both compare alike.
settle_gc()
