"""Nomad's rkt driver, end to end: its call sequence, replayed by replay.go (built here with
Go and Debian's appc spec sources), against Rocket's ``rkt``.

The replay fingerprints (``rkt version``), trusts the image's prefix by meta discovery, prepares
the task's pod (volumes, ``--set-env``, ``--memory``, ``--cpu``, ``--port``, ``-- args``) and
reads the UUID from stdout, runs ``rkt run-prepared`` as Nomad's executor does (a process
group of its own), reads the pod's address and ports from ``rkt status --format=json`` and
``rkt cat-manifest`` decoded as the driver's Go types, runs a command with ``rkt enter``, and
stops the task with its kill signal, allowing it Nomad's default 5 s kill timeout. It runs in a
network and mount namespace of its own (tests/integration/nomad/sandbox.py), with the
discovery and image server on 127.0.0.1:443 there.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.tls import self_signed
from tests.trustkit import Signer

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

GOPATH_SOURCES = Path("/usr/share/gocode")
REPLAY = Path(__file__).parent / "nomad" / "replay.go"
PREFIX = "127.0.0.1/nomad"
IMAGE = f"{PREFIX}/web"
VERSION = "1.0.0"


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """replay.go built against Debian's appc spec sources (golang-github-appc-spec-dev)."""
    root = tmp_path_factory.mktemp("go")
    package = root / "src" / "replay"
    package.mkdir(parents=True)
    shutil.copy(REPLAY, package / "replay.go")
    binary = root / "replay"
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{root}:{GOPATH_SOURCES}",
        "GOCACHE": str(root / "cache"),
        "GOFLAGS": "",
    }
    subprocess.run(["go", "build", "-o", str(binary), "."], cwd=package, env=env, check=True)
    return binary


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sandbox's files: the signed image and the discovery pages on the HTTPS server, its
    certificate, and the rkt command on PATH."""
    work = tmp_path_factory.mktemp("nomad")
    certificate = self_signed(work)
    assert certificate.cert == work / "cert.pem"
    base = podkit.make_base_rootfs(work / "base", extra_applets=("httpd",))
    (base / "www").mkdir()
    (base / "www" / "index.html").write_text("hello from a nomad task\n")
    app = {
        "exec": ["/bin/httpd", "-f", "-p", "80", "-h", "/www"],
        "ports": [{"name": "http", "protocol": "tcp", "port": 80}],
    }
    aci = _discoverable_image(base, work, app)
    www = work / "www"
    signer = Signer.generate("Nomad Test <nomad@rocket.invalid>")
    from appc.schema.labels import host_os_arch

    os_name, arch = host_os_arch()
    image_path = www / f"{IMAGE}-{VERSION}-{os_name}-{arch}.aci"
    image_path.parent.mkdir(parents=True)
    shutil.copy(aci, image_path)
    signer.sign_file(image_path)
    signer.write_public_key(www / "pubkeys.asc")
    template = "https://127.0.0.1/{name}-{version}-{os}-{arch}.{ext}"
    (www / "nomad@discovery").write_text(
        "<html><head>"
        f'<meta name="ac-discovery" content="{PREFIX} {template}">'
        f'<meta name="ac-discovery-pubkeys" content="{PREFIX} https://127.0.0.1/pubkeys.asc">'
        "</head></html>"
    )
    (work / "bin").mkdir()
    rkt = Path(sys.executable).parent / "rkt"
    assert rkt.exists(), f"the rkt console script is missing: {rkt} (scripts/setup.sh)"
    (work / "bin" / "rkt").symlink_to(rkt)
    return work


def _discoverable_image(base: Path, work: Path, app: dict[str, object]) -> Path:
    """The image, named and labelled as discovery finds it (name, version, os, arch)."""
    from appc.aci.builder import build
    from appc.schema.labels import host_os_arch

    os_name, arch = host_os_arch()
    layout = work / "web.layout"
    shutil.copytree(base, layout / "rootfs", symlinks=True)
    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": IMAGE,
        "labels": [
            {"name": "version", "value": VERSION},
            {"name": "os", "value": os_name},
            {"name": "arch", "value": arch},
        ],
        "app": {"user": "0", "group": "0", **app},
    }
    (layout / "manifest").write_text(json.dumps(manifest))
    aci = work / "web.aci"
    build(layout, aci)
    return aci


@pytest.fixture
def task_dir(tmp_path: Path) -> Iterator[Path]:
    alloc = tmp_path / "alloc"
    (alloc / "alloc").mkdir(parents=True)
    (alloc / "alloc" / "shared.txt").write_text("shared by the allocation\n")
    task = alloc / "web_task"
    for name in ("local", "secrets"):
        (task / name).mkdir(parents=True)
    yield task


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.mark.parametrize(
    ("net", "kill_signal", "cpu_milli"),
    [
        ("default", "SIGINT", False),
        ("default", "SIGTERM", True),
        ("none", "SIGINT", True),
        ("none", "SIGTERM", False),
    ],
)
def test_the_nomad_driver_runs_and_stops_a_task(
    replay: Path, work: Path, task_dir: Path, net: str, kill_signal: str, cpu_milli: bool
) -> None:
    argv = [
        str(replay),
        f"-image={IMAGE}:{VERSION}",
        f"-trust-prefix={PREFIX}",
        f"-net={net}",
        f"-task-dir={task_dir}",
        f"-kill-signal={kill_signal}",
        "-env=GREETING=hello from nomad",
        "-port-map=http=http",
        f"-host-ports=http={_free_port()}",
        "-dns-search=service.consul",
        "-exec=/bin/sh",
        "-exec=-c",
        "-exec=echo $GREETING; cat /alloc/shared.txt; test -d /local && test -d /secrets",
        *(["-cpu-milli"] if cpu_milli else []),
    ]
    done = subprocess.run(
        ["unshare", "--net", "--mount", "--propagation", "private", "--",
         sys.executable, "-m", "tests.integration.nomad.sandbox", str(work), "--", *argv],
        capture_output=True, text=True, timeout=900,
        cwd=Path(__file__).parents[2],
    )  # fmt: skip
    assert done.returncode == 0, (done.stdout, done.stderr, _task_output(task_dir))
    report = json.loads(done.stdout)
    assert report["rkt_version"] == "1.30.0" and report["appc_version"] == "0.8.11"
    uuid = report["uuid"]
    assert len(uuid) == 36 and uuid.count("-") == 4
    assert "--debug=false" in report["prepare_args"]
    assert report["run_args"][-1] == uuid
    assert report["exec_code"] == 0, report["exec_output"]
    assert report["exec_output"] == "hello from nomad\nshared by the allocation\n"
    if net == "default":
        assert report["ip"].startswith("172.16.28."), report
        assert report["port_map"] == {"http": 80}
        assert report["http_body"] == "hello from a nomad task\n"
    else:
        stderr = _task_output(task_dir)[1]
        assert "port forwards (http) are dropped" in stderr, stderr
    signum = {"SIGINT": 2, "SIGTERM": 15}[kill_signal]
    assert report["stop"] == {
        "signal": kill_signal,
        "exited_within_kill_timeout": "true",
        "seconds": report["stop"]["seconds"],
        "exit_code": str(128 + signum),
    }, report["stop"]


def _task_output(task_dir: Path) -> tuple[str, str]:
    def read(name: str) -> str:
        path = task_dir / name
        return path.read_text() if path.exists() else ""

    return read("stdout"), read("stderr")
