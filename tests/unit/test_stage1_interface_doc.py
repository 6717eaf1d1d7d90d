"""docs/stage1-interface.md against the interface's code: every file name of the pod directory
(rkt.pod.layout), every entry point of every flavor, every field of the options file and every
environment variable of rkt.stage1.interface is named on the page, so that a change to the
interface that the page does not follow fails here."""

from __future__ import annotations

import re
from pathlib import Path

import msgspec

from rkt.pod import layout
from rkt.stage1 import interface

DOC = (Path(__file__).resolve().parents[2] / "docs/stage1-interface.md").read_text()


def _missing(words: set[str]) -> list[str]:
    return sorted(w for w in words if not re.search(rf"(?<![\w/.-]){re.escape(w)}(?![\w-])", DOC))


def test_every_pod_file_name_is_on_the_page() -> None:
    names = {
        value
        for key, value in vars(layout).items()
        if key.isupper() and isinstance(value, str) and not key.startswith("ISOLATOR_")
        and key != "UUID_LENGTH"
    }  # fmt: skip
    assert _missing(names) == []


def test_every_entry_point_is_on_the_page() -> None:
    assert _missing(set(interface.PACKAGES.values())) == []
    assert _missing({f"{entry} --pod-dir=DIR" for entry in interface.ENTRIES}) == []
    assert _missing({f'"{interface.FLY}"'}) == []


def test_every_option_and_variable_is_on_the_page() -> None:
    fields = {f.name for f in msgspec.structs.fields(interface.Options)}
    fields |= {f.name for f in msgspec.structs.fields(interface.RunOptions)}
    assert _missing(fields) == []
    variables = {interface.LOCK_FD_ENV, interface.LISTEN_FDS_ENV, interface.LISTEN_FDNAMES_ENV}
    assert _missing(variables) == []
    assert f'"version": {interface.OPTIONS_VERSION}' in DOC


def test_the_check_finds_what_is_missing() -> None:
    assert _missing({"stage1/no-such-file", "pod"}) == ["stage1/no-such-file"]
