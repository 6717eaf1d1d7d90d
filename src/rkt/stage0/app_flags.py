"""The per-app flags of ``rkt run`` and ``rkt prepare``: their names and whether they take a
value. Imports nothing, so that the CLI declares its flags from it (rkt.cli.prepare) without
loading what reads them (rkt.stage0.apps): ``rkt run --help`` stays cheap."""

from __future__ import annotations

from collections.abc import Mapping

#: Per-app flags → whether they take a value (rkt's ``--readonly-rootfs`` takes one too). The
#: CLI declares its flags from this table (rkt.cli.prepare).
APP_FLAGS: Mapping[str, bool] = {
    "--signature": True,
    "--exec": True,
    "--name": True,
    "--user": True,
    "--group": True,
    "--supplementary-gids": True,
    "--working-dir": True,
    "--environment": True,
    "--mount": True,
    "--readonly-rootfs": True,
    "--annotation": True,
    "--user-annotation": True,
    "--user-label": True,
    "--memory": True,
    "--cpu": True,
    "--cpu-shares": True,
    "--oom-score-adj": True,
    "--caps-retain": True,
    "--caps-remove": True,
    "--seccomp": True,
    # rkt 1.30's stream modes (experimental there): null, log, stream or tty
    "--stdin": True,
    "--stdout": True,
    "--stderr": True,
    # rkt's deprecated spellings of --caps-retain and --caps-remove
    "--cap-retain": True,
    "--cap-remove": True,
}


#: rkt 1.30's app annotations for the stream modes (common/apps.go), and the modes.
STREAM_ANNOTATIONS = {
    "--stdin": "coreos.com/rkt/stage1/stdin",
    "--stdout": "coreos.com/rkt/stage1/stdout",
    "--stderr": "coreos.com/rkt/stage1/stderr",
}
STREAM_MODES = ("null", "log", "stream", "tty")
