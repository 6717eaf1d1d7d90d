"""The command tree of ``rkt``: every sub-command of rkt 1.30, its module, and the global flags.

The table below is all that ``rkt --help`` and the search for a command need; a verb's module
is imported only when that verb is run or asked for help. Each verb module has

- ``USE``: cobra's use line (the verb's name first), e.g. ``"export [--app=APPNAME] UUID FILE"``;
- ``DESCRIPTION``: the text of its help page (optional);
- ``add_arguments(flags)``: its flags and positional arguments (:class:`rkt.cli.flags.FlagSet`),
  the one place they are declared; set ``flags.interspersed = False`` to stop at the first
  argument as rkt's run, prepare, fetch and enter did;
- ``run(args, config) -> int``.

Commands are listed in rkt's order (the order cobra registered them, "help" last), which is the
order help pages list them in.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rkt.cli.flag_types import abs_dir, option_list
from rkt.cli.flags import BoolFlag, Flag, FlagSet

#: The version of rkt whose command line this is, which ``rkt version`` reports so that
#: integrations checking for rkt (Nomad's driver requires >= 1.27.0) accept this runtime.
RKT_VERSION = "1.30.0"
DEFAULT_DATA_DIR = "/var/lib/rkt"


class Entry:
    """A command of the tree, without its module loaded."""

    __slots__ = ("hidden", "module", "path", "short")

    def __init__(self, path: str, module: str, short: str, *, hidden: bool = False) -> None:
        self.path: tuple[str, ...] = tuple(path.split())
        #: the module in rkt.cli; "" for a group of sub-commands (image)
        self.module = module
        self.short = short
        self.hidden = hidden

    @property
    def name(self) -> str:
        return self.path[-1] if self.path else "rkt"

    @property
    def runnable(self) -> bool:
        return bool(self.module)


ROOT = Entry("", "", "rkt, the application container runner")
HELP = Entry("help", "", "Help about any command")
COMMANDS: tuple[Entry, ...] = (
    Entry("attach", "attach", "Attach to a running app's streams"),
    Entry("cat-manifest", "pod_cat_manifest", "Inspect and print the pod manifest"),
    Entry("completion", "completion", "Output shell completion code for the specified shell"),
    Entry("config", "print_config", "Print configuration for each stage in JSON format"),
    Entry("enter", "enter", "Enter the namespaces of an app within a rkt pod"),
    Entry("export", "pod_export", "Export an app from an exited pod to an ACI file"),
    Entry("fetch", "fetch", "Fetch image(s) and store them in the local store"),
    Entry("gc", "pod_gc", "Garbage collect rkt pods no longer in use"),
    Entry("image", "", "Operate on image(s) in the local store"),
    # rkt registered fetch under image too, hidden.
    Entry("image fetch", "fetch", "Fetch image(s) and store them in the local store", hidden=True),
    Entry("image cat-manifest", "image_cat_manifest", "Inspect and print the image manifest"),
    Entry("image export", "image_export", "Export a stored image to an ACI file"),
    Entry("image extract", "image_extract", "Extract a stored image to a directory"),
    Entry("image gc", "image_gc", "Garbage collect local store"),
    Entry("image list", "image_list", "List images in the local store"),
    Entry(
        "image render",
        "image_render",
        "Render a stored image to a directory with all its dependencies",
    ),
    Entry(
        "image rm",
        "image_rm",
        "Remove one or more images with the given IDs or image names from the local store",
    ),
    Entry("image verify", "image_verify", "Verify one or more rendered images in the local store"),
    Entry("list", "pod_list", "List pods"),
    Entry("logs", "logs", "Print the logs of a pod's apps"),
    Entry("metadata-service", "metadata_service", "Run metadata service"),
    Entry("api-service", "api_service", "Run API service (experimental)"),
    Entry("prepare", "prepare", "Prepare to run image(s) in a pod in rkt"),
    Entry("rm", "pod_rm", "Remove all files and resources associated with an exited pod"),
    Entry("run", "run", "Run image(s) in a pod in rkt"),
    Entry("run-prepared", "run_prepared", "Run a prepared application pod in rkt"),
    Entry("status", "pod_status", "Check the status of a rkt pod"),
    Entry("stop", "stop", "Stop a pod"),
    Entry("trust", "trust", "Trust a key for image verification"),
    Entry("version", "version", "Print the version and exit"),
    HELP,
)

ROOT_USE = "rkt [command]"
ROOT_DESCRIPTION = """\
A command line for running App Container pods on Linux.

