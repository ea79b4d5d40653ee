"""Business-time arithmetic (sla.calendar) against its definition, stepped minute by minute.

The reference below is deliberately naive: it walks real time one minute at a time, converts
each minute's start to the calendar's zone with zoneinfo, and counts the minute if that local
date is not a holiday and the local time lies in a working interval of that weekday. The closed
form must agree with it on random calendars (lunch breaks, empty days, half-hour DST on Lord
Howe Island, a +05:30 zone, holidays), and must round-trip, be additive and never count closed
time, to the microsecond.
"""

import functools
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sla.calendar import Calendar, format_hours, parse_hours

MINUTE = timedelta(minutes=1)
US = timedelta(microseconds=1)
MINUTE_US = 60_000_000
HOUR = timedelta(hours=1)
ZONES = ["America/Chicago", "Europe/Berlin", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"]
# Days around which offsets change in 2026 (Chicago, Berlin, Lord Howe), plus quiet days.
ANCHORS = [
    date(2026, 3, 8), date(2026, 11, 1), date(2026, 3, 29), date(2026, 10, 25),
    date(2026, 4, 5), date(2026, 10, 4), date(2026, 11, 26), date(2026, 12, 31),
    date(2025, 6, 15), date(2027, 1, 20),
]  # fmt: skip
OFFICE = [[(540, 1020)]] * 5 + [[], []]  # Monday to Friday, 09:00-17:00
LUNCH = [[(540, 720), (780, 1020)]] * 5 + [[], []]  # with a break 12:00-13:00
ALL_DAY = [[(0, 1440)]] * 7  # every minute is working time, but in a zone (not 24/7)

# --- the reference ----------------------------------------------------------------------------


@functools.cache
def _country_holidays(country: str, year: int) -> frozenset[date]:
    return frozenset(holidays.country_holidays(country, years=year).keys())


class Reference:
    """The definition of business time, one minute at a time (minute-aligned instants)."""

    def __init__(self, tz_name, week, always_open=False, holiday_country="", custom=()):
        self.tz = ZoneInfo(tz_name)
        self.week = week
        self.always_open = always_open
        self.country = holiday_country
        self.custom = frozenset(custom)

    def is_holiday(self, day: date) -> bool:
        if day in self.custom:
            return True
        return bool(self.country) and day in _country_holidays(self.country, day.year)

    def working(self, minute: datetime) -> bool:
        """Whether the minute starting at this instant is working time."""
        if self.always_open:
            return True
        local = minute.astimezone(self.tz)
        if self.is_holiday(local.date()):
            return False
        minute_of_day = local.hour * 60 + local.minute
        return any(s <= minute_of_day < e for s, e in self.week[local.weekday()])

    def minutes_between(self, start: datetime, end: datetime) -> int:
        assert start.second == start.microsecond == end.second == end.microsecond == 0
        count, minute = 0, start
        while minute < end:
            count += self.working(minute)
            minute += MINUTE
        return count

    def add(self, start: datetime, minutes: int, limit: int = 200_000) -> datetime:
        """The end of the minute that brings the count to `minutes`: the earliest instant."""
        instant = start
        for _ in range(limit):
            if minutes == 0:
                return instant
            minutes -= self.working(instant)
            instant += MINUTE
        raise AssertionError("the reference ran out of steps")


def reference_of(calendar: Calendar) -> Reference:
    return Reference(
        calendar.tz_name, calendar.week, calendar.always_open, calendar.holiday_country,
        calendar.custom_holidays,
    )  # fmt: skip


# --- strategies -------------------------------------------------------------------------------

boundary = st.one_of(st.integers(0, 96).map(lambda q: q * 15), st.integers(0, 1440))


@st.composite
def day_hours(draw) -> list[tuple[int, int]]:
    """Working intervals of one day: cut the day at sorted points and work some of the pieces.
    Adjacent worked pieces touch (09:00-12:00, 12:00-13:00); a skipped piece is a break."""
    kind = draw(st.sampled_from(["empty", "office", "lunch", "random", "random", "random"]))
    if kind == "empty":
        return []
    if kind == "office":
        return [(540, 1020)]
    if kind == "lunch":
        return [(540, 720), (780, 1020)]
    points = sorted(draw(st.sets(boundary, min_size=2, max_size=7)))
    worked = draw(st.lists(st.booleans(), min_size=len(points) - 1, max_size=len(points) - 1))
    return [pair for pair, on in zip(pairwise(points), worked, strict=True) if on]


@st.composite
def calendars(draw) -> Calendar:
    tz_name = draw(st.sampled_from(ZONES))
    week = [draw(day_hours()) for _ in range(7)]
    if not any(week):
        week[draw(st.integers(0, 6))] = [(540, 1020)]
    # The text form the UI stores must give the same intervals back.
    week = [parse_hours(format_hours(day)) for day in week]
    anchor = draw(st.sampled_from(ANCHORS))
    custom = draw(st.lists(st.integers(-12, 20), max_size=4))
    return Calendar(
        tz_name,
        week=week,
        always_open=draw(st.sampled_from([False] * 12 + [True])),
        holiday_country=draw(st.sampled_from(["", "", "US", "DE"])),
        custom_holidays=frozenset(anchor + timedelta(days=d) for d in custom),
    )


@st.composite
def minutes_near_anchor(draw) -> datetime:
    """A minute-aligned instant within a week or so of a day on which clocks change."""
    anchor = draw(st.sampled_from(ANCHORS))
    base = datetime(anchor.year, anchor.month, anchor.day, tzinfo=UTC)
    return base + draw(st.integers(-8 * 1440, 3 * 1440)) * MINUTE


instants = st.builds(
    lambda minute, micro: minute + micro * US,
    minutes_near_anchor(),
    st.one_of(st.just(0), st.integers(0, MINUTE_US - 1)),
)
spans = st.integers(0, 10 * 1440)  # minutes, up to ten days
micro_spans = st.integers(0, 10 * 86_400 * 1_000_000)

PROPERTY = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- properties -------------------------------------------------------------------------------


@PROPERTY
@given(calendars(), minutes_near_anchor(), spans)
def test_business_time_agrees_with_the_minute_by_minute_reference(calendar, start, span):
    end = start + span * MINUTE
    reference = reference_of(calendar)
    assert calendar.business_us(start, end) == reference.minutes_between(start, end) * MINUTE_US
    assert calendar.business_time(start, end) == reference.minutes_between(start, end) * MINUTE
    assert calendar.is_working(start) == reference.working(start)
    assert calendar.business_us(end, start) == 0


@PROPERTY
@given(calendars(), minutes_near_anchor(), st.integers(0, 4 * 1440))
def test_add_agrees_with_the_reference_on_whole_minutes(calendar, start, minutes):
    reference = reference_of(calendar)
    # Keep the reference's walk short on calendars with little working time a week.
    minutes = min(minutes, calendar._week_total // MINUTE_US)
    assert calendar.add(start, minutes * MINUTE) == reference.add(start, minutes)


@PROPERTY
@given(calendars(), instants, micro_spans)
def test_add_then_measure_round_trips_exactly(calendar, start, amount_us):
    amount = amount_us * US
    end = calendar.add(start, amount)
    assert end >= start
    assert calendar.business_time(start, end) == amount
    assert calendar.add_us(start, amount_us) == end


@PROPERTY
@given(calendars(), instants, micro_spans)
def test_add_returns_the_earliest_such_instant(calendar, start, amount_us):
    end = calendar.add_us(start, amount_us)
    if amount_us == 0:
        assert end == start.astimezone(UTC)
    else:
        # A microsecond earlier, less time has elapsed: the deadline is not padded.
        assert calendar.business_us(start, end - US) == amount_us - 1
        # And the deadline lies in working time (or at the end of a working stretch).
        assert calendar.is_working(end - US)


@PROPERTY
@given(calendars(), instants, micro_spans)
def test_business_time_never_exceeds_wall_time(calendar, start, span_us):
    end = start + span_us * US
    elapsed = calendar.business_time(start, end)
    assert timedelta(0) <= elapsed <= end - start
    if calendar.always_open:
        assert elapsed == end - start


@PROPERTY
@given(calendars(), minutes_near_anchor(), st.integers(0, MINUTE_US - 1))
def test_a_span_inside_closed_time_counts_nothing(calendar, start, shave_us):
    reference = reference_of(calendar)
    limit = 3 * 1440
    gap_start, steps = start, 0
    while reference.working(gap_start) and steps < limit:  # to the next closed minute
        gap_start, steps = gap_start + MINUTE, steps + 1
    gap_end, steps = gap_start, 0
    while not reference.working(gap_end) and steps < limit:  # to the end of the closed run
        gap_end, steps = gap_end + MINUTE, steps + 1
    if gap_end == gap_start:  # open around the clock for days: nothing closed to look at
        assert calendar.business_time(start, gap_start) == gap_start - start
        return
    assert calendar.business_us(gap_start, gap_end) == 0
    assert calendar.business_us(gap_start + shave_us * US, gap_end - shave_us * US) == 0
    assert not calendar.is_working(gap_start + shave_us * US)
    if steps < limit:  # the run ended because work resumed: its first minute counts
        assert calendar.business_us(gap_start, gap_end + MINUTE) == MINUTE_US
        # Adding any amount from inside the gap lands after it.
        assert calendar.add_us(gap_start + shave_us * US, 1) == gap_end + US


@PROPERTY
@given(calendars(), instants, micro_spans, micro_spans)
def test_business_time_is_additive(calendar, a, first_us, second_us):
    b = a + first_us * US
    c = b + second_us * US
    assert calendar.business_us(a, b) + calendar.business_us(b, c) == calendar.business_us(a, c)


# --- daylight saving, named -------------------------------------------------------------------


def local(tz_name: str, *args) -> datetime:
    """The instant (in UTC, so that arithmetic is real time) of a local wall-clock time, its
    first occurrence if repeated."""
    return datetime(*args, tzinfo=ZoneInfo(tz_name)).astimezone(UTC)


@pytest.mark.parametrize(
    ("tz_name", "day", "hours"),
    [
        ("America/Chicago", date(2026, 3, 8), 23),
        ("America/Chicago", date(2026, 11, 1), 25),
        ("Europe/Berlin", date(2026, 3, 29), 23),
        ("Europe/Berlin", date(2026, 10, 25), 25),
        ("America/Chicago", date(2026, 3, 9), 24),
    ],
)
def test_a_working_day_around_the_clock_is_as_long_as_the_clocks_say(tz_name, day, hours):
    calendar = Calendar(tz_name, week=ALL_DAY)
    midnight = local(tz_name, day.year, day.month, day.day)
    next_midnight = local(tz_name, *(day + timedelta(days=1)).timetuple()[:3])
    assert next_midnight - midnight == hours * HOUR  # aware arithmetic in UTC: real time
    assert calendar.business_time(midnight, next_midnight) == hours * HOUR
    assert calendar.add(midnight, hours * HOUR) == next_midnight
    assert calendar.add(midnight, hours * HOUR - US) < next_midnight
    assert reference_of(calendar).minutes_between(midnight, next_midnight) == hours * 60


def test_chicago_spring_forward_skips_the_hour_that_does_not_exist():
    # Sundays 01:00-04:00; on 8 March 2026 02:00 CST jumps to 03:00 CDT.
    calendar = Calendar("America/Chicago", week=[[]] * 6 + [[(60, 240)]])
    day_start = local("America/Chicago", 2026, 3, 8)
    day_end = local("America/Chicago", 2026, 3, 9)
    assert calendar.business_time(day_start, day_end) == 2 * HOUR
    one_am = datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 01:00 CST
    assert calendar.add(one_am, HOUR) == datetime(2026, 3, 8, 8, 0, tzinfo=UTC)  # 03:00 CDT
    assert calendar.add(one_am, 90 * MINUTE) == datetime(2026, 3, 8, 8, 30, tzinfo=UTC)
    assert calendar.add(one_am, 2 * HOUR) == datetime(2026, 3, 8, 9, 0, tzinfo=UTC)  # 04:00 CDT
    assert calendar.business_time(one_am, datetime(2026, 3, 8, 8, 0, tzinfo=UTC)) == HOUR


def test_chicago_fall_back_counts_the_repeated_hour_twice():
    # Sundays 01:00-04:00; on 1 November 2026 02:00 CDT falls back to 01:00 CST.
    calendar = Calendar("America/Chicago", week=[[]] * 6 + [[(60, 240)]])
    day_start = local("America/Chicago", 2026, 11, 1)
    day_end = local("America/Chicago", 2026, 11, 2)
    assert calendar.business_time(day_start, day_end) == 4 * HOUR
    one_am_cdt = datetime(2026, 11, 1, 6, 0, tzinfo=UTC)
    assert calendar.add(one_am_cdt, HOUR) == datetime(2026, 11, 1, 7, 0, tzinfo=UTC)  # 01:00 CST
    assert calendar.add(one_am_cdt, 4 * HOUR) == datetime(2026, 11, 1, 10, 0, tzinfo=UTC)  # 04:00
    assert calendar.add(one_am_cdt, 4 * HOUR + US) == datetime(2026, 11, 8, 7, 0, tzinfo=UTC) + US


def test_berlin_fall_back_counts_the_repeated_hour_twice():
    # Sundays 01:00-04:00; on 25 October 2026 03:00 CEST falls back to 02:00 CET.
    calendar = Calendar("Europe/Berlin", week=[[]] * 6 + [[(60, 240)]])
    assert calendar.business_time(
        local("Europe/Berlin", 2026, 10, 25), local("Europe/Berlin", 2026, 10, 26)
    ) == 4 * HOUR  # fmt: skip
    assert calendar.business_time(
        local("Europe/Berlin", 2026, 3, 29), local("Europe/Berlin", 2026, 3, 30)
    ) == 2 * HOUR  # fmt: skip


@pytest.mark.parametrize(
    ("tz_name", "friday"),
    [
        ("America/Chicago", date(2026, 3, 6)),
        ("America/Chicago", date(2026, 10, 30)),
        ("Europe/Berlin", date(2026, 3, 27)),
        ("Europe/Berlin", date(2026, 10, 23)),
    ],
)
def test_office_hours_across_the_weekend_of_the_change(tz_name, friday):
    calendar = Calendar(tz_name, week=OFFICE)
    monday = friday + timedelta(days=3)
    friday_four = local(tz_name, friday.year, friday.month, friday.day, 16)
    monday_ten = local(tz_name, monday.year, monday.month, monday.day, 10)
    # The deadline keeps its local wall-clock time although the weekend was 71 or 73 hours.
    assert calendar.add(friday_four, 2 * HOUR) == monday_ten
    assert calendar.business_time(friday_four, monday_ten) == 2 * HOUR
    friday_nine = local(tz_name, friday.year, friday.month, friday.day, 9)
    monday_five = local(tz_name, monday.year, monday.month, monday.day, 17)
    assert calendar.business_time(friday_nine, monday_five) == 16 * HOUR
    assert abs(monday_ten - friday_four - 66 * HOUR) == HOUR


def test_lord_howe_half_hour_shift():
    calendar = Calendar("Australia/Lord_Howe", week=ALL_DAY)
    # 5 April 2026: 02:00 (+11) falls back to 01:30 (+10:30): a 24.5-hour day.
    start = local("Australia/Lord_Howe", 2026, 4, 5)
    end = local("Australia/Lord_Howe", 2026, 4, 6)
    assert calendar.business_time(start, end) == timedelta(hours=24, minutes=30)
    # 4 October 2026: 02:00 (+10:30) jumps to 02:30 (+11): a 23.5-hour day.
    start = local("Australia/Lord_Howe", 2026, 10, 4)
    end = local("Australia/Lord_Howe", 2026, 10, 5)
    assert calendar.business_time(start, end) == timedelta(hours=23, minutes=30)


# --- holidays, breaks, 24/7 -------------------------------------------------------------------


def test_thanksgiving_is_skipped():
    calendar = Calendar("America/Chicago", week=OFFICE, holiday_country="US")
    wednesday_four = local("America/Chicago", 2026, 11, 25, 16)
    assert calendar.is_holiday(date(2026, 11, 26))
    assert not calendar.is_holiday(date(2026, 11, 27))
    # One hour on Wednesday, none on Thursday, one on Friday morning.
    assert calendar.add(wednesday_four, 2 * HOUR) == local("America/Chicago", 2026, 11, 27, 10)
    assert calendar.business_time(
        wednesday_four, local("America/Chicago", 2026, 11, 27, 17)
    ) == 9 * HOUR  # fmt: skip
    assert not calendar.is_working(local("America/Chicago", 2026, 11, 26, 10))
    # Without the holidays the same add ends on Thursday.
    plain = Calendar("America/Chicago", week=OFFICE)
    assert plain.add(wednesday_four, 2 * HOUR) == local("America/Chicago", 2026, 11, 26, 10)


def test_a_deadline_spilling_a_moment_into_a_holiday_skips_the_whole_holiday():
    # A hand-off at 16:00:00.5 the day before Thanksgiving: half a second of the hour is left
    # for the holiday. (The holiday search once crept forward by that half second per round
    # and gave up: "no working time left".)
    calendar = Calendar("America/Chicago", week=OFFICE, holiday_country="US")
    start = local("America/Chicago", 2026, 11, 25, 16) + timedelta(milliseconds=500)
    due = calendar.add(start, HOUR)
    assert due == local("America/Chicago", 2026, 11, 27, 9) + timedelta(milliseconds=500)
    assert calendar.business_time(start, due) == HOUR
    one_micro = Calendar("UTC", week=[[]] * 6 + [[(540, 1020)]],
                         custom_holidays=frozenset({date(2026, 3, 8)}))  # fmt: skip
    sunday_nine = datetime(2026, 3, 15, 9, tzinfo=UTC)  # the next Sunday that is not a holiday
    assert one_micro.add_us(datetime(2026, 3, 8, tzinfo=UTC), 1) == sunday_nine + US


def test_custom_holidays_are_skipped_even_back_to_back():
    calendar = Calendar(
        "Europe/Berlin", week=OFFICE,
        custom_holidays=frozenset({date(2026, 6, 9), date(2026, 6, 10), date(2026, 6, 12)}),
    )  # fmt: skip
    monday_four = local("Europe/Berlin", 2026, 6, 8, 16)
    # Monday 16-17, Thursday 09-17 (Tuesday, Wednesday off), Friday off, Monday 09-10.
    assert calendar.add(monday_four, 10 * HOUR) == local("Europe/Berlin", 2026, 6, 15, 10)
    assert calendar.add(monday_four, 9 * HOUR) == local("Europe/Berlin", 2026, 6, 11, 17)
    assert calendar.holidays_between(date(2026, 6, 1), date(2026, 6, 30)) == [
        date(2026, 6, 9), date(2026, 6, 10), date(2026, 6, 12),
    ]  # fmt: skip


def test_a_holiday_calendar_with_a_subdivision():
    calendar = Calendar("Europe/Berlin", week=OFFICE, holiday_country="DE",
                        holiday_subdivision="BY")  # fmt: skip
    # Epiphany (6 January) is a holiday in Bavaria, not nationally.
    assert calendar.is_holiday(date(2026, 1, 6))
    assert not Calendar("Europe/Berlin", week=OFFICE, holiday_country="DE").is_holiday(
        date(2026, 1, 6)
    )


def test_a_lunch_break_does_not_count():
    calendar = Calendar("America/Chicago", week=LUNCH)
    tuesday = (2026, 11, 24)
    assert calendar.add(local("America/Chicago", *tuesday, 11, 30), HOUR) == local(
        "America/Chicago", *tuesday, 13, 30
    )
    assert calendar.add(local("America/Chicago", *tuesday, 11), HOUR) == local(
        "America/Chicago", *tuesday, 12
    )  # the earliest instant: the end of the morning, not the start of the afternoon
    assert calendar.business_time(
        local("America/Chicago", *tuesday, 9), local("America/Chicago", *tuesday, 17)
    ) == 7 * HOUR  # fmt: skip
    assert calendar.business_time(
        local("America/Chicago", *tuesday, 12, 10), local("America/Chicago", *tuesday, 12, 50)
    ) == timedelta(0)  # fmt: skip
    assert not calendar.is_working(local("America/Chicago", *tuesday, 12, 30))
    assert calendar.is_working(local("America/Chicago", *tuesday, 13))


def test_around_the_clock_counts_real_time_across_dst_and_holidays():
    calendar = Calendar("America/Chicago", always_open=True, holiday_country="US")
    start = local("America/Chicago", 2026, 3, 7, 12)
    assert calendar.add(start, 48 * HOUR) == start + 48 * HOUR
    assert calendar.add(start, 48 * HOUR).astimezone(calendar.tz).hour == 13  # lost an hour
    thanksgiving = local("America/Chicago", 2026, 11, 26)
    assert calendar.business_time(thanksgiving, thanksgiving + 24 * HOUR) == 24 * HOUR
    assert calendar.is_working(thanksgiving)


def test_week_spanning_many_years_matches_whole_weeks():
    calendar = Calendar("UTC", week=LUNCH)
    start = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
    weeks = 52 * 5
    assert calendar.business_time(start, start + weeks * timedelta(weeks=1)) == weeks * 35 * HOUR
    assert calendar.add(start, weeks * 35 * HOUR) == start + (weeks - 1) * timedelta(
        weeks=1
    ) + timedelta(days=4, hours=17)  # the last Friday at 17:00, not the next Monday


def test_instants_before_the_calendar_epoch():
    calendar = Calendar("Europe/Berlin", week=OFFICE)
    monday = local("Europe/Berlin", 1999, 12, 27, 9)
    assert calendar.business_time(monday, monday + timedelta(weeks=2)) == 80 * HOUR
    assert calendar.add(monday, 80 * HOUR) == local("Europe/Berlin", 2000, 1, 7, 17)


# --- parsing and validation -------------------------------------------------------------------


def test_parse_hours_reads_intervals_in_minutes():
    assert parse_hours("09:00-12:00, 13:00-17:30") == [(540, 720), (780, 1050)]
    assert parse_hours(" 13:00 - 17:00 ,09:00-12:00 ") == [(540, 720), (780, 1020)]
    assert parse_hours("") == []
    assert parse_hours("00:00-24:00") == [(0, 1440)]
    assert parse_hours("09:00-12:00, 12:00-13:00") == [(540, 720), (720, 780)]  # touching
    assert format_hours(parse_hours("09:00-12:00, 13:00-17:30")) == "09:00-12:00, 13:00-17:30"


@pytest.mark.parametrize(
    "text",
    ["09:00-12:00, 11:00-13:00", "09:00-17:00, 10:00-11:00", "09:00-12:00, 09:00-10:00"],
)
def test_parse_hours_refuses_overlaps(text):
    with pytest.raises(ValueError, match="must not overlap"):
        parse_hours(text)


@pytest.mark.parametrize(
    "text",
    ["9-17", "09:00", "09:00-", "nine-five", "09:00-17:00-18:00", "09:0-17:00", "09:75-11:00",
     "09:00-10:60", "-09:00-10:00", "09:00 to 17:00"],
)  # fmt: skip
def test_parse_hours_refuses_bad_format(text):
    with pytest.raises(ValueError, match="is not a time range"):
        parse_hours(text)


@pytest.mark.parametrize("text", ["17:00-09:00", "09:00-09:00", "23:00-25:00", "00:00-24:30"])
def test_parse_hours_refuses_empty_or_backward_ranges(text):
    with pytest.raises(ValueError, match="must start before it ends"):
        parse_hours(text)


def test_a_calendar_needs_some_working_time():
    with pytest.raises(ValueError, match="needs some working time"):
        Calendar("America/Chicago", week=[[] for _ in range(7)])
    assert Calendar("America/Chicago", week=[[] for _ in range(7)], always_open=True)


def test_adding_a_negative_amount_is_refused():
    calendar = Calendar("UTC", week=OFFICE)
    with pytest.raises(ValueError, match="must not be negative"):
        calendar.add(datetime(2026, 1, 5, tzinfo=UTC), -MINUTE)


def test_measuring_backwards_gives_zero():
    calendar = Calendar("UTC", week=OFFICE)
    later, earlier = datetime(2026, 1, 6, 12, tzinfo=UTC), datetime(2026, 1, 5, 12, tzinfo=UTC)
    assert calendar.business_time(later, earlier) == timedelta(0)
