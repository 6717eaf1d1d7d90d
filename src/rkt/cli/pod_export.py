"""``rkt export [--app=NAME] [--overwrite] UUID OUTPUT.aci``: an app of an exited pod, as the
app left its root, written as an image (:mod:`rkt.stage0.export`); ``--app`` is needed when
the pod has several apps, as for ``rkt enter``."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "export [--app=APPNAME] UUID OUTPUT_ACI_FILE"
DESCRIPTION = """\\
UUID is an exited pod's UUID (or an unambiguous prefix of it). The app's image manifest and its
root, with the changes the app made, are written to OUTPUT_ACI_FILE, which must end in .aci."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_string("app", "", "the app to export (needed when the pod has several)")
    flags.add_bool("overwrite", False, "replace the output file if it exists")
    flags.arg("uuid", "UUID", complete="pods:exited|exited-garbage")
    flags.arg("output", "OUTPUT_ACI_FILE")


def run(args: Namespace, config: Config) -> int:
    from rkt.cli.enter import choose_app
    from rkt.datadir import DataDir
    from rkt.pod.pod import Pod
    from rkt.stage0.export import check_exported, check_output, export_app
    from rkt.store import Store

    check_output(args.output)
    with Pod.load(config.pods, args.uuid) as pod:
        check_exported(pod)
        app = choose_app(pod, args.app, verb="export")
        with Store(DataDir(config.data_dir)) as store:
            export_app(store, pod, app, args.output, overwrite=args.overwrite)
    return 0
