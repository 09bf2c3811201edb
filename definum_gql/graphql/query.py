"""The root Query: one user or course, and Relay-style lists of them."""

from __future__ import annotations

import base64
import binascii
import itertools
import re
from datetime import date, datetime
from typing import Annotated, cast

import strawberry

from definum_gql.graphql.access import VIEW_HIDDEN_COURSES, VIEW_USER_DETAILS, VIEW_USER_IDENTITY
from definum_gql.graphql.errors import ClientError, shortened
from definum_gql.graphql.fields import described
from definum_gql.graphql.loaders import courses_loader, users_loader
from definum_gql.graphql.prefetch import prime
from definum_gql.graphql.types import (
    USER_PRIMERS,
    Course,
    Info,
    User,
    UserIdField,
    shown_course,
)
from definum_gql.observe import current
from definum_gql.stats import listing
from definum_gql.stats.courses import SITE_COURSE_ID
from definum_gql.stats.errors import StatsError, UserNotFound
from definum_gql.stats.identity import is_row_id, resolve_user, storable
from definum_gql.stats.users import UserRow


@strawberry.type(description="Where a page ends, to ask for the next one.")
class PageInfo:
    has_next_page: bool = strawberry.field(description="Whether more items follow this page.")
    end_cursor: str | None = strawberry.field(
        description="Cursor of the last item of the page; pass it as `after`. Null when empty."
    )


@strawberry.type(description="A user in a list, with its cursor.")
class UserEdge:
    cursor: str = strawberry.field(description="Opaque position of this user in the list.")
    node: User = strawberry.field(description="The user.")


@strawberry.type(description="A course in a list, with its cursor.")
class CourseEdge:
    cursor: str = strawberry.field(description="Opaque position of this course in the list.")
    node: Course = strawberry.field(description="The course.")


