"""Hostile archives: each attack is refused or contained, and nothing outside the target
changes (docs/security.md 1-6). Attacks the archive reader already refuses are checked at import
and, where it matters, again against the extractor alone (defence in depth)."""

from __future__ import annotations

import gzip
import os
import stat
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from appc.aci.limits import Limits
from appc.aci.member import Member, MemberType
from rkt.errors import StoreError
from rkt.store import Store
from rkt.store.extract import ExtractLimits, Extractor
from tests.unit.test_store_support import entry, layout_aci, open_store, raw_aci, snapshot

DIR, REG, SYM, LNK = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE


@dataclass
class Env:
    tmp: Path
    store: Store
    outside: Path
    before: dict[str, tuple[int, int, bytes]]

    def unchanged(self) -> None:
        """Nothing outside the store's data dir and the test outputs changed."""
        skip = (self.tmp / "data", self.tmp / "out")

        def interesting(state: dict[str, tuple[int, int, bytes]]) -> dict[str, object]:
            # The test's own inputs (layouts, archives) come and go; everything else is checked.
            return {k: v for k, v in state.items() if not (k.startswith("layout-") or ".aci" in k)}

        assert interesting(snapshot(self.tmp, skip=skip)) == interesting(self.before)
        assert (self.outside / "secret").read_bytes() == b"secret"
        assert os.stat(self.outside / "secret").st_nlink == 1

    def aci(self, entries: list[tuple[tarfile.TarInfo, bytes]], **kw: object) -> Path:
        return raw_aci(self.tmp / f"a-{os.urandom(3).hex()}.aci", entries, **kw)  # type: ignore[arg-type]

    def render_refused(self, path: Path) -> None:
        """Refused by the renderer, which an image without dependencies goes through before
        it is committed: the import fails and nothing of it stays in the store."""
        with pytest.raises(StoreError, match="refusing"):
            self.store.import_aci(path)
        assert self.store.list() == []
        assert os.listdir(self.store.datadir.tmp) == []
        assert list(self.store.datadir.blobs.iterdir()) == []
        assert list(self.store.datadir.trees.iterdir()) == []
        self.unchanged()

    def import_refused(self, path: Path, limits: Limits | None = None) -> None:
        with pytest.raises(StoreError):
            self.store.import_aci(path, limits=limits)
        assert self.store.list() == []
        assert os.listdir(self.store.datadir.tmp) == []
        assert list(self.store.datadir.blobs.iterdir()) == []
        self.unchanged()


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    outside = tmp_path / "outside"
    (outside / "sub").mkdir(parents=True)
    (outside / "secret").write_bytes(b"secret")
    store = open_store(tmp_path)
    before = snapshot(tmp_path, skip=(tmp_path / "data",))
    yield Env(tmp_path, store, outside, before)
    store.close()


def _extractor(tmp: Path, **kw: object) -> tuple[Extractor, Path]:
    target = tmp / "out"
    target.mkdir(exist_ok=True)
    fd = os.open(target, os.O_RDONLY | os.O_DIRECTORY)
    return Extractor(fd, str(target), **kw), target  # type: ignore[arg-type]


def _nothing(write: object) -> None:
    return None


# 1
def test_dotdot_member_refused(env: Env) -> None:
    env.import_refused(env.aci([entry("rootfs/../../outside/evil", data=b"x")]))


# 2
def test_absolute_member_refused(env: Env) -> None:
    env.import_refused(env.aci([entry(str(env.outside / "evil"), data=b"x")]))


# 3
def test_defence_in_depth_extractor_refuses_dotdot_and_absolute(env: Env) -> None:
    extractor, _target = _extractor(env.tmp)
    for name in ("../outside/evil", str(env.outside / "evil"), "a/../../evil", "a//b"):
        with pytest.raises(StoreError, match="refusing"):
            extractor.add(Member(name, MemberType.REGULAR), _nothing)
    env.unchanged()


# 4
def test_symlink_escape_then_write_through(env: Env) -> None:
    env.render_refused(
        env.aci(
            [
                entry("rootfs/link", SYM, linkname=str(env.outside)),
                entry("rootfs/link/pwned", data=b"x"),
            ]
        )
    )


