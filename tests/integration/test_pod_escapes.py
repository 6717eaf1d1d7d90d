"""Escape attempts from inside a default pod (root app, default capabilities and seccomp), run
as real pods through the ``rkt`` CLI with ``--net=none``.

Each test runs its attacks in subshells of one busybox script that prints ``== name ==`` then
the attack's output and ``rc=N``; the test asserts the attack failed (non-zero status and the
kernel's or seccomp's error text) and that the host value it aimed at is the same afterwards.
Nothing here writes data to a host device: the block-device attempts open for reading, or for
writing with ``count=0``.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import lines, make_image, run_pod, section

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

ATTACK_APPLETS = (
    "mount", "umount", "mknod", "chroot", "unshare", "nsenter", "head", "dd", "kill", "tr",
    "mkdir", "cp",
)  # fmt: skip
# What the kernel or the shell says when an attack is refused.
REFUSED = (
    "Read-only file system",
    "Permission denied",
    "Operation not permitted",
    "Bad system call",  # seccomp killed the applet with SIGSYS
    "No such file or directory",
    "nonexistent directory",  # busybox sh's ENOENT
    "No such device or address",
    "No such process",
)


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ATTACK_APPLETS  # the attacks' tools


@pytest.fixture(scope="module")
def base(base: Path) -> Path:
    """The common base with /mnt, a mount point for the mount attacks."""
    (base / "mnt").mkdir()
    return base


@pytest.fixture
def attack(base: Path, tmp_path: Path, data: Path) -> Any:
    """Run ``{name: shell}`` attacks in one pod; ``{name: (rc, output lines)}``."""

    def run(attacks: dict[str, str], trailer: str = "") -> dict[str, tuple[int, list[str]]]:
        script = "".join(
            f"echo '== {name} =='; sh -c '{cmd}' 2>&1; echo rc=$?; "
            for name, cmd in attacks.items()
        )
        if trailer:
            script += f"echo '== trailer =='; {trailer}"
        name = f"esc{uuid.uuid4().hex[:8]}"
        aci = make_image(base, tmp_path, name, {"exec": ["/bin/sh", "-c", script]})
        done = run_pod(data, str(aci))
        assert done.returncode == 0, (done.returncode, done.stdout, done.stderr)
        result: dict[str, tuple[int, list[str]]] = {}
        for key in [*attacks, *(["trailer"] if trailer else [])]:
            got = section(done.stdout, key)
            if key == "trailer":
                result[key] = (0, got)
                continue
            assert got and got[-1].startswith("rc="), done.stdout
            result[key] = (int(got[-1][3:]), got[:-1])
        return result

    return run


def refused(result: tuple[int, list[str]], *texts: str) -> None:
    rc, out = result
    assert rc != 0, out
    wanted = texts or REFUSED
    assert any(t in line for line in out for t in wanted), out


def read(path: str) -> str | None:
    try:
        return Path(path).read_text()
    except OSError:
        return None


def host_mounts() -> list[tuple[str, str, str]]:
    """(mount point, fstype, options) of the host's mount table."""
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        found = []
        for line in f:
            left, _, right = line.partition(" - ")
            words = left.split()
            found.append((words[4], right.split()[0], words[5]))
        return found


# --- /proc/sys, /proc/sysrq-trigger, /proc/kcore ----------------------------------------------


def test_proc_sys_writes_fail(attack: Any) -> None:
    paths = ("/proc/sys/kernel/panic", "/proc/sys/kernel/hostname", "/proc/sys/vm/swappiness")
    before = {p: read(p) for p in paths}
    got = attack(
        {
            "panic": "echo 1 > /proc/sys/kernel/panic",
            "drop_caches": "echo 3 > /proc/sys/vm/drop_caches",
            "hostname": "echo evil > /proc/sys/kernel/hostname",
            "swappiness": "echo 100 > /proc/sys/vm/swappiness",
        },
        trailer="grep ' /proc/sys ' /proc/self/mountinfo",
    )
    for name in ("panic", "drop_caches", "hostname", "swappiness"):
        refused(got[name], "Read-only file system")
    assert any(" ro," in line for line in got["trailer"][1]), got["trailer"]
    assert {p: read(p) for p in paths} == before


