"""The derived views on /metrics, read by Prometheus' own text-format parser
(prometheus_client), for spans whose figures are known."""

import json
import time
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

MS = 1_000_000


def post_spans(arbor, resource_spans):
    body = json.dumps({"resourceSpans": resource_spans}).encode()
    req = urllib.request.Request(
        f"http://{arbor.otlp_http}/v1/traces", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as resp:
        assert resp.status == 200


def span(trace, sid, parent, kind, name, start, dur_ms, attrs=()):
    s = {
        "traceId": trace,
        "spanId": sid,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + dur_ms * MS),
        "attributes": list(attrs),
    }
    if parent:
        s["parentSpanId"] = parent
    return s


def resource(service, spans):
    return {
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": service}}]},
        "scopeSpans": [{"spans": spans}],
    }


def samples(arbor):
    status, body = arbor.get("/metrics")
    assert status == 200
    out = {}
    for family in text_string_to_metric_families(body.decode()):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def test_span_metrics_and_service_graph_on_metrics(arbor):
    now = time.time_ns() - 60 * 1_000_000_000
    a, b = "a" * 32, "b" * 32
    http_404 = {"key": "http.response.status_code", "value": {"intValue": "404"}}
    # Trace a: web (root SERVER) calls api through a CLIENT span; the server half arrives
    # in a later request. Trace b: api alone, a root SERVER answering 404 (not an error).
    post_spans(arbor, [resource("web", [
        span(a, "0000000000000001", None, 2, "GET /", now, 50),
        span(a, "0000000000000002", "0000000000000001", 3, "call api", now + MS, 40),
    ])])
    post_spans(arbor, [resource("api", [
        span(a, "0000000000000003", "0000000000000002", 2, "GET /x", now + 2 * MS, 30),
        span(b, "0000000000000001", None, 2, "GET /x", now, 5, [http_404]),
    ])])
    got = samples(arbor)

    def value(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        assert key in got, f"{key} not in {sorted(k for k in got if k[0] == name)}"
        return got[key]

    unset = "STATUS_CODE_UNSET"
    assert value("traces_spanmetrics_calls_total", service="web", span_name="GET /",
                 span_kind="SPAN_KIND_SERVER", status_code=unset) == 1
    assert value("traces_spanmetrics_calls_total", service="web", span_name="call api",
                 span_kind="SPAN_KIND_CLIENT", status_code=unset) == 1
    api = dict(service="api", span_name="GET /x", span_kind="SPAN_KIND_SERVER", status_code=unset)
    assert value("traces_spanmetrics_calls_total", **api) == 2
    assert value("traces_spanmetrics_latency_count", **api) == 2
    assert abs(value("traces_spanmetrics_latency_sum", **api) - 0.035) < 1e-9
    # 5 ms and 30 ms: one at or under 0.008 s, both at or under 0.032 s.
    assert value("traces_spanmetrics_latency_bucket", le="0.008", **api) == 1
    assert value("traces_spanmetrics_latency_bucket", le="0.032", **api) == 2
    assert value("traces_spanmetrics_latency_bucket", le="+Inf", **api) == 2

    edge = dict(client="web", server="api", connection_type="")
    assert value("traces_service_graph_request_total", **edge) == 1
    assert value("traces_service_graph_request_failed_total", **edge) == 0
    assert abs(value("traces_service_graph_request_client_seconds_sum", **edge) - 0.040) < 1e-9
    assert abs(value("traces_service_graph_request_server_seconds_sum", **edge) - 0.030) < 1e-9
    for server in ("web", "api"):
        assert value("traces_service_graph_request_total", client="user", server=server,
                     connection_type="virtual_node") == 1


def test_endpoint_and_health_series_on_metrics(arbor):
    now = time.time_ns() - 60 * 1_000_000_000
    c = "c" * 32

    def attrs(route, method, status):
        return [
            {"key": "http.route", "value": {"stringValue": route}},
            {"key": "http.request.method", "value": {"stringValue": method}},
            {"key": "http.response.status_code", "value": {"intValue": str(status)}},
        ]

    post_spans(arbor, [resource("shop", [
        span(c, "0000000000000001", None, 2, "GET /items", now, 4, attrs("/items", "GET", 200)),
        span(c, "0000000000000002", None, 2, "GET /items", now, 6, attrs("/items", "GET", 503)),
        span(c, "0000000000000003", None, 2, "GET /items", now, 8, attrs("/items", "GET", 404)),
    ])])
    # One API request, so the query latency histogram has a route.
    status, _ = arbor.get("/api/derived/services")
    assert status == 200
    got = samples(arbor)
    ep = dict(service="shop", method="GET", route="/items")

    def value(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        assert key in got, f"{key} not in {sorted(k for k in got if k[0] == name)}"
        return got[key]

    for cls in ("2xx", "4xx", "5xx"):
        assert value("arbor_endpoint_requests_total", status_class=cls, **ep) == 1
    # A server's 503 is its error, its 404 is not.
    assert value("arbor_endpoint_errors_total", **ep) == 1
    assert value("arbor_endpoint_duration_seconds_count", **ep) == 3
    assert value("arbor_endpoint_duration_seconds_bucket", le="0.008", **ep) == 3
    assert value("arbor_query_duration_seconds_count", route="/api/derived/services") >= 1
    assert value("arbor_wal_sync_seconds_count") >= 1
    assert value("arbor_compactions_total") == 0
