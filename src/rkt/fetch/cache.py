"""HTTP caching of fetched images: when a stored copy of a URL may be used without asking.

rkt keeps, per ACI URL, the ``ETag`` and the Cache-Control ``max-age`` of the last download
(``rkt.store``'s ``Remote``). Within ``max-age`` seconds of that download the URL is not asked
again at all; after it, the request carries ``If-None-Match`` and a ``304 Not Modified`` means
the stored image is still current (image-fetching-behavior.md).
"""

from __future__ import annotations

from datetime import UTC, datetime


def max_age(cache_control: str | None) -> int:
    """Seconds a response may be reused for, from its ``Cache-Control`` header; 0 for none.

    ``no-store`` and ``no-cache`` win over any ``max-age`` in the same header (RFC 9111
    5.2.2.4-5: the response must be revalidated every time), where rkt let a later
    ``max-age`` override them. A malformed or negative ``max-age`` counts as 0, and so does
    one with a leading zero, which rkt refused as well.
    """
    if not cache_control:
        return 0
    seconds = 0
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return 0
        if name == "max-age":
            value = value.strip().strip('"')
            if value.isdigit() and (value == "0" or not value.startswith("0")):
                seconds = int(value)
    return seconds


def now() -> datetime:
    return datetime.now(UTC)


def is_fresh(download_time: datetime, seconds: int, at: datetime | None = None) -> bool:
    """Whether a download made at ``download_time`` with ``max-age`` ``seconds`` is still
    fresh, so that the URL need not be asked again (rkt's ``useCached``)."""
    if seconds <= 0:
        return False
    if download_time.tzinfo is None:
        # A naive time from the store is taken as UTC, which is how this module writes them.
        download_time = download_time.replace(tzinfo=UTC)
    age = ((at or now()) - download_time).total_seconds()
    # A download time in the future (a clock set back) makes the age negative; such an
    # entry is not trusted to be fresh.
    return 0 <= age < seconds
