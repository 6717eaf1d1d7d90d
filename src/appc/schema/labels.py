"""Labels, and the os/arch combinations they may name (types.md, aci.md)."""

from __future__ import annotations

import platform
from collections.abc import Iterable, Mapping

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import items, join, name_value
from appc.schema.name import ac_identifier

# aci.md lets an implementation extend the whitelist; these are the reference's combinations.
VALID_OS_ARCH: Mapping[str, tuple[str, ...]] = {
    "linux": (
        "amd64",
        "i386",
        "aarch64",
        "aarch64_be",
        "armv6l",
        "armv7l",
        "armv7b",
        "ppc64",
        "ppc64le",
        "s390x",
    ),
    "freebsd": ("amd64", "i386", "arm"),
    "darwin": ("x86_64", "i386"),
}

# platform.machine() spellings to appc's arch label values.
_MACHINE_TO_ARCH = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "i386": "i386",
    "i486": "i386",
    "i586": "i386",
    "i686": "i386",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "armv6l": "armv6l",
    "armv7l": "armv7l",
    "ppc64": "ppc64",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
}


class Label(Struct, frozen=True):
    name: str
    value: str


def check_os_arch(os_name: str | None, arch: str | None, path: str = "") -> None:
    """The os label must be whitelisted, and the arch label valid for it (aci.md)."""
    if os_name is None:
        return
    archs = VALID_OS_ARCH.get(os_name)
    if archs is None:
        raise ValidationError(
            f'bad os "{os_name}": expected one of {", ".join(sorted(VALID_OS_ARCH))}', path
        )
    if arch is not None and arch not in archs:
        raise ValidationError(
            f'bad arch "{arch}" for os "{os_name}": expected one of {", ".join(archs)}', path
        )


def check_labels(labels: Iterable[Label], path: str = "") -> None:
    seen: dict[str, str] = {}
    for index, label in enumerate(labels):
        where = join(path, index)
        if label.name == "name":
            raise ValidationError('label name "name" is reserved for the image name', where)
        if label.name in seen:
            raise ValidationError(f'duplicate label "{label.name}": names must be unique', where)
        seen[label.name] = label.value
    check_os_arch(seen.get("os"), seen.get("arch"), path)


def _label(value: object, path: str) -> Label:
    return Label(*name_value(value, path, ac_identifier))


def parse_labels(value: object, path: str) -> tuple[Label, ...]:
    """A list of ``{"name", "value"}`` objects with unique AC Identifier names."""
    labels = items(value, path, _label)
    check_labels(labels, path)
    return labels


def labels_to_json(labels: Iterable[Label]) -> list[dict[str, str]]:
    return [{"name": label.name, "value": label.value} for label in labels]


def get(labels: Iterable[Label], name: str) -> str | None:
    for label in labels:
        if label.name == name:
            return label.value
    return None


def host_os_arch() -> tuple[str, str]:
    """This machine's ``os`` and ``arch`` label values."""
    system = platform.system().lower()
    machine = platform.machine().lower()
    arch = _MACHINE_TO_ARCH.get(machine, machine)
    if system == "darwin" and arch == "amd64":
        arch = "x86_64"
    return system, arch


def default_labels(labels: Mapping[str, str]) -> dict[str, str]:
    """Labels used for discovery and fetching: the host's os/arch, version ``latest``, if absent."""
    os_name, arch = host_os_arch()
    result = {"os": os_name, "arch": arch, "version": "latest"}
    result.update(labels)
    return result
