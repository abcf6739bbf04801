//! The canonical printer: one spelling for each tree, parenthesized only where the
//! grammar needs it, intrinsics in their scoped form (`span:duration`), durations in the
//! largest exact unit. Printing and parsing again gives the same tree.

use std::fmt::{self, Display, Formatter, Write};

use super::ast::*;
use super::lexer::is_attribute_rune;

impl Display for Query {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            QueryKind::Search(p) => write!(f, "{p}")?,
            QueryKind::Metrics(m) => write!(f, "{m}")?,
        }
        if !self.hints.is_empty() {
            f.write_str(" with(")?;
            for (i, hint) in self.hints.iter().enumerate() {
                if i > 0 {
                    f.write_str(", ")?;
                }
                write!(f, "{hint}")?;
            }
            f.write_char(')')?;
        }
        Ok(())
    }
}

impl Display for Hint {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.name, self.value)
    }
}

impl Display for Pipeline {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        for (i, stage) in self.stages.iter().enumerate() {
            if i > 0 {
                f.write_str(" | ")?;
            }
            write!(f, "{stage}")?;
        }
        Ok(())
    }
}

impl Display for Stage {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Stage::Spanset(e) => write!(f, "{e}"),
            Stage::ScalarFilter(s) => write!(f, "{s}"),
            Stage::GroupBy(g) => write!(f, "by({})", g.expr),
            Stage::Select(s) => {
                f.write_str("select(")?;
                list(f, &s.fields)?;
                f.write_char(')')
            }
            Stage::Coalesce => f.write_str("coalesce()"),
        }
    }
}

fn list<T: Display>(f: &mut Formatter<'_>, items: &[T]) -> fmt::Result {
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{item}")?;
    }
    Ok(())
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

/// Whether a child at `child` precedence under a parent at `parent` needs parentheses.
fn needs_parens(child: u8, parent: u8, side: Side, right_assoc: bool) -> bool {
    child < parent
        || (child == parent
            && if right_assoc {
                side == Side::Left
            } else {
                side == Side::Right
            })
}

// ---------------------------------------------------------------------------------------
// Spansets

fn spanset_precedence(op: SpansetOp) -> u8 {
    if op.is_logical() { 1 } else { 2 }
}

impl Display for SpansetExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        spanset(f, self, self.has_pipeline())
    }
}

impl SpansetExpr {
    /// Whether a parenthesized pipeline occurs in the expression.
    fn has_pipeline(&self) -> bool {
        match self {
            SpansetExpr::Filter(_) => false,
            SpansetExpr::Pipeline(_) => true,
            SpansetExpr::Op { lhs, rhs, .. } => lhs.has_pipeline() || rhs.has_pipeline(),
        }
    }
}

/// `wrapped`: the expression joins parenthesized pipelines, where Tempo's grammar wants
/// every operand in parentheses, filters too (`({ … }) && ({ … } | count() > 1)`).
fn spanset(f: &mut Formatter<'_>, e: &SpansetExpr, wrapped: bool) -> fmt::Result {
    match e {
        SpansetExpr::Filter(filter) if wrapped => write!(f, "({filter})"),
        SpansetExpr::Filter(filter) => write!(f, "{filter}"),
        SpansetExpr::Pipeline(p) => write!(f, "({p})"),
        SpansetExpr::Op { op, lhs, rhs, .. } => {
            spanset_child(f, lhs, *op, Side::Left, wrapped)?;
            write!(f, " {} ", op.symbol())?;
            spanset_child(f, rhs, *op, Side::Right, wrapped)
        }
    }
}

fn spanset_child(
    f: &mut Formatter<'_>,
    e: &SpansetExpr,
    parent: SpansetOp,
    side: Side,
    wrapped: bool,
) -> fmt::Result {
    match e {
        // A plain operand among pipelines: parenthesized, and plain inside.
        _ if wrapped && !e.has_pipeline() => {
            f.write_char('(')?;
            spanset(f, e, false)?;
            f.write_char(')')
        }
        SpansetExpr::Op { op, .. }
            if needs_parens(
                spanset_precedence(*op),
                spanset_precedence(parent),
                side,
                false,
            ) || mixes_logic(op.is_logical() && *op != parent, parent.is_logical()) =>
        {
            f.write_char('(')?;
            spanset(f, e, wrapped)?;
            f.write_char(')')
        }
        _ => spanset(f, e, wrapped),
    }
}

/// `&&` and `||` share a level (`a || b && c` is `(a || b) && c`); a child of the other
/// one is parenthesized so nobody reads it the C way.
fn mixes_logic(child_is_other_logical: bool, parent_is_logical: bool) -> bool {
    child_is_other_logical && parent_is_logical
}

