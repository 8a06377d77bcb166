"""A TAXII 2.1 reader over HTTP: discovery, collections, and object pages after a checkpoint.

The one raw TAXII client of Vigil. Federation (:mod:`vigil.exchange.federation`, one instance
pulling another) and the match fetch (:mod:`vigil.match.fetch`, a member's index) both read
through it and adapt what it returns to their own records; it knows nothing of either.

* **Auth:** HTTP Basic with the API key as password (Vigil's TAXII server takes any user name;
  medallion and other servers check the pair).
* **Paging:** ``limit`` + the server's ``next`` token while ``more`` is true. A server that pages
  by date only (``more`` without ``next``) is followed with ``added_after`` set to the page's
  ``X-TAXII-Date-Added-Last``. A server that says more follows but gives no way on, or hands back
  the same position twice, is an error rather than an endless loop.
* **Checkpoints:** each :class:`ObjectPage` carries ``X-TAXII-Date-Added-Last`` verbatim (the
  server's own ``date_added`` clock); a caller that saves it and passes it back as ``added_after``
  receives only object versions added since.
* **Errors** name the server and, for HTTP errors, the status and URL: 401 is
  :class:`AuthenticationError`, 403 :class:`PermissionDenied`, 404 :class:`NotFound`, anything
  else (unreachable, timeouts, 5xx, a body that is not a JSON object) :class:`ExternalServiceError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx

from vigil.core.errors import (
    AuthenticationError,
    ExternalServiceError,
    InputError,
    NotFound,
    PermissionDenied,
    VigilError,
)

TAXII_ACCEPT = "application/taxii+json;version=2.1"
DEFAULT_PAGE = 1000
DEFAULT_TIMEOUT_S = 60.0
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"


def server_root(url: str, *, field: str = "server") -> str:
    """The server's base URL (``http://host:port``), also when given its discovery URL
    (``…/taxii2/``); InputError naming ``field`` for anything that is not an http(s) URL."""
    text = url.strip().rstrip("/")
    if not text.startswith(("http://", "https://")):
        raise InputError(f"{field} must be an http(s) URL, got {url!r}", field=field)
    return text[: -len("/taxii2")] if text.endswith("/taxii2") else text


@dataclass
class ObjectPage:
    """One page of a collection's objects and the server's ``X-TAXII-Date-Added-Last`` for it."""

    objects: list[dict[str, Any]]
    date_added_last: str | None


class TaxiiClient:
    """Reads one TAXII 2.1 server. Use as a context manager (or call :meth:`close`)."""

    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        username: str = "taxii",
        timeout: float = DEFAULT_TIMEOUT_S,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.server = server_root(server)
        self.timeout = timeout
        self._http = httpx.Client(
            auth=(username, api_key),
            headers={"Accept": TAXII_ACCEPT},
            timeout=timeout,
            transport=transport,
        )

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> TaxiiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -----------------------------------------------------------------------------------------

    def get(self, url: str, params: dict[str, str] | None = None) -> tuple[dict[str, Any], httpx.Headers]:
        """GET a TAXII resource: its JSON object body and the response headers."""
        try:
            response = self._http.get(url, params=params)
        except httpx.TimeoutException as exc:
            raise ExternalServiceError(
                f"TAXII server {self.server} did not answer within {self.timeout:g} s at {url}", url=url
            ) from exc
        except httpx.HTTPError as exc:
            raise ExternalServiceError(
                f"TAXII server {self.server} unreachable: {exc or type(exc).__name__}", url=url
            ) from exc
        if response.status_code >= 400:
            raise self._error(response, url)
        try:
            body = response.json()
        except ValueError as exc:
            raise ExternalServiceError(
                f"TAXII server {self.server} sent something that is not JSON at {url}", url=url
            ) from exc
        if not isinstance(body, dict):
            raise ExternalServiceError(
                f"TAXII server {self.server} sent a JSON {type(body).__name__}, not an object, at {url}",
                url=url,
            )
        return body, response.headers

    def _error(self, response: httpx.Response, url: str) -> VigilError:
        text = response.text[:300]
        try:
            body = response.json()
            if isinstance(body, dict):
                text = str(body.get("description") or body.get("message") or body.get("title") or text)
        except ValueError:
            pass
        status = response.status_code
        message = f"TAXII server {self.server} answered {status} at {url}: {text}"
        errors: dict[int, type[VigilError]] = {
            401: AuthenticationError,
            403: PermissionDenied,
            404: NotFound,
        }
        if status in errors:
            return errors[status](message)
        return ExternalServiceError(message, status=status, url=url)

    def api_root(self) -> str:
        """The URL of the default API root named by discovery (else the first listed), ending in /."""
        discovery = f"{self.server}/taxii2/"
        body, _ = self.get(discovery)
        root = body.get("default") or next(iter(body.get("api_roots") or []), None)
        if not isinstance(root, str) or not root:
            raise ExternalServiceError(f"TAXII discovery at {discovery} names no API root")
        if root.startswith("/"):  # a root relative to the server
            root = self.server + root
        return root if root.endswith("/") else root + "/"

    def collections(self, api_root: str) -> list[dict[str, Any]]:
        """The collections the key may list (each a TAXII collection resource)."""
        body, _ = self.get(f"{api_root}collections/")
        listed = body.get("collections") or []
        if not isinstance(listed, list):
            raise ExternalServiceError(f"TAXII server {self.server} sent 'collections' that is not a list")
        return [c for c in listed if isinstance(c, dict)]

    def object_pages(
        self,
        api_root: str,
        collection_id: str,
        *,
        added_after: str | None = None,
        limit: int = DEFAULT_PAGE,
    ) -> Iterator[ObjectPage]:
        """Every page of the collection's objects added after ``added_after`` (latest versions)."""
        url = f"{api_root}collections/{collection_id}/objects/"
        params: dict[str, str] = {"limit": str(limit)}
        if added_after:
            params["added_after"] = added_after
        while True:
            body, headers = self.get(url, params)
            objects = body.get("objects") or []
            if not isinstance(objects, list):
                raise ExternalServiceError(
                    f"TAXII server {self.server} sent 'objects' that is not a list at {url}"
                )
            last = headers.get(DATE_ADDED_LAST)
            yield ObjectPage([o for o in objects if isinstance(o, dict)], last)
            if not body.get("more"):
                return
            position = dict(params)
            if body.get("next"):
                params["next"] = str(body["next"])
            elif last:  # a server that pages by date only
                params.pop("next", None)
                params["added_after"] = last
            else:
                raise ExternalServiceError(
                    f"TAXII server {self.server} says more objects follow at {url} but gives no way on"
                )
            if params == position:
                raise ExternalServiceError(
                    f"TAXII server {self.server} sent the same paging position twice at {url}"
                )
