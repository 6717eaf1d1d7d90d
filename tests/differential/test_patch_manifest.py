"""``actool patch-manifest``: both tools patch the same image the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .cases import ROOTFS, ROOTFS_FILES, manifest_entry
from .harness import ours, reference, write_archive

BASE = {
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/patch-me",
    "labels": [{"name": "os", "value": "linux"}],
    "app": {
        "exec": ["/bin/true"],
        "user": "0",
        "group": "0",
        "isolators": [{"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}}],
    },
}

EDITS = {
    "exec-user-group": ["--exec=/bin/sh -c true", "--user=1000", "--group=100"],
    "name": ["--name=example.com/renamed"],
    "supplementary-groups": ["--supplementary-groups=5,6,7"],
    "capability-replaces-remove-set": ["--capability=CAP_NET_ADMIN,CAP_KILL"],
    "revoke-capability": ["--revoke-capability=CAP_MKNOD"],
    "mounts": ["--mounts=work,path=/opt,readOnly=true:logs,path=/var/log"],
    "isolators": ["--isolators=resource/cpu,request=50m,limit=100m:os/linux/oom-score-adj,500"],
    "seccomp": ["--seccomp-mode=retain,errno=EPERM", "--seccomp-set=read,write,exit"],
    "no-new-privileges": ["--isolators=os/linux/no-new-privileges,true"],
}

REFUSED = {
    "both-capability-kinds": ["--capability=CAP_KILL", "--revoke-capability=CAP_MKNOD"],
    "seccomp-set-without-mode": ["--seccomp-set=read"],
    "bad-name": ["--name=Not Valid"],
    "bad-gid": ["--supplementary-groups=x"],
    "bad-isolator-value": ["--isolators=os/linux/oom-score-adj,5000"],
    "seccomp-bad-mode": ["--seccomp-mode=sometimes", "--seccomp-set=read"],
}


@pytest.fixture
def image(tmp_path: Path) -> Path:
    entries = (ROOTFS, *ROOTFS_FILES, manifest_entry(json.dumps(BASE).encode()))
    return write_archive(tmp_path / "in.aci", entries, "gzip")


@pytest.mark.parametrize("edit", sorted(EDITS))
def test_same_patched_manifest(edit: str, image: Path, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "ours.aci", tmp_path / "theirs.aci"
    done = ours("patch-manifest", *EDITS[edit], image, mine)
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode().startswith("sha512-")
    assert reference("patch-manifest", *EDITS[edit], image, theirs).returncode == 0
    # Each tool accepts the other's output, and both print the same manifest from it.
    assert reference("validate", mine).returncode == 0
    assert ours("validate", theirs).returncode == 0
    mine_json, theirs_json = (
        ours("cat-manifest", mine).stdout,
        reference("cat-manifest", theirs).stdout,
    )
    if edit == "isolators":
        # The reference builds a resource isolator's value from a Go map, so the order of its
        # keys changes from run to run; only the meaning can be compared.
        assert json.loads(mine_json) == json.loads(theirs_json)
    else:
        assert mine_json == theirs_json
    # The rootfs went through unchanged.
    assert ours("image-id", mine).returncode == 0


def test_ports_follow_the_spec(image: Path, tmp_path: Path) -> None:
    """The reference writes "count": 0 for a port given without a count, which aci.md forbids
    ("count ... defaults to 1 if unset ... Must be >=1"); ours writes 1."""
    mine, theirs = tmp_path / "ours.aci", tmp_path / "theirs.aci"
    flag = "--ports=http,protocol=tcp,port=80"
    assert ours("patch-manifest", flag, image, mine).returncode == 0
    assert reference("patch-manifest", flag, image, theirs).returncode == 0
    our_port = json.loads(ours("cat-manifest", mine).stdout)["app"]["ports"][0]
    their_port = json.loads(reference("cat-manifest", theirs).stdout)["app"]["ports"][0]
    assert our_port == {**their_port, "count": 1}
    assert their_port["count"] == 0


@pytest.mark.parametrize("edit", sorted(REFUSED))
def test_both_refuse(edit: str, image: Path, tmp_path: Path) -> None:
    mine, theirs = tmp_path / "ours.aci", tmp_path / "theirs.aci"
    assert reference("patch-manifest", *REFUSED[edit], image, theirs).returncode != 0
    done = ours("patch-manifest", *REFUSED[edit], image, mine)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not mine.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_replace_and_manifest_file(image: Path, tmp_path: Path) -> None:
    new = dict(BASE, name="example.com/whole-new")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(json.dumps(new))
    before = image.read_bytes()
    assert ours("patch-manifest", f"--manifest={manifest}", "--replace", image).returncode == 0
    assert image.read_bytes() != before
    assert json.loads(ours("cat-manifest", image).stdout)["name"] == "example.com/whole-new"
    assert reference("validate", image).returncode == 0


def test_refuses_to_overwrite(image: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.aci"
    out.write_bytes(b"keep me")
    done = ours("patch-manifest", "--user=5", image, out)
    assert done.returncode == 1 and "--overwrite" in done.stderr
    assert out.read_bytes() == b"keep me"
    assert ours("patch-manifest", "--overwrite", "--user=5", image, out).returncode == 0
    assert json.loads(ours("cat-manifest", out).stdout)["app"]["user"] == "5"
