"""The studio's guard: a random token in the URL, checked on every API request.

The page reads the token from its URL and sends it in the X-Studio-Token header. A header
is what a cross-site page cannot add without a CORS preflight (which the studio never
grants), so state-changing requests must carry it there. Reads may carry it in the query
(EventSource, iframes) or in the SameSite=Strict cookie set when the page is opened with the
token, which browsers never send from another site. The Host header must be the studio's
own, so a hostile DNS name pointed at 127.0.0.1 cannot talk to it either.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

HEADER = "x-studio-token"
COOKIE = "studio_token"
QUERY = "token"
SAFE_METHODS = {"GET", "HEAD"}
LOCAL_NAMES = {"127.0.0.1", "localhost", "[::1]"}
ANY_INTERFACE = {"0.0.0.0", "::"}


def new_token() -> str:
    return secrets.token_urlsafe(24)


def _same(given: str | None, token: str) -> bool:
    return bool(given) and hmac.compare_digest(given.encode(), token.encode())


class TokenGuard:
    """ASGI middleware: 403 for a request without the token or from a foreign Host."""

    def __init__(self, app: ASGIApp, token: str, host: str):
        self.app, self.token = app, token
        # Bound to every interface, the studio is reached by whatever name the laptop
        # uses: then the token alone guards it.
        self.hosts = None if host in ANY_INTERFACE else LOCAL_NAMES | {host}

    def allowed(self, request: Request) -> str | None:
        """None when the request may pass, else why not (one line)."""
        hostname = request.headers.get("host", "").rsplit(":", 1)[0]
        if self.hosts is not None and hostname not in self.hosts:
            return f"host {hostname!r} is not this studio's; open the URL make studio printed"
        path = request.url.path
        if request.method in SAFE_METHODS and (path == "/" or path.startswith("/static/")):
            return None  # the page and its scripts hold no data
        if _same(request.headers.get(HEADER), self.token):
            return None
        if request.method in SAFE_METHODS and (
            _same(request.query_params.get(QUERY), self.token)
            or _same(request.cookies.get(COOKIE), self.token)
        ):
            return None
        return "missing or wrong studio token; open the URL make studio printed"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        why = self.allowed(Request(scope))
        if why is not None:
            await JSONResponse({"error": why}, status_code=403)(scope, receive, send)
            return
        await self.app(scope, receive, send)
