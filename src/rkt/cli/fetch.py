"""``rkt fetch IMAGE...``: fetch images into the store and print their IDs, one per line.

As rkt's fetch.go: ``--signature FILE`` after an image is that image's signature;
``--pull-policy`` defaults to ``update`` here (``new`` for run and prepare); ``--store-only``
and ``--no-store`` are the deprecated spellings of ``never`` and ``update``. The IDs are
printed once every image is fetched, shortened to ``sha512-`` and 32 hex digits (appc's
``ShortHash``) unless ``--full``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from rkt.config import Config

# appc's types.ShortHash: "sha512-" and the first 32 hex digits.
SHORT_HASH_LENGTH = len("sha512-") + 32


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--pull-policy",
        default="update",
        choices=("never", "new", "update"),
        help="when to pull an image (default: update)",
    )
    add("--full", action="store_true", help="print the full image hash after fetching")
    add(
        "--signature",
        metavar="FILE",
        help="local signature file to use in validating the preceding image",
    )
    add("--store-only", action="store_true", help=argparse.SUPPRESS)
    add("--no-store", action="store_true", help=argparse.SUPPRESS)
    # The images and the --signature after each are read by hand, as rkt's parseApps does:
    # argparse cannot tie an option to the positional before it.
    add("images", nargs=argparse.REMAINDER, metavar="IMAGE [--signature FILE]")


def parse_images(words: list[str], leading_signature: str | None) -> list[tuple[str, Path | None]]:
    """Pair each image with the ``--signature`` that follows it, if any."""
    images: list[tuple[str, Path | None]] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        if word == "--signature" or word.startswith("--signature="):
            if word == "--signature":
                if index == len(words):
                    raise ConfigError("--signature needs a file name")
                value, index = words[index], index + 1
            else:
                value = word.partition("=")[2]
            if not images or images[-1][1] is not None:
                raise ConfigError("--signature must follow the image it signs")
            images[-1] = (images[-1][0], Path(value))
        elif word.startswith("-") and word != "-":
            raise ConfigError(
                f'unknown flag "{word}" after an image',
                hint="flags other than --signature go before the first image",
            )
        else:
            images.append((word, None))
    if leading_signature is not None:
        # A --signature before the images is accepted when there is one image to sign.
        if len(images) != 1 or images[0][1] is not None:
            raise ConfigError("--signature must follow the image it signs")
        images[0] = (images[0][0], Path(leading_signature))
    return images


def _pull_policy(args: argparse.Namespace) -> str:
    if args.store_only and args.no_store:
        raise ConfigError("both --store-only and --no-store specified")
    if args.store_only:
        sys.stderr.write("Flag --store-only has been deprecated, please use --pull-policy=never\n")
        return "never"
    if args.no_store:
        sys.stderr.write("Flag --no-store has been deprecated, please use --pull-policy=update\n")
        return "update"
    policy: str = args.pull_policy
    return policy


def run(args: argparse.Namespace, config: Config) -> int:
    from rkt.datadir import DataDir
    from rkt.fetch import Fetcher
    from rkt.store import Store

    images = parse_images(list(args.images), args.signature)
    if not images:
        raise ConfigError("must provide at least one image")
    policy = _pull_policy(args)
    ids: list[str] = []
    with Store(DataDir(config.data_dir)) as store:
        fetcher = Fetcher(config, store, stderr=sys.stderr)
        for image, signature in images:
            ids.append(fetcher.fetch(image, pull_policy=policy, signature=signature))
    for image_id in ids:
        sys.stdout.write((image_id if args.full else image_id[:SHORT_HASH_LENGTH]) + "\n")
    return 0
