"""App strings and default labels for discovery (appc.discovery.App)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from appc.discovery import App
from appc.errors import AppcError, ValidationError
from appc.schema.labels import host_os_arch


@pytest.mark.parametrize(
    ("text", "name", "labels"),
    [
        ("example.com/reduce-worker", "example.com/reduce-worker", {}),
        ("example.com/reduce-worker:1.0.0", "example.com/reduce-worker", {"version": "1.0.0"}),
        (
            "example.com/reduce-worker,channel=alpha,label=value",
            "example.com/reduce-worker",
            {"channel": "alpha", "label": "value"},
        ),
        (
            "example.com/app:1.2.3,special=!*'();@&+$/?#[],channel=beta",
            "example.com/app",
            {"version": "1.2.3", "special": "!*'();@&+$/?#[]", "channel": "beta"},
        ),
        (
            "example.com/app,version=1.0,os=linux",
            "example.com/app",
            {"version": "1.0", "os": "linux"},
        ),
        ("example.com/app,empty=", "example.com/app", {"empty": ""}),
        ("example.com/app,eq=a=b", "example.com/app", {"eq": "a=b"}),
    ],
)
def test_parse_reads_the_reference_syntax(text: str, name: str, labels: dict[str, str]) -> None:
    app = App.parse(text)
    assert app.name == name
    assert dict(app.labels) == labels


@pytest.mark.parametrize(
    ("text", "complaint"),
    [
        ("not an app name", "not a valid ac identifier"),
        ("Example.com/app", "not a valid ac identifier"),
        ("example.com/garbage%8 939", "not a valid ac identifier"),
        ("foo.com/bar,channel=alpha,dog=woof,channel=beta", "given twice"),
        ("example.com/app,channel=beta:1.2.3", "right after the name"),
        ("example.com/app:3.2.1,channel=beta:1.2.3", "at most once"),
        ("example.com/app:3.2.1,version=1.2.3", "given twice"),
        ("example.com/app,name=other", "given twice"),
        ("example.com/app,novalue", "has no value"),
        ("example.com/app,", "has no value"),
        ("example.com/app,Bad=x", "not a valid ac identifier"),
        ("", "not a valid ac identifier"),
        ("example.com/app\n", "not a valid ac identifier"),
    ],
)
def test_parse_rejects_malformed_strings(text: str, complaint: str) -> None:
    with pytest.raises(ValidationError) as info:
        App.parse(text)
    assert complaint in str(info.value).lower()


def test_label_called_name_is_refused() -> None:
    with pytest.raises(ValidationError, match="reserved"):
        App("example.com/app", {"name": "x"})


def test_app_is_immutable_and_hashable() -> None:
    labels = {"version": "1"}
    app = App("example.com/app", labels)
    labels["version"] = "2"
    assert app.labels["version"] == "1"
    with pytest.raises(TypeError):
        app.labels["version"] = "3"  # type: ignore[index]
    assert hash(app) == hash(App("example.com/app", {"version": "1"}))
    assert app == App("example.com/app", {"version": "1"})


def test_with_defaults_fills_absent_and_empty_labels() -> None:
    host_os, host_arch = host_os_arch()
    app = App.parse("example.com/app,os=,channel=beta").with_defaults()
    assert dict(app.labels) == {
        "os": host_os,
        "channel": "beta",
        "version": "latest",
        "arch": host_arch,
    }


def test_with_defaults_keeps_given_labels() -> None:
    app = App.parse("example.com/app:1.0,os=freebsd,arch=arm").with_defaults()
    assert dict(app.labels) == {"version": "1.0", "os": "freebsd", "arch": "arm"}


def test_host_arch_uses_the_spec_spelling() -> None:
    # The spec's whitelist (aci.md, ValidOSArch) spells 64-bit ARM "aarch64", never "arm64".
    assert host_os_arch()[1] not in ("x86_64", "arm64") or host_os_arch()[0] == "darwin"


identifiers = st.from_regex(r"[a-z0-9]+([-._~/][a-z0-9]+){0,3}", fullmatch=True)
label_names = identifiers.filter(lambda name: name != "name")
# Values cannot carry "," or ":" in the command-line syntax; everything else is verbatim.
values = st.text(st.characters(blacklist_characters=",:", blacklist_categories=["Cs"]))


@given(identifiers, st.dictionaries(label_names, values, max_size=5))
def test_str_and_parse_round_trip(name: str, labels: dict[str, str]) -> None:
    app = App(name, labels)
    again = App.parse(str(app))
    assert again == app
    assert list(again.labels) == list(labels)


@given(st.text(max_size=60))
def test_parse_fails_only_with_appc_errors(text: str) -> None:
    with contextlib.suppress(AppcError):
        App.parse(text)
