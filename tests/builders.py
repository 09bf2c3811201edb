"""Build small Moodle sites row by row, for tests whose expected values are worked out by hand.

Every site starts as Moodle's installer leaves it: the site course (id 1), the guest (id 1) and
admin (id 2) users, the system context (id 1), the student (5) and user (7) roles and the config
rows the statistics read. Ids are given by the database, in insertion order.
"""

from __future__ import annotations

import itertools
import time
from typing import Any

from sqlalchemy import Table, func, insert, select, text, update

from definum_gql.demo.rows import USE_STATS
from tests.databases import TestDatabase

NOW = 1795628523  # 2026-11-25T17:42:03Z, the contract's frozen "now"

_serial = itertools.count(1)


def settled_clock() -> int:
    """A "now" for a demo served on the real clock, set back past block_use_stats' last ping
    credit: a learner's last lap runs to now up to the credit, so without it the current month's
    time spent grows by seconds between two requests about the same learner."""
    return int(time.time()) - int(USE_STATS["lastpingcredit"]) * 60 - 120


BASE_CONFIG = {
    "mnet_localhost_id": "1",
    "siteguest": "1",
    "siteadmins": "2",
    "timezone": "Europe/Paris",
    "forcetimezone": "99",
    "lang": "en",
    "badges_allowcoursebadges": "1",
    "enablebadges": "1",
    "enablewebservices": "1",
    "webserviceprotocols": "rest",
    "maintenance_enabled": "0",
    "defaultuserroleid": "7",
}


