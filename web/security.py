"""Access control: an optional bearer token, and the Origin check for WebSockets."""

from __future__ import annotations

import hmac
import logging
from urllib.parse import parse_qs, urlsplit

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

logger = logging.getLogger(__name__)

# Paths anyone may load: the page carries no data, and probes need no token.
PUBLIC_PATHS = ("/", "/healthz", "/readyz")
PUBLIC_PREFIXES = ("/static/", "/table/")
# EventSource and the browser WebSocket cannot send headers, so these two
# endpoints also take the token as ?token=.
QUERY_TOKEN_PATHS = ("/events", "/ws")


class TokenMiddleware:
    """Reject requests without the configured token with 401 (HTTP) or 1008 (WebSocket)."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self._token = token.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self._is_public(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self._presented(scope) is None:
            await self._reject(scope, receive, send, "missing")
            return
        if not hmac.compare_digest(self._presented(scope) or b"", self._token):
            await self._reject(scope, receive, send, "invalid")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _is_public(path: str) -> bool:
        return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)

    def _presented(self, scope: Scope) -> bytes | None:
        authorization = Headers(scope=scope).get("authorization", "")
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() == "bearer" and credentials:
            return credentials.strip().encode()
        if scope["path"] in QUERY_TOKEN_PATHS:
            query = bytes(scope.get("query_string", b"")).decode("latin-1")
            values = parse_qs(query).get("token")
            if values:
                return str(values[0]).encode()
        return None

    async def _reject(self, scope: Scope, receive: Receive, send: Send, problem: str) -> None:
        message = (
            f"The access token is {problem}. Send it as 'Authorization: Bearer TOKEN'"
            + (", or as ?token=TOKEN on /events and /ws." if problem == "missing" else ".")
        )
        logger.info("request rejected path=%s token=%s", scope["path"], problem)
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008, "reason": message[:120]})
            return
        response = JSONResponse(
            {"error": "unauthorized", "message": message}, status_code=401,
            headers={"WWW-Authenticate": 'Bearer realm="rowcast"'},
        )
        await response(scope, receive, send)


def origin_allowed(headers: Headers, allowed: tuple[str, ...]) -> bool:
    """Tell whether a WebSocket handshake's Origin may connect.

    Clients that send no Origin (curl, rowcast tail, servers) are not browsers
    and may connect. A browser's Origin must be in `allowed`, or, when that is
    empty, match the Host the request was sent to.
    """
    origin = headers.get("origin")
    if origin is None:
        return True
    if allowed:
        return origin in allowed or "*" in allowed
    return urlsplit(origin).netloc == headers.get("host")
