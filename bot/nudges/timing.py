"""When nudges fall due, in the user's own time zone. Pure functions of (now, settings).

Days are walked as local calendar dates, never as 24-hour steps, so a daylight-saving change
neither skips nor doubles a day; a local time that does not exist (the hour skipped in spring)
lands just after the gap.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

WEEKDAYS = (0, 1, 2, 3, 4)
EVERY_DAY = (0, 1, 2, 3, 4, 5, 6)
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True, slots=True)
class NudgeSettings:
    enabled: bool = False
    at: str = "09:00"  # local time of day, HH:MM
    days: tuple[int, ...] = EVERY_DAY  # Monday = 0
    quiet_start: str | None = None  # quiet hours, local HH:MM (may wrap midnight)
    quiet_end: str | None = None
    paused_until: str | None = None  # local ISO date: nothing before it
    track: bool = True  # the short track of next steps after a rejection
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: dict[str, Any] | None) -> NudgeSettings:
        raw = dict(raw or {})
        days = tuple(int(d) for d in raw.get("days", EVERY_DAY)) or EVERY_DAY
        return cls(
            enabled=bool(raw.get("enabled", False)),
            at=str(raw.get("at", "09:00")),
            days=days,
            quiet_start=raw.get("quiet_start"),
            quiet_end=raw.get("quiet_end"),
            paused_until=raw.get("paused_until"),
            track=bool(raw.get("track", True)),
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled,
            "at": self.at,
            "days": list(self.days),
            "quiet_start": self.quiet_start,
            "quiet_end": self.quiet_end,
            "paused_until": self.paused_until,
            "track": self.track,
        }


@lru_cache(maxsize=1024)
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def _hhmm(value: str) -> time:
    hour, minute = value.split(":")
    return time(int(hour), int(minute))


def valid_timezone(name: str) -> bool:
    try:
        zone(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def local_datetime(day: date, at: str, tz: str) -> datetime:
    """`at` on `day` in `tz`, as aware UTC. With fold=0 (PEP 495) a time inside the spring-
    forward gap maps past the gap, and a repeated autumn time means its first occurrence."""
    return datetime.combine(day, _hhmm(at), tzinfo=zone(tz)).astimezone(UTC)


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(zone(tz)).date()


def next_daily(after: datetime, tz: str, settings: NudgeSettings) -> datetime:
    """The first nudge time strictly after `after` on an allowed day, outside any pause."""
    day = local_date(after, tz)
    paused = date.fromisoformat(settings.paused_until) if settings.paused_until else None
    for _ in range(400):
        if day.weekday() in settings.days and (paused is None or day >= paused):
            at = local_datetime(day, settings.at, tz)
            if at > after:
                return at
        day += timedelta(days=1)
    raise ValueError("no allowed day in the next 400 days")


def in_quiet_hours(moment: datetime, tz: str, settings: NudgeSettings) -> bool:
    if not (settings.quiet_start and settings.quiet_end):
        return False
    now = moment.astimezone(zone(tz)).time()
    start, end = _hhmm(settings.quiet_start), _hhmm(settings.quiet_end)
    return start <= now < end if start <= end else now >= start or now < end


def out_of_quiet(moment: datetime, tz: str, settings: NudgeSettings) -> datetime:
    """`moment`, or the end of the quiet hours it falls in."""
    if not in_quiet_hours(moment, tz, settings):
        return moment
    assert settings.quiet_end is not None
    day = local_date(moment, tz)
    end = local_datetime(day, settings.quiet_end, tz)
    return end if end > moment else local_datetime(day + timedelta(days=1), settings.quiet_end, tz)


def add_working_days(start: datetime, days: int, tz: str, settings: NudgeSettings) -> datetime:
    """`days` of the user's own working days after `start`, at their nudge time."""
    day = local_date(start, tz)
    allowed = settings.days if settings.days != EVERY_DAY else WEEKDAYS
    counted = 0
    while counted < days:
        day += timedelta(days=1)
        if day.weekday() in allowed:
            counted += 1
    return local_datetime(day, settings.at, tz)