def test_sysrq_trigger_write_fails(attack: Any) -> None:
    # 'h' only prints the SysRq help to the kernel log, so even a bug here is harmless.
    got = attack({"sysrq": "echo h > /proc/sysrq-trigger"})
    if os.path.exists("/proc/sysrq-trigger"):
        refused(got["sysrq"], "Read-only file system", "Permission denied",
                "Operation not permitted")  # fmt: skip
    else:  # this kernel has no SysRq: the pod must not have one either
        refused(got["sysrq"])


def test_proc_kcore_and_masked_files_unreadable(attack: Any) -> None:
    got = attack(
        {"kcore": "head -c 16 /proc/kcore > /dev/null"},
        trailer="for f in kallsyms keys timer_list; do echo $f:$(wc -c < /proc/$f); done",
    )
    refused(got["kcore"])
    assert got["trailer"][1] == ["kallsyms:0", "keys:0", "timer_list:0"]


# --- /sys ---------------------------------------------------------------------------------------


def test_sys_writes_fail(attack: Any) -> None:
    thp = "/sys/kernel/mm/transparent_hugepage/enabled"
    before = read(thp)
    evil = f"rkt-escape-{uuid.uuid4().hex[:8]}"
    got = attack(
        {
            "thp": f"echo never > {thp}",
            "cgroup_mkdir": f"mkdir /sys/fs/cgroup/{evil}",
            "cgroup_touch": f"touch /sys/fs/cgroup/{evil}",
            "cgroup_memory": f"mkdir /sys/fs/cgroup/memory/{evil}",
            "uevent": "echo add > /sys/kernel/uevent_helper",
        },
        trailer="grep ' /sys ' /proc/self/mountinfo",
    )
    for name in ("thp", "cgroup_mkdir", "cgroup_touch", "cgroup_memory", "uevent"):
        refused(got[name])
    assert any(" ro," in line for line in got["trailer"][1]), got["trailer"]
    assert read(thp) == before
    for parent in (Path("/sys/fs/cgroup"), *Path("/sys/fs/cgroup").glob("*")):
        assert not (parent / evil).exists(), parent / evil


# --- mounts and namespaces ----------------------------------------------------------------------


def test_mount_and_remount_fail(attack: Any, tmp_path: Path) -> None:
    def outside() -> list[tuple[str, str, str]]:
        prefix = str(tmp_path) + "/"
        return [m for m in host_mounts() if not m[0].startswith(prefix)]

    before = outside()
    got = attack(
        {
            "mount_proc": "mount -t proc proc /mnt",
            "mount_tmpfs": "mount -t tmpfs none /mnt",
            "remount_root": "mount -o remount,rw /",
            "remount_sys": "mount -o remount,rw /sys",
            "remount_proc_sys": "mount -o remount,rw /proc/sys",
            "umount_proc_sys": "umount /proc/sys",
            "bind": "mount --bind / /mnt",
        },
        trailer="grep -c ' /mnt ' /proc/self/mountinfo; grep ' /proc/sys ' /proc/self/mountinfo",
    )
    for name in got:
        if name != "trailer":
            refused(got[name], "Bad system call", "Operation not permitted",
                    "Permission denied")  # fmt: skip
    trailer = got["trailer"][1]
    assert trailer[0] == "0", trailer  # nothing got mounted on /mnt
    assert " ro," in trailer[1], trailer
    assert outside() == before


def test_namespace_calls_fail(attack: Any) -> None:
    """No insmod/modprobe in the image; the calls that would reach the host's namespaces or make
    new ones (unshare, setns via nsenter) are refused instead."""
    got = attack(
        {
            "unshare_mount": "unshare -m true",
            "unshare_user": "unshare -U true",
            "unshare_net": "unshare -n true",
            "nsenter_pid1": "nsenter -t 1 -m -u -n -p true",
        }
    )
    for name in got:
        refused(got[name], "Bad system call", "Operation not permitted", "Permission denied")


# --- devices ------------------------------------------------------------------------------------


