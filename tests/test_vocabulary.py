"""One list of languages (stats/strings.LANGS): settings, both doors and the help all follow it."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from definum_gql.cli import app
from definum_gql.config import Settings, SettingsError, load_settings
from definum_gql.moodle.site import Moodle, SiteConfig
from definum_gql.rest.openapi import openapi_document
from definum_gql.rest.request import split_call
from definum_gql.stats.strings import DEFAULT_LANG, LANGS, format_datetime, never

UTC = ZoneInfo("UTC")


@pytest.fixture(autouse=True)
def _no_local_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", "")
    monkeypatch.delenv("DEFINUM_LANG", raising=False)


def test_the_contract_languages_are_english_and_french() -> None:
    assert LANGS == ("en", "fr")
    assert DEFAULT_LANG in LANGS


def test_each_language_has_its_own_words() -> None:
    assert len({never(lang) for lang in LANGS}) == len(LANGS)
    assert len({format_datetime(0, UTC, lang) for lang in LANGS}) == len(LANGS)


def test_an_unsupported_language_reads_as_the_default() -> None:
    assert never("de") == never(DEFAULT_LANG)
    assert format_datetime(0, UTC, "de") == format_datetime(0, UTC, DEFAULT_LANG)


@pytest.mark.parametrize("lang", LANGS)
def test_settings_accept_every_language(lang: str) -> None:
    assert load_settings(lang=lang).lang == lang


def test_settings_refuse_another_language_and_name_the_supported_ones() -> None:
    with pytest.raises(SettingsError, match="unsupported language 'de'; use one of en, fr"):
        load_settings(lang="de")


@pytest.mark.parametrize("lang", [*LANGS, "de", ""])
def test_the_rest_shim_keeps_a_supported_language_and_ignores_others(lang: str) -> None:
    call = split_call({"moodlewssettinglang": lang}, {})
    assert call.lang == (lang if lang in LANGS else None)


@pytest.mark.parametrize(
    ("override", "setting", "site", "chosen"),
    [
        ("fr", None, "en", "fr"),
        ("de", None, "fr", "fr"),  # an unsupported choice falls through to the next
        (None, "fr", "en", "fr"),
        (None, None, "fr", "fr"),
        (None, None, "de", DEFAULT_LANG),
        (None, None, None, DEFAULT_LANG),
    ],
)
def test_the_language_of_a_request(
    override: str | None, setting: str | None, site: str | None, chosen: str
) -> None:
    settings = load_settings(database_url="sqlite+aiosqlite:///:memory:", lang=setting)
    moodle = Moodle.from_settings(settings)  # no connection is opened
    config = SiteConfig({} if site is None else {"lang": site})
    assert moodle.lang(config, override) == chosen


def test_every_description_of_a_language_setting_lists_the_languages() -> None:
    listed = ", ".join(LANGS)
    parameters = openapi_document()["paths"]["/webservice/rest/server.php"]["get"]["parameters"]
    lang = next(p for p in parameters if p["name"] == "moodlewssettinglang")
    assert listed in lang["description"]
    assert listed in (Settings.model_fields["lang"].description or "")
    help_text = CliRunner().invoke(app, ["stats", "--help"], terminal_width=200).output
    assert listed in help_text
