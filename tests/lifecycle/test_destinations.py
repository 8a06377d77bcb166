"""Webhook destinations: the policy refuses loopback, private, link-local, metadata and other
non-public addresses, plain http and hosts outside push_allowed_hosts, at subscription time (store,
REST 400 over a real server with the default settings, CLI) and again at delivery time, where a
refusal is an error recorded on the delivery; a delivery connects to the address that was checked."""

from __future__ import annotations

import os
import ssl
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
from sqlalchemy import select

from vigil.core.errors import InputError
from vigil.db import Database
from vigil.exchange import push
from vigil.exchange.destinations import DestinationPolicy, check_destination, refusal
from vigil.exchange.lifecycle_models import DeliveryRow
from vigil.exchange.records import TLP, Marking
from vigil.exchange.store import ExchangeStore

from .conftest import Receiver, push_settings, seed, start_server

STRICT = DestinationPolicy()


def dns(table: dict[str, Sequence[str]]):  # type: ignore[no-untyped-def]
    """A resolver answering from ``table`` (what a DNS server would say at that moment)."""

    def resolve(host: str, port: int) -> Sequence[str]:
        if host not in table:
            raise OSError(f"no such host {host}")
        return table[host]

    return resolve


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped IPv6 is unwrapped
        ("169.254.169.254", "link-local"),  # cloud metadata service
        ("fe80::1", "link-local"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.10", "private"),
        ("fd00::1", "private"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("240.0.0.1", "reserved"),
        ("100.64.0.1", "not a publicly routable"),  # carrier-grade NAT
        ("9.9.9.9", None),
        ("2620:fe::fe", None),
    ],
)
def test_refusal_of_addresses(address: str, reason: str | None) -> None:
    why = refusal(address)
    assert (why is None) if reason is None else (why is not None and reason in why)


def test_policy_rules() -> None:
    public = dns({"hooks.example.org": ["9.9.9.9"], "internal.example.org": ["10.0.0.7"]})
    ok = check_destination("https://hooks.example.org/in", STRICT, resolve=public)
    assert ok.addresses == ("9.9.9.9",) and ok.port == 443
    cases = {
        "http://hooks.example.org/in": "https is required",
        "ftp://hooks.example.org/in": "only http(s)",
        "https://internal.example.org/": "10.0.0.7 is a private address",
        "https://127.0.0.1:8000/": "loopback",
        "https://[::1]/": "loopback",
        "https://169.254.169.254/latest/meta-data/": "link-local",
        "https://user:pw@hooks.example.org/": "credentials",
        "https://nowhere.example.org/": "does not resolve",
    }
    for url, reason in cases.items():
        with pytest.raises(InputError) as err:
            check_destination(url, STRICT, resolve=public)
        assert url in err.value.message and reason in err.value.message, err.value.message
        assert err.value.details["field"] == "url"
    # every address counts: one private answer among public ones is refused
    mixed = dns({"mixed.example.org": ["9.9.9.9", "192.168.0.5"]})
    with pytest.raises(InputError, match=r"192\.168\.0\.5 is a private"):
        check_destination("https://mixed.example.org/", STRICT, resolve=mixed)
    # allowances
    assert check_destination(
        "http://127.0.0.1:9/", DestinationPolicy(allow_private=True, allow_http=True), resolve=public
    ).addresses == ("127.0.0.1",)
    only = DestinationPolicy(allowed_hosts=("*.example.org",))
    assert check_destination("https://hooks.example.org/", only, resolve=public).host == "hooks.example.org"
    with pytest.raises(InputError, match="not in push_allowed_hosts"):
        check_destination("https://9.9.9.9/", only, resolve=public)
    exact = DestinationPolicy(allowed_hosts=("internal.example.org",), allow_private=True)
    assert check_destination("https://internal.example.org/", exact, resolve=public).addresses == (
        "10.0.0.7",
    )


def test_subscription_refused_with_default_settings_store_and_rest(db: Database, tmp_path: Path) -> None:
    from vigil.core.settings import load_settings

    strict = load_settings(data_dir=tmp_path)  # the defaults: https, public addresses only
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        with pytest.raises(InputError, match=r"'https://10\.0\.0\.1/x' refused: 10\.0\.0\.1 is a private"):
            push.create_subscription(store, c.principals["gov"], "x", "https://10.0.0.1/x", settings=strict)
        made, _ = push.create_subscription(
            store, c.principals["gov"], "x", "https://9.9.9.9/hook", settings=strict
        )
        assert made.url == "https://9.9.9.9/hook"
    server, thread, base = start_server(db.url, tmp_path)  # default destination policy
    try:
        import httpx

        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {c.keys['gov']}"}) as http:
            for url, reason in (
                ("http://127.0.0.1:8000/hook", "https is required"),
                ("https://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
                ("https://192.168.0.1/", "private"),
            ):
                refused = http.post("/api/v1/subscriptions", json={"name": "x", "url": url})
                assert refused.status_code == 400
                body = refused.json()
                assert url in body["message"] and reason in body["message"]
                assert body["details"]["field"] == "url"
            listed = http.get("/api/v1/subscriptions").json()
            assert [x["url"] for x in listed] == ["https://9.9.9.9/hook"]  # nothing else stored
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_cli_subscribe_refuses_a_private_url(db: Database, tmp_path: Path) -> None:
    import subprocess

    with db.session() as s:
        seed(ExchangeStore(s))
    env = {**os.environ, "VIGIL_DATABASE_URL": db.url, "VIGIL_DATA_DIR": str(tmp_path)}
    env = {k: v for k, v in env.items() if not k.startswith("VIGIL_PUSH_")}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "vigil"),
            "push",
            "subscribe",
            "https://10.9.8.7/h",
            "--org",
            "Org gov",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "10.9.8.7 is a private address (push_allow_private is off)" in " ".join(done.stderr.split())


