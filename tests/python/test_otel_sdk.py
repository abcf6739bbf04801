"""End-to-end: the real OpenTelemetry Python SDK exports to a running arbor,
and every span comes back by trace ID with every field intact.

The truth is what the SDK itself recorded: an InMemorySpanExporter sits next
to the OTLP exporter on the same TracerProvider.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Sequence

import grpc
import pytest
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcSpanExporter
from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags, TraceState

SCOPE_NAME = "arbor.e2e.python"
SCOPE_VERSION = "1.2.3"
SCOPE_SCHEMA = "https://opentelemetry.io/schemas/1.26.0"
RESOURCE_SCHEMA = "https://opentelemetry.io/schemas/1.25.0"

# Attributes of every type the API allows, including the edge values that
# proto3 JSON encoders like to drop (0, "", false) and an int64 past 2^53.
ALL_TYPES = {
    "str": "hello, arbor",
    "str.empty": "",
    "str.unicode": "naïve ☃ 日本",
    "int": 42,
    "int.zero": 0,
    "int.negative": -7,
    "int.big": 9_007_199_254_740_993,  # 2^53 + 1: must not go through a double
    "int.min": -(2**63),
    "float": 3.14159,
    "float.negative": -0.5,
    "float.whole": 2.0,
    "bool.true": True,
    "bool.false": False,
    "array.str": ("a", "b", ""),
    "array.int": (1, -2, 9_007_199_254_740_993),
    "array.float": (1.5, -2.25, 0.1),
    "array.bool": (True, False, True),
}


class RecordingExporter(SpanExporter):
    """Delegates to the OTLP exporter and remembers every result, so that a
    failed export shows up as such and not as a missing trace."""

    def __init__(self, inner: SpanExporter):
        self.inner = inner
        self.results: list[SpanExportResult] = []

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        result = self.inner.export(spans)
        self.results.append(result)
        return result

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)


def make_exporter(arbor, transport: str, gzip: bool) -> SpanExporter:
    if transport == "grpc":
        return GrpcSpanExporter(
            endpoint=f"http://{arbor.otlp_grpc}",
            insecure=True,
            compression=grpc.Compression.Gzip if gzip else grpc.Compression.NoCompression,
            timeout=10,
        )
    return HttpSpanExporter(
        endpoint=f"http://{arbor.otlp_http}/v1/traces",
        compression=HttpCompression.Gzip if gzip else HttpCompression.NoCompression,
        timeout=10,
    )


def emit_trace(provider: TracerProvider, label: str) -> int:
    """Records one trace of several spans; returns its trace ID."""
    tracer = provider.get_tracer(SCOPE_NAME, SCOPE_VERSION, schema_url=SCOPE_SCHEMA, attributes={"scope.attr": label})
    rng = random.Random(label)
    linked = SpanContext(
        trace_id=rng.getrandbits(128) | 1,
        span_id=rng.getrandbits(64) | 1,
        is_remote=True,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
        trace_state=TraceState([("vendor", "v1"), ("other", "x")]),
    )
    with tracer.start_as_current_span(
        f"GET /checkout {label}", kind=SpanKind.SERVER, attributes=ALL_TYPES
    ) as root:
        root.add_event(
            "request.received",
            attributes={"bytes": 1234, "path": "/checkout", "ratio": 0.25, "cached": False, "tags": ("x", "y")},
        )
        root.add_event("no.attributes")
        with tracer.start_as_current_span(
            "POST /payments",
            kind=SpanKind.CLIENT,
            links=[Link(linked, attributes={"link.reason": "retry-of", "link.attempt": 2})],
        ) as client:
            client.set_attribute("http.request.method", "POST")
            client.set_attribute("http.response.status_code", 502)
            client.set_status(Status(StatusCode.ERROR, "payment gateway returned 502"))
            with tracer.start_as_current_span("validate card", kind=SpanKind.INTERNAL) as internal:
                internal.set_attribute("card.checks", ("luhn", "expiry"))
                try:
                    raise ValueError("card number fails the Luhn check")
                except ValueError as err:
                    internal.record_exception(err, attributes={"exception.handled": True})
                internal.set_status(Status(StatusCode.ERROR, "invalid card"))
        with tracer.start_as_current_span("orders publish", kind=SpanKind.PRODUCER) as producer:
            producer.set_attribute("messaging.system", "kafka")
        with tracer.start_as_current_span("orders process", kind=SpanKind.CONSUMER) as consumer:
            consumer.set_status(Status(StatusCode.OK))
        root.set_status(Status(StatusCode.OK))
        return root.get_span_context().trace_id


# --- What the query API should answer, computed from the SDK's own records ---


def any_value(v) -> dict:
    if isinstance(v, bool):
        return {"boolValue": v}
    if isinstance(v, int):
        return {"intValue": str(v)}
    if isinstance(v, float):
        return {"doubleValue": v}
    if isinstance(v, str):
        return {"stringValue": v}
    if isinstance(v, bytes):
        return {"bytesValue": base64.b64encode(v).decode()}
    if isinstance(v, (list, tuple)):
        return {"arrayValue": {"values": [any_value(x) for x in v]}} if v else {"arrayValue": {}}
    raise TypeError(f"unexpected attribute value {v!r}")


def key_values(attrs) -> list[dict]:
    return [{"key": k, "value": any_value(v)} for k, v in (attrs or {}).items()]


def hex_trace(trace_id: int) -> str:
    return f"{trace_id:032x}"


def hex_span(span_id: int) -> str:
    return f"{span_id:016x}"


def attrs_by_key(kvs: list[dict]) -> dict:
    return {kv["key"]: kv.get("value", {}) for kv in kvs or []}


def flatten(batches: list[dict]) -> dict[str, tuple[dict, dict, dict]]:
    """spanId -> (resourceSpans without scopeSpans, scopeSpans without spans, span)."""
    out = {}
    for rs in batches:
        resource = {k: v for k, v in rs.items() if k != "scopeSpans"}
        for ss in rs.get("scopeSpans", []):
            scope = {k: v for k, v in ss.items() if k != "spans"}
            for span in ss.get("spans", []):
                assert span["spanId"] not in out, f"span {span['spanId']} returned twice"
                out[span["spanId"]] = (resource, scope, span)
    return out


def sdk_encoding(spans: Sequence[ReadableSpan]) -> dict[str, tuple[dict, dict, dict]]:
    """The SDK's own OTLP encoding of the spans, as OTLP/JSON."""
    request = MessageToDict(encode_spans(spans), use_integers_for_enums=True)

    def fix_ids(obj):
        if isinstance(obj, dict):
            return {
                k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") else fix_ids(v))
                for k, v in obj.items()
            }
        if isinstance(obj, list):
            return [fix_ids(x) for x in obj]
        return obj

    return flatten(fix_ids(request)["resourceSpans"])


