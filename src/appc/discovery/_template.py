"""Discovery templates: ``{placeholder}`` substitution and the ACI endpoints they expand to."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

# A placeholder is the shortest "{...}" on one line, as the reference's `{.*?}`; anything the
# pattern matches that has no value makes the template unusable.
_PLACEHOLDER = re.compile(r"\{(.*?)\}")

# discovery.md: `{ext}` tells the image (`aci`) from its signature (`aci.asc`).
ACI_EXT = "aci"
ASC_EXT = "aci.asc"


@dataclass(frozen=True, slots=True)
class ACIEndpoint:
    """Where an image (``aci``) and its detached signature (``asc``) can be downloaded."""

    aci: str
    asc: str


def render_template(template: str, values: Mapping[str, str]) -> str | None:
    """``template`` with each ``{key}`` replaced by ``values[key]``; None if one has no value.

    The substitution is one pass over the template, so a value is inserted verbatim even if it
    contains braces itself. The reference substitutes one key at a time and re-scans the result,
    which makes the outcome for such values depend on Go's map order.
    """
    pieces: list[str] = []
    end = 0
    for match in _PLACEHOLDER.finditer(template):
        value = values.get(match.group(1))
        if value is None:
            return None
        pieces += (template[end : match.start()], value)
        end = match.end()
    pieces.append(template[end:])
    return "".join(pieces)


def expand_endpoint(template: str, values: Iterable[tuple[str, str]]) -> ACIEndpoint | None:
    """The ACI and signature URLs a discovery template gives, or None if it cannot be filled.

    A template without ``{ext}`` is refused, as discovery.md says templates "must contain"
    it; the reference accepts one and returns the same URL for the image and the signature.
    """
    if "{ext}" not in template:
        return None
    # {ext} is ours to set: a label called "ext" must not turn the signature URL into the image's.
    filled = dict(values)
    aci = render_template(template, {**filled, "ext": ACI_EXT})
    asc = render_template(template, {**filled, "ext": ASC_EXT})
    if aci is None or asc is None:
        return None
    return ACIEndpoint(aci=aci, asc=asc)
