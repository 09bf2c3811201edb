"""Settings: environment, TOML file, one clear line for a bad value, exit code 2 from the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from definum_gql.config import AuthMode, SettingsError, load_settings


def test_environment_settings_are_read_with_the_definum_prefix(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DEFINUM_DATABASE_URL", "postgresql+asyncpg://reader:s3cret@db/moodle")
    monkeypatch.setenv("DEFINUM_TABLE_PREFIX", "m_")
    monkeypatch.setenv("DEFINUM_TIMEZONE", "Europe/Paris")
    monkeypatch.setenv("DEFINUM_AUTH", "off")
    settings = load_settings()
    assert settings.table_prefix == "m_"
    assert settings.timezone == "Europe/Paris"
    assert settings.auth is AuthMode.off
    assert settings.masked()["database_url"] == "postgresql+asyncpg://reader:***@db/moodle"


def test_a_toml_file_is_read_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "definum.toml"
    config.write_text('lang = "fr"\nport = 9001\nservice = "portal"\n', encoding="utf-8")
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", str(config))
    settings = load_settings()
    assert (settings.lang, settings.port, settings.service) == ("fr", 9001, "portal")


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("DEFINUM_DATABASE_URL", "oracle://x/y", "unsupported driver 'oracle'"),
        ("DEFINUM_DATABASE_URL", "not a url", "not a database URL"),
        ("DEFINUM_TIMEZONE", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
        ("DEFINUM_LANG", "de", "unsupported language 'de'"),
        ("DEFINUM_PORT", "http", "valid integer"),
        ("DEFINUM_TABLE_PREFIX", "mdl-;drop", "letters, digits and '_' only"),
        ("DEFINUM_AUTH", "maybe", "'on' or 'off'"),
    ],
)
def test_a_bad_value_names_the_setting_in_one_line(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, says: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith(name + ": ")
    assert says in message
    assert "\n" not in message


def test_cli_exits_2_with_one_line_and_no_traceback(tmp_path: Path) -> None:
    env = {"DEFINUM_PORT": "http", "PATH": "/usr/bin:/bin", "DEFINUM_CONFIG_FILE": "/nonexistent"}
    done = subprocess.run(
        [sys.executable, "-m", "definum_gql", "config"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: DEFINUM_PORT: ")
    assert "Traceback" not in done.stderr


def test_cli_config_masks_the_password(tmp_path: Path) -> None:
    env = {
        "DEFINUM_DATABASE_URL": "mysql+asyncmy://reader:hunter2@db/moodle",
        "PATH": "/usr/bin:/bin",
        "DEFINUM_CONFIG_FILE": "/nonexistent",
    }
    done = subprocess.run(
        [sys.executable, "-m", "definum_gql", "config", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert "hunter2" not in done.stdout
    assert '"database_url": "mysql+asyncmy://reader:***@db/moodle"' in done.stdout
