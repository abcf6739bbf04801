//! Literals, the printer, constant folding, hints and the depth limits.

use crate::traceql::*;

fn filter_expr(query: &str) -> FieldExpr {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
    match parsed.kind {
        QueryKind::Search(mut p) => match p.stages.remove(0) {
            Stage::Spanset(SpansetExpr::Filter(SpansetFilter { expr: Some(e), .. })) => e,
            other => panic!("{query:?}: not a filter: {other:?}"),
        },
        QueryKind::Metrics(m) => panic!("{query:?}: metrics: {m:?}"),
    }
}

/// The static on the right of `{ .a = <literal> }`.
fn literal(text: &str) -> Static {
    match filter_expr(&format!("{{ .a = {text} }}")).kind {
        FieldKind::Binary { rhs, .. } => match rhs.kind {
            FieldKind::Static(s) => s,
            other => panic!("{text:?}: not a static: {other:?}"),
        },
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn durations_are_nanoseconds() {
    let ms = 1_000_000;
    let s = 1_000 * ms;
    for (text, ns) in [
        ("100ns", 100),
        ("10us", 10_000),
        ("10µs", 10_000),
        ("10μs", 10_000),
        ("300ms", 300 * ms),
        ("1.5s", 1_500 * ms),
        (".5s", 500 * ms),
        ("2m", 120 * s),
        ("1h", 3_600 * s),
        ("1h30m", 5_400 * s),
        ("1m30s500ms", 90 * s + 500 * ms),
        ("1d", 86_400 * s),
        ("1w", 7 * 86_400 * s),
    ] {
        assert_eq!(literal(text), Static::Duration(ns), "{text}");
    }
    for bad in ["1x", "1h30", "5sec", "1.s", "999999999999h"] {
        assert!(parse(&format!("{{ .a = {bad} }}")).is_err(), "{bad} parsed");
    }
}

#[test]
fn numbers_and_strings() {
    assert_eq!(literal("42"), Static::Int(42));
    assert_eq!(literal("1.25"), Static::Float(1.25));
    assert_eq!(literal("1e3"), Static::Float(1000.0));
    assert_eq!(literal("2.5E-1"), Static::Float(0.25));
    assert_eq!(
        literal(r#""a\"b\\c\n\t\x41\101\u00e9\U0001F600""#),
        Static::String("a\"b\\c\n\tAAé😀".into())
    );
    assert_eq!(literal(r"`raw \n`"), Static::String(r"raw \n".into()));
    assert_eq!(literal("ok"), Static::Status(Status::Ok));
    assert_eq!(literal("unset"), Static::Status(Status::Unset));
    assert_eq!(literal("producer"), Static::Kind(Kind::Producer));
    assert_eq!(literal("false"), Static::Bool(false));
    for bad in [
        r#""\q""#,
        r#""\xZZ""#,
        r#""\xff""#,
        "\"a\nb\"",
        "9223372036854775808",
        "1e999",
    ] {
        assert!(parse(&format!("{{ .a = {bad} }}")).is_err(), "{bad} parsed");
    }
    assert_eq!(literal("9223372036854775807"), Static::Int(i64::MAX));
}

#[test]
fn attributes_and_intrinsics_resolve() {
    let attr = |scope, name: &str, parent| {
        FieldKind::Attribute(Attribute {
            scope,
            name: name.into(),
            parent,
        })
    };
    let cases = [
        (".a.b-c/d", attr(Scope::None, "a.b-c/d", false)),
        ("span.http.url", attr(Scope::Span, "http.url", false)),
        (
            "resource.service.name",
            attr(Scope::Resource, "service.name", false),
        ),
        (
            "event.exception.type",
            attr(Scope::Event, "exception.type", false),
        ),
        ("link.x", attr(Scope::Link, "x", false)),
        (
            "instrumentation.lib",
            attr(Scope::Instrumentation, "lib", false),
        ),
        ("parent.x", attr(Scope::None, "x", true)),
        ("parent.span.x", attr(Scope::Span, "x", true)),
        (r#"span."a b\"c""#, attr(Scope::Span, "a b\"c", false)),
        (
            "rootServiceName",
            FieldKind::Intrinsic(Intrinsic::TraceRootService),
        ),
        (
            "trace:rootService",
            FieldKind::Intrinsic(Intrinsic::TraceRootService),
        ),
        (
            "traceDuration",
            FieldKind::Intrinsic(Intrinsic::TraceDuration),
        ),
        ("span:parentID", FieldKind::Intrinsic(Intrinsic::ParentId)),
        (
            "event:timeSinceStart",
            FieldKind::Intrinsic(Intrinsic::EventTimeSinceStart),
        ),
        ("link:traceID", FieldKind::Intrinsic(Intrinsic::LinkTraceId)),
        (
            "instrumentation:version",
            FieldKind::Intrinsic(Intrinsic::InstrumentationVersion),
        ),
        (
            "nestedSetParent",
            FieldKind::Intrinsic(Intrinsic::NestedSetParent),
        ),
    ];
    for (text, expected) in cases {
        let expr = filter_expr(&format!("{{ {text} != nil }}"));
        let FieldKind::Unary {
            op: UnaryOp::Exists,
            expr,
        } = expr.kind
        else {
            panic!("{text}: {expr:?}");
        };
        assert_eq!(expr.kind, expected, "{text}");
    }
}

#[test]
fn printer_is_canonical() {
    let cases = [
        (
            "{ duration>1s&&kind=server }",
            "{ span:duration > 1s && span:kind = server }",
        ),
        ("{ .a || .b && .c }", "{ (.a || .b) && .c }"),
        ("{ .a && (.b || .c) }", "{ .a && (.b || .c) }"),
        (
            "{ (.a + 1) * 2 = 2 ^ 3 ^ 2 }",
            "{ (.a + 1) * 2 = 2 ^ 3 ^ 2 }",
        ),
        (
            "{ (2 ^ 3) ^ 2 = .a - (1 - 2) }",
            "{ (2 ^ 3) ^ 2 = .a - (1 - 2) }",
        ),
        ("{ (-.a) * 2 = -(.b * 2) }", "{ (-.a) * 2 = -(.b * 2) }"),
        ("{ 1.5m < duration }", "{ 90s < span:duration }"),
        (
            "{ .\"5xx\" = 1 && parent.\"span.x\" = 2 }",
            "{ .\"5xx\" = 1 && parent.\"span.x\" = 2 }",
        ),
        ("{ .a = \"tab\there\" }", "{ .a = \"tab\\there\" }"),
        ("{ nil != .a }", "{ .a != nil }"),
        (
            "({ .a } >> { .b }) && { .c } ~ { .d }",
            "{ .a } >> { .b } && { .c } ~ { .d }",
        ),
        (
            "{ .a } >> ({ .b } && { .c })",
            "{ .a } >> ({ .b } && { .c })",
        ),
        (
            "(({ .a } && { .b })) >> ({ .c } | by(.d))",
            "({ .a } && { .b }) >> ({ .c } | by(.d))",
        ),
        (
            "({ .a }) || (({ .b } | by(.d)) ~ ({ .c }))",
            "({ .a }) || ({ .b } | by(.d)) ~ ({ .c })",
        ),
        (
            "(({ .a } | count() > 1) && ({ .b }))",
            "({ .a } | count() > 1) && ({ .b })",
        ),
        ("{} | compare({ .a }, 10)", "{} | compare({ .a })"),
        (
            "{} | compare({ .a }, 3, 100, 200)",
            "{} | compare({ .a }, 3, 100, 200)",
        ),
        ("({} | rate() | topk(2)) + 1", "({} | rate() | topk(2)) + 1"),
        ("{} | rate() > -1s", "{} | rate() > -1s"),
        (
            "{ } with ( most_recent = true )",
            "{} with(most_recent=true)",
        ),
    ];
    for (query, expected) in cases {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert_eq!(parsed.to_string(), expected, "for {query:?}");
        assert_eq!(parse(expected).unwrap(), parsed, "round trip of {query:?}");
    }
}

#[test]
fn comments_and_odd_spacing_are_skipped() {
    let parsed = parse("{ .a = 1 } // first\n| /* a count */ count()>1").unwrap();
    assert_eq!(parsed.to_string(), "{ .a = 1 } | count() > 1");
}

#[test]
fn nil_forms() {
    assert_eq!(
        filter_expr("{ nil = nil }").kind,
        FieldKind::Static(Static::Bool(false))
    );
    assert_eq!(
        filter_expr("{ nil != nil }").kind,
        FieldKind::Static(Static::Bool(false))
    );
    assert!(parse("{ .a > nil }").is_err());
    assert!(parse("{ nil }").is_err());
    assert!(parse_and_validate("{ .a + 1 != nil }").is_ok());
}

#[test]
fn queries_report_kind_and_hints() {
    let search = parse("{ .a } with(most_recent=true)").unwrap();
    assert!(!search.is_metrics());
    assert_eq!(search.hint("most_recent"), Some(&Static::Bool(true)));
    let metrics = parse("{} | rate() with(sample=0.1, exemplars=false)").unwrap();
    assert!(metrics.is_metrics());
    assert_eq!(metrics.hints().len(), 2);
    assert_eq!(metrics.hint("sample"), Some(&Static::Float(0.1)));
    assert_eq!(metrics.hint("nope"), None);
}

#[test]
fn constant_folding() {
    let value = |q: &str| match parse(q).unwrap().kind {
        QueryKind::Search(p) => match &p.stages[..] {
            [Stage::ScalarFilter(f)] => f.rhs.const_value(),
            other => panic!("{other:?}"),
        },
        QueryKind::Metrics(MetricsExpr::Filter { threshold, .. }) => threshold.const_value(),
        other => panic!("{other:?}"),
    };
    assert_eq!(value("count() > 1 - 3"), Some(Ok(Static::Int(-2))));
    assert_eq!(value("count() > 2 / 6"), Some(Ok(Static::Int(0))));
    assert_eq!(value("count() > 1.5 * 2"), Some(Ok(Static::Float(3.0))));
    assert_eq!(
        value("avg(duration) > 1s * 2"),
        Some(Ok(Static::Duration(2_000_000_000)))
    );
    assert_eq!(value("count() > 2 ^ 10"), Some(Ok(Static::Int(1024))));
    assert_eq!(
        value("count() > 1 % 0"),
        Some(Err("division by zero".into()))
    );
    assert_eq!(value("count() > max(.a)"), None);
    assert_eq!(value("({} | rate()) > 1 / 2"), Some(Ok(Static::Int(0))));
    assert_eq!(
        arith(ArithOp::Mul, &Static::Int(i64::MAX), &Static::Int(2)),
        Err("`*` overflows".into())
    );
}

#[test]
fn deep_nesting_is_refused_not_a_stack_overflow() {
    let open = "(".repeat(100_000);
    let e = parse(&format!("{open}{{}}")).unwrap_err();
    assert_eq!(e.message, "the query nests more than 64 levels deep");

    for query in [
        format!("{{ {}.a }}", "(".repeat(10_000)),
        format!("{{ {}true }}", "!".repeat(10_000)),
        format!("{{ {}1 }}", "-".repeat(10_000)),
        format!("{{ 2{} }}", " ^ 2".repeat(10_000)),
        format!("{}{{}}", "-".repeat(10_000)),
        format!("{{ .a = 1 {} }}", "|| .a = 1 ".repeat(100_000)),
        format!("{{}}{}", " && {}".repeat(100_000)),
        // Chains nested on the left make a tree deeper than either.
        format!("{{ .a }}{}", " >> { .a }".repeat(256)),
        format!(
            "{}{{ .a }}{}",
            "(".repeat(60),
            (") && { .a }".to_string() + &" && { .a }".repeat(10)).repeat(60)
        ),
    ] {
        let result = parse(&query);
        assert!(result.is_err(), "a query of {} bytes parsed", query.len());
    }
}

#[test]
fn long_chains_within_the_limit_work_end_to_end() {
    // Trees at the depth limit, and 60 nested parentheses, parse, validate, print and
    // parse back on an ordinary test thread (debug build, 2 MiB stack).
    let long = format!(
        "{{ .a = 0 {} }}",
        (1..250)
            .map(|i| format!("|| .a = {i} "))
            .collect::<String>()
    );
    let nested = format!("{}{{ .a }}{}", "(".repeat(60), ")".repeat(60));
    let spansets = format!("{{ .a }}{}", " >> { .a }".repeat(250));
    let metrics = format!("({{}} | rate()){}", " + 1".repeat(250));
    let stages = format!("{{ .a }}{}", " | { .a }".repeat(10_000));
    for query in [long, nested, spansets, metrics, stages] {
        let parsed = parse_and_validate(&query).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parse(&parsed.to_string()).unwrap(), parsed);
    }
}

#[test]
fn differences_from_tempo_are_refusals() {
    // Tempo parses this and its validation refuses it; here the parser does.
    assert!(parse("{ .a != nil / 2 }").is_err());
    // Tempo lets these through on the attribute's unknown type; they mean nothing.
    for query in [
        "{ .a + .b }",
        "{ -.a }",
        "{ !(.a * 2) }",
        "{ .a =~ .b }",
        "{} | quantile_over_time(duration, 2)",
        "{} | compare({ .a }, 5, 20, 10)",
    ] {
        let parsed = parse(query).unwrap_or_else(|e| panic!("{query:?}: {e}"));
        assert!(validate(&parsed).is_err(), "{query:?} validated");
    }
    // Whereas conditions on attributes of unknown type pass.
    for query in [
        "{ .a }",
        "{ !.a }",
        "{ -.a = 2 }",
        "{ .a + .b > 1 }",
        "{ .a =~ \"x.*\" }",
    ] {
        assert!(parse_and_validate(query).is_ok(), "{query:?}");
    }
}

/// Queries in the style of Tempo's documentation, beyond the corpus.
#[test]
fn documented_queries_validate_and_round_trip() {
    for q in [
        r#"{ span.http.method = "GET" && resource.service.name = "frontend" } | select(span.http.status_code)"#,
        r#"{ resource.service.name = "frontend" } >> { status = error }"#,
        "{ } | quantile_over_time(duration, .99, .9, .5)",
        "{ span:status = error } | rate() by (resource.service.name) with(exemplars=true)",
        r#"{ name =~ "GET /api/.*" }"#,
        "{ .http.status_code >= 400 } | avg(duration) > 20ms",
        r#"{ trace:rootService = "api" && span:kind = server }"#,
        r#"{ event.exception.message =~ ".*timeout.*" }"#,
        "{ status = error } | count_over_time() by (resource.service.name) | topk(5)",
        "{} | histogram_over_time(duration) by (span.foo)",
        r#"{ span.foo = "bar" } >> { span.baz = "qux" } | by(resource.service.name) | count() > 1"#,
        r#"{ span.http.url = "https://example.com/a?b=c" }"#,
        r#"{ span."service.version" = "1.0" && duration > 1.5h30m }"#,
        "{ span.http.status_code = 200 } | max(span.http.response.size) > 1000",
        "{} | compare({status = error}, 10, 1713200000000000000, 1713203600000000000)",
    ] {
        let parsed = parse_and_validate(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        assert_eq!(parse(&parsed.to_string()).unwrap(), parsed, "{q:?}");
    }
}
