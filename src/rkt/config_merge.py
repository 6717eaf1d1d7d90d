"""The configuration of every kind merged over the system, local and user dirs, as rkt's
``config.GetConfigFrom`` merged it: for ``rkt config`` and for the data dir of ``paths.d``.

Kinds (Documentation/configuration.md): ``auth`` (credentials per domain), ``dockerAuth``
(per registry), ``paths`` (``data``, ``stage1-images``) and ``stage1`` (the default stage1's
``name``/``version`` and ``location``). A later directory overrides an earlier one entry by
entry; within one directory a value given twice is an error, as in rkt.
"""

from __future__ import annotations

import json
import os
from typing import Any

from rkt.config import ConfigDirs, config_files_in, load_auth
from rkt.errors import ConfigError


def _by_dir(dirs: ConfigDirs, kind: str) -> list[list[tuple[str, dict[str, Any]]]]:
    """The documents of ``kind`` in each config directory, lowest precedence first."""
    return [
        [(str(path), doc) for path, doc in config_files_in(directory, kind)
         if doc.get("rktKind") == kind]
        for directory in dirs.in_order()
    ]  # fmt: skip


def _check_version(path: str, doc: dict[str, Any]) -> None:
    if doc.get("rktVersion") != "v1":
        raise ConfigError(
            f'{path}: rktVersion {doc.get("rktVersion")!r} is not supported: expected "v1"'
        )


def _absolute(path: str, doc: dict[str, Any], key: str, what: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise ConfigError(f"{path}: {key} must be a string")
    if value and not os.path.isabs(value):
        raise ConfigError(f"{path}: {what} must be an absolute path")
    return value


def load_paths(dirs: ConfigDirs) -> dict[str, str]:
    """The ``paths`` kind: ``{"data": ..., "stage1-images": ...}`` ("" when not configured)."""
    result = {"data": "", "stage1-images": ""}
    for docs in _by_dir(dirs, "paths"):
        here: dict[str, str] = {}
        for path, doc in docs:
            _check_version(path, doc)
            for key, what in (
                ("data", "data directory"),
                ("stage1-images", "stage1 images directory"),
            ):
                value = _absolute(path, doc, key, what)
                if value and key in here:
                    raise ConfigError(f"{path}: {what} is already specified")
                if value:
                    here[key] = value
        result.update(here)
    return result


def data_dir_from(dirs: ConfigDirs) -> str:
    """The data dir the ``paths`` configuration names, or ""."""
    return load_paths(dirs)["data"]


def load_stage1(dirs: ConfigDirs) -> dict[str, str]:
    """The ``stage1`` kind: the default stage1's name, version and location."""
    result = {"name": "", "version": "", "location": ""}
    for docs in _by_dir(dirs, "stage1"):
        for path, doc in docs:
            _check_version(path, doc)
            name, version = doc.get("name", ""), doc.get("version", "")
            location = doc.get("location", "")
            if not all(isinstance(v, str) for v in (name, version, location)):
                raise ConfigError(f"{path}: name, version and location must be strings")
            if bool(name) != bool(version):
                raise ConfigError(f"{path}: the default stage1 image needs both name and version")
            if name:
                result.update(name=name, version=version)
            if location:
                result["location"] = location
    return result


def load_docker_auth(dirs: ConfigDirs) -> dict[str, dict[str, str]]:
    """The ``dockerAuth`` kind: basic credentials by registry."""
    result: dict[str, dict[str, str]] = {}
    for docs in _by_dir(dirs, "dockerAuth"):
        for path, doc in docs:
            _check_version(path, doc)
            registries, creds = doc.get("registries"), doc.get("credentials")
            if not isinstance(registries, list) or not all(isinstance(r, str) for r in registries):
                raise ConfigError(f"{path}: expected registries, a list of host names")
            if not isinstance(creds, dict) or not all(
                isinstance(creds.get(k), str) for k in ("user", "password")
            ):
                raise ConfigError(f"{path}: credentials must have a user and a password")
            for registry in registries:
                result[registry] = {"user": creds["user"], "password": creds["password"]}
    return result


def merged(dirs: ConfigDirs) -> dict[str, Any]:
    """What ``rkt config`` prints: ``{"stage0": [entries...]}`` in rkt's order (auth per
    domain, dockerAuth per registry, then paths and stage1), each in its config file form."""
    stage0: list[dict[str, Any]] = []
    for domain, creds in sorted(load_auth(dirs).items()):
        credentials = (
            {"user": creds.user, "password": creds.password}
            if creds.type == "basic"
            else {"token": creds.token}
        )
        stage0.append({"rktVersion": "v1", "rktKind": "auth", "domains": [domain],
                       "type": creds.type, "credentials": credentials})  # fmt: skip
    for registry, basic in sorted(load_docker_auth(dirs).items()):
        stage0.append({"rktVersion": "v1", "rktKind": "dockerAuth", "registries": [registry],
                       "credentials": basic})  # fmt: skip
    paths = load_paths(dirs)
    stage0.append({"rktVersion": "v1", "rktKind": "paths", "data": paths["data"],
                   "stage1-images": paths["stage1-images"]})  # fmt: skip
    stage1 = load_stage1(dirs)
    stage0.append({"rktVersion": "v1", "rktKind": "stage1", **stage1})
    return {"stage0": stage0}


def go_json(value: Any, *, pretty: bool) -> str:
    """Go's ``json.Marshal`` (``MarshalIndent`` with a tab when ``pretty``): HTML-sensitive
    characters escaped as Go escapes them."""
    text = (
        json.dumps(value, indent="\t", ensure_ascii=False)
        if pretty
        else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    )
    for ch, escape in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                       ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):  # fmt: skip
        text = text.replace(ch, escape)
    return text
