//! AST snapshots: the Debug form of the tree for representative queries, kept in
//! `src/traceql/snapshots/<name>.snap` so a change to the tree shows up in review.
//! `ARBOR_UPDATE_SNAPSHOTS=1 cargo test -p arbor-query traceql` rewrites them.

use crate::traceql::{parse, validate};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/src/traceql/snapshots");

fn check(name: &str, query: &str) {
    let parsed = parse(query).unwrap_or_else(|e| panic!("{query:?} fails to parse: {e}"));
    validate(&parsed).unwrap_or_else(|e| panic!("{query:?} fails to validate: {e}"));
    let actual = format!("query: {query}\nprinted: {parsed}\n\n{parsed:#?}\n");
    let path = format!("{DIR}/{name}.snap");
    if std::env::var_os("ARBOR_UPDATE_SNAPSHOTS").is_some() {
        std::fs::write(&path, &actual).unwrap_or_else(|e| panic!("cannot write {path}: {e}"));
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!("no snapshot {path} ({e}); run with ARBOR_UPDATE_SNAPSHOTS=1 to write it")
    });
    assert!(
        expected == actual,
        "snapshot {name} differs (ARBOR_UPDATE_SNAPSHOTS=1 rewrites it)\n--- expected\n{expected}\n--- actual\n{actual}"
    );
}

#[test]
fn attribute_comparisons() {
    check(
        "attribute_comparisons",
        r#"{ span.http.status_code >= 500 && resource.service.name = "api" }"#,
    );
}

#[test]
fn and_or_share_a_level() {
    // As in Tempo: `a || b && c` is `(a || b) && c`.
    check("and_or_share_a_level", "{ .a = 1 || .b = 2 && .c }");
}

#[test]
fn prefix_minus_takes_a_product() {
    check("prefix_minus_takes_a_product", "{ -.a * 2 > 1.5 }");
}

#[test]
fn exists_and_scalar_filter() {
    check("exists_and_scalar_filter", "{ name != nil } | count() > 2");
}

#[test]
fn structural_group_aggregate() {
    check(
        "structural_group_aggregate",
        "{ kind = server } >> { status = error } | by(resource.service.name) | avg(duration) > 100ms",
    );
}

#[test]
fn pipeline_operand() {
    check("pipeline_operand", "({ .a } | count() > 1) && ({ .b })");
}

#[test]
fn select_fields() {
    check(
        "select_fields",
        r#"{ ."foo bar" = `x` } | select(span:id, .a)"#,
    );
}

#[test]
fn metrics_topk_hints() {
    check(
        "metrics_topk_hints",
        "{ span:status = error } | rate() by (resource.service.name) | topk(10) with(sample=0.1)",
    );
}

#[test]
fn metrics_quantiles_threshold() {
    check(
        "metrics_quantiles_threshold",
        "{} | quantile_over_time(duration, 0.5, 0.99) by (span.http.route) > 1s",
    );
}

#[test]
fn metrics_arithmetic() {
    check(
        "metrics_arithmetic",
        "({} | rate()) / ({} | count_over_time()) * 100",
    );
}

#[test]
fn metrics_compare() {
    check(
        "metrics_compare",
        "{ resource.service.name = \"api\" } | compare({ status = error }, 5)",
    );
}
