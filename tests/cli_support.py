"""The real ``definum-gql`` command in a subprocess, for the command-line tests."""

from __future__ import annotations

import asyncio
import os
import sys

#: Seconds a command may run: a ``serve`` that started when it should have refused is killed.
LIMIT = 60.0


async def run_command(url: str, *args: str, **extra: str) -> tuple[int, bytes, bytes]:
    """``python -m definum_gql ARGS`` on database ``url`` without a config file (``extra``:
    more environment). A command still running after ``LIMIT`` seconds is killed: exit code
    -1, "still running: " before its standard error."""
    env = {**os.environ, "DEFINUM_DATABASE_URL": url, "DEFINUM_CONFIG_FILE": "", **extra}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "definum_gql",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), LIMIT)
    except TimeoutError:
        process.kill()
        out, err = await process.communicate()
        return -1, out, b"still running: " + err
    return process.returncode or 0, out, err
