"""Identity lookup (contract section 3): the same rules on every database and collation."""

from __future__ import annotations

from dataclasses import replace

import pytest

from definum_gql.moodle.site import Moodle, table_exists
from definum_gql.stats.errors import (
    MultipleUsersFound,
    OidcUnavailable,
    UnsupportedUserField,
    UserNotFound,
)
from definum_gql.stats.identity import resolve_user
from tests.builders import Site


async def lookup(moodle: Moodle, field: str, value: str) -> int:
    async with moodle.request() as ctx:
        return (await resolve_user(ctx, field, value)).id


async def test_id_is_digits_only_after_trimming(site: Site, moodle: Moodle) -> None:
    bob = await site.user(username="bob")
    assert await lookup(moodle, "id", str(bob)) == bob
    assert await lookup(moodle, "id", f" {bob}\n") == bob
    for bad in (f"{bob}abc", f"{bob}.0", "", "-3", "99999999999999999999999"):
        with pytest.raises(UserNotFound):
            await lookup(moodle, "id", bad)


async def test_username_is_trimmed_and_lowercased_but_never_collation_matched(
    site: Site, moodle: Moodle
) -> None:
    bob = await site.user(username="bob")
    chloe = await site.user(username="chloé")
    assert await lookup(moodle, "username", "  BOB ") == bob
    assert await lookup(moodle, "username", "CHLOÉ") == chloe
    # MariaDB's utf8mb4_unicode_ci says 'chloe' = 'chloé' and 'bo' + 'b ' padding; we don't.
    with pytest.raises(UserNotFound):
        await lookup(moodle, "username", "chloe")
    with pytest.raises(UserNotFound):
        await lookup(moodle, "username", "bo")


async def test_username_only_matches_on_the_local_mnet_host(site: Site, moodle: Moodle) -> None:
    await site.user(username="remote", mnethostid=3)
    with pytest.raises(UserNotFound):
        await lookup(moodle, "username", "remote")


async def test_email_is_trimmed_and_case_insensitive_in_all_of_unicode(
    site: Site, moodle: Moodle
) -> None:
    jurgen = await site.user(email="JURGEN.MUELLER@Example.DE")
    chloe = await site.user(email="chloé@exemple.fr")
    assert await lookup(moodle, "email", " jurgen.mueller@example.de ") == jurgen
    assert await lookup(moodle, "email", "CHLOÉ@EXEMPLE.FR") == chloe
    with pytest.raises(UserNotFound):
        await lookup(moodle, "email", "chloe@exemple.fr")


async def test_idnumber_is_exact(site: Site, moodle: Moodle) -> None:
    user = await site.user(idnumber="ID-003")
    assert await lookup(moodle, "idnumber", "ID-003") == user
    for near in ("id-003", " ID-003", "ID-003 ", ""):
        with pytest.raises(UserNotFound):
            await lookup(moodle, "idnumber", near)


async def test_empty_values_never_match(site: Site, moodle: Moodle) -> None:
    await site.user(idnumber="", email="")
    for field in ("id", "username", "idnumber", "email", "oidcuniqueid", "oidcusername"):
        with pytest.raises(UserNotFound):
            await lookup(moodle, field, "")


async def test_deleted_users_are_never_found(site: Site, moodle: Moodle) -> None:
    dora = await site.user(username="dora", email="dora@example.com", deleted=1)
    with pytest.raises(UserNotFound):
        await lookup(moodle, "id", str(dora))
    with pytest.raises(UserNotFound):
        await lookup(moodle, "email", "dora@example.com")


async def test_several_matches_are_an_error_never_a_pick(site: Site, moodle: Moodle) -> None:
    await site.user(username="bob", email="bob.durand@example.com")
    await site.user(username="bob.clone", email="Bob.Durand@example.com")
    with pytest.raises(MultipleUsersFound):
        await lookup(moodle, "email", "bob.durand@example.com")


async def test_unknown_identity_field_is_refused(site: Site, moodle: Moodle) -> None:
    for field in ("ID", "lastname", "", "user_name"):
        with pytest.raises(UnsupportedUserField):
            await lookup(moodle, field, "x")


async def test_oidc_fields_match_auth_oidc_token_rows(site: Site, moodle: Moodle) -> None:
    one = await site.user(username="oidc.user1", auth="oidc")
    two = await site.user(username="o.two@tenant.example.com", auth="oidc")
    await site.oidc_token(
        userid=one,
        username="oidc.user1",
        oidcuniqid="7f3c-0008",
        oidcusername="o.one@tenant.onmicrosoft.com",
        scope="openid",
    )
    # userid 0: the row's username names the user.
    await site.oidc_token(
        userid=0,
        username="o.two@tenant.example.com",
        oidcuniqid="1e2d-0009",
        oidcusername="O.Two@tenant.onmicrosoft.com",
        scope="openid",
    )
    assert await lookup(moodle, "oidcuniqueid", "7f3c-0008") == one
    assert await lookup(moodle, "oidcusername", "o.one@tenant.onmicrosoft.com") == one
    assert await lookup(moodle, "oidcuniqueid", "1e2d-0009") == two
    assert await lookup(moodle, "oidcusername", "O.Two@tenant.onmicrosoft.com") == two
    with pytest.raises(UserNotFound):  # exact: case matters
        await lookup(moodle, "oidcusername", "o.two@tenant.onmicrosoft.com")
    with pytest.raises(UserNotFound):
        await lookup(moodle, "oidcuniqueid", "7F3C-0008")


async def test_without_the_auth_oidc_table_oidc_lookups_find_no_one(
    site: Site, moodle: Moodle
) -> None:
    async with moodle.request() as ctx:
        assert await table_exists(ctx.reader, "mdl_auth_oidc_token")
        assert not await table_exists(ctx.reader, "mdl_no_such_plugin_table")
        without = replace(ctx, site=replace(ctx.site, has_oidc=False))
        with pytest.raises(OidcUnavailable) as caught:
            await resolve_user(without, "oidcuniqueid", "7f3c-0008")
    assert isinstance(caught.value, UserNotFound)
