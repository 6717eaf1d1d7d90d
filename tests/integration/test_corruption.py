"""Damage to the store and to pod directories, through the real CLI: ``rkt image verify`` and
``rkt gc`` report and repair (or remove) it, and ``rkt list``/``status`` show each pod's true
state instead of failing (issue "Faults: corruption")."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.datadir import DataDir
from tests.integration import podkit
from tests.integration.hostkit import World

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
]


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    found = World.make(tmp_path, seed=7)
    try:
        yield found
    finally:
        found.cleanup()


def _image(world: World, name: str) -> str:
    base = world.root / "base"
    aci = podkit.make_image(base, world.root / "images", name,
                            {"exec": ["/bin/sh", "-c", f"echo {name}"]},
                            customize=lambda root: (root / "who").write_text(name))  # fmt: skip
    done = world.rkt("--insecure-options=image", "fetch", "--full", str(aci))
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _listed(world: World) -> set[str]:
    done = world.rkt("image", "list", "--no-legend", "--full", "--fields=id")
    assert done.returncode == 0, done.stderr
    return set(done.stdout.split())


def test_a_damaged_store_is_reported_and_repaired(world: World) -> None:
    ids = {name: _image(world, name) for name in ("trunc", "gone", "edited", "missing", "used")}
    datadir = DataDir(world.data)
    blob = datadir.blob(ids["trunc"])
    blob.write_bytes(blob.read_bytes()[: blob.stat().st_size // 2])
    os.unlink(datadir.tree(ids["gone"]) / "rootfs" / "who")
    (datadir.tree(ids["edited"]) / "rootfs" / "who").write_text("changed")
    os.unlink(datadir.blob(ids["missing"]))
    stray = datadir.blob("sha512-" + "ab" * 64)
    stray.parent.mkdir(exist_ok=True)
    stray.write_bytes(b"a blob without a row")
    # A prepared pod uses "used", whose tree is then damaged too: it stays under the pod.
    prepared = world.rkt("--insecure-options=image", "prepare", ids["used"])
    assert prepared.returncode == 0, prepared.stderr
    (datadir.tree(ids["used"]) / "rootfs" / "who").write_text("changed")

    first = world.rkt("image", "verify")
    assert first.returncode == 254, first.stderr
    report = first.stdout
    assert f"image {ids['trunc']}" in report and "image removed" in report
    assert f"image {ids['missing']}" in report and "is missing" in report
    assert report.count("rendered again") == 2  # "gone" and "edited"
    assert "kept, pods use it" in report
    assert "Traceback" not in first.stderr
    assert not stray.exists()
    second = world.rkt("image", "verify")
    assert second.returncode == 254  # only the tree the pod uses, kept as it is
    assert second.stdout.count("\n") == 1 and "kept, pods use it" in second.stdout
    assert _listed(world) == {ids["gone"], ids["edited"], ids["used"]}
    for name in ("gone", "edited"):
        assert (datadir.tree(ids[name]) / "rootfs" / "who").read_text() == name
        run = world.rkt("--insecure-options=image", "run", "--net=none", ids[name])
        assert run.returncode == 0 and name in run.stdout, run.stderr
    assert world.rkt("rm", prepared.stdout.strip()).returncode == 0
    third = world.rkt("image", "verify")
    assert third.returncode == 254 and "rendered again" in third.stdout
    assert world.rkt("image", "verify").returncode == 0


def test_image_gc_drops_rows_whose_blob_is_gone(world: World) -> None:
    kept, lost = _image(world, "kept"), _image(world, "lost")
    os.unlink(DataDir(world.data).blob(lost))
    done = world.rkt("image", "gc")
    assert done.returncode == 0, done.stderr
    assert lost in done.stdout
    assert _listed(world) == {kept}


def test_damaged_pods_are_listed_truthfully_and_collected(world: World) -> None:
    image = _image(world, "echoer")

    def prepare() -> str:
        done = world.rkt("--insecure-options=image", "prepare", image)
        assert done.returncode == 0, done.stderr
        return done.stdout.strip()

    garbled, missing, exited = prepare(), prepare(), prepare()
    for uuid in (missing, exited):
        assert world.rkt("run-prepared", "--net=none", uuid).returncode == 0
    pods = world.data / "pods"
    (pods / "prepared" / garbled / "pod").write_bytes(b'{"acKind": "PodManifest", "apps": [')
    (pods / "run" / missing / "pod").unlink()
    (pods / "run" / exited / "net-info.json").write_bytes(b"[" * 100_000)

    listed = world.rkt("list", "--full", "--no-legend")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    rows = {line.split()[0]: line.split() for line in listed.stdout.splitlines()}
    assert set(rows) == {garbled, missing, exited}
    assert "prepared" in rows[garbled] and "exited" in rows[missing] and "exited" in rows[exited]
    as_json = world.rkt("list", "--format=json")
    assert as_json.returncode == 0, as_json.stderr
    states = {pod["name"]: pod["state"] for pod in json.loads(as_json.stdout)}
    assert states == {garbled: "prepared", missing: "exited", exited: "exited"}
    for uuid, state in ((garbled, "prepared"), (missing, "exited"), (exited, "exited")):
        status = world.rkt("status", uuid)
        assert status.returncode == 0, status.stderr
        assert status.stdout.startswith(f"state={state}\n")
        assert "Traceback" not in status.stderr
    refused = world.rkt("run-prepared", "--net=none", garbled)
    assert refused.returncode == 254 and len(refused.stderr.splitlines()) == 1

    gc = world.gc()
    assert (
        f'moving damaged prepared pod "{garbled}"' in gc.stderr
        or not (pods / "prepared" / garbled).exists()
    )
    assert world.rkt("list", "--no-legend").stdout == ""
    assert podkit.mounts_under(world.data) == []


def test_store_killed_mid_write_is_finished_by_the_next_command(world: World) -> None:
    """A blob, a tree and a temporary file left as a killed import leaves them are cleaned by
    the next command that opens the store, or by gc."""
    image = _image(world, "fine")
    datadir = DataDir(world.data)
    shutil.copytree(datadir.tree(image), datadir.trees / ("sha512-" + "cd" * 64))
    (datadir.tmp / "store-import-deadbeef").write_bytes(b"half an image")
    done = world.rkt("image", "gc")
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(datadir.trees)) == [image]
    assert os.listdir(datadir.tmp) == []
    assert subprocess.run(world.argv("image", "verify"), capture_output=True).returncode == 0
