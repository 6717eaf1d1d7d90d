"""Cache-Control max-age and freshness (rkt's getMaxAge and useCached)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rkt.fetch.cache import is_fresh, max_age


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, 0),
        ("", 0),
        ("max-age=60", 60),
        ("public, max-age=3600", 3600),
        ("MAX-AGE=5", 5),
        ('max-age="7"', 7),
        ("max-age=0", 0),
        ("max-age=-1", 0),
        ("max-age=abc", 0),
        ("max-age=010", 0),  # leading zero: refused as in rkt
        ("no-cache, max-age=60", 0),
        ("max-age=60, no-store", 0),
        ("private", 0),
    ],
)
def test_max_age(header: str | None, seconds: int) -> None:
    assert max_age(header) == seconds


@given(st.text())
def test_max_age_never_fails(header: str) -> None:
    assert max_age(header) >= 0


def test_freshness() -> None:
    then = datetime(2024, 1, 1, tzinfo=UTC)
    assert is_fresh(then, 60, then + timedelta(seconds=59))
    assert not is_fresh(then, 60, then + timedelta(seconds=60))
    assert not is_fresh(then, 0, then)
    # A download time in the future is not trusted.
    assert not is_fresh(then, 60, then - timedelta(seconds=1))
    # Naive times are UTC.
    assert is_fresh(then.replace(tzinfo=None), 60, then + timedelta(seconds=1))
