//! Metrics queries: a pipeline and its metrics function (`{ … } | rate() by (…) > 10`), the
//! `| topk(n)` stages after it, and arithmetic between parenthesized metrics queries and
//! numbers. Durations are allowed only as a comparison's threshold, as in Tempo.

use super::{check_plain_stages, describe, error, is_metrics, negate, stage};
use crate::traceql::ast::*;
use crate::traceql::error::ParseError;
use crate::traceql::parser::{Cst, PResult, QOp};

/// A tree known to contain a metrics function or `topk`.
pub(super) fn metrics_expr(cst: Cst) -> PResult<MetricsExpr> {
    match cst {
        Cst::Pipe(stages, _) => metrics_pipe(stages),
        Cst::Paren(inner, span) => {
            if is_metrics(&inner) {
                metrics_expr(*inner)
            } else {
                number_expr(Cst::Paren(inner, span))
            }
        }
        Cst::Binary {
            op: QOp::Arith(op),
            lhs,
            rhs,
            span,
        } => arith(op, *lhs, *rhs, span, "between metrics", metrics_operand),
        Cst::Binary {
            op: QOp::Cmp(op),
            lhs,
            rhs,
            span,
        } => {
            if !is_metrics(&lhs) {
                return Err(error(
                    &lhs,
                    "a metrics comparison takes the metrics query on its left, as in `({ … } | rate()) > 10`",
                ));
            }
            Ok(MetricsExpr::Filter {
                input: Box::new(metrics_expr(*lhs)?),
                op,
                threshold: Box::new(threshold(*rhs)?),
                span,
            })
        }
        Cst::Binary { op, span, .. } => Err(ParseError::at(
            span,
            format!(
                "`{}` cannot combine metrics; use `+`, `-`, `*` or `/`",
                op.symbol()
            ),
        )),
        Cst::Metrics(ref m) => Err(error(
            &cst,
            format!(
                "`{}` needs a spanset pipeline before it, as in `{{ }} | {}()`",
                m.kind.name(),
                m.kind.name()
            ),
        )),
        Cst::TopK(op, ..) => Err(error(&cst, topk_needs_metrics(op))),
        other => Err(error(
            &other,
            format!("expected a metrics query, found {}", describe(&other)),
        )),
    }
}

fn topk_needs_metrics(op: TopKOp) -> String {
    format!(
        "`{}` follows a metrics function, as in `{{ }} | rate() | {}(10)`",
        op.name(),
        op.name()
    )
}

/// `stages | metrics function [cmp threshold] | topk(…) …`, or arithmetic then `| topk`.
fn metrics_pipe(stages: Vec<Cst>) -> PResult<MetricsExpr> {
    let at = stages.iter().position(is_metrics).unwrap_or(0);
    let mut stages = stages.into_iter();
    let mut expr = if at == 0 {
        let first = stages.next().ok_or_else(|| {
            ParseError::at(Span::default(), "expected a metrics query, found nothing")
        })?;
        if matches!(first, Cst::Metrics(_) | Cst::TopK(..)) {
            return Err(metrics_stage_error(&first));
        }
        metrics_expr(first)?
    } else {
        let before: Vec<Cst> = stages.by_ref().take(at + 1).collect();
        check_plain_stages(&before)?;
        let mut before = before.into_iter();
        let spanset_stages = before
            .by_ref()
            .take(at)
            .enumerate()
            .map(|(i, s)| stage(s, i == 0))
            .collect::<PResult<Vec<_>>>()?;
        let metrics = before.next().ok_or_else(|| {
            ParseError::at(
                Span::default(),
                "expected a metrics function, found nothing",
            )
        })?;
        metrics_stage(
            metrics,
            &mut Some(Pipeline {
                stages: spanset_stages,
            }),
        )?
    };
    for next in stages {
        expr = second_stage(next, expr)?;
    }
    Ok(expr)
}

fn metrics_stage_error(cst: &Cst) -> ParseError {
    match cst {
        Cst::TopK(op, ..) => error(cst, topk_needs_metrics(*op)),
        _ => error(
            cst,
            "a metrics function needs a spanset pipeline before it, as in `{ } | rate()`",
        ),
    }
}

