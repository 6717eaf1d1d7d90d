"""Resource isolators of ace.md: cpu, memory, block bandwidth and IOPS, network bandwidth."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from appc.errors import ValidationError
from appc.schema.field import boolean, join, obj
from appc.schema.isolator import IsolatorValue, Reader
from appc.schema.quantity import Quantity

CPU = "resource/cpu"
MEMORY = "resource/memory"
BLOCK_BANDWIDTH = "resource/block-bandwidth"
BLOCK_IOPS = "resource/block-iops"
NETWORK_BANDWIDTH = "resource/network-bandwidth"


class Resource(IsolatorValue, frozen=True):
    """``request`` is what is guaranteed, ``limit`` the most allowed; ace.md: a missing request
    defaults to the limit."""

    default: bool
    request: Quantity | None
    limit: Quantity | None

    def effective_request(self) -> Quantity | None:
        return self.request if self.request is not None else self.limit


def _reader(*, default_required: bool) -> Reader:
    def read(value: Any, path: str) -> Resource:
        doc = obj(value, path)
        default = boolean(doc.get("default", False), join(path, "default"))
        request = _quantity(doc, "request", path)
        limit = _quantity(doc, "limit", path)
        if default_required:
            # ace.md: for device-wide limits "default must be set to true", and they have
            # no request.
            if not default:
                raise ValidationError(
                    "default must be true for this isolator", join(path, "default")
                )
            if request is not None:
                raise ValidationError(
                    "request is not supported by this isolator: expected it absent",
                    join(path, "request"),
                )
        elif default:
            raise ValidationError("default must be false for this isolator", join(path, "default"))
        return Resource(default, request, limit)

    return read


def _quantity(doc: Mapping[str, Any], key: str, path: str) -> Quantity | None:
    value = doc.get(key)
    return None if value is None else Quantity.parse(value, join(path, key))


READERS: Mapping[str, Reader] = {
    CPU: _reader(default_required=False),
    MEMORY: _reader(default_required=False),
    BLOCK_BANDWIDTH: _reader(default_required=True),
    BLOCK_IOPS: _reader(default_required=True),
    NETWORK_BANDWIDTH: _reader(default_required=True),
}
