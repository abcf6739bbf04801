"""docs/openapi.yaml stays true: it is valid OpenAPI 3.1, it describes every route the
server registers (and no other), and the real server's answers match its schemas.

Routes are read from the Rust sources (`.route("…", get(…).post(…))` in
crates/arbor-server/src/api/*.rs and ingest/*.rs); answers come from the `arbor` binary
started by conftest.py, after a few spans were sent to it over OTLP/HTTP JSON and Zipkin.
"""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import jsonschema
import pytest
import referencing
import referencing.jsonschema
import yaml
from openapi_spec_validator import OpenAPIV31SpecValidator

REPO = Path(__file__).resolve().parents[2]
SPEC_PATH = REPO / "docs" / "openapi.yaml"
SERVER_SRC = REPO / "crates" / "arbor-server" / "src"
ROUTE_DIRS = ("api", "ingest", "alerts", "views", "tail")
SPEC_URI = "urn:arbor:docs/openapi.yaml"
HTTP_METHODS = ("get", "post", "put", "delete", "patch", "head", "options", "trace")

# The default port of each listener (as docs/openapi.yaml's servers name them) and its key
# in the server's listen file.
LISTENER_OF_PORT = {3200: "http", 4318: "otlp_http", 9411: "zipkin", 16686: "jaeger"}

# The listener serving each source file's routes (see `run` in crates/arbor-server/src/
# server.rs). Every other api/*.rs file is merged into api::router, on the query listener;
# an ingest file with routes must be named here.
LISTENER_OF_FILE = {
    "api/jaeger.rs": "jaeger",
    "api/zipkin.rs": "zipkin",
    "ingest/zipkin.rs": "zipkin",
    "ingest/otlp_http.rs": "otlp_http",
    # Merged into api::router, on the query listener.
    "alerts/api.rs": "http",
    "views/api.rs": "http",
    "tail/api.rs": "http",
}


# ---------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec() -> dict:
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def server_of(spec: dict, path_item: dict, operation: dict | None = None) -> tuple[str, str]:
    """(listener, base path) of an operation: its servers, its path item's, or the root's."""
    servers = (operation or {}).get("servers") or path_item.get("servers") or spec.get("servers")
    assert servers and len(servers) == 1, f"expected exactly one server, got {servers!r}"
    url = urllib.parse.urlsplit(servers[0]["url"])
    assert url.port in LISTENER_OF_PORT, f"server {servers[0]['url']} is on no known listener"
    return LISTENER_OF_PORT[url.port], url.path.rstrip("/")


def normalize(path: str) -> str:
    """A route with its parameters unnamed: axum's `{id}`, `:id`, `{*rest}`, `*rest`."""
    return re.sub(r"\{[^}]*\}|:[A-Za-z_]\w*|\*[A-Za-z_]\w*", "{}", path)


def spec_routes(spec: dict) -> dict[tuple[str, str, str], str]:
    """(listener, normalized full path, METHOD) → the path as written, for every operation
    of the document that a route serves (not the web UI's fallback paths)."""
    out = {}
    for key, item in spec["paths"].items():
        if item.get("x-arbor-fallback"):
            continue
        for method in HTTP_METHODS:
            if method in item:
                listener, base = server_of(spec, item, item[method])
                out[(listener, normalize(base + key), method.upper())] = f"{base}{key}"
    return out


def test_spec_is_valid_openapi_3_1(spec):
    errors = [
        f"{'/'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in OpenAPIV31SpecValidator(spec).iter_errors()
    ]
    assert not errors, "docs/openapi.yaml is not valid OpenAPI 3.1:\n" + "\n".join(errors)
    assert spec["openapi"].startswith("3.1.")


# ---------------------------------------------------------------------------------------
# Routes in the code against paths in the document
# ---------------------------------------------------------------------------------------

STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')
METHOD_CALL = re.compile(r"(?<![\w:])(" + "|".join(HTTP_METHODS) + r")\(")