def _host_root_device() -> tuple[int, int, Path] | None:
    dev = os.stat("/").st_dev
    major, minor = os.major(dev), os.minor(dev)
    if major == 0:  # overlay, btrfs subvolume…: no block device to aim at
        return None
    node = Path(f"/sys/dev/block/{major}:{minor}/uevent")
    name = next((v for k, _, v in (x.partition("=") for x in lines(read(str(node)) or ""))
                 if k == "DEVNAME"), None)  # fmt: skip
    if name is None or not Path("/dev", name).exists():
        return None
    return major, minor, Path("/dev", name)


def _head(path: Path) -> str | None:
    """A digest of the device's first 512 bytes (what the attacks could read or write; on a
    whole-disk ext4, as in the VM lane, the superblock after them changes as the host runs),
    or None when even the host's root may not read it (a sandbox's own device cgroup: then a
    refusal in the pod would prove nothing)."""
    try:
        with path.open("rb") as f:
            return hashlib.sha256(f.read(512)).hexdigest()
    except OSError:
        return None


def test_mknod_devices_cannot_be_used(attack: Any) -> None:
    attacks = {
        # /, /dev and /tmp are nodev; the devices cgroup (v1) refuses the open as well.
        "sda_tmp": "mknod /tmp/sda b 8 0 && head -c 512 /tmp/sda > /dev/null",
        "sda_root": "mknod /sda b 8 0 && head -c 512 /sda > /dev/null",
        # /dev/kmsg needs CAP_SYSLOG, which a default app lacks.
        "kmsg": "mknod /dev/kmsg2 c 1 11 && head -c 64 /dev/kmsg2 > /dev/null",
    }
    disk = _host_root_device()
    digest = None if disk is None else _head(disk[2])
    if disk is not None and digest is not None:
        major, minor, _ = disk
        attacks["host_disk_read"] = (
            f"mknod /hostdisk b {major} {minor} && head -c 512 /hostdisk > /dev/null"
        )
        # Opens for writing but writes nothing (count=0).
        attacks["host_disk_open_rw"] = (
            f"mknod /hostdisk2 b {major} {minor} && dd if=/dev/zero of=/hostdisk2 bs=1 count=0"
        )
    got = attack(attacks)
    for name in attacks:
        refused(got[name], "Operation not permitted", "Permission denied",
                "No such device or address")  # fmt: skip
    if disk is not None and digest is not None:
        assert _head(disk[2]) == digest


def test_writable_places_are_nodev(attack: Any) -> None:
    # Without a devices cgroup (cgroup v2 has none without a BPF program) nodev is what keeps
    # a node the app makes with CAP_MKNOD from opening: on its root, /dev, /tmp and /dev/shm.
    got = attack({}, trailer="cat /proc/self/mountinfo")
    options = {}
    for line in got["trailer"][1]:
        words = line.split(" - ")[0].split()
        options[words[4]] = words[5].split(",")
    for point in ("/", "/dev", "/tmp", "/dev/shm"):
        assert "nodev" in options[point], (point, options.get(point))
    # The device nodes the pod is given are binds of the host's, mounts that still open.
    assert "nodev" not in options["/dev/null"]


