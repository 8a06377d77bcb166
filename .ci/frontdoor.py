"""The front door, as a newcomer walks through it: run by ``./dev test`` (and so by CI).

1. ``./dev demo --no-serve`` in a throw-away virtual environment (``VIGIL_VENV``), so it installs
   exactly what a newcomer's ``./dev demo`` installs: the base package, no test or bench extra
   (those pull in packages, such as Flask's ``itsdangerous``, that would hide an undeclared
   dependency). Small data (``VIGIL_DEMO_POSTS``, default 5000).
2. ``vigil serve`` on a free port from that environment; a second ``vigil serve`` on the same port
   must fail in one line naming the port and ``--port``.
3. Sign in to the dashboard with a key the demo printed (real HTTP, the session cookie), open a page.
4. Read TAXII 2.1 discovery, the API root's collections and one collection's objects with a key.
5. Stop the server (SIGTERM) and remove the environment.

Standard library only: it runs with the system Python, outside every Vigil environment. Exits 1
naming the failed step (and the tail of its log). pip's cache is reused, so a repeat run does not
compile pdqhash again.
"""

from __future__ import annotations

import base64
import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TAXII = "application/taxii+json;version=2.1"


class Failed(Exception):
    pass


def log(message: str) -> None:
    print(f"front door: {message}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text("utf-8", "replace").splitlines()[-lines:])
    except OSError:
        return ""


def request(
    port: int,
    method: str,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        answer = conn.getresponse()
        data = answer.read()
        return answer.status, {k.lower(): v for k, v in answer.getheaders()}, data
    finally:
        conn.close()


def step(name: str, timings: list[tuple[str, float]], action: Callable[[], Any]) -> Any:
    started = time.monotonic()
    try:
        result = action()
    except Failed as exc:
        raise Failed(f"{name}: {exc}") from None
    timings.append((name, time.monotonic() - started))
    log(f"{name}: ok ({timings[-1][1]:.1f} s)")
    return result


def run_demo(venv: Path, demo_dir: Path, log_path: Path) -> dict[str, Any]:
    env = {
        **os.environ,
        "VIGIL_VENV": str(venv),
        "VIGIL_DEMO_DIR": str(demo_dir),
        "VIGIL_DEMO_POSTS": os.environ.get("VIGIL_FRONTDOOR_POSTS", "5000"),
        "COLUMNS": "160",
        # The same packages as a newcomer's install, without byte-compiling all of them up front
        # (about a third of the install's time on 2 cores); Python compiles what it imports.
        "PIP_NO_COMPILE": "1",
    }
    # Not the developer's settings: the demo and server use only what the demo directory holds.
    kept = {"VIGIL_VENV", "VIGIL_DEMO_DIR", "VIGIL_DEMO_POSTS"}
    for name in [n for n in env if n.startswith("VIGIL_") and n not in kept]:
        env.pop(name)
    with log_path.open("wb") as out:
        done = subprocess.run(
            [str(ROOT / "dev"), "demo", "--no-serve"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=600,
        )
    text = log_path.read_text("utf-8", "replace")
    if done.returncode != 0:
        raise Failed(f"exit {done.returncode}:\n{tail(log_path)}")
    if "Demo keys" not in text:
        raise Failed(f"no 'Demo keys' table in the output:\n{tail(log_path)}")
    keys_file = demo_dir / "demo-keys.json"
    if not keys_file.is_file():
        raise Failed(f"{keys_file} was not written")
    keys: dict[str, Any] = json.loads(keys_file.read_text("utf-8"))["keys"]
    printed = re.findall(r"vigil_[0-9a-f]{12}_[A-Za-z0-9_-]+", text)
    if keys["Examplebook"]["analyst"] not in printed:
        raise Failed("the printed keys are not those of demo-keys.json")
    # Nothing of the test or bench extras: the environment holds what a newcomer's holds.
    extras = subprocess.run(
        [
            str(venv / "bin" / "python"),
            "-c",
            "import importlib.util as u; "
            "print([m for m in ('pytest', 'medallion', 'flask', 'playwright') if u.find_spec(m)])",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if extras != "[]":
        raise Failed(f"the demo environment holds packages of the test/bench extras: {extras}")
    return keys


def start_server(venv: Path, demo_dir: Path, port: int, log_path: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
    with log_path.open("wb") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "vigil"), "serve", "--data-dir", str(demo_dir), "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise Failed(f"vigil serve exited with {server.returncode}:\n{tail(log_path)}")
        try:
            status, _, _ = request(port, "GET", "/login")
            if status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise Failed(f"vigil serve did not answer on port {port} within 60 s:\n{tail(log_path)}")


def port_taken(venv: Path, demo_dir: Path, port: int) -> None:
    done = subprocess.run(
        [str(venv / "bin" / "vigil"), "serve", "--data-dir", str(demo_dir), "--port", str(port)],
        env={**{k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}, "COLUMNS": "200"},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if done.returncode == 0:
        raise Failed("a second vigil serve on a taken port exited 0")
    errors = [line for line in done.stderr.splitlines() if line.strip()]
    if len(errors) != 1 or str(port) not in errors[0] or "--port" not in errors[0] or "Errno" in errors[0]:
        raise Failed(f"expected one line naming port {port} and --port, got:\n{done.stderr}")


def sign_in(port: int, key: str, org: str) -> None:
    body = urllib.parse.urlencode({"api_key": key, "next": "/"}).encode()
    status, headers, page = request(
        port,
        "POST",
        "/login",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        body=body,
    )
    if status not in (302, 303):
        raise Failed(f"POST /login answered {status}: {page[:300]!r}")
    cookie = headers.get("set-cookie", "").split(";", 1)[0]
    if not cookie.startswith("vigil_session="):
        raise Failed(f"POST /login set no session cookie (set-cookie: {headers.get('set-cookie')!r})")
    for path in (headers.get("location", "/"), "/cases", "/meetings"):
        status, _, page = request(port, "GET", path, headers={"Cookie": cookie})
        if status != 200 or org.encode() not in page:
            raise Failed(f"GET {path} signed in answered {status} without {org!r}")
    status, _, _ = request(port, "GET", "/cases")  # no cookie: not signed in
    if status == 200:
        raise Failed("GET /cases without a session answered 200")


def taxii(port: int, key: str) -> int:
    auth = "Basic " + base64.b64encode(f"frontdoor:{key}".encode()).decode()
    headers = {"Accept": TAXII, "Authorization": auth}

    def get(path: str) -> dict[str, Any]:
        status, answer_headers, body = request(port, "GET", path, headers=headers)
        if status != 200:
            raise Failed(f"GET {path} answered {status}: {body[:300]!r}")
        if not answer_headers.get("content-type", "").startswith("application/taxii+json"):
            raise Failed(f"GET {path}: content type {answer_headers.get('content-type')!r}")
        found: dict[str, Any] = json.loads(body)
        return found

    status, _, _ = request(port, "GET", "/taxii2/", headers={"Accept": TAXII})
    if status != 401:
        raise Failed(f"TAXII discovery without a key answered {status}, not 401")
    discovery = get("/taxii2/")
    roots = discovery.get("api_roots") or []
    if not roots:
        raise Failed(f"discovery lists no API root: {discovery}")
    root_path = urllib.parse.urlsplit(str(roots[0])).path.rstrip("/") + "/"
    collections = get(root_path + "collections/").get("collections") or []
    readable = [c for c in collections if c.get("can_read")]
    if not readable:
        raise Failed(f"no readable collection under {root_path}")
    counts = []
    for collection in readable:
        objects = get(f"{root_path}collections/{collection['id']}/objects/").get("objects") or []
        counts.append(len(objects))
        if objects:
            return len(objects)
    raise Failed(f"every readable collection was empty ({counts})")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is not None:
        return
    os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait()


def main() -> int:
    started = time.monotonic()
    timings: list[tuple[str, float]] = []
    work = Path(tempfile.mkdtemp(prefix="vigil-frontdoor-"))
    venv, demo_dir = work / "venv", work / "demo"
    server: subprocess.Popen[bytes] | None = None
    try:
        keys = step(
            "./dev demo --no-serve (base install only)",
            timings,
            lambda: run_demo(venv, demo_dir, work / "demo.log"),
        )
        port = free_port()
        server = step(
            f"vigil serve --port {port}",
            timings,
            lambda: start_server(venv, demo_dir, port, work / "serve.log"),
        )
        step("a second vigil serve on the same port", timings, lambda: port_taken(venv, demo_dir, port))
        step(
            "dashboard sign-in with a printed key",
            timings,
            lambda: sign_in(port, keys["Examplebook"]["analyst"], "Examplebook"),
        )
        objects = step(
            "TAXII discovery, collections, objects", timings, lambda: taxii(port, keys["Chirper"]["analyst"])
        )
        step("stop the server", timings, lambda: stop_server(server) if server else None)
        if server is not None and server.returncode not in (0, -signal.SIGTERM):
            raise Failed(f"vigil serve exited {server.returncode} on SIGTERM:\n{tail(work / 'serve.log')}")
        log(f"passed in {time.monotonic() - started:.1f} s ({objects} TAXII objects read)")
        return 0
    except Failed as exc:
        log(f"FAILED: {exc}")
        return 1
    finally:
        if server is not None:
            stop_server(server)
        # The environment is ~1 GB of small files: removed by a detached rm while the next step
        # (pytest) runs, instead of holding ./dev test up for most of a minute of disk I/O.
        subprocess.Popen(
            ["rm", "-rf", str(work)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )


if __name__ == "__main__":
    sys.exit(main())
