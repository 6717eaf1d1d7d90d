"""Terminals: the foreground process group, the controlling terminal and the window size
(tty_ioctl(4), credentials(7)).

``rkt run --interactive`` gives the app stage0's own terminal device rather than a new pty: no
runtime process sits between the terminal and the app, so nothing relays bytes, and the
kernel's line discipline itself sends ^C/^Z/^\\ and SIGWINCH (on a window size change) to the
app, as the terminal's foreground process group (:func:`take_foreground`).

The app is not made the leader of a session of its own when the terminal is already the
controlling terminal of stage0's session (the usual case: a shell runs rkt). Taking it into a
new session (setsid, then TIOCSCTTY with 1) would steal it from the shell's session for good:
once the app has exited, the shell could no longer set its foreground group, and ^C/^Z at its
prompt would reach nobody. Instead the app becomes a process group of its own in that session
and the terminal's foreground group, as a shell's job does; the shell takes the foreground back
when rkt exits. Only when the terminal is nobody's controlling terminal from stage0's point of
view (rkt started without one) does the app start a session and take it (without stealing).
Allocating a pty for the pod (systemd-nspawn's way) would keep sessions apart, at the price of
a relay process copying bytes and window sizes for the pod's lifetime.
"""

from __future__ import annotations

import fcntl
import os
import signal
import struct
import termios

__all__ = ["foreground_group", "get_window_size", "set_foreground", "set_window_size",
           "take_foreground"]  # fmt: skip

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