# 5
def test_relative_symlink_escape_then_write_through(env: Env) -> None:
    env.render_refused(
        env.aci(
            [
                entry("rootfs/up", SYM, linkname="../../../../../../../.."),
                entry("rootfs/up/tmp/pwned", data=b"x"),
            ]
        )
    )


# 6
def test_symlink_planted_by_dependency_is_not_written_through(env: Env) -> None:
    dep = env.store.import_aci(
        env.aci([entry("rootfs/etc", SYM, linkname=str(env.outside))], name="example.com/dep")
    )
    app = env.store.import_aci(
        env.aci(
            [entry("rootfs/etc/secret", data=b"pwned")],
            name="example.com/app",
            extra={"dependencies": [{"imageName": "example.com/dep", "imageID": dep.id}]},
        )
    )
    rootfs = env.store.render(app.id)
    assert (rootfs / "etc").is_dir() and not (rootfs / "etc").is_symlink()
    assert (rootfs / "etc/secret").read_bytes() == b"pwned"
    env.unchanged()


# 7
def test_symlink_to_dir_replaced_by_later_layer_directory(env: Env) -> None:
    dep = env.store.import_aci(
        env.aci([entry("rootfs/lib", SYM, linkname=str(env.outside))], name="example.com/dep")
    )
    app = env.store.import_aci(
        env.aci(
            [
                entry("rootfs/lib", DIR, mode=0o755),
                entry("rootfs/lib/sub", DIR, mode=0o755),
                entry("rootfs/lib/sub/x", data=b"x"),
            ],
            name="example.com/app",
            extra={"dependencies": [{"imageName": "example.com/dep", "imageID": dep.id}]},
        )
    )
    rootfs = env.store.render(app.id)
    assert not (rootfs / "lib").is_symlink()
    assert (rootfs / "lib/sub/x").read_bytes() == b"x"
    env.unchanged()


# 8
def test_hardlink_to_outside_refused(env: Env) -> None:
    env.import_refused(env.aci([entry("rootfs/h", LNK, linkname="../../outside/secret")]))
    env.import_refused(env.aci([entry("rootfs/h", LNK, linkname=str(env.outside / "secret"))]))
    extractor, _ = _extractor(env.tmp)
    with pytest.raises(StoreError, match="refusing"):
        extractor.add(Member("h", MemberType.HARDLINK, linkname="../outside/secret"), _nothing)
    env.unchanged()


# 9
def test_hardlink_to_symlink_refused(env: Env) -> None:
    env.render_refused(
        env.aci(
            [
                entry("rootfs/s", SYM, linkname=str(env.outside / "secret")),
                entry("rootfs/h", LNK, linkname="rootfs/s"),
            ]
        )
    )


# 10
def test_hardlink_to_later_or_unknown_member_refused(env: Env) -> None:
    env.import_refused(
        env.aci([entry("rootfs/h", LNK, linkname="rootfs/f"), entry("rootfs/f", data=b"x")])
    )
    extractor, _ = _extractor(env.tmp)
    with pytest.raises(StoreError, match="not a regular file extracted earlier"):
        extractor.add(Member("h", MemberType.HARDLINK, linkname="unknown"), _nothing)
    env.unchanged()


# 11
def test_hardlink_to_directory_refused(env: Env) -> None:
    env.import_refused(
        env.aci([entry("rootfs/d", DIR), entry("rootfs/h", LNK, linkname="rootfs/d")])
    )
    extractor, target = _extractor(env.tmp)
    extractor.add(Member("d", MemberType.DIRECTORY, mode=0o755), _nothing)
    with pytest.raises(StoreError, match="refusing"):
        extractor.add(Member("h", MemberType.HARDLINK, linkname="d"), _nothing)
    assert not (target / "h").exists()
    env.unchanged()


# 12
def test_device_nodes_skipped_as_non_root_and_where_not_allowed(env: Env) -> None:
    for options in ({"as_root": False}, {"as_root": True, "devices": False}):
        extractor, target = _extractor(env.tmp, **options)
        extractor.add(
            Member(
                f"null{len(os.listdir(target))}", MemberType.CHAR_DEVICE, devmajor=1, devminor=3
            ),
            _nothing,
        )
        extractor.add(Member("sda", MemberType.BLOCK_DEVICE, devmajor=8, devminor=0), _nothing)
        assert os.listdir(target) == []
        assert len(extractor.skipped) == 2
    env.unchanged()


