"""The chat page: files shipped in the package, served on the WebSocket port.

``/`` and ``/index.html`` answer the page; ``/static/NAME`` its script, style
sheet and icon.  The files are read once, when a server starts
(:func:`register`), and answered from memory with:

* a ``Content-Security-Policy`` that lets the page load only its own files
  and open only its own WebSocket (on the request's ``Host``), run no inline
  script, and be framed by no one;
* ``X-Content-Type-Options: nosniff``, ``Referrer-Policy: no-referrer``,
  ``X-Frame-Options: DENY``;
* ``Cache-Control: no-cache`` with an ``ETag``: browsers keep the files and
  ask each time whether they changed (``304 Not Modified``), so a new version
  of triochat is picked up at once.
"""

from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from ..auth import ConnectionInfo, Reject
from ..protocol.wshandshake import PlainRequest
from ..transports.http import HttpResponse, HttpRoutes

if TYPE_CHECKING:
    from .._runtime import Runtime

__all__ = ["PAGE_PATHS", "STATIC_PREFIX", "content_security_policy", "load_files", "register"]

PAGE_PATHS = ("/", "/index.html")
"""Where the page is."""
STATIC_PREFIX = "/static/"
"""Where its files are."""
PAGE = "index.html"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
"""The files the page may have, by extension (others in the folder are not served)."""

log = logging.getLogger("triochat.web")

_HOST = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")


@dataclass(frozen=True, slots=True)
class StaticFile:
    """One file of the page, as answered."""

    body: bytes
    content_type: str
    etag: str


def load_files() -> dict[str, StaticFile]:
    """The page's files from the package (``triochat/web/static``), by name."""
    files: dict[str, StaticFile] = {}
    for entry in resources.files(__name__).joinpath("static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        files[entry.name] = StaticFile(body, CONTENT_TYPES[suffix], etag)
    return files


def content_security_policy(host: str, *, tls: bool) -> str:
    """The page's policy: its own files, and WebSocket connections to *host* only.

    ``connect-src 'self'`` does not cover ``ws:`` in every browser, so the
    WebSocket origins are spelled out, from the request's ``Host`` (left out if
    that is not a plain ``host[:port]``): ``wss://HOST`` when the server
    serves TLS; else ``ws://HOST`` and ``wss://HOST``, as a proxy that ends TLS
    may serve the page over ``https``.
    """
    connect = "'self'"
    if _HOST.fullmatch(host):
        connect += f" wss://{host}" if tls else f" ws://{host} wss://{host}"
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        f"connect-src {connect}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


def _answer(file: StaticFile, runtime: Runtime, request: PlainRequest) -> HttpResponse:
    headers = (
        ("Cache-Control", "no-cache"),
        ("ETag", file.etag),
        (
            "Content-Security-Policy",
            content_security_policy(request.host, tls=runtime.config.ssl_context is not None),
        ),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("X-Frame-Options", "DENY"),
    )
    matches = request.header("If-None-Match")
    if matches is not None and file.etag in (tag.strip() for tag in matches.split(",")):
        return HttpResponse(304, b"", file.content_type, headers)
    return HttpResponse(200, file.body, file.content_type, headers)


async def _refusal(runtime: Runtime, request: PlainRequest) -> HttpResponse | None:
    """The server's auth hook on a request for the page: its refusal, or ``None``.

    The hook sees the request as it would a WebSocket handshake (transport
    ``"ws"``, the page's path with its query), so a browser asked for HTTP
    Basic credentials here sends them on the page's WebSocket too, and a
    ``?token=`` in the page's address is passed on by the page.
    """
    info = ConnectionInfo(transport="ws", path=request.target, headers=request.headers, peer="page request")
    decision = await runtime.authorize(info)
    if not isinstance(decision, Reject):
        return None
    if not 400 <= decision.status <= 599:
        log.error("the auth hook refused the page with HTTP status %r: answering 500", decision.status)
        return HttpResponse(500, b"internal error")
    return HttpResponse(decision.status, decision.reason.encode(), headers=decision.headers)


def register(routes: HttpRoutes) -> None:
    """Answer the page and its files on *routes*.

    With an auth hook, the page itself is behind it; its script, style sheet
    and icon are not (they are the same for everyone, and a page's requests
    for them carry no ``?token=``).
    """
    files = load_files()
    page = files[PAGE]

    async def serve_page(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        refusal = await _refusal(runtime, request)
        return refusal if refusal is not None else _answer(page, runtime, request)

    async def serve_static(runtime: Runtime, request: PlainRequest) -> HttpResponse:
        name = urlsplit(request.target).path[len(STATIC_PREFIX) :]
        file = files.get(name)
        if file is None:
            return HttpResponse(404, b"no such file")
        return _answer(file, runtime, request)

    for path in PAGE_PATHS:
        routes.add(path, serve_page)
    routes.add(STATIC_PREFIX, serve_static)
