"""Loading pyseccomp without ctypes.util's imports and ldconfig runs (rkt.linux.seccomp)."""

from __future__ import annotations

import sys

import pytest

from rkt.linux import seccomp

pytest.importorskip("pyseccomp")


@pytest.mark.parametrize("sonames", [{}, {"c": "libnot-there.so.9"}])
def test_the_stand_in_is_gone_after_the_import(
    monkeypatch: pytest.MonkeyPatch, sonames: dict[str, str]
) -> None:
    """With the sonames installed, or one missing (the real lookup answers for it), pyseccomp
    loads, and ctypes.util is afterwards what it was before: absent or the real module."""
    import ctypes

    monkeypatch.delitem(sys.modules, "pyseccomp")
    monkeypatch.setattr(seccomp, "_SONAMES", {**seccomp._SONAMES, **sonames})
    before = sys.modules.get("ctypes.util")
    library = seccomp._library()
    assert library is sys.modules["pyseccomp"] and callable(library.SyscallFilter)
    assert sys.modules.get("ctypes.util") is before
    assert getattr(ctypes, "util", None) is before
    if before is None:
        import ctypes.util  # the real one still imports

        assert ctypes.util.find_library("c")
