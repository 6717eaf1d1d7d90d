"""The constants of ``rkt.linux`` against the kernel's uapi headers."""

from __future__ import annotations

import subprocess
import sys

from rkt.linux import capability, mount, namespace, process


def test_clone_flags() -> None:
    assert namespace.CLONE_NEWNS == 0x00020000
    assert namespace.CLONE_NEWUTS == 0x04000000
    assert namespace.CLONE_NEWIPC == 0x08000000
    assert namespace.CLONE_NEWPID == 0x20000000
    assert namespace.CLONE_NEWNET == 0x40000000
    assert namespace.CLONE_NEWUSER == 0x10000000
    assert namespace.CLONE_NEWCGROUP == 0x02000000
    assert namespace.CLONE_NEWTIME == 0x00000080
    assert set(namespace.KINDS.values()) == {
        "mnt", "uts", "ipc", "pid", "net", "user", "cgroup", "time"
    }  # fmt: skip


def test_mount_flags() -> None:
    expected = {
        "MS_RDONLY": 1,
        "MS_NOSUID": 2,
        "MS_NODEV": 4,
        "MS_NOEXEC": 8,
        "MS_SYNCHRONOUS": 16,
        "MS_REMOUNT": 32,
        "MS_MANDLOCK": 64,
        "MS_DIRSYNC": 128,
        "MS_NOSYMFOLLOW": 256,
        "MS_NOATIME": 1024,
        "MS_NODIRATIME": 2048,
        "MS_BIND": 4096,
        "MS_MOVE": 8192,
        "MS_REC": 16384,
        "MS_SILENT": 32768,
        "MS_UNBINDABLE": 0x20000,
        "MS_PRIVATE": 0x40000,
        "MS_SLAVE": 0x80000,
        "MS_SHARED": 0x100000,
        "MS_RELATIME": 0x200000,
        "MS_STRICTATIME": 0x1000000,
        "MS_LAZYTIME": 0x2000000,
        "MNT_FORCE": 1,
        "MNT_DETACH": 2,
        "MNT_EXPIRE": 4,
        "UMOUNT_NOFOLLOW": 8,
    }
    assert {name: getattr(mount, name) for name in expected} == expected


def test_prctl_options() -> None:
    assert process.PR_SET_PDEATHSIG == 1
    assert process.PR_SET_DUMPABLE == 4
    assert process.PR_SET_CHILD_SUBREAPER == 36
    assert process.PR_SET_NO_NEW_PRIVS == 38
    assert capability.PR_CAPBSET_READ == 23
    assert capability.PR_CAPBSET_DROP == 24
    assert capability.PR_CAP_AMBIENT == 47
    assert capability.PR_CAP_AMBIENT_RAISE == 2
    assert capability.PR_CAP_AMBIENT_CLEAR_ALL == 4


def test_capability_numbers() -> None:
    numbers = capability.NUMBERS
    assert numbers["CAP_CHOWN"] == 0
    assert numbers["CAP_KILL"] == 5
    assert numbers["CAP_SETPCAP"] == 8
    assert numbers["CAP_NET_BIND_SERVICE"] == 10
    assert numbers["CAP_NET_ADMIN"] == 12
    assert numbers["CAP_SYS_CHROOT"] == 18
    assert numbers["CAP_SYS_ADMIN"] == 21
    assert numbers["CAP_MKNOD"] == 27
    assert numbers["CAP_AUDIT_WRITE"] == 29
    assert numbers["CAP_SETFCAP"] == 31
    assert numbers["CAP_AUDIT_READ"] == 37
    assert numbers["CAP_CHECKPOINT_RESTORE"] == 40
    assert len(numbers) == len(capability.CAPABILITIES) == 41


def test_linux_imports_only_stdlib_msgspec_appc_and_errors() -> None:
    # msgspec, the project's one core dependency: its structs are the operations' data (made
    # in microseconds where a dataclass takes a third of a millisecond on every run); appc,
    # the bottom layer (itself stdlib and msgspec only): the capability names' one table;
    # rkt.errors, the error tree (socket activation's refusals are ServiceErrors).
    probe = (
        "import sys, pkgutil, importlib, rkt\n"
        "base = set(sys.modules)\n"
        "import rkt.linux\n"
        "for i in pkgutil.walk_packages(rkt.linux.__path__, 'rkt.linux.'):\n"
        "    importlib.import_module(i.name)\n"
        "bad = [m for m in set(sys.modules) - base if m.split('.')[0] not in\n"
        "       sys.stdlib_module_names\n"
        "       and not m.startswith(('rkt.linux', '_', 'msgspec', 'appc'))\n"
        "       and m != 'rkt.errors'\n"
        "       and m != 'typing_extensions']\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_import_rkt_does_not_load_ctypes() -> None:
    probe = "import sys, rkt; print('ctypes' in sys.modules, 'rkt.linux' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"
