"""``rkt fetch IMAGE...``: fetch images into the store and print their IDs, one per line.

As rkt's fetch.go: ``--signature FILE`` after an image is that image's signature;
``--pull-policy`` defaults to ``update`` here (``new`` for run and prepare); ``--store-only``
and ``--no-store`` are the deprecated spellings of ``never`` and ``update``. The IDs are
printed once every image is fetched, shortened to ``sha512-`` and 32 hex digits (appc's
``ShortHash``) unless ``--full``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

# appc's types.ShortHash: "sha512-" and the first 32 hex digits.
SHORT_HASH_LENGTH = len("sha512-") + 32
USE = "fetch IMAGE_URL..."
DESCRIPTION = """\
Finds and downloads images and their signatures, checks the signatures against the trusted
keys (rkt trust) and stores the images; prints each image's ID.

IMAGE_URL is a file, a URL (https://, http://, file://, docker://) or an image name found by
appc discovery. --signature after an image names its signature file. An image already in the
store is fetched again only as --pull-policy says."""
PULL_POLICIES = ("never", "new", "update")


def _pull_policy_value(text: str) -> str:
    if text not in PULL_POLICIES:
        raise ValueError(f"--pull-policy must be one of {', '.join(PULL_POLICIES)}")
    return text


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flags import BoolFlag, Flag

    flags.add(Flag("signature", "the signature file of the preceding image", "",
                   type_name="appAsc", metavar="FILE"))  # fmt: skip
    flags.add(BoolFlag("store-only", "", deprecated="please use --pull-policy=never"))
    flags.add(BoolFlag("no-store", "", deprecated="please use --pull-policy=update"))
    flags.add_bool("full", False, "print the whole image ID of each image")
    flags.add(Flag("pull-policy", 'when to fetch an image: "never", "new" (when not in the '
                   'store) or "update" (always)', "update", check=_pull_policy_value,
                   choices=PULL_POLICIES))  # fmt: skip
    # From the first image on, words are read by parse_images, as rkt's parseApps read them.
    flags.interspersed = False
    flags.rest("images", "IMAGE_URL")


def parse_images(
    words: list[str], leading_signature: str | None, flags: Mapping[str, bool] | None = None
) -> tuple[list[tuple[str, Path | None]], list[str]]:
    """Pair each image with the ``--signature`` that follows it, if any; the other flags
    among the images (``flags``: name -> takes a value) are returned for the flag set."""
    images: list[tuple[str, Path | None]] = []
    others: list[str] = []
    index = 0
    while index < len(words):
        word = words[index]
        index += 1
        name = word.partition("=")[0]
        if name == "--signature":
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
            if flags is None or name not in flags:
                raise ConfigError(f'unknown flag "{name}" after an image')
            others.append(word)
            if flags[name] and "=" not in word and index < len(words):
                others.append(words[index])
                index += 1
        elif word:
            images.append((word, None))
    if leading_signature:
        # A --signature before the images is accepted when there is one image to sign.
        if len(images) != 1 or images[0][1] is not None:
            raise ConfigError("--signature must follow the image it signs")
        images[0] = (images[0][0], Path(leading_signature))
    return images, others


def _pull_policy(args: Namespace) -> str:
    if args.store_only and args.no_store:
        raise ConfigError("both --store-only and --no-store specified")
    if args.store_only:
        return "never"
    if args.no_store:
        return "update"
    policy: str = args.pull_policy
    return policy


def run(args: Namespace, config: Config) -> int:
    from rkt.cli.commands import Command
    from rkt.cli.flags import UsageError
    from rkt.datadir import DataDir
    from rkt.fetch import Fetcher
    from rkt.store import Store

    flags = Command(("fetch",)).flags
    images, others = parse_images(
        list(args.images), args.signature, flags.value_flags(per_app=False)
    )
    if others:
        try:
            flags.parse(others, args)
        except UsageError as err:
            raise ConfigError(f"unable to parse arguments: {err}") from None
        for warning in args.warnings:
            sys.stderr.write(warning + "\n")
        from rkt.cli.main import config_from

        config = config_from(args)  # global flags may stand among the images, as in rkt
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
