"""TAXII 2.1 over HTTP (``/taxii2``): media types, query parameters, status codes and headers only.

What is served and who may see it is decided in ``vigil.exchange.taxii`` (collections, paging) and
``vigil.exchange.taxii_store`` (the store's access rule); errors become TAXII error messages.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from vigil.core.errors import AuthenticationError, InputError
from vigil.db import Database
from vigil.exchange import keys
from vigil.exchange.access import Principal
from vigil.exchange.store import ExchangeStore
from vigil.exchange.taxii import (
    TAXII_MEDIA_TYPE,
    Page,
    api_root_resource,
    check_accept,
    check_content_type,
    collection_resource,
    discovery,
    envelope_text,
    error_resource,
    manifest,
    parse_query,
    versions_resource,
)
from vigil.exchange.taxii_store import ExtrasCache, TaxiiService, credentials_stamp
from vigil.web.deps import credentials, get_database, get_settings_dep
from vigil.web.errors import add_error_formatter

PREFIX = "/taxii2"
ROOT = "/api1"


# The dependencies below are ``async def``: FastAPI runs a plain ``def`` dependency in the thread
# pool, and each hop there (a queue, a lock, a thread wake-up, the GIL handed back) cost more than
# the work these do. Only database work goes to a thread: the endpoints, and a key-cache miss.


async def _accept(request: Request) -> None:
    check_accept(request.headers.get("accept"))


class TaxiiJSON(Response):
    """Every TAXII answer, errors included, is ``application/taxii+json;version=2.1``."""

    media_type = TAXII_MEDIA_TYPE


_ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "TAXII 2.1 error message",
    "required": ["title"],
    "properties": {
        "title": {"type": "string"},
        "description": {"type": "string"},
        "http_status": {"type": "string"},
        "details": {"type": "object"},
    },
}
_ERRORS = {
    400: "Bad request: a malformed query parameter, envelope or next token",
    401: "No valid API key (HTTP Basic with the key as password, or Bearer)",
    403: "The key's role may not do this",
    404: "No such collection, object or status for this caller",
    406: "The Accept header excludes application/taxii+json;version=2.1",
    503: "The database is unavailable; retry later",
}


def _documented(*extra: int, ok: int = 200, what: str = "TAXII resource") -> dict[int | str, Any]:
    """OpenAPI entries of a TAXII route: its success and the TAXII error messages it can answer."""
    codes = {**_ERRORS, **{c: text for c, text in _POST_ERRORS.items() if c in extra}}
    documented: dict[int | str, Any] = {
        ok: {"description": what, "content": {TAXII_MEDIA_TYPE: {"schema": {"type": "object"}}}}
    }
    for code, text in sorted(codes.items()):
        documented[code] = {"description": text, "content": {TAXII_MEDIA_TYPE: {"schema": _ERROR_SCHEMA}}}
    return documented


_POST_ERRORS = {
    413: "The envelope is larger than max_content_length",
    415: "The body is not application/taxii+json;version=2.1",
}

router = APIRouter(
    prefix=PREFIX,
    tags=["taxii"],
    dependencies=[Depends(_accept)],
    default_response_class=TaxiiJSON,
)


def taxii_response(
    body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return TaxiiJSON(
        content=json.dumps(body, ensure_ascii=False),
        status_code=status,
        headers=headers,
    )


def _taxii_error(status: int, body: dict[str, Any]) -> Response:
    title = str(body.get("error", "Error"))
    description = str(body.get("message", ""))
    headers = {"WWW-Authenticate": 'Basic realm="vigil-taxii", Bearer'} if status == 401 else None
    if status == 503:
        headers = {"Retry-After": "5"}
    details = body.get("details") or {}
    return taxii_response(error_resource(title, description, status, **details), status, headers)


class KeyCache:
    """Principals of recently authenticated keys, by the key's SHA-256, for ``ttl`` seconds, with
    the credentials' stamp they were authenticated at (``taxii_store.credentials_stamp``).

    A TAXII client pages through a collection with thousands of requests; looking its key up in
    the database (key, organisation, organisation status) for each one was a fifth of a page's
    cost. Only the reads that run in a database snapshot use the cache (objects, one object, its
    versions, the manifest): each compares the entry's stamp with the stamp in its own snapshot and
    authenticates the key again when it moved, so a key revoked or an organisation suspended by
    any process (a second server worker, the CLI) is refused at once. The other TAXII requests
    authenticate from the database each time. Revoking a key or changing an organisation's status
    in this process also empties the cache (vigil.exchange.keys.credentials_epoch). Only
    successful authentications are kept; the raw key is not."""

    def __init__(self, ttl: float = 5.0, capacity: int = 4096) -> None:
        self.ttl = ttl
        self._capacity = capacity
        self._items: dict[str, tuple[float, int, Principal, tuple[object, ...]]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> tuple[Principal, tuple[object, ...]] | None:
        """The principal and the credentials' stamp it was authenticated at, if held and fresh."""
        with self._lock:
            found = self._items.get(digest)
        # An entry from before this process last revoked a key or changed an organisation's
        # status is stale at once.
        if found is None or found[0] < time.monotonic() or found[1] != keys.credentials_epoch():
            return None
        return found[2], found[3]

    def put(self, digest: str, principal: Principal, epoch: int, stamp: tuple[object, ...]) -> None:
        """Keep ``principal``, looked up when :func:`credentials_epoch` was ``epoch`` (read before
        the lookup, so a change during it leaves the entry stale rather than fresh) in a snapshot
        whose credentials' stamp was ``stamp``."""
        with self._lock:
            if len(self._items) >= self._capacity:
                now = time.monotonic()
                self._items = {k: v for k, v in self._items.items() if v[0] >= now}
                if len(self._items) >= self._capacity:
                    self._items.clear()
            self._items[digest] = (time.monotonic() + self.ttl, epoch, principal, stamp)

    def restamp(self, digest: str, principal: Principal, stamp: tuple[object, ...]) -> None:
        """A read authenticated ``principal`` again at ``stamp``: later reads need not."""
        with self._lock:
            found = self._items.get(digest)
            if found is not None and found[3] != stamp:
                self._items[digest] = (found[0], found[1], principal, stamp)

    def drop(self, digest: str) -> None:
        with self._lock:
            self._items.pop(digest, None)


