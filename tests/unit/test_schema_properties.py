"""Property-based tests of the parsers and of manifest round trips."""

from __future__ import annotations

import contextlib
import json
import re
from fractions import Fraction
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from appc.errors import ValidationError
from appc.schema.image import ImageManifest
from appc.schema.labels import parse_labels
from appc.schema.name import ac_identifier, ac_name
from appc.schema.quantity import Quantity
from appc.schema.semver import SemVer
from appc.schema.volume import Volume

ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
identifiers = st.from_regex(r"\A[a-z0-9]([a-z0-9._~/-]{0,30}[a-z0-9])?\Z")
names = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,20}[a-z0-9])?\Z")


@given(identifiers)
def test_valid_identifiers_accepted(text: str) -> None:
    assert ac_identifier(text) == text


@given(st.text(max_size=20))
def test_identifier_verdict_matches_the_rule(text: str) -> None:
    expected = (
        bool(text) and set(text) <= set(ALNUM + "-._~/") and text[0] in ALNUM and text[-1] in ALNUM
    )
    try:
        ac_identifier(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected


@given(st.text(max_size=20))
def test_name_verdict_matches_the_rule(text: str) -> None:
    expected = (
        bool(text) and set(text) <= set(ALNUM + "-") and text[0] in ALNUM and text[-1] in ALNUM
    )
    try:
        ac_name(text)
        accepted = True
    except ValidationError:
        accepted = False
    assert accepted == expected


numbers = st.integers(min_value=0, max_value=10**6)
idents = st.from_regex(r"\A(0|[1-9][0-9]{0,3}|[0-9]*[A-Za-z-][0-9A-Za-z-]{0,5})\Z")


@given(numbers, numbers, numbers, st.lists(idents, max_size=3), st.lists(idents, max_size=3))
def test_semver_round_trip(
    major: int, minor: int, patch: int, pre: list[str], build: list[str]
) -> None:
    text = f"{major}.{minor}.{patch}"
    if pre:
        text += "-" + ".".join(pre)
    if build:
        text += "+" + ".".join(build)
    if text.startswith("0.0.0") and not pre:
        return
    assert str(SemVer.parse(text)) == text


@given(st.text(max_size=15))
def test_semver_never_crashes(text: str) -> None:
    with contextlib.suppress(ValidationError):
        SemVer.parse(text)


SUFFIXES = {
    "": 1,
    "k": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
    "m": Fraction(1, 1000),
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


@given(
    st.integers(min_value=0, max_value=10**9),
    st.integers(min_value=0, max_value=999),
    st.sampled_from(sorted(SUFFIXES)),
)
def test_quantity_value(whole: int, frac: int, suffix: str) -> None:
    text = f"{whole}.{frac:03d}{suffix}"
    assert Quantity.parse(text).amount == (whole + Fraction(frac, 1000)) * SUFFIXES[suffix]


@given(st.text(max_size=12))
def test_quantity_never_crashes(text: str) -> None:
    with contextlib.suppress(ValidationError):
        Quantity.parse(text)


labels = st.dictionaries(
    identifiers.filter(lambda n: n not in ("name", "os", "arch")), st.text(max_size=10), max_size=5
)


@given(labels)
def test_labels_round_trip(values: dict[str, str]) -> None:
    doc = [{"name": k, "value": v} for k, v in values.items()]
    assert [(label.name, label.value) for label in parse_labels(doc, "labels")] == list(
        values.items()
    )


volume_values = st.one_of(
    st.builds(
        lambda n, src, ro, rec: Volume(n, "host", "/" + src, read_only=ro, recursive=rec),
        names,
        st.from_regex(r"\A[a-z/]{0,10}\Z"),
        st.none() | st.booleans(),
        st.none() | st.booleans(),
    ),
    st.builds(
        lambda n, mode, uid, gid: Volume(n, "empty", mode=mode, uid=uid, gid=gid),
        names,
        st.from_regex(r"\A0[0-7]{3}\Z"),
        st.integers(0, 65535),
        st.integers(0, 65535),
    ),
)


@given(volume_values)
def test_volume_string_and_json_round_trip(volume: Volume) -> None:
    assert Volume.from_string(str(volume)) == volume
    assert Volume.from_json(volume.to_json()) == volume


@given(st.text(max_size=40))
def test_volume_string_never_crashes(text: str) -> None:
    with contextlib.suppress(ValidationError):
        Volume.from_string(text)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
env_names = st.from_regex(r"\A[A-Za-z_][A-Za-z0-9_.-]{0,8}\Z")


@st.composite
def image_manifests(draw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": draw(identifiers),
    }
    if draw(st.booleans()):
        doc["labels"] = [{"name": k, "value": v} for k, v in draw(labels).items()]
    if draw(st.booleans()):
        env = draw(st.dictionaries(env_names, st.text(max_size=8), max_size=3))
        doc["app"] = {
            "exec": draw(st.lists(st.text(max_size=8), max_size=3)),
            "user": draw(st.text(min_size=1, max_size=5)),
            "group": draw(st.text(min_size=1, max_size=5)),
            "environment": [{"name": k, "value": v} for k, v in env.items()],
            "isolators": [
                {
                    "name": draw(
                        identifiers.filter(
                            lambda n: "/" in n and not n.startswith(("resource", "os"))
                        )
                    ),
                    "value": draw(json_values),
                }
            ],
            "userAnnotations": draw(
                st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3)
            ),
        }
    return doc


@settings(max_examples=max(150, settings.default.max_examples))
@given(image_manifests())
def test_image_manifest_round_trip_preserves_meaning(doc: dict[str, Any]) -> None:
    manifest = ImageManifest.from_json(json.dumps(doc).encode())
    encoded = manifest.to_json()
    assert ImageManifest.from_json(encoded) == manifest
    assert ImageManifest.from_json(manifest.to_json(pretty=True)) == manifest
    decoded = json.loads(encoded)
    assert decoded["name"] == doc["name"]
    if "app" in doc:
        assert decoded["app"]["isolators"] == doc["app"]["isolators"]
        assert decoded["app"].get("environment", []) == doc["app"]["environment"]
    assert re.search(rb"[<>&]", encoded) is None
