"""rkt's seccomp groups, and resolving an app's planned filter into one to load.

The groups are rkt 1.30's, copied from rkt/rkt ``stage1/init/common/seccomp_wildcards.go``
(DockerDefaultSeccompWhitelist/-Blacklist, RktDefaultSeccompArmWhitelist; see also
Documentation/seccomp-guide.md): ``@rkt/default-whitelist`` is ``@docker/default-whitelist``
(Docker's default.json of 2016, without its argument filters: ``clone`` and ``personality`` are
allowed whole), plus the ARM additions on ARM; ``@rkt/default-blacklist`` is
``@docker/default-blacklist``. The wildcards are ace.md's (os/linux/seccomp-retain-set and
-remove-set): ``@appc.io/all`` in a retain set opts out of filtering, ``@appc.io/empty`` in a
remove set opts in to the implementation's default, which for rkt is the retain set
``@rkt/default-whitelist`` (stage1/init/common/seccomp.go, generateSeccompFilter).

Not from rkt: MODERN_WHITELIST_ADDITIONS, calls that today's libcs make unconditionally (glibc
2.35+ registers ``rseq`` at start-up and uses ``clone3`` for threads; coreutils uses ``statx``)
and that Docker's current default.json allows. Without them a retain set of the 2016 list
kills a Debian 12 program before main(); rkt's own list predates those calls.

Syscall names are kept as given; a name this architecture does not have is skipped when the
filter is built (:mod:`rkt.linux.seccomp` reports which).

Hardening (not rkt's, :func:`hardening_rules`): every app that has a filter also gets a second
one, loaded before it, that refuses what no default pod needs and what reached hosts before:

- ``ioctl(TIOCSTI)`` and ``ioctl(TIOCLINUX)`` (EPERM): pushing keystrokes into a terminal's
  input, or a console's selection back into it (TIOCSTI injection into the caller's shell:
  bubblewrap CVE-2017-5226; docs/security.md 12). Apps have no controlling terminal of the host's
  either; this covers a terminal fd they were handed.
- ``clone``/``unshare`` with any ``CLONE_NEW*`` flag (EPERM) and ``clone3`` (ENOSYS, so that
  libcs fall back to ``clone``, whose flags a filter can see; clone3's are in memory): a new
  user namespace gives a pod's process every capability there and reaches kernel code (nf_tables'
  netlink, say) that root in the pod cannot. Allowed when the app has CAP_SYS_ADMIN (plan.Seccomp
  ``namespaces``), as in Docker's default profile.
- ``socket(AF_VSOCK)`` (EPERM): the host's and hypervisor's vsock services, as Docker refuses.

Two filters rather than one because libseccomp cannot refuse some values of a call that the
same filter allows unconditionally (an unconditional rule wins); the hardening filter allows
by default, and the kernel runs every filter and takes the most restrictive answer.

Pure data and pure functions: nothing here touches the kernel. A filter that cannot be
resolved (an unknown group, errno or mode) is a PlanError; rkt.linux.seccomp's SeccompError is
libseccomp missing or refusing one.
"""

from __future__ import annotations

import errno as errno_names
import platform
import termios
from collections.abc import Iterable, Mapping

import msgspec

from rkt.stage1.planner.plan import PlanError, Seccomp

#: rkt's DockerDefaultSeccompWhitelist (Docker's default.json, 2016).
DOCKER_DEFAULT_WHITELIST: tuple[str, ...] = (
    "accept",
    "accept4",
    "access",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_getres",
    "clock_gettime",
    "clock_nanosleep",
    "close",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "ipc",
    "kill",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "memfd_create",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedsend",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "pause",
    "personality",
    "pipe",
    "pipe2",
    "poll",
    "ppoll",
    "prctl",
    "pread64",
    "preadv",
    "prlimit64",
    "pselect6",
    "pwrite64",
    "pwritev",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigreturn",
    "socket",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "syslog",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_settime",
    "timer_getoverrun",
    "timer_gettime",
    "timer_settime",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    "arch_prctl",
    "modify_ldt",
    "chroot",
    "clone",
)

