"""``rkt api-service``: rkt's read-only gRPC API (``v1alpha``), over the same on-disk state as
the CLI and nothing else.

How the parts fit: :mod:`~rkt.api.pods` and :mod:`~rkt.api.images` turn pod directories and
the image index into the API's messages and apply its filters; :mod:`~rkt.api.events` diffs
snapshots of both into ``ListenEvents``'s events; :mod:`~rkt.api.service` is the servicer and
the gRPC server, on its own sockets or on sockets handed over by systemd (through
:mod:`~rkt.api.relay`). The messages are generated from ``v1alpha.proto`` (wire-compatible with
rkt's api/v1alpha/api.proto) by scripts/gen-api.sh into ``v1alpha_pb2*.py``.

The service keeps no state of its own: every call reads the data dir afresh. It never takes a
lock: pods' states come from /proc/locks (:mod:`rkt.linux.flocks`), the index is read in WAL
mode, which never blocks writers. grpcio and protobuf are the ``rocket[api]`` extra, imported
by this package only; nothing else in rkt imports it.
"""
