"""Errors raised by ``rkt``'s libraries; only :mod:`rkt.cli` prints them and exits.

Every error derives from :class:`RktError`, whose message is one lower-case line naming the
path, image or URL involved, with a hint where one helps (``hint``). The CLI prints
``<verb>: <message>`` and exits 254, rkt's status for its own failures (so an app's status can
pass through ``rkt run`` unchanged).

    RktError
    ├── ConfigError          a configuration file or flag is invalid
    ├── StoreError           the image store is inconsistent, locked, full or read-only
    │   └── ImageNotFound    no image in the store matches a hash, name or prefix
    │       └── AmbiguousImage  a hash prefix or name matches several images
    ├── FetchError           an image or signature could not be fetched
    ├── TrustError           a key could not be trusted or a signature did not verify
    │   └── SignatureError   an image's signature is missing, bad, or by an untrusted key
    ├── NetworkError         a CNI plugin failed or a pod network could not be set up
    ├── ServiceError         the metadata or API service cannot be reached, started or used
    ├── PodError             a pod directory is missing, busy, or in the wrong state
    │   ├── InvalidTransition  a pod cannot move from its state to the one asked for
    │   └── PodNotFound      no pod matches a UUID or UUID prefix
    │       └── AmbiguousPod   a UUID prefix matches several pods
    └── Stage1Error          stage1 cannot load, plan, set up or enter a pod
        ├── LoadError        the pod directory lacks what the interface promises
        │                    (rkt.stage1.planner.load)
        ├── PlanError        a user, executable, path or isolator is invalid or unsafe
        │                    (rkt.stage1.planner.plan)
        ├── ExecutorError    a plan step cannot be performed (rkt.stage1.executor.setup)
        └── EnterError       a command cannot be run in an app's jail
                             (rkt.stage1.executor.enter)

stage1's entry points (the ``main`` of its run and enter modules, which stage0 runs in a
process of their own or, for run, in ``rkt run``'s) print a Stage1Error as
``stage1: <message>`` and return 254 themselves, as the CLI does for the rest.

``rkt.linux`` raises ``OSError`` (its ``CgroupError``, ``DBusError`` and ``SeccompError``
subclass it, with the errno): the kernel's failures, outside this tree, which its callers
catch as ``OSError`` and turn into one of these where they know what failed.
"""

from __future__ import annotations


class RktError(Exception):
    """Base of rkt's errors; ``hint`` is an optional second sentence for the user."""

    def __init__(self, message: str, *, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message} ({self.hint})" if self.hint else self.message


class ConfigError(RktError):
    pass


class StoreError(RktError):
    pass


class ImageNotFound(StoreError):
    pass


class AmbiguousImage(ImageNotFound):
    pass


class FetchError(RktError):
    pass


class TrustError(RktError):
    pass


class SignatureError(TrustError):
    pass


class NetworkError(RktError):
    """A CNI plugin failed; ``code`` and ``details`` are the plugin's own (CNI spec 1.0.0 error
    result), ``code`` 0 when the failure was not reported by a plugin (not found, crashed)."""

    def __init__(self, message: str, *, code: int = 0, details: str = "", hint: str = "") -> None:
        super().__init__(message, hint=hint)
        self.code = code
        self.details = details


class ServiceError(RktError):
    pass


class PodError(RktError):
    pass


class InvalidTransition(PodError):
    """``invalid transition from X to Y``, as runc words it."""

    def __init__(self, source: str, target: str) -> None:
        super().__init__(f"invalid transition from {source} to {target}")
        self.source = source
        self.target = target


class PodNotFound(PodError):
    pass


class AmbiguousPod(PodNotFound):
    pass


class Stage1Error(RktError):
    pass
