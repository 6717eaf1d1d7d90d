"""The spec's simple types: names, versions, image IDs, labels, annotations, environment."""

from __future__ import annotations

import pytest

from appc.errors import ValidationError
from appc.schema import hash as image_hash
from appc.schema.annotations import parse_annotations
from appc.schema.environment import parse_environment
from appc.schema.labels import check_os_arch, default_labels, host_os_arch, parse_labels
from appc.schema.name import ac_identifier, ac_kind, ac_name, sanitize_ac_name
from appc.schema.semver import SemVer


@pytest.mark.parametrize(
    "name",
    [
        "database",
        "example.com/database",
        "example.com/~user/app_v1",
        "a//b",
        "a..b",
        "sub-domain.example.com/org/product/release",
        "a",
        "0",
    ],
)
def test_ac_identifier_valid(name: str) -> None:
    assert ac_identifier(name) == name


@pytest.mark.parametrize(
    "name", ["", "Database", "-db", "db-", "a b", "é", "a:b", "/a", "a/", "a_"]
)
def test_ac_identifier_invalid(name: str) -> None:
    with pytest.raises(ValidationError, match="AC Identifier"):
        ac_identifier(name, "name")


def test_ac_identifier_not_a_string() -> None:
    with pytest.raises(ValidationError) as info:
        ac_identifier(3, "labels[0].name")
    assert str(info.value) == "labels[0].name: 3 is not valid: expected a string"


@pytest.mark.parametrize("name", ["database", "product-database-release", "a1"])
def test_ac_name_valid(name: str) -> None:
    assert ac_name(name) == name


@pytest.mark.parametrize("name", ["", "a.b", "a/b", "A", "-a", "a-", "a_b"])
def test_ac_name_invalid(name: str) -> None:
    with pytest.raises(ValidationError, match="AC Name"):
        ac_name(name)


def test_sanitize_ac_name() -> None:
    assert sanitize_ac_name("Example.com/My_App") == "example-com-my-app"


def test_ac_kind() -> None:
    assert ac_kind("ImageManifest", "acKind", "ImageManifest") == "ImageManifest"
    with pytest.raises(ValidationError, match="expected 'PodManifest'"):
        ac_kind("ImageManifest", "acKind", "PodManifest")


@pytest.mark.parametrize(
    ("text", "parts"),
    [
        ("0.8.11", (0, 8, 11, "", "")),
        ("1.0.0-alpha.1+build.5", (1, 0, 0, "alpha.1", "build.5")),
        ("0.0.0-rc1", (0, 0, 0, "rc1", "")),
    ],
)
def test_semver_valid(text: str, parts: tuple[object, ...]) -> None:
    version = SemVer.parse(text)
    assert (version.major, version.minor, version.patch, version.prerelease, version.build) == parts
    assert str(version) == text


@pytest.mark.parametrize(
    "text", ["", "1", "1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3-01", "0.0.0"]
)
def test_semver_invalid(text: str) -> None:
    with pytest.raises(ValidationError):
        SemVer.parse(text, "acVersion")


def test_image_id_forms() -> None:
    full = "sha512-" + "a" * 128
    assert image_hash.image_id(full, full=True) == full
    assert image_hash.image_id("sha512-abc") == "sha512-abc"
    assert image_hash.short(full) == "sha512-" + "a" * 32
    for bad in ["sha256-abc", "sha512-", "sha512-XYZ", "abc", "sha512-" + "a" * 129]:
        with pytest.raises(ValidationError, match="image ID"):
            image_hash.image_id(bad)
    with pytest.raises(ValidationError, match="full image ID"):
        image_hash.image_id("sha512-abc", full=True)


def test_labels_rules() -> None:
    labels = parse_labels(
        [{"name": "os", "value": "linux"}, {"name": "arch", "value": "aarch64"}], "labels"
    )
    assert [label.name for label in labels] == ["os", "arch"]
    with pytest.raises(ValidationError, match=r"^labels\[1\]: duplicate label"):
        parse_labels([{"name": "a", "value": "1"}, {"name": "a", "value": "2"}], "labels")
    with pytest.raises(ValidationError, match="reserved"):
        parse_labels([{"name": "name", "value": "x"}], "labels")
    with pytest.raises(ValidationError, match='bad os "plan9"'):
        check_os_arch("plan9", None)
    with pytest.raises(ValidationError, match='bad arch "x86_64" for os "linux"'):
        check_os_arch("linux", "x86_64")
    check_os_arch("darwin", "x86_64")
    check_os_arch(None, "anything")  # arch means nothing without os (aci.md)


def test_default_labels() -> None:
    os_name, arch = host_os_arch()
    assert default_labels({}) == {"os": os_name, "arch": arch, "version": "latest"}
    assert default_labels({"version": "1.0"})["version"] == "1.0"


def test_annotations_well_known() -> None:
    good = [
        {"name": "created", "value": "2015-05-18T13:49:28.351729952-04:00"},
        {"name": "homepage", "value": "https://example.com"},
        {"name": "authors", "value": "anyone"},
    ]
    assert len(parse_annotations(good, "annotations")) == 3
    with pytest.raises(ValidationError, match=r"annotations\[0\]\.value: .*RFC 3339"):
        parse_annotations([{"name": "created", "value": "2015-05-18 13:49:28"}], "annotations")
    with pytest.raises(ValidationError, match="http or https URL"):
        parse_annotations([{"name": "documentation", "value": "ftp://x"}], "annotations")
    with pytest.raises(ValidationError, match="duplicate annotation"):
        parse_annotations([{"name": "a", "value": ""}, {"name": "a", "value": ""}], "annotations")


def test_environment_rules() -> None:
    env = parse_environment(
        [{"name": "PATH", "value": "/bin"}, {"name": "a.b-c", "value": ""}], "e"
    )
    assert [v.name for v in env] == ["PATH", "a.b-c"]
    with pytest.raises(ValidationError, match=r"e\[0\]\.name: .*environment variable name"):
        parse_environment([{"name": "1A", "value": ""}], "e")
    with pytest.raises(ValidationError, match="duplicate environment variable"):
        parse_environment([{"name": "A", "value": ""}, {"name": "A", "value": ""}], "e")
    with pytest.raises(ValidationError, match=r"e\[0\]\.value: 'value' is required"):
        parse_environment([{"name": "A"}], "e")