#: rkt's DockerDefaultSeccompBlacklist.
DOCKER_DEFAULT_BLACKLIST: tuple[str, ...] = (
    "acct",
    "add_key",
    "adjtimex",
    "bpf",
    "clock_adjtime",
    "clock_settime",
    "create_module",
    "delete_module",
    "finit_module",
    "get_kernel_syms",
    "get_mempolicy",
    "init_module",
    "ioperm",
    "iopl",
    "kcmp",
    "kexec_file_load",
    "kexec_load",
    "keyctl",
    "lookup_dcookie",
    "mbind",
    "mount",
    "move_pages",
    "name_to_handle_at",
    "nfsservctl",
    "open_by_handle_at",
    "perf_event_open",
    "pivot_root",
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
    "query_module",
    "quotactl",
    "reboot",
    "request_key",
    "set_mempolicy",
    "setns",
    "settimeofday",
    "stime",
    "swapon",
    "swapoff",
    "sysfs",
    "_sysctl",
    "umount",
    "umount2",
    "unshare",
    "uselib",
    "userfaultfd",
    "ustat",
    "vm86",
    "vm86old",
)

#: rkt's RktDefaultSeccompArmWhitelist, added to the rkt whitelist on arm and arm64.
RKT_ARM_WHITELIST_ADDITIONS: tuple[str, ...] = (
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "breakpoint",
    "cacheflush",
    "set_tls",
    "sync_file_range2",
)

#: Calls added since 2016 to Docker's default.json that current libcs and tools make on their
#: own (see the module docstring); part of ``@rkt/default-whitelist`` and
#: ``@docker/default-whitelist`` here.
MODERN_WHITELIST_ADDITIONS: tuple[str, ...] = (
    "clone3",
    "close_range",
    "epoll_pwait2",
    "faccessat2",
    "membarrier",
    "openat2",
    "pidfd_getfd",
    "pidfd_open",
    "pidfd_send_signal",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "preadv2",
    "pwritev2",
    "rseq",
    "statx",
)

ALL = "@appc.io/all"
EMPTY = "@appc.io/empty"
RKT_DEFAULT_WHITELIST = "@rkt/default-whitelist"


def _whitelist(machine: str) -> tuple[str, ...]:
    arm = machine.startswith(("arm", "aarch64"))
    extra = RKT_ARM_WHITELIST_ADDITIONS if arm else ()
    return DOCKER_DEFAULT_WHITELIST + MODERN_WHITELIST_ADDITIONS + extra


def groups(machine: str | None = None) -> Mapping[str, tuple[str, ...]]:
    """rkt's named groups for ``machine`` (``platform.machine()`` by default)."""
    whitelist = _whitelist(platform.machine() if machine is None else machine)
    return {
        "@docker/default-whitelist": DOCKER_DEFAULT_WHITELIST + MODERN_WHITELIST_ADDITIONS,
        "@docker/default-blacklist": DOCKER_DEFAULT_BLACKLIST,
        RKT_DEFAULT_WHITELIST: whitelist,
        "@rkt/default-blacklist": DOCKER_DEFAULT_BLACKLIST,
    }


#: clone(2)'s namespace flags (CLONE_NEWNS ... CLONE_NEWNET); CLONE_NEWTIME is clone3's and
#: unshare's only (in clone it is a CSIGNAL bit).
NAMESPACE_FLAGS: tuple[int, ...] = (
    0x00020000,  # CLONE_NEWNS
    0x02000000,  # CLONE_NEWCGROUP
    0x04000000,  # CLONE_NEWUTS
    0x08000000,  # CLONE_NEWIPC
    0x10000000,  # CLONE_NEWUSER
    0x20000000,  # CLONE_NEWPID
    0x40000000,  # CLONE_NEWNET
)
CLONE_NEWTIME = 0x00000080
AF_VSOCK = 40
#: TIOCLINUX is the same number on every architecture that has it; termios may not name it.
TIOCLINUX = getattr(termios, "TIOCLINUX", 0x541C)
_INT = 0xFFFFFFFF

#: A hardening rule: (syscall, errno name, ((argument, mask, value), ...)); the call fails with
#: the errno when every ``(args[argument] & mask) == value``.
ArgRule = tuple[str, str, tuple[tuple[int, int, int], ...]]