impl Display for SpansetFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Some(e) => write!(f, "{{ {e} }}"),
            None => f.write_str("{}"),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Scalars

impl Display for ScalarFilter {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} {}", self.lhs, self.op.symbol(), self.rhs)
    }
}

impl Display for ScalarExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            ScalarExpr::Aggregate(a) => write!(f, "{a}"),
            ScalarExpr::Literal(value, _) => write!(f, "{value}"),
            ScalarExpr::Binary { op, lhs, rhs, .. } => {
                scalar_child(f, lhs, *op, Side::Left)?;
                write!(f, " {} ", op.symbol())?;
                scalar_child(f, rhs, *op, Side::Right)
            }
        }
    }
}

fn scalar_child(f: &mut Formatter<'_>, e: &ScalarExpr, parent: ArithOp, side: Side) -> fmt::Result {
    match e {
        ScalarExpr::Binary { op, .. }
            if needs_parens(
                op.precedence(),
                parent.precedence(),
                side,
                parent == ArithOp::Pow,
            ) =>
        {
            write!(f, "({e})")
        }
        _ => write!(f, "{e}"),
    }
}

impl Display for Aggregate {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.expr {
            Some(e) => write!(f, "{}({e})", self.op.name()),
            None => write!(f, "{}()", self.op.name()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Field expressions

/// Precedence of a field expression node as a child; prefix `-`/`!` get their own rule.
fn field_precedence(e: &FieldExpr) -> u8 {
    match &e.kind {
        FieldKind::Binary { op, .. } => op.precedence(),
        FieldKind::Unary {
            op: UnaryOp::Exists,
            ..
        } => 2,
        _ => u8::MAX,
    }
}

impl Display for FieldExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FieldKind::Static(s) => write!(f, "{s}"),
            FieldKind::Intrinsic(i) => f.write_str(i.name()),
            FieldKind::Attribute(a) => write!(f, "{a}"),
            FieldKind::Binary { op, lhs, rhs } => {
                field_child(f, lhs, *op, Side::Left)?;
                write!(f, " {} ", op.symbol())?;
                field_child(f, rhs, *op, Side::Right)
            }
            FieldKind::Unary {
                op: UnaryOp::Exists,
                expr,
            } => {
                if field_precedence(expr) < 3 {
                    write!(f, "({expr}) != nil")
                } else {
                    write!(f, "{expr} != nil")
                }
            }
            FieldKind::Unary { op, expr } => {
                f.write_str(if *op == UnaryOp::Neg { "-" } else { "!" })?;
                // The operand of a prefix operator extends over `* / % ^`; parenthesize
                // any binary operand so the text reads as it parses.
                if field_precedence(expr) == u8::MAX {
                    write!(f, "{expr}")
                } else {
                    write!(f, "({expr})")
                }
            }
        }
    }
}

fn field_child(f: &mut Formatter<'_>, e: &FieldExpr, parent: BinaryOp, side: Side) -> fmt::Result {
    let parens = match &e.kind {
        FieldKind::Unary {
            op: UnaryOp::Neg | UnaryOp::Not,
            ..
        } => parent.precedence() >= BinaryOp::Mul.precedence(),
        FieldKind::Binary { op, .. } => {
            needs_parens(
                op.precedence(),
                parent.precedence(),
                side,
                parent == BinaryOp::Pow,
            ) || mixes_logic(
                matches!(op, BinaryOp::And | BinaryOp::Or) && *op != parent,
                matches!(parent, BinaryOp::And | BinaryOp::Or),
            )
        }
        _ => needs_parens(
            field_precedence(e),
            parent.precedence(),
            side,
            parent == BinaryOp::Pow,
        ),
    };
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for Static {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Static::Bool(b) => write!(f, "{b}"),
            Static::Int(i) => write!(f, "{i}"),
            Static::Float(x) => write!(f, "{x:?}"),
            Static::Duration(ns) => write_duration(f, *ns),
            Static::String(s) => write_quoted(f, s, true),
            Static::Status(s) => f.write_str(match s {
                Status::Ok => "ok",
                Status::Error => "error",
                Status::Unset => "unset",
            }),
            Static::Kind(k) => f.write_str(match k {
                Kind::Unspecified => "unspecified",
                Kind::Internal => "internal",
                Kind::Server => "server",
                Kind::Client => "client",
                Kind::Producer => "producer",
                Kind::Consumer => "consumer",
            }),
        }
    }
}

fn write_duration(f: &mut Formatter<'_>, ns: i64) -> fmt::Result {
    if ns < 0 {
        f.write_char('-')?;
    }
    let ns = ns.unsigned_abs();
    let units: [(u64, &str); 5] = [
        (3_600_000_000_000, "h"),
        (60_000_000_000, "m"),
        (1_000_000_000, "s"),
        (1_000_000, "ms"),
        (1_000, "us"),
    ];
    if ns == 0 {
        return f.write_str("0s");
    }
    match units.iter().find(|(size, _)| ns.is_multiple_of(*size)) {
        Some((size, unit)) => write!(f, "{}{unit}", ns / size),
        None => write!(f, "{ns}ns"),
    }
}

