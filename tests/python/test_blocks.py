"""A block written by arbor is plain Apache Parquet: pyarrow, an independent reader, opens it
and finds every span with its IDs, times and attributes."""

import json
import urllib.request

import pyarrow.parquet as pq
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind


def test_pyarrow_reads_a_block(arbor):
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "pyarrow-check"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter(endpoint=f"http://{arbor.otlp_http}/v1/traces")))
    tracer = provider.get_tracer("block-test")
    for i in range(3):
        with tracer.start_as_current_span(f"request-{i}", kind=SpanKind.SERVER) as root:
            root.set_attribute("http.route", "/orders/{id}")
            for j in range(4):
                with tracer.start_as_current_span(f"db-{j}", kind=SpanKind.CLIENT) as child:
                    child.set_attribute("db.system", "postgresql")
                    child.set_attribute("rows", j)
    provider.shutdown()
    sent = memory.get_finished_spans()
    assert len(sent) == 15

    req = urllib.request.Request(f"http://{arbor.http}/flush", method="POST")
    with urllib.request.urlopen(req, timeout=60) as resp:
        assert resp.status == 204

    tenant_dir = arbor.data_dir / "blocks" / "single-tenant"
    blocks = [d for d in tenant_dir.iterdir() if (d / "meta.json").exists()]
    assert blocks, f"no block under {tenant_dir}"
    # Other tests may have written blocks too: find the one with our spans.
    sent_ids = {s.context.span_id.to_bytes(8, "big") for s in sent}
    found = {}
    for block in blocks:
        meta = json.loads((block / "meta.json").read_text())
        assert meta["format"] == "arbor-block" and meta["version"] == 1
        table = pq.read_table(block / "spans.parquet")
        assert table.num_rows == meta["span_count"]
        for row in table.select(["trace_id", "span_id", "name", "start_unix_nano", "duration_nano"]).to_pylist():
            if row["span_id"] in sent_ids:
                found[row["span_id"]] = row
    assert len(found) == len(sent), f"found {len(found)} of {len(sent)} spans in the blocks"
    for s in sent:
        row = found[s.context.span_id.to_bytes(8, "big")]
        assert row["trace_id"] == s.context.trace_id.to_bytes(16, "big")
        assert row["name"] == s.name
        assert row["start_unix_nano"] == s.start_time
        assert row["duration_nano"] == s.end_time - s.start_time
