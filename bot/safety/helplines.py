"""Crisis helplines by country, the international directory and emergency numbers.

The table is data in ``helplines.yaml``, read and validated once at import; every entry names
the official page its number was checked against (``source``). Lookups are pure and cheap.

>>> [h.phone for h in helplines_for("gb")][:1]
['116 123']
>>> emergency_number("AU"), emergency_number(None)
('000', '112')
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import yaml

__all__ = [
    "HELPLINES_PATH",
    "Helpline",
    "HelplineTable",
    "emergency_number",
    "helplines_for",
    "international_directory",
    "known_countries",
    "load_helplines",
]

HELPLINES_PATH: Final = Path(__file__).with_name("helplines.yaml")

# Helpline.country of the international directory, which belongs to no country.
INTERNATIONAL: Final = "INT"

_COUNTRY: Final = re.compile(r"[A-Z]{2}")
_NUMBER: Final = re.compile(r"[0-9][0-9 \-]*[0-9]|[0-9]")
_URL: Final = re.compile(r"https://[^\s/]+\.[^\s/]+(?:/\S*)?")


@dataclass(frozen=True, slots=True)
class Helpline:
    """One crisis line: ``phone`` to dial and ``text`` to text (either may be None)."""

    country: str
    name: str
    phone: str | None
    text: str | None
    url: str | None
    source: str


@dataclass(frozen=True, slots=True)
class HelplineTable:
    """The validated contents of ``helplines.yaml``."""

    lines: Mapping[str, tuple[Helpline, ...]]
    international: Helpline
    emergency: Mapping[str, str]
    default_emergency: str
    aliases: Mapping[str, str]


def _fail(where: str, problem: str) -> ValueError:
    return ValueError(f"helplines.yaml: {where}: {problem}")


def _optional(value: Any, where: str, key: str, pattern: re.Pattern[str]) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise _fail(where, f"{key} {value!r} is not valid")
    return value


def _required(value: Any, where: str, key: str, pattern: re.Pattern[str] | None = None) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(where, f"needs a {key}")
    if pattern is not None and not pattern.fullmatch(value):
        raise _fail(where, f"{key} {value!r} is not valid")
    return value


def _code(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _COUNTRY.fullmatch(value):
        raise _fail(where, f"{value!r} is not an upper-case ISO 3166-1 alpha-2 code")
    return value


def load_helplines(data: Any) -> HelplineTable:
    """Validate parsed ``helplines.yaml`` data; raise ``ValueError`` naming the bad entry."""
    if not isinstance(data, Mapping):
        raise _fail("top level", "must be a mapping")

    intl = data.get("international")
    if not isinstance(intl, Mapping):
        raise _fail("international", "must be a mapping")
    international = Helpline(
        country=INTERNATIONAL,
        name=_required(intl.get("name"), "international", "name"),
        phone=None,
        text=None,
        url=_required(intl.get("url"), "international", "url", _URL),
        source=_required(intl.get("source"), "international", "source", _URL),
    )

    emergency_raw = data.get("emergency")
    if not isinstance(emergency_raw, Mapping):
        raise _fail("emergency", "must be a mapping")
    default = _required(emergency_raw.get("default"), "emergency", "default", _NUMBER)
    emergency: dict[str, str] = {}
    for code, entry in (emergency_raw.get("countries") or {}).items():
        where = f"emergency {code!r}"
        _code(code, where)
        if not isinstance(entry, Mapping):
            raise _fail(where, "must be a mapping with number and source")
        emergency[code] = _required(entry.get("number"), where, "number", _NUMBER)
        _required(entry.get("source"), where, "source", _URL)

    lines: dict[str, tuple[Helpline, ...]] = {}
    countries = data.get("countries")
    if not isinstance(countries, Mapping) or not countries:
        raise _fail("countries", "must be a non-empty mapping")
    for code, entries in countries.items():
        _code(code, f"country {code!r}")
        if not isinstance(entries, list) or not entries:
            raise _fail(f"country {code!r}", "must be a non-empty list of helplines")
        found: list[Helpline] = []
        for i, entry in enumerate(entries, 1):
            where = f"country {code!r} entry {i}"
            if not isinstance(entry, Mapping):
                raise _fail(where, "must be a mapping")
            unknown = set(entry) - {"name", "phone", "text", "url", "source"}
            if unknown:
                raise _fail(where, f"unknown keys {sorted(unknown)}")
            line = Helpline(
                country=code,
                name=_required(entry.get("name"), where, "name"),
                phone=_optional(entry.get("phone"), where, "phone", _NUMBER),
                text=_optional(entry.get("text"), where, "text", _NUMBER),
                url=_optional(entry.get("url"), where, "url", _URL),
                source=_required(entry.get("source"), where, "source", _URL),
            )
            if not (line.phone or line.text or line.url):
                raise _fail(where, "needs a phone, a text number or a url")
            found.append(line)
        lines[code] = tuple(found)

    aliases: dict[str, str] = {}
    for alias, code in (data.get("aliases") or {}).items():
        if not isinstance(alias, str) or code not in lines:
            raise _fail(f"alias {alias!r}", f"must point at a listed country, not {code!r}")
        aliases[alias.upper()] = code

    return HelplineTable(lines, international, emergency, default, aliases)


def _load_default() -> HelplineTable:
    with HELPLINES_PATH.open(encoding="utf-8") as fh:
        try:
            data = yaml.safe_load(fh)
        except yaml.YAMLError as exc:
            raise ValueError(f"helplines.yaml: not valid YAML: {exc}") from None
    return load_helplines(data)


_TABLE: Final = _load_default()


def _canonical(country: str | None) -> str | None:
    if not isinstance(country, str):
        return None
    code = country.strip().upper()
    return _TABLE.aliases.get(code, code) or None


def helplines_for(country: str | None) -> list[Helpline]:
    """Local crisis lines for an ISO 3166-1 alpha-2 code (any case); [] when none are listed."""
    code = _canonical(country)
    return list(_TABLE.lines.get(code, ())) if code else []


def international_directory() -> Helpline:
    """The international directory of crisis lines (findahelpline.com), for any country."""
    return _TABLE.international


def emergency_number(country: str | None) -> str:
    """The emergency number for a country ("911", "999", "000"...), "112" when not listed."""
    code = _canonical(country)
    return (
        _TABLE.emergency.get(code, _TABLE.default_emergency) if code else (_TABLE.default_emergency)
    )


def known_countries() -> set[str]:
    """Country codes that have at least one local helpline."""
    return set(_TABLE.lines)


def country_code(text: str | None) -> str | None:
    """The listed country a user means by a code or a name ("uk", "Ireland"), or None."""
    code = _canonical(" ".join(text.split()) if isinstance(text, str) else None)
    return code if code in _TABLE.lines else None