# 13
@pytest.mark.skipif(os.geteuid() != 0, reason="creating device nodes needs root")
def test_device_nodes_created_only_inside_as_root(env: Env) -> None:
    record = env.store.import_aci(
        env.aci([entry("rootfs/null", tarfile.CHRTYPE, mode=0o666, devmajor=1, devminor=3)])
    )
    rootfs = env.store.render(record.id)
    st = os.lstat(rootfs / "null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1
    env.unchanged()


# 14
def test_fifo_created_inside_without_blocking(env: Env) -> None:
    record = env.store.import_aci(env.aci([entry("rootfs/fifo", tarfile.FIFOTYPE, mode=0o600)]))
    rootfs = env.store.render(record.id)
    assert stat.S_ISFIFO(os.lstat(rootfs / "fifo").st_mode)
    env.unchanged()


# 15
def test_setuid_kept_but_within_tree(env: Env) -> None:
    record = env.store.import_aci(env.aci([entry("rootfs/su", data=b"#!", mode=0o4755)]))
    rootfs = env.store.render(record.id)
    assert stat.S_IMODE(os.lstat(rootfs / "su").st_mode) == 0o4755
    env.unchanged()


# 16
def test_decompression_bomb_limited(env: Env) -> None:
    plain = env.aci([entry("rootfs/zeros", data=bytes(32 * 1024 * 1024))])
    bomb = env.tmp / "bomb.aci"
    bomb.write_bytes(gzip.compress(plain.read_bytes(), compresslevel=1))
    plain.unlink()
    assert bomb.stat().st_size < 1024 * 1024
    env.import_refused(bomb, Limits(max_uncompressed_size=4 * 1024 * 1024))
    extractor, target = _extractor(env.tmp, limits=ExtractLimits(max_total_size=1000))
    with pytest.raises(StoreError, match="bytes in total"):
        extractor.add(Member("big", MemberType.REGULAR, size=2000), _nothing)
    assert os.listdir(target) == []


# 17
def test_too_many_entries(env: Env) -> None:
    many = [entry(f"rootfs/f{i}", data=b"") for i in range(60)]
    env.import_refused(env.aci(many), Limits(max_members=50))
    extractor, _ = _extractor(env.tmp, limits=ExtractLimits(max_entries=3))
    for i in range(3):
        extractor.add(Member(f"f{i}", MemberType.REGULAR), _nothing)
    with pytest.raises(StoreError, match="more than 3 entries"):
        extractor.add(Member("f3", MemberType.REGULAR), _nothing)


# 18
def test_very_long_path_refused(env: Env) -> None:
    name = "rootfs/" + "/".join(["d" * 200] * 25) + "/f"
    env.render_refused(env.aci([entry(name, data=b"x")]))


# 19
def test_deeply_nested_path_refused(env: Env) -> None:
    env.render_refused(env.aci([entry("rootfs/" + "a/" * 300 + "f", data=b"x")]))


# 20
def test_manifest_too_large_refused(env: Env) -> None:
    big = {"annotations": [{"name": "pad", "value": "x" * 5000}]}
    env.import_refused(env.aci([], extra=big), Limits(max_manifest_size=1000))


# 21
def test_file_replacing_directory_in_same_archive_refused(env: Env) -> None:
    env.import_refused(env.aci([entry("rootfs/d", DIR), entry("rootfs/d", data=b"x")]))
    env.render_refused(env.aci([entry("rootfs/d/f", data=b"x"), entry("rootfs/d", data=b"x")]))


# 22
def test_file_replacing_directory_of_dependency_is_contained(env: Env) -> None:
    dep = env.store.import_aci(
        env.aci([entry("rootfs/d", DIR), entry("rootfs/d/f", data=b"dep")], name="example.com/dep")
    )
    app = env.store.import_aci(
        env.aci(
            [entry("rootfs/d", data=b"file")],
            name="example.com/app",
            extra={"dependencies": [{"imageName": "example.com/dep"}]},
        )
    )
    assert (env.store.render(app.id) / "d").read_bytes() == b"file"
    assert dep.id
    env.unchanged()


# 23
def test_directory_replacing_symlink_to_outside(env: Env) -> None:
    extractor, target = _extractor(env.tmp)
    extractor.add(Member("x", MemberType.SYMLINK, linkname=str(env.outside)), _nothing)
    extractor.new_layer()
    extractor.add(Member("x", MemberType.DIRECTORY, mode=0o755), _nothing)
    extractor.add(Member("x/secret", MemberType.REGULAR, size=0), _nothing)
    extractor.finish()
    assert (target / "x").is_dir() and not (target / "x").is_symlink()
    env.unchanged()


# 24
def test_pax_path_with_dotdot_refused(env: Env) -> None:
    info, data = entry("rootfs/innocent", data=b"x", pax={"path": "rootfs/../../outside/evil"})
    env.import_refused(env.aci([(info, data)]))


# 25
def test_gnu_longname_traversal_refused(env: Env) -> None:
    name = "rootfs/" + "a" * 120 + "/../../../outside/evil"
    env.import_refused(env.aci([entry(name, data=b"x")], fmt=tarfile.GNU_FORMAT))


# 26
def test_xattr_namespaces(env: Env) -> None:
    xattrs = {
        "user.ok": b"1",
        "trusted.evil": b"1",
        "security.selinux": b"system_u:object_r:shadow_t:s0",
        "security.ima": b"x",
    }
    extractor, target = _extractor(env.tmp, as_root=False)
    extractor.add(Member("f", MemberType.REGULAR, xattrs=xattrs), _nothing)
    skipped = " ".join(extractor.skipped)
    for key in ("trusted.evil", "security.selinux", "security.ima"):
        assert key in skipped
    names = set(os.listxattr(target / "f")) if "user.ok" not in skipped else set()
    assert names <= {"user.ok"}
    extractor, target = _extractor(env.tmp, as_root=True)
    extractor.add(Member("g", MemberType.REGULAR, xattrs=xattrs), _nothing)
    assert "security.selinux" in " ".join(extractor.skipped)
    assert "security.ima" in " ".join(extractor.skipped)
    env.unchanged()


# 27
def test_symlink_loop_kept_and_never_followed(env: Env) -> None:
    env.render_refused(
        env.aci(
            [
                entry("rootfs/a", SYM, linkname="b"),
                entry("rootfs/b", SYM, linkname="a"),
                entry("rootfs/a/x", data=b"x"),
            ]
        )
    )
    record = env.store.import_aci(
        env.aci([entry("rootfs/a", SYM, linkname="b"), entry("rootfs/b", SYM, linkname="a")])
    )
    rootfs = env.store.render(record.id)
    assert os.readlink(rootfs / "a") == "b"


# 28
def test_absolute_symlinks_kept_verbatim(env: Env) -> None:
    target = str(env.outside / "secret")
    record = env.store.import_aci(
        env.aci([entry("rootfs/abs", SYM, linkname=target), entry("rootfs/etc", SYM, linkname="/")])
    )
    rootfs = env.store.render(record.id)
    assert os.readlink(rootfs / "abs") == target
    assert os.readlink(rootfs / "etc") == "/"
    env.unchanged()


# 29
def test_path_whitelist_cannot_escape(env: Env) -> None:
    wl = ["/../../outside/secret", "/bin/sh", str(env.outside / "secret"), "/../etc"]
    aci = layout_aci(
        env.tmp,
        "example.com/wl",
        {"bin/sh": "sh", "bin/ls": "ls", "etc/passwd": "root"},
        whitelist=wl,
    )
    record = env.store.import_aci(aci)
    rootfs = env.store.render(record.id)
    files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
    assert files == ["bin", "bin/sh", "etc"]
    env.unchanged()


# 30
def test_write_through_symlink_to_file_in_same_archive_refused(env: Env) -> None:
    env.render_refused(
        env.aci(
            [
                entry("rootfs/s", SYM, linkname=str(env.outside / "secret")),
                entry("rootfs/s/x", data=b"pwned"),
            ]
        )
    )


# 31
def test_hardlink_whose_target_was_swapped_refused(env: Env) -> None:
    extractor, target = _extractor(env.tmp)
    extractor.add(Member("f", MemberType.REGULAR), _nothing)
    os.unlink(target / "f")
    os.symlink(env.outside / "secret", target / "f")  # someone swapped it behind our back
    with pytest.raises(StoreError, match="replaced"):
        extractor.add(Member("h", MemberType.HARDLINK, linkname="f"), _nothing)
    env.unchanged()
