"""rkt's configuration: the config directories and the ``auth.d`` credentials in them.

rkt reads configuration from a system directory (/usr/lib/rkt, shipped by vendors), a local one
(/etc/rkt, the administrator's) and a user one (``$XDG_CONFIG_HOME/rkt``); for the same key the
user's beats the local beats the system's. Files are JSON with ``rktKind`` and ``rktVersion``
(Documentation/configuration.md). Everything is parsed once into frozen values that are passed
down; nothing here is global.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from rkt import jsondoc
from rkt.errors import ConfigError
from rkt.insecure import Insecure

SYSTEM_CONFIG_DIR = Path("/usr/lib/rkt")
LOCAL_CONFIG_DIR = Path("/etc/rkt")


def default_user_config_dir() -> Path | None:
    base = os.environ.get("XDG_CONFIG_HOME") or (
        os.path.join(os.environ["HOME"], ".config") if os.environ.get("HOME") else ""
    )
    return Path(base, "rkt") if base else None


class ConfigDirs(msgspec.Struct, frozen=True):
    system: Path = SYSTEM_CONFIG_DIR
    local: Path = LOCAL_CONFIG_DIR
    user: Path | None = None

    def in_order(self) -> list[Path]:
        """Lowest precedence first."""
        return [d for d in (self.system, self.local, self.user) if d is not None]


class Credentials(msgspec.Struct, frozen=True):
    """How to authenticate to the hosts of one domain (``auth.d``)."""

    domain: str
    type: str  # "basic" or "oauth"
    user: str = ""
    password: str = ""
    token: str = ""

    def headers(self) -> dict[str, str]:
        if self.type == "basic":
            import base64  # only HTTP fetches with basic auth use it

            pair = f"{self.user}:{self.password}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        return {"Authorization": f"Bearer {self.token}"}


class Config(msgspec.Struct, frozen=True):
    """What every verb may need; built once by the CLI from flags and files."""

    data_dir: Path
    dirs: ConfigDirs = msgspec.field(default_factory=ConfigDirs)
    insecure: Insecure = Insecure.NONE
    trust_keys_from_https: bool = False
    debug: bool = False
    #: The verb runs as the ``rkt`` command itself (not called in a library's process): ``rkt
    #: run`` may then become the pod's monitor, replacing the process.
    own_process: bool = False

    @property
    def pods(self) -> Path:
        """The data dir's pods (rkt.datadir.DataDir.pods)."""
        from rkt.datadir import DataDir

        return DataDir(self.data_dir).pods


def _config_files(dirs: ConfigDirs, kind: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    for directory in dirs.in_order():
        yield from config_files_in(directory, kind)


def config_files_in(directory: Path, kind: str) -> Iterator[tuple[Path, dict[str, Any]]]:
    """The JSON documents in ``<directory>/<kind>.d``, by file name."""
    folder = directory / f"{kind}.d"
    try:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".json"))
    except FileNotFoundError:
        return
    except OSError as err:
        raise ConfigError(f"{folder}: cannot list: {err.strerror}") from err
    for name in names:
        path = folder / name
        try:
            doc = jsondoc.loads(path.read_bytes())
        except (OSError, ValueError) as err:
            raise ConfigError(f"{path}: cannot read configuration: {err}") from err
        if not isinstance(doc, dict):
            raise ConfigError(f"{path}: expected a JSON object")
        yield path, doc


def load_auth(dirs: ConfigDirs) -> Mapping[str, Credentials]:
    """Credentials by domain from every ``auth.d``; later directories override earlier ones."""
    result: dict[str, Credentials] = {}
    for path, doc in _config_files(dirs, "auth"):
        if doc.get("rktKind") != "auth":
            continue
        if doc.get("rktVersion") != "v1":
            raise ConfigError(
                f'{path}: rktVersion {doc.get("rktVersion")!r} is not supported: expected "v1"'
            )
        kind = doc.get("type")
        creds = doc.get("credentials")
        domains = doc.get("domains")
        if kind not in ("basic", "oauth") or not isinstance(creds, dict):
            raise ConfigError(f'{path}: expected type "basic" or "oauth" with credentials')
        if not isinstance(domains, list) or not all(isinstance(d, str) and d for d in domains):
            raise ConfigError(f"{path}: expected domains, a list of host names")
        for key in ("user", "password") if kind == "basic" else ("token",):
            if not isinstance(creds.get(key), str):
                raise ConfigError(f"{path}: credentials.{key} must be a string")
        for domain in domains:
            result[domain] = Credentials(
                domain,
                kind,
                user=creds.get("user", ""),
                password=creds.get("password", ""),
                token=creds.get("token", ""),
            )
    return MappingProxyType(result)


def load_docker_auth(dirs: ConfigDirs) -> Mapping[str, Credentials]:
    """``dockerAuth`` credentials by registry (``host[:port]``) from every ``auth.d``, as
    rkt's: ``{"rktKind": "dockerAuth", "rktVersion": "v1", "registries": [...],
    "credentials": {"user": ..., "password": ...}}``; later directories override earlier."""
    result: dict[str, Credentials] = {}
    for path, doc in _config_files(dirs, "auth"):
        if doc.get("rktKind") != "dockerAuth":
            continue
        if doc.get("rktVersion") != "v1":
            raise ConfigError(
                f'{path}: rktVersion {doc.get("rktVersion")!r} is not supported: expected "v1"'
            )
        registries = doc.get("registries")
        creds = doc.get("credentials")
        if not isinstance(registries, list) or not registries:
            raise ConfigError(f"{path}: expected registries, a non-empty list of hosts")
        if not all(isinstance(r, str) and r for r in registries):
            raise ConfigError(f"{path}: every registry must be a non-empty host name")
        if not isinstance(creds, dict):
            raise ConfigError(f"{path}: expected credentials with a user and a password")
        for key in ("user", "password"):
            if not isinstance(creds.get(key), str) or not creds[key]:
                raise ConfigError(f"{path}: credentials.{key} must be a non-empty string")
        for registry in registries:
            result[registry] = Credentials(
                registry, "basic", user=creds["user"], password=creds["password"]
            )
    return MappingProxyType(result)
