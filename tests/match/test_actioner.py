"""The actioner against a real local HTTP receiver (a thread on a free port): each webhook receives
exactly the matches its rule selects; RED and low-confidence matches only when a rule allows them;
retries, timeouts and refusals; the review queue."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from tests.match.conftest import T0
from vigil.core.errors import ConfigError
from vigil.match.actioner import ReviewQueue, WebhookSender, run_actions
from vigil.match.matcher import MATCHES
from vigil.match.rules import parse_rules
from vigil.schema.io import ParquetSink


class Receiver:
    """Records every POST; ``script[path]`` lists statuses to answer in turn (then 200);
    ``delay[path]`` seconds to wait before answering."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], dict[str, Any]]] = []
        self.script: dict[str, list[int]] = {}
        self.delay: dict[str, float] = {}
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                receiver.requests.append((self.path, dict(self.headers), body))
                time.sleep(receiver.delay.get(self.path, 0))
                statuses = receiver.script.get(self.path) or []
                status = statuses.pop(0) if statuses else 200
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def received(self, path: str) -> list[str]:
        """Post ids delivered to ``path``, over all requests (retries included)."""
        return [m["post_id"] for p, _, body in self.requests if p == path for m in body["matches"]]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


ROWS = [
    # post id, type, tlp, confidence, campaign, distance
    ("p1", "url", "GREEN", 80, "Cloned outlets", 0.0),
    ("p2", "url", "RED", 90, None, 0.0),
    ("p3", "hashtag", "GREEN", 10, None, 0.0),
    ("p4", "image_pdq", "AMBER", 70, None, 20.0),
    ("p5", "image_pdq", "AMBER", 70, None, 30.0),
    ("p6", "hashtag", "AMBER+STRICT", 50, "Cloned outlets", 0.0),
    ("p7", "domain", "GREEN", None, None, 0.0),
]


def matches_file(path: Path) -> Path:
    rows = [
        {
            "platform": "twitter",
            "post_id": post_id,
            "account_id": f"acct-{post_id}",
            "created_at": T0,
            "signal_type": kind,
            "post_value": f"value-{post_id}",
            "signal_id": f"indicator--{post_id}",
            "signal_value": f"value-{post_id}",
            "stix_id": f"indicator--stix-{post_id}",
            "org_id": "identity--source",
            "tlp": tlp,
            "confidence": confidence,
            "campaign_id": "campaign--1" if campaign else None,
            "campaign_name": campaign,
            "distance": distance,
            "similarity": 1.0,
        }
        for post_id, kind, tlp, confidence, campaign, distance in ROWS
    ]
    with ParquetSink(path, MATCHES) as sink:
        sink.write(pa.Table.from_pylist(rows, schema=MATCHES.schema))
    return path


def no_wait(_: float) -> None:
    return None


def test_each_webhook_receives_exactly_what_its_rule_selects(receiver: Receiver, tmp_path: Path) -> None:
    rules = parse_rules(
        f"""
rules:
  - name: careful
    when: {{signal_types: [url, hashtag]}}
    actions: {{webhook: {{url: "{receiver.url}/careful"}}}}
  - name: bold
    when: {{signal_types: [url, hashtag], allow_red: true, min_confidence: 0}}
    actions: {{webhook: {{url: "{receiver.url}/bold", batch_size: 2}}}}
  - name: campaign
    when: {{campaigns: ["cloned outlets"], min_confidence: 50}}
    actions: {{webhook: {{url: "{receiver.url}/campaign"}}}}
  - name: close-images
    when: {{signal_types: [image_pdq], max_distance: 25}}
    actions: {{queue: true}}
"""
    )
    with ReviewQueue(tmp_path / "queue.sqlite") as queue:
        report = run_actions(
            matches_file(tmp_path / "m.parquet"),
            rules,
            run_id="run-1",
            queue=queue,
            sender=WebhookSender(sleep=no_wait),
        )
        # careful: p2 is RED, p3 has confidence 10; p6 (AMBER+STRICT, 50) passes the defaults.
        assert sorted(receiver.received("/careful")) == ["p1", "p6"]
        assert sorted(receiver.received("/bold")) == ["p1", "p2", "p3", "p6"]
        assert sorted(receiver.received("/campaign")) == ["p1", "p6"]
        careful = report.rules["careful"]
        assert (careful.selected, careful.excluded_red, careful.excluded_low_confidence) == (2, 1, 1)
        assert report.rules["bold"].webhook_requests == 2  # 4 matches in batches of 2
        assert report.rules["close-images"].queued_new == 1 and not report.failed
        (item,) = queue.items()
        assert (item["post_id"], item["rule"], item["status"], item["distance"]) == (
            "p4",
            "close-images",
            "open",
            20.0,
        )
        # Running the same matches again queues nothing twice.
        again = run_actions(
            tmp_path / "m.parquet", rules, run_id="run-2", queue=queue, sender=WebhookSender(sleep=no_wait)
        )
        assert again.rules["close-images"].queued_new == 0 and again.rules["close-images"].queued_before == 1
        assert queue.set_status([item["id"]], "closed") == 1
        assert queue.items() == [] and queue.counts() == {"closed": 1}
    _, headers, body = receiver.requests[0]
    assert headers["Content-Type"] == "application/json" and headers["X-Vigil-Delivery"] == body["delivery"]
    assert body["rule"] in {"careful", "bold", "campaign"} and body["run_id"] == "run-1"
    p1 = next(
        m for p, _, b in receiver.requests if p == "/careful" for m in b["matches"] if m["post_id"] == "p1"
    )
    assert p1["tlp"] == "GREEN" and p1["created_at"] == "2026-05-01T12:00:00Z" and p1["confidence"] == 80


