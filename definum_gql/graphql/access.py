"""What the token's owner may see through GraphQL, by Moodle's capabilities.

REST answers ``definum_get_stats`` for any learner to any token of the service, as the PHP plugin
does. GraphQL shows more, so the rest is shown by the owner's capabilities in the system context
(site admins have every one; the token check read them with the token):

- ``moodle/site:viewuseridentity``: ``User.username``, ``.idnumber``, ``.email``; finding a user by
  any field but ``ID``; ``users(filter: {search})`` matching e-mail addresses and usernames
  (without it the search looks at names only).
- ``moodle/user:viewdetails``: ``User.suspended``, ``.lastAccess``, ``.currentLogin``; the
  ``suspended`` and ``activeSince`` filters. Suspended users are listed like anyone else: which
  learners a list leaves out would tell who is suspended.
- ``moodle/course:viewhiddencourses``: hidden courses (``course.visible = 0``): left out of
  ``courses``, the ``visible: false`` filter and every ``course`` field that names one refused.

Every user's own fields are shown to them. A token of a self service (``self_services``) reads its
owner only: another user, a list, or a course's learner figures are refused. A refused field is
null with a ``FORBIDDEN`` error naming the capability; the rest of the answer stands.
"""

from __future__ import annotations

from dataclasses import dataclass

from definum_gql.auth import Caller
from definum_gql.graphql.errors import Forbidden
from definum_gql.moodle.queries import (
    VIEW_HIDDEN_COURSES,
    VIEW_USER_DETAILS,
    VIEW_USER_IDENTITY,
)

__all__ = ["VIEW_HIDDEN_COURSES", "VIEW_USER_DETAILS", "VIEW_USER_IDENTITY", "Viewer"]


@dataclass(frozen=True)
class Viewer:
    """Who reads: the token's owner, their capabilities, and whether the token reads only them.

    The default is the demo without authentication: nobody in particular, everything shown.
    """

    user_id: int | None = None
    #: The owner's capabilities; None shows everything (site admins, no authentication).
    capabilities: frozenset[str] | None = None
    #: The self service the token belongs to; None when it may read other users.
    self_service: str | None = None

    @classmethod
    def of(cls, caller: Caller) -> Viewer:
        return cls(
            user_id=caller.user_id,
            capabilities=None if caller.site_admin else caller.capabilities,
            self_service=caller.record.service_shortname if caller.self_only else None,
        )

    def can(self, capability: str) -> bool:
        return self.capabilities is None or capability in self.capabilities

    def require(self, capability: str, what: str) -> None:
        """Refuse ``what`` unless the owner has ``capability``."""
        if not self.can(capability):
            raise Forbidden(
                f"{what} needs the capability {capability}, which the token's owner does not have.",
                capability=capability,
            )

    def require_own(self, user_id: int, capability: str, what: str) -> None:
        """Refuse ``what`` of user ``user_id`` unless it is the owner's or ``capability`` allows."""
        if user_id != self.user_id:
            self.require(capability, what)

    def require_others(self, what: str) -> None:
        """Refuse ``what`` (other users, lists, course figures) to a self service's token."""
        if self.self_service is not None:
            raise Forbidden(
                f"A token of the {self.self_service} service reads its owner only "
                f"(use Query.me): {what} is refused.",
                service=self.self_service,
            )