def route_calls(text: str):
    """The argument text of every `.route(…)` call, parentheses balanced, strings skipped."""
    for m in re.finditer(r"\.route\(", text):
        depth, i, in_str = 1, m.end(), False
        while depth and i < len(text):
            c = text[i]
            if in_str:
                if c == "\\":
                    i += 1
                elif c == '"':
                    in_str = False
            elif c == '"':
                in_str = True
            elif c == "(":
                depth += 1
            elif c == ")":
                depth -= 1
            i += 1
        yield text[m.end() : i - 1]


def source_routes() -> dict[tuple[str, str, str], str]:
    """(listener, normalized path, METHOD) → 'file: path' for every route in the sources."""
    out = {}
    for d in ROUTE_DIRS:
        for file in sorted((SERVER_SRC / d).glob("*.rs")):
            rel = f"{d}/{file.name}"
            text = file.read_text(encoding="utf-8")
            calls = list(route_calls(text))
            if not calls:
                continue
            listener = LISTENER_OF_FILE.get(rel) or ("http" if d == "api" else None)
            assert listener, f"{rel} registers routes: add it to LISTENER_OF_FILE with its listener"
            for args in calls:
                path = STRING.search(args)
                assert path, f"{rel}: a .route( call without a path literal: {args!r}"
                methods = {m.upper() for m in METHOD_CALL.findall(args[path.end() :])}
                assert methods, f"{rel}: no method router in .route({args})"
                for method in methods:
                    out[(listener, normalize(path.group(1)), method)] = f"{rel}: {path.group(1)}"
    return out


def test_every_route_is_described(spec):
    code = source_routes()
    # The parser must keep finding the routes it knows of; fewer means it broke.
    assert len(code) >= 35, f"found only {len(code)} routes in the sources: {sorted(code.values())}"
    documented = spec_routes(spec)
    missing = sorted(f"{k[2]} {code[k]} (listener {k[0]})" for k in code.keys() - documented.keys())
    extra = sorted(f"{k[2]} {documented[k]} (listener {k[0]})" for k in documented.keys() - code.keys())
    message = []
    if missing:
        message.append("routes the server registers that docs/openapi.yaml does not describe:\n  " + "\n  ".join(missing))
    if extra:
        message.append("operations in docs/openapi.yaml that no route serves:\n  " + "\n  ".join(extra))
    assert not message, "\n".join(message)


# ---------------------------------------------------------------------------------------
# Real answers against the schemas
# ---------------------------------------------------------------------------------------

MS = 1_000_000  # nanoseconds
TRACE = "5b8efff798038103d269b633813fc60c"
LAMBDA_TRACE = "0af7651916cd43dd8448eb211c80319c"
ZIPKIN_TRACE = "463ac35c9f6413ad"  # 64-bit: Jaeger and Zipkin write it back as 16 digits
MISSING_TRACE = "00000000000000000000000000abcdef"


def kv(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    elif isinstance(value, float):
        v = {"doubleValue": value}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(trace, sid, parent, kind, name, start, dur_ms, attrs=(), **extra):
    s = {
        "traceId": trace,
        "spanId": sid,
        "name": name,
        "kind": kind,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + dur_ms * MS),
        "attributes": [kv(k, v) for k, v in attrs],
        **extra,
    }
    if parent:
        s["parentSpanId"] = parent
    return s


def resource(attrs, spans):
    return {
        "resource": {"attributes": [kv(k, v) for k, v in attrs]},
        "scopeSpans": [{"scope": {"name": "openapi-test", "version": "1.0"}, "spans": spans}],
    }


SHOP = [("service.namespace", "shop"), ("deployment.environment.name", "production"), ("cloud.region", "eu-west-1")]


