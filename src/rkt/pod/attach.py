"""Attaching to a running app's streams through its pod's monitor (rkt-stage1, streams.c).

The monitor listens on ``stage1/attach/<app>`` for apps whose modes include "stream" or
"tty", and serves one client at a time (the next waits its turn). For a tty app the bytes go
both ways unchanged; otherwise what the client sends is the app's stdin, and the app's output
comes in frames: one byte (1 stdout, 2 stderr), four bytes of length (big-endian), the bytes.
The detach sequence (ctrl-p ctrl-q by default, as podman's) is the client's: it is never sent.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import struct
from collections.abc import Callable
from pathlib import Path

from rkt.errors import PodError
from rkt.pod import layout

ATTACH_DIR = layout.ATTACH_DIR
DETACH_KEYS = b"\x10\x11"  # ctrl-p ctrl-q
_HEADER = struct.Struct(">BI")


def connect(pod_dir: Path, app: str) -> socket.socket:
    """A connection to the app's attach socket (through the directory's fd: a pod's path can
    be longer than sun_path); PodError when the app has none."""
    directory = pod_dir / ATTACH_DIR
    if not (directory / app).exists():
        raise PodError(
            f'app "{app}" has no stream to attach to',
            hint="run it with --stdin, --stdout or --stderr set to stream or tty",
        )
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(f"/proc/self/fd/{fd}/{app}")
    except OSError as err:
        sock.close()
        raise PodError(f'cannot attach to app "{app}": {err.strerror}') from err
    finally:
        os.close(fd)
    return sock


class Frames:
    """The monitor's frames, decoded as they arrive: ``feed`` bytes, get (stream, data)."""

    def __init__(self) -> None:
        self.buffer = b""

    def feed(self, data: bytes) -> list[tuple[int, bytes]]:
        self.buffer += data
        out = []
        while len(self.buffer) >= _HEADER.size:
            which, length = _HEADER.unpack_from(self.buffer)
            if len(self.buffer) < _HEADER.size + length:
                break
            out.append((which, self.buffer[_HEADER.size : _HEADER.size + length]))
            self.buffer = self.buffer[_HEADER.size + length :]
        return out


def relay(
    sock: socket.socket,
    *,
    tty: bool,
    send_input: bool,
    stdin: int = 0,
    write: Callable[[int, bytes], None],
    detach_keys: bytes = DETACH_KEYS,
) -> bool:
    """Relay until the app's streams end (False) or the user typed the detach keys (True).
    ``write(stream, data)`` prints the app's output (stream 1 or 2). For a tty app, our
    terminal (``stdin``, if it is one) is in raw mode meanwhile: the app's terminal does the
    echoing and line editing."""
    if not tty:
        return _relay(sock, tty=tty, send_input=send_input, stdin=stdin, write=write,
                      detach_keys=detach_keys)  # fmt: skip
    from rkt.linux.tty import raw_mode

    with raw_mode(stdin):
        return _relay(sock, tty=tty, send_input=send_input, stdin=stdin, write=write,
                      detach_keys=detach_keys)  # fmt: skip


def _relay(
    sock: socket.socket,
    *,
    tty: bool,
    send_input: bool,
    stdin: int,
    write: Callable[[int, bytes], None],
    detach_keys: bytes,
) -> bool:
    frames = Frames()
    typed = b""
    sources = [sock.fileno(), stdin] if send_input else [sock.fileno()]
    while True:
        ready, _, _ = select.select(sources, [], [])
        if sock.fileno() in ready:
            data = sock.recv(65536)
            if not data:
                return False
            if tty:
                write(1, data)
            else:
                for which, chunk in frames.feed(data):
                    write(which, chunk)
        if stdin in ready:
            data = os.read(stdin, 4096)
            if not data:
                sources.remove(stdin)  # our input ended; the app's output goes on
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_WR)
                continue
            typed = (typed + data)[-len(detach_keys) :] if detach_keys else b""
            if detach_keys and detach_keys in (typed + data):
                cut = data.find(detach_keys[-1:])
                if cut > 0:
                    sock.sendall(data[: cut - (len(detach_keys) - 1)])
                return True
            sock.sendall(data)


def stream_modes(pod_dir: Path, app: str) -> dict[str, str]:
    """The app's stream modes (stdin, stdout, stderr: "tty", "stream", "log", ...) from its
    annotations in the pod manifest; {} when it has none or the manifest is unreadable."""
    import json

    try:
        manifest = json.loads((pod_dir / layout.MANIFEST).read_bytes())
        entry = next(a for a in manifest.get("apps", []) if a.get("name") == app)
    except (OSError, ValueError, StopIteration):
        return {}
    prefix = "coreos.com/rkt/stage1/"
    found = {}
    for annotation in entry.get("annotations") or []:
        name = str(annotation.get("name", ""))
        if name.startswith(prefix):
            found[name[len(prefix) :]] = str(annotation.get("value", ""))
    if "tty" in found.values():
        found = dict.fromkeys(("stdin", "stdout", "stderr"), "tty")
    return found
