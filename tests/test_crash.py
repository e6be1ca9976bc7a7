"""A short crash soak: SIGKILL `rebound chat --json` at random moments while users talk to it;
every answered turn is stored once, no conversation is stuck. (bench/soak.py runs the long one.)"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from soak import soak

from tests.conftest import KEY


def test_killed_at_random_moments_nothing_answered_is_lost() -> None:
    result = soak(users=12, kills=4, url=None, seed=3)
    assert result["answered"] == result["turns"]
    assert (result["lost"], result["stuck"]) == (0, 0)
    assert result["kills"] == 4


@pytest.mark.postgres
def test_killed_at_random_moments_on_postgres(postgres_url: str) -> None:
    result = soak(users=8, kills=3, url=postgres_url, seed=5, key=KEY)
    assert (result["lost"], result["stuck"]) == (0, 0)