def _host_devices(*paths: str) -> list[tuple[str, str, int, int]]:
    """(path, b|c, major, minor) of the host devices among paths that the host's root can open."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
            with open(path, "rb"):
                pass
        except OSError:
            continue
        kind = "b" if stat.S_ISBLK(st.st_mode) else "c"
        found.append((path, kind, os.major(st.st_rdev), os.minor(st.st_rdev)))
    return found


def test_mknod_host_device_outside_the_default_set_cannot_be_opened(attack: Any) -> None:
    devices = _host_devices("/dev/cpu_dma_latency", "/dev/loop0", "/dev/loop-control")
    if not devices:
        pytest.skip("no host device to aim at")
    attacks = {
        f"dev{i}": f"mknod /dev/x{i} {kind} {major} {minor} && head -c 4 /dev/x{i} > /dev/null"
        for i, (_, kind, major, minor) in enumerate(devices)
    }
    got = attack(attacks)
    for name, (path, *_) in zip(attacks, devices, strict=True):
        assert got[name][0] != 0, (path, got[name])
        # EACCES from /dev's nodev, EPERM from the devices cgroup behind it.
        refused(got[name], "Operation not permitted", "Permission denied")


# --- hostname -------------------------------------------------------------------------------


def test_hostname_change_fails_and_host_keeps_its_name(attack: Any) -> None:
    host = socket.gethostname()
    got = attack({"hostname": "hostname evil"}, trailer="hostname")
    refused(got["hostname"], "Bad system call", "Operation not permitted")
    assert got["trailer"][1] != ["evil"]
    assert got["trailer"][1][0].startswith("rkt-")
    assert socket.gethostname() == host
    assert read("/proc/sys/kernel/hostname") == host + "\n"


# --- chroot, PID 1, other processes ---------------------------------------------------------


def test_chroot_climb_stays_in_the_pod(attack: Any, tmp_path: Path) -> None:
    marker = tmp_path / f"host-marker-{uuid.uuid4().hex[:8]}"
    marker.write_text("host\n")
    climb = "cd ../../../../../../..; ls /; ls .; test -e " + str(marker) + " && echo SEEN"
    got = attack(
        {
            "chroot_jail": (
                "mkdir -p /tmp/j/bin && cp /bin/busybox /tmp/j/bin/ && cd /tmp/j && "
                f'chroot /tmp/j /bin/busybox sh -c "{climb}"; exit 1'
            ),
            "chroot_root": f'chroot / /bin/sh -c "{climb}"; exit 1',
            "proc1_root": "ls /proc/1/root/",
            "chroot_proc1_root": "chroot /proc/1/root /bin/sh -c true",
            "marker": f"cat {marker}",
        }
    )
    for name, (_, out) in got.items():
        assert "SEEN" not in out and "host" not in out, (name, out)
    # The climbs end at the jail's or the pod's own root.
    assert set(got["chroot_jail"][1]) == {"bin"}, got["chroot_jail"]
    assert "work" not in got["chroot_root"][1] and "bin" in got["chroot_root"][1]
    refused(got["proc1_root"], "Permission denied")
    refused(got["chroot_proc1_root"], "Permission denied", "Operation not permitted")
    refused(got["marker"], "No such file or directory")


def test_pid1_is_the_pods_own_and_not_traceable(attack: Any) -> None:
    host_cmdline = Path("/proc/1/cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
    try:
        host_environ = Path("/proc/1/environ").read_bytes().split(b"\0")
    except OSError:  # a sandboxed host may hide it even from root
        host_environ = []
    got = attack(
        {
            "environ": "cat /proc/1/environ",
            "mem": "head -c 1 /proc/1/mem > /dev/null",
            "exe": "readlink /proc/1/exe || { ls -l /proc/1/exe; exit 1; }",
        },
        trailer="grep -e ^NSpid -e ^PPid /proc/1/status; tr '\\0' ' ' < /proc/1/cmdline; echo",
    )
    # rkt runs the app under its own PID 1 (the pod supervisor) in a new PID namespace; it is
    # not dumpable, so even the pod's root cannot read its environment or memory.
    refused(got["environ"], "Permission denied")
    refused(got["mem"], "Permission denied")
    refused(got["exe"], "Permission denied")
    trailer = got["trailer"][1]
    assert "NSpid:\t1" in trailer and "PPid:\t0" in trailer, trailer
    assert trailer[-1].strip() != host_cmdline
    leaked = [v for v in host_environ if len(v) > 8 and v.decode(errors="replace") in
              "\n".join(got["environ"][1])]  # fmt: skip
    assert leaked == []


def test_pod_sees_only_its_pids_and_cannot_kill_host_processes(attack: Any) -> None:
    victim = subprocess.Popen(["sleep", "120"])
    try:
        got = attack(
            {
                "kill_host": f"kill -9 {victim.pid}",
                "kill_pid1": "kill -9 1; sleep 0.2; test -d /proc/1/ || echo DEAD; exit 1",
            },
            trailer="ls /proc | grep -c '^[0-9]'; ls /proc | grep '^[0-9]'",
        )
        pids = got["trailer"][1]
        assert int(pids[0]) <= 10, pids
        assert str(victim.pid) not in pids[1:]
        refused(got["kill_host"], "No such process")
        assert "DEAD" not in got["kill_pid1"][1]  # the kernel ignores it for a namespace init
        assert victim.poll() is None  # still running
    finally:
        victim.kill()
        victim.wait(10)