def batches(now: int) -> list[dict]:
    """Two traces: frontend → checkout → a database, with an error; and a cold-started
    Lambda function behind an API gateway."""
    return [
        {"resourceSpans": [resource([("service.name", "frontend"), *SHOP], [
            span(TRACE, "0000000000000001", None, 2, "GET /checkout", now, 120,
                 [("http.route", "/checkout"), ("http.request.method", "GET"),
                  ("http.response.status_code", 200), ("ratio", 0.5), ("cached", True)],
                 events=[{"timeUnixNano": str(now + MS), "name": "cache miss",
                          "attributes": [kv("key", "cart:1")]}]),
            span(TRACE, "0000000000000002", "0000000000000001", 3, "POST /orders", now + 2 * MS, 100,
                 [("http.request.method", "POST")],
                 links=[{"traceId": LAMBDA_TRACE, "spanId": "00000000000000a1",
                         "attributes": [kv("opentracing.ref_type", "follows_from")]}]),
        ])]},
        {"resourceSpans": [resource([("service.name", "checkout"), *SHOP], [
            span(TRACE, "0000000000000003", "0000000000000002", 2, "POST /orders", now + 3 * MS, 90,
                 [("http.route", "/orders"), ("http.request.method", "POST"),
                  ("http.response.status_code", 500)],
                 status={"code": 2, "message": "boom"}),
            span(TRACE, "0000000000000004", "0000000000000003", 3, "SELECT orders", now + 4 * MS, 20,
                 [("db.system", "postgresql"), ("db.name", "shop")]),
        ])]},
        {"resourceSpans": [resource(
            [("service.name", "orders-create"), ("faas.name", "orders-create"),
             ("faas.max_memory", 268435456), ("cloud.provider", "aws"), *SHOP],
            [span(LAMBDA_TRACE, "00000000000000a1", None, 2, "orders-create", now + 10 * MS, 300,
                  [("faas.invocation_id", "inv-1"), ("faas.trigger", "http"), ("faas.coldstart", True),
                   ("faas.memory_used", 104857600), ("http.route", "/orders"),
                   ("http.request.method", "POST"), ("http.response.status_code", 201)])],
        )]},
    ]


ZIPKIN_SPANS = [{
    "traceId": ZIPKIN_TRACE, "id": "463ac35c9f6413ad", "kind": "SERVER", "name": "get /api",
    "timestamp": 0, "duration": 1431,
    "localEndpoint": {"serviceName": "zipkin-backend", "ipv4": "192.168.99.1", "port": 9000},
    "remoteEndpoint": {"serviceName": "zipkin-frontend"},
    "annotations": [{"timestamp": 0, "value": "ws"}],
    "tags": {"http.method": "GET", "http.path": "/api"},
}]


