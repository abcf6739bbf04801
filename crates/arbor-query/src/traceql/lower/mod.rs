//! The loose query-level tree ([`Cst`]) to the typed [`Query`]: decides what each operator
//! means from its operands (`{a} > {b}` is structural, `count() > 2` a comparison) and
//! refuses what is not TraceQL, with a message naming what was found where.
//!
//! A query with a metrics function anywhere is a metrics query; everything else is a
//! search pipeline.

mod metrics;

use super::ast::*;
use super::error::ParseError;
use super::parser::{Cst, PResult, QOp};

use metrics::metrics_expr;

pub(crate) fn lower_query(cst: Cst, hints: Vec<Hint>) -> PResult<Query> {
    let kind = if is_metrics(&cst) {
        QueryKind::Metrics(metrics_expr(cst)?)
    } else {
        QueryKind::Search(pipeline(cst)?)
    };
    Ok(Query { kind, hints })
}

/// Whether a metrics function or `topk`/`bottomk` occurs outside braces.
fn is_metrics(cst: &Cst) -> bool {
    match cst {
        Cst::Metrics(_) | Cst::TopK(..) => true,
        Cst::Paren(inner, _) | Cst::Neg(inner, _) => is_metrics(inner),
        Cst::Pipe(stages, _) => stages.iter().any(is_metrics),
        Cst::Binary { lhs, rhs, .. } => is_metrics(lhs) || is_metrics(rhs),
        _ => false,
    }
}

/// Whether the tree reads as spansets: filters, parenthesized pipelines, spanset operators.
fn is_spanset_like(cst: &Cst) -> bool {
    match cst {
        Cst::Filter(_) => true,
        // `( stage )` is a one-stage pipeline in parentheses: `(by(.a))`, `(count() > 1)`.
        Cst::Paren(inner, _) => match &**inner {
            Cst::Pipe(..) | Cst::GroupBy(_) | Cst::Select(_) => true,
            Cst::Binary {
                op: QOp::Cmp(_), ..
            } => true,
            inner => is_spanset_like(inner),
        },
        Cst::Binary { op, lhs, .. } => match op {
            QOp::Logic(_) | QOp::Structural(_) => true,
            QOp::Cmp(CmpOp::Gt | CmpOp::Lt) => is_spanset_like(lhs),
            _ => false,
        },
        _ => false,
    }
}

/// Tempo's grammar has two spanset forms, and an operator joins two of the same form:
/// plain (`{ … }`, and operators and parentheses over plain ones) and wrapped (a
/// parenthesized pipeline, and operators and parentheses over wrapped ones). `( plain )` is
/// both. A wrapped expression is a whole query or an operand; it is not a `|` stage.
#[derive(Clone, Copy)]
struct Forms {
    plain: bool,
    wrapped: bool,
}

fn forms(cst: &Cst) -> Forms {
    match cst {
        Cst::Filter(_) => Forms {
            plain: true,
            wrapped: false,
        },
        Cst::Paren(inner, _) => match &**inner {
            Cst::Pipe(..) => Forms {
                plain: false,
                wrapped: true,
            },
            inner => {
                let f = forms(inner);
                // `( stage )` is a one-stage pipeline in parentheses.
                let stage = matches!(
                    inner,
                    Cst::GroupBy(_)
                        | Cst::Select(_)
                        | Cst::Binary {
                            op: QOp::Cmp(_),
                            ..
                        }
                );
                Forms {
                    plain: f.plain,
                    wrapped: f.plain || f.wrapped || stage,
                }
            }
        },
        Cst::Binary { lhs, rhs, .. } if is_spanset_like(cst) => {
            let (l, r) = (forms(lhs), forms(rhs));
            Forms {
                plain: l.plain && r.plain,
                wrapped: l.wrapped && r.wrapped,
            }
        }
        _ => Forms {
            plain: false,
            wrapped: false,
        },
    }
}

/// In a pipeline of two or more stages, spanset stages must be plain.
fn check_plain_stages(stages: &[Cst]) -> PResult<()> {
    if stages.len() < 2 {
        return Ok(());
    }
    match stages
        .iter()
        .find(|s| is_spanset_like(s) && !forms(s).plain)
    {
        Some(stage) => Err(error(
            stage,
            "a parenthesized pipeline can be the whole query or an operand of `&&`, `||` and \
             the structural operators, not a stage of a `|` pipeline",
        )),
        None => Ok(()),
    }
}

