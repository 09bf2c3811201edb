"""Readable strings exactly as Moodle writes them in English and French, without system locales."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

_DAYS = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "en": (
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
    "fr": (
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
}
_NEVER = {"en": "Never", "fr": "Jamais"}


def format_datetime(timestamp: int, tz: ZoneInfo, lang: str) -> str:
    """Moodle's ``strftimedaydatetime`` in English or French, in ``tz``."""
    local = datetime.fromtimestamp(timestamp, tz)
    lang = lang if lang in _DAYS else "en"
    day = _DAYS[lang][local.weekday()]
    month = _MONTHS[lang][local.month - 1]
    if lang == "fr":
        return f"{day} {local.day:02d} {month} {local.year}, {local.hour:02d}:{local.minute:02d}"
    hour12 = local.hour % 12 or 12
    meridiem = "AM" if local.hour < 12 else "PM"
    return (
        f"{day}, {local.day:02d} {month} {local.year}, {hour12:02d}:{local.minute:02d} {meridiem}"
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
    return _NEVER.get(lang, _NEVER["en"])


def format_login(timestamp: int, tz: ZoneInfo, lang: str) -> str:
    """A login time, or "Never" when Moodle stores 0."""
    return format_datetime(timestamp, tz, lang) if timestamp else never(lang)
