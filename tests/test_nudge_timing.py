"""When nudges fall due: local times, days, daylight saving, pauses, quiet hours, parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.nudges.timing import (
    WEEKDAYS,
    NudgeSettings,
    add_working_days,
    find_timezone,
    in_quiet_hours,
    next_daily,
    out_of_quiet,
    parse_time,
    snooze_until,
)

NY = "America/New_York"


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_daily_time_is_local() -> None:
    s = NudgeSettings(enabled=True, at="09:00")
    assert next_daily(utc(2026, 6, 1, 12, 0), NY, s) == utc(2026, 6, 1, 13, 0)  # EDT
    assert next_daily(utc(2026, 6, 1, 13, 0), NY, s) == utc(2026, 6, 2, 13, 0)
    assert next_daily(utc(2026, 1, 5, 12, 0), NY, s) == utc(2026, 1, 5, 14, 0)  # EST


def test_daylight_saving_neither_skips_nor_doubles_a_day() -> None:
    s = NudgeSettings(enabled=True, at="09:00")
    # US clocks spring forward on 2026-03-08 and fall back on 2026-11-01.
    times, t = [], utc(2026, 3, 6, 0, 0)
    for _ in range(4):
        t = next_daily(t, NY, s)
        times.append(t)
    assert times == [
        utc(2026, 3, 6, 14, 0),
        utc(2026, 3, 7, 14, 0),
        utc(2026, 3, 8, 13, 0),
        utc(2026, 3, 9, 13, 0),
    ]
    times, t = [], utc(2026, 10, 30, 0, 0)
    for _ in range(4):
        t = next_daily(t, NY, s)
        times.append(t)
    assert [x.astimezone().date().day for x in times] == [30, 31, 1, 2]


def test_a_time_inside_the_spring_gap_lands_after_it() -> None:
    s = NudgeSettings(enabled=True, at="02:30")
    at = next_daily(utc(2026, 3, 8, 0, 0), NY, s)  # 02:30 does not exist on 2026-03-08
    assert at == utc(2026, 3, 8, 7, 30)  # 03:30 EDT
    assert next_daily(at, NY, s) == utc(2026, 3, 9, 6, 30)


def test_fall_back_ambiguous_time_fires_once() -> None:
    s = NudgeSettings(enabled=True, at="01:30")
    first = next_daily(utc(2026, 11, 1, 0, 0), NY, s)
    second = next_daily(first, NY, s)
    assert (second - first).total_seconds() > 23 * 3600
    assert second.astimezone(UTC).date().day == 2


def test_weekdays_only_and_any_set_of_days() -> None:
    friday = utc(2026, 6, 5, 14, 0)
    assert next_daily(friday, NY, NudgeSettings(at="09:00", days=WEEKDAYS)) == utc(
        2026, 6, 8, 13, 0
    )
    sun_thu = NudgeSettings(at="09:00", days=(6, 0, 1, 2, 3))
    assert next_daily(utc(2026, 6, 4, 14, 0), NY, sun_thu) == utc(2026, 6, 7, 13, 0)


def test_pause_until_a_date() -> None:
    s = NudgeSettings(enabled=True, at="09:00", paused_until="2026-06-10")
    assert next_daily(utc(2026, 6, 1, 12, 0), NY, s) == utc(2026, 6, 10, 13, 0)


def test_quiet_hours_wrap_midnight() -> None:
    s = NudgeSettings(quiet_start="22:00", quiet_end="07:30")
    assert in_quiet_hours(utc(2026, 6, 2, 3, 0), NY, s)  # 23:00 local
    assert not in_quiet_hours(utc(2026, 6, 2, 12, 0), NY, s)
    assert out_of_quiet(utc(2026, 6, 2, 3, 0), NY, s) == utc(2026, 6, 2, 11, 30)


def test_working_days_and_snoozes() -> None:
    s = NudgeSettings(at="09:00")
    friday = utc(2026, 6, 5, 14, 0)
    assert add_working_days(friday, 3, NY, s) == utc(2026, 6, 10, 13, 0)
    assert snooze_until("1h", friday, NY, s) == utc(2026, 6, 5, 15, 0)
    assert snooze_until("evening", friday, NY, s) == utc(2026, 6, 5, 22, 0)
    assert snooze_until("nextday", friday, NY, s) == utc(2026, 6, 8, 13, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("9", "09:00"),
        ("9am", "09:00"),
        ("6.30 pm", "18:30"),
        ("18h15", "18:15"),
        ("12am", "00:00"),
        ("25:00", None),
        ("13pm", None),
        ("soon", None),
    ],
)
def test_parse_time(text: str, expected: str | None) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Europe/Berlin", "Europe/Berlin"),
        ("new york", NY),
        ("London, UK", "Europe/London"),
        ("bengaluru", "Asia/Kolkata"),
        ("america/los angeles", None),
        ("the moon", None),
        ("", None),
        ("14:00", "Etc/GMT-2"),
        ("7am", "Etc/GMT+5"),
        ("12:00", "UTC"),
    ],
)
def test_find_timezone(text: str, expected: str | None) -> None:
    assert find_timezone(text, utc(2026, 6, 1, 12, 0)) == expected
