"""A small HTTP client of Vigil's REST API (/api/v1), kept apart from the python-threatexchange adapter
in ``api.py``: this file knows Vigil's wire format and nothing of threatexchange."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import httpx


class VigilAPIError(Exception):
    """Vigil answered with an error (its message is shown as is) or could not be reached."""


class VigilClient:
    def __init__(self, server: str, key: str, *, timeout: float = 30.0) -> None:
        # imported here: the threatexchange CLI imports extensions on every command, and httpx costs
        # ~0.2 s that only commands talking to Vigil need
        import httpx

        self.base = server.rstrip("/") + "/api/v1"
        self._http: httpx.Client = httpx.Client(
            headers={"Authorization": f"Bearer {key}", "User-Agent": "vigil-threatexchange"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        import httpx

        try:
            response = self._http.request(method, self.base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise VigilAPIError(f"cannot reach Vigil at {self.base}: {exc}") from exc
        if response.status_code >= 400:
            try:
                message = response.json().get("message") or response.text
            except ValueError:
                message = response.text
            raise VigilAPIError(f"Vigil answered {response.status_code} to {method} {path}: {message}")
        return response.json()

    def me(self) -> dict[str, Any]:
        return dict(self._call("GET", "/me"))

    def signal_pages(
        self, *, modified_after: datetime | None, kinds: list[str], limit: int = 500
    ) -> Iterator[list[dict[str, Any]]]:
        """Pages of signals visible to the key, revoked ones included (oldest change first)."""
        params: dict[str, Any] = {"kind": kinds, "limit": limit, "include_revoked": "true"}
        if modified_after is not None:
            params["modified_after"] = modified_after.isoformat()
        while True:
            page = self._call("GET", "/signals", params=params)
            yield list(page["items"])
            if not page["more"]:
                return
            params["cursor"] = page["next_cursor"]

    def lookup(self, kind: str, value: str) -> dict[str, Any]:
        return dict(self._call("GET", "/signals/lookup", params={"kind": kind, "value": value}))

    def set_opinion(self, signal_id: str, value: str, comment: str | None) -> dict[str, Any]:
        return dict(
            self._call("PUT", f"/signals/{signal_id}/opinion", json={"value": value, "comment": comment})
        )

    def add_sighting(
        self, signal_id: str, *, at: datetime, count: int = 1, platform: str | None = None
    ) -> None:
        body = {
            "count": count,
            "first_seen": at.isoformat(),
            "last_seen": at.isoformat(),
            "platform": platform,
        }
        self._call("POST", f"/signals/{signal_id}/sightings", json=body)
