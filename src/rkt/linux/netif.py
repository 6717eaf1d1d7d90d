"""Bringing a network interface up in the caller's network namespace (``ip link set IF up``).

Only what stage1 needs for the pod's loopback: ``SIOCGIFFLAGS``/``SIOCSIFFLAGS`` on a datagram
socket (netdevice(7)); no netlink. The socket comes from ``_socket``, the C module under
:mod:`socket`: the wrapper module's import (its enums, selectors, array) is 1.5 ms of every pod's
start, for one ioctl.
"""

from __future__ import annotations

import _socket
import fcntl
import struct

__all__ = ["IFF_UP", "link_up"]

SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1
_IFNAMSIZ = 16
_IFREQ = f"{_IFNAMSIZ}sH22x"  # struct ifreq: the name, then ifr_flags in a 24-byte union


def link_up(name: str) -> None:
    """Set ``IFF_UP`` on interface ``name`` (``OSError`` if it does not exist)."""
    encoded = name.encode()
    if not encoded or len(encoded) >= _IFNAMSIZ:
        raise ValueError(f"invalid interface name {name!r}")
    sock = _socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM)
    try:
        request = struct.pack(_IFREQ, encoded, 0)
        _, flags = struct.unpack(_IFREQ, fcntl.ioctl(sock.fileno(), SIOCGIFFLAGS, request))
        if not flags & IFF_UP:
            fcntl.ioctl(sock.fileno(), SIOCSIFFLAGS, struct.pack(_IFREQ, encoded, flags | IFF_UP))
    finally:
        sock.close()
