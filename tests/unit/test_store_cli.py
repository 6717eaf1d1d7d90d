"""The ``rkt image`` verbs through ``rkt.cli.main.main``: output formats, messages, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from rkt.cli.image_list import full_time, human_bytes, human_time, tabulate
from rkt.cli.main import main
from tests.unit.test_store_support import layout_aci, open_store


def rkt(tmp: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main([*args, "--dir", str(tmp / "data")])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def images(tmp_path: Path) -> list[str]:
    with open_store(tmp_path) as store:
        a = store.import_aci(
            layout_aci(tmp_path, "example.com/a", {"f": "a"}, labels={"version": "1.0"})
        )
        b = store.import_aci(layout_aci(tmp_path, "example.com/b", {"f": "b" * 5000}))
        return [a.id, b.id]


def test_list_table(tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]) -> None:
    code, out, _ = rkt(tmp_path, capsys, "image", "list")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[0].split("\t")[0] == "ID" and "NAME" in lines[0] and "LAST USED" in lines[0]
    assert lines[1].startswith(images[0][:19] + "\t")
    assert "example.com/a:1.0" in lines[1] and "now" in lines[1]
    code, out, _ = rkt(
        tmp_path,
        capsys,
        "image",
        "list",
        "--no-legend",
        "--full",
        "--fields=id,latest",
        "--sort=name",
        "--order=desc",
    )
    assert out.splitlines() == [f"{images[1]}\ttrue", f"{images[0]}\ttrue"]


def test_list_json(tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]) -> None:
    code, out, _ = rkt(tmp_path, capsys, "image", "list", "--format=json")
    doc = json.loads(out)
    assert code == 0 and [e["id"] for e in doc] == images
    assert set(doc[0]) == {"id", "name", "import_time", "last_used_time", "size"}
    assert doc[0]["name"] == "example.com/a:1.0" and doc[0]["import_time"] > 10**18
    code, out, _ = rkt(tmp_path, capsys, "image", "list", "--format=json-pretty")
    assert out.startswith('[\n\t{\n\t\t"id": ')
    code, out, _ = rkt(tmp_path / "empty", capsys, "image", "list", "--format=json")
    assert out == "null\n"


def test_rm_messages_and_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]
) -> None:
    code, out, err = rkt(tmp_path, capsys, "image", "rm", images[0][:20], "example.com/b")
    assert code == 0
    assert out.splitlines() == [
        f'successfully removed aci for image: "{images[0]}"',
        f'successfully removed aci for image: "{images[1]}"',
    ]
    assert "image rm: 2 image(s) successfully removed" in err
    code, out, err = rkt(tmp_path, capsys, "image", "rm", "example.com/nope")
    assert code == 254 and out == "" and "no image" in err
    code, _, err = rkt(tmp_path, capsys, "image", "rm")
    assert code == 254 and "must provide at least one image ID" in err


def test_gc(tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]) -> None:
    code, out, _ = rkt(tmp_path, capsys, "image", "gc")
    assert code == 0 and out == ""
    code, out, err = rkt(tmp_path, capsys, "image", "gc", "--grace-period=0s")
    assert code == 0 and len(out.splitlines()) == 2 and "2 image(s) successfully removed" in err


def test_cat_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]
) -> None:
    code, out, _ = rkt(tmp_path, capsys, "image", "cat-manifest", "example.com/a:1.0")
    assert code == 0 and out.startswith('{\n\t"acKind": "ImageManifest",\n\t"acVersion"')
    code, out, _ = rkt(tmp_path, capsys, "image", "cat-manifest", "--pretty-print=false", images[1])
    assert json.loads(out)["name"] == "example.com/b" and "\n" not in out.strip()
    code, _, err = rkt(tmp_path, capsys, "image", "cat-manifest", "sha512-0000")
    assert code == 254 and err.startswith("image cat-manifest: no image with ID sha512-0000")


def test_export_extract_render_verify(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], images: list[str]
) -> None:
    out_aci = tmp_path / "out.aci"
    assert rkt(tmp_path, capsys, "image", "export", images[0], str(out_aci))[0] == 0
    code, _, err = rkt(tmp_path, capsys, "image", "export", images[0], str(out_aci))
    assert code == 254 and "try --overwrite" in err
    assert (
        rkt(tmp_path, capsys, "image", "extract", "--rootfs-only", images[0], str(tmp_path / "e"))[
            0
        ]
        == 0
    )
    assert (tmp_path / "e/f").read_text() == "a"
    assert rkt(tmp_path, capsys, "image", "render", images[1], str(tmp_path / "r"))[0] == 0
    assert (tmp_path / "r/manifest").exists() and (tmp_path / "r/rootfs/f").exists()
    code, out, _ = rkt(tmp_path, capsys, "image", "verify", images[1][:20], "example.com/a")
    assert code == 0
    assert out.splitlines()[0].startswith("successfully verified checksum for image:")
    # Images without dependencies are rendered as they are imported (one pass over the ACI).
    assert out.splitlines()[1].startswith("successfully verified checksum for image:")
    assert rkt(tmp_path, capsys, "image", "verify") == (0, "", "")
    with open_store(tmp_path) as store:
        (store.datadir.tree(images[1]) / "rootfs/f").write_text("tampered")
    code, out, err = rkt(tmp_path, capsys, "image", "verify")
    assert code == 254 and "was modified" in out and "1 problem(s)" in err
    assert "rendered again" in out  # repaired: a second run finds nothing
    assert rkt(tmp_path, capsys, "image", "verify") == (0, "", "")
    with open_store(tmp_path) as store:
        assert (store.datadir.tree(images[1]) / "rootfs/f").read_text() == "b" * 5000
        (store.datadir.tree(images[1]) / "rootfs/f").write_text("tampered")
    code, out, _ = rkt(tmp_path, capsys, "image", "verify", images[1])
    assert "rebuilding" in out
    assert rkt(tmp_path, capsys, "image", "verify")[0] == 0


def test_formatting_helpers() -> None:
    assert [human_bytes(n) for n in (5, 512, 1536, 12 * 1024**2, 143 * 1024**2)] == [
        "5 B",
        "512 B",
        "1.5 KiB",
        "12 MiB",
        "143 MiB",
    ]
    now = 10**18
    sec = 10**9
    assert human_time(now, now) == "now"
    assert human_time(now - 150 * sec, now) == "2 minutes ago"
    assert human_time(now - 6 * 86400 * sec, now) == "6 days ago"
    assert human_time(now - 55 * 60 * sec, now) == "55 minutes ago"
    assert full_time(1_450_092_633_652_000_000).count(" ") == 3
    assert tabulate([["ID", "NAME", "X"], ["sha512-91e98d7f1679", "a", "b"]]) == (
        "ID\t\t\tNAME\tX\nsha512-91e98d7f1679\ta\tb\n"
    )


def test_image_list_does_not_import_heavy_modules(tmp_path: Path, images: list[str]) -> None:
    probe = (
        "import sys; from rkt.cli.main import main; "
        f"main(['image', 'list', '--dir', {str(tmp_path / 'data')!r}]); "
        "bad = [m for m in sys.modules if m.split('.')[0] in ('urllib3', 'pysequoia') "
        "or m.startswith('appc.aci.reader') or m.startswith('appc.schema')]; "
        "print('BAD', bad, file=sys.stderr) if bad else None; sys.exit(1 if bad else 0)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
