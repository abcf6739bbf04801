"""Fixtures that run the real `arbor` binary for the OpenTelemetry SDK tests.

The binary comes from $ARBOR_BIN (default: <repo>/target/debug/arbor). Every
listener binds port 0; the server writes the chosen addresses to a listen file
once it is ready, which is what the fixture waits for.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from collections.abc import Sequence
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0

# The SDK exporters read OTEL_* variables whenever an argument is left out;
# the tests pass everything explicitly and must not pick up the caller's setup.
for _key in [k for k in os.environ if k.startswith("OTEL_")]:
    del os.environ[_key]
# Never send loopback traffic through a proxy (requests and grpc honour these).
for _key in ("no_proxy", "NO_PROXY"):
    _hosts = [h for h in os.environ.get(_key, "").split(",") if h]
    os.environ[_key] = ",".join(_hosts + ["127.0.0.1", "localhost"])


def arbor_binary() -> Path:
    raw = os.environ.get("ARBOR_BIN")
    if not raw:
        return REPO / "target" / "debug" / "arbor"
    path = Path(raw)
    if not path.is_absolute() and not path.exists():
        path = REPO / path
    return path.resolve()


@dataclass
class Arbor:
    """A running server: its addresses and a few helpers."""

    http: str
    otlp_grpc: str
    otlp_http: str
    zipkin: str
    log_path: Path
    process: subprocess.Popen
    data_dir: Path

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def get(self, path: str, timeout: float = 30.0) -> tuple[int, bytes]:
        """GET on the query API; returns (status, body), never raises on 4xx/5xx."""
        req = urllib.request.Request(f"http://{self.http}{path}", headers={"Accept": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_json(self, path: str) -> tuple[int, object]:
        status, body = self.get(path)
        try:
            return status, json.loads(body) if body else None
        except ValueError:
            return status, body.decode(errors="replace")


def _stop(proc: subprocess.Popen) -> int | None:
    if proc.poll() is not None:
        return proc.returncode
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=STOP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return None


@contextlib.contextmanager
def running_arbor(root: Path, extra_args: Sequence[str] = ()):
    """Runs `arbor serve` (every listener on a free loopback port, data under `root`, and
    `extra_args`) until the block ends; asserts a clean exit on SIGTERM."""
    binary = arbor_binary()
    if not binary.is_file():
        pytest.fail(f"arbor binary not found at {binary} (build it with `cargo build -p arbor` or set ARBOR_BIN)")

    data_dir = root / "data"
    listen_file = root / "listen.json"
    log_path = root / "arbor.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBOR_")}
    env["ARBOR_LOG_LEVEL"] = os.environ.get("ARBOR_TEST_LOG", "info")
    env["NO_COLOR"] = "1"  # a plain log file

    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                str(binary),
                "serve",
                "--data-dir", str(data_dir),
                "--http-listen", "127.0.0.1:0",
                "--otlp-grpc-listen", "127.0.0.1:0",
                "--otlp-http-listen", "127.0.0.1:0",
                "--zipkin-listen", "127.0.0.1:0",
                "--jaeger-listen", "127.0.0.1:0",
                "--listen-file", str(listen_file),
                *extra_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env=env,
        )

    def server_log() -> str:
        try:
            return log_path.read_text(errors="replace")
        except OSError:
            return ""

    addrs = None
    deadline = time.monotonic() + START_TIMEOUT_S
    try:
        while addrs is None:
            try:
                addrs = json.loads(listen_file.read_text())
            except (OSError, ValueError):
                addrs = None
            if addrs is not None:
                break
            if proc.poll() is not None:
                pytest.fail(f"arbor exited during start (code {proc.returncode}); log:\n{server_log()}")
            if time.monotonic() > deadline:
                pytest.fail(f"arbor did not write {listen_file} within {START_TIMEOUT_S:.0f}s; log:\n{server_log()}")
            time.sleep(0.02)
    except BaseException:
        _stop(proc)
        raise

    server = Arbor(
        http=addrs["http"],
        otlp_grpc=addrs["otlp_grpc"],
        otlp_http=addrs["otlp_http"],
        zipkin=addrs["zipkin"],
        log_path=log_path,
        process=proc,
        data_dir=data_dir,
    )
    try:
        yield server
    finally:
        code = _stop(proc)
    assert code == 0, f"arbor did not exit cleanly on SIGTERM (exit {code}); log:\n{server.log()}"


@pytest.fixture(scope="module")
def arbor(tmp_path_factory: pytest.TempPathFactory):
    with running_arbor(tmp_path_factory.mktemp("arbor")) as server:
        yield server


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Attach the server log to failing tests that used the server."""
    report = yield
    if report.failed and "arbor" in getattr(item, "funcargs", {}):
        report.sections.append(("arbor server log", item.funcargs["arbor"].log()))
    return report
