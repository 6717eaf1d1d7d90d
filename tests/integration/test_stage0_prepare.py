"""``rkt prepare``, ``rkt run`` and ``rkt run-prepared`` end to end, as root, with a busybox ACI."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from appc.aci.builder import build
from rkt.cli.main import main
from tests.integration.podkit import mounts_under

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="overlay mounts need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

MANIFEST = {
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/busybox",
    "labels": [{"name": "version", "value": "1.0.0"}],
    "app": {"exec": ["/bin/sh", "-c", "echo hi"], "user": "0", "group": "0"},
}


@pytest.fixture
def aci(tmp_path: Path) -> Path:
    layout = tmp_path / "layout"
    (layout / "rootfs/bin").mkdir(parents=True)
    shutil.copy("/bin/busybox", layout / "rootfs/bin/busybox")
    for name in ("sh", "cat", "true"):
        (layout / "rootfs/bin" / name).symlink_to("busybox")
    (layout / "manifest").write_text(json.dumps(MANIFEST))
    build(layout, tmp_path / "busybox.aci", owner_root=True)
    return tmp_path / "busybox.aci"


def rkt(data: Path, *args: str) -> int:
    return main([f"--dir={data}", "--insecure-options=image", *args])


def prepared(data: Path, capsys: pytest.CaptureFixture[str], *args: str) -> Path:
    assert rkt(data, "prepare", *args) == 0
    uuid = capsys.readouterr().out.strip()
    pod = data / "pods/prepared" / uuid
    assert pod.is_dir(), uuid
    return pod


def test_prepare_overlay(data: Path, aci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = prepared(data, capsys, str(aci), "--exec=/bin/sh", "--", "-c", "exit 3", "---")
    for name in ("pod", "pod-created", "overlay-prepared", "stage1/options.json"):
        assert (pod / name).is_file(), name
    manifest = json.loads((pod / "pod").read_text())
    assert manifest["apps"][0]["app"]["exec"] == ["/bin/sh", "-c", "exit 3"]
    image_id = (pod / "appsinfo/busybox/treeStoreID").read_text()
    assert manifest["apps"][0]["image"]["id"] == image_id
    assert json.loads((pod / "appsinfo/busybox/manifest").read_text())["name"] == MANIFEST["name"]
    options = json.loads((pod / "stage1/options.json").read_text())
    assert options["options"]["hostname"] == f"rkt-{pod.name}"
    root = pod / "stage1/rootfs/opt/stage2/busybox/rootfs"
    assert str(root) in mounts_under(data)
    assert (root / "bin/busybox").is_file()
    # Writes land in the pod's upper dir, never in the shared rendered tree.
    (root / "written").write_text("x")
    assert (pod / "overlay/busybox/upper/written").is_file()
    assert not (data / "cas/tree" / image_id / "rootfs/written").exists()
    assert rkt(data, "list", "--no-legend") == 0
    assert "prepared" in capsys.readouterr().out


def test_prepare_no_overlay_copies(
    data: Path, aci: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pod = prepared(data, capsys, "--no-overlay", str(aci), "--name=bb")
    root = pod / "stage1/rootfs/opt/stage2/bb/rootfs"
    assert (root / "bin/busybox").is_file() and (root / "bin/sh").is_symlink()
    assert not (pod / "overlay-prepared").exists()
    assert mounts_under(data) == []


def test_prepare_refuses_unknown_network(data: Path, aci: Path) -> None:
    assert rkt(data, "run", "--net=nosuchnet", str(aci)) == 254
    assert not (data / "pods").exists()  # refused before any pod was created


def test_run_exit_status(data: Path, aci: Path, tmp_path: Path) -> None:
    uuid_file = tmp_path / "uuid"
    code = rkt(
        data, "run", "--net=none", str(aci), "--exec=/bin/sh", "--", "-c", "exit 3", "---",
        f"--uuid-file-save={uuid_file}",
    )  # fmt: skip
    assert code == 3
    uuid = uuid_file.read_text()
    assert (data / "pods/run" / uuid).is_dir() or (data / "pods/exited-garbage" / uuid).is_dir()


def test_run_prepared(data: Path, aci: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pod = prepared(data, capsys, str(aci), "--exec=/bin/sh", "--", "-c", "exit 5")
    assert rkt(data, "run-prepared", pod.name[:8]) == 5
    assert rkt(data, "run-prepared", pod.name) == 254  # no longer prepared
