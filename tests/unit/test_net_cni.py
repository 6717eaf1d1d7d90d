"""rkt.net.cni against fake plugins: shell scripts that record their env and stdin."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rkt.errors import NetworkError
from rkt.net.cni import Client
from rkt.net.config import parse_network
from rkt.net.netinfo import from_result, load, save
from rkt.net.result import parse_result

RESULT = {
    "cniVersion": "1.0.0",
    "interfaces": [{"name": "veth1", "mac": "aa:bb"}, {"name": "eth0", "sandbox": "/ns"}],
    "ips": [{"address": "10.9.0.5/24", "gateway": "10.9.0.1", "interface": 1}],
    "routes": [{"dst": "0.0.0.0/0"}],
    "dns": {"nameservers": ["10.9.0.1"]},
}


def fake(
    bindir: Path, log: Path, name: str, *, out: object = None, status: int = 0, fail: str = "ADD"
) -> None:
    """A plugin that logs ``name CNI_COMMAND <env> <stdin>``, prints ``out`` for ADD and for
    the ``fail`` command, and exits with ``status`` for ``fail`` (0 otherwise)."""
    bindir.mkdir(exist_ok=True)
    body = json.dumps(out) if out is not None else ""
    script = bindir / name
    script.write_text(
        "#!/bin/sh\n"
        "stdin=$(cat)\n"
        f'printf "%s\\n" "$(printf %s "{name} $CNI_COMMAND $CNI_CONTAINERID $CNI_NETNS '
        f'$CNI_IFNAME $CNI_ARGS $CNI_PATH" ) $stdin" >> {log}\n'
        f'if [ "$CNI_COMMAND" = ADD ] || [ "$CNI_COMMAND" = {fail} ]; then\n'
        f"  printf '%s' '{body}'\n"
        "fi\n"
        f'if [ "$CNI_COMMAND" = {fail} ]; then exit {status}; fi\n'
    )
    script.chmod(0o755)


def calls(log: Path) -> list[tuple[list[str], dict[str, object]]]:
    lines = log.read_text().splitlines() if log.exists() else []
    result = []
    for line in lines:
        head, _, stdin = line.partition(" {")
        result.append((head.split(" "), json.loads("{" + stdin)))
    return result


@pytest.fixture
def env(tmp_path: Path) -> tuple[Client, Path, Path]:
    bindir, log = tmp_path / "bin", tmp_path / "log"
    return Client(tmp_path / "cache", [tmp_path / "empty", bindir]), bindir, log


def conflist(*types: str) -> bytes:
    return json.dumps(
        {"cniVersion": "1.0.0", "name": "net1", "plugins": [{"type": t} for t in types]}
    ).encode()


def test_add_single_conf_env_and_stdin(env: tuple[Client, Path, Path], tmp_path: Path) -> None:
    client, bindir, log = env
    fake(bindir, log, "p1", out=RESULT)
    net = parse_network(b'{"cniVersion":"1.0.0","name":"n","type":"p1","x":1}', "/c/n.conf")
    os.environ["CNI_IFNAME"] = "stale"  # ours must win over a stale one
    try:
        result = client.add(net, "uuid1", "/ns", "eth0", "IP=10.9.0.5;A=b")
    finally:
        del os.environ["CNI_IFNAME"]
    ((head, stdin),) = calls(log)
    path = f"{tmp_path}/empty:{bindir}"
    assert head == ["p1", "ADD", "uuid1", "/ns", "eth0", "IP=10.9.0.5;A=b", path]
    assert stdin == {"cniVersion": "1.0.0", "name": "n", "type": "p1", "x": 1}
    assert str(result.ips[0].address) == "10.9.0.5/24"
    assert result.dns.nameservers == ("10.9.0.1",)
    cached = client.cached("n", "uuid1", "eth0")
    assert cached is not None and cached.result is not None
    assert cached.result.raw == RESULT and cached.args == "IP=10.9.0.5;A=b"


def test_conflist_chains_and_del_reverses(env: tuple[Client, Path, Path]) -> None:
    client, bindir, log = env
    first = dict(RESULT, cniVersion="1.0.0", marker="one")
    second = dict(RESULT, marker="two")
    fake(bindir, log, "p1", out=first)
    fake(bindir, log, "p2", out=second)
    net = parse_network(conflist("p1", "p2"), "/c/net1.conflist")
    result = client.add(net, "uuid1", "/missing-ns", "eth1")
    assert result.raw["marker"] == "two"
    (h1, s1), (h2, s2) = calls(log)
    assert (h1[0], h2[0]) == ("p1", "p2")
    assert "prevResult" not in s1 and s2["prevResult"] == first
    assert s2["name"] == "net1" and s2["cniVersion"] == "1.0.0"
    log.unlink()
    client.delete(net, "uuid1", "/missing-ns", "eth1")
    (d1, ds1), (d2, ds2) = calls(log)
    assert (d1[0], d1[1], d2[0], d2[1]) == ("p2", "DEL", "p1", "DEL")
    assert ds1["prevResult"] == second and ds2["prevResult"] == second
    # The namespace file does not exist: DEL is told CNI_NETNS="".
    assert (d1[3], d1[4]) == ("", "eth1")
    assert client.cached("net1", "uuid1", "eth1") is None


def test_plugin_error_surfaces_code_and_msg(env: tuple[Client, Path, Path]) -> None:
    client, bindir, log = env
    fake(bindir, log, "p1", out=RESULT)
    err = {"cniVersion": "1.0.0", "code": 7, "msg": "bad config", "details": "no subnet"}
    fake(bindir, log, "p2", out=err, status=1)
    net = parse_network(conflist("p1", "p2"), "/c/net1.conflist")
    with pytest.raises(
        NetworkError, match=r"'net1'.*'p2' failed: bad config: no subnet.*code 7"
    ) as e:
        client.add(net, "uuid1", "/ns", "eth0")
    assert e.value.code == 7 and e.value.details == "no subnet"
    # The failed ADD was rolled back: DEL of both plugins, newest first; no cache entry left.
    assert [(h[0], h[1]) for h, _ in calls(log)] == [
        ("p1", "ADD"),
        ("p2", "ADD"),
        ("p2", "DEL"),
        ("p1", "DEL"),
    ]
    assert client.cached("net1", "uuid1", "eth0") is None


def test_plugin_crash_without_json(env: tuple[Client, Path, Path]) -> None:
    client, bindir, _ = env
    script = bindir / "boom"
    bindir.mkdir()
    script.write_text("#!/bin/sh\necho 'panic: oops' >&2\nexit 2\n")
    script.chmod(0o755)
    net = parse_network(b'{"name":"n","type":"boom"}', "/c/n.conf")
    with pytest.raises(NetworkError, match="exited with status 2: panic: oops") as e:
        client.add(net, "u", "/ns", "eth0")
    assert e.value.code == 0


def test_missing_plugin(env: tuple[Client, Path, Path]) -> None:
    client, _, _ = env
    net = parse_network(b'{"name":"n","type":"nosuch"}', "/c/n.conf")
    with pytest.raises(NetworkError, match="'nosuch' not found"):
        client.add(net, "u", "/ns", "eth0")


def test_failed_del_keeps_cache_and_teardown_order(env: tuple[Client, Path, Path]) -> None:
    client, bindir, log = env
    fake(bindir, log, "p1", out=RESULT)
    a = parse_network(b'{"cniVersion":"1.0.0","name":"a","type":"p1"}', "/c/a.conf")
    b = parse_network(b'{"cniVersion":"1.0.0","name":"b","type":"p1"}', "/c/b.conf")
    client.add(a, "u", "/ns", "eth0")
    client.add(b, "u", "/ns", "eth1")
    client.add(a, "other", "/ns", "eth0")
    assert [x.network.name for x in client.attachments("u")] == ["a", "b"]
    log.unlink()
    assert client.teardown("u") == []
    assert [(h[1], json.dumps(s["name"])) for h, s in calls(log)] == [
        ("DEL", '"b"'),
        ("DEL", '"a"'),
    ]
    assert client.attachments("u") == [] and len(client.attachments("other")) == 1
    fake(bindir, log, "p1", out={"code": 11, "msg": "busy"}, status=1, fail="DEL")
    errors = client.teardown("other")
    assert len(errors) == 1 and errors[0].code == 11
    assert len(client.attachments("other")) == 1  # kept for the next gc


def test_check_uses_cached_result(env: tuple[Client, Path, Path]) -> None:
    client, bindir, log = env
    fake(bindir, log, "p1", out=RESULT)
    net = parse_network(b'{"cniVersion":"1.0.0","name":"n","type":"p1"}', "/c/n.conf")
    with pytest.raises(NetworkError, match="no cached result"):
        client.check(net, "u", "/ns", "eth0")
    client.add(net, "u", "/ns", "eth0")
    client.check(net, "u", "/ns", "eth0")
    head, stdin = calls(log)[-1]
    assert head[1] == "CHECK" and stdin["prevResult"] == RESULT


def test_version(env: tuple[Client, Path, Path]) -> None:
    client, bindir, _ = env
    bindir.mkdir()
    script = bindir / "v"
    script.write_text('#!/bin/sh\necho \'{"cniVersion":"1.0.0","supportedVersions":["1.0.0"]}\'\n')
    script.chmod(0o755)
    assert client.version("v") == ["1.0.0"]


def test_legacy_result_and_netinfo(tmp_path: Path) -> None:
    old = {"cniVersion": "0.2.0", "ip4": {"ip": "10.1.0.2/16", "gateway": "10.1.0.1"}}
    result = parse_result(old)
    assert str(result.ips[0].address) == "10.1.0.2/16"
    info = from_result("n", Path("/pod/net/n.conf"), Path("/usr/lib/cni/ptp"), "eth0", "", result)
    assert (info.ip, info.mask) == ("10.1.0.2", "255.255.0.0")
    save(tmp_path, [info])
    doc = json.loads((tmp_path / "net-info.json").read_text())
    assert list(doc[0]) == ["netName", "netConf", "pluginPath", "ifName", "ip", "args", "mask"]
    assert load(tmp_path) == [info]
    inside = from_result("n", Path("c"), Path("p"), "eth0", "", parse_result(RESULT))
    assert inside.ip == "10.9.0.5"


@pytest.mark.parametrize(
    "bad",
    [
        [],
        {"ips": [{"address": "nope"}]},
        {"ips": "x"},
        {"dns": []},
        {"ips": [{"address": "1.2.3.4/8", "interface": "0"}]},
    ],
)
def test_malformed_results(bad: object) -> None:
    with pytest.raises(NetworkError):
        parse_result(bad)
