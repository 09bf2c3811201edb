"""The demo site's plan: what to build, and the courses and people the generator invents.

A ``Person`` also collects what the log says about them (logins, last access per course), so that
the user rows written after the log agree with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

Row = dict[str, Any]
DAY = 86400

GUEST_ID = 1
ADMIN_ID = 2
SYSTEM_CONTEXT_ID = 1
STUDENT_ROLE_ID = 5
TEACHER_ROLE_ID = 3
SERVICE_ID = 2


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
