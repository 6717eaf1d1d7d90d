"""rkt list / status / cat-manifest / rm / gc through rkt.cli.main.main with --dir."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rkt.cli.main import main
from rkt.cli.pod_status import parse_wait
from tests.unit.test_pod_helpers import exit_status, prepared, start_running


@pytest.fixture
def data(tmp_path: Path) -> Path:
    return tmp_path


def _exited(data: Path, *apps: str) -> str:
    uuid = prepared(data / "pods", *apps)
    proc = start_running(data / "pods", uuid)
    proc.kill()
    proc.wait()
    for i, app in enumerate(apps):
        exit_status(data / "pods", uuid, app, i)
    return uuid


def test_list_table_and_json(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uuid = _exited(data, "redis", "etcd")
    ready = prepared(data / "pods")
    assert main(["list", "--dir", str(data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split("\t")[0] == "UUID"
    assert [c for c in lines[0].split("\t") if c] == [
        "UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS"
    ]  # fmt: skip
    rows = {line.split("\t")[0]: [c for c in line.split("\t") if c] for line in lines[1:]}
    assert rows[uuid[:8]][1:4] == ["redis", "example.com/redis:1.0", "exited"]
    assert rows[uuid[:8]][4] == "now" or rows[uuid[:8]][4].endswith("ago")
    assert rows[ready[:8]][1:4] == ["-", "-", "prepared"]
    second = next(line for line in lines if "etcd" in line)
    # Only the first app row carries the pod's cells.
    assert second.startswith("\t") and "exited" not in second
    assert [c for c in second.split("\t") if c] == ["etcd", "example.com/etcd:1.0"]

    assert main(["list", "--dir", str(data), "--no-legend", "--full"]) == 0
    out = capsys.readouterr().out
    assert out.split("\t")[0] in (uuid, ready) and "UUID" not in out
    assert "sha512-abababababab" in out

    assert main(["list", "--dir", str(data), "--format=json"]) == 0
    pods = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert pods[uuid]["state"] == "exited" and pods[uuid]["app_names"] == ["redis", "etcd"]
    assert pods[uuid]["apps"][1]["exit_code"] == 1 and pods[uuid]["apps"][0]["state"] == "exited"
    assert pods[uuid]["user_labels"] == {"team": "infra"}
    assert isinstance(pods[uuid]["created_at"], int) and "started_at" in pods[uuid]
    assert pods[ready]["state"] == "prepared" and "started_at" not in pods[ready]


def test_list_empty(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["list", "--dir", str(data), "--format", "json"]) == 0
    assert capsys.readouterr().out == "null\n"
    assert main(["list", "--dir", str(data), "--no-legend"]) == 0
    assert capsys.readouterr().out == ""


def test_status_lines_and_json(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uuid = _exited(data, "redis", "etcd")
    assert main(["status", "--dir", str(data), uuid[:6]]) == 0
    lines = capsys.readouterr().out.splitlines()
    keys = [line.split("=", 1)[0] for line in lines]
    assert keys == ["state", "created", "started", "networks", "pid", "exited", "app-redis",
                    "app-etcd"]  # fmt: skip
    assert lines[0] == "state=exited" and "pid=4242" in lines and "exited=true" in lines
    assert lines[-2:] == ["app-redis=0", "app-etcd=1"]

    uuid_file = data / "uuid"
    uuid_file.write_text(uuid + "\n")
    assert main(["status", "--dir", str(data), f"--uuid-file={uuid_file}", "--format",
                 "json-pretty", "--wait=1s"]) == 0  # fmt: skip
    out = capsys.readouterr().out
    assert out.startswith('{\n\t"name": ') and json.loads(out)["state"] == "exited"


def test_status_of_running_pod_and_wait_timeout(
    data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    uuid = prepared(data / "pods", "a")
    proc = start_running(data / "pods", uuid)
    try:
        assert main(["status", "--dir", str(data), uuid]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "state=running" and lines[-1] == "exited=false"
        assert main(["status", "--dir", str(data), "--wait=0.2s", uuid]) == 254
        assert "context deadline exceeded" in capsys.readouterr().err
    finally:
        proc.kill()
        proc.wait()
    assert main(["status", "--dir", str(data), "--wait", uuid]) == 0
    assert capsys.readouterr().out.startswith("state=exited\n")


def test_status_errors(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--dir", str(data), "deadbeef"]) == 254
    assert 'no matches found for "deadbeef"' in capsys.readouterr().err
    assert parse_wait("false") == 0 and parse_wait("true") is None
    assert parse_wait("1m30s") == 90 and parse_wait("-1s") is None


def test_cat_manifest(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uuid = prepared(data / "pods", "redis")
    assert main(["cat-manifest", "--dir", str(data), uuid]) == 0
    out = capsys.readouterr().out
    assert "\n\t" in out and json.loads(out)["apps"][0]["name"] == "redis"
    assert main(["cat-manifest", "--dir", str(data), "--pretty-print=false", uuid[:8]]) == 0
    out = capsys.readouterr().out
    assert "\n" not in out.rstrip("\n") and json.loads(out)["acKind"] == "PodManifest"


def test_rm(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    done, ready = _exited(data, "a"), prepared(data / "pods", "b")
    running = prepared(data / "pods", "c")
    proc = start_running(data / "pods", running)
    try:
        assert main(["rm", "--dir", str(data), done, ready, running]) == 254
        captured = capsys.readouterr()
        assert captured.out == f'"{done}"\n"{ready}"\n'
        assert f'rm: pod "{running}" is currently running' in captured.err
        assert captured.err.endswith("rm: failed to remove one or more pods\n")
        assert os.listdir(data / "pods" / "run") == [running]
        assert os.listdir(data / "pods" / "garbage") == []
    finally:
        proc.kill()
        proc.wait()


def test_gc_verb(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uuid = _exited(data, "a")
    assert main(["gc", "--dir", str(data), "--mark-only"]) == 0
    assert capsys.readouterr().err == f'gc: moving pod "{uuid}" to garbage\n'
    assert main(["gc", "--dir", str(data), "--grace-period=0s"]) == 0
    assert capsys.readouterr().out == f'Garbage collecting pod "{uuid}"\n'
    assert os.listdir(data / "pods" / "exited-garbage") == []
