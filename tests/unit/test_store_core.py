"""The Store API: import, lookup, render, verify, gc, and its crash and concurrency promises."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from rkt.datadir import DataDir
from rkt.errors import AmbiguousImage, ImageNotFound, StoreError
from rkt.store import Remote, Store
from rkt.store.index import MIGRATIONS
from tests.unit.test_store_support import layout_aci, open_store


def test_import_is_idempotent_and_records_the_image(tmp_path: Path) -> None:
    aci = layout_aci(tmp_path, "example.com/app", {"bin/app": "x"}, labels={"version": "1.0"})
    with open_store(tmp_path) as store:
        first = store.import_aci(aci)
        with open(aci, "rb") as stream:
            second = store.import_aci(stream)
        assert first.id == second.id and len(first.id) == len("sha512-") + 128
        assert first.name == "example.com/app" and first.labels == (("version", "1.0"),)
        assert first.size == store.datadir.blob(first.id).stat().st_size
        assert [r.id for r in store.list()] == [first.id]
        assert second.last_used >= first.last_used
        raw, manifest = store.manifest(first.id)
        assert manifest.name == "example.com/app" and b"ImageManifest" in raw
        with store.open_blob(first.id) as blob:
            assert blob.read(512)


def test_get_by_prefix(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        by_prefix: dict[str, str] = {}
        clash = None
        for n in range(200):  # until two IDs share their first two digits
            image_id = store.import_aci(layout_aci(tmp_path, "example.com/i", {"f": str(n)})).id
            if image_id[:9] in by_prefix:
                clash = image_id
                break
            by_prefix[image_id[:9]] = image_id
        assert clash is not None
        with pytest.raises(AmbiguousImage, match="ambiguous"):
            store.get(clash[:9])
        assert store.get(clash[:40]).id == clash
        assert store.get(clash.upper().replace("SHA512", "sha512")).id == clash
        with pytest.raises(ImageNotFound, match="invalid image ID"):
            store.get("sha512-a")
        with pytest.raises(ImageNotFound, match="no image"):
            store.get("sha512-" + "0" * 128)
        with pytest.raises(ImageNotFound, match="invalid image ID"):
            store.get("md5-abc")


def test_find_prefers_latest_label_then_newest(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        v1 = store.import_aci(layout_aci(tmp_path, "example.com/a", {}, labels={"version": "1"}))
        v2 = store.import_aci(layout_aci(tmp_path, "example.com/a", {}, labels={"version": "2"}))
        assert store.find("example.com/a", {"version": "latest"}) == store.get(v2.id)
        assert store.find("example.com/a", {"version": "1"}).id == v1.id  # type: ignore[union-attr]
        assert store.find("example.com/a", {"version": "3"}) is None
        assert store.find("example.com/a", {"os": "linux"}) is None
        lt = store.import_aci(
            layout_aci(tmp_path, "example.com/a", {"x": "y"}, labels={"version": "latest"})
        )
        store.import_aci(layout_aci(tmp_path, "example.com/a", {}, labels={"version": "9"}))
        assert store.find("example.com/a", {"version": "latest"}).id == lt.id  # type: ignore[union-attr]
        assert [r.name for r in store.by_name("example.com/a")] == ["example.com/a"] * 4


def _import_worker(args: tuple[str, str]) -> str:
    data, aci = args
    with Store(DataDir(Path(data))) as store:
        return store.import_aci(Path(aci)).id


def test_concurrent_imports_one_blob_one_row(tmp_path: Path) -> None:
    aci = layout_aci(tmp_path, "example.com/big", {f"f{i}": "x" * 50_000 for i in range(40)})
    data = tmp_path / "data"
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(8) as pool:
        ids = pool.map(_import_worker, [(str(data), str(aci))] * 8)
    assert len(set(ids)) == 1
    with open_store(tmp_path) as store:
        assert len(store.list()) == 1
        assert len(list(store.datadir.blobs.rglob("sha512-*"))) == 1
        assert os.listdir(store.datadir.tmp) == []
        assert store.verify() == []


KILLED_IMPORT = """
import sys
from pathlib import Path
from rkt.datadir import DataDir
from rkt.store import Store
Store(DataDir(Path(sys.argv[1]))).import_aci(Path(sys.argv[2]))
"""


def test_sigkill_mid_import_leaves_nothing_visible(tmp_path: Path) -> None:
    aci = layout_aci(tmp_path, "example.com/slow", {"f": "x" * 4_000_000})
    fifo = tmp_path / "source.aci"
    os.mkfifo(fifo)
    with open_store(tmp_path) as store:
        tmp_dir = store.datadir.tmp
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED_IMPORT, str(tmp_path / "data"), str(fifo)]
    )
    payload = aci.read_bytes()
    with open(fifo, "wb") as writer:
        writer.write(payload[: len(payload) // 2])
        writer.flush()
        # Killed mid-import: once its temporary blob holds part of what was written.
        deadline = time.monotonic() + 20
        while not any(
            n.startswith("store-import-") and os.path.getsize(tmp_dir / n) > 0
            for n in os.listdir(tmp_dir)
        ):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert any(n.startswith("store-import-") for n in os.listdir(tmp_dir))
    with open_store(tmp_path) as store:  # the next open cleans the leftover
        assert store.list() == []
        assert os.listdir(tmp_dir) == []
        assert list(store.datadir.blobs.rglob("sha512-*")) == []
        assert store.verify() == []


def _import_loop(args: tuple[str, list[str]]) -> int:
    data, acis = args
    with Store(DataDir(Path(data))) as store:
        for _ in range(3):
            for aci in acis:
                store.import_aci(Path(aci))
    return 0


def _gc_loop(data: str) -> int:
    with Store(DataDir(Path(data))) as store:
        for _ in range(15):
            store.gc(timedelta(0))
    return 0


def test_gc_racing_imports_stays_consistent(tmp_path: Path) -> None:
    acis = [str(layout_aci(tmp_path, f"example.com/r{i}", {"f": "x" * 100_000})) for i in range(4)]
    data = str(tmp_path / "data")
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(4) as pool:
        results = [pool.apply_async(_import_loop, ((data, acis),)) for _ in range(3)]
        results.append(pool.apply_async(_gc_loop, (data,)))
        assert [r.get(timeout=120) for r in results] == [0] * 4
    with open_store(tmp_path) as store:
        assert store.verify() == []
        for record in store.list():
            assert store.datadir.blob(record.id).exists()


def test_render_with_dependencies_in_ace_order(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        d = store.import_aci(
            layout_aci(tmp_path, "example.com/d", {"who": "d", "bd": "d", "d": "d"})
        )
        b = store.import_aci(
            layout_aci(tmp_path, "example.com/b", {"who": "b", "bc": "b", "bd": "b", "b": "b"})
        )
        c = store.import_aci(
            layout_aci(
                tmp_path,
                "example.com/c",
                {"who": "c", "bc": "c"},
                deps=[{"imageName": "example.com/d"}],
            )
        )
        a = store.import_aci(
            layout_aci(
                tmp_path,
                "example.com/a",
                {"who": "a"},
                deps=[
                    {"imageName": "example.com/b", "imageID": b.id},
                    {"imageName": "example.com/c"},
                ],
            )
        )
        rootfs = store.render(a.id)
        assert rootfs == store.datadir.tree(a.id) / "rootfs"
        read = {name: (rootfs / name).read_text() for name in ("who", "bc", "bd", "b", "d")}
        # ace.md: override order B, D, C, A.
        assert read == {"who": "a", "bc": "c", "bd": "d", "b": "b", "d": "d"}
        mtime = (store.datadir.tree(a.id) / "hash").stat().st_mtime_ns
        assert store.render(a.id[:30]) == rootfs  # rendered once
        assert (store.datadir.tree(a.id) / "hash").stat().st_mtime_ns == mtime
        assert store.tree_sizes()[a.id] > 0
        assert store.verify() == []
        assert d.id and c.id


def test_path_whitelist_of_image_filters_dependencies(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.import_aci(
            layout_aci(tmp_path, "example.com/base", {"bin/sh": "sh", "bin/ls": "ls", "etc/x": "x"})
        )
        app = store.import_aci(
            layout_aci(
                tmp_path,
                "example.com/app",
                {"app": "app", "junk": "j"},
                deps=[{"imageName": "example.com/base"}],
                whitelist=["/bin/sh", "/app"],
            )
        )
        rootfs = store.render(app.id)
        files = sorted(str(p.relative_to(rootfs)) for p in rootfs.rglob("*"))
        assert files == ["app", "bin", "bin/sh", "etc"]


def test_missing_dependency_is_named(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        app = store.import_aci(
            layout_aci(tmp_path, "example.com/app", {}, deps=[{"imageName": "example.com/gone"}])
        )
        with pytest.raises(ImageNotFound, match=r"example\.com/gone"):
            store.render(app.id)
        assert os.listdir(store.datadir.tmp) == []


def test_verify_detects_corruption(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        one = store.import_aci(layout_aci(tmp_path, "example.com/one", {"f": "1"}))
        two = store.import_aci(layout_aci(tmp_path, "example.com/two", {"f": "2"}))
        rootfs = store.render(two.id)
        assert store.verify() == []
        blob = store.datadir.blob(one.id)
        data = bytearray(blob.read_bytes())
        data[700] ^= 0xFF
        blob.write_bytes(bytes(data))
        (rootfs / "f").write_text("changed")
        problems = store.verify()
        assert any(one.id in p and "has hash" in p for p in problems)
        assert any("was modified" in p for p in problems)
        with pytest.raises(StoreError, match=r"corrupted|cannot read"):
            store.extract(one.id, tmp_path / "x", rootfs_only=True, overwrite=False)
        stray = store.datadir.blob("sha512-" + "ab" * 64)
        stray.parent.mkdir(exist_ok=True)
        stray.write_bytes(b"x")
        blob.unlink()
        problems = store.verify()
        assert any("is missing" in p for p in problems)
        # A blob without a row is the leftover of an interrupted import: verify removes it
        # (the next command finishes the job) instead of calling the store damaged.
        assert not any("stray" in p or "ab" * 64 in p for p in problems)
        assert not stray.exists()


def test_remove_and_gc(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        one = store.import_aci(layout_aci(tmp_path, "example.com/one", {"f": "1"}))
        two = store.import_aci(layout_aci(tmp_path, "example.com/two", {"f": "2"}))
        store.render(one.id)
        store.put_remote(
            Remote(
                "https://x/one.aci",
                "https://x/one.aci.asc",
                "e",
                60,
                datetime(2020, 1, 2, 3, 4, 5, 678000, tzinfo=UTC),
                one.id,
            )
        )
        assert store.get_remote("https://x/one.aci").download_time.microsecond == 678000  # type: ignore[union-attr]
        store.remove(one.id)
        assert store.get_remote("https://x/one.aci") is None
        assert not store.datadir.tree(one.id).exists()
        assert not store.datadir.blob(one.id).exists()
        with pytest.raises(ImageNotFound):
            store.remove(one.id)
        assert store.gc(timedelta(hours=1)) == []
        orphan_tree = store.datadir.tree("sha512-" + "cd" * 64) / "rootfs"
        orphan_tree.mkdir(parents=True)
        (store.datadir.tmp / "store-import-dead").write_bytes(b"x")
        assert store.gc(timedelta(0)) == [two.id]
        assert store.list() == [] and store.verify() == []
        assert os.listdir(store.datadir.trees) == [] and os.listdir(store.datadir.tmp) == []


def test_migrations_upgrade_an_old_index(tmp_path: Path) -> None:
    datadir = DataDir(tmp_path / "data")
    datadir.create()
    db = sqlite3.connect(datadir.db)
    db.executescript(MIGRATIONS[0])
    db.execute("CREATE TABLE schema_version (version INTEGER NOT NULL)")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.commit()
    db.close()
    with Store(datadir) as store:
        assert store.index.version == len(MIGRATIONS)
        assert store.tree_sizes() == {}
    assert sqlite3.connect(datadir.db).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_outputs_extract_render_export(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        store.import_aci(layout_aci(tmp_path, "example.com/base", {"lib/l": "l"}))
        app = store.import_aci(
            layout_aci(
                tmp_path,
                "example.com/app",
                {"app": "a", "ln": "->app"},
                deps=[{"imageName": "example.com/base"}],
            )
        )
        store.extract(app.id, tmp_path / "e", rootfs_only=False, overwrite=False)
        assert (tmp_path / "e/manifest").exists() and (tmp_path / "e/rootfs/app").exists()
        assert not (tmp_path / "e/rootfs/lib").exists()
        with pytest.raises(StoreError, match="output directory exists"):
            store.extract(app.id, tmp_path / "e", rootfs_only=True, overwrite=False)
        store.extract(app.id, tmp_path / "e", rootfs_only=True, overwrite=True)
        assert sorted(os.listdir(tmp_path / "e")) == ["app", "ln"]
        store.render_to(app.id, tmp_path / "r", rootfs_only=False, overwrite=False)
        assert (tmp_path / "r/rootfs/lib/l").read_text() == "l"
        assert os.readlink(tmp_path / "r/rootfs/ln") == "app"
        store.export(app.id, tmp_path / "x.aci", overwrite=False)
        assert (tmp_path / "x.aci").read_bytes() == store.datadir.blob(app.id).read_bytes()
        with pytest.raises(StoreError, match="exists"):
            store.export(app.id, tmp_path / "x.aci", overwrite=False)


def test_import_renders_self_contained_images_in_the_same_pass(tmp_path: Path) -> None:
    with open_store(tmp_path) as store:
        plain = store.import_aci(layout_aci(tmp_path, "example.com/plain", {"a/b": "x"}))
        tree = store.datadir.tree(plain.id) / "rootfs"
        assert (tree / "a" / "b").read_text() == "x"  # there before render() was asked
        assert store.render(plain.id) == tree
        # Dependencies and whitelists need the full renderer: no tree at import.
        app = store.import_aci(
            layout_aci(
                tmp_path, "example.com/app", {"c": "y"}, deps=[{"imageName": "example.com/plain"}]
            )
        )
        listed = store.import_aci(
            layout_aci(tmp_path, "example.com/listed", {"c": "y", "d": "z"}, whitelist=["/c"])
        )
        assert not store.datadir.tree(app.id).exists()
        assert not store.datadir.tree(listed.id).exists()
        assert (store.render(app.id) / "a" / "b").read_text() == "x"
        assert not (store.render(listed.id) / "d").exists()
        assert store.verify() == []
        assert os.listdir(store.datadir.tmp) == []
