"""The transport seam: how discovery GETs a page, and the default one on urllib.request."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from appc.errors import DiscoveryError

if TYPE_CHECKING:
    import ssl
    import urllib.request

# The reference dials with a 20 second timeout; urllib applies ours to each blocking operation.
DEFAULT_TIMEOUT = 20.0

# Discovery pages are small HTML documents. The reference streams the whole body through its
# tokenizer; we read at most this much, so a hostile server cannot exhaust memory, and parse
# what we got (meta tags belong at the top of a page anyway).
MAX_BODY = 4 * 1024 * 1024


class Insecure(enum.Flag):
    """What a user allowed beyond the secure default, as the reference's ``InsecureOption``.

    ``HTTP`` lets discovery fall back to plain HTTP and follow redirects to it; ``TLS`` lets
    the default transport skip certificate verification. ``actool discover --insecure`` sets
    both, as the reference does.
    """

    NONE = 0
    TLS = enum.auto()
    HTTP = enum.auto()


@dataclass(frozen=True, slots=True)
class Response:
    """What a GET returned: the status, the URL after redirects (the request URL when there
    were none) and the body (possibly truncated; empty for error statuses)."""

    status: int
    final_url: str
    body: bytes


class Transport(Protocol):
    """GETs ``url``, following redirects, and returns the response for any HTTP status.

    It raises :class:`~appc.errors.DiscoveryError` (or ``OSError``) when no response came
    back at all: refused connection, TLS failure, timeout, a refused redirect. A plain
    function with this signature is a transport, which is how the unit tests use it.
    """

    def __call__(self, url: str, /) -> Response: ...


def _one_line(error: BaseException) -> str:
    """An exception's text on one line; urllib wraps the real cause in ``URLError.reason``."""
    reason = getattr(error, "reason", None)
    text = str(reason if reason is not None else error) or type(error).__name__
    return " ".join(text.split())


def _build_opener(
    context: ssl.SSLContext | None, insecure: Insecure
) -> urllib.request.OpenerDirector:
    import ssl
    import urllib.request
    from urllib.parse import urlsplit

    if context is None:
        context = ssl.create_default_context()
        if Insecure.TLS in insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
    allowed = {"https", "http"} if Insecure.HTTP in insecure else {"https"}

    class Redirects(urllib.request.HTTPRedirectHandler):
        # The reference follows any redirect. Following https -> http without the user's
        # consent would let anyone on the path answer the rest of the chain, so a downgrade
        # is refused here, before the plain-text request is made.
        def redirect_request(
            self,
            req: urllib.request.Request,
            fp: object,
            code: int,
            msg: str,
            headers: object,
            newurl: str,
        ) -> urllib.request.Request | None:
            if urlsplit(newurl).scheme not in allowed:
                raise DiscoveryError(
                    f"{req.full_url}: refused redirect to {newurl}: expected an https url "
                    "(plain http needs the insecure option)"
                )
            return super().redirect_request(req, fp, code, msg, headers, newurl)  # type: ignore[arg-type]

    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), Redirects())


class UrllibTransport:
    """The default transport, on urllib.request (imported on first use).

    ``context`` is the TLS context to verify servers with (a test passes one trusting its own
    CA); without one, the system's trust store is used, or none at all with ``Insecure.TLS``.
    Proxies come from the environment (``https_proxy``, ``no_proxy``), as in the reference.
    """

    def __init__(
        self,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        context: ssl.SSLContext | None = None,
        insecure: Insecure = Insecure.NONE,
        max_body: int = MAX_BODY,
    ) -> None:
        self._timeout = timeout
        self._context = context
        self._insecure = insecure
        self._max_body = max_body
        self._opener: urllib.request.OpenerDirector | None = None

    def __call__(self, url: str, /) -> Response:
        import http.client
        import urllib.error

        if self._opener is None:
            self._opener = _build_opener(self._context, self._insecure)
        try:
            with self._opener.open(url, timeout=self._timeout) as response:
                body = response.read(self._max_body)
                return Response(response.status, response.geturl(), body)
        except urllib.error.HTTPError as error:
            # urllib raises for 4xx and 5xx; discovery wants them as answers (they make it
            # walk up to the parent path), so they become responses.
            error.close()
            return Response(error.code, error.geturl() or url, b"")
        except (OSError, http.client.HTTPException, ValueError) as error:
            raise DiscoveryError(f"{url}: {_one_line(error)}") from error
