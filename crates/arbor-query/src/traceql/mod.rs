//! TraceQL, the front end: text to a typed, validated [`Query`], and back to text.
//!
//! It accepts what Grafana Tempo accepts: every query of Tempo's own parser corpus
//! (`tests/traceql_corpus.rs`) parses and validates, or fails, as it does in Tempo.
//!
//! ```text
//! parse(text) -> Query            syntax only                      lexer, parser, lower
//! validate(&Query)                types, regexes, arguments          validate
//! parse_and_validate(text)        both
//! query.to_string()               the canonical text                  print
//! ```
//!
//! # Grammar
//!
//! ```text
//! query      = (search | metrics) { "with" "(" hint { "," hint } ")" } EOF
//! hint       = word "=" (string | int | float | duration | bool | status | kind)
//!
//! search     = stage { "|" stage } | wrapped
//! stage      = plain | scalar cmp scalar | "by" "(" field ")" | "select" "(" refs ")"
//!            | "coalesce" "(" ")"                                        (not first)
//! plain      = filter | plain sop plain | "(" plain ")"
//! wrapped    = "(" search ")" | wrapped sop wrapped | "(" wrapped ")"
//!              (`( plain )` is also wrapped; an operator joins two plain or two wrapped
//!               operands; a wrapped expression is never a `|` stage, as in Tempo)
//! filter     = "{" [ field ] "}"
//! sop        = "&&" | "||" | ">" | "<" | ">>" | "<<" | "~"
//!            | "!>" | "!<" | "!>>" | "!<<" | "!~" | "&>" | "&<" | "&>>" | "&<<" | "&~"
//! scalar     = scalar arith scalar | "(" scalar ")" | aggregate | ["-"] (int | float | duration)
//!              (a scalar filter holds at least one aggregate)
//! aggregate  = "count" "(" ")" | ("avg" | "min" | "max" | "sum") "(" field ")"
//! cmp        = "=" | "!=" | "<" | "<=" | ">" | ">="
//! arith      = "+" | "-" | "*" | "/" | "%" | "^"
//!
//! metrics    = mfirst { "|" ("topk" | "bottomk") "(" int ")" { cmp threshold } }
//! mfirst     = stage { "|" stage } "|" mfunc { cmp threshold }
//!            | marith { cmp threshold }
//! marith     = marith ("+" | "-" | "*" | "/") marith | "(" metrics ")" | "(" marith ")"
//!            | ["-"] (int | float)            (holds at least one parenthesized metrics query)
//! threshold  = numbers joined by "+ - * /" | ["-"] duration
//! mfunc      = ("rate" | "count_over_time") "(" ")" [ by ]
//!            | ("min" | "max" | "avg" | "sum" | "histogram") "_over_time" "(" ref ")" [ by ]
//!            | "quantile_over_time" "(" ref { "," (int | float) } ")" [ by ]
//!            | "compare" "(" filter [ "," int [ "," int "," int ] ] ")"
//! by         = "by" "(" refs ")"
//! refs       = ref { "," ref }
//! ref        = attribute | intrinsic
//!
//! field      = field ("&&" | "||") field | field (cmp | "=~" | "!~") field
//!            | field arith field | ("-" | "!") field | "(" field ")"
//!            | field "!=" "nil" | "nil" "!=" field | "nil" ("=" | "!=") "nil"
//!            | static | attribute | intrinsic
//! static     = string | int | float | duration | bool | status | kind
//! bool       = "true" | "false"
//! status     = "ok" | "error" | "unset"
//! kind       = "unspecified" | "internal" | "server" | "client" | "producer" | "consumer"
//! attribute  = ["parent."] ("." | "span." | "resource." | "event." | "link."
//!            | "instrumentation.") name
//!              (name: runes up to whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,`, and
//!               "quoted" parts with `\"` and `\\`; after `parent.` also `span.`/`resource.`)
//! intrinsic  = "duration" | "name" | "status" | "statusMessage" | "kind" | "childCount"
//!            | "rootName" | "rootServiceName" | "traceDuration" | "parent"
//!            | "nestedSetLeft" | "nestedSetRight" | "nestedSetParent"
//!            | "span:" ("duration" | "name" | "kind" | "status" | "statusMessage" | "id"
//!                       | "parentID" | "childCount")
//!            | "trace:" ("duration" | "rootName" | "rootService" | "id")
//!            | "event:" ("name" | "timeSinceStart") | "link:" ("traceID" | "spanID")
//!            | "instrumentation:" ("name" | "version")
//! ```
//!
//! `nil` only appears in the forms above: `x != nil` is [`UnaryOp::Exists`]; `nil = nil`
//! and `nil != nil` are `false`, as in Tempo; `x = nil` is refused.
//!
//! Literals: strings `"…"` with Go escapes or raw `` `…` ``; integers (64-bit); floats
//! (`1.5`, `.5`, `1e3`); durations, one or more number-unit pairs with units `ns us µs ms s
//! m h d w y` (`1.5s`, `1h30m`). `//` and `/* */` comments are skipped, as Tempo's scanner
//! does.
//!
//! # Precedence
//!
//! Loosest first; all binary operators are left-associative except `^`.
//!
//! | level | operators                                  |
//! |-------|--------------------------------------------|
//! | 1     | `\|` (pipeline)                            |
//! | 2     | `&&` `\|\|` (one level, as in Tempo)       |
//! | 3     | `=` `!=` `<` `<=` `>` `>=` `=~` `!~`, and the structural operators |
//! | 4     | `+` `-`                                    |
//! | 5     | `*` `/` `%`                                |
//! | 6     | `^` (right-associative)                    |
//!
//! Inside `{ }`, a prefix `-` or `!` applies to the `* / % ^` expression after it
//! (`-a * b` is `-(a * b)`, `!a = b` is `(!a) = b`), as in Tempo's grammar. Outside braces
//! a prefix `-` only negates a number literal.
//!
//! # Where it differs from Tempo
//!
//! The same texts parse or fail, with these exceptions, all of which Tempo refuses later or
//! runs to no purpose:
//! - `x != nil` followed by arithmetic (`{ .a != nil / 2 }`) fails to parse; Tempo parses it
//!   and its validation refuses arithmetic on a boolean.
//! - Validation is stricter where Tempo lets an attribute's unknown type through: arithmetic
//!   yields a number, never a condition (`{ .a + .b }`, `{ -.a }`, `{ !(.a * 2) }` are
//!   refused); a regex must be a string literal (`.a =~ .b` is refused); quantiles lie in
//!   `[0, 1]`; `compare`'s start comes before its end.
//! - The `parent.` scope (`parent.http.route`, `parent.resource.service.name`), which Tempo
//!   parses but does not run, is an Arbor extension: the attribute of the span's parent.
//! - Everything else Tempo parses but does not run (its `unsupported` corpus: the bare
//!   `parent` intrinsic, aggregates compared with aggregates, arithmetic on aggregates or
//!   whole pipelines) is refused, with [`ValidateErrorKind::Unsupported`] where it parses.
//! - Any Unicode whitespace separates tokens; number literals are decimal only.
//!
//! Queries nested more than 64 levels deep (parentheses, braces, prefix operators) or whose
//! tree would be more than 256 levels deep (long operator chains) are refused, so no input
//! can exhaust the stack of the parser or of the passes over its tree.

mod ast;
mod error;
mod fold;
mod lexer;
mod lower;
mod parser;
mod print;
mod validate;

#[cfg(test)]
mod tests;

pub use ast::*;
pub use error::{ParseError, Span, TraceQlError, ValidateError, ValidateErrorKind};
pub use fold::arith;

/// Escapes text for a TraceQL string literal or quoted attribute name.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Parses a query (syntax only; see [`validate`]).
pub fn parse(query: &str) -> Result<Query, ParseError> {
    let mut parser = parser::Parser::new(query);
    let (cst, hints) = parser.query()?;
    lower::lower_query(cst, hints)
}

/// Checks the types and shape of a parsed query.
pub fn validate(query: &Query) -> Result<(), ValidateError> {
    validate::validate(query)
}

/// [`parse`] then [`validate`]: the query as the engine runs it.
pub fn parse_and_validate(query: &str) -> Result<Query, TraceQlError> {
    let parsed = parse(query)?;
    validate(&parsed)?;
    Ok(parsed)
}
