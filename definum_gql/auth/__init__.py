"""Moodle token checks shared by both front doors, and the caller's address."""

from definum_gql.auth.addresses import address_in_subnet, clean_address, client_address
from definum_gql.auth.tokens import (
    FUNCTION,
    Authenticator,
    Caller,
    Refusal,
    Refused,
    TokenRecord,
    web_services_enabled,
)

__all__ = [
    "FUNCTION",
    "Authenticator",
    "Caller",
    "Refusal",
    "Refused",
    "TokenRecord",
    "address_in_subnet",
    "clean_address",
    "client_address",
    "web_services_enabled",
]
