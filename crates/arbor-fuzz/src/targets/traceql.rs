//! The TraceQL front end: any text either fails to parse (or validate) with an error, or
//! parses into a query whose canonical text parses back to the same tree, prints the same
//! again, and validates exactly when the original did.

use arbor_query::traceql;

use super::{Target, error_outcome};
use crate::engine::outcome;

const SEEDS: &[&str] = &[
    "{}",
    "{ .http.status_code >= 500 && resource.service.name = \"checkout\" }",
    "{ span.db.system = \"redis\" } >> { status = error }",
    "{ name =~ \"GET /.*\" } | count() > 2",
    "{ duration > 1.5s } | avg(duration) > 200ms | by(resource.service.name)",
    "({ kind = server } && { kind = client }) | select(span.http.route, duration)",
    "{ event.exception.message != nil } ~ { link.traceID = \"0af7651916cd43dd\" }",
    "{ } | rate() by (resource.service.name)",
    "{ status = error } | quantile_over_time(duration, .5, .99) with (sample = true)",
    "{ .a = 1 } !<< { .b = -2.5e3 } &>> { nestedSetParent < 0 }",
    "{ trace:rootService = \"api\" && trace:duration > 2s && span:id != \"x\" }",
    "({ } | count()) + 3 * ({ } | count()) > 1",
];

const DICT: &[&[u8]] = &[
    b"{",
    b"}",
    b"(",
    b")",
    b"|",
    b"&&",
    b"||",
    b">>",
    b"<<",
    b"!~",
    b"=~",
    b"~",
    b"!",
    b"&>>",
    b"!<<",
    b".",
    b"span.",
    b"resource.",
    b"event.",
    b"link.",
    b"instrumentation.",
    b"trace:",
    b"span:",
    b"parent.",
    b"duration",
    b"status",
    b"kind",
    b"name",
    b"nil",
    b"true",
    b"count()",
    b"avg(",
    b"max(",
    b"by(",
    b"select(",
    b"coalesce()",
    b"rate()",
    b"count_over_time()",
    b"quantile_over_time(",
    b"histogram_over_time(",
    b"compare(",
    b"topk(",
    b"with",
    b"\"",
    b"\\",
    b"`",
    b"1ns",
    b"9223372036854775807",
    b"1e308",
    b"-",
    b"%",
    b"^",
    b"/",
    b"unset",
    b"error",
    b"ok",
    b"server",
    b"0x",
    "\u{1F600}".as_bytes(),
];

fn run_traceql(input: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(input);
    let parsed = match traceql::parse(&text) {
        Ok(q) => q,
        Err(e) => return error_outcome("parse ", &e.to_string()),
    };
    let printed = parsed.to_string();
    let reparsed = traceql::parse(&printed)
        .unwrap_or_else(|e| panic!("{text:?} prints as {printed:?}, which does not parse: {e}"));
    assert!(
        reparsed == parsed,
        "{text:?} prints as {printed:?}, which parses differently"
    );
    assert_eq!(
        reparsed.to_string(),
        printed,
        "printing is not a fixed point"
    );
    let valid = traceql::validate(&parsed);
    assert_eq!(
        valid.is_ok(),
        traceql::validate(&reparsed).is_ok(),
        "{text:?} and its canonical text {printed:?} validate differently"
    );
    match valid {
        Ok(()) => outcome(&format!("valid metrics={}", parsed.is_metrics())),
        Err(e) => error_outcome("validate ", &e.to_string()),
    }
}

pub fn traceql() -> Target {
    Target {
        name: "traceql",
        about: "TraceQL parse → print → parse, validation",
        run: run_traceql,
        seeds: || SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect(),
        dict: DICT,
        max_len: 4 << 10,
        smoke_iterations: 4_000,
    }
}
