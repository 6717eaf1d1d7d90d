"""Writing to systemd-journald as a stream, the way systemd connects a service's stdout.

journald's stream socket (``/run/systemd/journal/stdout``) takes a short header, then lines;
it tags each line with the header's identifier and priority and with the unit of the process
that connected (``_SYSTEMD_UNIT``, from its cgroup at connect time). Knows no pods.
"""

from __future__ import annotations

import os
import socket

STDOUT_SOCKET = "/run/systemd/journal/stdout"
#: syslog priorities for output and errors
INFO, ERR = 6, 3


def is_journal_stream(fd: int, environ: dict[str, str] | None = None) -> bool:
    """Whether ``fd`` is the journal stream systemd gave this service (``$JOURNAL_STREAM`` is
    its ``device:inode``, systemd.exec(5))."""
    value = (environ if environ is not None else os.environ).get("JOURNAL_STREAM", "")
    device, sep, inode = value.partition(":")
    if not sep or not device.isdigit() or not inode.isdigit():
        return False
    try:
        info = os.fstat(fd)
    except OSError:
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def stream(
    identifier: str, priority: int = INFO, path: str = STDOUT_SOCKET, *, unit: str = ""
) -> int:
    """A new stream to journald whose lines are logged with ``SYSLOG_IDENTIFIER=identifier``
    at ``priority``; its fd (close-on-exec: dup2 it where it is wanted). ``unit``: the unit
    journald files the lines under should the connecting process be gone before it looked at
    its cgroup (a short-lived pod's PID 1), as systemd's own services do."""
    if "\n" in unit or "\n" in identifier:
        raise ValueError("a journal stream's identifier and unit are single lines")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    try:
        sock.connect(path)
        sock.shutdown(socket.SHUT_RD)
        # identifier, unit id, priority, level prefix (no: the app's "<3>" stays text),
        # forward to syslog, to kmsg, to the console.
        header = f"{identifier}\n{unit}\n{priority}\n0\n0\n0\n0\n"
        sock.sendall(header.encode())
    except OSError:
        sock.close()
        raise
    return sock.detach()
