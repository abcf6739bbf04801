//! Types and shape. A parsed query is refused here when its types do not fit
//! (`{ 1 = "a" }`, `{ status > ok }`, `{ 1 + 1 }`), a regex does not compile, an aggregate or
//! `by()` reads nothing from the span, a metrics function has bad arguments, or it uses
//! something no engine runs (the bare `parent` intrinsic, aggregates compared with each
//! other). The `parent.` scope (`parent.http.route`, `parent.resource.service.name`) is an
//! Arbor extension: the attribute of the span's parent, nil for a root.
//!
//! Attributes have no type until a span is read, so they fit anywhere; numbers (integers,
//! floats, durations) are compared and combined with each other freely.

use super::ast::*;
use super::error::ValidateError;

type VResult<T> = Result<T, ValidateError>;

pub fn validate(query: &Query) -> VResult<()> {
    match &query.kind {
        QueryKind::Search(p) => pipeline(p),
        QueryKind::Metrics(m) => metrics(m),
    }
}

fn pipeline(p: &Pipeline) -> VResult<()> {
    p.stages.iter().try_for_each(stage)
}

fn stage(s: &Stage) -> VResult<()> {
    match s {
        Stage::Spanset(e) => spanset(e),
        Stage::ScalarFilter(f) => scalar_filter(f),
        Stage::GroupBy(g) => {
            type_of(&g.expr)?;
            if !g.expr.references_span() {
                return Err(ValidateError::invalid(
                    g.span,
                    format!(
                        "`by({})` must group by something read from the span, such as \
                         `resource.service.name`",
                        g.expr
                    ),
                ));
            }
            Ok(())
        }
        Stage::Select(s) => s.fields.iter().try_for_each(field_ref),
        Stage::Coalesce => Ok(()),
    }
}

fn spanset(e: &SpansetExpr) -> VResult<()> {
    match e {
        SpansetExpr::Filter(f) => spanset_filter(f),
        SpansetExpr::Pipeline(p) => pipeline(p),
        SpansetExpr::Op { lhs, rhs, .. } => {
            spanset(lhs)?;
            spanset(rhs)
        }
    }
}

fn spanset_filter(f: &SpansetFilter) -> VResult<()> {
    let Some(expr) = &f.expr else {
        return Ok(());
    };
    match type_of(expr)? {
        Ty::Bool | Ty::Any => Ok(()),
        t => Err(ValidateError::invalid(
            expr.span,
            format!(
                "a spanset filter needs a condition, but `{expr}` is {}; compare it, as in `{{ {expr} = … }}`",
                t.describe()
            ),
        )),
    }
}

fn scalar_filter(f: &ScalarFilter) -> VResult<()> {
    scalar(&f.lhs)?;
    scalar(&f.rhs)?;
    if !matches!(f.lhs, ScalarExpr::Aggregate(_)) {
        let message = if f.lhs.const_value().is_some() {
            format!(
                "put the aggregate on the left of `{}`, as in `count() > 1`",
                f.op.symbol()
            )
        } else {
            format!("arithmetic on aggregates is not supported: `{}`", f.lhs)
        };
        return Err(ValidateError::unsupported(f.span, message));
    }
    match f.rhs.const_value() {
        None => Err(ValidateError::unsupported(
            f.span,
            format!(
                "comparing aggregates with each other is not supported: `{f}`; compare with a number"
            ),
        )),
        Some(Err(e)) => Err(ValidateError::invalid(
            f.span,
            format!("cannot compute `{}`: {e}", f.rhs),
        )),
        Some(Ok(_)) => Ok(()),
    }
}

fn scalar(e: &ScalarExpr) -> VResult<()> {
    match e {
        ScalarExpr::Aggregate(a) => aggregate(a),
        ScalarExpr::Literal(..) => Ok(()),
        ScalarExpr::Binary { lhs, rhs, .. } => {
            scalar(lhs)?;
            scalar(rhs)
        }
    }
}

