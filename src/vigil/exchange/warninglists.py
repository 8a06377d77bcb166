"""Warning lists: known-benign or too-broad values that must not silently become signals.

A list is a YAML file (``name``, ``title``, ``kinds``, ``action``, ``match``, ``values``); the
shipped ones are in ``vigil/exchange/data/warninglists`` and more can be added with
``VIGIL_WARNINGLIST_DIRS`` (a file with the same ``name`` replaces the shipped one). Values added or
removed through the API/CLI are stored as edits (``warninglist_edits``) and applied on top of the
files, so an operator can tune a list without redeploying.

Actions:

* ``block`` - submitting a listed value fails with 409 Conflict naming the list, unless the
  submitting organisation recorded an **override** for that (kind, value) with a reason. The
  override and each use of it are written to the audit log.
* ``flag`` - the value is accepted and the contribution gets the tag ``warninglist:<name>``, so
  matchers and analysts see that it matches broadly.

``match: suffix`` (domains) also catches sub-domains: ``news.bbc.co.uk`` is on a list naming
``bbc.co.uk``. Values are normalized with the signal type's own rules before comparing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from vigil import signals
from vigil.core.errors import ConfigError, Conflict, InputError, NotFound
from vigil.exchange import audit
from vigil.exchange.access import Permission, Principal, require
from vigil.exchange.lifecycle_models import WarningListEditRow, WarningListOverrideRow
from vigil.exchange.records import SignalKind

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "warninglists"
FLAG_TAG_PREFIX = "warninglist:"
MAX_REASON_CHARS = 2000


class Action(StrEnum):
    BLOCK = "block"
    FLAG = "flag"


class Match(StrEnum):
    EXACT = "exact"
    SUFFIX = "suffix"  # the value or any sub-domain of it


@dataclass(frozen=True)
class WarningList:
    name: str
    title: str
    kinds: frozenset[SignalKind]
    action: Action
    match: Match
    values: frozenset[str]
    source: str  # the file it came from
    description: str = ""

    def hit(self, kind: SignalKind, value: str) -> bool:
        if kind not in self.kinds:
            return False
        if value in self.values:
            return True
        if self.match is Match.SUFFIX:
            # every parent of the value that still has two labels or more ("a.b.c.d": "b.c.d",
            # "c.d"), by walking its dots: the values of a batch are screened one by one, and
            # splitting and joining the labels (a generator per value) was most of this check
            values = self.values
            dot = value.find(".")
            while dot != -1:
                rest = value[dot + 1 :]
                if "." not in rest:
                    return False
                if rest in values:
                    return True
                dot = value.find(".", dot + 1)
        return False

    def to_dict(self, *, with_values: bool = True) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "title": self.title,
            "description": self.description,
            "kinds": sorted(k.value for k in self.kinds),
            "action": self.action.value,
            "match": self.match.value,
            "size": len(self.values),
            "source": self.source,
        }
        if with_values:
            body["values"] = sorted(self.values)
        return body


@dataclass(frozen=True)
class Hit:
    list_name: str
    title: str
    action: Action


@dataclass(frozen=True)
class Override:
    id: int
    org_id: str
    kind: str
    value: str
    list_name: str
    reason: str
    created_at: datetime


def _normalize(kinds: Iterable[SignalKind], value: str, where: str) -> set[str]:
    """The value normalized as each kind that accepts it (a list may hold domains and hashtags)."""
    found: set[str] = set()
    for kind in kinds:
        try:
            found.add(signals.normalize(kind.value, str(value)))
        except (ValueError, InputError):
            continue
    if not found:
        names = ", ".join(sorted(k.value for k in kinds))
        raise InputError(f"{where}: value {value!r} is not a valid {names}", field="value")
    return found


def parse_list(document: Any, source: str) -> WarningList:
    """One list from its YAML document; ConfigError naming the file and field when malformed."""
    if not isinstance(document, dict):
        raise ConfigError(f"{source}: a warning list is a YAML mapping")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip() or len(name) > 100:
        raise ConfigError(f"{source}: 'name' must be a short non-empty string")
    try:
        kinds = frozenset(SignalKind(k) for k in document.get("kinds") or [])
        action = Action(document.get("action", "block"))
        match = Match(document.get("match", "exact"))
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from exc
    if not kinds:
        raise ConfigError(f"{source}: 'kinds' must name at least one signal kind")
    raw = document.get("values") or []
    if not isinstance(raw, list):
        raise ConfigError(f"{source}: 'values' must be a list")
    try:
        values = frozenset(n for v in raw for n in _normalize(kinds, v, source))
    except InputError as exc:
        raise ConfigError(exc.message) from exc
    return WarningList(
        name=name.strip(),
        title=str(document.get("title") or name),
        kinds=kinds,
        action=action,
        match=match,
        values=values,
        source=source,
        description=str(document.get("description") or ""),
    )


@lru_cache(maxsize=16)
def _load_dirs(dirs: tuple[Path, ...], stamps: tuple[float, ...]) -> dict[str, WarningList]:
    del stamps  # part of the cache key only: an edited file is read again
    lists: dict[str, WarningList] = {}
    for directory in dirs:
        for path in sorted(directory.glob("*.y*ml")):
            try:
                document = yaml.safe_load(path.read_text(encoding="utf-8"))
            except yaml.YAMLError as exc:
                raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
            found = parse_list(document, str(path))
            lists[found.name] = found
    return lists


def file_lists(extra_dirs: Sequence[Path] = ()) -> dict[str, WarningList]:
    """The lists in the shipped directory and ``extra_dirs`` (later directories win by name)."""
    dirs = (SHIPPED_DIR, *(Path(d) for d in extra_dirs))
    stamps = tuple(p.stat().st_mtime for d in dirs if d.is_dir() for p in sorted(d.glob("*.y*ml")))
    return _load_dirs(tuple(d for d in dirs if d.is_dir()), stamps)


def _configured_dirs() -> tuple[Path, ...]:
    from vigil.core.settings import get_settings

    return tuple(get_settings().warninglist_dirs)


def current_lists(session: Session, extra_dirs: Sequence[Path] | None = None) -> dict[str, WarningList]:
    """The lists as in force: files plus the stored edits, in order."""
    lists = dict(file_lists(_configured_dirs() if extra_dirs is None else extra_dirs))
    edits = list(session.scalars(select(WarningListEditRow).order_by(WarningListEditRow.id)))
    for edit in edits:
        base = lists.get(edit.list_name)
        if base is None:
            continue  # its file was removed; the edit stays in the history
        values = set(base.values)
        if edit.op == "add":
            values.add(edit.value)
        else:
            values.discard(edit.value)
        lists[edit.list_name] = WarningList(
            base.name,
            base.title,
            base.kinds,
            base.action,
            base.match,
            frozenset(values),
            base.source,
            base.description,
        )
    return lists


def get_list(session: Session, name: str) -> WarningList:
    lists = current_lists(session)
    if name not in lists:
        raise NotFound(f"no warning list {name!r}; known: {', '.join(sorted(lists))}", list=name)
    return lists[name]


def hits(session: Session, kind: SignalKind, normalized: str) -> list[Hit]:
    """Every list the (already normalized) value is on."""
    return [
        Hit(w.name, w.title, w.action) for w in current_lists(session).values() if w.hit(kind, normalized)
    ]


def _override(session: Session, org_id: str, kind: SignalKind, value: str) -> WarningListOverrideRow | None:
    return session.scalar(
        select(WarningListOverrideRow).where(
            WarningListOverrideRow.org_id == org_id,
            WarningListOverrideRow.kind == kind.value,
            WarningListOverrideRow.value == value,
        )
    )


class Screener:
    """Warning-list screening of many values for one organisation: the lists in force and the
    organisation's overrides are read once (``submit_signals`` screens a whole batch with one)."""

    def __init__(self, session: Session, org_id: str, values: Iterable[tuple[SignalKind, str]]) -> None:
        self.lists = current_lists(session)
        # One pass: each distinct value is looked up once, only in the lists of its kind (most
        # kinds, urls for one, have none), and ``check`` reads the result.
        self._by_kind: dict[SignalKind, list[WarningList]] = {}
        for w in self.lists.values():
            for kind in w.kinds:
                self._by_kind.setdefault(kind, []).append(w)
        self._hits: dict[tuple[SignalKind, str], list[WarningList]] = {}
        for kind, value in values:
            lists = self._by_kind.get(kind)
            if lists and (kind, value) not in self._hits:
                self._hits[(kind, value)] = [w for w in lists if w.hit(kind, value)]
        candidates = {
            key for key, found in self._hits.items() if any(w.action is Action.BLOCK for w in found)
        }
        self.overrides: dict[tuple[str, str], WarningListOverrideRow] = {}
        wanted = sorted({value for _, value in candidates})
        for start in range(0, len(wanted), 500):
            for row in session.scalars(
                select(WarningListOverrideRow).where(
                    WarningListOverrideRow.org_id == org_id,
                    WarningListOverrideRow.value.in_(wanted[start : start + 500]),
                )
            ):
                self.overrides[(row.kind, row.value)] = row

    def check(self, kind: SignalKind, normalized: str) -> tuple[list[str], Hit | None, int | None]:
        """(tags to add for flagging lists, the blocking list overridden, the override's id);
        Conflict naming the list if a blocking list holds the value and there is no override."""
        lists = self._hits.get((kind, normalized))
        if lists is None:  # a kind no list covers, or a value the screener was not built with
            lists = [w for w in self._by_kind.get(kind, ()) if w.hit(kind, normalized)]
        if not lists:
            return [], None, None
        found = [Hit(w.name, w.title, w.action) for w in lists]
        blocking = [h for h in found if h.action is Action.BLOCK]
        flags = [f"{FLAG_TAG_PREFIX}{h.list_name}" for h in found if h.action is Action.FLAG]
        if not blocking:
            return flags, None, None
        override = self.overrides.get((kind.value, normalized))
        if override is None:
            names = ", ".join(f"'{h.list_name}' ({h.title})" for h in blocking)
            raise Conflict(
                f"{kind.value} {normalized!r} is on warning list {names}: as a signal it would match "
                "mostly innocent content. To share it anyway, record an override with a reason "
                "(POST /api/v1/warninglists/overrides or `vigil warninglist override`).",
                warninglist=blocking[0].list_name,
                kind=kind.value,
                value=normalized,
            )
        return flags, blocking[0], override.id