/// The stage holding the metrics function: `rate()`, or `rate() > 10` (possibly chained).
fn metrics_stage(cst: Cst, pipeline: &mut Option<Pipeline>) -> PResult<MetricsExpr> {
    match cst {
        Cst::Metrics(function) => {
            let pipeline = pipeline.take().unwrap_or(Pipeline { stages: Vec::new() });
            Ok(MetricsExpr::Pipeline(Box::new(MetricsPipeline {
                pipeline,
                function,
            })))
        }
        Cst::Binary {
            op: QOp::Cmp(op),
            lhs,
            rhs,
            span,
        } if is_metrics(&lhs) => Ok(MetricsExpr::Filter {
            input: Box::new(metrics_stage(*lhs, pipeline)?),
            op,
            threshold: Box::new(threshold(*rhs)?),
            span,
        }),
        Cst::Binary {
            op: QOp::Arith(op),
            span,
            ..
        } => Err(ParseError::at(
            span,
            format!(
                "arithmetic on a metrics query needs parentheses around it, as in \
                 `({{ }} | rate()) {} 2`",
                op.symbol()
            ),
        )),
        Cst::TopK(op, ..) => Err(error(&cst, topk_needs_metrics(op))),
        other => Err(error(
            &other,
            format!(
                "expected a metrics function such as `rate()`, found {}",
                describe(&other)
            ),
        )),
    }
}

/// After the metrics function: `topk(n)` or `bottomk(n)`, optionally compared.
fn second_stage(cst: Cst, input: MetricsExpr) -> PResult<MetricsExpr> {
    match cst {
        Cst::TopK(op, k, span) => Ok(MetricsExpr::TopK {
            input: Box::new(input),
            op,
            k,
            span,
        }),
        Cst::Binary {
            op: QOp::Cmp(op),
            lhs,
            rhs,
            span,
        } if matches!(*lhs, Cst::TopK(..) | Cst::Binary { .. }) => Ok(MetricsExpr::Filter {
            input: Box::new(second_stage(*lhs, input)?),
            op,
            threshold: Box::new(threshold(*rhs)?),
            span,
        }),
        other => Err(error(
            &other,
            format!(
                "only `topk(…)` or `bottomk(…)` can follow a metrics function, found {}",
                describe(&other)
            ),
        )),
    }
}

/// An operand of metrics arithmetic: a parenthesized metrics query or a number.
fn metrics_operand(cst: Cst) -> PResult<MetricsExpr> {
    if is_metrics(&cst) {
        metrics_expr(cst)
    } else {
        number_expr(cst)
    }
}

/// A comparison's right side: numbers with `+ - * /`, or one duration.
fn threshold(cst: Cst) -> PResult<MetricsExpr> {
    if is_metrics(&cst) {
        return Err(error(
            &cst,
            "a metrics query is compared with a number, not with another metrics query",
        ));
    }
    match cst {
        Cst::Literal(value @ Static::Duration(_), span) => Ok(MetricsExpr::Literal(value, span)),
        Cst::Neg(inner, span) if matches!(*inner, Cst::Literal(Static::Duration(_), _)) => {
            match *inner {
                Cst::Literal(value, _) => Ok(MetricsExpr::Literal(negate(value), span)),
                other => number_expr(other),
            }
        }
        other => number_expr(other),
    }
}

/// Numbers and `+ - * /` between them, in metrics arithmetic.
fn number_expr(cst: Cst) -> PResult<MetricsExpr> {
    match cst {
        Cst::Literal(Static::Duration(_), span) => Err(ParseError::at(
            span,
            "durations cannot be used in metrics arithmetic; only as a threshold, as in `… > 1s`",
        )),
        Cst::Literal(value, span) => Ok(MetricsExpr::Literal(value, span)),
        Cst::Neg(inner, span) => match *inner {
            Cst::Literal(Static::Duration(_), _) => number_expr(*inner),
            Cst::Literal(value, _) => Ok(MetricsExpr::Literal(negate(value), span)),
            other => Err(error(
                &other,
                format!("`-` here negates a number, found {}", describe(&other)),
            )),
        },
        Cst::Paren(inner, _) => number_expr(*inner),
        Cst::Binary {
            op: QOp::Arith(op),
            lhs,
            rhs,
            span,
        } => arith(op, *lhs, *rhs, span, "in metrics arithmetic", number_expr),
        other => Err(error(
            &other,
            format!("expected a number, found {}", describe(&other)),
        )),
    }
}

/// `lhs op rhs` in metrics arithmetic, which has `+ - * /` only; `operand` lowers each side
/// and `place` says where the operator stood, for the error.
fn arith(
    op: ArithOp,
    lhs: Cst,
    rhs: Cst,
    span: Span,
    place: &str,
    operand: fn(Cst) -> PResult<MetricsExpr>,
) -> PResult<MetricsExpr> {
    if matches!(op, ArithOp::Mod | ArithOp::Pow) {
        return Err(ParseError::at(
            span,
            format!(
                "`{}` is not supported {place}; use `+`, `-`, `*` or `/`",
                op.symbol()
            ),
        ));
    }
    Ok(MetricsExpr::Binary {
        op,
        lhs: Box::new(operand(lhs)?),
        rhs: Box::new(operand(rhs)?),
        span,
    })
}
