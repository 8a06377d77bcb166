"""What sealing secrets and checking destinations cost a webhook delivery, measured in one run:

1. primitives, ``--n`` times each: ``SecretBox.seal`` / ``open`` (Fernet, what Vigil uses) against
   AES-256-GCM from the same library (the other maintained choice), HMAC-SHA256 signing of a 2 KB
   body (what every delivery does anyway), and ``check_destination`` for an IP literal and for
   ``localhost`` (a real resolver lookup);
2. end to end: ``--deliveries`` webhooks queued and sent by ``push.run_once`` to a local receiver
   (HTTP server thread), so the per-delivery cost of open + check can be set against a delivery.

    python bench/push_secrets.py                 # 5,000 primitives, 300 deliveries
    python bench/push_secrets.py --n 20000 --deliveries 1000

Figures depend on the machine; on a shared machine say so next to them.
"""

from __future__ import annotations

import argparse
import os
import secrets
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from vigil.core.settings import load_settings
from vigil.db import Database
from vigil.exchange import push
from vigil.exchange.destinations import DestinationPolicy, check_destination
from vigil.exchange.records import TLP, Marking
from vigil.exchange.secrets_box import SecretBox, generate_key
from vigil.exchange.stix_service import local_principal
from vigil.exchange.store import ExchangeStore, SignalSubmission


def per_call(fn: Callable[[], object], n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1e6  # microseconds


def primitives(n: int) -> None:
    secret = secrets.token_urlsafe(32)
    box = SecretBox([generate_key(), generate_key()], source="bench")
    sealed = box.seal(secret)
    gcm = AESGCM(AESGCM.generate_key(bit_length=256))
    nonce = os.urandom(12)
    ct = gcm.encrypt(nonce, secret.encode(), None)
    body = os.urandom(1024).hex().encode()
    loose = DestinationPolicy(allow_private=True, allow_http=True)
    strict = DestinationPolicy()
    secret_b = secret.encode()
    rows = [
        ("Fernet seal (SecretBox.seal)", per_call(lambda: box.seal(secret), n)),
        ("Fernet open (SecretBox.open)", per_call(lambda: box.open(sealed), n)),
        ("peer: AES-256-GCM encrypt", per_call(lambda: gcm.encrypt(os.urandom(12), secret_b, None), n)),
        ("peer: AES-256-GCM decrypt", per_call(lambda: gcm.decrypt(nonce, ct, None), n)),
        ("HMAC-SHA256 sign, 2 KB body", per_call(lambda: push.sign(secret, 1_800_000_000, body), n)),
        (
            "check_destination, IP literal",
            per_call(lambda: check_destination("https://9.9.9.9/h", strict), n),
        ),
        (
            "check_destination, localhost",
            per_call(lambda: check_destination("http://localhost:9/h", loose), n),
        ),
    ]
    print(f"{'step':40} {'µs/call':>10}")
    for name, us in rows:
        print(f"{name:40} {us:10.1f}")
    print(f"Fernet open / AES-GCM decrypt: {rows[1][1] / rows[3][1]:.1f}x")


def end_to_end(count: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(data_dir=Path(tmp), push_allow_http=True, push_allow_private=True)
        db = Database(f"sqlite:///{tmp}/bench.db", auto_upgrade=True)
        with db.session() as s:
            store = ExchangeStore(s)
            platform = store.create_org(None, "Platform", "platform")
            gov = store.create_org(None, "Gov", "government")
            push.create_subscription(store, local_principal(store, gov.id), "hook", url, settings=settings)
            store.submit_signals(
                local_principal(store, platform.id),
                [SignalSubmission("domain", f"d{i}.info", Marking(TLP.GREEN)) for i in range(count)],
            )
        start = time.perf_counter()
        queued, sent = push.run_once(db, settings)
        while sent.attempted:
            _, sent = push.run_once(db, settings)
        wall = time.perf_counter() - start
        db.dispose()
    server.shutdown()
    print(
        f"end to end: {queued.enqueued} deliveries queued and sent in {wall:.2f} s "
        f"({wall / max(1, queued.enqueued) * 1e3:.2f} ms per delivery, open + check included)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--deliveries", type=int, default=300)
    args = parser.parse_args()
    primitives(args.n)
    end_to_end(args.deliveries)


if __name__ == "__main__":
    main()
