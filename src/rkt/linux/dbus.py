"""A minimal, blocking D-Bus client: method calls over a unix socket, nothing more.

What Rocket needs from D-Bus is a handful of method calls to systemd (a transient scope per
pod, the unit a process belongs to) and to systemd-machined (registering a pod), each made once
per pod. A client of our own rather than a library, because:

- it must also speak to systemd's private socket (``/run/systemd/private``, root only), which
  is a peer-to-peer connection without a bus daemon: no ``Hello``, which general clients
  (jeepney, dbus-python, dbus-next) always send on connecting. A host without dbus-daemon or
  dbus-broker (a minimal systemd install) still gets scopes that way, as ``systemctl`` does;
- ``rkt.linux`` depends on the standard library only, and the CLI is started in loops: this
  module is imported only on a host that runs systemd, and costs ~1 ms there;
- calls, replies, errors and the few types systemd's signatures use (``sv``, ``a(sv)``,
  ``a(sa(sv))``, ``au``, ``ay``) are ~250 lines to write and test against the specification
  (https://dbus.freedesktop.org/doc/dbus-specification.html, "Message Protocol"); signals,
  fd passing, introspection and serving objects are not needed and not written.

Values: ``y n q i u x t`` are ints, ``b`` bool, ``d`` float, ``s o g`` str, ``ay`` bytes,
other arrays lists, ``a{..}`` dicts, structs tuples, and a variant ``v`` is a
``(signature, value)`` pair both ways.
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Sequence
from typing import Any

#: The system bus, unless ``DBUS_SYSTEM_BUS_ADDRESS`` says otherwise.
SYSTEM_BUS = "unix:path=/run/dbus/system_bus_socket"
METHOD_CALL, METHOD_RETURN, ERROR, SIGNAL = 1, 2, 3, 4
#: A call waits this long for its reply (the reference implementation's default, 25 s).
TIMEOUT = 25.0
_NO_REPLY_EXPECTED = 0x1
_FIELDS = {"path": (1, "o"), "interface": (2, "s"), "member": (3, "s"), "error_name": (4, "s"),
           "reply_serial": (5, "u"), "destination": (6, "s"), "sender": (7, "s"),
           "signature": (8, "g")}  # fmt: skip
_FIELD_NAMES = {code: name for name, (code, _) in _FIELDS.items()}
_FIXED = {"y": ("B", 1), "b": ("I", 4), "n": ("h", 2), "q": ("H", 2), "i": ("i", 4),
          "u": ("I", 4), "x": ("q", 8), "t": ("Q", 8), "d": ("d", 8), "h": ("I", 4)}  # fmt: skip
#: Messages are capped by the specification at 128 MiB; ours are small.
MAX_MESSAGE = 1 << 27


class DBusError(OSError):
    """A call failed: ``name`` is the D-Bus error name (``org.freedesktop.DBus.Error.*``, or
    the service's own), or "" when the connection itself failed."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}" if name else message)
        self.name = name


def _alignment(code: str) -> int:
    if code in _FIXED:
        return _FIXED[code][1]
    return {"s": 4, "o": 4, "g": 1, "a": 4, "(": 8, "{": 8, "v": 1}[code]


def split_signature(signature: str) -> list[str]:
    """The complete types of a signature: ``"sa(sv)u"`` -> ``["s", "a(sv)", "u"]``."""
    types = []
    i = 0
    while i < len(signature):
        end = _type_end(signature, i)
        types.append(signature[i:end])
        i = end
    return types


def _type_end(signature: str, i: int) -> int:
    code = signature[i]
    if code == "a":
        return _type_end(signature, i + 1)
    if code in "({":
        close = ")" if code == "(" else "}"
        depth, j = 0, i
        while j < len(signature):
            if signature[j] in "({":
                depth += 1
            elif signature[j] in ")}":
                depth -= 1
                if depth == 0:
                    if signature[j] != close:
                        break
                    return j + 1
            j += 1
        raise ValueError(f"unbalanced D-Bus signature {signature!r}")
    if code in _FIXED or code in "sogv":
        return i + 1
    raise ValueError(f"unknown D-Bus type {code!r} in {signature!r}")


class _Writer:
    def __init__(self, offset: int = 0) -> None:
        self.data = bytearray()
        self.offset = offset  # alignment is relative to the message's start

    def pad(self, alignment: int) -> None:
        self.data += b"\0" * (-(self.offset + len(self.data)) % alignment)

    def put(self, signature: str, value: Any) -> None:
        for kind, item in zip(split_signature(signature), value, strict=True):
            self._value(kind, item)

    def _value(self, kind: str, value: Any) -> None:
        code = kind[0]
        if code in _FIXED:
            fmt, size = _FIXED[code]
            self.pad(size)
            self.data += struct.pack("<" + fmt, int(value) if code == "b" else value)
        elif code in "so":
            raw = value.encode()
            self.pad(4)
            self.data += struct.pack("<I", len(raw)) + raw + b"\0"
        elif code == "g":
            raw = value.encode()
            self.data += bytes([len(raw)]) + raw + b"\0"
        elif code == "v":
            inner, item = value
            self._value("g", inner)
            self._value(inner, item)
        elif code == "(":
            self.pad(8)
            self.put(kind[1:-1], value)
        elif code == "a":
            self._array(kind[1:], value)
        else:
            raise ValueError(f"cannot write D-Bus type {kind!r}")

    def _array(self, element: str, value: Any) -> None:
        self.pad(4)
        at = len(self.data)
        self.data += b"\0\0\0\0"
        self.pad(_alignment(element[0]))
        start = len(self.data)
        if element == "y":
            self.data += bytes(value)
        elif element[0] == "{":
            key, item = split_signature(element[1:-1])
            for k, v in dict(value).items():
                self.pad(8)
                self._value(key, k)
                self._value(item, v)
        else:
            for item in value:
                self._value(element, item)
        struct.pack_into("<I", self.data, at, len(self.data) - start)


class _Reader:
    def __init__(self, data: bytes, offset: int = 0, little: bool = True) -> None:
        self.data = data
        self.pos = offset
        self.order = "<" if little else ">"

    def align(self, alignment: int) -> None:
        self.pos += -self.pos % alignment

    def take(self, count: int) -> bytes:
        if self.pos + count > len(self.data):
            raise DBusError("", "truncated D-Bus message")
        chunk = self.data[self.pos : self.pos + count]
        self.pos += count
        return chunk

    def get(self, signature: str) -> list[Any]:
        return [self._value(kind) for kind in split_signature(signature)]

    def _value(self, kind: str) -> Any:
        code = kind[0]
        if code in _FIXED:
            fmt, size = _FIXED[code]
            self.align(size)
            (value,) = struct.unpack(self.order + fmt, self.take(size))
            return bool(value) if code == "b" else value
        if code in "so":
            self.align(4)
            (length,) = struct.unpack(self.order + "I", self.take(4))
            text = self.take(length + 1)[:-1]
            return text.decode(errors="replace")
        if code == "g":
            length = self.take(1)[0]
            return self.take(length + 1)[:-1].decode(errors="replace")
        if code == "v":
            inner = self._value("g")
            if len(split_signature(inner)) != 1:
                raise DBusError("", f"bad variant signature {inner!r}")
            return (inner, self._value(inner))
        if code == "(":
            self.align(8)
            return tuple(self.get(kind[1:-1]))
        if code == "a":
            return self._array(kind[1:])
        raise DBusError("", f"cannot read D-Bus type {kind!r}")

    def _array(self, element: str) -> Any:
        self.align(4)
        (length,) = struct.unpack(self.order + "I", self.take(4))
        if length > MAX_MESSAGE:
            raise DBusError("", "D-Bus array too long")
        self.align(_alignment(element[0]))
        end = self.pos + length
        if element == "y":
            return self.take(length)
        if element[0] == "{":
            key, item = split_signature(element[1:-1])
            result = {}
            while self.pos < end:
                self.align(8)
                k = self._value(key)
                result[k] = self._value(item)
            return result
        items = []
        while self.pos < end:
            items.append(self._value(element))
        return items


def encode_message(
    kind: int, serial: int, fields: dict[str, Any], signature: str = "", body: Sequence[Any] = ()
) -> bytes:
    """One little-endian message: header (fixed part and fields) padded to 8, then the body."""
    payload = _Writer()
    if signature:
        payload.put(signature, body)
        fields = {**fields, "signature": signature}
    header = _Writer()
    flags = _NO_REPLY_EXPECTED if kind in (SIGNAL,) else 0
    header.put("yyyyuu", (ord("l"), kind, flags, 1, len(payload.data), serial))
    header.put(
        "a(yv)", [[(_FIELDS[name][0], (_FIELDS[name][1], value)) for name, value in fields.items()]]
    )
    header.pad(8)
    return bytes(header.data + payload.data)


class Message:
    """A received message: its type, header fields by name, and body values."""

    def __init__(self, kind: int, serial: int, fields: dict[str, Any], body: list[Any]) -> None:
        self.kind = kind
        self.serial = serial
        self.fields = fields
        self.body = body


def decode_message(data: bytes) -> Message:
    """Parse one whole message (as :func:`message_length` delimited it)."""
    if data[:1] not in (b"l", b"B"):
        raise DBusError("", "bad D-Bus endianness mark")
    reader = _Reader(data, little=data[:1] == b"l")
    _, kind, _, version, body_length, serial = reader.get("yyyyuu")
    if version != 1:
        raise DBusError("", f"D-Bus protocol version {version} is not 1")
    fields = {
        _FIELD_NAMES.get(code, str(code)): value for code, (_, value) in reader.get("a(yv)")[0]
    }
    reader.align(8)
    body: list[Any] = []
    signature = fields.get("signature", "")
    if signature:
        body = _Reader(data[reader.pos : reader.pos + body_length], little=reader.order == "<").get(
            signature
        )
    return Message(kind, serial, fields, body)


def message_length(head: bytes) -> int:
    """A message's whole length from its first 16 bytes."""
    order = "<" if head[:1] == b"l" else ">"
    body_length, _, fields_length = struct.unpack(order + "III", head[4:16])
    header = 16 + int(fields_length)
    total = header + (-header % 8) + int(body_length)
    if total > MAX_MESSAGE:
        raise DBusError("", "D-Bus message too long")
    return total


def _path_of(address: str) -> str:
    """The socket path of a ``unix:path=...`` address (the first of ``;``-separated ones).
    Abstract sockets are refused on purpose (docs/security.md 11)."""
    for entry in address.split(";"):
        transport, _, rest = entry.partition(":")
        if transport != "unix":
            continue
        params = dict(p.partition("=")[::2] for p in rest.split(",") if p)
        if "path" in params:
            return params["path"]
    raise DBusError("", f"no unix:path= in D-Bus address {address!r}")


class Connection:
    """One connection to a bus (``bus=True``: ``Hello`` is sent) or to a peer (systemd's
    private socket). Not thread-safe; close it (or use ``with``) when done."""

    def __init__(self, address: str, *, bus: bool = True, timeout: float = TIMEOUT) -> None:
        self._serial = 0
        self.unique_name = ""
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(_path_of(address))
            self._authenticate()
            if bus:
                self.unique_name = self.call(
                    "org.freedesktop.DBus", "/org/freedesktop/DBus", "org.freedesktop.DBus",
                    "Hello",
                )[0]  # fmt: skip
        except OSError as err:
            self._sock.close()
            if isinstance(err, DBusError):
                raise
            raise DBusError("", f"cannot connect to D-Bus at {address}: {err}") from err

    @classmethod
    def system(cls, timeout: float = TIMEOUT) -> Connection:
        return cls(os.environ.get("DBUS_SYSTEM_BUS_ADDRESS") or SYSTEM_BUS, timeout=timeout)

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._sock.close()

    def _authenticate(self) -> None:
        # EXTERNAL: the server takes our uid from the socket's credentials (SO_PEERCRED).
        uid = str(os.geteuid()).encode().hex()
        self._sock.sendall(b"\0AUTH EXTERNAL " + uid.encode() + b"\r\n")
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = self._sock.recv(512)
            if not chunk or len(reply) > 4096:
                raise DBusError("", "D-Bus authentication: connection closed")
            reply += chunk
        if not reply.startswith(b"OK "):
            raise DBusError("", f"D-Bus authentication refused: {reply.strip().decode()!r}")
        self._sock.sendall(b"BEGIN\r\n")

    def _receive(self) -> Message:
        head = self._exactly(16)
        return decode_message(head + self._exactly(message_length(head) - 16))

    def _exactly(self, count: int) -> bytes:
        chunks = []
        while count:
            chunk = self._sock.recv(min(count, 1 << 16))
            if not chunk:
                raise DBusError("", "D-Bus connection closed")
            chunks.append(chunk)
            count -= len(chunk)
        return b"".join(chunks)

    def call(
        self,
        destination: str,
        path: str,
        interface: str,
        member: str,
        signature: str = "",
        *args: Any,
    ) -> list[Any]:
        """Call a method and wait for its reply; the reply's body values. DBusError with the
        error's name and message when the call fails."""
        self._serial += 1
        serial = self._serial
        fields: dict[str, Any] = {"path": path, "interface": interface, "member": member}
        if destination:
            fields["destination"] = destination
        self._sock.sendall(encode_message(METHOD_CALL, serial, fields, signature, args))
        while True:
            message = self._receive()
            if message.fields.get("reply_serial") != serial:
                continue  # a signal, or NameAcquired: not ours to handle
            if message.kind == ERROR:
                text = message.body[0] if message.body and isinstance(message.body[0], str) else ""
                raise DBusError(message.fields.get("error_name", "?"), text)
            return message.body


def properties_get(
    connection: Connection, destination: str, path: str, interface: str, name: str
) -> Any:
    """``org.freedesktop.DBus.Properties.Get``: the property's value (the variant unwrapped)."""
    [(_, value)] = connection.call(
        destination, path, "org.freedesktop.DBus.Properties", "Get", "ss", interface, name
    )
    return value
