"""``rkt image list``: the images in the store, as rkt 1.30 prints them.

Fields ``id,name,size,importtime,lastused`` by default (``latest`` on request); sorted by
``importtime`` ascending unless ``--sort``/``--order`` say otherwise. The table is laid out as
Go's ``tabwriter`` with rkt's settings (tab width 8, padding 1, tabs as padding); sizes and
times are humanized unless ``--full``. ``--format=json`` and ``json-pretty`` print rkt's
``ImageListEntry`` objects (full ID, times in nanoseconds, size in bytes).

The size is the image's blob plus its rendered tree, as in rkt. ``latest`` is ``true`` for the
image a bare name would pick (labelled ``latest``, else the newest import of its name);
rkt 1.30 accepts the field but prints no value for it.

This is the verb schedulers call in loops: it imports nothing beyond the store and sqlite.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rkt.cli.image_common import open_store
from rkt.cli.terminal import printable

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.store import ImageRecord

FIELDS = ("id", "name", "importtime", "lastused", "size", "latest")
DEFAULT_FIELDS = "id,name,size,importtime,lastused"
SORT_FIELDS = ("name", "importtime", "lastused", "size")
HEADERS = {
    "id": "ID",
    "name": "NAME",
    "importtime": "IMPORT TIME",
    "lastused": "LAST USED",
    "size": "SIZE",
    "latest": "LATEST",
}


USE = "list"
DESCRIPTION = "Lists the images in the store; --fields, --sort and --order choose what and how."


def _options(allowed: tuple[str, ...]) -> Any:
    from rkt.cli.flag_types import option_list

    check = option_list(allowed)
    return lambda text: check(text).split(",") if text else []


def _order(text: str) -> str:
    if text.lower() not in ("asc", "desc"):
        raise ValueError("wrong sort order")
    return text.lower()


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flag_types import add_format_flag
    from rkt.cli.flags import Flag

    quoted = ", ".join(f'"{f}"' for f in FIELDS)
    flags.add(Flag("fields", f"comma-separated list of the fields to show: {quoted}",
                   DEFAULT_FIELDS.split(","), default_text=DEFAULT_FIELDS,
                   type_name="OptionList", check=_options(FIELDS), choices=FIELDS))  # fmt: skip
    quoted = ", ".join(f'"{f}"' for f in SORT_FIELDS)
    flags.add(Flag("sort", f"comma-separated list of the fields to sort by: {quoted}",
                   ["importtime"], default_text="importtime", type_name="OptionList",
                   check=_options(SORT_FIELDS), choices=SORT_FIELDS))  # fmt: skip
    flags.add(Flag("order", 'sorting order, "asc" or "desc"', "asc", type_name="imagesSortAsc",
                   check=_order, choices=("asc", "desc")))  # fmt: skip
    flags.add_bool("no-legend", False, "leave out the header line")
    flags.add_bool("full", False, "print whole IDs, exact sizes and times")
    add_format_flag(flags)


def human_bytes(size: int) -> str:
    """go-humanize ``IBytes``: ``512 B``, ``1.5 KiB``, ``12 MiB``."""
    if size < 10:
        return f"{size} B"
    units = ("B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
    exponent = 0
    value = float(size)
    while value >= 1024 and exponent < len(units) - 1:
        value /= 1024
        exponent += 1
    rounded = int(value * 10 + 0.5) / 10
    return (
        f"{rounded:.1f} {units[exponent]}" if rounded < 10 else f"{rounded:.0f} {units[exponent]}"
    )


_DAY = 86_400
# go-humanize's default magnitudes: (below this many seconds, format, divisor).
_MAGNITUDES: tuple[tuple[float, str, float], ...] = (
    (1, "now", 1),
    (2, "1 second %s", 1),
    (60, "%d seconds %s", 1),
    (120, "1 minute %s", 1),
    (3600, "%d minutes %s", 60),
    (7200, "1 hour %s", 1),
    (_DAY, "%d hours %s", 3600),
    (2 * _DAY, "1 day %s", 1),
    (7 * _DAY, "%d days %s", _DAY),
    (14 * _DAY, "1 week %s", 1),
    (30 * _DAY, "%d weeks %s", 7 * _DAY),
    (60 * _DAY, "1 month %s", 1),
    (360 * _DAY, "%d months %s", 30 * _DAY),
    (540 * _DAY, "1 year %s", 1),
    (720 * _DAY, "2 years %s", 1),
    (37 * 360 * _DAY, "%d years %s", 360 * _DAY),
)


def human_time(ns: int, now_ns: int) -> str:
    """go-humanize ``Time``: ``now``, ``3 minutes ago``, ``2 days ago``."""
    diff = (now_ns - ns) / 1e9
    label = "ago"
    if diff < 0:
        diff, label = -diff, "from now"
    for limit, text, divisor in _MAGNITUDES:
        if diff < limit:
            if text == "now":
                return text
            return text % (int(diff // divisor), label) if "%d" in text else text % label
    return f"a long while {label}"


def full_time(ns: int) -> str:
    """Go's ``2006-01-02 15:04:05.999 -0700 MST`` in local time."""
    local = datetime.fromtimestamp(ns // 1_000_000_000).astimezone()
    millis = (ns // 1_000_000) % 1000
    fraction = f".{millis:03d}".rstrip("0").rstrip(".")
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S}{fraction} {offset} {local.tzname()}"


def tabulate(rows: list[list[str]]) -> str:
    """Go ``tabwriter`` with minwidth 0, tabwidth 8, padding 1 and '\\t' as padding: every
    column but the last is padded with tabs to a multiple of 8 past its widest cell."""
    if not rows:
        return ""
    rows = [[printable(cell) for cell in row] for row in rows]
    columns = len(rows[0])
    widths = [-(-(max(len(row[c]) for row in rows) + 1) // 8) * 8 for c in range(columns - 1)]
    out = []
    for row in rows:
        cells = [cell + "\t" * -(-(widths[c] - len(cell)) // 8) for c, cell in enumerate(row[:-1])]
        out.append("".join(cells) + row[-1] + "\n")
    return "".join(out)


def _ns(value: datetime) -> int:
    from rkt.store.records import to_ns

    return to_ns(value)


def _latest(records: list[ImageRecord]) -> set[str]:
    chosen: dict[str, ImageRecord] = {}
    for record in records:
        best = chosen.get(record.name)
        key = (record.label("version") == "latest", record.import_time)
        if best is None or key >= (best.label("version") == "latest", best.import_time):
            chosen[record.name] = record
    return {record.id for record in chosen.values()}


def run(args: Namespace, config: Config) -> int:
    with open_store(config) as store:
        records = store.list()
        tree_sizes = store.tree_sizes()
    keys = {
        "name": lambda r: r.name,
        "importtime": lambda r: r.import_time,
        "lastused": lambda r: r.last_used,
        "size": lambda r: r.size + tree_sizes.get(r.id, 0),
    }
    records.sort(key=lambda r: tuple(keys[f](r) for f in args.sort), reverse=args.order == "desc")
    entries: list[dict[str, Any]] = []
    for record in records:
        version = record.label("version")
        entries.append(
            {
                "id": record.id,
                "name": f"{record.name}:{version}" if version is not None else record.name,
                "import_time": _ns(record.import_time),
                "last_used_time": _ns(record.last_used),
                "size": record.size + tree_sizes.get(record.id, 0),
            }
        )
    if args.format:
        # Go marshals the empty (nil) slice as null.
        indent = "\t" if args.format == "json-pretty" else None
        separators = (",", ": ") if indent else (",", ":")
        text = json.dumps(entries or None, indent=indent, separators=separators)
        sys.stdout.write(text + "\n")
        return 0
    latest = _latest(records)
    now = time.time_ns()
    rows = [] if args.no_legend else [[HEADERS[f] for f in args.fields]]
    for record, entry in zip(records, entries, strict=True):
        short = not args.full
        cell = {
            "id": entry["id"][: len("sha512-") + 12] if short else entry["id"],
            "name": entry["name"],
            "importtime": human_time(entry["import_time"], now)
            if short
            else full_time(entry["import_time"]),
            "lastused": human_time(entry["last_used_time"], now)
            if short
            else full_time(entry["last_used_time"]),
            "size": human_bytes(entry["size"]) if short else str(entry["size"]),
            "latest": "true" if record.id in latest else "false",
        }
        rows.append([cell[f] for f in args.fields])
    sys.stdout.write(tabulate(rows))
    return 0
