"""``rkt attach [--app=NAME] [--mode=auto|tty|stream|output] UUID``: this terminal (or these
pipes) on a running app's streams (rkt 1.30's experimental attach, for apps run with
``--stdin``/``--stdout``/``--stderr`` set to ``stream`` or ``tty``).

For a tty app, ctrl-p ctrl-q detaches (podman's keys; ``--detach-keys`` changes them, "" for
none); for a stream app, the end of our input (ctrl-d on a terminal) does. The app goes on, and
another client may attach. Exit status 0 when detached or when the app's streams ended.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "attach [--app=APPNAME] [--mode=MODE] UUID"
DESCRIPTION = """\
Connects to the streams of a running app whose modes include stream or tty: a tty app's
terminal, relayed to this one in raw mode; else its stdout and stderr to ours, and our stdin to
its stdin (--mode=output: its output only). ctrl-p ctrl-q detaches from a tty app, the end of
the input (ctrl-d) from a stream app."""
MODES = ("auto", "tty", "stream", "output")


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flags import Flag

    flags.add_string("app", "", "the app to attach to (needed when the pod has several)")
    flags.add(Flag("mode", "auto, tty, stream or output", "auto", choices=MODES,
                   check=_mode))  # fmt: skip
    flags.add_string("detach-keys", "ctrl-p,ctrl-q", "the keys that detach, as ctrl-X,...")
    flags.arg("uuid", "UUID", complete="pods:running")


def _mode(text: str) -> str:
    if text not in MODES:
        raise ValueError(f"--mode must be one of {', '.join(MODES)}")
    return text


def detach_keys(text: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11"; letters stand for themselves."""
    keys = b""
    for word in filter(None, text.split(",")):
        if word.startswith("ctrl-") and len(word) == 6 and word[5].isalpha():
            keys += bytes([ord(word[5].lower()) & 0x1F])
        elif len(word) == 1:
            keys += word.encode()
        else:
            raise PodError(f'--detach-keys="{text}": expected keys such as ctrl-p,ctrl-q')
    return keys


def run(args: Namespace, config: Config) -> int:
    from rkt.cli.enter import choose_app
    from rkt.pod import attach
    from rkt.pod.pod import Pod
    from rkt.pod.state import PodState

    keys = detach_keys(args.detach_keys)
    with Pod.load(config.pods, args.uuid) as pod:
        if pod.state is not PodState.RUNNING:
            raise PodError(f'pod "{pod.uuid}" isn\'t currently running', hint=str(pod.state))
        app = choose_app(pod, args.app, "attach")
        pod_dir = pod.path
    annotations = attach.stream_modes(pod_dir, app)
    tty = annotations.get("stdout") == "tty" if args.mode == "auto" else args.mode == "tty"
    send_input = args.mode != "output" and (tty or annotations.get("stdin") == "stream")
    sock = attach.connect(pod_dir, app)

    def write(which: int, data: bytes) -> None:
        out = sys.stdout if which == 1 else sys.stderr
        out.buffer.write(data)
        out.buffer.flush()

    try:
        detached = attach.relay(sock, tty=tty, send_input=send_input, write=write,
                                detach_keys=keys if os.isatty(0) else b"")  # fmt: skip
    finally:
        sock.close()
    if detached:
        sys.stderr.write("\ndetached\n")
    return 0
