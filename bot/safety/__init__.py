"""Crisis-language screening and crisis helplines for Rebound (pure Python, no I/O per call)."""

from bot.safety.helplines import (
    Helpline,
    country_code,
    emergency_number,
    helplines_for,
    international_directory,
    known_countries,
)
from bot.safety.screen import Level, Screening, screen

__all__ = [
    "Helpline",
    "Level",
    "Screening",
    "country_code",
    "emergency_number",
    "helplines_for",
    "international_directory",
    "known_countries",
    "screen",
]
