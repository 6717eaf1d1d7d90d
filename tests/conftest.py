"""Settings shared by every test directory.

Hypothesis profiles: the default one is what CI runs (each property a few seconds); the long
run of the parsers' properties is one flag, ``pytest --hypothesis-profile=long`` (20,000
examples per property, no deadline), e.g. ``pytest --hypothesis-profile=long
tests/unit/test_parsers_fuzz.py``. Properties that pin ``max_examples`` themselves keep it.
"""

from __future__ import annotations

from hypothesis import settings

settings.register_profile("long", max_examples=20_000, deadline=None)
