"""Errors raised by the appc library.

Every error the library raises derives from :class:`AppcError`; callers (``actool``, ``rkt``)
catch that one class, print ``str(err)`` as a single line and exit non-zero. Messages are
lower-case, name the offending path (a JSON path such as ``app.exec[0]`` or an archive member
such as ``rootfs/etc/passwd``) and the value, and say what was expected.

    AppcError
    ├── ValidationError      a value breaks a rule of the spec (types.md, ace.md, pods.md)
    ├── ArchiveError         an ACI archive or image layout is malformed (aci.md)
    └── DiscoveryError       image or key discovery failed (discovery.md)
"""

from __future__ import annotations


class AppcError(Exception):
    """Base of every error raised by :mod:`appc`."""


class ValidationError(AppcError, ValueError):
    """A value breaks a rule of the spec.

    ``path`` is where the value sits in the document (``app.exec[0]``), empty for a bare value;
    ``message`` says what is wrong and what was expected.
    """

    def __init__(self, message: str, path: str = "") -> None:
        super().__init__(message, path)
        self.message = message
        self.path = path

    def at(self, prefix: str) -> ValidationError:
        """The same error located under ``prefix`` (the path of the enclosing value)."""
        if not prefix:
            return self
        if not self.path:
            path = prefix
        elif self.path.startswith("["):
            path = prefix + self.path
        else:
            path = f"{prefix}.{self.path}"
        return type(self)(self.message, path)

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ArchiveError(AppcError):
    """An ACI archive or image layout is malformed; ``member`` names the entry, if any."""

    def __init__(self, message: str, member: str = "") -> None:
        super().__init__(message, member)
        self.message = message
        self.member = member

    def __str__(self) -> str:
        return f"{self.member}: {self.message}" if self.member else self.message


class DiscoveryError(AppcError):
    """Discovery of an image's or a key's location failed."""
