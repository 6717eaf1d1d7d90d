"""Where registry credentials come from: rkt's ``auth.d`` ``dockerAuth`` files first (as rkt),
then, beyond rkt, the ``auths`` of Docker's client config (``$DOCKER_CONFIG/config.json``, else
``~/.docker/config.json``), which ``docker login``, ``podman login --authfile`` and skopeo
write.

Only ``auth`` (base64 of ``user:password``) and ``username``/``password`` entries are used.
Credential helpers (``credsStore``, ``credHelpers``) are not run: they are programs named by
a file, and a fetch runs no program it was not built with. Identity tokens (OAuth refresh
tokens) are not supported either; such an entry is skipped as if absent.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from pathlib import Path

from rkt.config import Credentials
from rkt.errors import ConfigError
from rkt.fetch.oci.reference import DOCKER_HUB

# Docker's client stores Docker Hub's credentials under its v1 index URL.
_HUB_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io", DOCKER_HUB)
_MAX_CONFIG = 4 * 1024 * 1024


def docker_config_path(environ: Mapping[str, str]) -> Path | None:
    directory = environ.get("DOCKER_CONFIG")
    if directory:
        return Path(directory, "config.json")
    home = environ.get("HOME")
    return Path(home, ".docker", "config.json") if home else None


def _host_of(key: str) -> str:
    """A config key (``https://host:port/v1/``, ``host:port``) as ``host[:port]``."""
    for scheme in ("https://", "http://"):
        if key.startswith(scheme):
            key = key[len(scheme) :]
    return key.split("/", 1)[0]


def _entry(path: Path, key: str, value: object) -> Credentials | None:
    if not isinstance(value, dict):
        raise ConfigError(f'{path}: auths["{key}"] must be an object')
    user, password = value.get("username"), value.get("password")
    encoded = value.get("auth")
    if isinstance(encoded, str) and encoded:
        try:
            decoded = base64.b64decode(encoded, validate=True).decode()
        except (binascii.Error, UnicodeDecodeError) as err:
            raise ConfigError(
                f'{path}: auths["{key}"].auth is not base64 of user:password'
            ) from err
        user, sep, password = decoded.partition(":")
        if not sep:
            raise ConfigError(f'{path}: auths["{key}"].auth is not base64 of user:password')
        password = password.strip("\0")
    if isinstance(user, str) and user and isinstance(password, str):
        return Credentials(_host_of(key), "basic", user=user, password=password)
    return None


def load_docker_config(path: Path) -> dict[str, Credentials]:
    """Credentials by registry host from a Docker client config; a missing file has none."""
    try:
        with open(path, "rb") as file:
            data = file.read(_MAX_CONFIG + 1)
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
    if len(data) > _MAX_CONFIG:
        raise ConfigError(f"{path}: larger than {_MAX_CONFIG} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError) as err:
        raise ConfigError(f"{path}: not valid JSON: {err}") from err
    auths = doc.get("auths", {}) if isinstance(doc, dict) else None
    if not isinstance(auths, dict):
        raise ConfigError(f"{path}: auths must be an object")
    result: dict[str, Credentials] = {}
    for key, value in auths.items():
        creds = _entry(path, key, value)
        if creds is not None:
            host = creds.domain
            result[DOCKER_HUB if key in _HUB_KEYS or host in _HUB_KEYS else host] = creds
    return result


def credentials_for(
    host: str, docker_auth: Mapping[str, Credentials], environ: Mapping[str, str]
) -> Credentials | None:
    """The credentials for registry ``host``: ``auth.d`` first, then the Docker config (read
    only when ``auth.d`` has none, so a broken Docker config does not stop a configured
    fetch)."""
    found = docker_auth.get(host)
    if found is None and host == DOCKER_HUB:
        found = next((docker_auth[k] for k in _HUB_KEYS if k in docker_auth), None)
    if found is not None:
        return found
    path = docker_config_path(environ)
    return load_docker_config(path).get(host) if path is not None else None