/// What the user wrote, for "found …" in messages.
fn describe(cst: &Cst) -> String {
    match cst {
        Cst::Filter(_) => "a spanset filter".into(),
        Cst::Paren(inner, _) => match **inner {
            Cst::Pipe(..) => "a parenthesized pipeline".into(),
            _ => describe(inner),
        },
        Cst::Pipe(..) => "a pipeline".into(),
        Cst::Binary { op, .. } => match op {
            QOp::Arith(_) => "an arithmetic expression".into(),
            QOp::Cmp(_) => "a comparison".into(),
            QOp::Logic(_) | QOp::Structural(_) => "a spanset expression".into(),
        },
        Cst::Neg(..) | Cst::Literal(..) => "a number".into(),
        Cst::Aggregate(a) => format!("`{}(…)`", a.op.name()),
        Cst::GroupBy(_) => "`by(…)`".into(),
        Cst::Select(_) => "`select(…)`".into(),
        Cst::Coalesce(_) => "`coalesce()`".into(),
        Cst::Metrics(m) => format!("`{}(…)`", m.kind.name()),
        Cst::TopK(op, ..) => format!("`{}(…)`", op.name()),
    }
}

fn error(cst: &Cst, message: impl Into<String>) -> ParseError {
    ParseError::at(cst.span(), message)
}

// ---------------------------------------------------------------------------------------
// Search pipelines

fn pipeline(cst: Cst) -> PResult<Pipeline> {
    let stages = match cst {
        Cst::Pipe(stages, _) => stages,
        single => vec![single],
    };
    check_plain_stages(&stages)?;
    let stages = stages
        .into_iter()
        .enumerate()
        .map(|(i, stage)| self::stage(stage, i == 0))
        .collect::<PResult<_>>()?;
    Ok(Pipeline { stages })
}

fn stage(cst: Cst, first: bool) -> PResult<Stage> {
    if is_spanset_like(&cst) {
        return Ok(Stage::Spanset(spanset(cst)?));
    }
    match cst {
        Cst::Binary {
            op: QOp::Cmp(op),
            ref lhs,
            ref rhs,
            span,
        } if is_spanset_like(lhs) || is_spanset_like(rhs) => Err(ParseError::at(
            span,
            format!(
                "`{}` cannot compare spansets; structural operators are `>`, `<`, `>>`, `<<`, \
                 `~` and their `!` and `&` forms",
                op.symbol()
            ),
        )),
        Cst::Binary {
            op: QOp::Cmp(op),
            lhs,
            rhs,
            span,
        } => Ok(Stage::ScalarFilter(scalar_filter(op, *lhs, *rhs, span)?)),
        Cst::GroupBy(g) => Ok(Stage::GroupBy(g)),
        Cst::Select(s) => Ok(Stage::Select(s)),
        Cst::Coalesce(span) if first => Err(ParseError::at(
            span,
            "`coalesce()` cannot start a pipeline; it merges the spansets of the stages before it",
        )),
        Cst::Coalesce(_) => Ok(Stage::Coalesce),
        Cst::Aggregate(ref a) => Err(error(
            &cst,
            format!(
                "`{}(…)` must be compared with a value, as in `{} > 1`",
                a.op.name(),
                example_aggregate(a)
            ),
        )),
        Cst::Binary {
            op: QOp::Arith(op),
            ref lhs,
            ref rhs,
            span,
        } => {
            let message = if has_aggregate(&cst) {
                "arithmetic on aggregates must be compared with a value, as in `sum(.a) - 2 > 1`"
                    .to_string()
            } else if is_spanset_like(lhs) || is_spanset_like(rhs) {
                format!(
                    "`{}` cannot combine spansets; use `&&`, `||` or a structural operator such as `>>`",
                    op.symbol()
                )
            } else {
                "expected a spanset filter `{ … }`, found an arithmetic expression".to_string()
            };
            Err(ParseError::at(span, message))
        }
        other => Err(error(
            &other,
            format!(
                "expected a spanset filter `{{ … }}`, found {}",
                describe(&other)
            ),
        )),
    }
}

fn example_aggregate(a: &Aggregate) -> String {
    match a.op {
        AggregateOp::Count => "count()".into(),
        op => format!("{}(…)", op.name()),
    }
}

fn has_aggregate(cst: &Cst) -> bool {
    match cst {
        Cst::Aggregate(_) => true,
        Cst::Paren(inner, _) | Cst::Neg(inner, _) => has_aggregate(inner),
        Cst::Binary { lhs, rhs, .. } => has_aggregate(lhs) || has_aggregate(rhs),
        _ => false,
    }
}

/// An operand of `&&`, `||` or a structural operator.
///
/// Recursion here follows operator chains (up to the parser's depth limit), so the error
/// messages are built in separate functions to keep this frame small.
fn spanset(cst: Cst) -> PResult<SpansetExpr> {
    match cst {
        Cst::Filter(f) => Ok(SpansetExpr::Filter(f)),
        Cst::Paren(inner, _) => {
            let mut pipeline = pipeline(*inner)?;
            if pipeline.stages.len() == 1
                && let Some(Stage::Spanset(_)) = pipeline.stages.first()
                && let Some(Stage::Spanset(e)) = pipeline.stages.pop()
            {
                return Ok(e);
            }
            Ok(SpansetExpr::Pipeline(Box::new(pipeline)))
        }
        Cst::Binary { op, lhs, rhs, span } => spanset_op(op, *lhs, *rhs, span),
        other => Err(not_a_spanset(&other)),
    }
}

