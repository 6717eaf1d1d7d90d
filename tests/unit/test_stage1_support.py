"""Helpers for the stage1 plan tests: small rootfs trees and manifests built in tmp_path."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from appc.schema.environment import EnvironmentVariable
from appc.schema.image import ImageManifest
from appc.schema.pod import PodManifest
from rkt.stage1.planner.plan import AppInput, PodInput, PodOptions, PodPlan
from rkt.stage1.planner.pod import plan_pod

IMAGE_ID = "sha512-" + "a" * 64

PASSWD = (
    "root:x:0:0:root:/root:/bin/ash\n"
    "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
    "web:x:1000:1001:Web:/home/web:/bin/sh\n"
    "1234:x:4321:4321:numeric name:/home/n:/bin/sh\n"
)
GROUP = "root:x:0:\nwheel:x:10:root\nwebgrp:x:1001:web\n5555:x:6666:\n"


def make_rootfs(tmp: Path, name: str = "rootfs", *, passwd: str | None = PASSWD) -> Path:
    """A tiny image tree: /bin/app (executable), /bin/data (not), etc files, kernel dirs."""
    root = tmp / name
    for d in ("bin", "usr/bin", "etc", "proc", "sys", "dev", "tmp", "home/web"):
        (root / d).mkdir(parents=True, exist_ok=True)
    for exe in ("bin/app", "usr/bin/tool"):
        (root / exe).write_text("#!/bin/sh\n")
        (root / exe).chmod(0o755)
    (root / "bin/data").write_text("not executable\n")
    (root / "bin/data").chmod(0o644)
    if passwd is not None:
        (root / "etc/passwd").write_text(passwd)
    (root / "etc/group").write_text(GROUP)
    (root / "etc/hosts").write_text("127.0.0.1 image\n")
    return root


def image(name: str = "example.com/app", **app: Any) -> ImageManifest:
    doc: dict[str, Any] = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name}
    if app is not None:
        doc["app"] = {"exec": ["/bin/app"], "user": "0", "group": "0", **app}
    return ImageManifest.from_json(json.dumps(doc).encode())


def pod_manifest(
    apps: list[dict[str, Any]], volumes: list[dict[str, Any]] | None = None
) -> PodManifest:
    doc: dict[str, Any] = {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": []}
    for app in apps:
        entry = {"name": app["name"], "image": {"id": IMAGE_ID, "name": "example.com/app"}}
        entry.update({k: v for k, v in app.items() if k != "name"})
        doc["apps"].append(entry)
    if volumes:
        doc["volumes"] = volumes
    return PodManifest.from_json(json.dumps(doc).encode())


def env(**values: str) -> tuple[EnvironmentVariable, ...]:
    return tuple(EnvironmentVariable(k, v) for k, v in values.items())


def plan(
    root: Path,
    *,
    app: dict[str, Any] | None = None,
    runtime: dict[str, Any] | None = None,
    volumes: list[dict[str, Any]] | None = None,
    app_env: tuple[EnvironmentVariable, ...] = (),
    **options: Any,
) -> PodPlan:
    """Plan a one-app pod named "web" whose image app is ``app`` (exec /bin/app as root)."""
    manifest = pod_manifest([{"name": "web", **(runtime or {})}], volumes)
    options.setdefault("pod_dir", "/var/lib/rkt/pods/run/1234")
    options.setdefault("hostname", "pod1")
    item = AppInput(manifest.apps[0], image(**(app or {})), str(root), app_env)
    return plan_pod(PodInput(manifest, (item,), PodOptions(**options)))


def owner(path: Path) -> tuple[int, int]:
    info = os.lstat(path)
    return info.st_uid, info.st_gid
