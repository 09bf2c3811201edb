"""The contract's rules, each named once, and the statements of the request path built from them.

Rules (SQL expressions every statistic uses): a counted log row, a login row, an active enrolment.
Statements (:class:`Statements`, one set per table prefix, built once): the token check, the
learner lookups, user/enrolment/badge rows and each learner's log rows for a span of months.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    FunctionElement,
    Integer,
    Select,
    Table,
    Text,
    and_,
    bindparam,
    case,
    exists,
    func,
    literal,
    literal_column,
    or_,
    select,
)
from sqlalchemy.ext.compiler import compiles

from definum_gql.moodle.reader import Prepared, bucket, id_list
from definum_gql.moodle.tables import MoodleTables, moodle_tables

LOGOUT_ACTIONS = ("loggedout", "logout")
LOGIN_ACTION = "loggedin"
SITE_COURSE_ID = 1
CONTEXT_SYSTEM = 10
CAP_ALLOW = 1
CAP_PROHIBIT = -1000
TOKEN_PERMANENT = 0
REST_CAPABILITY = "webservice/rest:use"
VIEW_USER_IDENTITY = "moodle/site:viewuseridentity"
VIEW_USER_DETAILS = "moodle/user:viewdetails"
VIEW_HIDDEN_COURSES = "moodle/course:viewhiddencourses"
#: The system-context capabilities the token statement reads for the token's owner, in its
#: column order: REST access, and what GraphQL shows of other users and of hidden courses.
CAPABILITIES = (REST_CAPABILITY, VIEW_USER_IDENTITY, VIEW_USER_DETAILS, VIEW_HIDDEN_COURSES)


def counted_row(log: Table) -> ColumnElement[bool]:
    """A log row that counts toward time spent (contract section 5).

    Not from the command line (a NULL origin counts: imported logs), not a failed login, not done
    while "logged in as" someone else, and not a grade given *about* a user.
    """
    return and_(
        or_(log.c.origin.is_(None), log.c.origin != "cli"),
        log.c.action != "failed",
        log.c.realuserid.is_(None),
        ~and_(log.c.action == "graded", log.c.target == "user"),
    )


def login_row(log: Table) -> ColumnElement[bool]:
    """A login (contract section 4: ``loggedin`` rows, any origin)."""
    return log.c.action == LOGIN_ACTION


def logout_row(log: Table) -> ColumnElement[bool]:
    """A logout: block_use_stats earns no lap from it to the next row."""
    return or_(*(log.c.action == a for a in LOGOUT_ACTIONS))


def moodle_now(now: int) -> int:
    """enrol_get_all_users_courses rounds the time to 100 s (PHP ``round(time(), -2)``)."""
    return (now + 50) // 100 * 100


def active_enrolment(tables: MoodleTables, rounded: Any) -> ColumnElement[bool]:
    """The contract's active enrolment, on ``user_enrolments`` joined to ``enrol``.

    Both the enrolment and its instance enabled, started before now and not ended, ``rounded``
    being now rounded by :func:`moodle_now` (a value or a bind parameter).
    """
    ue, e = tables.user_enrolments, tables.enrol
    return and_(
        ue.c.status == 0,
        e.c.status == 0,
        ue.c.timestart < rounded,
        or_(ue.c.timeend == 0, ue.c.timeend > rounded),
    )


def filter_start(ue: Table) -> ColumnElement[bool]:
    """An enrolment whose start block_use_stats' enrolment filter takes: an enabled one."""
    return ue.c.status == 0


def user_columns(u: Table) -> tuple[Any, ...]:
    """The user row's columns, in :class:`definum_gql.stats.users.UserRow` order."""
    return (
        u.c.id,
        u.c.username,
        u.c.idnumber,
        u.c.email,
        u.c.firstname,
        u.c.lastname,
        u.c.auth,
        u.c.confirmed,
        u.c.deleted,
        u.c.suspended,
        u.c.mnethostid,
        u.c.lastlogin,
        u.c.currentlogin,
        u.c.lastaccess,
        u.c.firstaccess,
        u.c.timecreated,
    )


