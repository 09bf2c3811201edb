"""The ``definum-gql`` command: serve, config, demo-db, export-schema, stats.

Every refusal is one line on stderr and exit code 2 (a wrong setting, flag or database); a
learner that cannot be found is exit code 1.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from definum_gql.config import Settings, SettingsError, load_settings, mask_database_url
from definum_gql.stats.strings import LANGS

if TYPE_CHECKING:
    from definum_gql.demo import DemoResult

app = typer.Typer(
    help="Learner statistics from a Moodle database, over GraphQL and Moodle's REST API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)

#: A demo build's progress callback: ``(stage, done, total)``.
Report = Callable[[str, int, int], None]


def _settings(flags: dict[str, str] | None = None, **overrides: Any) -> Settings:
    """The settings, with command-line ``overrides``; a bad one is named as its flag."""
    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return load_settings(**given)
    except SettingsError as exc:
        if exc.field in given and flags and exc.field in flags:
            raise _fail(f"{flags[exc.field]}: {exc.message}") from None
        raise _fail(str(exc)) from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True, soft_wrap=True)
    return typer.Exit(code)


def _check_database(settings: Settings) -> None:
    """One line and exit 2 unless the database holds the prefix's Moodle tables.

    A database that does not answer may only be down for now: serving starts anyway (a process
    started during an outage, or before its database, recovers by itself; /readyz says 503
    meanwhile), with a warning.
    """
    from definum_gql.moodle.probe import DatabaseUnreachable, NotAMoodleDatabase, check_database

    try:
        asyncio.run(check_database(settings))
    except DatabaseUnreachable as exc:
        err.print(
            f"warning: {exc}; serving anyway (/readyz answers 503 until it answers)",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    except NotAMoodleDatabase as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(2) from None


# The demo site.


def _ensure_demo(settings: Settings) -> Settings:
    """The settings pointing at the demo file, (re)built first when missing or stale.

    Its activity must reach the current month: it is rebuilt (same seed and sizes, new "now")
    when it was built before this month or more than a day ago, or with ``DEFINUM_NOW`` for
    another moment. It is built beside the old file and then moved over it, so a server still
    reading the old one is not disturbed.
    """
    from definum_gql.demo import default_demo_path, demo_url, read_demo_marker, stale_reason

    path = default_demo_path()
    prefix = settings.table_prefix
    frozen = settings.now is not None
    now = settings.now if settings.now is not None else int(time.time())
    marker = read_demo_marker(path, prefix)
    reason = stale_reason(path, marker, now, frozen=frozen, timezone=settings.timezone)
    if reason is not None:
        err.print(f"Building the demo Moodle site in {path} ({reason})...", highlight=False)
        sizes = marker.sizes() if marker else {}
        result = _build_demo_file(path, now=now, prefix=prefix, **sizes)
        token: str | None = result.tokens["valid"]
    else:
        token = _demo_token(path, prefix)
    if token:
        err.print(f"Demo token: [bold]{token}[/bold]  (GraphQL: Authorization: Bearer {token})")
    url = demo_url(path)
    os.environ["DEFINUM_DATABASE_URL"] = url
    return settings.model_copy(update={"database_url": SecretStr(url)})


def _build_demo_file(path: Path, **options: Any) -> DemoResult:
    """Build the demo SQLite file at ``path`` (replacing it whole, at the end)."""
    from definum_gql.demo import demo_url

    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.building")
    partial.unlink(missing_ok=True)
    try:
        result = _build(demo_url(partial), **options)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return result


def _build(url: str, **options: Any) -> DemoResult:
    from definum_gql.demo import build_demo_site

    started = time.monotonic()
    with build_progress(err) as report:
        result = asyncio.run(build_demo_site(url, progress=report, **options))
    err.print(
        f"Built in {time.monotonic() - started:.0f} s: {result.users:,} users,"
        f" {result.courses} courses, {result.log_rows:,} log rows",
        highlight=False,
    )
    return result


def _demo_token(path: Path, prefix: str) -> str | None:
    """The demo site's unrestricted admin token, read from the file (opened read-only)."""
    import sqlite3
    from urllib.parse import quote

    uri = "file:" + quote(str(path.resolve()), safe="/") + "?mode=ro"
    try:
        with sqlite3.connect(uri, uri=True) as db:
            row = db.execute(
                f"SELECT token FROM {prefix}external_tokens WHERE userid = 2 AND tokentype = 0"
                " AND (validuntil IS NULL OR validuntil = 0)"
                " AND (iprestriction IS NULL OR iprestriction = '') ORDER BY id LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


@contextmanager
def build_progress(console: Console) -> Iterator[Report]:
    """A demo build's progress: bars on a terminal, erased when the build ends (so that nothing
    stays pinned under the server's log lines); elsewhere one plain line per finished stage."""
    if not console.is_terminal:

        def plain(stage: str, done: int, total: int) -> None:
            if done == total:
                console.print(f"  {stage}: {done:,}/{total:,}", highlight=False)

        yield plain
        return
    progress = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)

    with progress:
        yield report


