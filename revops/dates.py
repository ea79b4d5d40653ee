"""Dates as people of an organization read them."""

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo


def day_range(first_day: date, last_day: date, zone: tzinfo | str) -> tuple[datetime, datetime]:
    """The instants [start, end) covering the calendar days first_day..last_day (inclusive) in
    `zone`: from the first day's midnight to the midnight after the last."""
    tz = ZoneInfo(zone) if isinstance(zone, str) else zone
    return (
        datetime.combine(first_day, time.min, tzinfo=tz),
        datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz),
    )