def check_trace(batches: list[dict], sdk_spans: Sequence[ReadableSpan], resource: Resource) -> None:
    got = flatten(batches)
    assert len(got) == len(sdk_spans), f"span count: got {sorted(got)}, sent {len(sdk_spans)}"

    for sdk in sdk_spans:
        ctx = sdk.get_span_context()
        sid = hex_span(ctx.span_id)
        assert sid in got, f"span {sdk.name!r} ({sid}) missing"
        res, scope, span = got[sid]
        what = f"span {sdk.name!r}"

        assert span["traceId"] == hex_trace(ctx.trace_id), what
        assert span["name"] == sdk.name, what
        assert span.get("kind") == sdk.kind.value + 1, f"{what}: kind"
        if sdk.parent is None:
            assert "parentSpanId" not in span or span["parentSpanId"] == "", f"{what}: root has no parent"
        else:
            assert span.get("parentSpanId") == hex_span(sdk.parent.span_id), f"{what}: parent"
        assert span["startTimeUnixNano"] == str(sdk.start_time), f"{what}: start"
        assert span["endTimeUnixNano"] == str(sdk.end_time), f"{what}: end"

        assert span.get("attributes", []) == key_values(sdk.attributes), f"{what}: attributes"

        want_events = [
            {"timeUnixNano": str(e.timestamp), "name": e.name, **({"attributes": key_values(e.attributes)} if e.attributes else {})}
            for e in sdk.events
        ]
        assert span.get("events", []) == want_events, f"{what}: events"

        # (This SDK version does not export a link's trace state, so none is expected.)
        want_links = []
        for link in sdk.links:
            lc = link.context
            want = {"traceId": hex_trace(lc.trace_id), "spanId": hex_span(lc.span_id)}
            if link.attributes:
                want["attributes"] = key_values(link.attributes)
            # SPAN_FLAGS_CONTEXT_HAS_IS_REMOTE (0x100), plus IS_REMOTE (0x200) for a remote context.
            want["flags"] = 0x100 | (0x200 if lc.is_remote else 0)
            want_links.append(want)
        assert span.get("links", []) == want_links, f"{what}: links"

        want_status = {}
        if sdk.status.status_code != StatusCode.UNSET:
            want_status["code"] = sdk.status.status_code.value
        if sdk.status.description:
            want_status["message"] = sdk.status.description
        assert span.get("status", {}) == want_status, f"{what}: status"

        assert attrs_by_key(res.get("resource", {}).get("attributes")) == {
            k: any_value(v) for k, v in resource.attributes.items()
        }, f"{what}: resource attributes"
        assert res.get("schemaUrl") == RESOURCE_SCHEMA, f"{what}: resource schema URL"
        assert scope.get("scope", {}).get("name") == SCOPE_NAME, f"{what}: scope name"
        assert scope["scope"].get("version") == SCOPE_VERSION, f"{what}: scope version"
        assert scope["scope"].get("attributes") == key_values(sdk.instrumentation_scope.attributes), f"{what}: scope attributes"
        assert scope.get("schemaUrl") == SCOPE_SCHEMA, f"{what}: scope schema URL"

    # And byte for byte what the SDK itself encodes (flags, counts, everything).
    want = sdk_encoding(sdk_spans)
    assert got == want


