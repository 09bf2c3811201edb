"""Calendar months in the site timezone, with correct boundaries across DST changes."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from definum_gql.stats.errors import InvalidMonth

_MONTH = re.compile(r"(\d{4})-(\d{2})")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        match = _MONTH.fullmatch(text.strip())
        if not match:
            raise InvalidMonth(f"month {text!r} is not written YYYY-MM")
        year, month = int(match.group(1)), int(match.group(2))
        if not (1 <= month <= 12 and 1970 <= year <= 9998):
            raise InvalidMonth(f"month {text!r} is out of range")
        return cls(year, month)

    @classmethod
    def containing(cls, timestamp: float, tz: ZoneInfo) -> Month:
        local = datetime.fromtimestamp(timestamp, tz)
        return cls(local.year, local.month)

    def next(self) -> Month:
        return Month(self.year + self.month // 12, self.month % 12 + 1)

    def previous(self) -> Month:
        return Month(self.year - (self.month == 1), (self.month - 2) % 12 + 1)

    def start(self, tz: ZoneInfo) -> int:
        """Day 1, 00:00:00 local time, as a Unix timestamp."""
        return int(datetime(self.year, self.month, 1, tzinfo=tz).timestamp())

    def bounds(self, tz: ZoneInfo) -> tuple[int, int]:
        """[start of this month, start of the next) in ``tz``."""
        return self.start(tz), self.next().start(tz)

    def count_until(self, last: Month) -> int:
        """How many months ``until(last)`` holds (0 when ``last`` is earlier), without listing
        them: a client may ask for thousands of years."""
        return max(0, (last.year - self.year) * 12 + last.month - self.month + 1)

    def until(self, last: Month) -> list[Month]:
        """This month through ``last``, inclusive."""
        months: list[Month] = []
        current = self
        while current <= last:
            months.append(current)
            current = current.next()
        return months

    def __str__(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"
