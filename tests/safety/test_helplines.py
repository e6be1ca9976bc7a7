"""Tests for bot.safety.helplines: the table, lookups, emergency numbers and validation."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest
import yaml

from bot.safety import (
    Helpline,
    emergency_number,
    helplines_for,
    international_directory,
    known_countries,
)
from bot.safety.helplines import HELPLINES_PATH, load_helplines

RAW = yaml.safe_load(HELPLINES_PATH.read_text(encoding="utf-8"))

REQUIRED = {"US", "CA", "GB", "IE", "AU", "NZ", "IN", "DE", "FR", "ES", "NL"}


def test_required_countries_are_listed() -> None:
    assert known_countries() >= REQUIRED


@pytest.mark.parametrize(
    ("country", "name_part", "phone", "text"),
    [
        ("US", "988", "988", "988"),
        ("CA", "9-8-8", "988", "988"),
        ("GB", "Samaritans", "116 123", None),
        ("IE", "Samaritans", "116 123", None),
        ("AU", "Lifeline", "13 11 14", "0477 13 11 14"),
        ("NZ", "1737", "1737", "1737"),
        ("IN", "Tele-MANAS", "14416", None),
        ("DE", "TelefonSeelsorge", "0800 111 0 111", None),
        ("FR", "3114", "3114", None),
        ("ES", "024", "024", None),
        ("NL", "113", "113", None),
    ],
)
def test_first_line_per_country(country: str, name_part: str, phone: str, text: str | None) -> None:
    first = helplines_for(country)[0]
    assert first.country == country
    assert name_part in first.name
    assert (first.phone, first.text) == (phone, text)


def test_second_lines() -> None:
    assert [h.text for h in helplines_for("GB")] == [None, "85258"]
    assert [h.text for h in helplines_for("IE")] == [None, "50808"]
    assert [h.phone for h in helplines_for("DE")] == ["0800 111 0 111", "0800 111 0 222"]
    assert [h.phone for h in helplines_for("NL")] == ["113", "0800-0113"]


def test_every_entry_is_reachable_and_sourced() -> None:
    for code in known_countries():
        for line in helplines_for(code):
            assert line.source.startswith("https://"), line
            assert line.phone or line.text or line.url, line
            assert line.url is None or line.url.startswith("https://"), line


@pytest.mark.parametrize("code", ["gb", "Gb", " GB ", "GB"])
def test_lookup_is_case_and_space_insensitive(code: str) -> None:
    assert helplines_for(code) == helplines_for("GB")


def test_uk_is_an_alias_for_gb() -> None:
    assert helplines_for("uk") == helplines_for("GB")
    assert emergency_number("UK") == "999"


@pytest.mark.parametrize("code", [None, "", "ZZ", "XX", "123"])
def test_unknown_countries_get_no_local_lines(code: str | None) -> None:
    assert helplines_for(code) == []


def test_results_are_fresh_lists_of_frozen_helplines() -> None:
    lines = helplines_for("US")
    lines.clear()
    assert helplines_for("US")
    with pytest.raises(dataclasses.FrozenInstanceError):
        helplines_for("US")[0].phone = "0"  # type: ignore[misc]
    codes = known_countries()
    codes.add("ZZ")
    assert "ZZ" not in known_countries()


def test_international_directory() -> None:
    directory = international_directory()
    assert isinstance(directory, Helpline)
    assert directory.url == "https://findahelpline.com"
    assert directory.source.startswith("https://findahelpline.com")
    assert directory.phone is None


@pytest.mark.parametrize(
    ("country", "number"),
    [
        ("US", "911"),
        ("ca", "911"),
        ("GB", "999"),
        ("IE", "112"),
        ("AU", "000"),
        ("NZ", "111"),
        ("IN", "112"),
        ("DE", "112"),
        ("FR", "112"),
        ("ES", "112"),
        ("NL", "112"),
        ("IT", "112"),  # not listed: the default
        ("ZZ", "112"),
        (None, "112"),
        ("", "112"),
    ],
)
def test_emergency_numbers(country: str | None, number: str) -> None:
    assert emergency_number(country) == number


# --- validation ----------------------------------------------------------------------------


def _broken(mutate: Any) -> dict[str, Any]:
    data = copy.deepcopy(RAW)
    mutate(data)
    return data


def test_the_shipped_file_loads() -> None:
    table = load_helplines(copy.deepcopy(RAW))
    assert set(table.lines) == known_countries()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d["countries"]["US"][0].pop("source"), "'US' entry 1"),
        (lambda d: d["countries"]["US"][0].update(source="http://x.org"), "'US' entry 1"),
        (lambda d: d["countries"]["GB"][0].update(phone="call us"), "'GB' entry 1"),
        (lambda d: d["countries"]["GB"][1].update(phone=None, text=None, url=None), "'GB'"),
        (lambda d: d["countries"]["FR"][0].update(fax="1"), "'FR' entry 1"),
        (lambda d: d["countries"].update(gb=[]), "'gb'"),
        (lambda d: d["countries"].update(XX=[]), "'XX'"),
        (lambda d: d["emergency"]["countries"]["AU"].pop("source"), "'AU'"),
        (lambda d: d["emergency"].update(default="help"), "emergency"),
        (lambda d: d.pop("international"), "international"),
        (lambda d: d["aliases"].update(EN="ZZ"), "'EN'"),
    ],
)
def test_malformed_helplines_fail_loudly(mutate: Any, message: str) -> None:
    with pytest.raises(ValueError, match=r"helplines\.yaml") as excinfo:
        load_helplines(_broken(mutate))
    assert message in str(excinfo.value)
