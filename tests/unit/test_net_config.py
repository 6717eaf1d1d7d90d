"""rkt.net.config: net.d loading (order, precedence, built-ins), --net parsing, selection."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from rkt.config import ConfigDirs
from rkt.errors import ConfigError
from rkt.net.config import (
    NetList,
    builtin_networks,
    load_networks,
    parse_net_list,
    parse_network,
    select_networks,
)


def write(directory: Path, filename: str, doc: object) -> Path:
    (directory / "net.d").mkdir(parents=True, exist_ok=True)
    path = directory / "net.d" / filename
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def conf(name: str, kind: str = "ptp", **extra: object) -> dict[str, object]:
    return {"cniVersion": "1.0.0", "name": name, "type": kind, **extra}


@pytest.fixture
def dirs(tmp_path: Path) -> ConfigDirs:
    return ConfigDirs(system=tmp_path / "system", local=tmp_path / "local")


def test_builtins_match_rkt() -> None:
    nets = builtin_networks()
    default = nets["default"].plugins[0]
    assert default["type"] == "ptp" and default["ipMasq"] is True
    assert default["ipam"]["subnet"] == "172.16.28.0/24"
    assert default["ipam"]["routes"] == [{"dst": "0.0.0.0/0"}]
    restricted = nets["default-restricted"].plugins[0]
    assert restricted["ipMasq"] is False and "routes" not in restricted["ipam"]
    assert nets["default"].filename == "99-default.conf"


def test_no_dirs_gives_builtins(dirs: ConfigDirs) -> None:
    assert list(load_networks(dirs)) == ["default-restricted", "default"]


def test_lexical_order_across_dirs(dirs: ConfigDirs) -> None:
    write(dirs.local, "20-b.conf", conf("b"))
    write(dirs.system, "10-a.conf", conf("a"))
    write(
        dirs.local,
        "30-c.conflist",
        {"cniVersion": "1.0.0", "name": "c", "plugins": [{"type": "x"}]},
    )
    write(dirs.local, "05-ignored.json", conf("ignored"))
    assert list(load_networks(dirs)) == ["a", "b", "c", "default-restricted", "default"]


def test_first_file_in_a_dir_wins(dirs: ConfigDirs) -> None:
    write(dirs.local, "10-x.conf", conf("x", "ptp"))
    write(dirs.local, "20-x.conf", conf("x", "bridge"))
    assert load_networks(dirs)["x"].type == "ptp"


def test_local_overrides_system(dirs: ConfigDirs) -> None:
    write(dirs.system, "10-x.conf", conf("x", "ptp"))
    write(dirs.local, "50-x.conf", conf("x", "bridge"))
    nets = load_networks(dirs)
    assert nets["x"].type == "bridge" and nets["x"].source.endswith("local/net.d/50-x.conf")


def test_user_default_replaces_builtin(dirs: ConfigDirs) -> None:
    path = write(dirs.local, "10-default.conf", conf("default", "bridge"))
    nets = load_networks(dirs)
    assert nets["default"].type == "bridge" and nets["default"].source == str(path)
    assert list(nets) == ["default", "default-restricted"]  # 10- sorts before 99-


def test_bad_json_names_file(dirs: ConfigDirs) -> None:
    path = write(dirs.local, "10-bad.conf", "{not json")
    with pytest.raises(ConfigError, match=f"{path}: invalid JSON"):
        load_networks(dirs)


@pytest.mark.parametrize(
    ("filename", "doc", "field"),
    [
        ("a.conf", {"type": "ptp"}, '"name"'),
        ("a.conf", {"name": "a b", "type": "ptp"}, '"name"'),
        ("a.conf", {"name": "all", "type": "ptp"}, "reserved"),
        ("a.conf", {"name": "a"}, '"type"'),
        ("a.conf", {"name": "a", "type": "../x"}, '"type"'),
        ("a.conf", {"name": "a", "type": "ptp", "cniVersion": 1}, '"cniVersion"'),
        ("a.conflist", {"name": "a", "plugins": []}, '"plugins"'),
        ("a.conflist", {"name": "a", "plugins": [{"type": "x"}, {}]}, '"plugins[1]": field "type"'),
        ("a.conf", [1], "JSON object"),
    ],
)
def test_errors_name_file_and_field(filename: str, doc: object, field: str) -> None:
    with pytest.raises(ConfigError, match=f"^/x/{re.escape(filename)}: .*{re.escape(field)}"):
        parse_network(json.dumps(doc).encode(), f"/x/{filename}")


def test_conflist_plugin_config_chains() -> None:
    doc = {
        "cniVersion": "1.0.0",
        "name": "c",
        "plugins": [{"type": "ptp"}, {"type": "portmap", "capabilities": {"portMappings": True}}],
    }
    net = parse_network(json.dumps(doc).encode(), "/x/c.conflist")
    first = net.plugin_config(0, None, {"portMappings": [1], "other": 2})
    assert first == {"type": "ptp", "name": "c", "cniVersion": "1.0.0"}
    second = net.plugin_config(1, {"ips": []}, {"portMappings": [1], "other": 2})
    assert second["prevResult"] == {"ips": []}
    assert second["runtimeConfig"] == {"portMappings": [1]}
    assert second["name"] == "c" and second["cniVersion"] == "1.0.0"


def test_missing_cni_version_is_0_1_0() -> None:
    assert parse_network(b'{"name":"a","type":"ptp"}', "/x/a.conf").cni_version == "0.1.0"


# -- --net -------------------------------------------------------------------------------------


def test_net_list_default() -> None:
    nets = parse_net_list([])
    assert nets.names() == ["default"] and nets.contained and not nets.host


def test_net_list_args() -> None:
    nets = parse_net_list(["default,mynet:IP=10.1.2.3;FOO=bar", "other"])
    assert nets.names() == ["default", "mynet", "other"]
    assert nets.args("mynet") == "IP=10.1.2.3;FOO=bar" and nets.args("default") == ""


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ([""], "empty network name"),
        (["a,,b"], "empty network name"),
        (["a", "a"], "given twice"),
        (["a:x=1:y=2"], "invalid arguments"),
        (["all:x=1"], "takes no arguments"),
        (["host:x=1"], "takes no arguments"),
        (["a:novalue"], "not KEY=VALUE"),
        (["a:=v"], "not KEY=VALUE"),
        (["host,default"], "cannot be combined"),
        (["none", "a"], "cannot be combined"),
    ],
)
def test_net_list_errors(values: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_net_list(values)


def test_select(dirs: ConfigDirs) -> None:
    write(dirs.local, "10-a.conf", conf("a"))
    write(dirs.local, "20-b.conf", conf("b"))
    nets = load_networks(dirs)
    assert [n.name for n in select_networks(nets, NetList())] == ["default"]
    picked = select_networks(nets, parse_net_list(["default,b"]))
    assert [n.name for n in picked] == ["b", "default"]  # file order, not flag order
    assert [n.name for n in select_networks(nets, parse_net_list(["all"]))] == list(nets)
    assert select_networks(nets, parse_net_list(["host"])) == []
    assert select_networks(nets, parse_net_list(["none"])) == []
    with pytest.raises(ConfigError, match="networks not found: nope"):
        select_networks(nets, parse_net_list(["a,nope"]))


def test_default_ipv6_file_makes_builtin_default_dual_stack(dirs: ConfigDirs) -> None:
    write(dirs.system, "default.ipv6", "fd00:1::/64\n")
    write(dirs.local, "default.ipv6", " fd52:6b74:1::/64 \n")  # the local dir wins
    nets = load_networks(dirs)
    ipam = nets["default"].plugins[0]["ipam"]
    assert "subnet" not in ipam
    assert ipam["ranges"] == [[{"subnet": "172.16.28.0/24"}], [{"subnet": "fd52:6b74:1::/64"}]]
    assert ipam["routes"] == [{"dst": "0.0.0.0/0"}, {"dst": "::/0"}]
    assert nets["default"].source == "builtin:99-default.conf"
    # The bytes copied into a pod are the dual-stack ones (DEL uses what ADD used).
    assert b"fd52:6b74:1::/64" in nets["default"].raw
    # default-restricted stays as it is: the file is about default only.
    assert nets["default-restricted"].plugins[0]["ipam"]["subnet"] == "172.31.0.0/16"


def test_user_default_replaces_dual_stack_builtin(dirs: ConfigDirs) -> None:
    write(dirs.local, "default.ipv6", "fd52:6b74:1::/64")
    write(dirs.local, "50-mine.conf", conf("default", ipam={"type": "host-local"}))
    assert "ranges" not in load_networks(dirs)["default"].plugins[0]["ipam"]


@pytest.mark.parametrize("text", ["", "172.16.0.0/24", "fd52::1/64", "fd52::/124", "nonsense"])
def test_default_ipv6_file_must_hold_one_ipv6_subnet(dirs: ConfigDirs, text: str) -> None:
    path = write(dirs.local, "default.ipv6", text)
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        load_networks(dirs)


def test_no_default_ipv6_file_keeps_default_ipv4_only(dirs: ConfigDirs) -> None:
    assert load_networks(dirs)["default"].plugins[0]["ipam"]["subnet"] == "172.16.28.0/24"