# Commands.


def _address(host: str, port: int) -> str:
    """What to tell people to open: an address they can reach, and where it listens."""
    if host in ("0.0.0.0", "::"):
        local = "127.0.0.1" if host == "0.0.0.0" else "[::1]"
        return (
            f"GraphiQL on http://{local}:{port}/graphql (listening on all interfaces, {host}"
            f" port {port}: from elsewhere use this machine's name or address)"
        )
    shown = f"[{host}]" if ":" in host else host
    return f"GraphiQL on http://{shown}:{port}/graphql"


@app.command()
def serve(
    demo: Annotated[
        bool,
        typer.Option(help="Serve the demo Moodle site (SQLite; built, or rebuilt when stale)."),
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve GraphQL (GraphiQL) on /graphql and the REST shim on /webservice/rest/server.php."""
    settings = _settings({"host": "--host", "port": "--port"}, host=host, port=port)
    if demo:
        settings = _ensure_demo(settings)
    elif settings.database_url is None:
        raise _fail("DEFINUM_DATABASE_URL is not set (or run `definum-gql serve --demo`)")
    _check_database(settings)
    err.print(_address(settings.host, settings.port), highlight=False)
    if host:
        os.environ["DEFINUM_HOST"] = host
    if port:
        os.environ["DEFINUM_PORT"] = str(port)
    from definum_gql.server import run

    run(settings, workers=workers)


@app.command()
def config(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Print the effective settings (passwords masked), one per line, never cut."""
    values = _settings().masked()
    if as_json:
        print(json.dumps(values, indent=2))
        return
    names = {name: f"DEFINUM_{name.upper()}" for name in values}
    width = max(len(n) for n in names.values())
    for name, value in values.items():
        shown = (
            value if isinstance(value, str) else "(not set)" if value is None else json.dumps(value)
        )
        print(f"{names[name]:<{width}}  {shown}")


def _unix_time(value: str) -> int:
    """``--now``: a Unix time, or an ISO date or date-time (UTC unless it says otherwise)."""
    if value.isdigit():
        return int(value)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail(
            f"--now: {value!r} is neither a Unix time nor an ISO date"
            " (e.g. 1795628523, 2026-12-01 or 2026-12-01T08:30:00+01:00)"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp())


@app.command("demo-db")
def demo_db(
    target: Annotated[
        str | None,
        typer.Argument(help="Database URL or SQLite file path (default: the demo file)."),
    ] = None,
    users: Annotated[int, typer.Option(min=10)] = 200,
    courses: Annotated[int, typer.Option(min=4)] = 12,
    months: Annotated[int, typer.Option(min=1)] = 3,
    seed: Annotated[int, typer.Option()] = 42,
    now: Annotated[
        str | None,
        typer.Option(
            help="The site's 'now': Unix time or ISO date (default: DEFINUM_NOW, else the clock)."
            " The same seed and now give the same rows."
        ),
    ] = None,
    force: Annotated[
        bool, typer.Option(help="Replace a Moodle site that demo-db did not build.")
    ] = False,
) -> None:
    """Create a demo Moodle site (SQLite file, PostgreSQL or MariaDB URL) and print its token.

    Refuses to replace a database's Moodle tables that hold rows unless demo-db built them
    (or --force).
    """
    from definum_gql.demo import DemoSiteExists, default_demo_path, demo_url

    settings = _settings()
    moment = _unix_time(now) if now is not None else settings.now
    options: dict[str, Any] = {
        "users": users,
        "courses": courses,
        "months": months,
        "seed": seed,
        "now": moment if moment is not None else int(time.time()),
        "prefix": settings.table_prefix,
    }
    if target is None:
        # The demo file is definum-gql's own: it is built beside and moved over the old one.
        result = _build_or_fail(lambda: _build_demo_file(default_demo_path(), **options))
    else:
        if "://" in target:
            url, shown = target, mask_database_url(target)
            _settings({"database_url": "the URL"}, database_url=url)  # validates the driver
        else:
            path = Path(target).expanduser().resolve()
            url, shown = demo_url(path), str(path)
        try:
            result = _build_or_fail(lambda: _build(url, force=force, **options))
        except DemoSiteExists as exc:
            raise _fail(f"{shown} holds {exc}; pass --force to replace it") from None
    print(result.tokens["valid"])


def _build_or_fail(build: Callable[[], DemoResult]) -> DemoResult:
    from definum_gql.demo import DemoSiteExists

    try:
        return build()
    except DemoSiteExists:
        raise
    except Exception as exc:
        raise _fail(f"could not build the demo site: {str(exc).splitlines()[0]}", 1) from None


@app.command("export-schema")
def export_schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the GraphQL schema (SDL); schema/schema.graphql is this output."""
    from definum_gql.graphql import build_schema

    sdl = build_schema(_settings()).as_str() + "\n"
    if output:
        try:
            output.write_text(sdl, encoding="utf-8")
        except OSError as exc:
            raise _fail(f"--output: cannot write {output}: {exc.strerror}") from None
    else:
        sys.stdout.write(sdl)


@app.command()
def stats(
    value: Annotated[str, typer.Argument(help="The value of the identity field.")],
    by: Annotated[
        str, typer.Option(help="id, username, idnumber, email, oidcuniqueid, oidcusername")
    ] = "id",
    month: Annotated[str | None, typer.Option(help="YYYY-MM (default: the current month).")] = None,
    fmt: Annotated[str, typer.Option("--format", help="json, xml or table.")] = "table",
    lang: Annotated[str | None, typer.Option(help=f"One of {', '.join(LANGS)}.")] = None,
    demo: Annotated[
        bool, typer.Option(help="Use the demo site (built, or rebuilt when stale).")
    ] = False,
) -> None:
    """Print one learner's definum_get_stats document, as the REST shim would answer it."""
    if fmt not in ("json", "xml", "table"):
        raise _fail(f"--format must be json, xml or table, not {fmt!r}")
    if lang is not None and lang not in LANGS:
        raise _fail(f"--lang must be one of {', '.join(LANGS)}, not {lang!r}")
    settings = _settings()
    if demo:
        settings = _ensure_demo(settings)
    elif settings.database_url is None:
        raise _fail("DEFINUM_DATABASE_URL is not set (or pass --demo)")
    sys.exit(asyncio.run(_stats(settings, by, value, month, fmt, lang)))


async def _stats(
    settings: Settings, by: str, value: str, month: str | None, fmt: str, lang: str | None
) -> int:
    from dataclasses import asdict

    from definum_gql.moodle.probe import NotAMoodleDatabase, probe
    from definum_gql.moodle.site import DatabaseReadError, DatabaseUnavailable, Moodle
    from definum_gql.rest import render_stats
    from definum_gql.stats.document import definum_stats
    from definum_gql.stats.errors import StatsError
    from definum_gql.stats.identity import resolve_user
    from definum_gql.stats.months import Month

    moodle = Moodle.from_settings(settings)
    try:
        await probe(moodle.db, settings)
        async with moodle.request(lang=lang) as ctx:
            chosen = Month.parse(month) if month else None
            user = await resolve_user(ctx, by, value)
            documents = await definum_stats(ctx, [user.id], month=chosen, users={user.id: user})
            document = documents[user.id]
    except NotAMoodleDatabase as exc:
        err.print(f"error: {exc}", markup=False, highlight=False, soft_wrap=True)
        return 2
    except StatsError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except (DatabaseUnavailable, DatabaseReadError) as exc:
        verb = "reach" if isinstance(exc, DatabaseUnavailable) else "read"
        shown = mask_database_url(settings.url())
        err.print(
            f"error: cannot {verb} the database {shown}: {exc}", markup=False, highlight=False
        )
        return 2
    finally:
        await moodle.dispose()
    if fmt == "table":
        table = Table("field", "value")
        for name, field_value in asdict(document).items():
            if name == "badges":
                field_value = (
                    ", ".join(f"{b['name']} ({b['dateissuedstr']})" for b in field_value) or "-"
                )
            table.add_row(name, str(field_value))
        Console().print(table)
    else:
        # The REST shim's exact bytes, ended by a newline for the terminal (Moodle's JSON has
        # none, its XML has one).
        body = render_stats(document, fmt)
        sys.stdout.buffer.write(body if body.endswith(b"\n") else body + b"\n")
        sys.stdout.buffer.flush()
    return 0


@app.command()
def doctor(
    demo: Annotated[bool, typer.Option(help="Check the demo site.")] = False,
) -> None:
    """Check a Moodle site for definum-gql and print a report; exit 1 on a blocking problem."""
    settings = _settings()
    if demo:
        settings = _ensure_demo(settings)
    elif settings.database_url is None:
        raise _fail("DEFINUM_DATABASE_URL is not set (or pass --demo)")
    sys.exit(asyncio.run(_doctor(settings)))


async def _doctor(settings: Settings) -> int:
    from definum_gql.doctor import examine, render
    from definum_gql.moodle.site import Moodle

    moodle = Moodle.from_settings(settings)
    try:
        report = await examine(moodle)
    finally:
        await moodle.dispose()
    sys.stdout.write(render(report))
    return 1 if report.blocking else 0


def main() -> None:
    app()