def override_used_entry(kind: SignalKind, normalized: str, hit: Hit, override_id: int) -> dict[str, Any]:
    """The ``warninglist.override_used`` audit entry's target and detail (see ``screen``)."""
    return {
        "action": "warninglist.override_used",
        "target_type": "warninglist",
        "target_id": hit.list_name,
        "detail": {"kind": kind.value, "value": normalized, "override": override_id},
    }


def screen(
    session: Session, principal: Principal, kind: SignalKind, normalized: str, *, at: datetime
) -> list[str]:
    """Called by ``submit_signal``: Conflict if a blocking list holds the value and the caller's
    organisation has no override; otherwise the tags to add for flagging lists. A use of an
    override is written to the audit log."""
    flags, hit, override_id = Screener(session, principal.org_id, [(kind, normalized)]).check(
        kind, normalized
    )
    if hit is not None and override_id is not None:
        entry = override_used_entry(kind, normalized, hit, override_id)
        audit.record(
            session,
            principal,
            entry["action"],
            at=at,
            target_type=entry["target_type"],
            target_id=entry["target_id"],
            detail=entry["detail"],
        )
    return flags


def add_override(
    session: Session, principal: Principal, kind: str, value: str, reason: str, *, at: datetime
) -> Override:
    """Let the caller's organisation share a listed value; the reason goes to the audit log."""
    require(principal, Permission.WRITE)
    parsed, normalized = _parse(kind, value)
    text = (reason or "").strip()
    if not text:
        raise InputError("an override needs a reason", field="reason")
    if len(text) > MAX_REASON_CHARS:
        raise InputError(f"reason longer than {MAX_REASON_CHARS} characters", field="reason")
    blocking = [h for h in hits(session, parsed, normalized) if h.action is Action.BLOCK]
    if not blocking:
        raise InputError(f"{parsed.value} {normalized!r} is on no blocking warning list; no override needed")
    row = _override(session, principal.org_id, parsed, normalized)
    if row is None:
        row = WarningListOverrideRow(
            org_id=principal.org_id,
            kind=parsed.value,
            value=normalized,
            key_id=principal.key_id,
            created_at=at,
        )
        session.add(row)
    row.list_name = blocking[0].list_name
    row.reason = text
    session.flush()
    audit.record(
        session,
        principal,
        "warninglist.override",
        at=at,
        target_type="warninglist",
        target_id=row.list_name,
        detail={"kind": parsed.value, "value": normalized, "reason": text},
    )
    return _override_record(row)