def request(addr: str, path: str, method: str = "GET", body: bytes | None = None, headers=None):
    """(status, Content-Type, body); never raises on 4xx/5xx."""
    req = urllib.request.Request(f"http://{addr}{path}", data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type", ""), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, err.headers.get("Content-Type", ""), err.read()


class Live:
    """The running server's addresses by listener, and the document to check answers with."""

    def __init__(self, arbor, spec):
        listen_file = arbor.data_dir.parent / "listen.json"
        self.addrs = json.loads(listen_file.read_text())
        self.spec = spec
        self.registry = referencing.Registry().with_resource(
            SPEC_URI, referencing.jsonschema.DRAFT202012.create_resource(spec)
        )
        self.index = {}
        for key, item in spec["paths"].items():
            listener, base = server_of(spec, item)
            self.index[(listener, base + key)] = key

    def pointer_to_response(self, listener: str, path: str, method: str, status: int) -> str:
        key = self.index.get((listener, path))
        assert key, f"docs/openapi.yaml has no path {path} on the {listener} listener"
        op = self.spec["paths"][key].get(method.lower())
        assert op, f"docs/openapi.yaml has no {method} {path}"
        assert str(status) in op["responses"], (
            f"{method} {path} answered {status}, which docs/openapi.yaml does not list "
            f"({sorted(op['responses'])})"
        )
        ptr = "/paths/" + "/".join(
            p.replace("~", "~0").replace("/", "~1") for p in (key, method.lower(), "responses", str(status))
        )
        return self.follow(ptr)

    def resolve(self, ptr: str):
        node = self.spec
        for part in ptr.lstrip("/").split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            node = node[part]
        return node

    def follow(self, ptr: str) -> str:
        """The pointer itself, or where its `$ref` leads (local references only)."""
        while isinstance(self.resolve(ptr), dict) and "$ref" in self.resolve(ptr):
            ref = self.resolve(ptr)["$ref"]
            assert ref.startswith("#/"), ref
            ptr = ref[1:]
        return ptr

    def check(self, listener, template, path, *, method="GET", status=200, body=None, headers=None):
        """Sends the request, checks its status and Content-Type against the document and,
        for JSON, validates the body against the response schema. Returns the decoded body."""
        got_status, content_type, raw = request(self.addrs[listener], path, method, body, headers)
        assert got_status == status, f"{method} {path}: {got_status} {raw[:500]!r}"
        response_ptr = self.pointer_to_response(listener, template, method, status)
        content = self.resolve(response_ptr).get("content")
        if not content:
            assert not raw, f"{method} {path}: body {raw[:200]!r} where the document has none"
            return None
        media = {m.split(";")[0].strip(): m for m in content}
        got_media = content_type.split(";")[0].strip()
        if not raw and not content_type and "application/json" not in media:
            return ""  # an empty body, as a plain-text answer may be (Zipkin's 202)
        assert got_media in media, f"{method} {path}: Content-Type {content_type!r}, document lists {sorted(content)}"
        if got_media != "application/json":
            return raw.decode()
        schema_ptr = self.follow(
            f"{response_ptr}/content/{media[got_media].replace('~', '~0').replace('/', '~1')}/schema"
        )
        value = json.loads(raw)
        validator = jsonschema.Draft202012Validator(
            {"$ref": f"{SPEC_URI}#{schema_ptr}"},
            registry=self.registry,
            format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER,
        )
        errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
        assert not errors, f"{method} {path}: the answer does not match {schema_ptr}:\n" + "\n".join(
            f"  at /{'/'.join(str(p) for p in e.absolute_path)}: {e.message[:300]}" for e in errors[:10]
        )
        return value


@pytest.fixture(scope="module")
def live(arbor, spec) -> Live:
    live = Live(arbor, spec)
    now = time.time_ns() - 120 * 1_000_000_000
    live.now = now
    for batch in batches(now):
        got = live.check("otlp_http", "/v1/traces", "/v1/traces", method="POST",
                         body=json.dumps(batch).encode(), headers={"Content-Type": "application/json"})
        assert got == {}, got
    zipkin = [dict(s, timestamp=now // 1000) for s in ZIPKIN_SPANS]
    zipkin[0]["annotations"] = [{"timestamp": now // 1000 + 5, "value": "ws"}]
    live.check("zipkin", "/api/v2/spans", "/api/v2/spans", method="POST", status=202,
               body=json.dumps(zipkin).encode(), headers={"Content-Type": "application/json"})
    return live


def q(**params) -> str:
    return "?" + urllib.parse.urlencode(params, doseq=True)


def test_otlp_http_answers(live):
    bad = {"resourceSpans": [resource([("service.name", "bad")], [
        span("0" * 32, "0000000000000009", None, 1, "all-zero trace id", live.now, 1)])]}
    got = live.check("otlp_http", "/v1/traces", "/v1/traces", method="POST",
                     body=json.dumps(bad).encode(), headers={"Content-Type": "application/json"})
    assert got["partialSuccess"]["rejectedSpans"] == "1"
    got = live.check("otlp_http", "/v1/traces", "/v1/traces", method="POST", status=415,
                     body=b"x", headers={"Content-Type": "text/plain"})
    assert got["code"] == 3
    got = live.check("otlp_http", "/v1/traces", "/v1/traces", method="POST", status=400,
                     body=b"{", headers={"Content-Type": "application/json"})
    assert got["code"] == 3


def test_trace_by_id(live):
    v1 = live.check("http", "/api/traces/{id}", f"/api/traces/{TRACE}")
    assert sum(len(ss.get("spans", [])) for rs in v1["batches"] for ss in rs["scopeSpans"]) == 4
    v2 = live.check("http", "/api/v2/traces/{id}", f"/api/v2/traces/{TRACE.upper()}")
    assert v2["status"] == "COMPLETE"
    live.check("http", "/api/traces/{id}", f"/api/traces/{MISSING_TRACE}", status=404)
    live.check("http", "/api/v2/traces/{id}", "/api/v2/traces/not-hex", status=400)


def test_search(live):
    got = live.check("http", "/api/search", "/api/search" + q(q='{ resource.service.name = "checkout" }'))
    assert [t["traceID"] for t in got["traces"]] == [TRACE]
    got = live.check("http", "/api/search", "/api/search" + q(
        q="{ } | select(span.http.response.status_code, span.ratio, span.cached, span.http.route)",
        spss=10, limit=5))
    assert len(got["traces"]) >= 2
    got = live.check("http", "/api/search", "/api/search" + q(q="{ } | by(resource.service.name)"))
    assert any("attributes" in s for t in got["traces"] for s in t["spanSets"])
    live.check("http", "/api/search", "/api/search" + q(q="{ nonsense"), status=400)
    live.check("http", "/api/search", "/api/search" + q(tags="service.name=frontend", minDuration="1ms"))


def test_tags(live):
    got = live.check("http", "/api/search/tags", "/api/search/tags")
    assert "http.route" in got["tagNames"] and "service.name" in got["tagNames"]
    live.check("http", "/api/search/tags", "/api/search/tags" + q(scope="intrinsic"))
    got = live.check("http", "/api/v2/search/tags", "/api/v2/search/tags")
    assert {s["name"] for s in got["scopes"]} >= {"span", "resource", "event", "link", "intrinsic"}
    live.check("http", "/api/v2/search/tags", "/api/v2/search/tags" + q(scope="resource", q='{ name = "GET /checkout" }'))
    got = live.check("http", "/api/search/tag/{tag}/values", "/api/search/tag/service.name/values")
    assert "checkout" in got["tagValues"]
    got = live.check("http", "/api/v2/search/tag/{tag}/values", "/api/v2/search/tag/span.http.response.status_code/values")
    assert {"type": "int", "value": "500"} in got["tagValues"]
    live.check("http", "/api/v2/search/tag/{tag}/values", "/api/v2/search/tag/status/values")
    live.check("http", "/api/v2/search/tag/{tag}/values", "/api/v2/search/tag/resource.service.name/values" + q(q="{ oops"), status=400)


def test_metrics_queries(live):
    end = time.time() + 60
    got = live.check("http", "/api/metrics/query_range", "/api/metrics/query_range" + q(
        q="{ } | rate() by (resource.service.name)", start=int(end - 3600), end=int(end), step="60s"))
    assert got["series"]
    live.check("http", "/api/metrics/query_range", "/api/metrics/query_range" + q(
        q="{ } | quantile_over_time(duration, .5, .9)", start=int(end - 3600), end=int(end)))
    got = live.check("http", "/api/metrics/query", "/api/metrics/query" + q(q="{ } | count_over_time()"))
    assert got["series"]
    live.check("http", "/api/metrics/query_range", "/api/metrics/query_range" + q(q="{ }"), status=400)


def test_operations_endpoints(live):
    got = live.check("http", "/api/status/buildinfo", "/api/status/buildinfo")
    assert got["version"]
    assert live.check("http", "/api/echo", "/api/echo") == "echo"
    assert live.check("http", "/ready", "/ready") == "ready\n"
    assert "arbor_ready" in live.check("http", "/metrics", "/metrics")


def test_alerts_endpoints(live):
    rule = {"name": "openapi check", "kind": "traceql", "query": "{ status = error }",
            "window": "1m", "above": 0, "for": "10m", "labels": {"team": "shop"}}
    body = json.dumps(rule).encode()
    ctype = {"Content-Type": "application/json"}
    made = live.check("http", "/api/alerts/rules", "/api/alerts/rules", method="POST",
                      status=201, body=body, headers=ctype)
    assert made["name"] == "openapi check" and made["source"] == "api"
    listed = live.check("http", "/api/alerts/rules", "/api/alerts/rules")
    assert "openapi check" in {r["name"] for r in listed["rules"]}
    live.check("http", "/api/alerts/rules", "/api/alerts/rules", method="POST", status=409,
               body=body, headers=ctype)
    live.check("http", "/api/alerts/rules/{name}/silence", "/api/alerts/rules/openapi%20check/silence",
               method="POST", body=json.dumps({"for": "1h"}).encode(), headers=ctype)
    live.check("http", "/api/alerts/rules/{name}/test", "/api/alerts/rules/openapi%20check/test",
               method="POST", headers=ctype)
    live.check("http", "/api/alerts/history", "/api/alerts/history?limit=5")
    live.check("http", "/api/alerts/rules/{name}", "/api/alerts/rules/openapi%20check",
               method="DELETE", status=204)


def test_views_endpoints(live):
    ctype = {"Content-Type": "application/json"}
    listed = live.check("http", "/api/views", "/api/views")
    assert [s["id"] for s in listed["scopes"]] == ["api", "functions"]
    view = {"name": "OpenAPI check", "scope": "functions", "filters": {"errors": "true"}, "charts": ["errors"]}
    body = json.dumps(view).encode()
    made = live.check("http", "/api/views", "/api/views", method="POST", status=201, body=body, headers=ctype)
    assert made["id"] == "openapi-check" and not made["builtIn"]
    live.check("http", "/api/views", "/api/views", method="POST", status=409, body=body, headers=ctype)
    live.check("http", "/api/views/{id}", "/api/views/openapi-check")
    live.check("http", "/api/views/{id}", "/api/views/api")
    live.check("http", "/api/views/{id}", "/api/views/openapi-check", method="PUT", body=body, headers=ctype)
    got = live.check("http", "/api/views/query", "/api/views/query", method="POST",
                     body=json.dumps({"scope": "api", "filters": {"status": "5xx"}}).encode(), headers=ctype)
    assert got["traceql"].startswith("{ .http.path != nil")
    live.check("http", "/api/views/{id}", "/api/views/openapi-check", method="DELETE", status=204)
    live.check("http", "/api/views/{id}", "/api/views/openapi-check", status=404)
    live.check("http", "/api/tail", "/api/tail?q=%7B%20%7D%20%3E%3E%20%7B%20%7D", status=400)


def names(items, *keys):
    return {tuple(i[k] for k in keys) if len(keys) > 1 else i[keys[0]] for i in items}


@pytest.mark.parametrize(
    "path, params, expect",
    [
        ("/api/derived/services", {},
         lambda a: {"frontend", "checkout", "orders-create"} <= names(a["services"], "service")
         and "operations" not in a),
        ("/api/derived/services", {"service": "checkout", "step": 30},
         lambda a: names(a["services"], "service") == {"checkout"}
         and ("checkout", "POST /orders", "SPAN_KIND_SERVER") in names(a["operations"], "service", "name", "kind")),
        ("/api/derived/service-graph", {},
         lambda a: ("frontend", "checkout") in names(a["edges"], "client", "server")),
        ("/api/derived/service-graph", {"source": "spans"},
         lambda a: ("frontend", "checkout") in names(a["edges"], "client", "server") and a["source"] == "spans"),
        ("/api/derived/serverless", {"namespace": "shop"},
         lambda a: names(a["functions"], "function") == {"orders-create"}
         and ("orders-create", "POST", "/orders") in names(a["endpoints"], "service", "method", "route")),
    ],
    ids=["services", "services-one", "service-graph", "service-graph-spans", "serverless"],
)
def test_derived_views(live, path, params, expect):
    status, _, body = request(live.addrs["http"], path + q(**params))
    if status == 404 and body.startswith(b"no such endpoint"):
        pytest.skip(f"GET {path} is not served by this binary (404 {body.decode().strip()!r}): "
                    "the derived-views endpoints are not in it")
    got = live.check("http", path, path + q(**params))
    assert expect(got), json.dumps(got)[:2000]
    live.check("http", path, path + q(step=7), status=400)


def test_zipkin_query(live):
    assert "zipkin-backend" in live.check("zipkin", "/api/v2/services", "/api/v2/services")
    assert live.check("zipkin", "/api/v2/spans", "/api/v2/spans" + q(serviceName="zipkin-backend")) == ["get /api"]
    live.check("zipkin", "/api/v2/remoteServices", "/api/v2/remoteServices" + q(serviceName="frontend"))
    got = live.check("zipkin", "/api/v2/traces", "/api/v2/traces" + q(serviceName="checkout", limit=5))
    assert len(got) == 1 and len(got[0]) == 4
    got = live.check("zipkin", "/api/v2/trace/{id}", f"/api/v2/trace/{ZIPKIN_TRACE}")
    assert got[0]["traceId"] == ZIPKIN_TRACE
    live.check("zipkin", "/api/v2/trace/{id}", f"/api/v2/trace/{MISSING_TRACE}", status=404)
    got = live.check("zipkin", "/api/v2/traceMany", "/api/v2/traceMany" + q(traceIds=f"{TRACE},{MISSING_TRACE}"))
    assert len(got) == 1
    got = live.check("zipkin", "/api/v2/dependencies", "/api/v2/dependencies" + q(endTs=int(time.time() * 1000)))
    assert {"parent": "frontend", "child": "checkout", "callCount": 1, "errorCount": 1} in got
    live.check("zipkin", "/api/v2/dependencies", "/api/v2/dependencies", status=400)
    assert live.check("zipkin", "/api/v2/autocompleteKeys", "/api/v2/autocompleteKeys") == []
    live.check("zipkin", "/api/v2/autocompleteValues", "/api/v2/autocompleteValues" + q(key="http.route"))


def test_jaeger_v1(live):
    assert "checkout" in live.check("jaeger", "/api/services", "/api/services")["data"]
    live.check("jaeger", "/api/services/{service}/operations", "/api/services/checkout/operations")
    live.check("jaeger", "/api/operations", "/api/operations" + q(service="frontend", spanKind="client"))
    live.check("jaeger", "/api/operations", "/api/operations", status=400)
    got = live.check("jaeger", "/api/traces", "/api/traces" + q(service="checkout", tags=json.dumps({"error": True})))
    assert got["total"] == 1
    live.check("jaeger", "/api/traces", "/api/traces" + q(traceID=[TRACE, ZIPKIN_TRACE]))
    got = live.check("jaeger", "/api/traces/{id}", f"/api/traces/{TRACE}")
    assert len(got["data"][0]["spans"]) == 4
    live.check("jaeger", "/api/traces/{id}", f"/api/traces/{MISSING_TRACE}", status=404)
    got = live.check("jaeger", "/api/dependencies", "/api/dependencies")
    assert {"parent": "frontend", "child": "checkout", "callCount": 1} in got["data"]


def test_jaeger_v3(live):
    live.check("jaeger", "/api/v3/services", "/api/v3/services")
    live.check("jaeger", "/api/v3/operations", "/api/v3/operations" + q(service="checkout", span_kind="server"))
    search = {"query.service_name": "checkout", "query.attributes[http.route]": "/orders",
              "query.start_time_min": "2000-01-01T00:00:00Z"}
    got = live.check("jaeger", "/api/v3/traces", "/api/v3/traces" + q(**search))
    assert got["result"]["resourceSpans"]
    got = live.check("jaeger", "/api/v3/trace-summaries", "/api/v3/trace-summaries" + q(**search))
    assert got["summaries"][0]["traceId"] == TRACE and got["summaries"][0]["errorSpanCount"] == 1
    live.check("jaeger", "/api/v3/traces/{id}", f"/api/v3/traces/{TRACE}")
    live.check("jaeger", "/api/v3/traces/{id}", f"/api/v3/traces/{MISSING_TRACE}", status=404)
    live.check("jaeger", "/api/v3/traces", "/api/v3/traces", status=400)