def _flag(clause: ColumnElement[bool]) -> ColumnElement[int]:
    """1 or 0: booleans read the same on every database and driver."""
    return case((clause, literal(1)), else_=literal(0))


#: The bits of a log row's ``kind`` (Statements._log).
LOGIN, COUNTED, LOGOUT = 1, 2, 4


def row_kind(log: Table) -> ColumnElement[int]:
    """A log row's kind: the bits :data:`LOGIN`, :data:`COUNTED` and :data:`LOGOUT`."""
    # Constants written into the statement: the same text, fewer values, on every database.
    return (
        case((login_row(log), literal_column(str(LOGIN))), else_=literal_column("0"))
        + case((counted_row(log), literal_column(str(COUNTED))), else_=literal_column("0"))
        + case((logout_row(log), literal_column(str(LOGOUT))), else_=literal_column("0"))
    )


#: From this many learners a statistics statement is a batch: PostgreSQL sums time spent itself
#: (timespent.window_trails), MariaDB may read the table in order (lookup_indexes). An IN list
#: is padded to a power of two, so its statement is a batch from 65 ids.
BATCH_LEARNERS = 100


def is_batch(learners: int) -> bool:
    """Whether a statement for ``learners`` ids is built as a batch (its IN list is padded)."""
    return bucket(learners) >= BATCH_LEARNERS


#: Above every log id (BIGINT): a batch told no bounds reads every id.
MAX_ID = 2**63 - 1

#: How many columns user_columns() has (the document statement's arrays come after them).
USER_COLUMNS = 16


