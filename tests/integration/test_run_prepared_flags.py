"""``rkt run-prepared``'s run-time flags (rkt 1.30): ``--net``, ``--dns*``, ``--hosts-entry`` and
``--hostname`` apply to a pod that ``rkt prepare`` made without them, and ``prepare --port``
forwards need the network ``run-prepared`` gives the pod."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import lines, make_image, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

SUBNET = "10.231.89.0/24"


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("ip",)  # the pod's addresses, once run-prepared gave it a network


@pytest.fixture
def etc(tmp_path: Path) -> Path:
    """A local config dir with a ptp network of its own (no masquerade, no default route)."""
    conf = {
        "cniVersion": "1.0.0",
        "name": "rp",
        "type": "ptp",
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": SUBNET, "dataDir": str(tmp_path / "leases")},
    }
    (tmp_path / "etc/net.d").mkdir(parents=True)
    (tmp_path / "etc/net.d/10-rp.conf").write_text(json.dumps(conf))
    return tmp_path / "etc"


def _prepare(data: Path, aci: Path, *flags: str) -> str:
    done = rkt(data, "--insecure-options=image", "prepare", "--quiet", *flags, str(aci))
    assert done.returncode == 0, done.stderr
    return lines(done.stdout)[-1]


def test_dns_hosts_and_hostname_come_with_run_prepared(
    data: Path, base: Path, tmp_path: Path
) -> None:
    script = "cat /etc/resolv.conf; echo ==; cat /etc/hosts; echo ==; hostname"
    aci = make_image(base, tmp_path, "rp", {"exec": ["/bin/sh", "-c", script]})
    uuid = _prepare(data, aci)
    done = rkt(
        data, "run-prepared", "--net=none", "--dns=10.9.8.7", "--dns-search=rp.test",
        "--dns-opt=ndots:3", "--dns-domain=rp.test", "--hosts-entry=10.1.1.1=db.rp.test",
        "--hostname=prepared-pod", uuid,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    resolv, hosts, name = done.stdout.split("==\n")
    assert "nameserver 10.9.8.7" in resolv and "search rp.test" in resolv, resolv
    assert "options ndots:3" in resolv and "domain rp.test" in resolv, resolv
    assert "10.1.1.1 db.rp.test" in hosts, hosts
    assert name.strip() == "prepared-pod"


def test_net_of_run_prepared_gives_the_pod_its_network(
    data: Path, base: Path, tmp_path: Path, etc: Path
) -> None:
    aci = make_image(base, tmp_path, "rpnet", {"exec": ["/bin/sh", "-c", "ip -4 -o addr"]})
    uuid = _prepare(data, aci)
    done = rkt(data, f"--local-config={etc}", "run-prepared", "--net=rp", uuid)
    assert done.returncode == 0, done.stderr
    assert "inet 10.231.89." in done.stdout, done.stdout


def test_prepared_port_forwards_are_dropped_without_a_network(
    data: Path, base: Path, tmp_path: Path, etc: Path
) -> None:
    """As rkt ran them: a pod prepared with --port runs with --net=none or --net=host, its
    forwards dropped with a warning; with a network of its own they are made."""
    app = {
        "exec": ["/bin/sh", "-c", "true"],
        "ports": [{"name": "http", "protocol": "tcp", "port": 80}],
    }
    aci = make_image(base, tmp_path, "rpport", app)
    bad = rkt(data, "--insecure-options=image", "prepare", "--port=nope:8080", str(aci))
    assert bad.returncode == 254 and "nope" in bad.stderr, bad.stderr
    for net in ("none", "host"):
        uuid = _prepare(data, aci, "--port=http:18089")
        ran = rkt(data, f"--local-config={etc}", "run-prepared", f"--net={net}", uuid)
        assert ran.returncode == 0, ran.stderr
        warning = [line for line in ran.stderr.splitlines() if "forwards (http)" in line]
        assert len(warning) == 1 and "dropped" in warning[0], ran.stderr
    uuid = _prepare(data, aci, "--port=http:18089")
    done = rkt(data, f"--local-config={etc}", "run-prepared", "--net=rp", uuid)
    assert done.returncode == 0, done.stderr
    assert "dropped" not in done.stderr
    manifest = json.loads(rkt(data, "cat-manifest", uuid).stdout)
    [port] = manifest["ports"]
    assert (port["name"], port["hostPort"], port["podPort"]["port"]) == ("http", 18089, 80)
