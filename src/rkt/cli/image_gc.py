"""``rkt image gc [--grace-period=24h0m0s]``: remove images not used for the grace period, and
whatever files crashed processes left behind (orphan blobs and trees, temporary files)."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from rkt.cli.duration import add_duration
from rkt.cli.image_common import open_store, quote, warn

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

VERB = "image gc"
USE = "gc"
DESCRIPTION = """\
Meant for a timer or a cron job. Removes the images no pod has used for the grace period
(24h unless --grace-period says otherwise; --grace-period=0s removes every unused image), and
whatever files an interrupted command left in the store."""


def add_arguments(flags: FlagSet) -> None:
    add_duration(
        flags, "grace-period", 24 * 3600.0,
        "how long an image must have gone unused before it is removed",
    )  # fmt: skip


def run(args: Namespace, config: Config) -> int:
    import sys

    from rkt.pod.images import images_in_use

    with open_store(config) as store:
        removed = store.gc(timedelta(seconds=args.grace_period), keep=images_in_use(config.pods))
    for image_id in removed:
        sys.stdout.write(f"successfully removed aci for image: {quote(image_id)}\n")
    sys.stdout.flush()
    if removed:
        warn(VERB, f"{len(removed)} image(s) successfully removed")
    return 0
