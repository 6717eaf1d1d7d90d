"""Small helpers for integration tests that build busybox ACIs and run real pods through the
``rkt`` CLI (as a subprocess, with ``--dir``), then clean up after them."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from appc.aci.builder import build
from rkt.linux.mount import MNT_DETACH, umount2

RKT = [sys.executable, "-m", "rkt.cli.main"]
BUSYBOX = "/bin/busybox"
APPLETS = (
    "sh", "id", "cat", "echo", "env", "pwd", "grep", "hostname", "sleep", "ls", "touch", "test",
    "sed", "wc", "mv",
)  # fmt: skip
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\nextra:x:2000:\n"


def make_base_rootfs(root: Path, extra_applets: Iterable[str] = ()) -> Path:
    """A rootfs with /bin/busybox, its applet links (:data:`APPLETS` and ``extra_applets``),
    /etc/passwd and /etc/group."""
    (root / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, root / "bin/busybox")
    for name in dict.fromkeys((*APPLETS, *extra_applets)):
        (root / "bin" / name).symlink_to("busybox")
    (root / "etc").mkdir()
    (root / "etc/passwd").write_text(PASSWD)
    (root / "etc/group").write_text(GROUP)
    for name in ("tmp", "home/app"):
        (root / name).mkdir(parents=True)
    (root / "tmp").chmod(0o1777)
    return root


def make_image(
    base: Path,
    out_dir: Path,
    name: str,
    app: dict[str, Any],
    *,
    customize: Callable[[Path], None] | None = None,
    annotations: dict[str, str] | None = None,
) -> Path:
    """Build ``out_dir/<name>.aci`` from a copy of ``base`` and a manifest with ``app`` (and
    ``annotations``)."""
    layout = out_dir / f"{name}.layout"
    shutil.copytree(base, layout / "rootfs", symlinks=True)
    if customize is not None:
        customize(layout / "rootfs")
    app = {"user": "0", "group": "0", **app}
    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": f"example.com/{name}",
        "app": app,
    }
    if annotations:
        manifest["annotations"] = [{"name": k, "value": v} for k, v in annotations.items()]
    (layout / "manifest").write_text(json.dumps(manifest))
    aci = out_dir / f"{name}.aci"
    build(layout, aci)  # owners as on disk (root, unless customize chowns)
    shutil.rmtree(layout)
    return aci


def rkt(
    data: Path, *args: str, timeout: float = 60, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RKT, f"--dir={data}", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=env,
    )


def run_pod(
    data: Path, *words: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """``rkt run --net=none WORDS…`` with signature checks off (the images are local)."""
    return rkt(data, "--insecure-options=image", "run", "--net=none", *words, env=env,
               timeout=timeout)  # fmt: skip


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        found = [line.split()[4] for line in f]
    prefix = str(path).rstrip("/") + "/"
    return [m for m in found if m.startswith(prefix)]


def cleanup(data: Path, root: Path) -> None:
    """gc every pod twice (exited → garbage → deleted), then detach any mount left in root."""
    if data.exists():
        for _ in range(2):
            rkt(data, "gc", "--grace-period=0s", timeout=120)
    for target in sorted(mounts_under(root), key=len, reverse=True):
        with contextlib.suppress(OSError):  # already gone with its parent
            umount2(target, MNT_DETACH)


def lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def section(text: str, marker: str) -> list[str]:
    """The lines after ``== marker ==`` up to the next marker in a pod's stdout."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if line.startswith("== ") and line.endswith(" =="):
            inside = line == f"== {marker} =="
            continue
        if inside and line:
            out.append(line)
    return out


def env_of(text: Iterable[str]) -> dict[str, str]:
    result: dict[str, str] = {}
    for line in text:
        key, eq, value = line.partition("=")
        if eq:
            result[key] = value
    return result


def is_root_with_busybox() -> bool:
    return os.geteuid() == 0 and os.path.exists(BUSYBOX)


class HostServer:
    """A one-line TCP server in the host's namespace, bound to ``address`` only (the pods'
    gateway, IPv4 or IPv6, on the host ends of their veths): it answers ``from-host`` and
    records who asked. An IPv6 address may still be tentative (DAD): binding is retried."""

    def __init__(self, address: str, timeout: float = 60) -> None:
        family = socket.AF_INET6 if ":" in address else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        deadline = time.monotonic() + 10
        while True:
            try:
                self.sock.bind((address, 0))
                break
            except OSError:  # EADDRNOTAVAIL while the address is tentative
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        self.sock.listen(4)
        self.sock.settimeout(timeout)
        self.port = self.sock.getsockname()[1]
        self.peers: list[str] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with contextlib.suppress(OSError):
            conn, peer = self.sock.accept()
            with conn:
                self.peers.append(peer[0])
                conn.sendall(b"from-host\n")

    def close(self) -> None:
        self.sock.close()
        self.thread.join(5)
