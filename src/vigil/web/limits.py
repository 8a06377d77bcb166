"""ASGI middleware refusing request bodies above ``Settings.max_request_bytes`` with 413.

A declared ``Content-Length`` over the limit is refused before any of the body is read; a body
without one (chunked) is read up to the limit and refused as soon as it passes it. Nothing reaches
the application, so an oversized request cannot change anything.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vigil.core.errors import PayloadTooLarge


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def _refuse(self, scope: Scope, send: Send, size: str) -> None:
        error = PayloadTooLarge(
            f"request body is {size}; the limit is {self.max_bytes} bytes (max_request_bytes)",
            limit=self.max_bytes,
        )
        # Routers with their own error format (TAXII: application/taxii+json error messages)
        # registered it for their path prefix (vigil.web.errors.add_error_formatter).
        app = scope.get("app")
        formatters = getattr(getattr(app, "state", None), "error_formatters", None) or []
        for prefix, formatter in formatters:
            if str(scope.get("path", "")).startswith(prefix):
                response = formatter(error.http_status, error.to_dict())
                response.headers["connection"] = "close"

                async def nothing() -> Message:
                    return {"type": "http.disconnect"}

                await response(scope, nothing, send)
                return
        body = json.dumps(error.to_dict()).encode()
        await send(
            {
                "type": "http.response.start",
                "status": error.http_status,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"connection", b"close"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length > self.max_bytes:
                await self._refuse(scope, send, f"{length} bytes")
                return
            if length >= 0:
                await self.app(scope, receive, send)
                return
        # No usable Content-Length: buffer up to the limit, then replay the body to the app.
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._refuse(scope, send, "larger than allowed")
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)