def _key_cache(app: Any) -> KeyCache:
    cache: KeyCache | None = getattr(app.state, "taxii_keys", None)
    if cache is None:
        cache = app.state.taxii_keys = KeyCache()
    return cache


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def cached_principal(app: Any, digest: str) -> tuple[Principal, tuple[object, ...]] | None:
    """The principal of the key with ``digest`` and its stamp, if the application's key cache
    holds it (``vigil.web.taxii_fast``)."""
    return _key_cache(app).get(digest)


def restamp(app: Any, digest: str, service: TaxiiService, stamp: tuple[object, ...] | None) -> None:
    """Keep what ``service`` (made with the cached ``stamp``) re-checked, if it did."""
    if service.credentials is not None and service.credentials != stamp:
        _key_cache(app).restamp(digest, service.principal, service.credentials)


def forget(app: Any, digest: str) -> None:
    """Drop a cached key its read refused (revoked, or its organisation stopped)."""
    _key_cache(app).drop(digest)


def extras_cache(app: Any) -> ExtrasCache:
    cache: ExtrasCache | None = getattr(app.state, "taxii_extras", None)
    if cache is None:
        cache = app.state.taxii_extras = ExtrasCache()
    return cache


def _check_nul(request: Request) -> None:
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        if "\x00" in str(value) or "\x00" in name:
            raise InputError(f"parameter {name!r} contains a NUL character (U+0000)", field=name)


async def _principal(request: Request) -> Principal:
    """The caller, authenticated from the database in a read-only transaction that ends here:
    TAXII requests hold no transaction while they work (reads take snapshots, writes commit in
    short chunks)."""
    _check_nul(request)
    principal, _ = await run_in_threadpool(_authenticate, get_database(request), credentials(request))
    request.state.principal = principal
    return principal


async def _reader(request: Request) -> TaxiiService:
    """The service of a read that runs in a snapshot (objects, one object, versions, manifest),
    for a caller from the key cache when it holds the key: the read re-checks the key there if
    any credentials changed since (``TaxiiService._check_credentials``)."""
    _check_nul(request)
    digest = key_digest(credentials(request))
    cache = _key_cache(request.app)
    found = cache.get(digest)
    if found is None:
        epoch = keys.credentials_epoch()
        found = await run_in_threadpool(_authenticate, get_database(request), credentials(request))
        cache.put(digest, found[0], epoch, found[1])
    principal, stamp = found
    request.state.principal = principal
    request.state.taxii_key = (digest, stamp)
    return _make_service(request, principal, stamp)


def _authenticate(database: Database, key: str) -> tuple[Principal, tuple[object, ...]]:
    """The key's principal and the credentials' stamp of the snapshot it was found in."""
    with database.read_session() as session:
        return ExchangeStore(session).authenticate(key), credentials_stamp(session)


TaxiiPrincipal = Annotated[Principal, Depends(_principal)]


def _make_service(request: Request, principal: Principal, stamp: tuple[object, ...] | None) -> TaxiiService:
    settings = get_settings_dep(request)
    return TaxiiService(
        get_database(request),
        principal,
        page_size=settings.taxii_page_size,
        cache=extras_cache(request.app),
        credentials=stamp,
    )


async def _service(request: Request, principal: TaxiiPrincipal) -> TaxiiService:
    return _make_service(request, principal, None)


