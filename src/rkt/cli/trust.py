"""``rkt trust``: add keys to the local keystore, scoped to an image name prefix or as root keys.

Keys come from files, https URLs (http with ``--insecure-allow-http``) or, given only
``--prefix``, from the prefix's ``ac-discovery-pubkeys`` meta tags. Each key's fingerprint and
user IDs are shown and the user must answer "yes" on a terminal, unless
``--skip-fingerprint-review`` (or ``--trust-keys-from-https`` for a key fetched over https).
Flags, prompts and messages follow rkt 1.30 (rkt/trust.go, rkt/pubkey); failures exit 254.
"""

from __future__ import annotations

import re
import sys
from typing import TYPE_CHECKING, TextIO
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from appc.discovery import Transport
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.trust.keystore import Keystore
    from rkt.trust.openpgp import PublicKey

EXIT_FAILURE = 254
USAGE = (
    "Usage: rkt trust [--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] "
    "[--root] [PUBKEY ...]\n"
)
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")


USE = (
    "trust [--prefix=PREFIX] [--insecure-allow-http] [--skip-fingerprint-review] [--root] "
    "[PUBKEY ...]"
)
DESCRIPTION = """\
Adds keys to the local keystore, which signatures of images are checked against.

PUBKEY is a key file or an https URL. The key is trusted for the images whose names begin with
PREFIX (whole path segments); without a PUBKEY, the keys PREFIX's meta discovery names are
fetched. --root trusts a key file for every image (no discovery)."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_string("prefix", "", "the image name prefix the key is trusted for")
    flags.add_bool("root", False, "trust a key file for every image (no prefix)")
    flags.add_bool(
        "skip-fingerprint-review", False, "trust the key without asking to confirm its fingerprint"
    )
    flags.add_bool("insecure-allow-http", False, "allow plain HTTP to discover and fetch keys")
    flags.rest("keys", "PUBKEY")


def run(args: Namespace, config: Config) -> int:
    return trust(args, config)


def trust(
    args: Namespace,
    config: Config,
    *,
    transport: Transport | None = None,
    port: int | None = None,
    stdin: TextIO | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``rkt trust`` with its seams exposed: tests pass a transport trusting their CA, the
    port of their discovery server, and the terminal's streams."""
    from rkt.errors import TrustError
    from rkt.insecure import Insecure
    from rkt.trust.keystore import Keystore, check_prefix
    from rkt.trust.pubkey import key_locations, make_transport

    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    stderr = sys.stderr if stderr is None else stderr
    prefix: str = args.prefix
    if not prefix and not args.root:
        if args.keys:
            # A key trusted without a prefix signs for every image; rkt makes that explicit.
            stderr.write(
                "trust: aborting due to implicit unbounded trust (root domain)\n"
                "Please provide a specific domain prefix to trust:\n"
                '    rkt trust --prefix "example.com/foo" [PUBKEY]\n'
                "Otherwise, trust at the root domain (not recommended) must be explicitly "
                "requested:\n"
                "    rkt trust --root PUBKEY\n"
            )
        else:
            stderr.write(USAGE)
        return EXIT_FAILURE
    if prefix and args.root:
        stderr.write("trust: --root and --prefix usage mutually exclusive\n")
        return EXIT_FAILURE
    scheme = _SCHEME.match(prefix)
    if scheme:
        stderr.write(f"trust: --prefix must not contain a URL scheme, omit {scheme[1]}://\n")
        return EXIT_FAILURE
    if prefix:
        check_prefix(prefix)
    if args.root and not args.keys:
        raise TrustError(
            "--root needs a key file or URL: root keys are never discovered",
            hint="rkt trust --root PUBKEY",
        )

    allow_http: bool = args.insecure_allow_http
    if transport is None:
        transport = make_transport(
            allow_http=allow_http, skip_tls_verify=Insecure.TLS in config.insecure
        )
    locations: list[str] = list(args.keys) or key_locations(
        prefix,
        transport=transport,
        allow_http=allow_http,
        skip_tls_verify=Insecure.TLS in config.insecure,
        port=port,
    )
    keystore = Keystore(config.dirs)
    terminal = _Terminal(stdin, stdout, stderr)
    for location in locations:
        _trust_one(location, prefix, args, config, keystore, transport, terminal)
    return 0


class _Terminal:
    def __init__(self, stdin: TextIO, stdout: TextIO, stderr: TextIO) -> None:
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr

    def say(self, text: str) -> None:
        self.stdout.write(text + "\n")
        self.stdout.flush()

    def interactive(self) -> bool:
        # The question goes to stdout and the answer comes from stdin: both must be a
        # person's terminal, or the review is only pretended.
        return _isatty(self.stdin) and _isatty(self.stdout)

    def review(self) -> bool:
        from rkt.errors import TrustError

        while True:
            self.stdout.write("Are you sure you want to trust this key (yes/no)? ")
            self.stdout.flush()
            answer = self.stdin.readline()
            if not answer:
                raise TrustError("error reviewing key: no answer (end of input)")
            if answer.strip() == "yes":
                return True
            if answer.strip() == "no":
                return False
            self.say("Please enter 'yes' or 'no'")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _trust_one(
    location: str,
    prefix: str,
    args: Namespace,
    config: Config,
    keystore: Keystore,
    transport: Transport,
    terminal: _Terminal,
) -> None:
    from rkt.errors import TrustError
    from rkt.trust.openpgp import read_public_keys
    from rkt.trust.pubkey import read_key

    data = read_key(location, transport=transport, allow_http=args.insecure_allow_http)
    keys = read_public_keys(data, location)
    _display(terminal, prefix, location, keys)

    https = urlsplit(location).scheme == "https"
    forced = args.skip_fingerprint_review or (config.trust_keys_from_https and https)
    if not forced:
        if not terminal.interactive():
            raise TrustError(
                f"cannot ask to review the fingerprint of {location}: "
                "standard input or output is not a terminal",
                hint="check the fingerprint, then rerun with --skip-fingerprint-review"
                + (" or --trust-keys-from-https" if https else ""),
            )
        if not terminal.review():
            terminal.stderr.write(f'trust: not trusting "{location}"\n')
            return
    how = "without" if forced else "after"
    terminal.say(f'Trusting "{location}" for prefix "{prefix}" {how} fingerprint review.')
    for key in keys:
        if args.root:
            added = keystore.add(key.armored, prefix=None, root=True, source=location)
            terminal.say(f'Added root key at "{added.path}"')
        else:
            added = keystore.add(key.armored, prefix=prefix, source=location)
            terminal.say(f'Added key for prefix "{prefix}" at "{added.path}"')


def _display(terminal: _Terminal, prefix: str, location: str, keys: list[PublicKey]) -> None:
    from rkt.trust.openpgp import format_fingerprint

    terminal.say(f'Prefix: "{prefix}"')
    terminal.say(f'Key: "{location}"')
    for key in keys:
        terminal.say(f"GPG key fingerprint is: {format_fingerprint(key.fingerprint)}")
        for subkey in key.subkeys:
            terminal.say(f"    Subkey fingerprint: {format_fingerprint(subkey)}")
        for user_id in key.user_ids:
            terminal.say(f"  {user_id}")
