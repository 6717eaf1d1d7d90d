"""The D-Bus client's wire format (rkt.linux.dbus), against the specification's rules."""

from __future__ import annotations

import struct

import pytest

from rkt.linux import dbus


def test_split_signature() -> None:
    assert dbus.split_signature("ssa(sv)a(sa(sv))") == ["s", "s", "a(sv)", "a(sa(sv))"]
    assert dbus.split_signature("a{sv}ayu") == ["a{sv}", "ay", "u"]
    with pytest.raises(ValueError):
        dbus.split_signature("a(s")
    with pytest.raises(ValueError):
        dbus.split_signature("z")


def test_a_method_call_is_laid_out_as_the_specification_says() -> None:
    data = dbus.encode_message(dbus.METHOD_CALL, 7, {"path": "/p", "member": "M"}, "s", ("hi",))
    assert data[:4] == b"l\x01\x00\x01"
    body_length, serial, fields_length = struct.unpack("<III", data[4:16])
    assert (body_length, serial) == (7, 7)
    header = 16 + fields_length
    header += -header % 8
    assert data[header:] == b"\x02\x00\x00\x00hi\x00"
    assert dbus.message_length(data[:16]) == len(data)
    message = dbus.decode_message(data)
    assert message.fields == {"path": "/p", "member": "M", "signature": "s"}
    assert message.body == ["hi"]


def test_systemds_signatures_round_trip() -> None:
    properties = [
        ("Description", ("s", "rkt pod")),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", [1, 4_000_000])),
        ("MemoryMax", ("t", 1 << 40)),
        ("Nested", ("a(sv)", [("x", ("y", 3))])),
    ]
    body = ("rkt-x.scope", "fail", properties, [("aux", [("k", ("s", "v"))])])
    data = dbus.encode_message(
        dbus.METHOD_CALL, 1, {"path": "/", "member": "StartTransientUnit"},
        "ssa(sv)a(sa(sv))", body,
    )  # fmt: skip
    decoded = dbus.decode_message(data).body
    assert decoded == ["rkt-x.scope", "fail", [tuple(p) for p in properties],
                       [("aux", [("k", ("s", "v"))])]]  # fmt: skip
    other = dbus.encode_message(
        dbus.METHOD_RETURN, 2, {"reply_serial": 1}, "a{sv}ayxdg",
        ({"a": ("i", -5)}, b"\x00\xff", -(1 << 40), 0.5, "a(sv)"),
    )  # fmt: skip
    message = dbus.decode_message(other)
    assert message.kind == dbus.METHOD_RETURN and message.fields["reply_serial"] == 1
    assert message.body == [{"a": ("i", -5)}, b"\x00\xff", -(1 << 40), 0.5, "a(sv)"]


def test_big_endian_messages_are_read() -> None:
    body = struct.pack(">I", 2) + b"ok\x00"
    fields = b"\x08\x01g\x00\x01s\x00\x00"  # (SIGNATURE, "s"), padded
    head = b"B\x02\x00\x01" + struct.pack(">III", len(body), 9, len(fields) - 3)
    message = dbus.decode_message(head + fields + body)
    assert message.serial == 9 and message.body == ["ok"]


def test_truncated_and_hostile_messages_fail_cleanly() -> None:
    data = dbus.encode_message(dbus.METHOD_CALL, 1, {"path": "/"}, "s", ("hello",))
    with pytest.raises(dbus.DBusError):
        dbus.decode_message(data[:-3])
    with pytest.raises(dbus.DBusError):
        dbus.decode_message(b"X" + data[1:])
    with pytest.raises(dbus.DBusError):
        dbus.message_length(b"l\x01\x00\x01" + struct.pack("<III", 1 << 30, 1, 0))


def test_only_unix_path_addresses() -> None:
    assert dbus._path_of("unix:path=/run/x;tcp:host=h") == "/run/x"
    with pytest.raises(dbus.DBusError):
        dbus._path_of("unix:abstract=/tmp/dbus-x")
