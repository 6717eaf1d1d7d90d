"""The stage1 interface: all that stage0 knows of stage1, in one module (docs/stage1-interface.md).

stage0 imports nothing else of ``rkt.stage1`` (tests/unit/test_import_rules.py). What the two
sides share:

- the pod directory: its file names are :mod:`rkt.pod.layout`'s, one layer down, because the
  readers of pods (``rkt status``, ``logs``, gc) need them too and ``rkt.pod`` may not import
  stage1;
- the options file ``stage1/options.json``: :class:`Options`, versioned, written by stage0 and
  read by stage1's planner;
- the flavors and their entry points (:data:`PACKAGES`, :func:`read_flavor`) and the one builder
  of their command lines (:func:`command`), for ``run``, ``stop`` and ``enter``;
- gc, called in-process (:func:`gc`, :func:`sweep`): ``rkt gc`` may collect hundreds of pods, and
  an interpreter per pod would cost ~40 ms each for the same code.

A pod records a non-default flavor as the options' top-level ``"stage1"`` key when it is
prepared; a pod without it (every pod prepared before flavors existed) is the default flavor's.
The record is read through the pod directory, so ``rkt run-prepared``, ``enter``, ``stop`` and
``gc`` use the flavor the pod was prepared for, whatever flags they are given.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import msgspec

from rkt import jsondoc
from rkt.errors import PodError
from rkt.pod import layout

if TYPE_CHECKING:
    from pathlib import Path

    from rkt.config import ConfigDirs

DEFAULT = "coreos"
FLY = "fly"
#: The package whose ``run``, ``stop``, ``enter`` and ``gc`` modules implement each flavor.
PACKAGES = {DEFAULT: "rkt.stage1.executor", FLY: "rkt.stage1.fly"}
ENTRIES = ("run", "stop", "enter", "gc")
#: The version of :class:`Options` this runtime writes and reads.
OPTIONS_VERSION = 1
#: Option files are small; a larger one is a mistake, not something to parse.
MAX_OPTIONS_SIZE = 4 << 20
#: The ``--net`` values that need no CNI network; any other joins the pod's netns, which stage0
#: makes (``netns`` in the options).
HOST_NETS = ("none", "host")
#: Set by stage0 for socket activation: how many sockets it passes as fds 3.. (and their
#: names, ``:``-separated).
LISTEN_FDS_ENV = "RKT_LISTEN_FDS"
LISTEN_FDNAMES_ENV = "RKT_LISTEN_FDNAMES"
#: The pod's lock: the descriptor of the pod directory stage1 inherits from stage0.
LOCK_FD_ENV = "RKT_LOCK_FD"

Pair = tuple[str, str]


class FlavorError(PodError):
    """The pod names a flavor this runtime does not have, or its record is unreadable."""


class RunOptions(
    msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, forbid_unknown_fields=True
):
    """The options' ``options`` object: rkt run's flags that reach stage1's plan.

    Environment variables are ``[name, value]`` pairs and hosts entries ``[ip, [names...]]``
    so that the file stays plain JSON; ``hostname`` defaults to ``rkt-<uuid>``."""

    hostname: str = ""
    interactive: bool = False
    set_env_file: tuple[Pair, ...] = ()
    set_env: tuple[Pair, ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_domain: str = ""
    hosts_entries: tuple[tuple[str, tuple[str, ...]], ...] = ()
    host_network: bool = False
    insecure_paths: bool = False
    insecure_seccomp: bool = False
    insecure_capabilities: bool = False
    #: ``--ipc=parent``: the pod stays in the host's IPC namespace
    host_ipc: bool = False
    #: the pod's ``AC_METADATA_URL``, written by stage0 once it has registered the pod
    metadata_url: str = ""


class Options(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """``stage1/options.json``, version :data:`OPTIONS_VERSION`."""

    version: int
    options: RunOptions = RunOptions()
    #: per-app --environment, the top layer of each app's environment
    app_environment: Mapping[str, tuple[Pair, ...]] = msgspec.field(default_factory=dict)
    net: str = "none"
    #: the pod's network namespace file stage0 made, relative to the pod directory; "" for the
    #: none and host networks
    netns: str = ""
    #: the flavor, "" for the default
    stage1: str = ""
    #: --mds-register: stage0 registers the pod with the metadata service
    mds_register: bool = False

    def to_json(self) -> bytes:
        return msgspec.json.format(msgspec.json.encode(self), indent=2) + b"\n"


class OptionsError(PodError):
    """The pod's options file is unreadable or not what this version writes."""


