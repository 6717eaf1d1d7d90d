"""``actool discover``: print where one or more apps' images, signatures and keys live.

Output follows the reference ``actool discover``: per app, one ``ACI: ..., ASC: ...`` line per
endpoint and a ``PublicKeys: a,b`` line, or with ``--json`` an indented object with
``ACIEndpoints`` (``ACI``/``ASC``) and ``PublicKeys``. Levels of the walk that failed are
reported as ``discover endpoints walk: prefix: P error: E`` lines, on stdout as the reference
does, except with ``--json``, where they go to stderr so that stdout stays valid JSON.

An app fails when either its endpoints or its keys cannot be discovered (as in the reference);
unlike the reference, the remaining apps are still tried, and the exit status is then 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from appc.errors import AppcError

if TYPE_CHECKING:
    from appc.discovery import Attempt


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure",
        action="store_true",
        help="don't check TLS certificates and allow insecure non-TLS downloads over http",
    )
    parser.add_argument("--json", action="store_true", help="output result as JSON")
    parser.add_argument(
        "--port",
        type=int,
        default=0,
        help="port to connect to when performing discovery (default: the scheme's)",
    )
    parser.add_argument("apps", nargs="*", metavar="APP", help="NAME[:VERSION][,LABEL=VALUE]...")


def _to_json(endpoints: list[tuple[str, str]], keys: list[str]) -> str:
    import msgspec

    document = {
        "ACIEndpoints": [{"ACI": aci, "ASC": asc} for aci, asc in endpoints],
        "PublicKeys": keys,
    }
    text = msgspec.json.format(msgspec.json.encode(document), indent=4).decode()
    # Go's encoding/json escapes these inside strings (they cannot occur outside one), and
    # scripts comparing our output with the reference's should see the same bytes.
    for char, escape in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e")):
        text = text.replace(char, escape)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")


def _print_attempts(kind: str, attempts: Sequence[Attempt], out: TextIO) -> None:
    for attempt in attempts:
        print(f"discover {kind} walk: prefix: {attempt.prefix} error: {attempt.error}", file=out)


def _discover_one(text: str, args: argparse.Namespace, walk_out: TextIO) -> bool:
    from appc.discovery import (
        App,
        Insecure,
        UrllibTransport,
        discover_aci_endpoints,
        discover_public_keys,
    )

    try:
        app = App.parse(text)
    except AppcError as error:
        print(f"{text}: {error}", file=sys.stderr)
        return False
    # --insecure means both, as in the reference: no TLS verification, and plain HTTP.
    insecure = Insecure.TLS | Insecure.HTTP if args.insecure else Insecure.NONE
    transport = UrllibTransport(insecure=insecure)
    port = args.port or None
    try:
        endpoints, attempts = discover_aci_endpoints(
            app, transport=transport, insecure=insecure, port=port
        )
    except AppcError as error:
        print(f"error fetching endpoints for {text}: {error}", file=sys.stderr)
        return False
    _print_attempts("endpoints", attempts, walk_out)
    try:
        keys, attempts = discover_public_keys(
            app, transport=transport, insecure=insecure, port=port
        )
    except AppcError as error:
        print(f"error fetching public keys for {text}: {error}", file=sys.stderr)
        return False
    _print_attempts("public keys", attempts, walk_out)
    if args.json:
        print(_to_json([(e.aci, e.asc) for e in endpoints], keys))
    else:
        for endpoint in endpoints:
            print(f"ACI: {endpoint.aci}, ASC: {endpoint.asc}")
        if keys:
            print("PublicKeys: " + ",".join(keys))
    return True


def run(args: argparse.Namespace) -> int:
    if not args.apps:
        print("discover: at least one name required", file=sys.stderr)
        return 1
    walk_out = sys.stderr if args.json else sys.stdout
    results = [_discover_one(text, args, walk_out) for text in args.apps]
    return 0 if all(results) else 1