class Statements:
    """Every statement of the request path, for one table prefix."""

    def __init__(
        self,
        tables: MoodleTables,
        ignored_log_indexes: tuple[str, ...] = (),
        batch_ignored_log_indexes: tuple[str, ...] = (),
        log_by_learner: bool = False,
    ) -> None:
        self.tables = tables
        #: MariaDB/MySQL indexes of the log that statements for a few learners, and for
        #: BATCH_LEARNERS or more, must not use (userid_only_indexes, lookup_indexes).
        self.ignored_log_indexes = ignored_log_indexes
        self.batch_ignored_log_indexes = batch_ignored_log_indexes
        #: The log has an index starting with (userid, timecreated): a batch's cost goes with
        #: its learners. Without it a batch reads much of the month's range of the table
        #: whatever their number (PostgreSQL: 2,000 learners cost half of 10,000).
        self.log_by_learner = log_by_learner
        self._shaped: dict[tuple[str, Hashable], Prepared] = {}
        t = tables
        u = t.user
        self.token = Prepared("token", lambda n: self._token())
        self.service_users = Prepared("service_users", lambda n: self._service_users())
        self.function = Prepared("function", lambda n: self._function())
        #: The user a lookup names, by field (OIDC fields are looked up by identity.py).
        self.user_by = {f: Prepared(f"user_by_{f}", self._user_by(f)) for f in LOOKUP_FIELDS}
        #: The legacy document of the user a lookup names, in one statement (see _document);
        #: on MariaDB with the badges joined, a row each (see _document).
        self.document_by = {
            f: Prepared(f"document_by_{f}", self._document_by(f, False)) for f in LOOKUP_FIELDS
        }
        self.document_joined_by = {
            f: Prepared(f"document_joined_by_{f}", self._document_by(f, True))
            for f in LOOKUP_FIELDS
        }
        self.users = Prepared(
            "users", lambda n: select(*user_columns(u)).where(u.c.id.in_(id_list(n))), True
        )
        self.enrolments = Prepared("enrolments", lambda n: self._enrolments(n, True), True)
        self.all_enrolments = Prepared("all_enrolments", lambda n: self._enrolments(n, False), True)
        self.badges = Prepared("badges", lambda n: self._badges(n, True), True)
        self.site_badges = Prepared("site_badges", lambda n: self._badges(n, False), True)
        self.completions = Prepared("completions", self._completions, True)
        c = t.course
        course_columns = (
            c.c.id,
            c.c.fullname,
            c.c.shortname,
            c.c.idnumber,
            c.c.category,
            c.c.visible,
            c.c.enablecompletion,
            c.c.startdate,
            c.c.enddate,
        )
        self.courses = Prepared(
            "courses", lambda n: select(*course_columns).where(c.c.id.in_(id_list(n))), True
        )
        self.log_rows = Prepared("log_rows", self._log_rows, True, custom_plan=True)
        self.log_span = Prepared("log_span", lambda n: self._log_span(), custom_plan=True)
        self.log_slice = Prepared("log_slice", lambda n: self._log_slice(), custom_plan=True)
        # As text: once the batch statement had run on a connection, MariaDB 10.11 answered
        # this one PREPAREd there by scanning the whole table (0.2 -> 2 s; as text, 0.2 s).
        self.log_ids = Prepared("log_ids", lambda n: self._log_ids(), text=True)
        self.starting_within = Prepared(
            "starting_within", lambda n: self._starting_within(), custom_plan=True
        )
        self.enrolment_starts = Prepared(
            "enrolment_starts", self._enrolment_starts, True, custom_plan=True
        )
        self.config = Prepared("config", lambda n: select(t.config.c.name, t.config.c.value))
        cp = t.config_plugins
        self.config_plugins = Prepared(
            "config_plugins",
            lambda n: select(cp.c.plugin, cp.c.name, cp.c.value).where(
                cp.c.plugin == bindparam("plugin")
            ),
        )

    def shaped(self, name: str, shape: Hashable, build: Callable[[], Select[Any]]) -> Prepared:
        """A statement built for each call's values, compiled once per ``shape``.

        ``build()`` must make every value that changes between calls a named parameter (each
        call sends them all); what it leaves inline is compiled into the shape's statement.
        """
        key = (name, shape)
        found = self._shaped.get(key)
        if found is None:
            statement = build()
            found = Prepared(f"{name}_{len(self._shaped)}", lambda n: statement, custom_plan=True)
            self._shaped[key] = found
        return found

    @property
    def batch_reads_month(self) -> bool:
        """Whether a batch is kept from indexes that a few learners' statements may use: the
        lookup_indexes, when the log outgrows MariaDB's buffer pool. A batch then reads the
        month's range of the table in order, whatever the number of learners."""
        return set(self.batch_ignored_log_indexes) != set(self.ignored_log_indexes)

    @property
    def batch_reads_ids(self) -> bool:
        """Whether a batch reads the month's range of the table in id order (no index holds a
        learner's rows for it): it is then told the first and last id of the range's rows
        (``log_ids``), so that MariaDB reads those pages alone instead of the whole table."""
        return self.batch_reads_month and not self.log_by_learner

    def _user_by(self, field: str) -> Callable[[int], Select[Any]]:
        u = self.tables.user
        condition = lookup_condition(self.tables, field)
        return lambda n: select(*user_columns(u)).where(u.c.deleted == 0, condition)

    def _document_by(self, field: str, joined: bool) -> Callable[[int], Select[Any]]:
        return lambda n: self._document(field, joined)

    def _token(self) -> Select[Any]:
        """The token, its owner, the owner's capabilities and its service, in one statement.

        Each capability of :data:`CAPABILITIES` is Moodle's in the system context: allowed by a
        role the owner holds there (or the implicit default-user / guest role) and prohibited by
        none. Site admins have them all; the caller knows who they are.
        """
        t = self.tables
        tok, u, s = t.external_tokens, t.user, t.external_services
        ctx, ra, rc = t.context, t.role_assignments, t.role_capabilities
        sf = t.external_services_functions
        system = (
            select(ctx.c.id).where(ctx.c.contextlevel == CONTEXT_SYSTEM).limit(1).scalar_subquery()
        )
        implicit = case(
            (tok.c.userid == bindparam("guest"), bindparam("guestrole", type_=BigInteger)),
            else_=bindparam("userrole", type_=BigInteger),
        )
        assigned = (
            select(ra.c.roleid)
            .where(ra.c.userid == tok.c.userid, ra.c.contextid == system)
            .correlate(tok)
        )

        def permission(capability: str, value: int) -> Any:
            return (
                exists()
                .where(
                    rc.c.capability == capability,
                    rc.c.contextid == system,
                    rc.c.permission == value,
                    or_(rc.c.roleid.in_(assigned), rc.c.roleid == implicit),
                )
                .correlate(tok)
            )

        granted = [
            _flag(and_(permission(cap, CAP_ALLOW), ~permission(cap, CAP_PROHIBIT)))
            for cap in CAPABILITIES
        ]
        offers = (
            exists()
            .where(
                sf.c.externalserviceid == tok.c.externalserviceid,
                sf.c.functionname == bindparam("function"),
            )
            .correlate(tok)
        )
        return (
            select(
                tok.c.id,
                tok.c.token,
                tok.c.userid,
                tok.c.externalserviceid,
                tok.c.iprestriction,
                tok.c.validuntil,
                tok.c.contextid,
                u.c.id,
                u.c.username,
                u.c.deleted,
                u.c.confirmed,
                u.c.suspended,
                u.c.auth,
                s.c.id,
                s.c.enabled,
                s.c.restrictedusers,
                s.c.shortname,
                _flag(offers),
                *granted,
            )
            .select_from(
                tok.outerjoin(u, u.c.id == tok.c.userid).outerjoin(
                    s, s.c.id == tok.c.externalserviceid
                )
            )
            .where(tok.c.token == bindparam("token"), tok.c.tokentype == TOKEN_PERMANENT)
            .order_by(tok.c.id)
            .limit(20)
        )

    def _function(self) -> Select[Any]:
        """The web service function named ``function`` (``external_functions``), and whether the
        service ``service`` contains it; no row when the function is unknown.

        The caller compares the name exactly (a MariaDB collation matches case-insensitively).
        """
        ef, sf = self.tables.external_functions, self.tables.external_services_functions
        contains = exists().where(
            sf.c.externalserviceid == bindparam("service", type_=BigInteger),
            sf.c.functionname == ef.c.name,
        )
        return select(ef.c.name, _flag(contains)).where(ef.c.name == bindparam("function"))

    def _service_users(self) -> Select[Any]:
        su = self.tables.external_services_users
        return select(su.c.iprestriction, su.c.validuntil).where(
            su.c.externalserviceid == bindparam("service"), su.c.userid == bindparam("user")
        )

    def _enrolment_rows(self, active_only: bool) -> Select[Any]:
        """Enrolments in real courses with their completion, in EnrolmentRow column order."""
        t = self.tables
        ue, e, cc, c = t.user_enrolments, t.enrol, t.course_completions, t.course
        query = (
            select(
                ue.c.id,
                ue.c.userid,
                ue.c.status,
                ue.c.enrolid,
                ue.c.timestart,
                ue.c.timeend,
                ue.c.timecreated,
                e.c.courseid,
                e.c.enrol,
                e.c.status,
                cc.c.timeenrolled,
                cc.c.timestarted,
                cc.c.timecompleted,
                cc.c.id,
                c.c.enablecompletion,
            )
            .select_from(
                ue.join(e, e.c.id == ue.c.enrolid)
                .join(c, c.c.id == e.c.courseid)
                .outerjoin(cc, and_(cc.c.userid == ue.c.userid, cc.c.course == e.c.courseid))
            )
            .where(e.c.courseid != SITE_COURSE_ID)
        )
        if active_only:
            query = query.where(active_enrolment(t, bindparam("rounded")))
        return query

    def _enrolments(self, n: int, active_only: bool) -> Select[Any]:
        ue, e = self.tables.user_enrolments, self.tables.enrol
        return (
            self._enrolment_rows(active_only)
            .where(ue.c.userid.in_(id_list(n)))
            .order_by(ue.c.userid, e.c.courseid, ue.c.id)
        )

    def _badge_rows(self) -> Select[Any]:
        """Issued badges, in IssuedBadge column order."""
        b, bi = self.tables.badge, self.tables.badge_issued
        return select(
            bi.c.userid,
            bi.c.dateissued,
            bi.c.dateexpire,
            b.c.id,
            b.c.name,
            b.c.description,
            b.c.issuername,
            b.c.issuerurl,
            b.c.issuercontact,
            b.c.courseid,
            b.c.expiredate,
            b.c.expireperiod,
            b.c.status,
            bi.c.id,
        ).select_from(bi.join(b, b.c.id == bi.c.badgeid))

    def _badges(self, n: int, course_badges: bool) -> Select[Any]:
        b, bi = self.tables.badge, self.tables.badge_issued
        query = (
            self._badge_rows()
            .where(bi.c.userid.in_(id_list(n)))
            .order_by(bi.c.userid, bi.c.dateissued.desc(), bi.c.id.desc())
        )
        if not course_badges:
            query = query.where(b.c.courseid.is_(None))
        return query

    def _completions(self, n: int) -> Select[Any]:
        cc = self.tables.course_completions
        return (
            select(cc.c.userid, func.count())
            .where(cc.c.userid.in_(id_list(n)), cc.c.timecompleted > 0)
            .group_by(cc.c.userid)
        )

    def _log(self, batch: bool = False, with_id: bool = False) -> Select[Any]:
        """Counted and login rows in ``[low, high)``: one read serves logins and both time
        algorithms. A row is (user, time, course, ``kind``): ``kind`` holds the bits
        :data:`LOGIN`, :data:`COUNTED` and :data:`LOGOUT` (one column for three: the driver
        turns each column of every row into a Python value, 500 learners' month ~20 % less
        CPU). ``with_id`` adds the row's id, for rows that come unordered (JSON arrays)."""
        log = self.tables.logstore_standard_log
        columns = [log.c.userid, log.c.timecreated, func.coalesce(log.c.courseid, 0), row_kind(log)]
        query = select(*columns, *([log.c.id] if with_id else [])).where(
            log.c.timecreated >= bindparam("low"),
            log.c.timecreated < bindparam("high"),
            or_(counted_row(log), login_row(log)),
        )
        ignored = self.batch_ignored_log_indexes if batch else self.ignored_log_indexes
        if ignored:
            query = query.with_hint(log, index_hint(ignored), dialect_name="mysql")
        if batch and self.batch_reads_ids:
            # Unsent, the bounds take every row: a caller that skips log_ids is slower, not wrong.
            query = query.where(
                log.c.id.between(bindparam("first_id", 0), bindparam("last_id", MAX_ID))
            )
        return query

    def _log_ids(self) -> Select[Any]:
        """The first and last id of the log's rows in ``[low, high)``, read from the timecreated
        index alone (Moodle's own). Rows are written in time order, so a month's rows lie on a
        run of ids: on the demo, MariaDB read 500 learners' month from the table in 1.3 s
        within those ids against 2.6 s scanning the whole table (BENCHMARKS.md)."""
        log = self.tables.logstore_standard_log
        return select(func.min(log.c.id), func.max(log.c.id)).where(
            log.c.timecreated >= bindparam("low"), log.c.timecreated < bindparam("high")
        )

    def _log_rows(self, n: int) -> Select[Any]:
        """Each learner's rows in trail order. Ordered by user so each learner's rows come
        through the userid index (measured on MariaDB: one learner 26 -> 17 ms)."""
        log = self.tables.logstore_standard_log
        return (
            self._log(batch=is_batch(n))
            .where(log.c.userid.in_(id_list(n)))
            .order_by(log.c.userid, log.c.timecreated, log.c.id)
        )

    def _log_span(self) -> Select[Any]:
        """Rows of the users ``first``..``last`` in time order: for more learners than an IN list
        holds, the month is read once (in the timecreated index's order, so nothing is sorted)
        and the users not asked are dropped by the caller."""
        log = self.tables.logstore_standard_log
        return (
            self._log(batch=True)
            .where(log.c.userid.between(bindparam("first"), bindparam("last")))
            .order_by(log.c.timecreated, log.c.id)
        )

    def _log_slice(self) -> Select[Any]:
        """Rows of the users ``first``..``last`` learner after learner, within a slice of time
        read by ids (``batch_reads_ids``): sorted anyway, so in the order that folds fastest."""
        log = self.tables.logstore_standard_log
        return (
            self._log(batch=True)
            .where(log.c.userid.between(bindparam("first"), bindparam("last")))
            .order_by(log.c.userid, log.c.timecreated, log.c.id)
        )

    def _starts(self) -> Select[Any]:
        """Enabled enrolments' starts before ``high`` (block_use_stats' enrolment filter)."""
        ue = self.tables.user_enrolments
        return select(ue.c.userid, ue.c.timestart).where(
            filter_start(ue), ue.c.timestart < bindparam("high")
        )

    def _starting_within(self) -> Select[Any]:
        """The learners ``first``..``last`` with an enrolment the filter takes starting inside
        ``(low, high)``: the only ones block_use_stats' enrolment filter can change there (a
        range's trail starts at the latest start before its end, when that is after its
        start)."""
        ue = self.tables.user_enrolments
        return (
            select(ue.c.userid)
            .where(
                filter_start(ue),
                ue.c.userid.between(bindparam("first"), bindparam("last")),
                ue.c.timestart > bindparam("low"),
                ue.c.timestart < bindparam("high"),
            )
            .distinct()
        )

    def _enrolment_starts(self, n: int) -> Select[Any]:
        return self._starts().where(self.tables.user_enrolments.c.userid.in_(id_list(n)))

    def _document(self, field: str, joined: bool = False) -> Select[Any]:
        """One learner's whole legacy document in one round trip: the user found by ``field``,
        and as JSON arrays (rows in the batch statements' column order) the active enrolments,
        the badges, the month's log rows and the enrolment starts.

        ``joined`` (MariaDB, not MySQL): the badges are joined instead, a row each after the
        arrays (the arrays repeated, computed once: MariaDB caches a correlated subquery's
        result per user). Aggregating the badges' text columns cost MariaDB a temporary table
        with BLOB fields on every call, a third of the statement (BENCHMARKS.md).
        """
        t = self.tables
        u = t.user
        b, bi = t.badge, t.badge_issued
        shown = or_(b.c.courseid.is_(None), bindparam("coursebadges", type_=Integer) == 1)
        badges = [] if joined else [(self._badge_rows().where(shown), bi.c.userid)]
        mine = [
            (self._enrolment_rows(True), t.user_enrolments.c.userid),
            *badges,
            (self._log(with_id=True), t.logstore_standard_log.c.userid),
            (self._starts(), t.user_enrolments.c.userid),
        ]
        arrays = []
        for query, owner in mine:
            rows = query.where(owner == u.c.id)
            # The aggregate replaces the columns; FROM and WHERE stay, correlated to the user.
            aggregated = rows.with_only_columns(
                json_rows(*rows.selected_columns), maintain_column_froms=True
            )
            arrays.append(aggregated.scalar_subquery().correlate(u))
        document = select(*user_columns(u), *arrays)
        if joined:
            issued = bi.join(b, and_(b.c.id == bi.c.badgeid, shown))
            document = document.add_columns(*self._badge_rows().selected_columns).select_from(
                u.outerjoin(issued, bi.c.userid == u.c.id)
            )
        return document.where(u.c.deleted == 0, lookup_condition(t, field)).order_by(u.c.id)


