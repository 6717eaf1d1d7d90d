"""rkt's systemd integration as planned (rkt.stage1.planner.systemd_units); its parsers."""

from __future__ import annotations

import json
import os
from pathlib import Path

from appc.schema.app import App, Port
from appc.schema.image import ImageManifest
from rkt.linux import activation, journal, notify
from rkt.stage1.planner import systemd_units
from rkt.stage1.planner.plan import PodOptions


def _image(annotations: list[dict[str, str]]) -> ImageManifest:
    document = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "example.com/x",
                "annotations": annotations}  # fmt: skip
    return ImageManifest.from_json(json.dumps(document))


def test_notify_support_is_the_images_annotation() -> None:
    name = systemd_units.NOTIFY_ANNOTATION
    assert systemd_units.supports_notify(_image([{"name": name, "value": "true"}]))
    assert not systemd_units.supports_notify(_image([{"name": name, "value": "false"}]))
    assert not systemd_units.supports_notify(_image([]))
    mount = systemd_units.notify_mount("/pods/run/u", "web")
    assert mount.describe() == "bind /pods/run/u/stage1/notify/web -> /run/systemd/notify"
    assert systemd_units.notify_environment() == (("NOTIFY_SOCKET", "/run/systemd/notify"),)


def test_passed_sockets_go_to_socket_activated_ports_of_the_same_protocol_and_number() -> None:
    app = App(
        exec=("/bin/x",),
        user="0",
        group="0",
        ports=(
            Port("web", "tcp", 80, socket_activated=True),
            Port("dns", "udp", 53, socket_activated=True),
            Port("admin", "tcp", 81),
        ),
    )
    options = PodOptions(
        pod_dir="/p",
        hostname="h",
        listen_sockets=((3, "unknown", "tcp", 80), (4, "x", "udp", 53), (5, "y", "tcp", 81),
                        (6, "z", "tcp", 53)),
    )  # fmt: skip
    assert systemd_units.listen_fds(app, options) == ((3, "web"), (4, "x"))
    assert systemd_units.listen_fds(App(exec=("/bin/x",), user="0", group="0"), options) == ()


def test_notifications_parse_key_value_lines() -> None:
    assert notify.parse(b"READY=1\nSTATUS=up and running\n\ngarbage\n=x") == {
        "READY": "1",
        "STATUS": "up and running",
    }
    assert notify.parse(b"X=" + b"a" * 10_000) == {"X": "a" * (notify.MAX_DATAGRAM - 2)}


def test_listen_fds_are_ours_only_when_listen_pid_names_us() -> None:
    assert activation.passed({"LISTEN_PID": "7", "LISTEN_FDS": "2"}, 7) == [3, 4]
    assert activation.passed({"LISTEN_PID": "8", "LISTEN_FDS": "2"}, 7) == []
    assert activation.passed({"LISTEN_PID": "7", "LISTEN_FDS": "x"}, 7) == []


def test_a_journal_stream_is_recognised_by_device_and_inode(tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_text("")
    with open(path) as f:
        info = os.fstat(f.fileno())
        same = {"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}
        assert journal.is_journal_stream(f.fileno(), same)
        assert not journal.is_journal_stream(f.fileno(), {"JOURNAL_STREAM": "1:2"})
        assert not journal.is_journal_stream(f.fileno(), {})
