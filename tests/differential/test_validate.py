"""``actool validate`` on manifests: our verdict against the reference's, case by case."""

from __future__ import annotations

import gzip
import json
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from .cases import (
    ARCHIVE_DIVERGENCES,
    DIVERGENCES,
    IMAGE_CASES,
    ISOLATOR_CASES,
    LAYOUT_DIVERGENCES,
    POD_CASES,
    Case,
    Divergence,
    app,
    env,
    image,
    isolator,
    isolators,
    labels,
    pod_app,
)
from .harness import Run, assert_clean_error, ours, params, reference

AGREED = IMAGE_CASES + ISOLATOR_CASES + POD_CASES
SPEC_DIR = Path("/usr/share/doc/appc-spec")


def write(case: Case, tmp_path: Path) -> Path:
    path = tmp_path / f"{case.id}.json"
    path.write_bytes(case.content)
    return path


def check_ours(case: Case, path: Path) -> None:
    result = ours("validate", path)
    assert result.verdict == case.verdict, result.stderr
    if case.verdict == "invalid":
        assert result.returncode == 1
        assert_clean_error(result, path)
    else:
        assert result.stderr == ""


@pytest.mark.parametrize("case", params(AGREED))
def test_same_verdict(case: Case, tmp_path: Path) -> None:
    path = write(case, tmp_path)
    assert reference("validate", path).verdict == case.verdict
    check_ours(case, path)


@pytest.mark.parametrize("divergence", params(DIVERGENCES))
def test_divergence(divergence: Divergence, tmp_path: Path) -> None:
    case = divergence.case
    assert isinstance(case, Case)
    path = write(case, tmp_path)
    # The reference's behaviour is asserted too, so the table stays true.
    assert reference("validate", path).verdict == divergence.reference
    check_ours(case, path)


def test_several_files_report_one_line_each(tmp_path: Path) -> None:
    chosen = [c for c in AGREED if c.id in ("image-base", "name-empty", "pod-base", "ports-zero")]
    paths = [write(c, tmp_path) for c in chosen]
    assert reference("validate", *paths).returncode == 1
    result = ours("validate", *paths)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    invalid = [p for p, c in zip(paths, chosen, strict=True) if c.verdict == "invalid"]
    assert len(lines) == len(invalid) == 2
    for line, path in zip(lines, invalid, strict=True):
        assert str(path) in line


def test_case_ids_are_unique() -> None:
    ids = [c.id for c in AGREED] + [d.case.id for d in DIVERGENCES]
    assert len(ids) == len(set(ids))


def _spec_text(name: str) -> str:
    path = SPEC_DIR / name
    if path.exists():
        text = path.read_text()
    else:
        with gzip.open(f"{path}.gz", "rt") as file:
            text = file.read()
    # Compare prose, not markup: drop link targets, emphasis and code marks.
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = text.replace("`", "").replace("*", "")
    return " ".join(text.split())


@pytest.mark.parametrize(
    "divergence",
    DIVERGENCES + ARCHIVE_DIVERGENCES + LAYOUT_DIVERGENCES,
    ids=lambda d: d.case.id,
)
def test_divergence_quotes_the_spec(divergence: Divergence) -> None:
    assert " ".join(divergence.quote.split()) in _spec_text(divergence.spec)


# --------------------------------------------------------------------------------------------
# Generated names: many files per run, each tool run once with --debug, which makes both print
# one "FILE: valid ..." or "FILE: invalid ..." line per file.

FIELDS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "ac-identifier": ("az09-._~/A :", lambda s: image(name=s)),
    "label-name": ("az09-._~/A ", lambda s: labels((s, "x"))),
    "ac-name-pod-app": ("az09-._/A", lambda s: pod_app(name=s)),
    "ac-name-mount-point": ("az09-._/A", lambda s: app(mountPoints=[{"name": s, "path": "/x"}])),
    "env-name": ("aZ09_.-= $", lambda s: env((s, "x"))),
    "seccomp-errno": (
        "EAZ09e_-",
        lambda s: isolators(
            isolator("os/linux/seccomp-remove-set", {"set": ["reboot"], "errno": s})
        ),
    ),
}


def verdicts(result: Run, paths: list[Path]) -> list[str]:
    found = {}
    for line in result.stderr.splitlines():
        path, _, rest = line.partition(": ")
        found[path] = "valid" if rest.startswith("valid ") else "invalid"
    return [found.get(str(p), "missing") for p in paths]


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=4, deadline=None, database=None)
@given(data=st.data())
def test_generated_names_same_verdict(field: str, data: st.DataObject) -> None:
    alphabet, make = FIELDS[field]
    texts = data.draw(st.lists(st.text(alphabet, max_size=7), min_size=1, max_size=40, unique=True))
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for index, text in enumerate(texts):
            path = Path(tmp) / f"{index}.json"
            path.write_text(json.dumps(make(text)))
            paths.append(path)
        mine = ours("--debug", "validate", *paths)
        assert "Traceback" not in mine.stderr
        theirs = reference("--debug", "validate", *paths)
        expected, got = verdicts(theirs, paths), verdicts(mine, paths)
        assert "missing" not in expected + got
        assert dict(zip(texts, got, strict=True)) == dict(zip(texts, expected, strict=True))
