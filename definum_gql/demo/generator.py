"""Rows of a realistic demo Moodle site, made from a seed and a "now" (same inputs, same rows).

The small tables come out as dicts keyed by column name; the log comes out as tuples in
``LOG_COLUMNS`` order, one day at a time, so millions of rows never sit in memory together. User
rows are finished after the log, because their login and access times must agree with it.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

Row = dict[str, Any]
DAY = 86400

GUEST_ID = 1
ADMIN_ID = 2
SYSTEM_CONTEXT_ID = 1
STUDENT_ROLE_ID = 5
TEACHER_ROLE_ID = 3
SERVICE_ID = 2

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

CONFIG = {
    "timezone": "Europe/Paris",
    "forcetimezone": "99",
    "lang": "en",
    "badges_allowcoursebadges": "1",
    "enablebadges": "1",
    "mnet_localhost_id": "1",
    "siteadmins": str(ADMIN_ID),
    "siteguest": str(GUEST_ID),
    "enablewebservices": "1",
    "webserviceprotocols": "rest",
    "maintenance_enabled": "0",
    "defaultuserroleid": "7",
    "release": "4.1.10 (Build: 20240422)",
    "version": "2022112810.00",
}
USE_STATS = {"threshold": "60", "lastpingcredit": "15", "enrolmentfilter": "1"}
ROLES = (
    "manager",
    "coursecreator",
    "editingteacher",
    "teacher",
    "student",
    "guest",
    "user",
    "frontpage",
)
ISSUER = ("Université Définum", "https://definum.example.org/", "badges@definum.example.org")

FIRST_NAMES = (
    "Chloé", "Jürgen", "Zoë", "Amélie", "Łukasz", "José", "Noémie", "Søren", "Inès", "Björn",
    "Anaïs", "François", "Maëlle", "Ömer", "Hélène", "Thomas", "Sarah", "Lucas", "Emma", "Hugo",
    "Léa", "Nathan", "Camille", "Jules", "Manon", "Louis", "Alice", "Paul", "Sofia", "Adam",
    "花子", "太郎", "美咲", "Олег", "Αθηνά", "محمد",
)  # fmt: skip
LAST_NAMES = (
    "Müller", "Dubois", "Lefèvre", "Øvergård", "García", "Nguyễn", "Martin", "Bernard", "Petit",
    "Durand", "Moreau", "Laurent", "Simon", "Michel", "Leroy", "Roux", "David", "Bertrand",
    "O'Brien", "Kowalski", "Schäfer", "Fontaine", "Chevalier", "Rousseau", "Blanc", "Guérin",
    "山田", "佐藤", "漢字", "Иванов", "Παπαδόπουλος",
)  # fmt: skip
CATEGORIES = ("Sciences", "Langues & Lettres", "Formation continue")
COURSE_TOPICS = (
    ("MATH", "Mathématiques discrètes"),
    ("PHYS", "Physique générale"),
    ("CHEM", "Chimie organique"),
    ("HIST", "Histoire de l'Europe"),
    ("LANG", "Japonais — 日本語入門"),
    ("ECON", "Économie & gestion"),
    ("INFO", "Programmation Python"),
    ("BIOL", "Biologie cellulaire"),
    ("PHIL", "Philosophie: <i>éthique</i>"),
    ("SECU", "Sécurité informatique"),
    ("DATA", "Données et statistiques"),
    ("GERM", "Deutsch für Anfänger: Übungen"),
)
MODULES = ("page", "quiz", "assign", "forum", "resource", "url")


@dataclass(frozen=True)
class DemoSpec:
    """What to build: sizes, the seed and the moment the site is "now"."""

    users: int
    courses: int
    months: int
    seed: int
    now: int

    def __post_init__(self) -> None:
        if self.users < 10:
            raise ValueError("a demo site needs at least 10 users")
        if self.courses < 4:
            raise ValueError("a demo site needs at least 4 courses")
        if self.months < 1:
            raise ValueError("a demo site needs at least 1 month of activity")

    @property
    def start(self) -> int:
        """The first moment with activity: ``months`` average months before now."""
        return self.now - self.months * 2_629_800


@dataclass
class Course:
    id: int
    context_id: int
    completion: bool
    modules: list[tuple[int, int, str]]  # (cmid, context id, module name)
    enrol_ids: dict[str, int] = field(default_factory=dict)
    self_enabled: bool = True
    students: list[int] = field(default_factory=list)


@dataclass
class Enrolment:
    course: Course
    timestart: int
    timeend: int


@dataclass
class Person:
    """A generated user and, once the log is made, what the log says about them."""

    id: int
    row: Row
    kind: str  # "regular", "lapsed", "never", "deleted"
    teacher: bool
    active_chance: float
    active_from: int
    active_until: int
    ip: str
    enrolments: list[Enrolment] = field(default_factory=list)
    logins: list[int] = field(default_factory=list)
    first_access: int = 0
    last_access: int = 0
    course_access: dict[int, int] = field(default_factory=dict)

    def note_login(self, when: int) -> None:
        self.logins = [*self.logins[-1:], when]

    def note_access(self, when: int, course_id: int) -> None:
        if not self.first_access:
            self.first_access = when
        self.last_access = max(self.last_access, when)
        if course_id > 1:
            self.course_access[course_id] = max(self.course_access.get(course_id, 0), when)


_LETTERS = str.maketrans({"ł": "l", "Ł": "L", "ø": "o", "Ø": "O", "ß": "ss", "æ": "ae", "đ": "d"})
_TAG = re.compile(r"<[^>]*>")


def _ascii(text: str) -> str:
    """The ASCII letters of a name, as a username would carry them."""
    text = _TAG.sub("", text).translate(_LETTERS)
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(ch for ch in plain.lower() if ch.isalnum())


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
        self._cli_events: dict[int, list[tuple[Any, ...]]] = {}
        self.completions: list[Row] = []
        self.log_rows = 0

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
        site_context = self._context(contexts, 50, 1, "/1", 2)
        out["course"].append(
            _course_row(1, 0, 1, "Définum — démo", "definum", "site", 0, 1, installed, 0)
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
        del site_context

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
                _course_row(
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
            badges.append(_badge_row(len(badges) + 1, name, status, None, expiredate, installed))
        for course in self.courses:
            if course.completion:
                code = out["course"][course.id - 1]["shortname"]
                row = _badge_row(
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
        guest = _user_row(GUEST_ID, "guest", "Guest user", " ", "root@localhost", installed)
        guest["description"] = "This user is a special user that allows read-only access"
        admin = _user_row(ADMIN_ID, "admin", "Admin", "Définum", "admin@example.org", installed)
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
            name = f"{_ascii(first)}.{_ascii(last)}".strip(".")
            username = f"{name}{uid}" if len(name) > 1 and "." in name else f"user{uid}"
            created = spec.start - rng.randint(30, 700) * DAY
            if rng.random() < 0.05:
                created = spec.start + rng.randint(0, spec.months * 28) * DAY
            email = f"{username}@example.org" if uid % 17 else f"{username.title()}@Example.org"
            row = _user_row(uid, username, first, last, email, created)
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
                rows.append(_completion(len(rows) + 1, person.id, course.id, begun, done))
            if person.id % 15 == 4 and person.kind != "deleted":
                enrolled = {e.course.id for e in person.enrolments}
                left = [c for c in self.courses if c.completion and c.id not in enrolled]
                if left:
                    course = rng.choice(left)
                    begun = self.spec.start - 200 * DAY
                    rows.append(
                        _completion(len(rows) + 1, person.id, course.id, begun, begun + 90 * DAY)
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
        rng, now = self._people_rng, self.now
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

    # The log, day by day.

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

    @property
    def log_days(self) -> int:
        return (self.spec.now - 1) // DAY - self.spec.start // DAY + 1

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
        return rows

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
        if rng.random() < 0.35 and t + 60 < now:
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


def _course_row(
    course_id: int,
    category: int,
    sortorder: int,
    fullname: str,
    shortname: str,
    fmt: str,
    completion: int,
    visible: int,
    startdate: int,
    enddate: int,
) -> Row:
    return {
        "id": course_id,
        "category": category,
        "sortorder": sortorder,
        "fullname": fullname,
        "shortname": shortname,
        "idnumber": "" if fmt == "site" else shortname,
        "summary": "",
        "summaryformat": 1,
        "format": fmt,
        "startdate": startdate,
        "enddate": enddate,
        "visible": visible,
        "visibleold": visible,
        "enablecompletion": completion,
        "timecreated": startdate,
        "timemodified": startdate,
        "cacherev": startdate,
    }


def _user_row(uid: int, username: str, first: str, last: str, email: str, created: int) -> Row:
    return {
        "id": uid,
        "auth": "manual",
        "confirmed": 1,
        "deleted": 0,
        "suspended": 0,
        "mnethostid": 1,
        "username": username,
        "password": "$2y$10$demo.not.a.real.hash",
        "idnumber": "",
        "firstname": first,
        "lastname": last,
        "email": email,
        "lang": "en",
        "firstaccess": 0,
        "lastaccess": 0,
        "lastlogin": 0,
        "currentlogin": 0,
        "lastip": "",
        "description": None,
        "timecreated": created,
        "timemodified": created,
    }


def _badge_row(
    badge_id: int, name: str, status: int, course_id: int | None, expiredate: int | None, t: int
) -> Row:
    return {
        "id": badge_id,
        "name": name,
        "description": f"Badge « {name} »",
        "timecreated": t,
        "timemodified": t,
        "usercreated": ADMIN_ID,
        "usermodified": ADMIN_ID,
        "issuername": ISSUER[0],
        "issuerurl": ISSUER[1],
        "issuercontact": ISSUER[2],
        "expiredate": expiredate,
        "expireperiod": None,
        "type": 1 if course_id is None else 2,
        "courseid": course_id,
        "message": "Félicitations !",
        "messagesubject": "Vous avez obtenu un badge",
        "attachment": 1,
        "notification": 0,
        "status": status,
        "version": "1",
        "language": "fr",
    }


def _completion(row_id: int, uid: int, course_id: int, begun: int, done: int | None) -> Row:
    return {
        "id": row_id,
        "userid": uid,
        "course": course_id,
        "timeenrolled": begun,
        "timestarted": begun,
        "timecompleted": done,
        "reaggregate": 0,
    }
