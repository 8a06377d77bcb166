"""When the database goes away under a running server, requests answer 503 with a clear message."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text

from vigil.db import Database
from vigil.exchange.store import ExchangeStore

from .conftest import PostgresCluster, start_server


@pytest.mark.postgres
def test_database_gone_answers_503(postgres_cluster: PostgresCluster, tmp_path: Path) -> None:
    url = postgres_cluster.new_database()
    db = Database(url, auto_upgrade=True)
    with db.session() as s:
        store = ExchangeStore(s)
        org = store.create_org(None, "p", "platform")
        _, key = store.create_key(None, org.id, "analyst")
    db.dispose()
    server, thread, base = start_server(url, tmp_path)
    try:
        headers = {"Authorization": f"Bearer {key}"}
        assert httpx.get(f"{base}/api/v1/me", headers=headers, timeout=10).status_code == 200
        name = url.rsplit("/", 1)[1]
        admin = create_engine(f"{postgres_cluster.base_url}/postgres", isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()
        response = httpx.get(f"{base}/api/v1/me", headers=headers, timeout=30)
        assert response.status_code == 503
        assert response.json()["error"] == "ServiceUnavailable" and response.headers["retry-after"] == "5"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
