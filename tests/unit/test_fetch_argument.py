"""Image arguments are classified in rkt's order (rkt/image/common.go)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.errors import FetchError
from rkt.fetch.argument import Kind, classify


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("sha512-0123abcd", Kind.HASH),
        ("sha512-" + "a" * 128, Kind.HASH),
        ("sha512-tools", Kind.NAME),  # not hex: a name
        ("example.com/app", Kind.NAME),
        ("example.com/app:1.0", Kind.NAME),
        ("example.com/app:1.0,os=linux", Kind.NAME),
        ("app:1.0", Kind.NAME),  # a "scheme" that is no URL scheme we know
        ("https://example.com/x/app.aci", Kind.URL),
        ("http://example.com/app.aci", Kind.URL),
        ("file:///srv/app.aci", Kind.PATH),
        ("/srv/app.aci", Kind.PATH),
        ("/srv/app", Kind.PATH),  # absolute: always a path
        ("./app", Kind.PATH),
        ("../images/app", Kind.PATH),
        ("app.aci", Kind.PATH),
    ],
)
def test_kinds(text: str, kind: Kind, tmp_path: Path) -> None:
    assert classify(text, cwd=tmp_path).kind is kind


def test_existing_file_wins_over_a_name(tmp_path: Path) -> None:
    (tmp_path / "example.com").mkdir()
    (tmp_path / "example.com" / "app").write_bytes(b"")
    argument = classify("example.com/app", cwd=tmp_path)
    assert argument.kind is Kind.PATH
    assert argument.path == tmp_path / "example.com" / "app"


def test_a_colon_makes_a_name_even_with_dot_slash(tmp_path: Path) -> None:
    assert classify("./app:1.0", cwd=tmp_path).kind is Kind.NAME


def test_relative_paths_become_absolute(tmp_path: Path) -> None:
    assert classify("sub/app.aci", cwd=tmp_path).value == str(tmp_path / "sub" / "app.aci")


def test_file_url_is_unquoted() -> None:
    assert classify("file:///srv/my%20app.aci").value == "/srv/my app.aci"


@pytest.mark.parametrize(
    "text",
    ["https://example.com/app", "https://example.com/app.tar", "file:///srv/app", ""],
)
def test_urls_must_end_in_aci(text: str) -> None:
    with pytest.raises(FetchError):
        classify(text)


@pytest.mark.parametrize(
    "text",
    ["docker://busybox", "oci:/srv/layout:v1", "oci-archive:img.tar", "docker-archive:save.tar"],
)
def test_oci_sources(text: str) -> None:
    argument = classify(text)
    assert argument.kind is Kind.OCI and argument.value == text


def test_docker_needs_slashes() -> None:
    with pytest.raises(FetchError, match="docker://"):
        classify("docker:busybox")


def test_remote_file_urls_are_refused() -> None:
    with pytest.raises(FetchError, match="local"):
        classify("file://otherhost/srv/app.aci")
