"""Settings: environment, TOML file, one clear line for a bad value, exit code 2 from the CLI."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from definum_gql.config import AuthMode, Settings, SettingsError, load_settings, valid_subnet


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
    env = {"DEFINUM_PORT": "http", "PATH": "/usr/bin:/bin", "DEFINUM_CONFIG_FILE": ""}
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
        "DEFINUM_CONFIG_FILE": "",
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


# One bad value (or more) for every setting: what is wrong with it, said in one line.
BAD_VALUES: list[tuple[str, str, str]] = [
    ("database_url", "oracle://x/y", "unsupported driver 'oracle'"),
    ("database_url", "not a url", "not a database URL"),
    ("table_prefix", "mdl-;drop", "letters, digits and '_' only"),
    ("timezone", "Mars/Olympus", "unknown timezone 'Mars/Olympus'"),
    ("server_timezone", "Nowhere/City", "unknown timezone 'Nowhere/City'"),
    ("lang", "de", "unsupported language 'de'; use one of en, fr"),
    ("service", "def inum", "'def inum' is not a service shortname"),
    ("self_services", "moodle_mobile_app", "not JSON: 'moodle_mobile_app'"),
    ("self_services", '["moodle mobile"]', "'moodle mobile' is not a service shortname"),
    ("host", "http://0.0.0.0", "'http://0.0.0.0' is not an address or host name"),
    ("port", "99999", "less than or equal to 65535"),
    ("port", "http", "valid integer"),
    ("auth", "maybe", "'on' or 'off'"),
    ("debug", "maybe", "valid boolean"),
    ("trusted_proxies", "10.0.0.1", "not JSON: '10.0.0.1'"),
    ("trusted_proxies", '"10.0.0.1"', "not a list"),
    ("trusted_proxies", '["not-an-ip"]', "'not-an-ip' is not an address or subnet"),
    ("trusted_proxies", '["10.0.0.0/33"]', "'10.0.0.0/33' is not an address or subnet"),
    ("cors_origins", "*", "not JSON: '*'"),
    ("cors_origins", '["https://app.example.org/"]', "is not an origin"),
    ("moodle_url", "moodle.example.org", "'moodle.example.org' is not an http(s) URL"),
    ("pool_size", "0", "greater than or equal to 1"),
    ("statement_timeout_ms", "-1", "greater than or equal to 0"),
    ("statement_timeout_ms", "5s", "valid integer"),
    ("max_rest_body", "100", "greater than or equal to 1024"),
    ("max_graphql_body", "1MB", "valid integer"),
    ("site_cache_seconds", "-1", "greater than or equal to 0"),
    ("client_timeout", "0", "greater than 0"),
    ("client_timeout", "30s", "valid number"),
    ("keep_alive_timeout", "0", "greater than or equal to 1"),
    ("metrics", "yes", "'yes': use 'off', 'on' or a port number"),
    ("metrics", "70000", "'70000': use 'off', 'on' or a port number"),
    ("log_format", "xml", "'xml': use 'auto', 'json' or 'text'"),
    ("use_stats_threshold", "0", "greater than or equal to 1"),
    ("use_stats_lastpingcredit", "-5", "greater than or equal to 0"),
    ("use_stats_enrolmentfilter", "sometimes", "valid boolean"),
    ("now", "yesterday", "valid integer"),
    ("now", "-1", "greater than or equal to 0"),
    ("max_depth", "0", "greater than or equal to 1"),
    ("max_aliases", "0", "greater than or equal to 1"),
    ("max_tokens", "5", "greater than or equal to 10"),
    ("max_page_size", "0", "greater than or equal to 1"),
    ("max_history_months", "0", "greater than or equal to 1"),
    ("max_cost", "0", "greater than or equal to 1"),
    ("max_search_words", "ten", "valid integer"),
    ("introspection", "perhaps", "valid boolean"),
    ("redis_url", "http://cache:6379", "not a Redis URL"),
    ("current_month_cache_seconds", "-1", "greater than or equal to 0"),
    ("month_cache_entries", "-1", "greater than or equal to 0"),
    ("read_ahead_learners", "-1", "greater than or equal to 0"),
    ("token_cache_seconds", "soon", "valid number"),
]
CASE_IDS = [f"{field}={value}" for field, value, _ in BAD_VALUES]


def test_every_setting_has_a_bad_value_case() -> None:
    assert {field for field, _, _ in BAD_VALUES} == set(Settings.model_fields)


def _clean_env(**values: str) -> dict[str, str]:
    """No DEFINUM_* from the caller's environment, no configuration file, no .env (cwd)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEFINUM_")}
    return {**env, "DEFINUM_CONFIG_FILE": "", **values}


@pytest.fixture(scope="module")
async def refused(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str]]:
    """``definum-gql config`` run once per bad value (concurrently): exit code, stdout, stderr."""
    cwd = tmp_path_factory.mktemp("refused")
    limit = asyncio.Semaphore(os.cpu_count() or 4)

    async def run(field: str, value: str) -> tuple[int, str, str]:
        async with limit:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "definum_gql",
                "config",
                env=_clean_env(**{f"DEFINUM_{field.upper()}": value}),
                cwd=cwd,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
            out, err = await process.communicate()
            return process.returncode or 0, out.decode(), err.decode()

    answers = await asyncio.gather(*(run(field, value) for field, value, _ in BAD_VALUES))
    return dict(zip(CASE_IDS, answers, strict=True))


