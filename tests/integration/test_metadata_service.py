"""``rkt metadata-service`` and ``rkt run --mds-register`` end to end, as root: the service
socket-activated (its unix and TCP sockets handed over as systemd does) or listening by itself,
pods on a ptp network of the test's own reading their metadata with busybox's wget from inside,
signing and verifying, refused another pod's metadata, and unregistered when they end.

All traffic stays between the pods' namespaces and the host ends of their veths, or on
127.0.0.1 for host-network pods.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest

from tests.integration import podkit, servicekit
from tests.integration.podkit import RKT

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(
        not podkit.is_root_with_busybox(), reason="needs root (netns, CNI) and busybox-static"
    ),
    pytest.mark.skipif(
        not os.access("/usr/lib/cni/ptp", os.X_OK), reason="needs containernetworking-plugins"
    ),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
]

TIMEOUT = 90
NET = "mdsnet"
BASE = "acMetadata/v1"


@dataclass
class Env:
    tmp: Path
    data: Path
    etc: Path
    gateway: str
    socket: Path
    aci: Path
    service: servicekit.Service | None
    procs: list[subprocess.Popen[str]]

    def env(self) -> dict[str, str]:
        return servicekit.environment(RKT_METADATA_SOCKET=str(self.socket))

    def rkt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return podkit.rkt(
            self.data, f"--local-config={self.etc}", *args, env=self.env(), timeout=TIMEOUT
        )

    def run(self, *words: str, net: str = NET) -> subprocess.CompletedProcess[str]:
        return self.rkt("--insecure-options=image", "run", f"--net={net}", *words)

    def start_service(self, *args: str, activated: bool = True) -> servicekit.Service:
        sockets = []
        if activated:
            sockets = [
                servicekit.unix_listener(self.socket),
                servicekit.tcp_listener(self.gateway),
            ]
        self.service = servicekit.Service(
            ["metadata-service", *args], self.tmp / "service.log", sockets=sockets, env=self.env()
        )
        self.service.wait_running()
        return self.service

    def start_pod(self, name: str, script: str) -> tuple[subprocess.Popen[str], Path, Path]:
        uuid_file, out = self.tmp / f"{name}.uuid", self.tmp / f"{name}.out"
        proc = subprocess.Popen(
            [*RKT, f"--dir={self.data}", f"--local-config={self.etc}",
             "--insecure-options=image", "run", f"--net={NET}", "--mds-register",
             f"--uuid-file-save={uuid_file}", str(self.aci), "--exec=/bin/sh", "--", "-c",
             script, "---"],
            stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, env=self.env(),
            start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc, uuid_file, out


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    net = servicekit.free_subnet()
    etc = tmp_path / "etc"
    servicekit.write_network(etc, NET, net, tmp_path / "leases")
    base = podkit.make_base_rootfs(tmp_path / "base", ("wget", "cut"))
    aci = podkit.make_image(base, tmp_path, "mdsbox", {"exec": ["/bin/sh", "-c", "true"]})
    found = Env(
        tmp_path, tmp_path / "data", etc, servicekit.gateway(net), tmp_path / "mds.sock", aci,
        None, [],
    )  # fmt: skip
    try:
        yield found
    finally:
        for proc in found.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        if found.service is not None:
            found.service.stop()
        podkit.cleanup(found.data, tmp_path)
        servicekit.remove_veths(found.gateway)


def _wait_for(path: Path, text: str, timeout: float = TIMEOUT) -> str:
    deadline = time.monotonic() + timeout
    while True:
        content = path.read_text() if path.exists() else ""
        if text in content:
            return content
        assert time.monotonic() < deadline, content
        time.sleep(0.05)


READ_OWN = (
    'echo "URL=$AC_METADATA_URL"; M="$AC_METADATA_URL/acMetadata/v1"; '
    'echo "UUID=$(wget -q -O - "$M/pod/uuid")"; '
    'echo "IMAGE=$(wget -q -O - "$M/apps/$AC_APP_NAME/image/id")"; '
    'echo "ANNOTATIONS=$(wget -q -O - "$M/pod/annotations")"; '
    'echo "MANIFEST=$(wget -q -O - "$M/pod/manifest")"; '
    'S=$(wget -q -O - --post-data "content=hello-pod" "$M/pod/hmac/sign"); echo "SIG=$S"; '
)


def _values(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines() if re.match(r"^[A-Z_]+=", line))


def test_pods_read_only_their_own_metadata(env: Env) -> None:
    service = env.start_service()
    # Pod A reads its metadata, then waits until told to go.
    proc_a, uuid_file_a, out_a = env.start_pod(
        "a", READ_OWN + "echo READY; while [ ! -e /go ]; do sleep 0.1; done"
    )
    text_a = _wait_for(out_a, "\nREADY\n")  # the manifest holds the script
    uuid_a = uuid_file_a.read_text().strip()
    got = _values(text_a)
    assert got["UUID"] == uuid_a
    assert got["URL"].startswith(f"http://{env.gateway}:")
    token_a = got["URL"].rsplit("/", 1)[1]
    assert re.fullmatch(r"[0-9a-f]{32}", token_a)  # 128 bits, not the UUID
    pod_dir = env.data / "pods/run" / uuid_a
    manifest = json.loads((pod_dir / "pod").read_text())
    assert got["IMAGE"] == manifest["apps"][0]["image"]["id"]
    assert json.loads(got["ANNOTATIONS"]) == manifest["annotations"]
    assert json.loads(got["MANIFEST"]) == manifest
    assert len(got["SIG"]) == 88  # base64 of 64 bytes
    assert (pod_dir / "mds-registered").read_text() == str(env.socket)

    # Pod B verifies A's signature, reads its own UUID, and is refused A's metadata.
    signature = quote(got["SIG"], safe="")
    verify = f'wget -q -O - --post-data "uuid={uuid_a}&signature={signature}&content='
    script_b = (
        READ_OWN
        + f'A="{got["URL"]}/{BASE}"; '
        + 'echo "A_UUID=$(wget -q -O - "$A/pod/uuid" 2>&1)"; '
        + f'{verify}hello-pod" "$M/pod/hmac/verify" && echo VERIFIED=yes || echo VERIFIED=no; '
        + f'{verify}forged" "$M/pod/hmac/verify" && echo FORGED=yes || echo FORGED=no'
    )
    done_b = env.run("--mds-register", str(env.aci), "--exec=/bin/sh", "--", "-c", script_b, "---")
    assert done_b.returncode == 0, done_b.stderr
    got_b = _values(done_b.stdout)
    assert got_b["UUID"] not in ("", uuid_a)
    assert "401" in got_b["A_UUID"] and uuid_a not in got_b["A_UUID"], got_b
    assert got_b["VERIFIED"] == "yes" and got_b["FORGED"] == "no", done_b.stdout

    # The host, even with A's token, is refused too: its address is not the pod's.
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{got['URL']}/{BASE}/pod/uuid", timeout=10)
    assert refused.value.code == 401

    # B has ended: its registration is gone. A's goes when A ends.
    uuid_b = got_b["UUID"]
    assert f"DELETE /pods/{uuid_b} - 200" in service.text()
    assert not list(env.data.glob(f"pods/*/{uuid_b}/mds-registered"))
    assert f"DELETE /pods/{uuid_a}" not in service.text()
    (pod_dir / "stage1/rootfs/opt/stage2/mdsbox/rootfs/go").touch()
    assert proc_a.wait(TIMEOUT) == 0
    assert f"DELETE /pods/{uuid_a} - 200" in service.text()
    assert not (pod_dir / "mds-registered").exists()
    assert token_a not in service.text()  # tokens stay out of the log
    assert service.stop() == 0
    assert env.socket.exists()  # a handed-over socket belongs to its manager (RemoveOnStop=)


def test_host_network_pod_and_the_verb_listening_itself(env: Env) -> None:
    """Without socket activation the verb opens its unix socket and --listen-address:port;
    a --net=host pod reaches the service on 127.0.0.1. prepare + run-prepared register too."""
    with contextlib.closing(servicekit.tcp_listener("127.0.0.1")) as probe:
        port = probe.getsockname()[1]
    service = env.start_service(
        "--listen-address=127.0.0.1", f"--listen-port={port}", activated=False
    )
    assert f"127.0.0.1:{port}" in service.text()
    assert oct(env.socket.stat().st_mode & 0o777) == "0o660"
    script = 'wget -q -O - "$AC_METADATA_URL/acMetadata/v1/pod/uuid"; echo; echo "$AC_METADATA_URL"'
    prepared = env.rkt(
        "--insecure-options=image", "prepare", "--mds-register", str(env.aci),
        "--exec=/bin/sh", "--", "-c", script, "---",
    )  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    uuid = prepared.stdout.strip()
    done = env.rkt("run-prepared", "--net=host", uuid)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.split()
    assert lines[0] == uuid and lines[1].startswith(f"http://127.0.0.1:{port}/")
    assert f"DELETE /pods/{uuid} - 200" in service.text()
    assert service.stop() == 0
    assert not env.socket.exists()  # the verb's own socket goes with it


def test_registration_errors_leave_nothing(env: Env) -> None:
    """No service: a clear error before any pod exists. --net=none: refused as rkt did."""
    missing = env.run("--mds-register", str(env.aci))
    assert missing.returncode == 254
    assert f"cannot reach the metadata service at {env.socket}" in missing.stderr
    assert "rkt metadata-service" in missing.stderr  # the hint
    none = env.run("--mds-register", str(env.aci), net="none")
    assert none.returncode == 254 and "--net=none" in none.stderr
    assert env.rkt("list", "--no-legend").stdout.strip() == ""


def test_run_prepared_refuses_a_missing_service(env: Env) -> None:
    prepared = env.rkt("--insecure-options=image", "prepare", "--mds-register", str(env.aci))
    uuid = prepared.stdout.strip()
    done = env.rkt("run-prepared", f"--net={NET}", uuid)
    assert done.returncode == 254 and "cannot reach the metadata service" in done.stderr
    status = env.rkt("status", uuid)
    assert "state=prepared" in status.stdout  # untouched: it can run once the service is up
    env.start_service()
    again = env.rkt("run-prepared", f"--net={NET}", uuid)
    assert again.returncode == 0, again.stderr


def test_a_second_instance_is_refused(env: Env) -> None:
    with contextlib.closing(servicekit.tcp_listener("127.0.0.1")) as probe:
        port = probe.getsockname()[1]
    service = env.start_service(
        "--listen-address=127.0.0.1", f"--listen-port={port}", activated=False
    )
    second = podkit.rkt(
        env.data, "metadata-service", "--listen-address=127.0.0.1", "--listen-port=1",
        env=env.env(), timeout=30,
    )  # fmt: skip
    assert second.returncode == 254
    assert f"another metadata service listens on {env.socket}" in second.stderr
    assert service.proc.poll() is None and servicekit.reachable(env.socket)
    assert service.stop() == 0


def test_gc_unregisters_a_pod_whose_run_was_killed(env: Env) -> None:
    service = env.start_service()
    proc, uuid_file, out = env.start_pod("k", "echo READY; sleep 600")
    _wait_for(out, "\nREADY\n")
    uuid = uuid_file.read_text().strip()
    os.killpg(proc.pid, signal.SIGKILL)  # rkt run, stage1 and the pod: no teardown ran
    proc.wait(30)
    assert f"DELETE /pods/{uuid}" not in service.text()
    for _ in range(2):
        assert env.rkt("gc", "--grace-period=0s").returncode == 0
    assert f"DELETE /pods/{uuid} - 200" in service.text()
    assert env.rkt("list", "--no-legend").stdout.strip() == ""