@pytest.mark.parametrize(
    ("transport", "gzip", "processor"),
    [
        ("grpc", False, BatchSpanProcessor),
        ("grpc", True, SimpleSpanProcessor),
        ("http", False, SimpleSpanProcessor),
        ("http", True, BatchSpanProcessor),
    ],
    ids=["grpc", "grpc-gzip", "http-protobuf", "http-protobuf-gzip"],
)
def test_sdk_trace_round_trip(arbor, transport, gzip, processor):
    resource = Resource.create(
        {
            "service.name": f"checkout-{transport}",
            "service.namespace": "shop",
            "deployment.environment": "e2e",
            "arbor.test.custom": f"{transport}-gzip={gzip}",
            "arbor.test.shard": 3,
        },
        schema_url=RESOURCE_SCHEMA,
    )
    provider = TracerProvider(resource=resource)
    memory = InMemorySpanExporter()
    otlp = RecordingExporter(make_exporter(arbor, transport, gzip))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(processor(otlp))
    try:
        trace_id = emit_trace(provider, f"{transport}-{gzip}-{processor.__name__}")
        assert provider.force_flush(30_000), "force_flush timed out"
    finally:
        provider.shutdown()

    assert otlp.results, "nothing was exported"
    assert all(r == SpanExportResult.SUCCESS for r in otlp.results), f"export results: {otlp.results}"
    sdk_spans = memory.get_finished_spans()
    assert len(sdk_spans) == 5
    assert {s.context.trace_id for s in sdk_spans} == {trace_id}

    tid = hex_trace(trace_id)
    status, body = arbor.get_json(f"/api/traces/{tid}")
    assert status == 200, body
    assert set(body) == {"batches"}, body.keys()
    check_trace(body["batches"], sdk_spans, resource)

    status, v2 = arbor.get_json(f"/api/v2/traces/{tid}")
    assert status == 200, v2
    assert v2["status"] == "COMPLETE"
    check_trace(v2["trace"]["resourceSpans"], sdk_spans, resource)

    # The trace ID is case-insensitive; an unknown one is a 404.
    assert arbor.get_json(f"/api/traces/{tid.upper()}")[0] == 200
    unknown = f"{(trace_id ^ (1 << 100)):032x}"
    assert arbor.get(f"/api/traces/{unknown}")[0] == 404


def test_shared_trace_across_exporters(arbor):
    """One trace whose spans arrive over both transports (as when a client and
    a server in different processes use different exporters) reads back whole."""
    tracers = []
    providers = []
    memory = InMemorySpanExporter()
    for transport in ("grpc", "http"):
        provider = TracerProvider(resource=Resource.create({"service.name": f"svc-{transport}"}))
        provider.add_span_processor(SimpleSpanProcessor(memory))
        provider.add_span_processor(SimpleSpanProcessor(make_exporter(arbor, transport, gzip=True)))
        providers.append(provider)
        tracers.append(provider.get_tracer(SCOPE_NAME, SCOPE_VERSION))
    try:
        with tracers[0].start_as_current_span("frontend", kind=SpanKind.CLIENT) as client:
            with tracers[1].start_as_current_span("backend", kind=SpanKind.SERVER):
                pass
    finally:
        for provider in providers:
            provider.shutdown()

    tid = hex_trace(client.get_span_context().trace_id)
    status, body = arbor.get_json(f"/api/traces/{tid}")
    assert status == 200, body
    got = flatten(body["batches"])
    assert len(got) == 2
    services = {
        attrs_by_key(res["resource"]["attributes"])["service.name"]["stringValue"]: span for res, _, span in got.values()
    }
    assert services["svc-grpc"]["name"] == "frontend"
    assert services["svc-http"]["parentSpanId"] == services["svc-grpc"]["spanId"]
    assert got == sdk_encoding(memory.get_finished_spans())
