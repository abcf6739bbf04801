//! What a user sees for typical mistakes: the position and the message, exactly.

use crate::traceql::{ValidateErrorKind, parse, parse_and_validate, validate};

fn parse_error(query: &str) -> String {
    match parse(query) {
        Ok(q) => panic!("{query:?} parsed as {q}"),
        Err(e) => e.to_string(),
    }
}

fn validate_error(query: &str) -> String {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query:?} fails to parse: {e}"));
    match validate(&parsed) {
        Ok(()) => panic!("{query:?} validated"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn parse_errors_name_the_position_and_what_was_expected() {
    let cases = [
        // A single `&` is not an operator.
        (
            "{ .a = 2 & .b }",
            "1:10: expected `}` or an operator, found `&`",
        ),
        (
            "{ .status == 200 }",
            "1:12: `==` is not an operator; TraceQL compares with `=`",
        ),
        (
            "{ http.status = 200 }",
            "1:3: unknown name `http.status`; attributes are written `.http.status`, \
             `span.http.status` or `resource.http.status`, intrinsics as `span:name`, \
             `trace:duration`, …",
        ),
        (
            "{ span.http.status_code = 200 ",
            "1:31: expected `}` or an operator, found the end of the query",
        ),
        ("{ name = \"foo }", "1:10: unterminated string"),
        (
            "{ duration > 5sec }",
            "1:14: invalid duration `5sec`; use units ns, us, ms, s, m, h, d, w, y as in `1.5s` or `1h30m`",
        ),
        (
            "{ span:stauts = error }",
            "1:3: unknown intrinsic `span:stauts`; the span intrinsics are `span:duration`, \
             `span:name`, `span:status`, `span:statusMessage`, `span:kind`, `span:childCount`, \
             `span:id`, `span:parentID`",
        ),
        ("{ . = 1 }", "1:3: expected an attribute name after `.`"),
        (
            "{} | rate() by name",
            "1:16: expected `(` after `by`, found `name`",
        ),
        (
            "{ .a } | count() >",
            "1:19: expected a number, an aggregate or a spanset filter `{ … }`, found the end of the query",
        ),
        (
            "{ .a } | max(name) = \"x\"",
            "1:22: expected a number, an aggregate or a spanset filter `{ … }` (values other than \
             numbers are compared inside `{ }`), found `\"x\"`",
        ),
        (
            "{ .a } && count() > 1",
            "1:11: `&&` joins spansets: expected a spanset filter `{ … }` or a parenthesized \
             pipeline, found a comparison",
        ),
        (
            "{ .a } | count()",
            "1:10: `count(…)` must be compared with a value, as in `count() > 1`",
        ),
        (
            "{} | rate() * 2",
            "1:13: arithmetic on a metrics query needs parentheses around it, as in `({ } | rate()) * 2`",
        ),
        (
            "{} | topk(5)",
            "1:6: `topk` follows a metrics function, as in `{ } | rate() | topk(10)`",
        ),
        (
            "{ .a } = { .b }",
            "1:8: `=` cannot compare spansets; structural operators are `>`, `<`, `>>`, `<<`, `~` \
             and their `!` and `&` forms",
        ),
        (
            "{ .a } && ({ .b } | count() > 1)",
            "1:8: `&&` joins two spanset filters or two parenthesized pipelines; put the filter in \
             parentheses too, as in `({ … }) && ( … | … )`",
        ),
        (
            "({ .a } | count() > 1) >> ({ .b }) | by(.c)",
            "1:1: a parenthesized pipeline can be the whole query or an operand of `&&`, `||` and \
             the structural operators, not a stage of a `|` pipeline",
        ),
        (
            "{ .a = nil }",
            "1:6: `= nil` is not supported; to test that a field is set, write `!= nil`",
        ),
        (
            "{} | rate() with(sample=)",
            "1:25: expected a hint value (a string, number or boolean), found `)`",
        ),
        // Positions count lines and characters.
        (
            "{ .a = \"é\" }\n| count() >\n  \"x\"",
            "3:3: expected a number, an aggregate or a spanset filter `{ … }` (values other than \
             numbers are compared inside `{ }`), found `\"x\"`",
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(parse_error(query), expected, "for {query:?}");
    }
}

#[test]
fn parse_error_carries_the_byte_offset() {
    let e = parse("{ .é = 1 } | bogus(1) > 2").unwrap_err();
    assert_eq!((e.line, e.column, e.offset), (1, 14, 14));
    assert!(e.message.starts_with("unknown function `bogus`"), "{e}");
}

#[test]
fn validate_errors_name_the_position_and_the_types() {
    let cases = [
        (
            "{ .a = \"x\" + 1 }",
            "1:8: `+` needs numbers, but `\"x\"` is a string in `\"x\" + 1`",
        ),
        (
            "{ duration = \"1s\" }",
            "1:3: cannot compare a duration with a string: `span:duration = \"1s\"`",
        ),
        (
            "{ span.foo =~ \"(\" }",
            "1:15: invalid regex \"(\": unclosed group",
        ),
        (
            "{ status > ok }",
            "1:3: `>` cannot order a status; use `=` or `!=`: `span:status > ok`",
        ),
        (
            "{ name }",
            "1:3: a spanset filter needs a condition, but `span:name` is a string; compare it, as in \
             `{ span:name = … }`",
        ),
        (
            "{ -true }",
            "1:3: `-` needs a number, but `true` is a boolean",
        ),
        (
            "{ .a } | avg(name) > 1",
            "1:14: `avg` needs a number, but `span:name` is a string",
        ),
        (
            "{ .a } | by(\"x\")",
            "1:10: `by(\"x\")` must group by something read from the span, such as `resource.service.name`",
        ),
        (
            "{} | quantile_over_time(duration) by (name)",
            "1:6: `quantile_over_time` needs at least one quantile, as in \
             `quantile_over_time(duration, 0.5, 0.99)`",
        ),
        (
            "{} | quantile_over_time(duration, 1.5)",
            "1:6: quantile 1.5 is outside 0 to 1",
        ),
        (
            "{} | histogram_over_time(name)",
            "1:26: `histogram_over_time` needs a number, but `span:name` is a string",
        ),
        (
            "{} | rate() | topk(0)",
            "1:15: `topk` needs a count above 0, as in `topk(10)`",
        ),
        (
            "{} | compare({ status = error }) > 1",
            "1:6: `compare()` results cannot be filtered with `>`",
        ),
        (
            "{ .a } | count() > 1 / 0",
            "1:18: cannot compute `1 / 0`: division by zero",
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(validate_error(query), expected, "for {query:?}");
    }
}

#[test]
fn unsupported_is_told_apart_from_invalid() {
    let kind = |q: &str| validate(&parse(q).unwrap()).unwrap_err().kind;
    assert_eq!(kind("{ parent }"), ValidateErrorKind::Unsupported);
    assert_eq!(kind("{ 1 >= parent }"), ValidateErrorKind::Unsupported);
    assert_eq!(kind("min(.a) < max(.b)"), ValidateErrorKind::Unsupported);
    assert_eq!(kind("{ 1 = \"a\" }"), ValidateErrorKind::Invalid);
    assert_eq!(
        validate_error("{ .a } | max(.b) - min(.b) > 1"),
        "1:28: arithmetic on aggregates is not supported: `max(.b) - min(.b)`"
    );
}

#[test]
fn both_errors_come_through_parse_and_validate() {
    let parse_err = parse_and_validate("{ .a = }").unwrap_err();
    assert_eq!(
        parse_err.to_string(),
        "1:8: expected a value, an attribute or an intrinsic, found `}`"
    );
    let validate_err = parse_and_validate("{ 1 + 1 }").unwrap_err();
    assert_eq!(
        validate_err.message(),
        validate_error("{ 1 + 1 }").split_once(": ").unwrap().1
    );
}

#[test]
fn the_parent_scope_validates_beside_the_spans_own_attributes() {
    for q in [
        r#"{ parent.http.route = "/checkout" && span.db.system = "redis" }"#,
        r#"{ parent.resource.service.name != resource.service.name }"#,
        r#"{ span.db.system = "redis" } | select(parent.resource.service.name)"#,
        r#"{ parent.span.a > 3 } | rate() by (parent.resource.service.name)"#,
    ] {
        let parsed = parse_and_validate(q).unwrap_or_else(|e| panic!("{q:?}: {e}"));
        // The canonical text keeps the scope.
        assert!(
            parsed.to_string().contains("parent."),
            "{q:?} printed as {parsed}"
        );
    }
    let e = validate_error("{ parent = 1 }");
    assert!(e.contains("bare `parent`"), "{e}");
}
