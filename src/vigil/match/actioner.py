"""Act on matches as a rule file says: put them in a review queue, POST them to a webhook, or both.

The **review queue** is a table in a local SQLite database under the index directory
(``DIR/queue.sqlite``): an analyst works through it with ``vigil match queue``. One row per
(rule, post, contribution), so running the same posts again queues nothing twice.

A **webhook** receives ``POST`` requests with a JSON body ``{"rule", "run_id", "delivery",
"matches": [...]}`` (at most ``batch_size`` matches each) and the header ``X-Vigil-Delivery`` (the
same on retries, so a receiver can drop duplicates). Connection errors, timeouts, 429 and 5xx are
retried ``retries`` times with exponential back-off; other 4xx are not. After a batch fails for
good, the rule's later batches are not sent (an endpoint that is down would make every batch wait
out its retries) and are counted as undelivered.

Rules decide per match row (see :mod:`vigil.match.rules`); rows a rule would take but for its
safety defaults (RED, low confidence) are counted, never silently dropped.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pyarrow.parquet as pq

from vigil import __version__
from vigil.core.errors import DataError
from vigil.core.time import isoformat_z, utcnow
from vigil.match.localdb import LocalDb
from vigil.match.rules import Rule, RuleSet, Webhook

QUEUE_FILE = "queue.sqlite"
QUEUE_COLUMNS = (
    "platform",
    "post_id",
    "account_id",
    "account_handle",
    "created_at",
    "signal_type",
    "signal_id",
    "signal_value",
    "stix_id",
    "org_id",
    "tlp",
    "confidence",
    "campaign_id",
    "campaign_name",
    "distance",
    "similarity",
)
_SQL_TYPES = {"confidence": "INTEGER", "distance": "REAL", "similarity": "REAL"}
_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS review_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    queued_at TEXT NOT NULL,
    run_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    status TEXT NOT NULL DEFAULT 'open',
    {", ".join(f"{c} {_SQL_TYPES.get(c, 'TEXT')}" for c in QUEUE_COLUMNS)},
    UNIQUE (rule, platform, post_id, stix_id)
);
CREATE INDEX IF NOT EXISTS review_queue_status ON review_queue (status, id);
"""
STATUSES = ("open", "closed")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return value


def match_json(row: Mapping[str, Any]) -> dict[str, Any]:
    """A match row as the webhook and the queue show it (times as ISO 8601 with Z)."""
    return {column: _json_value(row.get(column)) for column in QUEUE_COLUMNS}