fn aggregate(a: &Aggregate) -> VResult<()> {
    let Some(expr) = &a.expr else {
        return Ok(());
    };
    let t = type_of(expr)?;
    if !(t.is_numeric() || t == Ty::Any) {
        return Err(ValidateError::invalid(
            expr.span,
            format!(
                "`{}` needs a number, but `{expr}` is {}",
                a.op.name(),
                t.describe()
            ),
        ));
    }
    if !expr.references_span() {
        return Err(ValidateError::invalid(
            a.span,
            format!(
                "`{a}` reads nothing from the spans; aggregate a field such as `duration` or `span.size`"
            ),
        ));
    }
    Ok(())
}

fn field_ref(f: &FieldRef) -> VResult<()> {
    match &f.field {
        Field::Intrinsic(Intrinsic::Parent) => Err(parent_unsupported(f.span)),
        _ => Ok(()),
    }
}

fn parent_unsupported(span: Span) -> ValidateError {
    ValidateError::unsupported(
        span,
        "the bare `parent` intrinsic is not supported; name a parent attribute, as in `parent.http.route`",
    )
}

// ---------------------------------------------------------------------------------------
// Field expression types

/// The type a field expression has before any span is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ty {
    /// An attribute: any type until read.
    Any,
    Bool,
    Int,
    Float,
    Duration,
    /// A number of a type only known once read (arithmetic on attributes).
    Number,
    String,
    Status,
    Kind,
}

impl Ty {
    fn is_numeric(self) -> bool {
        matches!(self, Ty::Int | Ty::Float | Ty::Duration | Ty::Number)
    }

    fn fits(self, other: Ty) -> bool {
        self == Ty::Any
            || other == Ty::Any
            || self == other
            || (self.is_numeric() && other.is_numeric())
    }

    fn describe(self) -> &'static str {
        match self {
            Ty::Any => "an attribute",
            Ty::Bool => "a boolean",
            Ty::Int => "an integer",
            Ty::Float => "a float",
            Ty::Duration => "a duration",
            Ty::Number => "a number",
            Ty::String => "a string",
            Ty::Status => "a status",
            Ty::Kind => "a kind",
        }
    }

    fn of_static(s: &Static) -> Ty {
        match s {
            Static::Bool(_) => Ty::Bool,
            Static::Int(_) => Ty::Int,
            Static::Float(_) => Ty::Float,
            Static::Duration(_) => Ty::Duration,
            Static::String(_) => Ty::String,
            Static::Status(_) => Ty::Status,
            Static::Kind(_) => Ty::Kind,
        }
    }

    fn of_intrinsic(i: Intrinsic) -> Ty {
        match i {
            Intrinsic::Duration | Intrinsic::TraceDuration | Intrinsic::EventTimeSinceStart => {
                Ty::Duration
            }
            Intrinsic::ChildCount
            | Intrinsic::NestedSetLeft
            | Intrinsic::NestedSetRight
            | Intrinsic::NestedSetParent => Ty::Int,
            Intrinsic::Status => Ty::Status,
            Intrinsic::Kind => Ty::Kind,
            Intrinsic::Parent => Ty::Any,
            Intrinsic::Name
            | Intrinsic::StatusMessage
            | Intrinsic::SpanId
            | Intrinsic::ParentId
            | Intrinsic::TraceId
            | Intrinsic::TraceRootName
            | Intrinsic::TraceRootService
            | Intrinsic::EventName
            | Intrinsic::LinkTraceId
            | Intrinsic::LinkSpanId
            | Intrinsic::InstrumentationName
            | Intrinsic::InstrumentationVersion => Ty::String,
        }
    }
}

