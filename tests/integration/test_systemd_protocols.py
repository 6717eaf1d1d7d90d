"""systemd's protocols through ``rkt run`` on this host, with the test as the service manager:
it passes a listening socket as systemd does (``LISTEN_FDS``/``LISTEN_PID`` for rkt's own
pid), and listens on a ``NOTIFY_SOCKET`` of its own for ``READY=1``. The same paths run under a
real systemd in the VM lane (tests/vm/guest)."""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration import podkit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="pods need root and busybox"),
    pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc for the test helper"),
]

HELPER_SOURCE = Path(__file__).resolve().parents[1] / "vm" / "sdhelper.c"
# Puts the fds named in TEST_FDS at 3.. and execs rkt as this very process, so that
# LISTEN_PID names it, as systemd sets them up.
EXEC_WITH_LISTEN_PID = (
    "import fcntl, os, sys\n"
    "fds = os.environ['TEST_FDS'].split(',')\n"
    "high = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 100) for fd in fds]\n"
    "for index, fd in enumerate(high): os.dup2(fd, 3 + index); os.close(fd)\n"
    "os.environ['LISTEN_PID'] = str(os.getpid())\n"
    "os.execv(sys.executable, [sys.executable, '-m', 'rkt.cli.main', *sys.argv[1:]])"
)


@pytest.fixture(scope="module")
def base(base: Path) -> Path:
    """The common base with the test helper, built static, as /bin/sdhelper."""
    subprocess.run(
        ["gcc", "-static", "-O2", "-o", str(base / "bin/sdhelper"), str(HELPER_SOURCE)],
        check=True,
    )
    return base


def test_passed_sockets_reach_the_socket_activated_app(
    data: Path, base: Path, tmp_path: Path
) -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    port = listener.getsockname()[1]
    other = socket.socket()  # passed too, but for no port of the app
    other.bind(("127.0.0.1", 0))
    other.listen()
    app = {
        "exec": ["/bin/sdhelper", "serve", "hello"],
        "ports": [{"name": "web", "protocol": "tcp", "port": port, "socketActivated": True}],
    }
    aci = podkit.make_image(base, tmp_path, "served", app)
    fds = (listener.fileno(), other.fileno())
    env = dict(os.environ, LISTEN_FDS="2", LISTEN_FDNAMES="web:other",
               TEST_FDS=",".join(map(str, fds)))  # fmt: skip
    proc = subprocess.Popen(
        [sys.executable, "-c", EXEC_WITH_LISTEN_PID, f"--dir={data}",
         "--insecure-options=image", "run", "--net=none", str(aci),
         # a flag after the image, as units write them: rkt is still the process that
         # systemd's LISTEN_PID names
         f"--uuid-file-save={tmp_path / 'uuid'}"],
        env=env, pass_fds=fds, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as connection:
            answer = connection.makefile().readline()
        assert answer == "hello fds=1 names=web\n"
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
        listener.close()
        other.close()


def _supervisor(data: Path, uuid_file: Path) -> str:
    try:
        uuid = uuid_file.read_text().strip()
        [pod] = list((data / "pods").glob(f"*/{uuid}")) if uuid else [Path("/nonexistent")]
        return os.readlink(pod / "stage1/rootfs/rkt/supervisor-status")
    except (OSError, ValueError):
        return ""


def test_ready_is_relayed_once_the_notify_app_says_so(
    data: Path, base: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    script = (
        "while [ ! -e /gate/go ]; do sleep 0.05; done;"
        ' /bin/sdhelper notify READY=1; echo "socket=$NOTIFY_SOCKET"; sleep 600'
    )
    app = {"exec": ["/bin/sh", "-c", script], "mountPoints": [{"name": "gate", "path": "/gate"}]}
    annotations = {"appc.io/executor/supports-systemd-notify": "true"}
    aci = podkit.make_image(base, tmp_path, "notifier", app, annotations=annotations)
    manager = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    manager.bind(str(tmp_path / "notify"))
    manager.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    manager.settimeout(60)
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(
        [*podkit.RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none",
         str(aci), f"--volume=gate,kind=host,source={gate}", f"--uuid-file-save={uuid_file}"],
        env=dict(os.environ, NOTIFY_SOCKET=str(tmp_path / "notify")),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while _supervisor(data, uuid_file) != "started":
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)
        # Every app started, and no READY=1 yet: not ready.
        assert podkit.rkt(data, "status", "--wait-ready=1s", f"--uuid-file={uuid_file}").returncode
        (gate / "go").touch()
        message, ancillary, _, _ = manager.recvmsg(4096, socket.CMSG_SPACE(12))
        assert message == b"READY=1"
        # From rkt's own process, as systemd's NotifyAccess=main (the default) requires.
        [(level, kind, credentials)] = ancillary
        assert (level, kind) == (socket.SOL_SOCKET, socket.SCM_CREDENTIALS)
        assert struct.unpack("=iII", credentials)[0] == proc.pid
        uuid = uuid_file.read_text().strip()
        assert podkit.rkt(data, "status", "--wait-ready=10s", uuid).returncode == 0
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=60)
        manager.close()
    assert "socket=/run/systemd/notify" in out, err