def list_overrides(session: Session, principal: Principal) -> list[Override]:
    """The caller organisation's overrides (operators see every organisation's)."""
    require(principal, Permission.READ)
    stmt = select(WarningListOverrideRow).order_by(WarningListOverrideRow.id)
    if not principal.operator:
        stmt = stmt.where(WarningListOverrideRow.org_id == principal.org_id)
    return [_override_record(r) for r in session.scalars(stmt)]


def edit_list(
    session: Session,
    principal: Principal | None,
    name: str,
    *,
    add: Iterable[str] = (),
    remove: Iterable[str] = (),
    reason: str | None = None,
    at: datetime,
) -> WarningList:
    """Add or remove values (coalition-wide, so operator admins or the local administrator only)."""
    require(principal, Permission.OPERATE)
    base = get_list(session, name)
    for op, values in (("add", add), ("remove", remove)):
        for value in values:
            for normalized in sorted(_normalize(base.kinds, value, f"warning list {name!r}")):
                session.add(
                    WarningListEditRow(
                        list_name=name,
                        value=normalized,
                        op=op,
                        org_id=principal.org_id if principal else None,
                        reason=reason,
                        created_at=at,
                    )
                )
                audit.record(
                    session,
                    principal,
                    f"warninglist.{op}",
                    at=at,
                    target_type="warninglist",
                    target_id=name,
                    detail={"value": normalized, "reason": reason},
                )
    session.flush()
    return get_list(session, name)


