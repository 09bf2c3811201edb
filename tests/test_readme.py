"""The README's Commands table and demo paragraphs say what the command does; no document or
benchmark script carries a path of the machine it was written on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.core
import typer.main

from definum_gql.cli import app
from definum_gql.demo import default_demo_path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _section(title: str) -> str:
    return README.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _command_rows() -> dict[str, list[str]]:
    """Each command's rows of the Commands table (first cell), by command name."""
    rows: dict[str, list[str]] = {}
    for line in _section("Commands").splitlines():
        found = re.match(r"\| `definum-gql ([a-z-]+)(.*?)` \|", line)
        if found:
            rows.setdefault(found[1], []).append(found[2])
    return rows


def _commands() -> dict[str, list[str]]:
    group = typer.main.get_command(app)
    assert isinstance(group, typer.core.TyperGroup)
    return {
        name: [opt for param in command.params for opt in param.opts if opt.startswith("--")]
        for name, command in group.commands.items()
    }


@pytest.mark.parametrize("command", sorted(_commands()))
def test_every_command_and_flag_is_in_the_commands_table(command: str) -> None:
    rows = _command_rows()
    assert command in rows
    written = " ".join(rows[command])
    for flag in _commands()[command]:
        if flag != "--help":
            assert flag in written, f"{command} {flag}"


def test_stats_demo_has_its_row() -> None:
    assert any("--demo" in row for row in _command_rows()["stats"])


def test_the_readme_says_where_the_demo_lives_and_how_to_rebuild_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    relative = default_demo_path().relative_to(tmp_path)
    assert f"`~/{relative}`" in README
    monkeypatch.setenv("XDG_DATA_HOME", "/xdg")
    assert str(default_demo_path()) == "/xdg/definum-gql/demo.sqlite"
    assert "`$XDG_DATA_HOME/definum-gql/demo.sqlite`" in README
    demo = _section("Two commands")
    assert "rebuild" in demo
    assert "definum-gql demo-db" in demo


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|root|home|Users|tmp)/[\w.-]+")


def _documents() -> list[Path]:
    files = [*ROOT.glob("*.md"), *(ROOT / "bench").glob("*.py"), *(ROOT / "queries").glob("*")]
    if (ROOT / "docs").is_dir():
        files += [p for p in (ROOT / "docs").rglob("*") if p.is_file()]
    return sorted(files)


@pytest.mark.parametrize("path", _documents(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_path_of_a_machine(path: Path) -> None:
    found = MACHINE_PATH.findall(path.read_text(encoding="utf-8"))
    assert found == []
