"""The ``definum-gql`` command: serve, config, demo-db, export-schema, stats."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import SecretStr
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from definum_gql.config import Settings, SettingsError, load_settings
from definum_gql.stats.strings import LANGS

app = typer.Typer(
    help="Learner statistics from a Moodle database, over GraphQL and Moodle's REST API.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
err = Console(stderr=True, soft_wrap=True)


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**{k: v for k, v in overrides.items() if v is not None})
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False)
        raise typer.Exit(2) from None


def _fail(message: str, code: int = 2) -> typer.Exit:
    err.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def _ensure_demo(settings: Settings) -> Settings:
    from definum_gql.demo import build_demo_site, default_demo_path, demo_url

    path = default_demo_path()
    url = demo_url(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        err.print(f"Building the demo Moodle site in {path} (first run only)...")
        result = asyncio.run(build_demo_site(url, progress=_progress_printer()))
        token: str | None = result.tokens["valid"]
    else:
        token = _demo_token(path, settings.table_prefix)
    if token:
        err.print(f"Demo token: [bold]{token}[/bold]  (GraphQL: Authorization: Bearer {token})")
    os.environ["DEFINUM_DATABASE_URL"] = url
    return settings.model_copy(update={"database_url": SecretStr(url)})


def _demo_token(path: Path, prefix: str) -> str | None:
    """The demo site's unrestricted admin token, read from the file (opened read-only)."""
    import sqlite3

    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
            row = db.execute(
                f"SELECT token FROM {prefix}external_tokens WHERE userid = 2 AND tokentype = 0"
                " AND (validuntil IS NULL OR validuntil = 0)"
                " AND (iprestriction IS NULL OR iprestriction = '') ORDER BY id LIMIT 1"
            ).fetchone()
    except sqlite3.Error:
        return None
    return str(row[0]) if row else None


def _progress_printer() -> Any:
    progress = Progress(
        TextColumn("{task.description:<18}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=False,
    )
    tasks: dict[str, TaskID] = {}

    def report(stage: str, done: int, total: int) -> None:
        if not progress.live.is_started:
            progress.start()
        if stage not in tasks:
            tasks[stage] = progress.add_task(stage, total=total)
        progress.update(tasks[stage], completed=done, total=total)
        if all(progress.tasks[t].finished for t in tasks.values()) and stage == "done":
            progress.stop()

    return report


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option(help="Serve the embedded demo Moodle site (SQLite).")
    ] = False,
    host: Annotated[str | None, typer.Option(help="Address to listen on.")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on.")] = None,
    workers: Annotated[int, typer.Option(min=1, help="uvicorn worker processes.")] = 1,
) -> None:
    """Serve GraphQL (GraphiQL) on /graphql and the REST shim on /webservice/rest/server.php."""
    settings = _settings(host=host, port=port)
    if demo:
        settings = _ensure_demo(settings)
    elif settings.database_url is None:
        raise _fail("DEFINUM_DATABASE_URL is not set (or run `definum-gql serve --demo`)")
    err.print(f"GraphiQL on http://{settings.host}:{settings.port}/graphql")
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
    """Print the effective settings (database password masked)."""
    values = _settings().masked()
    if as_json:
        print(json.dumps(values, indent=2))
        return
    table = Table("setting", "value")
    for name, value in values.items():
        table.add_row(
            f"DEFINUM_{name.upper()}", json.dumps(value) if not isinstance(value, str) else value
        )
    Console().print(table)


@app.command("demo-db")
def demo_db(
    target: Annotated[str | None, typer.Argument(help="Database URL or SQLite file path.")] = None,
    users: Annotated[int, typer.Option(min=1)] = 200,
    courses: Annotated[int, typer.Option(min=1)] = 12,
    months: Annotated[int, typer.Option(min=1)] = 3,
    seed: Annotated[int, typer.Option()] = 42,
) -> None:
    """Create a demo Moodle site (SQLite file, PostgreSQL or MariaDB URL) and print its token."""
    from definum_gql.demo import build_demo_site, default_demo_path, demo_url

    if target is None:
        path = default_demo_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        url = demo_url(path)
    elif "://" in target:
        url = target
        _settings(database_url=url)  # validates the URL's driver
    else:
        url = demo_url(Path(target).resolve())
    try:
        result = asyncio.run(
            build_demo_site(
                url,
                users=users,
                courses=courses,
                months=months,
                seed=seed,
                progress=_progress_printer(),
            )
        )
    except Exception as exc:
        raise _fail(f"could not build the demo site: {str(exc).splitlines()[0]}", 1) from None
    err.print(f"{result.users} users, {result.courses} courses, {result.log_rows} log rows")
    print(result.tokens["valid"])


@app.command("export-schema")
def export_schema(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the GraphQL schema (SDL); schema/schema.graphql is this output."""
    from definum_gql.graphql import build_schema

    sdl = build_schema(Settings()).as_str() + "\n"
    if output:
        output.write_text(sdl, encoding="utf-8")
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
    demo: Annotated[bool, typer.Option(help="Use the demo site.")] = False,
) -> None:
    """Print one learner's definum_get_stats document, as the REST shim would answer it."""
    settings = _settings()
    if demo:
        settings = _ensure_demo(settings)
    elif settings.database_url is None:
        raise _fail("DEFINUM_DATABASE_URL is not set (or pass --demo)")
    if fmt not in ("json", "xml", "table"):
        raise _fail(f"--format must be json, xml or table, not {fmt!r}")
    sys.exit(asyncio.run(_stats(settings, by, value, month, fmt, lang)))


async def _stats(
    settings: Settings, by: str, value: str, month: str | None, fmt: str, lang: str | None
) -> int:
    from dataclasses import asdict

    from definum_gql.moodle.site import DatabaseUnavailable, Moodle
    from definum_gql.rest import render_stats
    from definum_gql.stats.document import definum_stats
    from definum_gql.stats.errors import StatsError
    from definum_gql.stats.identity import resolve_user
    from definum_gql.stats.months import Month

    moodle = Moodle.from_settings(settings)
    try:
        async with moodle.request(lang=lang) as ctx:
            chosen = Month.parse(month) if month else None
            user = await resolve_user(ctx, by, value)
            documents = await definum_stats(ctx, [user.id], month=chosen, users={user.id: user})
            document = documents[user.id]
    except StatsError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        return 1
    except DatabaseUnavailable as exc:
        err.print(f"error: database connection failed: {exc}", markup=False, highlight=False)
        return 1
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
        sys.stdout.buffer.write(render_stats(document, fmt))
        sys.stdout.buffer.flush()
    return 0


def main() -> None:
    app()
