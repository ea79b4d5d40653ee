"""Business-time arithmetic: how much working time lies between two instants, and which instant
lies a given amount of working time after another.

Everything is closed form. Within a stretch of constant UTC offset, local wall-clock time is UTC
plus a constant, so working time up to a local instant is

    W(t) = whole weeks * weekly working time + working time of the earlier weekdays
           + working time so far today

(a division and two binary searches), minus the holidays that fall in the span (a binary
search in the sorted holiday dates, then one term per holiday, not per day). A span crossing a
daylight-saving change is cut at the change: the time-zone transitions of a year are found once
by sampling and bisection, then cached. All amounts are integer microseconds, so adding then
measuring round-trips exactly.
"""

import bisect
import functools
import threading
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays as holiday_data

MICRO = 1_000_000
DAY_US = 86_400 * MICRO
# A Monday: weekday arithmetic counts whole weeks from here.
EPOCH = date(2001, 1, 1)
_MAX_HOLIDAY_ROUNDS = 10_000


def parse_hours(text: str) -> list[tuple[int, int]]:
    """'09:00-12:00, 13:00-17:30' → [(540, 720), (780, 1050)] in minutes; '' → no work."""
    intervals = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        try:
            start_text, end_text = (s.strip() for s in part.split("-"))
            start, end = _minutes(start_text), _minutes(end_text)
        except ValueError as error:
            raise ValueError(f"'{part}' is not a time range like 09:00-17:00.") from error
        if not 0 <= start < end <= 1440:
            raise ValueError(f"'{part}' must start before it ends, within one day.")
        intervals.append((start, end))
    intervals.sort()
    for (_, end), (next_start, _) in pairwise(intervals):
        if next_start < end:
            raise ValueError("Working intervals of one day must not overlap.")
    return intervals


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    if not (hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and minutes < "60"):
        raise ValueError(text)
    return int(hours) * 60 + int(minutes)


def format_hours(intervals) -> str:
    return ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in intervals)


# --- time-zone transitions --------------------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _year_transitions(tz_name: str, year: int) -> tuple[datetime, ...]:
    """The UTC instants in `year` at which the zone's offset changes, to the second."""
    tz = ZoneInfo(tz_name)
    start = datetime(year, 1, 1, tzinfo=UTC)
    end = datetime(year + 1, 1, 1, tzinfo=UTC)
    step = timedelta(hours=6)  # no zone changes its offset twice within six hours
    found = []
    left, left_offset = start, start.astimezone(tz).utcoffset()
    while left < end:
        right = min(left + step, end)
        right_offset = right.astimezone(tz).utcoffset()
        if right_offset != left_offset:
            low, high = left, right  # offset(low) == left_offset != offset(high)
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                middle = middle.replace(microsecond=0)
                if middle.astimezone(tz).utcoffset() == left_offset:
                    low = middle
                else:
                    high = middle
            found.append(high)
        left, left_offset = right, right_offset
    return tuple(found)


def _transitions_between(tz_name: str, start: datetime, end: datetime) -> list[datetime]:
    """Offset changes strictly after `start` and strictly before `end`."""
    return [
        instant
        for year in range(start.year, end.year + 1)
        for instant in _year_transitions(tz_name, year)
        if start < instant < end
    ]


# --- the calendar -----------------------------------------------------------------------------


@dataclass
class _Day:
    starts: list[int]  # microseconds since local midnight
    ends: list[int]
    before: list[int]  # working time of this day before interval i
    through: list[int]  # working time of this day up to the end of interval i
    total: int


def _compile_day(intervals_minutes) -> _Day:
    starts, ends, before, through, total = [], [], [], [], 0
    for start, end in sorted(intervals_minutes):
        starts.append(start * 60 * MICRO)
        ends.append(end * 60 * MICRO)
        before.append(total)
        total += (end - start) * 60 * MICRO
        through.append(total)
    return _Day(starts, ends, before, through, total)


