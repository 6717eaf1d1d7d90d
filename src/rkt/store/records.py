"""What the store hands out: frozen records of images and of HTTP cache entries."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec


def to_datetime(ns: int) -> datetime:
    return datetime.fromtimestamp(ns / 1e9, tz=UTC)


def to_ns(value: datetime) -> int:
    # Through integer microseconds: float seconds would lose precision and round-trip badly.
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    return micros * 1000


class ImageRecord(msgspec.Struct, frozen=True):
    """An image in the store; ``id`` is the full ``sha512-<128 hex>``, ``size`` the bytes of
    its uncompressed ACI, ``labels`` the manifest's labels in their order."""

    id: str
    name: str
    labels: tuple[tuple[str, str], ...]
    import_time: datetime
    last_used: datetime
    size: int

    def label(self, name: str) -> str | None:
        return next((value for key, value in self.labels if key == name), None)


class Remote(msgspec.Struct, frozen=True):
    """The HTTP cache entry of one ACI URL (rkt's ``remote`` table)."""

    aci_url: str
    sig_url: str
    etag: str
    max_age: int
    download_time: datetime
    image_id: str