def test_delivery_rechecks_dns_and_connects_to_the_checked_address(
    db: Database, receiver: Receiver, tmp_path: Path
) -> None:
    port = receiver.server.server_address[1]
    url = f"http://hooks.example.org:{port}/hook"
    # The operator allows http and this one internal host name, not private addresses in general:
    # at subscription time the name is public.
    public_now = dns({"hooks.example.org": ["9.9.9.9"]})
    settings = push_settings(tmp_path, push_allow_private=False, push_backoff_s=0.01, push_timeout_s=2)
    with db.session() as s:
        store = ExchangeStore(s)
        c = seed(store)
        sub, receiver.secret = push.create_subscription(
            store, c.principals["gov"], "hook", url, settings=settings, resolve=public_now
        )
        store.submit_signal(c.principals["p1"], "domain", "rebind.info", marking=Marking(TLP.GREEN))
    # DNS now points the name at the loopback address (rebinding): refused, recorded, not sent
    rebound = dns({"hooks.example.org": ["127.0.0.1"]})
    _, sent = push.run_once(db, settings, resolve=rebound)
    assert (sent.attempted, sent.delivered, sent.retrying) == (1, 0, 1) and receiver.received == []
    assert "destination refused" in sent.errors[0] and "127.0.0.1 is a loopback address" in sent.errors[0]
    with db.session() as s:
        (row,) = s.scalars(select(DeliveryRow)).all()
        assert row.status == push.PENDING and row.attempts == 1
        assert row.last_error is not None and "127.0.0.1 is a loopback address" in row.last_error
    # With private addresses allowed, the name resolves to the receiver: the request goes to the
    # checked address and names the host, as the URL did.
    import time

    time.sleep(0.05)  # the backoff
    allowed = push_settings(tmp_path, push_backoff_s=0.01, push_timeout_s=2)
    _, sent = push.run_once(db, allowed, resolve=dns({"hooks.example.org": ["127.0.0.1"]}))
    assert sent.delivered == 1 and receiver.received[0].verified
    assert receiver.received[0].headers["host"] == f"hooks.example.org:{port}"
    # an unreachable checked address first, then the live one: the next checked address is tried
    with db.session() as s:
        ExchangeStore(s).submit_signal(
            c.principals["p1"], "domain", "second.info", marking=Marking(TLP.GREEN)
        )
    two = dns({"hooks.example.org": ["127.0.0.2", "127.0.0.1"]})
    _, sent = push.run_once(db, allowed, resolve=two)
    assert sent.delivered == 1 and len(receiver.received) == 2
    assert sub.url == url


def _certificates(tmp_path: Path, host: str) -> tuple[Path, ssl.SSLContext]:
    """A throw-away CA (its PEM file, for SSL_CERT_FILE) and a server context for ``host``."""
    import datetime as dt

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    now = dt.datetime.now(dt.UTC)

    Key = ec.EllipticCurvePrivateKey

    def cert(subject: str, key: Key, issuer: x509.Name, signer: Key, ca: bool) -> x509.Certificate:
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            )
        else:
            builder = builder.add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            ).add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        return builder.sign(signer, hashes.SHA256())

    ca_key, host_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Vigil test CA")])
    ca_cert = cert("Vigil test CA", ca_key, ca_name, ca_key, True)
    host_cert = cert(host, host_key, ca_name, ca_key, False)
    pem = serialization.Encoding.PEM
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_cert.public_bytes(pem))
    chain = tmp_path / "host.pem"
    chain.write_bytes(
        host_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + host_cert.public_bytes(pem)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain)
    return ca_file, context


def test_https_delivery_to_the_checked_address_verifies_the_host_name(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca_file, context = _certificates(tmp_path, "hooks.example.org")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # httpx trusts the test CA
    receiver = Receiver(tls=context)
    try:
        port = receiver.server.server_address[1]
        # https only (the default); the receiver's address is private, which the operator allows
        settings = push_settings(tmp_path, push_allow_http=False, push_timeout_s=5)
        here = dns({"hooks.example.org": ["127.0.0.1"], "other.example.org": ["127.0.0.1"]})
        with db.session() as s:
            store = ExchangeStore(s)
            c = seed(store)
            _, receiver.secret = push.create_subscription(
                store, c.principals["gov"], "tls", f"https://hooks.example.org:{port}/hook",
                settings=settings, resolve=here,
            )  # fmt: skip
            # same address, a name the certificate does not cover: must fail verification
            push.create_subscription(
                store, c.principals["gov"], "wrong name", f"https://other.example.org:{port}/hook",
                settings=settings, resolve=here,
            )  # fmt: skip
            store.submit_signal(c.principals["p1"], "domain", "tls.info", marking=Marking(TLP.GREEN))
        _, sent = push.run_once(db, settings, resolve=here)
        assert (sent.attempted, sent.delivered, sent.retrying) == (2, 1, 1)
        assert [r.headers["host"] for r in receiver.received] == [f"hooks.example.org:{port}"]
        assert receiver.received[0].verified
        [error] = sent.errors
        assert "other.example.org" in error and "certificate" in error.lower()
    finally:
        receiver.close()