@dataclass
class Calendar:
    """A business calendar compiled for arithmetic. `week` is 7 lists (Monday first) of
    (start_minute, end_minute) working intervals in local time."""

    tz_name: str
    week: list[list[tuple[int, int]]] = field(default_factory=lambda: [[] for _ in range(7)])
    always_open: bool = False
    holiday_country: str = ""
    holiday_subdivision: str = ""
    custom_holidays: frozenset[date] = frozenset()

    def __post_init__(self):
        self.tz = ZoneInfo(self.tz_name)
        self._days = [_compile_day(day) for day in self.week]
        self._day_prefix = [0]
        for day in self._days:
            self._day_prefix.append(self._day_prefix[-1] + day.total)
        self._week_total = self._day_prefix[-1]
        if not self.always_open and self._week_total == 0:
            raise ValueError("A calendar needs some working time in the week, or to be 24/7.")
        self._holiday_years: set[int] = set()
        self._holidays: list[date] = sorted(self.custom_holidays)
        self._lock = threading.Lock()

    # Holidays ---------------------------------------------------------------------------------

    def _ensure_holiday_years(self, first: int, last: int) -> None:
        missing = [y for y in range(first, last + 1) if y not in self._holiday_years]
        if not missing:
            return
        with self._lock:
            dates = set(self._holidays)
            if self.holiday_country:
                dates.update(
                    holiday_data.country_holidays(
                        self.holiday_country, subdiv=self.holiday_subdivision or None,
                        years=missing,
                    ).keys()
                )  # fmt: skip
            self._holidays = sorted(dates)
            self._holiday_years.update(missing)

    def holidays_between(self, first: date, last: date) -> list[date]:
        """Holiday dates d with first <= d <= last."""
        self._ensure_holiday_years(first.year, last.year)
        low = bisect.bisect_left(self._holidays, first)
        high = bisect.bisect_right(self._holidays, last)
        return self._holidays[low:high]

    def is_holiday(self, day: date) -> bool:
        return bool(self.holidays_between(day, day))

    # Wall-clock arithmetic (one constant offset) ----------------------------------------------

    def _worked_before(self, local: datetime) -> int:
        """W(local): scheduled working microseconds from EPOCH to a naive local time, holidays
        ignored."""
        days = (local.date() - EPOCH).days
        weeks, weekday = divmod(days, 7)
        day = self._days[weekday]
        since_midnight = (
            local.hour * 3600 + local.minute * 60 + local.second
        ) * MICRO + local.microsecond
        i = bisect.bisect_right(day.starts, since_midnight) - 1
        today = 0 if i < 0 else day.before[i] + min(since_midnight, day.ends[i]) - day.starts[i]
        return weeks * self._week_total + self._day_prefix[weekday] + today

    def _local_at(self, worked: int) -> datetime:
        """The earliest naive local time t with W(t) == worked (worked > 0)."""
        weeks, rest = divmod(worked, self._week_total)
        if rest == 0:  # exactly a whole number of weeks: the end of the last working interval
            weeks, rest = weeks - 1, self._week_total
        weekday = bisect.bisect_left(self._day_prefix, rest) - 1
        day = self._days[weekday]
        rest -= self._day_prefix[weekday]
        i = bisect.bisect_left(day.through, rest)
        since_midnight = day.starts[i] + rest - day.before[i]
        day_date = EPOCH + timedelta(days=weeks * 7 + weekday)
        return datetime.combine(day_date, datetime.min.time()) + timedelta(
            microseconds=since_midnight
        )

    def _holiday_work(self, start: datetime, end: datetime, *, whole_days=False) -> int:
        """Scheduled working time of holidays within [start, end) (naive local); with
        `whole_days`, of every holiday that [start, end) enters, to the holiday's end."""
        total = 0
        for day in self.holidays_between(start.date(), end.date()):
            midnight = datetime.combine(day, datetime.min.time())
            next_midnight = midnight + timedelta(days=1)
            low = max(start, midnight)
            high = next_midnight if whole_days else min(end, next_midnight)
            if high > low and midnight < end:
                total += self._worked_before(high) - self._worked_before(low)
        return total

    def _local_worked(self, start: datetime, end: datetime) -> int:
        if end <= start:
            return 0
        return (
            self._worked_before(end) - self._worked_before(start) - self._holiday_work(start, end)
        )

    def _local_add(self, start: datetime, amount: int) -> datetime:
        if amount == 0:
            return start
        base = self._worked_before(start)
        skipped, end = 0, self._local_at(base + amount)
        # Skip each holiday the candidate end enters whole: skipping only the part before the
        # end would creep forward by the overshoot (a microsecond) per round.
        for _ in range(_MAX_HOLIDAY_ROUNDS):
            holiday_work = self._holiday_work(start, end, whole_days=True)
            if holiday_work == skipped:
                return end
            skipped = holiday_work
            end = self._local_at(base + amount + skipped)
        raise ValueError("The calendar has no working time left (every day is a holiday).")

    # Real instants ----------------------------------------------------------------------------

    def _local(self, instant: datetime, offset: timedelta) -> datetime:
        return (instant.astimezone(UTC) + offset).replace(tzinfo=None)

    def business_time(self, start: datetime, end: datetime) -> timedelta:
        """Working time between two aware instants (zero if end is not after start)."""
        return timedelta(microseconds=self.business_us(start, end))

    def business_us(self, start: datetime, end: datetime) -> int:
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        if end <= start:
            return 0
        if self.always_open:
            return (end - start) // timedelta(microseconds=1)
        cuts = [start, *_transitions_between(self.tz_name, start, end), end]
        total = 0
        for low, high in pairwise(cuts):
            offset = low.astimezone(self.tz).utcoffset()
            total += self._local_worked(self._local(low, offset), self._local(high, offset))
        return total

    def add(self, start: datetime, amount: timedelta) -> datetime:
        """The earliest instant with `amount` of working time between `start` and it."""
        return self.add_us(start, amount // timedelta(microseconds=1))

    def add_us(self, start: datetime, amount: int) -> datetime:
        if amount < 0:
            raise ValueError("Business time to add must not be negative.")
        start = start.astimezone(UTC)
        if self.always_open:
            return start + timedelta(microseconds=amount)
        current, remaining = start, amount
        while True:
            offset = current.astimezone(self.tz).utcoffset()
            local = self._local(current, offset)
            candidate = (self._local_add(local, remaining) - offset).replace(tzinfo=UTC)
            # Valid only if the offset held all the way: else stop at the change, carry on.
            changes = _transitions_between(self.tz_name, current, candidate)
            if not changes:
                return candidate
            remaining -= self._local_worked(local, self._local(changes[0], offset))
            current = changes[0]

    def is_working(self, instant: datetime) -> bool:
        """Whether the calendar is open at this instant."""
        if self.always_open:
            return True
        local = instant.astimezone(self.tz)
        if self.is_holiday(local.date()):
            return False
        minute_of_day = local.hour * 60 + local.minute + local.second / 60
        return any(s <= minute_of_day < e for s, e in self.week[local.weekday()])