class ReviewQueue(LocalDb):
    """The review queue table in ``queue.sqlite`` of an index directory."""

    SCHEMA = _SCHEMA
    WHAT = "review queue database"

    @classmethod
    def of_index(cls, index_dir: Path) -> ReviewQueue:
        return cls(Path(index_dir) / QUEUE_FILE)

    def add(self, rule: str, run_id: str, rows: Sequence[Mapping[str, Any]]) -> int:
        """Queue match rows for ``rule``; returns how many were new (the rest were queued before)."""
        now = isoformat_z(utcnow())
        placeholders = ", ".join("?" for _ in range(4 + len(QUEUE_COLUMNS)))
        sql = (
            "INSERT OR IGNORE INTO review_queue (queued_at, run_id, rule, status, "
            f"{', '.join(QUEUE_COLUMNS)}) VALUES ({placeholders})"
        )
        with self._db:
            before = self._db.total_changes
            self._db.executemany(
                sql, [(now, run_id, rule, "open", *match_json(row).values()) for row in rows]
            )
            return self._db.total_changes - before

    def items(
        self, *, status: str | None = "open", rule: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Queued items, oldest first."""
        where, params = [], []
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if rule is not None:
            where.append("rule = ?")
            params.append(rule)
        sql = "SELECT * FROM review_queue" + (f" WHERE {' AND '.join(where)}" if where else "")
        sql += " ORDER BY id LIMIT ?"
        return [dict(r) for r in self._db.execute(sql, [*params, limit])]

    def counts(self) -> dict[str, int]:
        return {
            r[0]: r[1] for r in self._db.execute("SELECT status, count(*) FROM review_queue GROUP BY status")
        }

    def set_status(self, ids: list[int], status: str) -> int:
        if status not in STATUSES:
            from vigil.core.errors import InputError

            raise InputError(f"queue status must be one of {', '.join(STATUSES)}, got {status!r}")
        with self._db:
            cursor = self._db.executemany(
                "UPDATE review_queue SET status = ? WHERE id = ?", [(status, i) for i in ids]
            )
            return cursor.rowcount


@dataclass
class Delivery:
    ok: bool
    attempts: int
    status: int | None = None
    error: str | None = None


class WebhookSender:
    """POSTs JSON with timeouts and retries. ``sleep`` is injectable so tests need not wait."""

    def __init__(
        self,
        *,
        backoff: float = 0.5,
        sleep: Callable[[float], None] = time.sleep,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.backoff = backoff
        self.sleep = sleep
        self._http = httpx.Client(transport=transport, headers={"User-Agent": f"vigil/{__version__}"})

    def close(self) -> None:
        self._http.close()

    def post(self, hook: Webhook, body: dict[str, Any]) -> Delivery:
        payload = json.dumps(body, ensure_ascii=False).encode("utf-8")
        headers = {
            **hook.resolved_headers(),
            "Content-Type": "application/json",
            "X-Vigil-Delivery": str(body.get("delivery", "")),
        }
        error: str | None = None
        status: int | None = None
        attempts = 0
        for attempt in range(hook.retries + 1):
            if attempt:
                self.sleep(min(self.backoff * 2 ** (attempt - 1), 30.0))
            attempts += 1
            try:
                response = self._http.post(hook.url, content=payload, headers=headers, timeout=hook.timeout)
            except httpx.TimeoutException:
                error, status = f"timed out after {hook.timeout:g} s", None
                continue
            except httpx.TransportError as exc:
                error, status = f"connection failed: {exc}", None
                continue
            status = response.status_code
            if status < 300:
                return Delivery(True, attempts, status)
            error = f"HTTP {status}"
            if status != 429 and status < 500:
                break  # the receiver refused this request; sending it again will not help
        return Delivery(False, attempts, status, error)


@dataclass
class RuleOutcome:
    selected: int = 0
    excluded_red: int = 0
    excluded_low_confidence: int = 0
    held_quarantined: int = 0  # rows the rule would take, of signals in flood quarantine
    queued_new: int = 0
    queued_before: int = 0
    webhook_requests: int = 0
    webhook_delivered: int = 0  # matches
    webhook_failed: int = 0  # matches in batches that failed for good
    webhook_undelivered: int = 0  # matches not sent after an earlier failure
    errors: list[str] = field(default_factory=list)


@dataclass
class ActionReport:
    run_id: str
    rules: dict[str, RuleOutcome] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return any(o.webhook_failed or o.webhook_undelivered for o in self.rules.values())


def verdict(rule: Rule, row: Mapping[str, Any]) -> str | None:
    """None if ``rule`` selects ``row``; else why not: ``red``, ``low_confidence`` (the safety
    defaults, checked after the rule's own conditions so they count only rows it would take) or
    ``conditions``."""
    when = rule.when
    if not when.conditions(row):
        return "conditions"
    if row.get("tlp") == "RED" and not when.allow_red:
        return "red"
    if (row.get("confidence") or 0) < when.min_confidence:
        return "low_confidence"
    return None


def iter_match_rows(path: Path, batch_rows: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    try:
        parquet = pq.ParquetFile(str(path))
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read matches: {exc}", file=str(path)) from exc
    for batch in parquet.iter_batches(batch_size=batch_rows):
        yield batch.to_pylist()


def run_actions(
    matches_path: Path,
    rules: RuleSet,
    *,
    run_id: str,
    queue: ReviewQueue | None,
    sender: WebhookSender | None = None,
    quarantined: Collection[str] = (),
) -> ActionReport:
    """Apply every rule to every row of ``matches_path`` (a matcher output file). Rows of the
    signals in ``quarantined`` (flood quarantine, :mod:`vigil.match.quarantine`) are held and
    counted, whatever the rule says."""
    for rule in rules.rules:  # a missing secret fails before anything is queued or sent
        if rule.actions.webhook is not None:
            rule.actions.webhook.resolved_headers()
    report = ActionReport(run_id=run_id, rules={r.name: RuleOutcome() for r in rules.rules})
    own_sender = sender is None
    sender = sender or WebhookSender()
    pending: dict[str, list[dict[str, Any]]] = {r.name: [] for r in rules.rules}
    held = set(quarantined)
    try:
        for rows in iter_match_rows(matches_path):
            for rule in rules.rules:
                outcome = report.rules[rule.name]
                chosen = []
                for row in rows:
                    why = verdict(rule, row)
                    if why is None and row.get("signal_id") in held:
                        outcome.held_quarantined += 1
                    elif why is None:
                        chosen.append(row)
                    elif why == "red":
                        outcome.excluded_red += 1
                    elif why == "low_confidence":
                        outcome.excluded_low_confidence += 1
                outcome.selected += len(chosen)
                if not chosen:
                    continue
                if rule.actions.queue:
                    if queue is None:
                        raise DataError(f"rule {rule.name!r} queues matches but no review queue is open")
                    new = queue.add(rule.name, run_id, chosen)
                    outcome.queued_new += new
                    outcome.queued_before += len(chosen) - new
                hook = rule.actions.webhook
                if hook is not None:
                    buffer = pending[rule.name]
                    buffer.extend(match_json(r) for r in chosen)
                    while len(buffer) >= hook.batch_size:
                        _deliver(sender, rule, hook, buffer[: hook.batch_size], outcome, run_id)
                        del buffer[: hook.batch_size]
        for rule in rules.rules:
            hook = rule.actions.webhook
            if hook is not None and pending[rule.name]:
                _deliver(sender, rule, hook, pending[rule.name], report.rules[rule.name], run_id)
    finally:
        if own_sender:
            sender.close()
    return report


def _deliver(
    sender: WebhookSender,
    rule: Rule,
    hook: Webhook,
    matches: list[dict[str, Any]],
    outcome: RuleOutcome,
    run_id: str,
) -> None:
    if outcome.webhook_failed:
        outcome.webhook_undelivered += len(matches)
        return
    body = {"rule": rule.name, "run_id": run_id, "delivery": str(uuid.uuid4()), "matches": matches}
    result = sender.post(hook, body)
    outcome.webhook_requests += result.attempts
    if result.ok:
        outcome.webhook_delivered += len(matches)
    else:
        outcome.webhook_failed += len(matches)
        outcome.errors.append(f"{hook.url}: {result.error} after {result.attempts} attempt(s)")
