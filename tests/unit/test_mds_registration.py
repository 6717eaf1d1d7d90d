"""``--mds-register`` on the pod's side: what the options say, when stage1 may plan the pod, and
the identity (addresses, gateway) stage0 registers from the CNI results."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rkt.errors import ConfigError, ServiceError
from rkt.net.cni import Attachment, Client
from rkt.net.config import parse_network
from rkt.net.files import CACHE_DIR
from rkt.net.result import parse_result
from rkt.pod.layout import OPTIONS as OPTIONS_FILE
from rkt.stage0.options import RunFlags, RunOptions, apply_run_flags, stage1_options
from rkt.stage0.registration import _identity, check_network
from rkt.stage1.planner.load import LoadError, load
from tests.unit.test_net_files import PTP, UUID, pod_dir


def _options(top: Path, **changes: object) -> None:
    raw = json.loads((top / OPTIONS_FILE).read_text())
    raw.update(changes)
    (top / OPTIONS_FILE).write_text(json.dumps(raw))


def _attach(top: Path, *ips: dict[str, str]) -> None:
    result = parse_result({"cniVersion": "1.0.0", "ips": list(ips)})
    network = parse_network(json.dumps(PTP).encode(), "00-n.conf")
    Client(top / CACHE_DIR)._write_cache(
        Attachment(network, UUID, "eth0", str(top / "netns"), "", 0, result)
    )


def test_options_record_the_request() -> None:
    asked = stage1_options(RunOptions(), "none", mds_register=True)
    assert json.loads(asked.to_json())["mds_register"] is True
    not_asked = stage1_options(RunOptions(), "none")
    assert "mds_register" not in json.loads(not_asked.to_json())
    # run-prepared's flag asks for it; without the flag, what prepare recorded stands.
    assert apply_run_flags(asked, RunFlags(net="default")).mds_register
    assert apply_run_flags(not_asked, RunFlags(mds_register=True)).mds_register
    assert not apply_run_flags(not_asked, RunFlags()).mds_register
    with pytest.raises(ConfigError, match="--net=none"):
        check_network("none")
    check_network("host")


def test_stage1_plans_a_registered_pod_once_its_networks_are_up(tmp_path: Path) -> None:
    top = pod_dir(tmp_path, PTP, {})
    _options(top, mds_register=True)
    assert load(str(top), networks_up=False).needs_networks
    with pytest.raises(LoadError, match="no metadata_url"):
        load(str(top))  # stage0 failed to register it: no pod without its URL
    url = "http://172.29.1.1:18112/" + "a" * 32
    _options(top, options={"metadata_url": url})
    loaded = load(str(top))
    assert not loaded.needs_networks and loaded.input.options.metadata_url == url


def test_identity_from_the_cni_results(tmp_path: Path) -> None:
    top = pod_dir(tmp_path, PTP, {})
    _attach(
        top,
        {"address": "fd00::5/64", "gateway": "fd00::1"},
        {"address": "172.29.1.5/24", "gateway": "172.29.1.1"},
    )
    addresses, gateway = _identity(top, UUID)
    assert addresses == ["fd00::5", "172.29.1.5"] and gateway == "172.29.1.1"  # IPv4 first


def test_identity_needs_a_gateway(tmp_path: Path) -> None:
    top = pod_dir(tmp_path, PTP, {})
    _attach(top, {"address": "172.29.1.5/24"})
    with pytest.raises(ServiceError, match="no gateway"):
        _identity(top, UUID)
    assert _identity(tmp_path / "hostnet", UUID) == ([], None)  # --net=host: no networks
