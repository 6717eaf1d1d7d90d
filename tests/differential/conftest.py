"""Differential tests: our ``actool`` against the reference (appc 0.8.11, Go).

The whole directory needs the reference at /usr/bin/actool (Debian package ``appc-spec``
provides it; CI installs it, so nothing here may skip there) and our ``actool`` console script
next to the running interpreter.
"""

from __future__ import annotations

import os

import pytest

from .harness import OURS, REFERENCE


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = os.path.dirname(__file__)
    mine = [item for item in items if str(item.path).startswith(here)]
    for item in mine:
        item.add_marker(pytest.mark.reference)
    reason = ""
    if not os.access(REFERENCE, os.X_OK):
        reason = f"reference actool not found at {REFERENCE} (install the appc-spec package)"
    elif OURS is None:
        reason = "our actool is not installed next to the running Python (pip install -e .)"
    if reason:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))