def snooze_until(choice: str, now: datetime, tz: str, settings: NudgeSettings) -> datetime:
    """One-tap snoozes: an hour, this evening (18:00, or in three hours if later), next
    working day at the usual time."""
    if choice == "1h":
        return now + timedelta(hours=1)
    if choice == "evening":
        evening = local_datetime(local_date(now, tz), "18:00", tz)
        return evening if evening > now + timedelta(minutes=30) else now + timedelta(hours=3)
    day = local_date(now, tz) + timedelta(days=1)
    allowed = settings.days if settings.days != EVERY_DAY else WEEKDAYS
    while day.weekday() not in allowed:
        day += timedelta(days=1)
    return local_datetime(day, settings.at, tz)


_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.h](\d{2}))?\s*(am|pm|a\.m\.|p\.m\.)?\s*$", re.I)


def parse_time(text: str) -> str | None:
    """ "9", "9am", "09:30", "6.30 pm", "18h15" -> "HH:MM"; None if not a time of day."""
    m = _TIME.match(text.strip().lower())
    if not m:
        return None
    hour, minute, half = int(m.group(1)), int(m.group(2) or 0), (m.group(3) or "").replace(".", "")
    if half == "pm" and hour < 12:
        hour += 12
    if half == "am" and hour == 12:
        hour = 0
    if not (0 <= hour < 24 and 0 <= minute < 60) or (half and int(m.group(1)) > 12):
        return None
    return f"{hour:02d}:{minute:02d}"


@lru_cache(maxsize=1)
def _cities() -> dict[str, str]:
    out: dict[str, str] = {}
    for name in sorted(available_timezones()):
        if name.startswith(("Etc/", "SystemV/")) or "/" not in name:
            continue
        city = name.rsplit("/", 1)[1].replace("_", " ").lower()
        out.setdefault(city, name)
    # A few cities people name that are not zone names.
    for city, name in {
        "san francisco": "America/Los_Angeles",
        "seattle": "America/Los_Angeles",
        "boston": "America/New_York",
        "washington": "America/New_York",
        "miami": "America/New_York",
        "atlanta": "America/New_York",
        "austin": "America/Chicago",
        "dallas": "America/Chicago",
        "houston": "America/Chicago",
        "montreal": "America/Toronto",
        "manchester": "Europe/London",
        "edinburgh": "Europe/London",
        "glasgow": "Europe/London",
        "cork": "Europe/Dublin",
        "munich": "Europe/Berlin",
        "hamburg": "Europe/Berlin",
        "frankfurt": "Europe/Berlin",
        "barcelona": "Europe/Madrid",
        "milan": "Europe/Rome",
        "mumbai": "Asia/Kolkata",
        "delhi": "Asia/Kolkata",
        "new delhi": "Asia/Kolkata",
        "bangalore": "Asia/Kolkata",
        "bengaluru": "Asia/Kolkata",
        "beijing": "Asia/Shanghai",
        "wellington": "Pacific/Auckland",
        "canberra": "Australia/Sydney",
    }.items():
        out.setdefault(city, name)
    return out


def find_timezone(text: str, now: datetime) -> str | None:
    """An IANA zone from what a user types: "Europe/Berlin", a city ("new york"), or the time
    it is for them now ("14:30", "2:30pm"), which gives a fixed offset zone."""
    raw = " ".join(text.strip().split())
    if not raw:
        return None
    for candidate in (raw, raw.replace(" ", "_")):
        if "/" in candidate or candidate.upper() == "UTC":
            try:
                zone(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
            return candidate
    city = _cities().get(raw.lower().split(",")[0].strip())
    if city:
        return city
    told = parse_time(raw)
    if told is None:
        return None
    theirs = datetime.combine(now.date(), _hhmm(told))
    minutes = round((theirs - now.replace(tzinfo=None)).total_seconds() / 60 / 30) * 30
    minutes = (minutes + 12 * 60) % (24 * 60) - 12 * 60  # within a day of UTC
    if minutes % 60:
        return None  # half-hour zones need a city
    hours = minutes // 60
    # Etc/GMT signs are inverted: Etc/GMT-2 is two hours ahead of UTC.
    return "UTC" if hours == 0 else f"Etc/GMT{'-' if hours > 0 else '+'}{abs(hours)}"


def describe_days(days: tuple[int, ...]) -> str:
    if tuple(days) == EVERY_DAY:
        return "every day"
    if tuple(days) == WEEKDAYS:
        return "Monday to Friday"
    names = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
    return ", ".join(names[d] for d in sorted(days))
