"""End-to-end: the OpenTelemetry Python SDK exports to an arbor that requires a
token, with the token given the standard way (an `Authorization: Bearer …`
header on the exporter), over plain HTTP and over TLS (OTLP/HTTP and OTLP/gRPC);
the same export without the token fails, and a reader token reads the spans back.

The TLS certificates are made by the `openssl` command at test time; every
client trusts the test CA explicitly (no verification is turned off).
"""

from __future__ import annotations

import http.client
import json
import re
import shutil
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conftest import arbor_binary, running_arbor

TENANT = "py"
READ_TIMEOUT_S = 30.0


def mint(name: str, grants: str) -> tuple[str, str]:
    """`arbor token`: the token (stderr) and its file entry (stdout)."""
    r = subprocess.run(
        [str(arbor_binary()), "token", "--name", name, "--tenant", TENANT, "--grant", grants],
        capture_output=True,
        text=True,
        check=True,
    )
    m = re.search(r"arbor_[0-9a-f]+", r.stderr)
    assert m, r.stderr
    return m.group(0), r.stdout


def openssl(*args: str, cwd: Path) -> None:
    r = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert r.returncode == 0, f"openssl {' '.join(args)}:\n{r.stderr}"


def make_certs(d: Path) -> tuple[Path, Path, Path]:
    """A CA and a server certificate for 127.0.0.1 and localhost: (ca, cert, key)."""
    if shutil.which("openssl") is None:
        pytest.fail("the openssl command is needed to make the test certificates (apt-get install openssl)")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=arbor python test CA", cwd=d)
    openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=arbor", cwd=d)
    (d / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n"
        "keyUsage=digitalSignature\nbasicConstraints=CA:FALSE\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "ext.cnf", cwd=d)
    return d / "ca.pem", d / "server.pem", d / "server.key"


class Recording(SpanExporter):
    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans):
        r = self.inner.export(spans)
        self.results.append(r)
        return r

    def shutdown(self):
        self.inner.shutdown()


def export_one(exporter: SpanExporter, label: str) -> tuple[int, list[SpanExportResult]]:
    """Records a trace of two spans through `exporter`; returns its ID and the results."""
    rec = Recording(exporter)
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"py-token-{label}"}))
    provider.add_span_processor(SimpleSpanProcessor(rec))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("arbor.e2e.python.token")
    with tracer.start_as_current_span(f"outer {label}") as outer:
        with tracer.start_as_current_span(f"inner {label}"):
            pass
        trace_id = outer.get_span_context().trace_id
    provider.shutdown()
    assert len(memory.get_finished_spans()) == 2
    return trace_id, rec.results


def spans_read(base: str, trace_id: int, token: str, context: ssl.SSLContext | None) -> int:
    """The spans of a trace the Tempo API answers with to `token` (0 until it is there)."""
    req = urllib.request.Request(
        f"{base}/api/traces/{trace_id:032x}",
        headers={"Accept": "application/json", "Authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=READ_TIMEOUT_S, context=context) as resp:
            body = json.loads(resp.read())
    except urllib.error.HTTPError as e:
        if e.code == 404:
            return 0
        raise
    return sum(len(s.get("spans", [])) for b in body.get("batches", []) for s in b.get("scopeSpans", []))


def wait_for_spans(base: str, trace_id: int, token: str, context: ssl.SSLContext | None = None) -> int:
    deadline = time.monotonic() + READ_TIMEOUT_S  # a bound against a hang, not a speed
    n = spans_read(base, trace_id, token, context)
    while n < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
        n = spans_read(base, trace_id, token, context)
    return n


@pytest.fixture(scope="module")
def tokens(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, Path]:
    d = tmp_path_factory.mktemp("tokens")
    writer, w_entry = mint("python writer", "write")
    reader, r_entry = mint("python reader", "read")
    path = d / "tokens.toml"
    path.write_text(w_entry + r_entry)
    return writer, reader, path


def test_token_over_plain_http(tmp_path: Path, tokens):
    writer, reader, path = tokens
    with running_arbor(tmp_path, ["--auth-tokens-file", str(path)]) as arbor:
        endpoint = f"http://{arbor.otlp_http}/v1/traces"
        trace_id, results = export_one(
            HttpSpanExporter(endpoint=endpoint, headers={"Authorization": f"Bearer {writer}"}, timeout=10), "http"
        )
        assert results and all(r == SpanExportResult.SUCCESS for r in results), arbor.log()
        assert wait_for_spans(f"http://{arbor.http}", trace_id, reader) == 2, arbor.log()

        _, results = export_one(HttpSpanExporter(endpoint=endpoint, timeout=10), "no-token")
        assert results and all(r == SpanExportResult.FAILURE for r in results)


def test_token_over_tls(tmp_path: Path, tokens, monkeypatch: pytest.MonkeyPatch):
    writer, reader, path = tokens
    # requests lets these variables win over a session's own CA file (the exporter's
    # certificate_file): the test CA is to be the one trusted.
    for var in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(var, raising=False)
    ca, cert, key = make_certs(tmp_path)
    args = ["--auth-tokens-file", str(path), "--tls-cert-file", str(cert), "--tls-key-file", str(key)]
    context = ssl.create_default_context(cafile=str(ca))
    with running_arbor(tmp_path, args) as arbor:
        base = f"https://{arbor.http}"
        # OTLP/HTTP over TLS, trusting the test CA.
        https_exporter = HttpSpanExporter(
            endpoint=f"https://{arbor.otlp_http}/v1/traces",
            certificate_file=str(ca),
            headers={"Authorization": f"Bearer {writer}"},
            timeout=10,
        )
        trace_id, results = export_one(https_exporter, "https")
        assert results and all(r == SpanExportResult.SUCCESS for r in results), arbor.log()
        assert wait_for_spans(base, trace_id, reader, context) == 2, arbor.log()

        # OTLP/gRPC over TLS, trusting the test CA.
        grpc_exporter = GrpcSpanExporter(
            endpoint=f"https://{arbor.otlp_grpc}",
            credentials=grpc.ssl_channel_credentials(root_certificates=ca.read_bytes()),
            headers=(("authorization", f"Bearer {writer}"),),
            timeout=10,
        )
        trace_id, results = export_one(grpc_exporter, "grpcs")
        assert results and all(r == SpanExportResult.SUCCESS for r in results), arbor.log()
        assert wait_for_spans(base, trace_id, reader, context) == 2, arbor.log()

        # Without the token: refused over both.
        _, results = export_one(
            HttpSpanExporter(endpoint=f"https://{arbor.otlp_http}/v1/traces", certificate_file=str(ca), timeout=10),
            "https-no-token",
        )
        assert results and all(r == SpanExportResult.FAILURE for r in results)
        _, results = export_one(
            GrpcSpanExporter(
                endpoint=f"https://{arbor.otlp_grpc}",
                credentials=grpc.ssl_channel_credentials(root_certificates=ca.read_bytes()),
                timeout=10,
            ),
            "grpcs-no-token",
        )
        assert results and all(r == SpanExportResult.FAILURE for r in results)

        # Plain HTTP to the TLS listener is not served.
        with pytest.raises((urllib.error.URLError, http.client.HTTPException, OSError)):
            urllib.request.urlopen(f"http://{arbor.http}/ready", timeout=READ_TIMEOUT_S)