For help on a command, run "rkt help COMMAND" or "rkt COMMAND --help"."""
IMAGE_USE = "image [command]"
IMAGE_DESCRIPTION = """\
Commands for the images in the local store.

cat-manifest, export, extract, render and rm name an image by its ID, long or short
("sha512-78c08a541997" or the whole digest), or by its name, with or without a version
label ("quay.io/coreos/etcd:v3.0.13", "quay.io/coreos/etcd"); a bare name picks the image
labelled "latest", else the one fetched last."""
HELP_USE = "help [command]"
HELP_DESCRIPTION = 'Help for any command: "rkt help image list" is "rkt image list --help".'

#: rkt's --insecure-options words (rkt/flag/secflags.go); "ondisk" is accepted and ignored.
INSECURE_OPTIONS = ("none", "image", "tls", "ondisk", "http", "pubkey", "capabilities", "paths",
                    "seccomp", "all-fetch", "all-run", "all")  # fmt: skip


def children(path: tuple[str, ...]) -> list[Entry]:
    return [e for e in COMMANDS if e.path[:-1] == path]


def entry(path: tuple[str, ...]) -> Entry:
    if not path:
        return ROOT
    for candidate in COMMANDS:
        if candidate.path == path:
            return candidate
    raise KeyError(path)


def add_global_flags(flags: FlagSet) -> None:
    """rkt's persistent flags: accepted before the command and after it."""
    add = flags.add
    add(BoolFlag("debug", "print out more debug information to stderr", persistent=True))
    for name, default, usage in (
        ("dir", DEFAULT_DATA_DIR, "rkt data directory"),
        ("system-config", "/usr/lib/rkt", "system configuration directory"),
        ("local-config", "/etc/rkt", "local configuration directory"),
        ("user-config", "", "user configuration directory"),
    ):
        add(Flag(name, usage, default, type_name="absolute-directory", check=abs_dir,
                 persistent=True, metavar="DIR"))  # fmt: skip
    add(
        Flag(
            "insecure-options",
            "comma-separated list of security features to disable. Allowed values: "
            + ", ".join(f'"{o}"' for o in INSECURE_OPTIONS),
            "none",
            type_name="BitFlags",
            check=option_list(INSECURE_OPTIONS),
            persistent=True,
            choices=INSECURE_OPTIONS,
        )
    )
    add(BoolFlag("trust-keys-from-https", "automatically trust gpg keys fetched from https",
                 persistent=True))  # fmt: skip
    for name in ("cpuprofile", "memprofile"):
        add(Flag(name, f"write a {name[:-7]} profile to the file", "", hidden=True,
                 persistent=True, metavar="FILE"))  # fmt: skip


class Command:
    """A command with its flags declared: what parsing, help, completion and man pages read."""

    def __init__(self, path: tuple[str, ...]) -> None:
        self.entry = entry(path)
        self.path = path
        self.module: ModuleType | None = None
        self.flags = FlagSet()
        add_global_flags(self.flags)
        if not path:
            # The root's own flags are the global ones; help shows them as its options.
            for flag in self.flags.flags.values():
                flag.persistent = False
        self.flags.add(BoolFlag("help", f"help for {self.entry.name}", shorthand="h"))
        if path == ("help",):
            self.use, self.description = HELP_USE, HELP_DESCRIPTION
            self.flags.rest("command", "COMMAND")
        elif not self.entry.runnable:
            self.use = ROOT_USE if not path else IMAGE_USE
            self.description = ROOT_DESCRIPTION if not path else IMAGE_DESCRIPTION
        else:
            self.module = importlib.import_module(f"rkt.cli.{self.entry.module}")
            self.use = self.module.USE
            self.description = getattr(self.module, "DESCRIPTION", "")
            self.module.add_arguments(self.flags)

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def command_path(self) -> str:
        return " ".join(("rkt", *self.path))

    @property
    def use_line(self) -> str:
        """cobra's UseLine: the parents' path, then the command's use."""
        if not self.path:
            return self.use
        return " ".join(("rkt", *self.path[:-1], self.use))