fn type_of(e: &FieldExpr) -> VResult<Ty> {
    match &e.kind {
        FieldKind::Static(s) => Ok(Ty::of_static(s)),
        FieldKind::Intrinsic(Intrinsic::Parent) => Err(parent_unsupported(e.span)),
        FieldKind::Intrinsic(i) => Ok(Ty::of_intrinsic(*i)),
        FieldKind::Attribute(_) => Ok(Ty::Any),
        FieldKind::Unary { op, expr } => {
            let t = type_of(expr)?;
            match op {
                UnaryOp::Exists => Ok(Ty::Bool),
                UnaryOp::Neg if t == Ty::Any => Ok(Ty::Number),
                UnaryOp::Neg if t.is_numeric() => Ok(t),
                UnaryOp::Not if matches!(t, Ty::Any | Ty::Bool) => Ok(Ty::Bool),
                _ => Err(ValidateError::invalid(
                    e.span,
                    format!(
                        "`{}` needs {}, but `{expr}` is {}",
                        if *op == UnaryOp::Neg { "-" } else { "!" },
                        if *op == UnaryOp::Neg {
                            "a number"
                        } else {
                            "a boolean"
                        },
                        t.describe()
                    ),
                )),
            }
        }
        FieldKind::Binary { op, lhs, rhs } => binary_type(e, *op, lhs, rhs),
    }
}

fn binary_type(e: &FieldExpr, op: BinaryOp, lhs: &FieldExpr, rhs: &FieldExpr) -> VResult<Ty> {
    let lt = type_of(lhs)?;
    let rt = type_of(rhs)?;
    let symbol = op.symbol();
    let wrong = |side: &FieldExpr, t: Ty, wanted: &str| {
        ValidateError::invalid(
            side.span,
            format!(
                "`{symbol}` needs {wanted}, but `{side}` is {} in `{e}`",
                t.describe()
            ),
        )
    };
    match op {
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Mod
        | BinaryOp::Pow => {
            for (side, t) in [(lhs, lt), (rhs, rt)] {
                if !(t.is_numeric() || t == Ty::Any) {
                    return Err(wrong(side, t, "numbers"));
                }
            }
            Ok(match (lt, rt) {
                (Ty::Any | Ty::Number, Ty::Any | Ty::Number) => Ty::Number,
                (Ty::Any | Ty::Number, t) | (t, _) => t,
            })
        }
        BinaryOp::And | BinaryOp::Or => {
            for (side, t) in [(lhs, lt), (rhs, rt)] {
                if !matches!(t, Ty::Bool | Ty::Any) {
                    return Err(wrong(side, t, "booleans"));
                }
            }
            Ok(Ty::Bool)
        }
        BinaryOp::Regex | BinaryOp::NotRegex => {
            if !matches!(lt, Ty::String | Ty::Any) {
                return Err(wrong(lhs, lt, "a string"));
            }
            let FieldKind::Static(Static::String(pattern)) = &rhs.kind else {
                return Err(ValidateError::invalid(
                    rhs.span,
                    format!("`{symbol}` needs a string literal regex on its right, found `{rhs}`"),
                ));
            };
            if let Err(err) = regex::Regex::new(&format!("^(?:{pattern})$")) {
                let detail = err.to_string();
                let detail = detail.lines().last().unwrap_or_default().trim().to_string();
                return Err(ValidateError::invalid(
                    rhs.span,
                    format!(
                        "invalid regex {rhs}: {}",
                        detail.trim_start_matches("error: ")
                    ),
                ));
            }
            Ok(Ty::Bool)
        }
        BinaryOp::Eq
        | BinaryOp::Neq
        | BinaryOp::Lt
        | BinaryOp::Lte
        | BinaryOp::Gt
        | BinaryOp::Gte => {
            if !lt.fits(rt) {
                return Err(ValidateError::invalid(
                    e.span,
                    format!(
                        "cannot compare {} with {}: `{e}`",
                        lt.describe(),
                        rt.describe()
                    ),
                ));
            }
            let ordered = !matches!(op, BinaryOp::Eq | BinaryOp::Neq);
            for (side, t) in [(lhs, lt), (rhs, rt)] {
                if ordered && matches!(t, Ty::Bool | Ty::Status | Ty::Kind) {
                    return Err(ValidateError::invalid(
                        side.span,
                        format!(
                            "`{symbol}` cannot order {}; use `=` or `!=`: `{e}`",
                            t.describe()
                        ),
                    ));
                }
            }
            Ok(Ty::Bool)
        }
    }
}

// ---------------------------------------------------------------------------------------
// Metrics