fn spanset_op(op: QOp, lhs: Cst, rhs: Cst, span: Span) -> PResult<SpansetExpr> {
    let op = match op {
        QOp::Logic(op) | QOp::Structural(op) => op,
        QOp::Cmp(CmpOp::Gt) => SpansetOp::Child,
        QOp::Cmp(CmpOp::Lt) => SpansetOp::Parent,
        other => return Err(not_between_spansets(other, span)),
    };
    let (l, r) = (forms(&lhs), forms(&rhs));
    let spansets = (l.plain || l.wrapped) && (r.plain || r.wrapped);
    if spansets && !(l.plain && r.plain) && !(l.wrapped && r.wrapped) {
        return Err(mixed_forms(op, span));
    }
    let lhs = spanset_operand(lhs, op)?;
    let rhs = spanset_operand(rhs, op)?;
    Ok(SpansetExpr::Op {
        op,
        lhs: Box::new(lhs),
        rhs: Box::new(rhs),
        span,
    })
}

fn spanset_operand(cst: Cst, op: SpansetOp) -> PResult<SpansetExpr> {
    if matches!(cst, Cst::Filter(_) | Cst::Paren(..)) || is_spanset_like(&cst) {
        spanset(cst)
    } else {
        Err(not_an_operand(&cst, op))
    }
}

#[cold]
#[inline(never)]
fn not_a_spanset(cst: &Cst) -> ParseError {
    error(
        cst,
        format!(
            "expected a spanset filter `{{ … }}`, found {}",
            describe(cst)
        ),
    )
}

#[cold]
#[inline(never)]
fn not_between_spansets(op: QOp, span: Span) -> ParseError {
    let message = match op {
        QOp::Arith(_) => format!(
            "`{}` cannot combine spansets; use `&&`, `||` or a structural operator such as `>>`",
            op.symbol()
        ),
        _ => format!(
            "`{}` cannot compare spansets; structural operators are `>`, `<`, `>>`, `<<`, `~` \
             and their `!` and `&` forms",
            op.symbol()
        ),
    };
    ParseError::at(span, message)
}

#[cold]
#[inline(never)]
fn mixed_forms(op: SpansetOp, span: Span) -> ParseError {
    ParseError::at(
        span,
        format!(
            "`{}` joins two spanset filters or two parenthesized pipelines; put the filter in \
             parentheses too, as in `({{ … }}) {} ( … | … )`",
            op.symbol(),
            op.symbol()
        ),
    )
}

#[cold]
#[inline(never)]
fn not_an_operand(cst: &Cst, op: SpansetOp) -> ParseError {
    error(
        cst,
        format!(
            "`{}` joins spansets: expected a spanset filter `{{ … }}` or a parenthesized \
             pipeline, found {}",
            op.symbol(),
            describe(cst)
        ),
    )
}

fn scalar_filter(op: CmpOp, lhs: Cst, rhs: Cst, span: Span) -> PResult<ScalarFilter> {
    let aggregates = has_aggregate(&lhs) || has_aggregate(&rhs);
    let lhs = scalar(lhs)?;
    let rhs = scalar(rhs)?;
    if !aggregates {
        return Err(ParseError::at(
            span,
            format!(
                "`{}` in a pipeline compares an aggregate such as `count()` or `avg(duration)` with a value",
                op.symbol()
            ),
        ));
    }
    Ok(ScalarFilter { op, lhs, rhs, span })
}

fn scalar(cst: Cst) -> PResult<ScalarExpr> {
    match cst {
        Cst::Aggregate(a) => Ok(ScalarExpr::Aggregate(a)),
        Cst::Literal(value, span) => Ok(ScalarExpr::Literal(value, span)),
        Cst::Neg(inner, span) => match *inner {
            Cst::Literal(value, _) => Ok(ScalarExpr::Literal(negate(value), span)),
            other => Err(error(
                &other,
                format!("`-` here negates a number, found {}", describe(&other)),
            )),
        },
        Cst::Paren(inner, span) => match *inner {
            Cst::Pipe(..) => Err(ParseError::at(
                span,
                "arithmetic and comparisons on a whole pipeline's result are not supported; \
                 compare inside the pipeline, as in `{ … } | count() > 1`",
            )),
            inner => scalar(inner),
        },
        Cst::Binary {
            op: QOp::Arith(op),
            lhs,
            rhs,
            span,
        } => Ok(ScalarExpr::Binary {
            op,
            lhs: Box::new(scalar(*lhs)?),
            rhs: Box::new(scalar(*rhs)?),
            span,
        }),
        other => Err(error(
            &other,
            format!(
                "expected a number or an aggregate such as `count()`, found {}",
                describe(&other)
            ),
        )),
    }
}

fn negate(value: Static) -> Static {
    match value {
        Static::Int(i) => Static::Int(-i),
        Static::Float(f) => Static::Float(-f),
        Static::Duration(d) => Static::Duration(-d),
        other => other,
    }
}