def hardening_rules(namespaces: bool, machine: str | None = None) -> tuple[ArgRule, ...]:
    """The second filter's refusals (module docstring); ``namespaces``: the app may make
    namespaces. The clone flags are argument 1 on s390 (its clone swaps the first two)."""
    machine = platform.machine() if machine is None else machine
    flags_arg = 1 if machine.startswith("s390") else 0
    rules: list[ArgRule] = [
        ("ioctl", "EPERM", ((1, _INT, termios.TIOCSTI),)),
        ("ioctl", "EPERM", ((1, _INT, TIOCLINUX),)),
        ("socket", "EPERM", ((0, _INT, AF_VSOCK),)),
    ]
    if not namespaces:
        for flag in NAMESPACE_FLAGS:
            rules.append(("clone", "EPERM", ((flags_arg, flag, flag),)))
        for flag in (*NAMESPACE_FLAGS, CLONE_NEWTIME):
            rules.append(("unshare", "EPERM", ((0, flag, flag),)))
        rules.append(("clone3", "ENOSYS", ()))
    return tuple(rules)


class Filter(msgspec.Struct, frozen=True):
    """A resolved filter. ``mode`` "retain": only ``syscalls`` are allowed; "remove": only they
    are blocked. A blocked call fails with ``errno`` (a name such as "EPERM") or, when that is
    "", kills the process with SIGSYS."""

    mode: str
    syscalls: tuple[str, ...]
    errno: str = ""
    #: the app may make namespaces (no clone/unshare refusals in the hardening filter)
    namespaces: bool = False

    @property
    def errno_number(self) -> int:
        """The errno's number; 0 when blocked calls kill."""
        return errno_number(self.errno) if self.errno else 0

    def hardening(self) -> tuple[ArgRule, ...]:
        return hardening_rules(self.namespaces)

    def to_json(self) -> dict[str, object]:
        return {
            "mode": self.mode,
            "syscalls": list(self.syscalls),
            "errno": self.errno,
            "namespaces": self.namespaces,
        }

    @classmethod
    def from_json(cls, data: object) -> Filter:
        if not isinstance(data, dict):
            raise PlanError("a seccomp filter must be a JSON object")
        mode, syscalls, errno = data.get("mode"), data.get("syscalls"), data.get("errno", "")
        namespaces = data.get("namespaces", False)
        if mode not in ("retain", "remove") or not isinstance(errno, str):
            raise PlanError(f"bad seccomp filter {data!r}")
        if not isinstance(syscalls, list) or not all(isinstance(s, str) for s in syscalls):
            raise PlanError(f"bad seccomp filter {data!r}")
        if not isinstance(namespaces, bool):
            raise PlanError(f"bad seccomp filter {data!r}")
        return cls(str(mode), tuple(syscalls), errno, namespaces)


def errno_number(name: str) -> int:
    number = getattr(errno_names, name.upper(), None)
    if not isinstance(number, int) or not name.upper().startswith("E"):
        raise PlanError(f'unknown errno "{name}"')
    return number


def _expand(names: Iterable[str], table: Mapping[str, tuple[str, ...]]) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for name in names:
        if name.startswith("@"):
            if name not in table:
                known = ", ".join(sorted([*table, ALL, EMPTY]))
                raise PlanError(f'unknown seccomp group "{name}" (known: {known})')
            out.update(dict.fromkeys(table[name]))
        elif name:
            out[name] = None
    return tuple(out)


def resolve(spec: Seccomp | None, machine: str | None = None) -> Filter | None:
    """The filter to load for a planned one; None for no filter (none planned, i.e.
    ``--insecure-options=seccomp``, or a retain set with ``@appc.io/all``).

    A remove set with ``@appc.io/empty`` is rkt's default, the retain set
    ``@rkt/default-whitelist``, with the errno given. ``@appc.io/all`` in a remove set and
    ``@appc.io/empty`` in a retain set mean what they say (every call blocked)."""
    if spec is None:
        return None
    if spec.mode not in ("retain", "remove"):
        raise PlanError(f'unknown seccomp mode "{spec.mode}"')
    if spec.errno:
        errno_number(spec.errno)
    errno = spec.errno.upper()
    table = groups(machine)
    names = set(spec.syscalls)
    ns = spec.namespaces
    if spec.mode == "retain":
        if ALL in names:
            return None
        if EMPTY in names:
            return Filter("retain", (), errno, ns)
        return Filter("retain", _expand(spec.syscalls, table), errno, ns)
    if EMPTY in names:
        return Filter("retain", table[RKT_DEFAULT_WHITELIST], errno, ns)
    if ALL in names:
        return Filter("retain", (), errno, ns)
    return Filter("remove", _expand(spec.syscalls, table), errno, ns)
