"""Copying an archive with a new manifest (actool patch-manifest), and the manifest edits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appc.aci import build, read_manifest, validate_archive
from appc.aci.copier import copy_with_manifest
from appc.actool.patch import Patch, apply
from appc.errors import ArchiveError, ValidationError
from appc.schema import linux
from appc.schema.image import ImageManifest

from .test_aci_builder import make_layout, members

NEW = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/copied"}'


@pytest.mark.parametrize("compression", ["none", "gzip", "xz"])
def test_copy_keeps_every_member_and_puts_the_manifest_first(
    tmp_path: Path, compression: str
) -> None:
    source = tmp_path / "in.aci"
    build(make_layout(tmp_path), source)
    out = tmp_path / "out.aci"
    image = copy_with_manifest(source, out, NEW, compression=compression)
    result = validate_archive(out)
    assert result.image_id == image
    assert result.manifest.name == "example.com/copied"
    before, after = members(source), members(out)
    assert next(iter(after)) == "manifest"
    assert after.pop("manifest")[1] == NEW
    before.pop("manifest")
    assert after == before  # names, types, modes, owners, links, xattrs and content


def test_copy_over_itself_and_refusals(tmp_path: Path) -> None:
    source = tmp_path / "in.aci"
    build(make_layout(tmp_path), source)
    with pytest.raises(ArchiveError, match="--overwrite"):
        copy_with_manifest(source, source, NEW)
    copy_with_manifest(source, source, NEW, overwrite=True)
    assert read_manifest(source)[1].name == "example.com/copied"
    broken = tmp_path / "broken.aci"
    broken.write_bytes(source.read_bytes()[: source.stat().st_size // 2])
    with pytest.raises(ArchiveError):
        copy_with_manifest(broken, tmp_path / "x.aci", NEW)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.aci", "in.aci", "layout"]


BASE = ImageManifest.from_json(
    json.dumps(
        {
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": "example.com/app",
            "app": {
                "exec": ["/bin/app"],
                "user": "0",
                "group": "0",
                "isolators": [
                    {"name": "os/linux/seccomp-remove-set", "value": {"set": ["reboot"]}},
                    {"name": "os/linux/capabilities-remove-set", "value": {"set": ["CAP_KILL"]}},
                ],
            },
        }
    )
)


def test_patch_edits() -> None:
    patched = apply(
        BASE,
        Patch(
            name="example.com/new",
            exec="/bin/sh -c true",
            user="1",
            group="2",
            supplementary_groups="3,4",
            capability="CAP_CHOWN",
            seccomp_mode="retain,errno=ENOSYS",
            seccomp_set="read,write",
            mounts="data,path=/data",
            ports="http,protocol=tcp,port=80",
            isolators="resource/memory,limit=1G:os/linux/no-new-privileges,true",
        ),
    )
    app = patched.app
    assert patched.name == "example.com/new" and app is not None
    assert app.exec == ("/bin/sh", "-c", "true")
    assert (app.user, app.group, app.supplementary_gids) == ("1", "2", (3, 4))
    names = [i.name for i in app.isolators]
    # Capability and seccomp sets replace their kind; the rest is appended.
    assert names == [
        linux.CAPABILITIES_RETAIN_SET,
        linux.SECCOMP_RETAIN_SET,
        "resource/memory",
        linux.NO_NEW_PRIVILEGES,
    ]
    assert app.mount_points[0].path == "/data" and app.ports[0].port == 80
    assert ImageManifest.from_json(patched.to_json()) == ImageManifest.from_json(patched.to_json())


def test_patch_needs_an_app_or_exec() -> None:
    bare = ImageManifest.from_json(b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a"}')
    with pytest.raises(ValidationError, match="no app"):
        apply(bare, Patch(user="1"))
    with pytest.raises(ValidationError, match="no user"):
        apply(bare, Patch(exec="/bin/true"))
    made = apply(bare, Patch(exec="/bin/true", user="0", group="0"))
    assert made.app is not None and made.app.exec == ("/bin/true",)
    assert apply(bare, Patch()) == bare


@pytest.mark.parametrize(
    "patch",
    [
        Patch(capability="CAP_KILL", revoke_capability="CAP_CHOWN"),
        Patch(seccomp_set="read"),
        Patch(seccomp_mode="maybe", seccomp_set="read"),
        Patch(seccomp_mode="retain"),
        Patch(supplementary_groups="1,x"),
        Patch(isolators="example.com/custom,a=b"),
        Patch(isolators="os/linux/oom-score-adj"),
        Patch(isolators="os/linux/oom-score-adj,{"),
        Patch(isolators="resource/cpu,limit"),
        Patch(ports="http,port=80"),
        Patch(mounts="data"),
    ],
)
def test_patch_refusals(patch: Patch) -> None:
    with pytest.raises(ValidationError):
        apply(BASE, patch)
