"""The appc ACE validator passes under ``rkt run --mds-register`` (ace.md conformance).

The validator is built here from the Go sources Debian ships (golang-github-appc-spec-dev,
``github.com/appc/spec/ace``) with Debian's Go, statically, and packed into the two images its
own build script makes: ``ace-validator-main`` (pre-start and post-stop handlers, working
directory /opt/acvalidator, IN_ACE_VALIDATOR=correct, a "database" mount point at /db) and
``ace-validator-sidekick`` (the same mount point). Both run in one pod with an empty volume
for the mount point, as rkt's own conformance test ran them; each stage prints ``<stage> OK``
(or ``FAIL`` and its errors). The main stage checks PATH, the working directory, the
environment, the mount, AC_APP_NAME and every metadata endpoint (pod manifest, UUID,
annotations, each app's image manifest, ID and annotations, HMAC sign and verify), the
sidekick and main stages meet through the shared volume, and the handlers run in order.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from appc.aci.builder import build
from tests.integration import podkit, servicekit

GOPATH = Path("/usr/share/gocode")
SOURCE = GOPATH / "src/github.com/appc/spec/ace"
NET = "acenet"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
    pytest.mark.skipif(
        not os.access("/usr/lib/cni/ptp", os.X_OK), reason="needs containernetworking-plugins"
    ),
    pytest.mark.skipif(not SOURCE.is_dir(), reason="needs golang-github-appc-spec-dev"),
    pytest.mark.skipif(shutil.which("go") is None, reason="needs golang-go"),
]


def _labels() -> list[dict[str, str]]:
    return [
        {"name": "version", "value": "0.8.11"},
        {"name": "os", "value": "linux"},
        {"name": "arch", "value": "amd64"},
    ]


def _main_manifest() -> dict[str, object]:
    """What the validator's main stage expects of its own image (validator.go's constants)."""
    return {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "coreos.com/ace-validator-main",
        "labels": _labels(),
        "app": {
            "exec": ["/ace-validator", "main"],
            "eventHandlers": [
                {"name": "pre-start", "exec": ["/ace-validator", "prestart"]},
                {"name": "post-stop", "exec": ["/ace-validator", "poststop"]},
            ],
            "user": "0",
            "group": "0",
            "workingDirectory": "/opt/acvalidator",
            "environment": [{"name": "IN_ACE_VALIDATOR", "value": "correct"}],
            "mountPoints": [{"name": "database", "path": "/db", "readOnly": False}],
            "ports": [{"name": "www", "protocol": "tcp", "port": 80}],
            "isolators": [{"name": "resource/memory", "value": {"limit": "1G"}}],
        },
        "annotations": [
            {"name": "created", "value": "2014-10-27T19:32:27.67021798Z"},
            {"name": "homepage", "value": "https://github.com/appc/spec"},
            {"name": "lorem", "value": "ipsum"},
        ],
    }


def _sidekick_manifest() -> dict[str, object]:
    return {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "coreos.com/ace-validator-sidekick",
        "labels": _labels(),
        "app": {
            "exec": ["/ace-validator", "sidekick"],
            "user": "0",
            "group": "0",
            "mountPoints": [{"name": "database", "path": "/db", "readOnly": False}],
        },
    }


@pytest.fixture(scope="module")
def validator(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ace") / "ace-validator"
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(out.parent),
        "GOPATH": str(GOPATH),
        "GO111MODULE": "off",
        "CGO_ENABLED": "0",
        "GOCACHE": str(out.parent / "gocache"),
    }
    done = subprocess.run(
        ["go", "build", "-o", str(out), "github.com/appc/spec/ace"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return out


def _image(tmp: Path, binary: Path, manifest: dict[str, object], name: str) -> Path:
    layout = tmp / f"{name}.layout"
    (layout / "rootfs/opt/acvalidator").mkdir(parents=True)
    shutil.copy(binary, layout / "rootfs/ace-validator")
    (layout / "manifest").write_text(json.dumps(manifest))
    aci = tmp / f"{name}.aci"
    build(layout, aci)
    return aci


@pytest.fixture
def pod_net(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    net = servicekit.free_subnet()
    etc = tmp_path / "etc"
    servicekit.write_network(etc, NET, net, tmp_path / "leases")
    try:
        yield etc, servicekit.gateway(net)
    finally:
        podkit.cleanup(tmp_path / "data", tmp_path)
        servicekit.remove_veths(servicekit.gateway(net))


def test_ace_validator_passes(tmp_path: Path, validator: Path, pod_net: tuple[Path, str]) -> None:
    etc, gateway = pod_net
    main = _image(tmp_path, validator, _main_manifest(), "ace-validator-main")
    sidekick = _image(tmp_path, validator, _sidekick_manifest(), "ace-validator-sidekick")
    socket_path = tmp_path / "mds.sock"
    env = servicekit.environment(RKT_METADATA_SOCKET=str(socket_path))
    service = servicekit.Service(
        ["metadata-service"],
        tmp_path / "service.log",
        sockets=[servicekit.unix_listener(socket_path), servicekit.tcp_listener(gateway)],
        env=env,
    )
    try:
        service.wait_running()
        done = podkit.rkt(
            tmp_path / "data", f"--local-config={etc}", "--insecure-options=image", "run",
            f"--net={NET}", "--mds-register", "--volume=database,kind=empty",
            str(main), str(sidekick), env=env, timeout=180,
        )  # fmt: skip
    finally:
        with contextlib.suppress(Exception):
            service.stop()
    report = done.stdout + done.stderr
    assert done.returncode == 0, report + service.text()
    for stage in ("prestart", "main", "sidekick", "poststop"):
        assert f"{stage} OK" in done.stdout, report + service.text()
    assert "FAIL" not in report
    # Every metadata endpoint the validator asks for was answered for this pod.
    log = service.text()
    for endpoint in ("pod/manifest", "pod/uuid", "pod/annotations", "pod/hmac/sign",
                     "pod/hmac/verify", "apps/ace-validator-main/image/manifest",
                     "apps/ace-validator-sidekick/annotations"):  # fmt: skip
        assert f"/acMetadata/v1/{endpoint} - 200" in log, log