def _parse(kind: str | SignalKind, value: str) -> tuple[SignalKind, str]:
    from vigil.exchange.values import normalize_value

    return normalize_value(kind, value)


def _override_record(row: WarningListOverrideRow) -> Override:
    return Override(row.id, row.org_id, row.kind, row.value, row.list_name, row.reason, row.created_at)


@dataclass
class BreadthReport:
    """How much of a member's recent content each value would match (see ``breadth``)."""

    posts: int
    threshold: float
    shares: dict[tuple[str, str], float] = field(default_factory=dict)

    @property
    def too_broad(self) -> list[tuple[str, str, float]]:
        return sorted(
            ((k, v, s) for (k, v), s in self.shares.items() if s > self.threshold), key=lambda t: -t[2]
        )


def breadth(values: Iterable[tuple[str, str]], posts_file: Path, threshold: float) -> BreadthReport:
    """The share of the posts in ``posts_file`` (Vigil's posts table, Parquet) that each domain or
    hashtag value appears in; values above ``threshold`` (a fraction) match too broadly to share.

    Runs in DuckDB over the file (no full load): one pass over ``urls.domain`` and ``hashtags``.
    """
    import duckdb

    if not 0 < threshold < 1:
        raise InputError(f"threshold must be a fraction between 0 and 1, got {threshold}", field="threshold")
    if not posts_file.is_file():
        raise InputError(f"{posts_file}: no such file", file=str(posts_file))
    wanted = sorted({(k, v) for k, v in values if k in (SignalKind.DOMAIN.value, SignalKind.HASHTAG.value)})
    con = duckdb.connect()
    try:
        # DuckDB would print its own progress bar on stdout past 2 s, over the CLI's output.
        con.execute("SET enable_progress_bar = false")
        con.execute("CREATE TEMP TABLE wanted (kind VARCHAR, value VARCHAR)")
        if wanted:
            con.executemany("INSERT INTO wanted VALUES (?, ?)", wanted)
        source = "read_parquet(?)"
        total_row = con.execute(f"SELECT count(*) FROM {source}", [str(posts_file)]).fetchone()
        total = int(total_row[0]) if total_row else 0
        rows = con.execute(
            f"""
            WITH posts AS (SELECT row_number() OVER () AS n, urls, hashtags FROM {source}),
            terms AS (
                SELECT DISTINCT n, 'domain' AS kind, lower(u.domain) AS value
                FROM posts, unnest(urls) AS t(u) WHERE u.domain IS NOT NULL
                UNION
                SELECT DISTINCT n, 'hashtag', lower(ltrim(h, '#')) FROM posts, unnest(hashtags) AS t(h)
            )
            SELECT w.kind, w.value, count(t.n) FROM wanted w
            LEFT JOIN terms t ON t.kind = w.kind AND t.value = w.value
            GROUP BY w.kind, w.value
            """,
            [str(posts_file)],
        ).fetchall()
    except duckdb.Error as exc:
        raise InputError(
            f"{posts_file}: cannot read urls/hashtags as Vigil's posts table: {str(exc).splitlines()[0]}",
            file=str(posts_file),
        ) from exc
    finally:
        con.close()
    report = BreadthReport(posts=total, threshold=threshold)
    if total:
        report.shares = {(k, v): n / total for k, v, n in rows}
    return report
