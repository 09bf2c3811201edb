"""Readable strings exactly as Moodle writes them in English and French, without system locales.

``LANGS`` is the one list of supported languages: the keys of ``_LANGUAGES``, the words below.
Settings, the REST shim and the CLI import it from here (this module imports nothing of ours).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class _Language:
    """The words of one Moodle language pack that readable strings use."""

    daydatetime: str  # langconfig's strftimedaydatetime
    days: tuple[str, ...]  # Monday first, as datetime.weekday()
    months: tuple[str, ...]
    never: str


_LANGUAGES = {
    "en": _Language(
        daydatetime="%A, %d %B %Y, %I:%M %p",
        days=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
        months=(
            "January",
            "February",
            "March",
            "April",
            "May",
            "June",
            "July",
            "August",
            "September",
            "October",
            "November",
            "December",
        ),
        never="Never",
    ),
    "fr": _Language(
        daydatetime="%A %d %B %Y, %H:%M",
        days=("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
        months=(
            "janvier",
            "février",
            "mars",
            "avril",
            "mai",
            "juin",
            "juillet",
            "août",
            "septembre",
            "octobre",
            "novembre",
            "décembre",
        ),
        never="Jamais",
    ),
}

#: The languages readable strings can be written in; anything else reads as ``DEFAULT_LANG``.
LANGS: tuple[str, ...] = tuple(_LANGUAGES)
DEFAULT_LANG = "en"  # Moodle's own default
_DEFAULT = _LANGUAGES[DEFAULT_LANG]
_DIRECTIVE = re.compile(r"%([A-Za-z])")


def _words(lang: str) -> _Language:
    return _LANGUAGES.get(lang, _DEFAULT)


@cache
def _template(pattern: str) -> str:
    """A strftime-like pattern (``%A, %d %B %Y``) as a ``str.format_map`` template, made once (a
    page of 500 documents writes ~1,000 dates)."""
    literal = pattern.replace("{", "{{").replace("}", "}}")
    return _DIRECTIVE.sub(lambda m: "{" + m.group(1) + "}", literal)


def format_datetime(timestamp: int, tz: ZoneInfo, lang: str) -> str:
    """Moodle's ``strftimedaydatetime`` in ``lang`` (English when unsupported), in ``tz``."""
    local = datetime.fromtimestamp(timestamp, tz)
    words = _words(lang)
    hour = local.hour
    return _template(words.daydatetime).format_map(
        {
            "A": words.days[local.weekday()],
            "d": f"{local.day:02d}",
            "B": words.months[local.month - 1],
            "Y": str(local.year),
            "H": f"{hour:02d}",
            "I": f"{hour % 12 or 12:02d}",
            "M": f"{local.minute:02d}",
            "p": "AM" if hour < 12 else "PM",
        }
    )


def format_duration(seconds: int) -> str:
    """``{h}h {m}m {s}s``, dropping leading zero units: ``48m 0s``, ``41s``, ``0s``."""
    seconds = max(0, int(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes}m {secs}s"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def never(lang: str) -> str:
    return _words(lang).never


def format_login(timestamp: int, tz: ZoneInfo, lang: str) -> str:
    """A login time, or "Never" when Moodle stores 0."""
    return format_datetime(timestamp, tz, lang) if timestamp else never(lang)