@pytest.mark.parametrize(("field", "value", "says"), BAD_VALUES, ids=CASE_IDS)
async def test_cli_refuses_a_bad_value_of_every_setting_in_one_line(
    refused: dict[str, tuple[int, str, str]], field: str, value: str, says: str
) -> None:
    code, out, err = refused[f"{field}={value}"]
    assert code == 2
    assert out == ""
    assert err.endswith("\n")
    assert len(err.splitlines()) == 1
    assert err.startswith(f"error: DEFINUM_{field.upper()}: ")
    assert says in err


@pytest.mark.parametrize(("field", "value", "says"), BAD_VALUES, ids=CASE_IDS)
def test_load_settings_names_the_setting_of_every_bad_value(
    monkeypatch: pytest.MonkeyPatch, field: str, value: str, says: str
) -> None:
    for name in list(os.environ):
        if name.startswith("DEFINUM_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", "")
    monkeypatch.setenv(f"DEFINUM_{field.upper()}", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith(f"DEFINUM_{field.upper()}: ")
    assert says in str(caught.value)
    assert caught.value.field == field


@pytest.mark.parametrize(
    "entry",
    [
        "10.0.0.1",
        "10.0.0.0/8",
        "10.0.0.1-20",
        "10.0.",
        "10.0",
        "::1",
        "2001:db8::/32",
        "fe80::1-ff",
    ],
)
def test_trusted_proxies_take_moodles_subnet_forms(entry: str) -> None:
    assert valid_subnet(entry)
    settings = load_settings(trusted_proxies=[entry])
    assert settings.trusted_proxies == [entry]


@pytest.mark.parametrize(
    "entry",
    ["not-an-ip", "", "10.0.0.256", "10.0.0.0/33", "10.0.0.9-3", "10.0.0.1-300", "a.b.", "1,2"],
)
def test_trusted_proxies_refuse_what_moodle_cannot_match(entry: str) -> None:
    assert not valid_subnet(entry)


def test_lists_are_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEFINUM_CONFIG_FILE", "")
    monkeypatch.setenv("DEFINUM_CORS_ORIGINS", '["*"]')
    monkeypatch.setenv("DEFINUM_TRUSTED_PROXIES", '["10.0.0.0/8", "192.168.1.2"]')
    monkeypatch.setenv("DEFINUM_SELF_SERVICES", "")
    settings = load_settings()
    assert settings.cors_origins == ["*"]
    assert settings.trusted_proxies == ["10.0.0.0/8", "192.168.1.2"]
    assert settings.self_services == []


# The configuration file.


def _config(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "definum_gql", "config", *args],
        env={**_clean_env(), **env},
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )


def _one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_a_toml_syntax_error_is_one_line(tmp_path: Path) -> None:
    config = tmp_path / "broken.toml"
    config.write_text('lang = "fr"\nport = \n', encoding="utf-8")
    line = _one_error_line(_config(tmp_path, DEFINUM_CONFIG_FILE=str(config)))
    assert line.startswith(f"error: DEFINUM_CONFIG_FILE: {config} is not valid TOML: ")
    assert "line 2" in line


def test_the_default_toml_file_is_checked_too(tmp_path: Path) -> None:
    (tmp_path / "definum.toml").write_text("port = [\n", encoding="utf-8")
    env = {k: v for k, v in _clean_env().items() if k != "DEFINUM_CONFIG_FILE"}
    done = subprocess.run(
        [sys.executable, "-m", "definum_gql", "config"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert _one_error_line(done).startswith(
        "error: DEFINUM_CONFIG_FILE: definum.toml is not valid TOML: "
    )


def test_a_missing_explicit_config_file_is_refused(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "definum.toml"
    line = _one_error_line(_config(tmp_path, DEFINUM_CONFIG_FILE=str(missing)))
    assert line == f"error: DEFINUM_CONFIG_FILE: no such file: {missing}"


def test_a_folder_as_config_file_is_refused(tmp_path: Path) -> None:
    line = _one_error_line(_config(tmp_path, DEFINUM_CONFIG_FILE=str(tmp_path)))
    assert line.startswith(f"error: DEFINUM_CONFIG_FILE: cannot read {tmp_path}: ")


def test_without_the_variable_an_absent_definum_toml_is_fine(tmp_path: Path) -> None:
    env = {k: v for k, v in _clean_env().items() if k != "DEFINUM_CONFIG_FILE"}
    done = subprocess.run(
        [sys.executable, "-m", "definum_gql", "config", "--json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=True,
    )
    assert '"table_prefix": "mdl_"' in done.stdout


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("bogus = 1\n", "unknown setting 'bogus' in {path} (keys are"),
        ("DEFINUM_PORT = 9000\n", "unknown setting 'DEFINUM_PORT' in {path} (write 'port'"),
        ("[server]\nport = 9000\n", "unknown setting 'server' in {path}"),
    ],
)
def test_unknown_keys_in_the_toml_file_are_refused(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "definum.toml"
    config.write_text(text, encoding="utf-8")
    line = _one_error_line(_config(tmp_path, DEFINUM_CONFIG_FILE=str(config)))
    assert line.startswith("error: DEFINUM_CONFIG_FILE: " + says.format(path=config))


def test_a_bad_value_in_the_toml_file_says_which_file(tmp_path: Path) -> None:
    config = tmp_path / "definum.toml"
    config.write_text('port = "http"\n', encoding="utf-8")
    line = _one_error_line(_config(tmp_path, DEFINUM_CONFIG_FILE=str(config)))
    assert line.startswith("error: DEFINUM_PORT: ")
    assert line.endswith(f"(in {config})")


def test_an_empty_config_file_variable_means_no_file(tmp_path: Path) -> None:
    (tmp_path / "definum.toml").write_text("port = 1\n", encoding="utf-8")
    done = _config(tmp_path, "--json", DEFINUM_CONFIG_FILE="")
    assert done.returncode == 0
    assert '"port": 8000' in done.stdout
