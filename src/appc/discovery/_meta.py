"""Reading ``ac-discovery`` and ``ac-discovery-pubkeys`` meta tags out of a discovery page."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

ACI_TAG = "ac-discovery"
KEYS_TAG = "ac-discovery-pubkeys"


@dataclass(frozen=True, slots=True)
class ACMeta:
    """One ``<meta name="ac-..." content="PREFIX URI">`` tag: its name, prefix and URI."""

    name: str
    prefix: str
    uri: str


def _meta_from_attrs(attrs: list[tuple[str, str | None]]) -> ACMeta | None:
    name = content = ""
    # A repeated attribute takes its last value, as in the reference's loop over attributes.
    for key, value in attrs:
        if key == "name":
            name = value or ""
        elif key == "content":
            content = value or ""
    # "PREFIX URI": split on the first run of whitespace. The reference splits on one space
    # only; accepting tabs and newlines as well is more lenient and changes no valid page.
    parts = content.split(None, 1)
    if not name.startswith("ac-") or len(parts) < 2:
        return None
    return ACMeta(name=name, prefix=parts[0], uri=parts[1].strip())


class _Collector(Protocol):
    found: list[ACMeta]

    def feed(self, data: str) -> None: ...

    def close(self) -> None: ...


@functools.cache
def _collector_class() -> Callable[[], _Collector]:
    # html.parser is imported on first use so that importing appc.discovery stays cheap.
    from html.parser import HTMLParser

    class Collector(HTMLParser):
        """Collects ac- meta tags wherever they are, in head, body or unclosed markup."""

        def __init__(self) -> None:
            super().__init__(convert_charrefs=True)
            self.found: list[ACMeta] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "meta" and (meta := _meta_from_attrs(attrs)) is not None:
                self.found.append(meta)

        def parse_marked_section(self, i: int, report: bool = True) -> int:
            # _markupbase raises AssertionError on a "<![" section it does not know (for
            # example "<![foo]>"), which would end parsing. Browsers and the reference's
            # tokenizer read such markup as a bogus comment up to the next ">", so do we.
            try:
                return super().parse_marked_section(i, report)
            except AssertionError:
                end = self.rawdata.find(">", i)
                return -1 if end < 0 else end + 1

    return Collector


def parse_meta(body: bytes) -> list[ACMeta]:
    """The ``ac-`` meta tags in an HTML page, in document order.

    Like the reference's tokenizer this never fails: what a broken page yields before the
    breakage is kept, and the rest is ignored. Pages are decoded as UTF-8 with replacement,
    since every part that matters (names, prefixes, URLs) is ASCII.
    """
    collector = _collector_class()()
    try:
        collector.feed(body.decode("utf-8", errors="replace"))
        collector.close()
    except Exception:
        # html.parser documents no exceptions, and its base class has raised AssertionError
        # on malformed declarations; whatever else may surface, a junk page is a page with
        # fewer tags, never a traceback.
        pass
    return collector.found
