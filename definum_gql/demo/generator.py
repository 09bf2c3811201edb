"""Rows of a realistic demo Moodle site, made from a seed and a "now" (same inputs, same rows).

The small tables come out as dicts keyed by column name, the log (``activity.py``) as tuples one
day at a time. User rows are finished after the log, because their login and access times must
agree with it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from zoneinfo import ZoneInfo

from definum_gql.demo.activity import Activity, LogRow
from definum_gql.demo.model import (
    ADMIN_ID,
    DAY,
    GUEST_ID,
    SERVICE_ID,
    STUDENT_ROLE_ID,
    SYSTEM_CONTEXT_ID,
    TEACHER_ROLE_ID,
    Course,
    DemoSpec,
    Enrolment,
    Person,
    Row,
)
from definum_gql.demo.rows import (
    CATEGORIES,
    CONFIG,
    COURSE_TOPICS,
    FIRST_NAMES,
    LAST_NAMES,
    MODULES,
    ROLES,
    USE_STATS,
    ascii_letters,
    badge_row,
    completion_row,
    course_row,
    user_row,
)


class DemoGenerator:
    """Generates one demo site. Call ``site()``, ``people()``, ``logs()``, then ``users()``."""

    def __init__(self, spec: DemoSpec) -> None:
        self.spec = spec
        self.now = spec.now
        self._site_rng = random.Random(f"site:{spec.seed}:{spec.now}")
        self._people_rng = random.Random(f"people:{spec.seed}:{spec.now}")
        self._log_rng = random.Random(f"logs:{spec.seed}:{spec.now}")
        self._next_context = 1
        self.courses: list[Course] = []
        self.persons: list[Person] = []
        self.tokens: dict[str, str] = {}
        self._cli_events: dict[int, list[LogRow]] = {}
        self.completions: list[Row] = []
        self._activity: Activity | None = None

    def _context(self, rows: list[Row], level: int, instance: int, path: str, depth: int) -> int:
        context_id = self._next_context
        self._next_context += 1
        rows.append(
            {
                "id": context_id,
                "contextlevel": level,
                "instanceid": instance,
                "path": f"{path}/{context_id}",
                "depth": depth,
                "locked": 0,
            }
        )
        return context_id

    # The installed site: configuration, roles, web services, categories, courses, badges.

    def site(self) -> dict[str, list[Row]]:
        rng = self._site_rng
        now = self.now
        installed = self.spec.start - 400 * DAY
        out: dict[str, list[Row]] = {name: [] for name in _SITE_TABLES}
        out["config"] = [
            {"id": i, "name": name, "value": value}
            for i, (name, value) in enumerate(CONFIG.items(), 1)
        ]
        plugins = [("block_use_stats", k, v) for k, v in USE_STATS.items()]
        plugins += [("block_use_stats", "version", "2023060503"), ("auth_oidc", "version", "1")]
        out["config_plugins"] = [
            {"id": i, "plugin": p, "name": n, "value": v} for i, (p, n, v) in enumerate(plugins, 1)
        ]
        out["role"] = [
            {
                "id": i,
                "name": "",
                "shortname": name,
                "description": "",
                "sortorder": i,
                "archetype": "" if name == "frontpage" else name,
            }
            for i, name in enumerate(ROLES, 1)
        ]
        out["role_capabilities"] = [
            {
                "id": 1,
                "contextid": SYSTEM_CONTEXT_ID,
                "roleid": 7,
                "capability": "webservice/rest:use",
                "permission": 1,
                "timemodified": installed,
                "modifierid": ADMIN_ID,
            }
        ]
        out["external_services"] = [
            {
                "id": 1,
                "name": "Moodle mobile web service",
                "enabled": 0,
                "requiredcapability": "",
                "restrictedusers": 0,
                "component": "moodle",
                "timecreated": installed,
                "timemodified": installed,
                "shortname": "moodle_mobile_app",
                "downloadfiles": 1,
                "uploadfiles": 1,
            },
            {
                "id": SERVICE_ID,
                "name": "definum",
                "enabled": 1,
                "requiredcapability": None,
                "restrictedusers": 0,
                "component": "local_definum",
                "timecreated": installed,
                "timemodified": None,
                "shortname": "definum",
                "downloadfiles": 0,
                "uploadfiles": 0,
            },
        ]
        functions = [
            ("core_webservice_get_site_info", "core_webservice_external", "get_site_info", "core"),
            ("core_course_get_courses", "core_course_external", "get_courses", "core"),
            ("definum_get_stats", "local_definum_external", "get_stats", "local_definum"),
        ]
        out["external_functions"] = [
            {
                "id": i,
                "name": name,
                "classname": cls,
                "methodname": method,
                "classpath": None,
                "component": component,
                "capabilities": "",
                "services": None,
            }
            for i, (name, cls, method, component) in enumerate(functions, 1)
        ]
        out["external_services_functions"] = [
            {"id": 1, "externalserviceid": 1, "functionname": "core_webservice_get_site_info"},
            {"id": 2, "externalserviceid": SERVICE_ID, "functionname": "definum_get_stats"},
        ]

        contexts = out["context"]
        self._context(contexts, 10, 0, "", 1)
        self._context(contexts, 50, 1, "/1", 2)  # the site course's context
        out["course"].append(
            course_row(1, 0, 1, "Définum — démo", "definum", "site", 0, 1, installed, 0)
        )
        category_contexts = []
        for i, name in enumerate(CATEGORIES, 1):
            out["course_categories"].append(
                {
                    "id": i,
                    "name": name,
                    "idnumber": f"CAT{i}",
                    "description": "",
                    "descriptionformat": 1,
                    "parent": 0,
                    "sortorder": i * 10000,
                    "coursecount": 0,
                    "visible": 1,
                    "visibleold": 1,
                    "timemodified": installed,
                    "depth": 1,
                    "path": f"/{i}",
                    "theme": None,
                }
            )
            category_contexts.append(self._context(contexts, 40, i, "/1", 2))

        enrols = out["enrol"]
        cmid = 0
        for n in range(self.spec.courses):
            course_id = n + 2
            category = n % len(CATEGORIES) + 1
            out["course_categories"][category - 1]["coursecount"] += 1
            code, title = COURSE_TOPICS[n % len(COURSE_TOPICS)]
            level = 101 + 100 * (n // len(COURSE_TOPICS)) + n % 3
            completion = n % 3 != 2
            visible = 0 if n % 5 == 4 else 1
            started = self.spec.start - rng.randint(20, 200) * DAY
            ended = started + 365 * DAY if n % 4 == 3 else 0
            out["course"].append(
                course_row(
                    course_id,
                    category,
                    n + 1,
                    title if n < len(COURSE_TOPICS) else f"{title} ({level})",
                    f"{code}{level}",
                    "topics",
                    int(completion),
                    visible,
                    started,
                    ended,
                )
            )
            cat_path = f"/1/{category_contexts[category - 1]}"
            context_id = self._context(contexts, 50, course_id, cat_path, 3)
            modules = []
            for m in range(rng.randint(4, 8)):
                cmid += 1
                module = MODULES[(n + m) % len(MODULES)]
                path = f"{cat_path}/{context_id}"
                modules.append((cmid, self._context(contexts, 70, cmid, path, 4), module))
            course = Course(course_id, context_id, completion, modules)
            course.self_enabled = n % 3 != 1
            for sortorder, (method, status) in enumerate(
                (("manual", 0), ("guest", 1), ("self", 0 if course.self_enabled else 1))
            ):
                enrol_id = len(enrols) + 1
                enrols.append(
                    {
                        "id": enrol_id,
                        "enrol": method,
                        "status": status,
                        "courseid": course_id,
                        "sortorder": sortorder,
                        "enrolperiod": 0,
                        "enrolstartdate": 0,
                        "enrolenddate": 0,
                        "expirythreshold": 86400,
                        "roleid": STUDENT_ROLE_ID if method != "guest" else 0,
                        "timecreated": started,
                        "timemodified": started,
                    }
                )
                course.enrol_ids[method] = enrol_id
            self.courses.append(course)

        badges = out["badge"]
        site_badges = [
            ("Participation ✓ 参加", 1, None),
            ("Pionnier·ère du numérique", 3, None),
            ("Sécurité 2025 (expiré)", 1, now - 30 * DAY),
            ("Ancien badge (archivé)", 4, None),
        ]
        for name, status, expiredate in site_badges:
            badges.append(badge_row(len(badges) + 1, name, status, None, expiredate, installed))
        for course in self.courses:
            if course.completion:
                code = out["course"][course.id - 1]["shortname"]
                row = badge_row(
                    len(badges) + 1, f"Certificat {code}", 1, course.id, None, installed
                )
                if len(badges) % 2:
                    row["issuercontact"] = None
                badges.append(row)
        return out

    # People: users, enrolments, role assignments, completions, badges issued, oidc, tokens.

    def people(self) -> dict[str, list[Row]]:
        rng = self._people_rng
        spec, now = self.spec, self.now
        out: dict[str, list[Row]] = {name: [] for name in _PEOPLE_TABLES}
        installed = spec.start - 400 * DAY
        guest = user_row(GUEST_ID, "guest", "Guest user", " ", "root@localhost", installed)
        guest["description"] = "This user is a special user that allows read-only access"
        admin = user_row(ADMIN_ID, "admin", "Admin", "Définum", "admin@example.org", installed)
        self.persons.append(Person(GUEST_ID, guest, "never", False, 0.0, 0, 0, ""))
        self.persons.append(
            Person(ADMIN_ID, admin, "regular", True, 0.5, spec.start, now, "198.51.100.2")
        )
        fixed_names = {
            3: ("Chloé", "Müller"),
            4: ("太郎", "山田"),
            5: ("Jean", "Smith & <b>Sons</b>"),
        }
        teachers = {12 + i * 40 for i in range(max(1, spec.users // 40))}
        for n in range(spec.users):
            uid = n + 3
            first, last = fixed_names.get(uid) or (
                rng.choice(FIRST_NAMES),
                rng.choice(LAST_NAMES),
            )
            name = f"{ascii_letters(first)}.{ascii_letters(last)}".strip(".")
            username = f"{name}{uid}" if len(name) > 1 and "." in name else f"user{uid}"
            created = spec.start - rng.randint(30, 700) * DAY
            if rng.random() < 0.05:
                created = spec.start + rng.randint(0, spec.months * 28) * DAY
            email = f"{username}@example.org" if uid % 17 else f"{username.title()}@Example.org"
            row = user_row(uid, username, first, last, email, created)
            row["idnumber"] = f"E{uid:06d}" if uid % 9 else ""
            row["lang"] = "fr" if uid % 3 == 0 else "en"
            kind = "regular"
            active_from, active_until = max(spec.start, created), now
            if uid == 7:
                kind = "deleted"
                row.update(
                    deleted=1,
                    username=f"{email}.{now - 40 * DAY}",
                    email=f"{rng.getrandbits(128):032x}",
                    idnumber="",
                    picture=0,
                )
            elif uid == 8 or rng.random() < 0.04:
                kind = "never"
            elif uid == 9 or rng.random() < 0.06:
                kind = "lapsed"
                active_until = spec.start + (spec.now - spec.start) // 3
            if uid == 10:
                row["suspended"] = 1
                kind = "lapsed"
                active_until = spec.start + (spec.now - spec.start) // 2
            if uid % 20 == 11:
                row["auth"] = "oidc"
                row["password"] = "not cached"
            octet = uid % 250 + 1
            ip = f"203.0.113.{octet}" if uid % 2 else f"198.51.100.{octet}"
            chance = rng.uniform(0.15, 0.7)
            self.persons.append(
                Person(uid, row, kind, uid in teachers, chance, active_from, active_until, ip)
            )

        course_weights = [1.0 / (i + 1) ** 0.5 for i in range(len(self.courses))]
        for person in self.persons[2:]:
            if person.kind in ("deleted",):
                continue
            if person.teacher:
                picks = rng.sample(self.courses, min(len(self.courses), rng.randint(2, 4)))
            else:
                picks = _weighted_sample(rng, self.courses, course_weights, rng.randint(1, 5))
            for i, course in enumerate(picks):
                self._enrol(out, person, course, i)
        self._completions(out)
        self._badges(out)
        self._oidc(out)
        self._tokens(out)
        self._contexts_for_users(out)
        self._cli_completion_events(out)
        return out

    def _enrol(self, out: dict[str, list[Row]], person: Person, course: Course, i: int) -> None:
        rng, now = self._people_rng, self.now
        uid = person.id
        method = "self" if not person.teacher and rng.random() < 0.2 else "manual"
        status, timeend = 0, 0
        base = max(person.row["timecreated"], self.spec.start - 120 * DAY)
        timestart = base + rng.randint(0, 20) * DAY
        roll = rng.random()
        # Users 3-6 each carry one of the rarer cases, so that even a tiny site has them all.
        forced = {(3, 0): "suspended", (4, 0): "ended", (5, 0): "future", (6, 1): "disabled"}
        case = forced.get((uid, i))
        if case == "disabled":
            method = "self"
            course = next((c for c in self.courses if not c.self_enabled), course)
        elif case is None and not person.teacher:
            case = (
                "suspended"
                if roll < 0.05
                else "ended"
                if roll < 0.10
                else "future"
                if roll < 0.13
                else "active"
            )
        if any(e.course is course for e in person.enrolments):
            return
        if case == "suspended":
            status = 1
        elif case == "ended":
            timeend = now - rng.randint(1, 40) * DAY
            timestart = min(timestart, timeend - 60 * DAY)
        elif case == "future":
            timestart = now + rng.randint(1, 30) * DAY
        elif rng.random() < 0.05:
            timeend = now + rng.randint(30, 200) * DAY
        out["user_enrolments"].append(
            {
                "id": len(out["user_enrolments"]) + 1,
                "status": status,
                "enrolid": course.enrol_ids[method],
                "userid": uid,
                "timestart": timestart,
                "timeend": timeend,
                "modifierid": ADMIN_ID if method == "manual" else uid,
                "timecreated": timestart,
                "timemodified": timestart,
            }
        )
        role = TEACHER_ROLE_ID if person.teacher else STUDENT_ROLE_ID
        out["role_assignments"].append(
            {
                "id": len(out["role_assignments"]) + 1,
                "roleid": role,
                "contextid": course.context_id,
                "userid": uid,
                "timemodified": timestart,
                "modifierid": ADMIN_ID,
                "component": "",
                "itemid": 0,
                "sortorder": 0,
            }
        )
        if status == 0 and (method == "manual" or course.self_enabled):
            person.enrolments.append(Enrolment(course, timestart, timeend))
            if not person.teacher:
                course.students.append(uid)
        elif not person.teacher:
            # Kept so that completions can be generated for inactive enrolments too.
            person.enrolments.append(Enrolment(course, timestart, -1))

    def _completions(self, out: dict[str, list[Row]]) -> None:
        rng, now = self._people_rng, self.now
        rows = out["course_completions"]
        for person in self.persons[2:]:
            if person.teacher:
                continue
            for enrolment in person.enrolments:
                course = enrolment.course
                if not course.completion or enrolment.timestart > now:
                    continue
                begun = enrolment.timestart
                done: int | None = None
                if rng.random() < 0.35 or person.id == 3:
                    done = (
                        rng.randint(begun + 7 * DAY, now - 3600) if begun + 7 * DAY < now else None
                    )
                rows.append(completion_row(len(rows) + 1, person.id, course.id, begun, done))
            if person.id % 15 == 4 and person.kind != "deleted":
                enrolled = {e.course.id for e in person.enrolments}
                left = [c for c in self.courses if c.completion and c.id not in enrolled]
                if left:
                    course = rng.choice(left)
                    begun = self.spec.start - 200 * DAY
                    rows.append(
                        completion_row(len(rows) + 1, person.id, course.id, begun, begun + 90 * DAY)
                    )
        self.completions = rows

    def _badges(self, out: dict[str, list[Row]]) -> None:
        rng, now = self._people_rng, self.now
        rows = out["badge_issued"]

        def issue(badge_id: int, uid: int, when: int, expire: int | None) -> None:
            rows.append(
                {
                    "id": len(rows) + 1,
                    "badgeid": badge_id,
                    "userid": uid,
                    "uniquehash": f"{rng.getrandbits(160):040x}",
                    "dateissued": when,
                    "dateexpire": expire,
                    "visible": 1,
                    "issuernotified": None,
                }
            )

        course_badges = {}
        badge_id = 5
        for course in self.courses:
            if course.completion:
                course_badges[course.id] = badge_id
                badge_id += 1
        for completion in self.completions:
            done = completion["timecompleted"]
            badge = course_badges.get(completion["course"])
            if done and badge:
                issue(badge, completion["userid"], done + 300, None)
        expired_at = now - 30 * DAY
        for person in self.persons[2:]:
            if person.kind == "deleted":
                continue
            uid = person.id
            if uid == 3 or rng.random() < 0.25:
                issue(1, uid, rng.randint(self.spec.start - 60 * DAY, now - DAY), None)
            if rng.random() < 0.08:
                issue(2, uid, rng.randint(self.spec.start - 60 * DAY, now - DAY), None)
            if uid == 3 or rng.random() < 0.05:
                issue(3, uid, expired_at - rng.randint(100, 300) * DAY, expired_at)
            if uid == 4 or rng.random() < 0.03:
                issue(4, uid, self.spec.start - rng.randint(300, 390) * DAY, None)

    def _oidc(self, out: dict[str, list[Row]]) -> None:
        rng, now = self._people_rng, self.now
        rows = out["auth_oidc_token"]
        for person in self.persons:
            if person.row["auth"] != "oidc" or person.kind == "deleted":
                continue
            uid = person.id
            guid = f"{rng.getrandbits(128):032x}"
            guid = f"{guid[:8]}-{guid[8:12]}-{guid[12:16]}-{guid[16:20]}-{guid[20:]}"
            local = person.row["username"].rsplit("@", 1)[0]
            rows.append(
                {
                    "id": len(rows) + 1,
                    "oidcuniqid": guid,
                    "username": person.row["username"],
                    # Moodle leaves userid 0 until the first login links the account.
                    "userid": 0 if len(rows) == 1 else uid,
                    "oidcusername": f"{local}@tenant.onmicrosoft.com",
                    "scope": "openid profile email",
                    "tokenresource": "https://graph.microsoft.com",
                    "authcode": f"authcode-{uid}",
                    "token": f"{rng.getrandbits(256):064x}",
                    "expiry": now + 30 * DAY,
                    "refreshtoken": f"refresh-{uid}",
                    "idtoken": f"idtoken-{uid}",
                    "sid": None,
                }
            )

    def _tokens(self, out: dict[str, list[Row]]) -> None:
        # From the seed alone: a demo rebuilt with the same seed at another "now" (serve --demo
        # refreshes it daily) keeps the tokens people pasted into GraphiQL or scripts.
        rng, now = random.Random(f"tokens:{self.spec.seed}"), self.now
        suspended = next(p.id for p in self.persons if p.row["suspended"])
        specs = (
            ("valid", ADMIN_ID, None, 0),
            ("expired", ADMIN_ID, None, now - 7 * DAY),
            ("iprestricted", ADMIN_ID, "10.0.0.0/8", 0),
            ("suspended_owner", suspended, None, 0),
        )
        for label, owner, restriction, validuntil in specs:
            token = f"{rng.getrandbits(128):032x}"
            self.tokens[label] = token
            out["external_tokens"].append(
                {
                    "id": len(out["external_tokens"]) + 1,
                    "token": token,
                    "privatetoken": f"{rng.getrandbits(256):064x}",
                    "tokentype": 0,
                    "userid": owner,
                    "externalserviceid": SERVICE_ID,
                    "sid": None,
                    "contextid": SYSTEM_CONTEXT_ID,
                    "creatorid": ADMIN_ID,
                    "iprestriction": restriction,
                    "validuntil": validuntil,
                    "timecreated": now - 60 * DAY,
                    "lastaccess": None,
                }
            )

    def _contexts_for_users(self, out: dict[str, list[Row]]) -> None:
        for person in self.persons:
            if not person.row["deleted"]:
                person.row["_context"] = self._context(out["context"], 30, person.id, "/1", 2)

    def _cli_completion_events(self, out: dict[str, list[Row]]) -> None:
        """Cron marks courses complete: log rows with origin 'cli' at the completion time."""
        by_id = {c.id: c for c in self.courses}
        for row in out["course_completions"]:
            done = row["timecompleted"]
            if done and self.spec.start <= done < self.now:
                course = by_id[row["course"]]
                event = (
                    "\\core\\event\\course_completed", "core", "completed", "course",
                    "course_completions", row["id"], "u", 2, course.context_id, 50, course.id,
                    row["userid"], course.id, row["userid"], 0, '{"relateduserid":null}', done,
                    "cli", None, None,
                )  # fmt: skip
                self._cli_events.setdefault(done // DAY, []).append(event)

    def logs(self) -> Iterator[list[LogRow]]:
        """Yields each day's log rows (with ids), ordered by time."""
        self._activity = Activity(
            self.spec, self.persons, self._cli_events, self._log_rng, ZoneInfo(CONFIG["timezone"])
        )
        yield from self._activity.logs()

    @property
    def log_rows(self) -> int:
        return self._activity.log_rows if self._activity else 0

    @property
    def log_days(self) -> int:
        return (self.spec.now - 1) // DAY - self.spec.start // DAY + 1

    # After the log: the user rows and user_lastaccess agree with it.

    def users(self) -> list[Row]:
        rows = []
        for person in self.persons:
            row = dict(person.row)
            row.pop("_context", None)
            if person.logins:
                row["currentlogin"] = person.logins[-1]
                row["lastlogin"] = person.logins[-2] if len(person.logins) > 1 else 0
                row["lastaccess"] = person.last_access
                old = row["timecreated"] < self.spec.start
                row["firstaccess"] = row["timecreated"] + 3600 if old else person.first_access
                row["lastip"] = person.ip
            rows.append(row)
        return rows

    def user_lastaccess(self) -> list[Row]:
        rows: list[Row] = []
        for person in self.persons:
            for course_id, when in sorted(person.course_access.items()):
                rows.append(
                    {
                        "id": len(rows) + 1,
                        "userid": person.id,
                        "courseid": course_id,
                        "timeaccess": when,
                    }
                )
        return rows


_SITE_TABLES = (
    "config",
    "config_plugins",
    "role",
    "role_capabilities",
    "external_services",
    "external_functions",
    "external_services_functions",
    "context",
    "course",
    "course_categories",
    "enrol",
    "badge",
)
_PEOPLE_TABLES = (
    "context",
    "user_enrolments",
    "role_assignments",
    "course_completions",
    "badge_issued",
    "auth_oidc_token",
    "external_tokens",
)


def _weighted_sample(
    rng: random.Random, items: list[Course], weights: list[float], k: int
) -> list[Course]:
    pool, w = list(items), list(weights)
    picked: list[Course] = []
    for _ in range(min(k, len(pool))):
        i = rng.choices(range(len(pool)), weights=w)[0]
        picked.append(pool.pop(i))
        w.pop(i)
    return picked