def _served(request: Request, service: TaxiiService, read: Any) -> Any:
    """``read()``, keeping in the key cache what it re-checked, or dropping a key it refused."""
    digest, stamp = request.state.taxii_key
    try:
        found = read()
    except AuthenticationError:
        forget(request.app, digest)
        raise
    restamp(request.app, digest, service, stamp)
    return found


def _params(request: Request) -> dict[str, list[str]]:
    params: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, []).append(value)
    return params


def _paged(body: dict[str, Any], page: Page) -> Response:
    return taxii_response(body, headers=page.headers())


def envelope_response(page: Page) -> Response:
    """An envelope of stored objects: their stored texts joined (``envelope_text``), never re-encoded."""
    return TaxiiJSON(content=envelope_text(page), headers=page.headers())


@router.get("/", summary="TAXII discovery", responses=_documented(what="Discovery"))
def get_discovery(request: Request, principal: TaxiiPrincipal) -> Response:
    del principal  # discovery needs a valid key like everything else
    # Behind a proxy the address clients use is configured (public_url), not the one we were asked on.
    base = get_settings_dep(request).public_url or str(request.base_url)
    return taxii_response(discovery(base.rstrip("/") + PREFIX))


@router.get(ROOT + "/", summary="API root information", responses=_documented(what="API root"))
def get_api_root(request: Request, principal: TaxiiPrincipal) -> Response:
    del principal
    return taxii_response(api_root_resource(get_settings_dep(request).max_request_bytes))


@router.get(
    ROOT + "/collections/", summary="Collections you may read", responses=_documented(what="Collections")
)
def get_collections(service: TaxiiService = Depends(_service)) -> Response:
    return taxii_response({"collections": service.collections()})


@router.get(
    ROOT + "/collections/{collection_id}/", summary="One collection", responses=_documented(what="Collection")
)
def get_collection(collection_id: str, service: TaxiiService = Depends(_service)) -> Response:
    spec = service.collection(collection_id)
    return taxii_response(collection_resource(spec, service.principal))


@router.get(
    ROOT + "/collections/{collection_id}/objects/",
    summary="Objects (paged, filterable)",
    responses=_documented(what="Envelope"),
)
def get_objects(request: Request, collection_id: str, service: TaxiiService = Depends(_reader)) -> Response:
    query = parse_query(_params(request), max_page=service.page_size)
    return envelope_response(_served(request, service, lambda: service.objects(collection_id, query)))


@router.post(
    ROOT + "/collections/{collection_id}/objects/",
    summary="Add objects (as your organisation)",
    status_code=202,
    responses=_documented(413, 415, ok=202, what="Status of the request"),
)
async def add_objects(
    request: Request, collection_id: str, service: TaxiiService = Depends(_service)
) -> Response:
    check_content_type(request.headers.get("content-type"))
    body = await request.body()
    status = await run_in_threadpool(service.add_objects, collection_id, body)
    return taxii_response(status.resource(), 202)


@router.get(
    ROOT + "/collections/{collection_id}/objects/{object_id}/",
    summary="One object's versions",
    responses=_documented(what="Envelope"),
)
def get_object(
    request: Request, collection_id: str, object_id: str, service: TaxiiService = Depends(_reader)
) -> Response:
    query = parse_query(_params(request), max_page=service.page_size)
    return envelope_response(
        _served(request, service, lambda: service.object(collection_id, object_id, query))
    )


@router.get(
    ROOT + "/collections/{collection_id}/objects/{object_id}/versions/",
    summary="Version list",
    responses=_documented(what="Versions"),
)
def get_versions(
    request: Request, collection_id: str, object_id: str, service: TaxiiService = Depends(_reader)
) -> Response:
    query = parse_query(_params(request), max_page=service.page_size)
    page = _served(request, service, lambda: service.versions(collection_id, object_id, query))
    return _paged(versions_resource(page), page)


@router.get(
    ROOT + "/collections/{collection_id}/manifest/",
    summary="Manifest (ids and versions)",
    responses=_documented(what="Manifest"),
)
def get_manifest(request: Request, collection_id: str, service: TaxiiService = Depends(_reader)) -> Response:
    query = parse_query(_params(request), max_page=service.page_size)
    page = _served(request, service, lambda: service.manifest(collection_id, query))
    return _paged(manifest(page), page)


@router.get(
    ROOT + "/status/{status_id}/",
    summary="Result of an add-objects request",
    responses=_documented(what="Status"),
)
def get_status(status_id: str, service: TaxiiService = Depends(_service)) -> Response:
    return taxii_response(service.status(status_id).resource())


def install(app: FastAPI) -> None:
    """Add the TAXII router and make errors under /taxii2 TAXII error messages."""
    app.include_router(router)
    add_error_formatter(app, PREFIX, _taxii_error)
