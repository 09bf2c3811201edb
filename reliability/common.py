"""What the long runs share: the head of their JSON summary, its output, the default token."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def summary(load_before: tuple[float, float, float], **figures: Any) -> dict[str, Any]:
    """Machine, date and load averages (before the run and now), then ``figures``."""
    return {
        "machine": f"{platform.node()} {platform.machine()}, {os.cpu_count()} CPUs",
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        **figures,
    }


def emit(figures: dict[str, Any], output: Path | None) -> None:
    """Print the summary as JSON, and write it to ``output`` when given."""
    text = json.dumps(figures, indent=2, ensure_ascii=False)
    print(text)
    if output is not None:
        output.write_text(text + "\n")


def first_token(url: str) -> str:
    """The token bench/ uses: the lowest-id unrestricted permanent one, a site admin's first."""
    sys.path.insert(0, str(ROOT / "bench"))
    from benchlib import lookup_token

    token: str = lookup_token(url, "mdl_")
    return token
