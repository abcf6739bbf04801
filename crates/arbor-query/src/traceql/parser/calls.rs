//! Functions at the query level: aggregates, `by`, `select`, `coalesce`, the metrics
//! functions with their `by (…)`, `topk`/`bottomk`, and `with(…)` hints.

use super::{Cst, PResult, Parser};
use crate::traceql::ast::*;
use crate::traceql::error::ParseError;
use crate::traceql::lexer::Tok;

use super::keyword_static;

impl Parser<'_> {
    fn open_paren(&mut self, name: &str) -> PResult<()> {
        self.expect(&Tok::LParen, &format!("`(` after `{name}`"))
            .map(drop)
    }

    fn close_paren(&mut self, name: &str, so_far: Span) -> PResult<Span> {
        let close = self.expect(&Tok::RParen, &format!("`)` to close `{name}(`"))?;
        Ok(so_far.to(close))
    }

    /// A word at the query level: a pipeline function, a metrics function, `topk`.
    pub(super) fn call(&mut self, word: &str) -> PResult<Cst> {
        let name_span = self.span();
        let aggregate = match word {
            "count" => Some(AggregateOp::Count),
            "avg" => Some(AggregateOp::Avg),
            "max" => Some(AggregateOp::Max),
            "min" => Some(AggregateOp::Min),
            "sum" => Some(AggregateOp::Sum),
            _ => None,
        };
        let known = aggregate.is_some()
            || matches!(word, "by" | "select" | "coalesce" | "topk" | "bottomk")
            || metrics_function_name(word);
        if !known {
            if self.tokens.get(self.pos + 1).map(|t| &t.tok) == Some(&Tok::LParen) {
                return Err(ParseError::at(
                    name_span,
                    format!(
                        "unknown function `{word}`; pipelines take `count`, `avg`, `min`, `max`, \
                         `sum`, `by`, `select`, `coalesce` and the metrics functions"
                    ),
                ));
            }
            return Err(self.unexpected(&self.operand_expected()));
        }
        self.bump();
        self.open_paren(word)?;
        self.enter()?;
        // Arguments that are expressions set the depth; the others leave it at 1.
        self.depth = 1;
        let cst = match (aggregate, word) {
            (Some(AggregateOp::Count), _) => {
                let span = self.close_paren(word, name_span)?;
                Cst::Aggregate(Aggregate {
                    op: AggregateOp::Count,
                    expr: None,
                    span,
                })
            }
            (Some(op), _) => {
                if *self.peek() == Tok::RParen {
                    return Err(ParseError::at(
                        self.span(),
                        format!("`{word}` needs a field expression, as in `{word}(duration)`"),
                    ));
                }
                let expr = self.field_expr()?;
                let span = self.close_paren(word, name_span)?;
                Cst::Aggregate(Aggregate {
                    op,
                    expr: Some(expr),
                    span,
                })
            }
            (None, "by") => {
                if *self.peek() == Tok::RParen {
                    return Err(ParseError::at(
                        self.span(),
                        "`by` needs a field expression, as in `by(resource.service.name)`",
                    ));
                }
                let expr = self.field_expr()?;
                let span = self.close_paren(word, name_span)?;
                Cst::GroupBy(GroupBy { expr, span })
            }
            (None, "select") => {
                let fields = self.field_list("select")?;
                let span = self.close_paren(word, name_span)?;
                Cst::Select(Select { fields, span })
            }
            (None, "coalesce") => Cst::Coalesce(self.close_paren(word, name_span)?),
            (None, "topk" | "bottomk") => {
                let op = if word == "topk" {
                    TopKOp::TopK
                } else {
                    TopKOp::BottomK
                };
                let k = self.whole_number(&format!("a count, as in `{word}(10)`"))?;
                let span = self.close_paren(word, name_span)?;
                Cst::TopK(op, k, span)
            }
            _ => Cst::Metrics(self.metrics_function(word, name_span)?),
        };
        self.leave();
        self.depth = self.deeper(self.depth, 0, name_span)?;
        Ok(cst)
    }

    /// A non-negative integer literal.
    fn whole_number(&mut self, expected: &str) -> PResult<u64> {
        match *self.peek() {
            Tok::Int(i) => {
                self.bump();
                Ok(i.unsigned_abs())
            }
            _ => Err(self.unexpected(expected)),
        }
    }

    /// After `name(`: `field, field, …` (at least one).
    fn field_list(&mut self, name: &str) -> PResult<Vec<FieldRef>> {
        if *self.peek() == Tok::RParen {
            return Err(ParseError::at(
                self.span(),
                format!("`{name}` needs at least one attribute or intrinsic"),
            ));
        }
        let mut fields = vec![self.field_ref()?];
        while self.eat(&Tok::Comma).is_some() {
            fields.push(self.field_ref()?);
        }
        Ok(fields)
    }

    /// An attribute or intrinsic, as named in `select`, `by` and metrics functions.
    fn field_ref(&mut self) -> PResult<FieldRef> {
        let span = self.span();
        let field = match self.peek() {
            Tok::Attr(a) => Field::Attribute(a.clone()),
            Tok::ScopedIntrinsic(i) => Field::Intrinsic(*i),
            Tok::Word(w) if let Some(i) = Intrinsic::from_unscoped(w) => Field::Intrinsic(i),
            _ => {
                return Err(self.unexpected(
                    "an attribute or intrinsic, such as `span.http.route` or `duration`",
                ));
            }
        };
        self.bump();
        Ok(FieldRef { field, span })
    }

    /// After `name(`, up to and including `by (…)`.
    fn metrics_function(&mut self, name: &str, name_span: Span) -> PResult<MetricsFunction> {
        let kind = match name {
            "rate" => MetricsFunctionKind::Rate,
            "count_over_time" => MetricsFunctionKind::CountOverTime,
            "quantile_over_time" => {
                let field = self.field_ref()?;
                let mut quantiles = Vec::new();
                while self.eat(&Tok::Comma).is_some() {
                    quantiles.push(match *self.peek() {
                        Tok::Int(i) => i as f64,
                        Tok::Float(f) => f,
                        _ => return Err(self.unexpected("a quantile between 0 and 1")),
                    });
                    self.bump();
                }
                MetricsFunctionKind::QuantileOverTime { field, quantiles }
            }
            "compare" => {
                let selection = self.spanset_filter()?;
                let mut numbers = Vec::new();
                while self.eat(&Tok::Comma).is_some() {
                    numbers.push(self.whole_number("a whole number")?);
                }
                let to_i64 = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
                let (top_n, range) = match numbers[..] {
                    [] => (COMPARE_DEFAULT_TOP_N, None),
                    [n] => (n, None),
                    [n, start, end] => (n, Some((to_i64(start), to_i64(end)))),
                    _ => {
                        return Err(ParseError::at(
                            name_span,
                            "`compare` takes a spanset filter, then optionally a count, then \
                             optionally a start and an end: `compare({ … }, 10, start, end)`",
                        ));
                    }
                };
                MetricsFunctionKind::Compare {
                    selection,
                    top_n,
                    range,
                }
            }
            _ => {
                let field = self.field_ref()?;
                match name {
                    "min_over_time" => MetricsFunctionKind::MinOverTime(field),
                    "max_over_time" => MetricsFunctionKind::MaxOverTime(field),
                    "avg_over_time" => MetricsFunctionKind::AvgOverTime(field),
                    "sum_over_time" => MetricsFunctionKind::SumOverTime(field),
                    _ => MetricsFunctionKind::HistogramOverTime(field),
                }
            }
        };
        let mut span = self.close_paren(name, name_span)?;
        let mut by = Vec::new();
        if self.at_word("by") {
            if matches!(kind, MetricsFunctionKind::Compare { .. }) {
                return Err(ParseError::at(
                    self.span(),
                    "`compare` already splits by every attribute; it takes no `by`",
                ));
            }
            self.bump();
            self.open_paren("by")?;
            by = self.field_list("by")?;
            span = self.close_paren("by", span)?;
        }
        Ok(MetricsFunction { kind, by, span })
    }

    /// `with(name=value, …)`.
    pub(super) fn hints(&mut self, hints: &mut Vec<Hint>) -> PResult<()> {
        self.bump();
        self.open_paren("with")?;
        loop {
            let span = self.span();
            let Tok::Word(name) = self.peek().clone() else {
                return Err(self.unexpected("a hint name, as in `with(sample=0.1)`"));
            };
            self.bump();
            self.expect(&Tok::Eq, &format!("`=` after hint `{name}`"))?;
            let value = match self.peek().clone() {
                Tok::Str(s) => Static::String(s),
                Tok::Int(i) => Static::Int(i),
                Tok::Float(f) => Static::Float(f),
                Tok::Duration(d) => Static::Duration(d),
                Tok::Word(w) if let Some(value) = keyword_static(&w) => value,
                _ => return Err(self.unexpected("a hint value (a string, number or boolean)")),
            };
            let span = span.to(self.bump().span);
            hints.push(Hint { name, value, span });
            if self.eat(&Tok::Comma).is_none() {
                break;
            }
        }
        self.expect(&Tok::RParen, "`,` or `)` to close `with(`")?;
        Ok(())
    }
}

fn metrics_function_name(word: &str) -> bool {
    matches!(
        word,
        "rate"
            | "count_over_time"
            | "min_over_time"
            | "max_over_time"
            | "avg_over_time"
            | "sum_over_time"
            | "quantile_over_time"
            | "histogram_over_time"
            | "compare"
    )
}
