"""A full disk: with the data dir on a small tmpfs, ``fetch``, ``prepare``, ``run`` and ``gc``
fail with one clear line when space runs out (or, for gc, succeed), and once space is freed the
store verifies clean and every earlier image and pod still works (issue "Faults: disk full";
docs/security.md: "A full disk gives a clear error naming the path")."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.hostkit import World

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
]

FULL = ("No space left on device", "database or disk is full")


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    found = World.make(tmp_path, seed=11)
    found.data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m,mode=0700", "rocket-full",
                    str(found.data)], check=True)  # fmt: skip
    try:
        yield found
    finally:
        found.cleanup()
        subprocess.run(["umount", "-l", str(found.data)], check=False)


def _fill(path: Path) -> None:
    """Write ``path`` until the filesystem has no room left."""
    chunk = b"\0" * (1 << 20)
    with open(path, "wb", buffering=0) as f:
        with contextlib.suppress(OSError):
            while True:
                f.write(chunk)
        small = b"\0" * 4096
        while True:
            try:
                f.write(small)
            except OSError as err:
                assert err.errno == errno.ENOSPC
                break


def _refused_clearly(done: subprocess.CompletedProcess[str], verb: str) -> None:
    errors = [line for line in done.stderr.splitlines() if "warning:" not in line]
    assert done.returncode == 254, (verb, done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    assert len(errors) == 1 and errors[0].startswith(f"{verb}: "), done.stderr
    assert any(reason in errors[0] for reason in FULL), errors[0]


def test_a_full_disk_is_a_clear_error_and_recovers(world: World) -> None:
    run = ("--insecure-options=image", "run", "--net=none")
    first = world.rkt("--insecure-options=image", "fetch", "--full", str(world.images["quick"]))
    assert first.returncode == 0, first.stderr
    image = first.stdout.strip()
    prepared = world.rkt("--insecure-options=image", "prepare", image)
    assert prepared.returncode == 0, prepared.stderr
    ran = world.rkt(*run, image)
    assert ran.returncode == 0, ran.stderr
    pods_before = world.rkt("list", "--no-legend", "--full").stdout.split("\n")

    filler = world.data / "filler"
    _fill(filler)
    _refused_clearly(
        world.rkt("--insecure-options=image", "fetch", str(world.images["sleeper"])), "fetch"
    )
    _refused_clearly(world.rkt("--insecure-options=image", "prepare", image), "prepare")
    _refused_clearly(world.rkt(*run, image), "run")
    for verb in (("gc", "--grace-period=0s"), ("image", "gc")):
        done = world.rkt(*verb)
        assert "Traceback" not in done.stderr
        if done.returncode != 0:
            _refused_clearly(done, " ".join(verb))
    listed = world.rkt("list", "--no-legend", "--full")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr

    filler.unlink()
    verified = world.rkt("image", "verify")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert os.listdir(world.data / "cas/tmp") == []  # the store's temporary files
    # What was there before still works: the prepared pod runs, the image runs again.
    uuid = prepared.stdout.strip()
    again = world.rkt("run-prepared", "--net=none", uuid)
    assert again.returncode == 0 and "done" in again.stdout, again.stderr
    assert world.rkt(*run, image).returncode == 0
    fetched = world.rkt("--insecure-options=image", "fetch", str(world.images["sleeper"]))
    assert fetched.returncode == 0, fetched.stderr
    # Nothing the refused commands started is left once gc has run.
    world.gc()
    assert world.rkt("list", "--no-legend").stdout == ""
    assert world.leftovers() == {}, world.leftovers()
    assert len(pods_before) >= 2
