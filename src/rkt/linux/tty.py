"""Terminals: the foreground process group, the controlling terminal, the window size
(tty_ioctl(4), credentials(7)), and relaying a pty to the caller's terminal.

A pod never gets a terminal of the host's (docs/security.md 12): ``rkt run --interactive`` gives
the app a new pty that rkt-stage1's monitor relays, and ``rkt enter -t`` a new pty that
:func:`relay` copies to and from the caller's terminal, in raw mode so that the pty's own line
discipline (^C, ^Z, echo) is the only one, with window size changes passed on. Everything here
is imported at module top: ``rkt enter`` relays from inside the pod's mount namespace, where
nothing can be imported any more.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import select
import signal
import struct
import termios
from collections.abc import Iterator
from typing import Any

__all__ = ["foreground_group", "get_window_size", "relay", "set_foreground",
           "set_window_size", "take_foreground"]  # fmt: skip

_WINSIZE = struct.Struct("HHHH")


def foreground_group(fd: int) -> int | None:
    """The foreground process group of the terminal on ``fd``, if it is the caller's controlling
    terminal (tcgetpgrp(3) fails with ENOTTY otherwise); None when it is not."""
    try:
        return os.tcgetpgrp(fd)
    except OSError:
        return None


def set_foreground(fd: int, pgrp: int) -> None:
    """Make ``pgrp`` the terminal's foreground group, from the background too: SIGTTOU, which
    tcsetpgrp(3) from a background group would get, is blocked meanwhile."""
    old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTTOU])
    try:
        os.tcsetpgrp(fd, pgrp)
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


def take_foreground(fd: int) -> None:
    """Make the caller a process group of its own and the foreground group of the terminal on
    ``fd``; when that terminal is not the caller's controlling terminal, first a session of its
    own with it as the controlling terminal (setsid(2), TIOCSCTTY; never stolen from another
    session: EPERM then)."""
    if foreground_group(fd) is None:
        os.setsid()
        fcntl.ioctl(fd, termios.TIOCSCTTY, 0)
    else:
        os.setpgid(0, 0)
    set_foreground(fd, os.getpgrp())


def get_window_size(fd: int) -> tuple[int, int]:
    """The terminal's (rows, columns) (TIOCGWINSZ)."""
    raw = fcntl.ioctl(fd, termios.TIOCGWINSZ, bytes(_WINSIZE.size))
    rows, columns, _, _ = _WINSIZE.unpack(raw)
    return rows, columns


def set_window_size(fd: int, rows: int, columns: int) -> None:
    """Set the terminal's window size (TIOCSWINSZ); its foreground group gets SIGWINCH."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, _WINSIZE.pack(rows, columns, 0, 0))


def _raw(attrs: list[Any]) -> list[Any]:
    """cfmakeraw(3)'s settings on a copy of tcgetattr's list."""
    raw = list(attrs)
    iflag, oflag, cflag, lflag = (int(x) for x in raw[:4])
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.PARMRK | termios.ISTRIP
               | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON)  # fmt: skip
    oflag &= ~termios.OPOST
    lflag &= ~(termios.ECHO | termios.ECHONL | termios.ICANON | termios.ISIG | termios.IEXTEN)
    cflag = (cflag & ~(termios.CSIZE | termios.PARENB)) | termios.CS8
    raw[:4] = [iflag, oflag, cflag, lflag]
    cc = list(raw[6])
    cc[termios.VMIN], cc[termios.VTIME] = 1, 0
    raw[6] = cc
    return raw


@contextlib.contextmanager
def raw_mode(fd: int) -> Iterator[None]:
    """The terminal ``fd`` in raw mode (cfmakeraw) for the block, restored (and its pending
    input flushed) after; nothing if ``fd`` is not a terminal."""
    saved = termios.tcgetattr(fd) if os.isatty(fd) else None
    if saved is not None:
        termios.tcsetattr(fd, termios.TCSANOW, _raw(saved))
    try:
        yield
    finally:
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSAFLUSH, saved)


def _copy(source: int, target: int) -> bool:
    """Copy what ``source`` has to ``target``; False once ``source`` is done."""
    try:
        data = os.read(source, 65536)
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False  # EIO: the pty's other side is closed
    if not data:
        return False
    with contextlib.suppress(OSError):  # a reader that went away does not stop the child
        while data:
            data = data[os.write(target, data) :]
    return True


def relay(master: int, child: int, stdin: int = 0, stdout: int = 1) -> int:
    """Relay between the caller's terminal (``stdin``/``stdout``) and the pty ``master`` until
    ``child`` has exited; its wait status. The terminal is in raw mode meanwhile and restored
    after; window size changes of the terminal go on to the pty."""
    wake_read, wake_write = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
    previous = {
        sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGCHLD, signal.SIGWINCH)
    }
    old_wakeup = signal.set_wakeup_fd(wake_write)
    try:
        with raw_mode(stdin):
            if os.isatty(stdin):
                with contextlib.suppress(OSError):
                    set_window_size(master, *get_window_size(stdin))
            return _relay_until_exit(master, child, stdin, stdout, wake_read)
    finally:
        signal.set_wakeup_fd(old_wakeup)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        os.close(wake_read)
        os.close(wake_write)


def _relay_until_exit(master: int, child: int, stdin: int, stdout: int, wake_read: int) -> int:
    sources = [master, wake_read, stdin]
    while True:
        pid, status = os.waitpid(child, os.WNOHANG)
        if pid:
            while _copy(master, stdout) and select.select([master], [], [], 0)[0]:
                pass  # what the child wrote last
            return status
        ready, _, _ = select.select(sources, [], [])
        if wake_read in ready:
            for signum in os.read(wake_read, 64):
                if signum == signal.SIGWINCH and os.isatty(stdin):
                    with contextlib.suppress(OSError):
                        set_window_size(master, *get_window_size(stdin))
        if master in ready and not _copy(master, stdout):
            sources.remove(master)
        if stdin in ready and not _copy(stdin, master):
            sources.remove(stdin)