@strawberry.type(description="A page of users, in id order.")
class UserConnection:
    edges: list[UserEdge] = strawberry.field(description="The users of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page ends.")
    filter: strawberry.Private[listing.UserFilter]

    @described("How many users match the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as stats:
            return await listing.count_users(stats, self.filter)


@strawberry.type(description="A page of courses, in id order.")
class CourseConnection:
    edges: list[CourseEdge] = strawberry.field(description="The courses of this page.")
    page_info: PageInfo = strawberry.field(description="Where the page ends.")
    filter: strawberry.Private[listing.CourseFilter]

    @described("How many courses match the filter, on all pages.")
    async def total_count(self, info: Info) -> int:
        async with info.context.db() as stats:
            return await listing.count_courses(stats, self.filter)


@strawberry.input(description="Conditions on the users listed; all given conditions must hold.")
class UserFilter:
    enrolled_in_course: int | None = strawberry.field(
        default=None, description="Only users with an active enrolment in this course."
    )
    in_category: int | None = strawberry.field(
        default=None,
        description="Only users with an active enrolment in a course of this category.",
    )
    include_subcategories: bool = strawberry.field(
        default=True, description="Whether `inCategory` includes its subcategories."
    )
    active_since: str | None = strawberry.field(
        default=None,
        description="Only users whose last access is at or after this ISO 8601 date or date-time "
        "(a date or a time without offset is read in the site timezone). Needs "
        "moodle/user:viewdetails.",
    )
    search: str | None = strawberry.field(
        default=None,
        description="Words that must each appear (case-insensitively) in the first name, last "
        "name, email or username (email and username only with moodle/site:viewuseridentity; "
        "without it, in the names only). At most the server's `max_search_words` words (10 by "
        "default) of at most 255 characters; no NUL character.",
    )
    suspended: bool | None = strawberry.field(
        default=None,
        description="Only suspended (true) or not suspended (false) users. Needs "
        "moodle/user:viewdetails; without a value suspended users are listed like any other.",
    )


@strawberry.input(description="Conditions on the courses listed; all given conditions must hold.")
class CourseFilter:
    in_category: int | None = strawberry.field(
        default=None, description="Only courses of this category."
    )
    include_subcategories: bool = strawberry.field(
        default=True, description="Whether `inCategory` includes its subcategories."
    )
    search: str | None = strawberry.field(
        default=None,
        description="Words that must each appear (case-insensitively) in the full name, short "
        "name or ID number. At most the server's `max_search_words` words (10 by default) of at "
        "most 255 characters; no NUL character.",
    )
    visible: bool | None = strawberry.field(
        default=None,
        description="Only visible (true) or hidden (false) courses. Without "
        "moodle/course:viewhiddencourses hidden courses are never listed and false is refused.",
    )
    completion_enabled: bool | None = strawberry.field(
        default=None, description="Only courses with (true) or without (false) completion."
    )


def encode_cursor(kind: str, key: int) -> str:
    return base64.urlsafe_b64encode(f"{kind}:{key}".encode()).decode()


def decode_cursor(kind: str, cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        text = base64.urlsafe_b64decode(cursor.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError):
        text = ""
    prefix, _, key = text.partition(":")
    # Ids within a BIGINT only: a larger one is refused by PostgreSQL and SQLite as a parameter.
    if prefix != kind or not is_row_id(key):
        shown = shortened(cursor)
        raise ClientError(f"'after' is not a cursor of this list: {shown}", "INVALID_CURSOR")
    return int(key)


def page_size(info: Info, first: int | None) -> int:
    limit = info.context.settings.max_page_size
    if first is None:
        return min(DEFAULT_PAGE, limit)
    if first < 0:
        raise ClientError("'first' must not be negative")
    if first > limit:
        raise ClientError(f"'first' is {first}; at most {limit} items per page", "PAGE_TOO_LARGE")
    return first


#: The longest column a search looks in (course.shortname): a longer word matches nothing.
SEARCH_WORD_CHARS = 255
_WORD = re.compile(r"\S+")


def search_text(info: Info, text: str | None) -> str | None:
    """A search filter, refused when it holds more words than ``max_search_words`` (each word is
    one more condition on every row), a word longer than any column searched, or characters no
    Moodle text holds (NUL, a lone surrogate)."""
    if text is None:
        return None
    limit = info.context.settings.max_search_words
    # Counted without splitting all of a megabyte of words.
    words = [match[0] for match in itertools.islice(_WORD.finditer(text), limit + 1)]
    if len(words) > limit:
        raise ClientError(f"'search' holds more than {limit} words; give at most {limit}")
    longest = max(words, key=len, default="")
    if len(longest) > SEARCH_WORD_CHARS:
        raise ClientError(
            f"'search' holds a word of {len(longest)} characters; at most {SEARCH_WORD_CHARS} "
            "(the longest text searched)"
        )
    if not storable(text):
        raise ClientError("'search' holds a NUL character or a lone surrogate")
    return text


def _active_since(info: Info, text: str | None) -> int | None:
    if text is None:
        return None
    value = text.strip()
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            moment = datetime(day.year, day.month, day.day, tzinfo=info.context.tz)
        else:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=info.context.tz)
    except ValueError:
        raise ClientError(
            f"activeSince {text!r} is not an ISO 8601 date (2026-11-01) or date-time "
            "(2026-11-01T08:00:00+01:00)",
            "INVALID_DATE",
        ) from None
    return int(moment.timestamp())


DEFAULT_PAGE = 50
First = Annotated[
    int | None,
    strawberry.argument(description="Page size (at most the server's `max_page_size`)."),
]
After = Annotated[
    str | None,
    strawberry.argument(description="Cursor after which the page starts (`pageInfo.endCursor`)."),
]


@strawberry.type(description="Learner statistics of one Moodle site (read-only).")
class Query:
    @described(
        "The token's owner, every field shown. Null when the server runs without "
        "authentication (the demo)."
    )
    async def me(self, info: Info) -> User | None:
        owner = info.context.viewer.user_id
        if owner is None:
            return None
        row = await users_loader(info.context).load(owner)
        return User(row=row) if row is not None else None

    @described(
        "One user found by one identity field; null when no (non-deleted) user "
        "matches, an error when several do. Any field but ID needs "
        "moodle/site:viewuseridentity; a self service's token finds only its owner."
    )
    async def user(
        self,
        info: Info,
        by: Annotated[
            UserIdField, strawberry.argument(description="The field `value` is matched against.")
        ] = UserIdField.ID,
        *,
        value: Annotated[str, strawberry.argument(description="The value to look for.")],
    ) -> User | None:
        viewer = info.context.viewer
        if by is not UserIdField.ID:
            viewer.require(VIEW_USER_IDENTITY, f"Finding a user by {by.name}")
        found: UserRow | None = None
        try:
            async with info.context.db() as stats:
                found = await resolve_user(stats, cast(str, by.value), value)
        except UserNotFound:
            pass
        except StatsError:
            # Several matches (or none possible): a self service's token learns nothing of it.
            viewer.require_others("Another user")
            raise
        if found is None or found.id != viewer.user_id:
            # Not found is refused too: null would tell which ids exist.
            viewer.require_others("Another user")
        exchange = current()
        if found is not None and exchange is not None:
            exchange.learner = found.id
        return User(row=found) if found is not None else None

    @described(
        "Users in id order, a page at a time (keyset cursors). Null (FORBIDDEN) for a self "
        "service's token."
    )
    async def users(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        filter: Annotated[
            UserFilter | None, strawberry.argument(description="Which users to list.")
        ] = None,
    ) -> UserConnection | None:
        ctx = info.context
        viewer = ctx.viewer
        viewer.require_others("Query.users")
        size = page_size(info, first)
        start = decode_cursor("user", after)
        given = filter or UserFilter()
        if given.suspended is not None:
            viewer.require(VIEW_USER_DETAILS, "The suspended filter")
        if given.active_since is not None:
            viewer.require(VIEW_USER_DETAILS, "The activeSince filter")
        flt = listing.UserFilter(
            enrolled_in_course=given.enrolled_in_course,
            in_category=given.in_category,
            include_subcategories=given.include_subcategories,
            active_since=_active_since(info, given.active_since),
            search=search_text(info, given.search),
            search_identity=viewer.can(VIEW_USER_IDENTITY),
            suspended=given.suspended,
        )
        async with ctx.db() as stats:
            ids = await listing.list_users(stats, flt, after=start, limit=size + 1)
        ids, page_info = _page(ids, size, "user")
        found = [row for row in await users_loader(ctx).load_many(ids) if row is not None]
        # Strawberry's Info wraps graphql-core's, whose document prime() walks as it executes.
        page = [row.id for row in found]
        await prime(ctx, info._raw_info, ("edges", "node"), page, USER_PRIMERS)
        edges = [
            UserEdge(cursor=encode_cursor("user", row.id), node=User(row=row)) for row in found
        ]
        return UserConnection(edges=edges, page_info=page_info, filter=flt)

    @described(
        "One course by id; null when there is none (or the site), FORBIDDEN when it is hidden "
        "and the token's owner lacks moodle/course:viewhiddencourses."
    )
    async def course(
        self, info: Info, id: Annotated[int, strawberry.argument(description="`course.id`.")]
    ) -> Course | None:
        if id == SITE_COURSE_ID:
            return None
        row = await courses_loader(info.context).load(id)
        return shown_course(info, row) if row is not None else None

    @described(
        "Courses in id order, a page at a time, with aggregates. Null (FORBIDDEN) for a self "
        "service's token."
    )
    async def courses(
        self,
        info: Info,
        first: First = 50,
        after: After = None,
        filter: Annotated[
            CourseFilter | None, strawberry.argument(description="Which courses to list.")
        ] = None,
    ) -> CourseConnection | None:
        ctx = info.context
        viewer = ctx.viewer
        viewer.require_others("Query.courses")
        size = page_size(info, first)
        start = decode_cursor("course", after)
        given = filter or CourseFilter()
        visible = given.visible
        if not viewer.can(VIEW_HIDDEN_COURSES):
            if visible is False:
                viewer.require(VIEW_HIDDEN_COURSES, "The visible: false filter")
            visible = True
        flt = listing.CourseFilter(
            in_category=given.in_category,
            include_subcategories=given.include_subcategories,
            search=search_text(info, given.search),
            visible=visible,
            completion_enabled=given.completion_enabled,
        )
        async with ctx.db() as stats:
            ids = await listing.list_courses(stats, flt, after=start, limit=size + 1)
        ids, page_info = _page(ids, size, "course")
        rows = await courses_loader(ctx).load_many(ids)
        edges = [
            CourseEdge(cursor=encode_cursor("course", row.id), node=Course(row=row))
            for row in rows
            if row is not None
        ]
        return CourseConnection(edges=edges, page_info=page_info, filter=flt)


def _page(ids: list[int], size: int, kind: str) -> tuple[list[int], PageInfo]:
    """Cut a keyset fetch of ``size + 1`` ids to the page, and say whether more follow."""
    page = ids[:size]
    end = encode_cursor(kind, page[-1]) if page else None
    return page, PageInfo(has_next_page=len(ids) > size, end_cursor=end)