class Site:
    """Writes rows into a test database; returns new ids."""

    def __init__(self, db: TestDatabase) -> None:
        self.db = db
        self.t = db.tables
        self._dirty: set[str] = set()
        self._enrol_instances: dict[tuple[int, str], int] = {}

    async def reset(self) -> None:
        """Empty every table and lay down a freshly installed site."""
        names = [table.name for table in self.t.metadata.sorted_tables]
        async with self.db.writer.begin() as conn:
            if self.db.backend == "postgresql":
                await conn.execute(text(f"TRUNCATE {', '.join(names)} RESTART IDENTITY"))
            elif self.db.backend == "mariadb":
                for name in names:
                    await conn.execute(text(f"TRUNCATE TABLE {name}"))
            else:
                for name in names:
                    await conn.execute(text(f"DELETE FROM {name}"))
        self._enrol_instances.clear()
        await self.insert(
            self.t.course,
            category=0,
            sortorder=1,
            fullname="Definum Site",
            shortname="site",
            format="site",
            summary="",
            enablecompletion=0,
        )
        await self.insert(self.t.context, contextlevel=10, instanceid=0, path="/1", depth=1)
        await self.user(username="guest", firstname="Guest user", lastname=" ")
        await self.user(username="admin", firstname="Admin", lastname="User")
        await self.insert(
            self.t.role,
            name="",
            shortname="manager",
            description="",
            sortorder=1,
            archetype="manager",
        )
        for n in range(2, 8):
            archetype = {5: "student", 7: "user"}.get(n, f"role{n}")
            await self.insert(
                self.t.role,
                name="",
                shortname=archetype,
                description="",
                sortorder=n,
                archetype=archetype,
            )
        await self.config(**BASE_CONFIG)

    async def insert(self, table: Table, **values: Any) -> int:
        async with self.db.writer.begin() as conn:
            result = await conn.execute(insert(table).values(**values))
            key = result.inserted_primary_key
        self._dirty.add(table.name)
        return int(key[0]) if key and key[0] is not None else 0

    async def set(self, table: Table, row_id: int, **values: Any) -> None:
        async with self.db.writer.begin() as conn:
            await conn.execute(update(table).where(table.c.id == row_id).values(**values))

    async def config(self, **values: str) -> None:
        """Set ``config`` rows (insert or replace)."""
        async with self.db.writer.begin() as conn:
            for name, value in values.items():
                await conn.execute(self.t.config.delete().where(self.t.config.c.name == name))
                await conn.execute(insert(self.t.config).values(name=name, value=value))

    async def plugin_config(self, plugin: str, **values: str) -> None:
        cp = self.t.config_plugins
        async with self.db.writer.begin() as conn:
            for name, value in values.items():
                await conn.execute(cp.delete().where((cp.c.plugin == plugin) & (cp.c.name == name)))
                await conn.execute(insert(cp).values(plugin=plugin, name=name, value=value))

    async def user(self, **values: Any) -> int:
        n = next(_serial)
        row: dict[str, Any] = {
            "auth": "manual",
            "confirmed": 1,
            "mnethostid": 1,
            "username": f"user{n}",
            "firstname": f"First{n}",
            "lastname": f"Last{n}",
            "email": f"user{n}@example.com",
            "password": "",
            "idnumber": "",
            "timecreated": NOW - 86400 * 60,
        }
        row.update(values)
        return await self.insert(self.t.user, **row)

    async def course(self, **values: Any) -> int:
        n = next(_serial)
        row: dict[str, Any] = {
            "category": 1,
            "fullname": f"Course {n}",
            "shortname": f"C{n}",
            "summary": "",
            "format": "topics",
            "enablecompletion": 1,
            "visible": 1,
            "startdate": NOW - 86400 * 90,
        }
        row.update(values)
        course_id = await self.insert(self.t.course, **row)
        await self.insert(self.t.context, contextlevel=50, instanceid=course_id, path="", depth=3)
        return course_id

    async def enrol_instance(self, course_id: int, method: str = "manual", status: int = 0) -> int:
        key = (course_id, method)
        if key not in self._enrol_instances:
            self._enrol_instances[key] = await self.insert(
                self.t.enrol,
                enrol=method,
                status=status,
                courseid=course_id,
                roleid=5,
                sortorder=len(self._enrol_instances),
            )
        return self._enrol_instances[key]

    async def enrol(
        self,
        user_id: int,
        course_id: int,
        *,
        method: str = "manual",
        status: int = 0,
        timestart: int = 0,
        timeend: int = 0,
        instance_status: int = 0,
    ) -> int:
        enrol_id = await self.enrol_instance(course_id, method, instance_status)
        return await self.insert(
            self.t.user_enrolments,
            status=status,
            enrolid=enrol_id,
            userid=user_id,
            timestart=timestart,
            timeend=timeend,
            modifierid=2,
            timecreated=NOW - 86400 * 30,
            timemodified=NOW - 86400 * 30,
        )

    async def completion(
        self, user_id: int, course_id: int, timecompleted: int | None, **values: Any
    ) -> int:
        return await self.insert(
            self.t.course_completions,
            userid=user_id,
            course=course_id,
            timecompleted=timecompleted,
            timeenrolled=values.pop("timeenrolled", 0),
            timestarted=values.pop("timestarted", 0),
            reaggregate=0,
            **values,
        )

    async def badge(self, **values: Any) -> int:
        n = next(_serial)
        row: dict[str, Any] = {
            "name": f"Badge {n}",
            "description": "",
            "timecreated": NOW - 86400 * 100,
            "timemodified": NOW - 86400 * 100,
            "usercreated": 2,
            "usermodified": 2,
            "issuername": "Definum",
            "issuerurl": "https://definum.example.org/",
            "issuercontact": "badges@example.org",
            "type": 1,
            "courseid": None,
            "messagesubject": "",
            "message": "",
            "attachment": 1,
            "notification": 0,
            "status": 1,
        }
        row.update(values)
        return await self.insert(self.t.badge, **row)

    async def issue(
        self, badge_id: int, user_id: int, dateissued: int, dateexpire: int | None = None
    ) -> int:
        return await self.insert(
            self.t.badge_issued,
            badgeid=badge_id,
            userid=user_id,
            dateissued=dateissued,
            dateexpire=dateexpire,
            uniquehash=f"h{next(_serial)}",
            visible=1,
        )

    async def log(self, user_id: int, timecreated: int, **values: Any) -> int:
        row: dict[str, Any] = {
            "eventname": "\\core\\event\\course_viewed",
            "component": "core",
            "action": "viewed",
            "target": "course",
            "crud": "r",
            "edulevel": 2,
            "contextid": 1,
            "contextlevel": 50,
            "contextinstanceid": 0,
            "userid": user_id,
            "courseid": 0,
            "anonymous": 0,
            "timecreated": timecreated,
            "origin": "web",
            "ip": "192.0.2.1",
            "realuserid": None,
        }
        row.update(values)
        return await self.insert(self.t.logstore_standard_log, **row)

    async def login(self, user_id: int, timecreated: int, **values: Any) -> int:
        return await self.log(
            user_id,
            timecreated,
            eventname="\\core\\event\\user_loggedin",
            component="core",
            action="loggedin",
            target="user",
            contextlevel=10,
            courseid=0,
            **values,
        )

    async def index(
        self, name: str, columns: str, table: str = "mdl_logstore_standard_log"
    ) -> None:
        """Create an index (the test database's tables outlive the test: drop it after)."""
        async with self.db.writer.begin() as conn:
            await conn.execute(text(f"CREATE INDEX {name} ON {table} ({columns})"))

    async def drop_index(self, name: str, table: str = "mdl_logstore_standard_log") -> None:
        on = f" ON {table}" if self.db.backend == "mariadb" else ""
        async with self.db.writer.begin() as conn:
            await conn.execute(text(f"DROP INDEX {name}{on}"))

    async def count(self, table: Table) -> int:
        async with self.db.writer.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())

    async def service(
        self,
        shortname: str = "definum",
        *,
        enabled: int = 1,
        restrictedusers: int = 0,
        functions: tuple[str, ...] = ("definum_get_stats",),
    ) -> int:
        """An external service holding ``functions`` (registered in external_functions once)."""
        service_id = await self.insert(
            self.t.external_services,
            name=shortname.title(),
            enabled=enabled,
            requiredcapability="",
            restrictedusers=restrictedusers,
            component="local_definum",
            timecreated=NOW - 86400,
            timemodified=NOW - 86400,
            shortname=shortname,
            downloadfiles=0,
            uploadfiles=0,
        )
        ef = self.t.external_functions
        for name in functions:
            async with self.db.writer.connect() as conn:
                known = (await conn.execute(select(ef.c.id).where(ef.c.name == name))).first()
            if known is None:
                await self.insert(
                    ef,
                    name=name,
                    classname="local_definum_external",
                    methodname=name,
                    classpath="",
                    component="local_definum",
                    capabilities="",
                )
            await self.insert(
                self.t.external_services_functions,
                externalserviceid=service_id,
                functionname=name,
            )
        return service_id

    async def oidc_token(
        self, *, userid: int, username: str, oidcuniqid: str, oidcusername: str, scope: str = ""
    ) -> int:
        """An auth_oidc token row: what the oidcuniqueid and oidcusername lookups read
        (``userid`` 0: the row's ``username`` names the user)."""
        return await self.insert(
            self.t.auth_oidc_token,
            oidcuniqid=oidcuniqid,
            username=username,
            userid=userid,
            oidcusername=oidcusername,
            scope=scope,
            tokenresource="",
            authcode="",
            token="",
            expiry=0,
            refreshtoken="",
            idtoken="",
        )

    async def token(
        self,
        user_id: int,
        service_id: int,
        *,
        token: str | None = None,
        validuntil: int = 0,
        iprestriction: str | None = None,
        tokentype: int = 0,
    ) -> str:
        value = token or f"{next(_serial):032x}"
        await self.insert(
            self.t.external_tokens,
            token=value,
            privatetoken=None,
            tokentype=tokentype,
            userid=user_id,
            externalserviceid=service_id,
            contextid=1,
            creatorid=2,
            iprestriction=iprestriction,
            validuntil=validuntil,
            timecreated=NOW - 86400,
        )
        return value

    async def allow(
        self, role_id: int, capability: str = "webservice/rest:use", permission: int = 1
    ) -> None:
        """A role_capabilities row in the system context."""
        await self.insert(
            self.t.role_capabilities,
            contextid=1,
            roleid=role_id,
            capability=capability,
            permission=permission,
            timemodified=NOW - 86400,
            modifierid=2,
        )

    async def assign(self, user_id: int, role_id: int, context_id: int = 1) -> int:
        return await self.insert(
            self.t.role_assignments,
            roleid=role_id,
            contextid=context_id,
            userid=user_id,
            timemodified=NOW - 86400,
            modifierid=2,
            component="",
            itemid=0,
            sortorder=0,
        )