def test_retries_timeouts_and_refusals(receiver: Receiver, tmp_path: Path) -> None:
    receiver.script = {"/flaky": [503, 502], "/refuse": [400, 400]}
    receiver.delay = {"/slow": 0.6}
    rules = parse_rules(
        f"""
rules:
  - name: flaky
    when: {{min_confidence: 0, allow_red: true}}
    actions: {{webhook: {{url: "{receiver.url}/flaky", retries: 2}}}}
  - name: refuse
    when: {{min_confidence: 0, allow_red: true}}
    actions: {{webhook: {{url: "{receiver.url}/refuse", batch_size: 3, retries: 3}}}}
  - name: slow
    when: {{signal_types: [domain], min_confidence: 0}}
    actions: {{webhook: {{url: "{receiver.url}/slow", timeout: 0.2, retries: 1}}}}
"""
    )
    waits: list[float] = []
    report = run_actions(
        matches_file(tmp_path / "m.parquet"),
        rules,
        run_id="r",
        queue=None,
        sender=WebhookSender(sleep=waits.append),
    )
    flaky = report.rules["flaky"]
    assert flaky.webhook_delivered == 7 and flaky.webhook_requests == 3 and not flaky.errors
    deliveries = {h["X-Vigil-Delivery"] for p, h, _ in receiver.requests if p == "/flaky"}
    assert len(deliveries) == 1  # retries carry the same delivery id
    refuse = report.rules["refuse"]
    # A 400 is not retried; the later batches are not sent after a failure, and are counted.
    assert [p for p, _, _ in receiver.requests].count("/refuse") == 1
    assert (refuse.webhook_failed, refuse.webhook_undelivered) == (3, 4)
    slow = report.rules["slow"]
    assert slow.webhook_failed == 1 and "timed out" in slow.errors[0] and "2 attempt" in slow.errors[0]
    assert report.failed
    assert waits[:2] == [0.5, 1.0]  # exponential back-off between attempts


def test_secret_headers_come_from_the_environment(
    receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rules = parse_rules(
        f"""
rules:
  - name: queued-first
    when: {{min_confidence: 0}}
    actions: {{queue: true}}
  - name: signed
    when: {{signal_types: [url]}}
    actions:
      webhook:
        url: "{receiver.url}/signed"
        headers: {{X-Team: trust-and-safety}}
        headers_from_env: {{Authorization: VIGIL_TEST_HOOK_TOKEN}}
"""
    )
    matches = matches_file(tmp_path / "m.parquet")
    monkeypatch.delenv("VIGIL_TEST_HOOK_TOKEN", raising=False)
    with ReviewQueue(tmp_path / "queue.sqlite") as queue:
        with pytest.raises(ConfigError, match="VIGIL_TEST_HOOK_TOKEN"):
            run_actions(matches, rules, run_id="r", queue=queue, sender=WebhookSender(sleep=no_wait))
        assert queue.counts() == {}  # nothing was queued before the error
        monkeypatch.setenv("VIGIL_TEST_HOOK_TOKEN", "Bearer s3cret")
        run_actions(matches, rules, run_id="r", queue=queue, sender=WebhookSender(sleep=no_wait))
    ((_, headers, body),) = receiver.requests
    assert headers["Authorization"] == "Bearer s3cret" and headers["X-Team"] == "trust-and-safety"
    assert [m["post_id"] for m in body["matches"]] == ["p1"]