def _options_bytes(pod_dir: str | os.PathLike[str], error: type[PodError]) -> bytes | None:
    """The options file's bytes; None if the pod has none (a pod from before they existed)."""
    path = os.path.join(pod_dir, layout.OPTIONS)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_OPTIONS_SIZE + 1)
    except FileNotFoundError:
        return None
    except OSError as err:
        raise error(f"cannot read {path}: {err.strerror}") from err
    if len(data) > MAX_OPTIONS_SIZE:
        raise error(f"{path} is larger than {MAX_OPTIONS_SIZE} bytes")
    return data


def read_options(pod_dir: str | os.PathLike[str]) -> Options | None:
    """The pod's options; None if it has no options file (a pod from before they existed)."""
    data = _options_bytes(pod_dir, OptionsError)
    if data is None:
        return None
    try:
        # Parsed once, by the reader that bounds what a damaged file can do (its depth).
        document = jsondoc.loads(data)
    except ValueError as err:
        raise OptionsError(f"{layout.OPTIONS} is not JSON: {err}") from err
    if not isinstance(document, dict):
        raise OptionsError(f"{layout.OPTIONS} is not a JSON object")
    if document.get("version") != OPTIONS_VERSION:
        raise OptionsError(f"{layout.OPTIONS}: expected an object with version {OPTIONS_VERSION}")
    try:
        return msgspec.convert(document, type=Options)
    except msgspec.ValidationError as err:
        raise OptionsError(f"{layout.OPTIONS}: {err}") from err


def read_flavor(pod_dir: str | os.PathLike[str]) -> str:
    """The flavor recorded in ``pod_dir``; :data:`DEFAULT` when none is. Only the ``stage1``
    key counts: options the flavor does not need may be damaged (its run reports them)."""
    data = _options_bytes(pod_dir, FlavorError)
    if data is None:
        return DEFAULT
    try:
        document = jsondoc.loads(data)
    except ValueError as err:
        raise FlavorError(f"{layout.OPTIONS} is not JSON: {err}") from err
    flavor = (document.get("stage1") or DEFAULT) if isinstance(document, dict) else DEFAULT
    if flavor not in PACKAGES:
        raise FlavorError(f"{layout.OPTIONS}: unknown stage1 flavor {flavor!r}")
    return str(flavor)


def entry_module(flavor: str, entry: str) -> str:
    """The module to run as ``python -m`` for ``entry`` (one of :data:`ENTRIES`)."""
    if entry not in ENTRIES:
        raise ValueError(f"unknown stage1 entry {entry!r}")
    return f"{PACKAGES[flavor]}.{entry}"


def command(pod_dir: str | os.PathLike[str], flavor: str, entry: str, *flags: str) -> list[str]:
    """The command line of ``entry`` of ``flavor`` for the pod in ``pod_dir``. Its flags, by
    entry: ``run``: ``--debug --interactive --detach --log-max-size=N --teardown=ARG...``;
    ``stop``: ``--force``; ``enter``: ``--app=NAME [--tty] -- CMD...``."""
    return [sys.executable, "-m", entry_module(flavor, entry), f"--pod-dir={pod_dir}", *flags]


def entry_point(flavor: str, entry: str) -> Callable[..., int]:
    """The ``main(argv)`` of ``entry``, to call in this process (or a fork of it) with
    :func:`command`'s arguments after the module name."""
    main: Callable[..., int] = importlib.import_module(entry_module(flavor, entry)).main
    return main


def gc(pod_dir: str | os.PathLike[str]) -> list[str]:
    """stage1's gc for the pod, of the flavor it was prepared for: DEL its networks, detach
    every mount under its directory (even after a crash) and remove its cgroups; the errors
    met, none fatal. An unreadable flavor record gets the default flavor's gc, which unmounts
    whatever is there and so cleans up after either flavor."""
    try:
        flavor = read_flavor(pod_dir)
    except FlavorError:
        flavor = DEFAULT
    collect: Callable[[str], list[str]] = importlib.import_module(entry_module(flavor, "gc")).gc
    return collect(str(pod_dir))


def sweep(pods: Path, dirs: ConfigDirs | None) -> tuple[list[str], list[str]]:
    """What pods that exist nowhere any more left on the host (cgroups, mounts, leases and NAT
    chains named for them): (what was removed, errors)."""
    from rkt.stage1.executor.leftovers import sweep as sweep_leftovers

    return sweep_leftovers(pods, dirs)
