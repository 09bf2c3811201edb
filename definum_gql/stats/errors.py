"""Failures a caller of the statistics can act on; each front door maps them to its own shape."""


class StatsError(Exception):
    """Base class: the message is safe to show to a client."""


class UnsupportedUserField(StatsError):
    """The identity field is not one of the six Moodle's plugin supports."""


class UserNotFound(StatsError):
    """No (non-deleted) user matches."""


class OidcUnavailable(UserNotFound):
    """The auth_oidc plugin's table is absent, so OIDC identities cannot match anyone."""


class MultipleUsersFound(StatsError):
    """More than one user matches; we never pick one."""


class InvalidMonth(StatsError):
    """A month is not written YYYY-MM or is out of range."""