class json_rows(FunctionElement[str]):
    """Aggregate of rows as a JSON array of arrays: NULL or [] when there are none."""

    type = Text()
    inherit_cache = True
    name = "json_rows"


@compiles(json_rows, "postgresql")
def _json_rows_pg(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_agg(json_build_array({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows, "mysql")
def _json_rows_mysql(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"JSON_ARRAYAGG(JSON_ARRAY({compiler.process(element.clauses, **kw)}))"


@compiles(json_rows)
def _json_rows_sqlite(element: json_rows, compiler: Any, **kw: Any) -> str:
    return f"json_group_array(json_array({compiler.process(element.clauses, **kw)}))"


def lookup_condition(tables: MoodleTables, field: str) -> ColumnElement[bool]:
    """The database's half of a learner lookup (identity.py applies the exact rule after)."""
    u = tables.user
    if field == "id":
        return u.c.id == bindparam("v", type_=BigInteger)
    if field == "username":
        return and_(u.c.username == bindparam("v"), u.c.mnethostid == bindparam("mnet"))
    if field == "email":
        return func.lower(u.c.email) == bindparam("v")
    if field == "idnumber":
        return u.c.idnumber == bindparam("v")
    raise ValueError(f"no lookup statement for {field!r}")


LOOKUP_FIELDS = ("id", "username", "email", "idnumber")


@lru_cache(maxsize=8)
def statements(
    prefix: str,
    ignored_log_indexes: tuple[str, ...] = (),
    batch_ignored_log_indexes: tuple[str, ...] = (),
    log_by_learner: bool = False,
) -> Statements:
    return Statements(
        moodle_tables(prefix), ignored_log_indexes, batch_ignored_log_indexes, log_by_learner
    )


def index_hint(names: Sequence[str]) -> str:
    """MariaDB/MySQL's ``IGNORE INDEX`` for ``names``, each quoted as an identifier."""
    quoted = ", ".join("`" + name.replace("`", "``") + "`" for name in names)
    return f"IGNORE INDEX ({quoted})"


#: The log columns a trail reads: an index holding them all answers without the table.
TRAIL_COLUMNS = frozenset(
    {"userid", "timecreated", "id", "action", "target", "courseid", "origin", "realuserid"}
)


def lookup_indexes(indexes: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The log's indexes MariaDB must not use for BATCH_LEARNERS learners or more when the log
    does not fit in its buffer pool: those starting with ``userid`` that lack a column of
    :data:`TRAIL_COLUMNS` (Moodle's own), so that each row they find is one more page read
    from the table. Reading the month's range of the table in order was cheaper there: 500
    consecutive learners' month 8.3 -> 2.0 s on the demo with the stock 128 MB pool."""
    return tuple(
        sorted(
            name
            for name, columns in indexes.items()
            if columns
            and columns[0].lower() == "userid"
            and not {c.lower() for c in columns} >= TRAIL_COLUMNS
        )
    )


def userid_only_indexes(indexes: Mapping[str, Sequence[str]]) -> tuple[str, ...]:
    """The log's indexes MariaDB must not use for one learner's month (``indexes``: name ->
    columns in order): those on ``userid`` alone, when an index starting with ``userid`` also
    holds ``timecreated`` (Moodle's ``useconconcr``, or the recommended one).

    MariaDB picks Moodle's ``userid`` index for ``userid = ? AND timecreated BETWEEN ...``, then
    reads every row of the learner's whole log from the table to keep the month's; the wider
    index filters on ``timecreated`` first (index condition pushdown): one learner's month on
    the 10,000-learner demo with the stock 128 MB buffer pool 34-39 -> 11-13 ms (BENCHMARKS.md).
    """
    narrower = tuple(sorted(n for n, c in indexes.items() if [x.lower() for x in c] == ["userid"]))
    wider = any(
        c and c[0].lower() == "userid" and "timecreated" in (x.lower() for x in c)
        for c in indexes.values()
    )
    return narrower if wider else ()
