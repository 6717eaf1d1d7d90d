"""Registry authentication: the ``WWW-Authenticate`` challenge of a ``401``, answered with
Basic credentials or a Bearer token (distribution's docs/spec/auth/token.md).

With credentials for the registry, requests carry them as Basic auth from the first one
on (to the registry's origin only): a Basic registry then answers the first request, which
keeps ``--pull-policy=update`` at one request. Without, a request goes out bare and a ``401``
names the scheme. ``Basic`` is answered with the credentials. ``Bearer`` sends us to the
challenge's ``realm`` for a token for its ``service`` and ``scope``
(``repository:NAME:pull`` when the challenge names none),
anonymously or with the credentials as Basic auth; the token is reused for its scope until
``expires_in`` runs out (60 s when the server does not say), then fetched again.

The ``Authorization`` header is only ever sent to the registry's own origin (the transport's
``origin_headers``) and the credentials only to the registry or the realm it named; a realm
must be HTTPS unless plain HTTP was allowed. Tokens are checked to be header-safe text.
"""

from __future__ import annotations

import base64
import re
import threading
import time
from collections.abc import Callable, Mapping
from urllib.parse import urlencode, urlsplit

import msgspec

from rkt.config import Credentials
from rkt.errors import FetchError
from rkt.fetch.http import Response, Transport, read_small

#: Seconds a token lives when the server does not say (token.md: "defaults to 60 seconds").
DEFAULT_EXPIRY = 60
#: Renew this long before expiry, so a request does not leave with a token about to lapse.
_MARGIN = 5
_MAX_TOKEN_RESPONSE = 1024 * 1024
_TOKEN = re.compile(r"[\x21-\x7e]+")
_CHALLENGE = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)(?:\s+|$)")
_PARAM = re.compile(r'\s*([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s,"]*))\s*,?')


class Challenge(msgspec.Struct, frozen=True):
    scheme: str  # lower case: "basic" or "bearer" (or anything a server sends)
    params: dict[str, str]


def parse_challenges(header: str) -> list[Challenge]:
    """The challenges of a ``WWW-Authenticate`` value (RFC 9110 11.6.1): ``Scheme a="b",
    c=d, Other e="f"``."""
    challenges: list[Challenge] = []
    pos = 0
    while pos < len(header):
        match = _CHALLENGE.match(header, pos)
        if match is None:
            break
        scheme, pos = match.group(1).lower(), match.end()
        params: dict[str, str] = {}
        while (param := _PARAM.match(header, pos)) is not None and param.end() > pos:
            # A bare word followed by a space is the next challenge's scheme, not a param.
            key = param.group(1).lower()
            value = param.group(2)
            params[key] = (
                re.sub(r"\\(.)", r"\1", value) if value is not None else param.group(3) or ""
            )
            pos = param.end()
        challenges.append(Challenge(scheme, params))
        while pos < len(header) and header[pos] in ", ":
            pos += 1
    return challenges


class _TokenResponse(msgspec.Struct):
    token: str = ""
    access_token: str = ""
    expires_in: int = 0


def basic_header(creds: Credentials) -> str:
    pair = f"{creds.user}:{creds.password}".encode()
    return "Basic " + base64.b64encode(pair).decode()


class Authenticator:
    """The ``Authorization`` for one registry and repository, learnt from its challenges;
    shared by the threads that download layers."""

    def __init__(
        self,
        host: str,
        repository: str,
        transport: Transport,
        credentials: Credentials | None,
        *,
        allow_http: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._host = host
        self._repository = repository
        self._transport = transport
        self._credentials = credentials
        self._allow_http = allow_http
        self._clock = clock
        self._lock = threading.Lock()
        # The current Authorization value.
        self._header = basic_header(credentials) if credentials is not None else ""
        self._bearer: Challenge | None = None
        self._expires = float("inf")

    def headers(self) -> dict[str, str]:
        """What to send to the registry's origin now (renewing a token about to expire)."""
        with self._lock:
            if self._bearer is not None and self._clock() >= self._expires:
                self._header = self._token(self._bearer)
            return {"Authorization": self._header} if self._header else {}

    def answer(self, response: Response, sent: Mapping[str, str]) -> bool:
        """Learn from a ``401``; True if the request is worth sending again. ``sent`` is
        what went with the refused request (another thread may have renewed meanwhile)."""
        header = response.header("WWW-Authenticate") or ""
        challenges = {c.scheme: c for c in parse_challenges(header)}
        with self._lock:
            if sent.get("Authorization", "") != self._header:
                return True  # renewed by another thread since this request left
            bearer = challenges.get("bearer")
            if bearer is not None:
                if sent.get("Authorization") and self._bearer == bearer and not self._expired():
                    # The token we just got was refused for this very challenge.
                    raise self._refused("the registry refused its own token")
                self._bearer = bearer
                self._header = self._token(bearer)
                return True
            if "basic" in challenges:
                if self._credentials is None:
                    raise self._refused("the registry asks for a user name and password")
                if sent.get("Authorization", "").startswith("Basic "):
                    raise self._refused("the user name or password was refused")
                self._header = basic_header(self._credentials)
                return True
        return False

    def _expired(self) -> bool:
        return self._clock() >= self._expires

    def _refused(self, why: str) -> FetchError:
        if self._credentials is None:
            hint = (
                f'add a "dockerAuth" file for "{self._host}" to auth.d, or log in with '
                "docker or podman"
            )
        else:
            hint = f'check the credentials for "{self._host}"'
        return FetchError(
            f"{self._host}: authentication failed for {self._repository}: {why}", hint=hint
        )

    def _token(self, challenge: Challenge) -> str:
        realm = challenge.params.get("realm", "")
        parts = urlsplit(realm)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise FetchError(f'{self._host}: the token realm "{realm}" is not an http(s) URL')
        if parts.scheme == "http" and not self._allow_http:
            raise FetchError(
                f"{self._host}: the token realm {realm} is plain http",
                hint="use --insecure-options=http to allow it",
            )
        query = {"service": challenge.params.get("service", "")}
        scope = challenge.params.get("scope") or f"repository:{self._repository}:pull"
        query["scope"] = scope
        separator = "&" if parts.query else "?"
        url = realm + separator + urlencode({k: v for k, v in query.items() if v})
        headers = {"Authorization": basic_header(self._credentials)} if self._credentials else {}
        response = self._transport.request(url, origin_headers=headers)
        try:
            if response.status in (401, 403):
                raise self._refused(f"the token service answered {response.status}")
            if response.status != 200:
                raise FetchError(f"{url}: the token service answered {response.status}")
            body = read_small(response, _MAX_TOKEN_RESPONSE)
        finally:
            response.close()
        try:
            decoded = msgspec.json.decode(body, type=_TokenResponse)
        except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as err:
            raise FetchError(f"{url}: not a token response: {err}") from err
        token = decoded.token or decoded.access_token
        if not _TOKEN.fullmatch(token):
            raise FetchError(f"{url}: the token service sent no usable token")
        lifetime = decoded.expires_in if decoded.expires_in > 0 else DEFAULT_EXPIRY
        self._expires = self._clock() + max(lifetime - _MARGIN, 1)
        return "Bearer " + token
