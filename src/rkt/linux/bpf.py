"""The device policy of a cgroup v2 as a BPF_PROG_TYPE_CGROUP_DEVICE program.

cgroup v2 has no ``devices.allow``/``devices.deny``: the kernel asks the BPF programs attached
to a process's cgroup and its ancestors whether it may open (read, write) or mknod a device,
and every program must say yes (BPF_F_ALLOW_MULTI). runc, crun and systemd (DevicePolicy=)
generate such a program from a list of rules; so does :func:`device_program`, from the same
``"c 1:3 rwm"`` rules the v1 controller takes (``rkt.linux.cgroup.DEVICE_RULES``).

``nodev`` mounts would not do instead: the app's root (overlayfs) and its volumes are not
``nodev``, and the default capability set keeps CAP_MKNOD, so an app's root could make and
open a node of any host device there (rkt closed this with systemd's DevicePolicy=closed).

The program (eBPF, include/uapi/linux/bpf.h), with the context ``struct bpf_cgroup_dev_ctx
{u32 access_type; u32 major; u32 minor}`` in r1 (access_type: access << 16 | device type):

    r2 = access_type >> 16 (access); r3 = access_type & 0xffff (type); r4 = major; r5 = minor
    per rule: if type, major, minor match and (access & ~allowed) == 0: return 1
    return 0
"""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from collections.abc import Iterable

from rkt.linux.syscall import error, libc

BPF_PROG_LOAD = 5
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_TYPE_CGROUP_DEVICE = 15
BPF_CGROUP_DEVICE = 6
BPF_F_ALLOW_MULTI = 2
BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE = 1, 2, 4
BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2
_ACCESS = {"m": BPF_DEVCG_ACC_MKNOD, "r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE}
_TYPES = {"b": BPF_DEVCG_DEV_BLOCK, "c": BPF_DEVCG_DEV_CHAR}
_NUMBERS = {"x86_64": 321, "aarch64": 280, "riscv64": 280}
# Opcodes (BPF_CLASS | BPF_OP/BPF_MODE | BPF_SRC/BPF_SIZE).
_LDX_W = 0x61  # BPF_LDX | BPF_MEM | BPF_W
_MOV_REG = 0xBF  # BPF_ALU64 | BPF_MOV | BPF_X
_MOV_IMM = 0xB7  # BPF_ALU64 | BPF_MOV | BPF_K
_AND_IMM = 0x57  # BPF_ALU64 | BPF_AND | BPF_K
_RSH_IMM = 0x77  # BPF_ALU64 | BPF_RSH | BPF_K
_JNE_IMM = 0x55  # BPF_JMP | BPF_JNE | BPF_K
_EXIT = 0x95  # BPF_JMP | BPF_EXIT


def _insn(code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0) -> bytes:
    return struct.pack("<BBhi", code, dst | (src << 4), off, imm)


def parse_rule(rule: str) -> tuple[int, int, int, int]:
    """``"c 1:3 rwm"`` -> (type, major, minor, access); ``*`` is -1. ValueError when bad."""
    try:
        kind, numbers, access = rule.split()
        major_text, minor_text = numbers.split(":")
        major = -1 if major_text == "*" else int(major_text)
        minor = -1 if minor_text == "*" else int(minor_text)
        mask = 0
        for letter in access:
            mask |= _ACCESS[letter]
        return _TYPES[kind], major, minor, mask
    except (KeyError, ValueError) as err:
        raise ValueError(f"bad device rule {rule!r}: expected like 'c 1:3 rwm'") from err


def device_program(rules: Iterable[str]) -> bytes:
    """The program allowing exactly ``rules`` (a device not matched is denied)."""
    code = [
        _insn(_LDX_W, dst=2, src=1, off=0),
        _insn(_MOV_REG, dst=3, src=2),
        _insn(_AND_IMM, dst=3, imm=0xFFFF),
        _insn(_RSH_IMM, dst=2, imm=16),
        _insn(_LDX_W, dst=4, src=1, off=4),
        _insn(_LDX_W, dst=5, src=1, off=8),
    ]
    for rule in rules:
        kind, major, minor, access = parse_rule(rule)
        block = [
            _insn(_JNE_IMM, dst=3, imm=kind),
            _insn(_MOV_REG, dst=0, src=2),
            # ~access as a signed 32-bit immediate; ALU64 sign-extends it, which keeps the low
            # 16 bits the access occupies.
            _insn(_AND_IMM, dst=0, imm=~access),
            _insn(_JNE_IMM, dst=0, imm=0),
        ]
        if major >= 0:
            block.append(_insn(_JNE_IMM, dst=4, imm=major))
        if minor >= 0:
            block.append(_insn(_JNE_IMM, dst=5, imm=minor))
        block += [_insn(_MOV_IMM, dst=0, imm=1), _insn(_EXIT)]
        # Every conditional jump skips to the end of its block (offsets count from the next
        # instruction).
        for index, insn in enumerate(block):
            if insn[0] == _JNE_IMM:
                op, regs, _, imm = struct.unpack("<BBhi", insn)
                block[index] = struct.pack("<BBhi", op, regs, len(block) - index - 1, imm)
        code += block
    code += [_insn(_MOV_IMM, dst=0, imm=0), _insn(_EXIT)]
    return b"".join(code)


def _bpf(command: int, attr: ctypes.Array[ctypes.c_char], name: str) -> int:
    number = _NUMBERS.get(platform.machine())
    if number is None:
        raise error(name, (), errno.ENOSYS)
    result = libc().syscall(ctypes.c_long(number), command, attr, len(attr))
    if result < 0:
        raise error(name, (), ctypes.get_errno())
    return int(result)


def load_device_program(program: bytes) -> int:
    """Load the program into the kernel; its fd (close-on-exec)."""
    insns = ctypes.create_string_buffer(program, len(program))
    license_ = ctypes.create_string_buffer(b"Apache-2.0")
    log = ctypes.create_string_buffer(1 << 16)
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "<IIQQIIQII",
        attr,
        0,
        BPF_PROG_TYPE_CGROUP_DEVICE,
        len(program) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
        1,  # log_level: the verifier says why it refuses
        len(log),
        ctypes.addressof(log),
        0,
        0,
    )
    struct.pack_into("<I", attr, 68, BPF_CGROUP_DEVICE)  # expected_attach_type
    try:
        return _bpf(BPF_PROG_LOAD, attr, "bpf(BPF_PROG_LOAD)")
    except OSError as err:
        text = log.value.decode(errors="replace").strip().splitlines()
        detail = f" (verifier: {text[-1]})" if text else ""
        raise OSError(err.errno, f"{err.strerror}{detail}") from err


def attach_device_policy(directory: str, rules: Iterable[str]) -> None:
    """Attach a program allowing only ``rules`` to the cgroup v2 ``directory``: it applies to
    every process in it and below, together with any program of an ancestor (each must
    allow). The attachment lasts as long as the cgroup; no fd stays open."""
    program = load_device_program(device_program(rules))
    try:
        target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            attr = ctypes.create_string_buffer(struct.pack("<IIII", target, program,
                                                           BPF_CGROUP_DEVICE,
                                                           BPF_F_ALLOW_MULTI), 32)  # fmt: skip
            _bpf(BPF_PROG_ATTACH, attr, "bpf(BPF_PROG_ATTACH)")
        finally:
            os.close(target)
    finally:
        os.close(program)