/// A double-quoted string. Strings take Go's escapes; attribute names only `\"` and `\\`.
fn write_quoted(f: &mut Formatter<'_>, s: &str, go_escapes: bool) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' if go_escapes => f.write_str("\\n")?,
            '\r' if go_escapes => f.write_str("\\r")?,
            '\t' if go_escapes => f.write_str("\\t")?,
            c if go_escapes && c.is_control() => {
                if (c as u32) <= 0xFFFF {
                    write!(f, "\\u{:04x}", c as u32)?
                } else {
                    write!(f, "\\U{:08x}", c as u32)?
                }
            }
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}

impl Display for Attribute {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        if self.parent {
            f.write_str("parent")?;
            if self.scope != Scope::None {
                f.write_char('.')?;
            }
        }
        f.write_str(self.scope.prefix())?;
        let bare = !self.name.is_empty()
            && self.name.chars().all(|c| is_attribute_rune(c) && c != '"')
            // `.5` would read as a number, `parent.span.x` as a span attribute of the parent.
            && !(self.scope == Scope::None
                && !self.parent
                && self.name.starts_with(|c: char| c.is_ascii_digit()))
            && !(self.scope == Scope::None
                && self.parent
                && (self.name.starts_with("span.") || self.name.starts_with("resource.")));
        if bare {
            f.write_str(&self.name)
        } else {
            write_quoted(f, &self.name, false)
        }
    }
}

impl Display for Intrinsic {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Display for Field {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            Field::Intrinsic(i) => write!(f, "{i}"),
            Field::Attribute(a) => write!(f, "{a}"),
        }
    }
}

impl Display for FieldRef {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.field)
    }
}

// ---------------------------------------------------------------------------------------
// Metrics

impl Display for MetricsExpr {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        match self {
            MetricsExpr::Pipeline(p) => write!(f, "{} | {}", p.pipeline, p.function),
            MetricsExpr::Literal(value, _) => write!(f, "{value}"),
            MetricsExpr::Binary { op, lhs, rhs, .. } => {
                metrics_operand(f, lhs, *op, Side::Left)?;
                write!(f, " {} ", op.symbol())?;
                metrics_operand(f, rhs, *op, Side::Right)
            }
            // A comparison and `| topk` read their input as written before them, at the
            // lowest precedence, so the input needs no parentheses.
            MetricsExpr::Filter {
                input,
                op,
                threshold,
                ..
            } => write!(f, "{input} {} {threshold}", op.symbol()),
            MetricsExpr::TopK { input, op, k, .. } => write!(f, "{input} | {}({k})", op.name()),
        }
    }
}

fn metrics_operand(
    f: &mut Formatter<'_>,
    e: &MetricsExpr,
    parent: ArithOp,
    side: Side,
) -> fmt::Result {
    let parens = match e {
        MetricsExpr::Literal(..) => false,
        MetricsExpr::Binary { op, .. } => {
            needs_parens(op.precedence(), parent.precedence(), side, false)
        }
        MetricsExpr::Pipeline(_) | MetricsExpr::Filter { .. } | MetricsExpr::TopK { .. } => true,
    };
    if parens {
        write!(f, "({e})")
    } else {
        write!(f, "{e}")
    }
}

impl Display for MetricsFunction {
    fn fmt(&self, f: &mut Formatter<'_>) -> fmt::Result {
        write!(f, "{}(", self.kind.name())?;
        match &self.kind {
            MetricsFunctionKind::Rate | MetricsFunctionKind::CountOverTime => {}
            MetricsFunctionKind::QuantileOverTime { field, quantiles } => {
                write!(f, "{field}")?;
                for q in quantiles {
                    write!(f, ", {q:?}")?;
                }
            }
            MetricsFunctionKind::Compare {
                selection,
                top_n,
                range,
            } => {
                write!(f, "{selection}")?;
                if *top_n != COMPARE_DEFAULT_TOP_N || range.is_some() {
                    write!(f, ", {top_n}")?;
                }
                if let Some((start, end)) = range {
                    write!(f, ", {start}, {end}")?;
                }
            }
            kind => {
                if let Some(field) = kind.field() {
                    write!(f, "{field}")?;
                }
            }
        }
        f.write_char(')')?;
        if !self.by.is_empty() {
            f.write_str(" by (")?;
            list(f, &self.by)?;
            f.write_char(')')?;
        }
        Ok(())
    }
}
