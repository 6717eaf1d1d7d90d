"""rkt.linux.dbus against a real dbus-daemon on a socket of the test's own."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.linux import dbus

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("dbus-daemon") is None, reason="needs dbus-daemon"),
]

CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


@pytest.fixture
def bus(tmp_path: Path) -> Iterator[str]:
    socket = tmp_path / "bus"
    config = tmp_path / "bus.conf"
    config.write_text(CONFIG.format(socket=socket))
    daemon = subprocess.Popen(
        ["dbus-daemon", f"--config-file={config}", "--nofork", "--print-address"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert daemon.stdout is not None
        address = daemon.stdout.readline().strip()  # printed once it listens
        assert address.startswith("unix:path="), address
        yield address
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


def test_hello_calls_replies_and_errors(bus: str) -> None:
    with dbus.Connection(bus) as connection:
        assert connection.unique_name.startswith(":")
        daemon = ("org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus")
        [names] = connection.call(*daemon, "ListNames")
        assert connection.unique_name in names
        [pid] = connection.call(*daemon, "GetConnectionUnixProcessID", "s", connection.unique_name)
        assert pid == os.getpid()
        [owned] = connection.call(*daemon, "RequestName", "su", "org.example.Rocket", 0)
        assert owned == 1  # DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER
        features = dbus.properties_get(connection, *daemon, "Features")
        assert isinstance(features, list)
        with pytest.raises(dbus.DBusError) as caught:
            connection.call(*daemon, "NoSuchMethod", "a(sv)", [("x", ("u", 1))])
        assert caught.value.name == "org.freedesktop.DBus.Error.UnknownMethod"


def test_a_missing_socket_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(dbus.DBusError, match="cannot connect"):
        dbus.Connection(f"unix:path={tmp_path}/none")
