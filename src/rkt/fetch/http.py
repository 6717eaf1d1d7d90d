"""HTTP(S) for fetching: a transport seam and its default on urllib3 (imported on first use).

A :class:`Transport` turns a URL and headers into a :class:`Response` whose body is read in
chunks; the fetcher and the downloader only ever talk to that protocol, so unit tests pass a
fake and integration tests pass an :class:`HttpTransport` that trusts their own CA.

:class:`HttpTransport` is rkt's resumable session without the resuming (that is
:mod:`rkt.fetch.download`'s job):

- TLS is verified against the system's trust store (``SSL_CERT_FILE`` is honoured) or a CA
  bundle given here; ``Insecure.TLS`` turns verification off.
- Plain ``http`` is refused unless ``Insecure.HTTP``, for the first URL and for every
  redirect, except for an ``http://`` image URL the user gave, which rkt fetched without
  asking (:meth:`HttpTransport.allowing_http`; the fetcher decides).
- Redirects are followed by hand (at most 10, as Go's client), so that the scheme of each hop
  can be checked and credentials chosen per hop.
- ``auth.d`` credentials are sent only to the host they were configured for (``host:port``
  first, then the bare host name) and only over HTTPS, as rkt does; a redirect to another
  host therefore never carries the first host's credentials.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urljoin, urlsplit

from rkt.errors import FetchError
from rkt.insecure import Insecure

if TYPE_CHECKING:
    import http.client
    import ssl

    import urllib3

    from appc.discovery import Insecure as DiscoveryInsecure
    from appc.discovery import Response as DiscoveryResponse
    from rkt.config import Credentials

MAX_REDIRECTS = 10
CONNECT_TIMEOUT = 30.0
# Between two reads of the body, not for the whole transfer: a large image on a slow link
# may take long, but a server silent for this long has gone away.
READ_TIMEOUT = 60.0
USER_AGENT = "rkt/1.30.0 (rocket)"
# Discovery pages and signatures are small; a hostile server must not exhaust memory.
MAX_SMALL_BODY = 4 * 1024 * 1024
# Connections kept per host: as many as concurrent layer downloads (rkt.fetch.oci).
POOL_SIZE = 8


class TransferInterrupted(FetchError):
    """The connection failed after the response began: the part received may be resumed."""


class Response(Protocol):
    status: int
    #: the URL that answered, after redirects
    url: str

    def header(self, name: str) -> str | None: ...

    def chunks(self, size: int) -> Iterator[bytes]:
        """The body, raising :class:`TransferInterrupted` if the connection fails in it."""
        ...

    def close(self) -> None: ...


class Transport(Protocol):
    def request(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        origin_headers: Mapping[str, str] | None = None,
    ) -> Response:
        """Send a request, following redirects; raises :class:`FetchError` when no response
        came back (refused connection, TLS failure, timeout, a refused redirect).

        ``origin_headers`` (a registry's ``Authorization``) go only to hops on the scheme,
        host and port of ``url``: a redirect elsewhere, such as a registry's blob store,
        never sees them."""
        ...


def read_small(response: Response, limit: int = MAX_SMALL_BODY) -> bytes:
    """A small body (a signature, a key, a discovery page), at most ``limit`` bytes."""
    parts: list[bytes] = []
    size = 0
    for chunk in response.chunks(64 * 1024):
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise FetchError(f"{response.url}: response larger than {limit} bytes")
    return b"".join(parts)


def _reason(error: BaseException) -> str:
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error) or type(error).__name__
    return " ".join(text.split())


class _Urllib3Response:
    def __init__(self, raw: urllib3.BaseHTTPResponse, url: str) -> None:
        self._raw = raw
        self.status = raw.status
        self.url = url
        self._read_to_end = False

    def header(self, name: str) -> str | None:
        value: str | None = self._raw.headers.get(name)
        return value

    def chunks(self, size: int) -> Iterator[bytes]:
        import urllib3.exceptions

        try:
            # Content-Encoding is left alone: the bytes signed are the bytes served.
            yield from self._raw.stream(size, decode_content=False)
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise TransferInterrupted(
                f"{self.url}: transfer interrupted: {_reason(error)}"
            ) from error
        self._read_to_end = True

    def close(self) -> None:
        # A connection goes back to the pool only when its response was read to the end:
        # the unread rest of a body (an error page, a download given up) would otherwise be
        # read as the start of the next response on it.
        if not self._read_to_end:
            self._raw.close()  # closes the connection too; the pool makes a new one
        self._raw.release_conn()
        self._raw.close()


class _HeadResponse:
    def __init__(
        self, connection: http.client.HTTPConnection, raw: http.client.HTTPResponse, url: str
    ) -> None:
        self._connection = connection
        self._raw = raw
        self.status = raw.status
        self.url = url

    def header(self, name: str) -> str | None:
        return self._raw.getheader(name)

    def chunks(self, size: int) -> Iterator[bytes]:
        return iter(())  # a HEAD has no body

    def close(self) -> None:
        self._connection.close()


class HttpTransport:
    """The default transport: urllib3 with rkt's TLS, redirect and credential rules."""

    def __init__(
        self,
        *,
        insecure: Insecure = Insecure.NONE,
        auth: Mapping[str, Credentials] | None = None,
        ca_bundle: Path | None = None,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._insecure = insecure
        self._auth = dict(auth or {})
        self._ca_bundle = ca_bundle
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._pool: urllib3.PoolManager | None = None

    def allowing_http(self) -> HttpTransport:
        """This transport, with plain HTTP allowed (for an explicit ``http://`` image URL)."""
        return HttpTransport(
            insecure=self._insecure | Insecure.HTTP,
            auth=self._auth,
            ca_bundle=self._ca_bundle,
            connect_timeout=self._connect_timeout,
            read_timeout=self._read_timeout,
        )

    @property
    def verifies_tls(self) -> bool:
        return Insecure.TLS not in self._insecure

    def _manager(self) -> urllib3.PoolManager:
        if self._pool is None:
            import urllib3

            # Registry layers download concurrently: a pool of one connection per host would
            # open and drop a connection per extra thread (and log a warning for each).
            if self.verifies_tls:
                self._pool = urllib3.PoolManager(
                    maxsize=POOL_SIZE,
                    cert_reqs="CERT_REQUIRED",
                    ca_certs=str(self._ca_bundle) if self._ca_bundle else None,
                )
            else:
                self._pool = urllib3.PoolManager(
                    maxsize=POOL_SIZE, cert_reqs="CERT_NONE", assert_hostname=False
                )
        return self._pool

    def credentials_for(self, url: str) -> dict[str, str]:
        parts = urlsplit(url)
        if parts.scheme != "https":
            return {}
        creds = self._auth.get(parts.netloc) or self._auth.get(parts.hostname or "")
        return creds.headers() if creds is not None else {}

    def _check_scheme(self, url: str, origin: str) -> None:
        scheme = urlsplit(url).scheme.lower()
        if scheme == "https" or (scheme == "http" and Insecure.HTTP in self._insecure):
            return
        what = f"{origin}: refused redirect to {url}" if origin != url else f"{url}: refused"
        if scheme == "http":
            raise FetchError(
                f"{what}: plain http is not allowed",
                hint="use --insecure-options=http to allow it",
            )
        raise FetchError(f"{what}: expected an http or https url")

    def request(
        self,
        url: str,
        headers: Mapping[str, str] | None = None,
        *,
        method: str = "GET",
        origin_headers: Mapping[str, str] | None = None,
    ) -> Response:
        if method == "HEAD":
            return self._head(url, headers, origin_headers)
        import urllib3

        timeout = urllib3.Timeout(connect=self._connect_timeout, read=self._read_timeout)
        origin = _origin(url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self._check_scheme(current, url)
            sent = {"User-Agent": USER_AGENT, **(headers or {}), **self.credentials_for(current)}
            if origin_headers and _origin(current) == origin:
                sent.update(origin_headers)
            raw = self._send(method, current, sent, timeout)
            location = raw.headers.get("Location")
            if raw.status in (301, 302, 303, 307, 308) and location:
                raw.drain_conn()
                raw.release_conn()
                current = urljoin(current, location)
                continue
            return _Urllib3Response(raw, current)
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _head(
        self,
        url: str,
        headers: Mapping[str, str] | None,
        origin_headers: Mapping[str, str] | None,
    ) -> Response:
        """A ``HEAD`` through http.client, with the same rules as every request: a HEAD has
        no body to stream or connection worth pooling, and urllib3's import alone costs more
        than a registry's answer to ``rkt fetch --pull-policy=update`` (20-45 ms here)."""
        origin = _origin(url)
        current = url
        for _hop in range(MAX_REDIRECTS + 1):
            self._check_scheme(current, url)
            sent = {"User-Agent": USER_AGENT, **(headers or {}), **self.credentials_for(current)}
            if origin_headers and _origin(current) == origin:
                sent.update(origin_headers)
            response = self._send_head(current, sent)
            location = response.header("Location")
            if response.status in (301, 302, 303, 307, 308) and location:
                response.close()
                current = urljoin(current, location)
                continue
            return response
        raise FetchError(f"{url}: more than {MAX_REDIRECTS} redirects")

    def _ssl_context(self) -> ssl.SSLContext:
        import ssl

        if self.verifies_tls:
            bundle = str(self._ca_bundle) if self._ca_bundle else None
            return ssl.create_default_context(cafile=bundle)
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context

    def _send_head(self, url: str, headers: Mapping[str, str]) -> Response:
        import http.client
        import socket
        import ssl

        parts = urlsplit(url)
        try:
            host, port = parts.hostname or "", parts.port
            if parts.scheme == "https":
                connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                    host, port, timeout=self._connect_timeout
                )
            else:
                connection = http.client.HTTPConnection(host, port, timeout=self._connect_timeout)
            try:
                # Connected here rather than by http.client: a str host makes getaddrinfo
                # load the idna codec (with unicodedata), bytes do not.
                name = host.encode() if host.isascii() else host  # (so does ssl's SNI)
                address = (name, connection.port)
                sock = socket.create_connection(address, self._connect_timeout)  # type: ignore[arg-type]
                # As http.client's own connect: without it, Nagle and delayed ACKs add 40 ms.
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                if isinstance(connection, http.client.HTTPSConnection):
                    sock = self._ssl_context().wrap_socket(sock, server_hostname=name)
                sock.settimeout(self._read_timeout)
                connection.sock = sock
                target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
                connection.request("HEAD", target, headers=dict(headers))
                raw = connection.getresponse()
            except BaseException:
                connection.close()
                raise
        except ssl.SSLError as error:
            raise FetchError(
                f"{url}: TLS failure: {_reason(error)}",
                hint="use --insecure-options=tls to skip certificate verification",
            ) from error
        except (http.client.HTTPException, OSError, ValueError) as error:
            raise FetchError(f"{url}: {_reason(error)}") from error
        return _HeadResponse(connection, raw, url)

    def _send(
        self, method: str, url: str, headers: Mapping[str, str], timeout: urllib3.Timeout
    ) -> urllib3.BaseHTTPResponse:
        import urllib3.exceptions

        try:
            with warnings.catch_warnings():
                if not self.verifies_tls:
                    # The user asked for no verification; urllib3 would warn on every request.
                    warnings.simplefilter("ignore", urllib3.exceptions.InsecureRequestWarning)
                return self._manager().request(
                    method,
                    url,
                    headers=dict(headers),
                    redirect=False,
                    retries=False,
                    preload_content=False,
                    decode_content=False,
                    timeout=timeout,
                )
        except urllib3.exceptions.SSLError as error:
            raise FetchError(
                f"{url}: TLS failure: {_reason(error)}",
                hint="use --insecure-options=tls to skip certificate verification",
            ) from error
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as error:
            raise FetchError(f"{url}: {_reason(error)}") from error


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or (443 if scheme == "https" else 80)


def discovery_flags(insecure: Insecure) -> DiscoveryInsecure:
    """rkt's insecure options as appc discovery's: plain HTTP and unverified TLS."""
    from appc.discovery import Insecure as DiscoveryInsecure

    flags = DiscoveryInsecure.NONE
    if Insecure.HTTP in insecure:
        flags |= DiscoveryInsecure.HTTP
    if Insecure.TLS in insecure:
        flags |= DiscoveryInsecure.TLS
    return flags


def discovery_transport(transport: Transport) -> DiscoveryTransportAdapter:
    """``transport`` as appc discovery's transport (a callable from URL to a response)."""
    return DiscoveryTransportAdapter(transport)


class DiscoveryTransportAdapter:
    """Discovery pages through a fetch transport, so TLS, redirects and credentials follow
    one set of rules (rkt sends ``auth.d`` headers to discovery, too)."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    def __call__(self, url: str, /) -> DiscoveryResponse:
        from appc.discovery import Response as DiscoveryResponse
        from appc.errors import DiscoveryError

        try:
            response = self._transport.request(url)
            try:
                body = read_small(response) if response.status == 200 else b""
            finally:
                response.close()
        except FetchError as error:
            raise DiscoveryError(str(error)) from error
        return DiscoveryResponse(response.status, response.url, body)
