"""The data layer: read-only by construction, site configuration, on every database."""

from __future__ import annotations

import pytest
from sqlalchemy import insert, text

from definum_gql.moodle.engine import ReadOnlyViolation
from definum_gql.moodle.site import Moodle
from tests.builders import BASE_CONFIG, Site


async def test_reader_refuses_to_send_a_write(site: Site, moodle: Moodle) -> None:
    async with moodle.connect() as conn:
        with pytest.raises(ReadOnlyViolation):
            await conn.execute(insert(moodle.tables.config).values(name="x", value="y"))
    assert await site.count(site.t.config) == len(BASE_CONFIG)


async def test_database_session_itself_is_read_only(site: Site, moodle: Moodle) -> None:
    """Even a statement that bypasses our guard (sent on the raw driver connection) is refused."""
    before = await site.count(site.t.config)
    async with moodle.engine.connect() as conn:
        raw = await conn.get_raw_connection()
        driver = raw.driver_connection
        backend = moodle.engine.dialect.name
        statement = "INSERT INTO mdl_config (name, value) VALUES ('sneaky', 'x')"
        with pytest.raises(Exception) as caught:
            await _raw_execute(driver, backend, statement)
        assert "read" in str(caught.value).lower() or "only" in str(caught.value).lower()
        await conn.rollback()
    assert await site.count(site.t.config) == before


async def test_site_config_reads_config_and_plugin_rows(site: Site, moodle: Moodle) -> None:
    await site.config(timezone="America/New_York", forcetimezone="Asia/Tokyo", lang="fr")
    await site.plugin_config("block_use_stats", threshold="30")
    config = await moodle.site()
    assert config.get("lang") == "fr"
    assert config.plugin("block_use_stats", "threshold") == "30"
    assert config.site_admins == frozenset({2})
    # forcetimezone wins over timezone when it is not 99.
    assert moodle.timezone(config).key == "Asia/Tokyo"
    assert moodle.lang(config) == "fr"
    assert config.has_oidc is True


async def test_timezone_99_means_the_configured_server_zone(site: Site, moodle: Moodle) -> None:
    await site.config(timezone="99", forcetimezone="99")
    config = await moodle.site()
    assert moodle.timezone(config).key == "UTC"
    assert moodle.timezone(config, override="Europe/Paris").key == "Europe/Paris"


async def test_pool_pre_ping_survives_a_plain_select(moodle: Moodle, site: Site) -> None:
    async with moodle.connect() as conn:
        assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1


async def _raw_execute(driver: object, backend: str, statement: str) -> None:
    if backend == "mysql":
        async with driver.cursor() as cursor:  # type: ignore[attr-defined]
            await cursor.execute(statement)
    else:
        await driver.execute(statement)  # type: ignore[attr-defined]
