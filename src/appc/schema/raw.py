"""The JSON texts of isolator values, read with msgspec's ``Raw`` in a second, typed pass.

The reference keeps each isolator value as the bytes it was given (``json.RawMessage``) and
writes them back unchanged but compacted, so ``1.50`` stays ``1.50`` and ``"\\u00e9"`` stays
escaped. Our readers work on decoded values; this pass recovers the texts so that writers can do
the same. It runs only on documents the readers already accepted, so the shapes are known to fit.
"""

from __future__ import annotations

from msgspec import Raw, Struct


class _Isolator(Struct):
    value: Raw = Raw(b"")


class _App(Struct):
    isolators: list[_Isolator] | None = None


class _Image(Struct):
    app: _App | None = None


class _RuntimeApp(Struct):
    app: _App | None = None


class _Pod(Struct):
    apps: list[_RuntimeApp] | None = None
    isolators: list[_Isolator] | None = None


def _texts(isolators: list[_Isolator] | None) -> list[bytes]:
    return [bytes(i.value) for i in isolators or ()]


def _decode(data: bytes | str, kind: type[Struct]) -> Struct | None:
    import msgspec

    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return None  # the lenient reader accepted what msgspec cannot: keep decoded values


def image_isolator_texts(data: bytes | str) -> list[bytes]:
    doc = _decode(data, _Image)
    if not isinstance(doc, _Image) or doc.app is None:
        return []
    return _texts(doc.app.isolators)


def pod_isolator_texts(data: bytes | str) -> tuple[list[bytes], list[list[bytes]]]:
    """The pod's own isolator texts, and each app's."""
    doc = _decode(data, _Pod)
    if not isinstance(doc, _Pod):
        return [], []
    apps = [_texts(a.app.isolators if a.app else None) for a in doc.apps or ()]
    return _texts(doc.isolators), apps
