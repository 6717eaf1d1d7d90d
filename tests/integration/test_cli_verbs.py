"""rkt 1.30's verbs and flags in real use, for those no other test runs: ``rkt export``,
``--ipc``, the per-app annotation and label flags, the deprecated ``--cap-retain`` and
``--cap-remove``, and ``rkt gc --expire-prepared`` (tests/unit/test_cli_contract.py checks that
every flag of rkt 1.30 is used by some test)."""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import make_image, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("readlink",)  # the --ipc test reads the pod's IPC namespace


def sh(base: Path, tmp_path: Path, name: str, script: str) -> str:
    return str(make_image(base, tmp_path, name, {"exec": ["/bin/sh", "-c", script]}))


def run(data: Path, *args: str) -> tuple[str, str]:
    """``rkt run`` of ``args`` that must succeed; (UUID, stdout)."""
    uuid_file = data.parent / "uuid"
    done = rkt(data, "--insecure-options=image", "run", "--net=none",
               f"--uuid-file-save={uuid_file}", *args)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return uuid_file.read_text(), done.stdout


def members(aci: Path) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(aci, "r:gz") as archive:
        return {m.name: m for m in archive.getmembers()}


def read_member(aci: Path, name: str) -> bytes:
    with tarfile.open(aci, "r:gz") as archive:
        extracted = archive.extractfile(name)
        assert extracted is not None
        return extracted.read()


@pytest.mark.parametrize("overlay", [True, False])
def test_export_writes_the_apps_root_as_it_left_it(
    data: Path, base: Path, tmp_path: Path, overlay: bool
) -> None:
    image = sh(base, tmp_path, "writer", "echo written > /new; rm /etc/group")
    uuid, _ = run(data, *([] if overlay else ["--no-overlay"]), image)
    out = tmp_path / "app.aci"
    done = rkt(data, "export", uuid[:8], str(out))
    assert done.returncode == 0, done.stderr
    names = members(out)
    assert next(iter(names)) == "manifest"
    manifest = json.loads(read_member(out, "manifest"))
    assert manifest["name"] == "example.com/writer"
    assert read_member(out, "rootfs/new") == b"written\n"
    assert "rootfs/etc/group" not in names and "rootfs/etc/passwd" in names
    again = rkt(data, "export", uuid, str(out))
    assert again.returncode == 254 and "exists" in again.stderr
    assert rkt(data, "export", "--overwrite", uuid, str(out)).returncode == 0
    wrong = rkt(data, "export", uuid, str(tmp_path / "app.tar"))
    assert wrong.returncode == 254 and "extension must be .aci" in wrong.stderr


def test_export_picks_the_app_of_a_pod_of_several(data: Path, base: Path, tmp_path: Path) -> None:
    one = sh(base, tmp_path, "one", "echo 1 > /which")
    two = sh(base, tmp_path, "two", "echo 2 > /which")
    uuid, _ = run(data, one, two)
    out = tmp_path / "exported-two.aci"
    refused = rkt(data, "export", uuid, str(out))
    assert refused.returncode == 254 and "--app=" in refused.stderr
    assert "\tone\n" in refused.stderr and "\ttwo\n" in refused.stderr
    assert not out.exists()
    done = rkt(data, "export", "--app=two", uuid, str(out))
    assert done.returncode == 0, done.stderr
    assert read_member(out, "rootfs/which") == b"2\n"


def test_export_of_a_private_users_pod_records_the_pods_ids(
    data: Path, base: Path, tmp_path: Path
) -> None:
    image = sh(base, tmp_path, "shifted", "echo mine > /mine; chown 1000:1000 /mine")
    uuid, _ = run(data, "--private-users", image)
    out = tmp_path / "exported-shifted.aci"
    done = rkt(data, "export", uuid, str(out))
    assert done.returncode == 0, done.stderr
    entries = members(out)
    assert (entries["rootfs/mine"].uid, entries["rootfs/mine"].gid) == (1000, 1000)
    assert (entries["rootfs/bin/busybox"].uid, entries["rootfs/bin/busybox"].gid) == (0, 0)


def test_export_needs_an_exited_pod(data: Path, base: Path, tmp_path: Path) -> None:
    image = sh(base, tmp_path, "idle", "true")
    prepared = rkt(data, "--insecure-options=image", "prepare", image)
    assert prepared.returncode == 0, prepared.stderr
    done = rkt(data, "export", prepared.stdout.strip(), str(tmp_path / "x.aci"))
    assert done.returncode == 254 and "Only exited pods can be exported" in done.stderr


@pytest.mark.parametrize(("mode", "host"), [("parent", True), ("private", False),
                                            ("auto", False), ("", False)])  # fmt: skip
def test_ipc_namespace(data: Path, base: Path, tmp_path: Path, mode: str, host: bool) -> None:
    image = sh(base, tmp_path, "ipc", "readlink /proc/self/ns/ipc")
    _, out = run(data, f"--ipc={mode}", image)
    assert (out.strip() == os.readlink("/proc/self/ns/ipc")) is host, out
    prepared = rkt(data, "--insecure-options=image", "prepare", image)
    done = rkt(data, "run-prepared", "--net=none", f"--ipc={mode}", prepared.stdout.strip())
    assert done.returncode == 0, done.stderr
    assert (done.stdout.strip() == os.readlink("/proc/self/ns/ipc")) is host


def test_app_annotations_and_labels(data: Path, base: Path, tmp_path: Path) -> None:
    image = sh(base, tmp_path, "labelled", "true")
    prepared = rkt(data, "--insecure-options=image", "prepare", image,
                   "--annotation=team=edge", "--user-annotation=owner=ops",
                   "--user-label=tier=web")  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    manifest = json.loads(rkt(data, "cat-manifest", prepared.stdout.strip()).stdout)
    [app] = manifest["apps"]
    assert {"name": "team", "value": "edge"} in app["annotations"]
    assert app["app"]["userAnnotations"] == {"owner": "ops"}
    assert app["app"]["userLabels"] == {"tier": "web"}
    before = rkt(data, "--insecure-options=image", "prepare", "--user-label=x=y", image)
    assert before.returncode == 254 and "--user-label must follow an image" in before.stderr


def test_the_deprecated_capability_flags(data: Path, base: Path, tmp_path: Path) -> None:
    image = sh(base, tmp_path, "caps", "grep CapBnd /proc/self/status")
    done = rkt(data, "--insecure-options=image", "run", "--net=none", image,
               "--cap-retain=CAP_NET_BIND_SERVICE")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-1] == f"{1 << 10:016x}"
    assert "Flag --cap-retain has been deprecated, use --caps-retain instead" in done.stderr
    done = rkt(data, "--insecure-options=image", "run", "--net=none", image,
               "--cap-remove=CAP_NET_RAW")  # fmt: skip
    assert done.returncode == 0 and not int(done.stdout.split()[-1], 16) & (1 << 13)
    assert "Flag --cap-remove has been deprecated" in done.stderr


def test_gc_expires_prepared_pods(data: Path, base: Path, tmp_path: Path) -> None:
    image = sh(base, tmp_path, "expiring", "true")
    uuid = rkt(data, "--insecure-options=image", "prepare", image).stdout.strip()
    assert rkt(data, "gc", "--expire-prepared=1h").returncode == 0
    assert "state=prepared" in rkt(data, "status", uuid).stdout
    assert rkt(data, "gc", "--expire-prepared=0s", "--grace-period=0s").returncode == 0
    assert rkt(data, "status", uuid).returncode == 254