fn metrics(e: &MetricsExpr) -> VResult<()> {
    match e {
        MetricsExpr::Pipeline(p) => {
            pipeline(&p.pipeline)?;
            metrics_function(&p.function)
        }
        MetricsExpr::Literal(..) => Ok(()),
        MetricsExpr::Binary { op, lhs, rhs, .. } => {
            if let Some(compare) = find_compare(lhs).or_else(|| find_compare(rhs)) {
                return Err(ValidateError::invalid(
                    compare,
                    format!(
                        "`compare()` gives several series per attribute and cannot take part in `{}`",
                        op.symbol()
                    ),
                ));
            }
            metrics(lhs)?;
            metrics(rhs)
        }
        MetricsExpr::Filter {
            input,
            op,
            threshold,
            span,
        } => {
            if let Some(compare) = find_compare(input) {
                return Err(ValidateError::invalid(
                    compare,
                    format!(
                        "`compare()` results cannot be filtered with `{}`",
                        op.symbol()
                    ),
                ));
            }
            metrics(input)?;
            match threshold.const_value() {
                Some(Ok(_)) => Ok(()),
                Some(Err(err)) => Err(ValidateError::invalid(
                    *span,
                    format!("cannot compute `{threshold}`: {err}"),
                )),
                None => Err(ValidateError::invalid(
                    *span,
                    "a metrics query is compared with a number",
                )),
            }
        }
        MetricsExpr::TopK { input, op, k, span } => {
            if *k == 0 {
                return Err(ValidateError::invalid(
                    *span,
                    format!(
                        "`{}` needs a count above 0, as in `{}(10)`",
                        op.name(),
                        op.name()
                    ),
                ));
            }
            if let Some(compare) = find_compare(input) {
                return Err(ValidateError::invalid(
                    compare,
                    format!("`{}` cannot follow `compare()`", op.name()),
                ));
            }
            metrics(input)
        }
    }
}

/// Where `compare()` is used in the expression.
fn find_compare(e: &MetricsExpr) -> Option<Span> {
    match e {
        MetricsExpr::Pipeline(p) => matches!(p.function.kind, MetricsFunctionKind::Compare { .. })
            .then_some(p.function.span),
        MetricsExpr::Literal(..) => None,
        MetricsExpr::Binary { lhs, rhs, .. } => find_compare(lhs).or_else(|| find_compare(rhs)),
        MetricsExpr::Filter { input, .. } | MetricsExpr::TopK { input, .. } => find_compare(input),
    }
}

fn metrics_function(m: &MetricsFunction) -> VResult<()> {
    m.by.iter().try_for_each(field_ref)?;
    if let Some(field) = m.kind.field() {
        field_ref(field)?;
        let t = match &field.field {
            Field::Intrinsic(i) => Ty::of_intrinsic(*i),
            Field::Attribute(_) => Ty::Any,
        };
        if !(t.is_numeric() || t == Ty::Any) {
            return Err(ValidateError::invalid(
                field.span,
                format!(
                    "`{}` needs a number, but `{field}` is {}",
                    m.kind.name(),
                    t.describe()
                ),
            ));
        }
    }
    match &m.kind {
        MetricsFunctionKind::QuantileOverTime { quantiles, .. } => {
            if quantiles.is_empty() {
                return Err(ValidateError::invalid(
                    m.span,
                    "`quantile_over_time` needs at least one quantile, as in \
                     `quantile_over_time(duration, 0.5, 0.99)`",
                ));
            }
            if let Some(q) = quantiles.iter().find(|q| !(0.0..=1.0).contains(*q)) {
                return Err(ValidateError::invalid(
                    m.span,
                    format!("quantile {q} is outside 0 to 1"),
                ));
            }
            Ok(())
        }
        MetricsFunctionKind::Compare {
            selection,
            top_n,
            range,
        } => {
            spanset_filter(selection)?;
            if *top_n == 0 {
                return Err(ValidateError::invalid(
                    m.span,
                    "`compare` needs a count above 0",
                ));
            }
            if let Some((start, end)) = range
                && start >= end
            {
                return Err(ValidateError::invalid(
                    m.span,
                    format!("`compare` needs start before end, found {start} and {end}"),
                ));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
