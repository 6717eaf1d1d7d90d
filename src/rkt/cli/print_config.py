"""``rkt config [--pretty-print=true|false]``: the configuration rkt reads, merged over the
system, local and user config dirs, as JSON: ``{"stage0": [...]}``, one entry per auth domain
and per docker registry, then the paths and stage1 entries, each in its configuration file's
form (rkt/config.go, Documentation/subcommands/config.md; :mod:`rkt.config_merge`)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "config"
DESCRIPTION = """\\
Prints the configuration merged from the system, local and user config dirs as JSON: the
"stage0" key lists entries of the kinds auth, dockerAuth, paths and stage1, each as a file of
that kind would give it."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("pretty-print", True, "indent the output with tabs")


def run(args: Namespace, config: Config) -> int:
    from rkt.config_merge import go_json, merged

    sys.stdout.write(go_json(merged(config.dirs), pretty=args.pretty_print) + "\n")
    return 0
