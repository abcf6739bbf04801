//! Field expressions, evaluated per span: inside `{ }`, aggregates and `by()`. Tempo's
//! precedence, loosest first: `&& ||` (one level), comparisons, `+ -`, `* / %`, `^`
//! (right). A prefix `-` or `!` takes a `* / % ^` expression.

use super::{PResult, Parser};
use crate::traceql::ast::*;
use crate::traceql::error::ParseError;
use crate::traceql::lexer::{Tok, Token};

impl Parser<'_> {
    pub(crate) fn field_expr(&mut self) -> PResult<FieldExpr> {
        self.field_level(Self::field_rel, |tok| match tok {
            Tok::AndAnd => Some(BinaryOp::And),
            Tok::OrOr => Some(BinaryOp::Or),
            _ => None,
        })
    }

    fn field_level(
        &mut self,
        next: fn(&mut Self) -> PResult<FieldExpr>,
        op_of: fn(&Tok) -> Option<BinaryOp>,
    ) -> PResult<FieldExpr> {
        let mut lhs = next(self)?;
        let mut depth = self.depth;
        while let Some(op) = op_of(self.peek()) {
            let span = self.bump().span;
            let rhs = next(self)?;
            depth = self.deeper(depth, self.depth, span)?;
            lhs = binary(op, lhs, rhs);
        }
        self.depth = depth;
        Ok(lhs)
    }

    fn field_rel(&mut self) -> PResult<FieldExpr> {
        let mut lhs = self.field_add()?;
        let mut depth = self.depth;
        loop {
            let op = match self.peek() {
                Tok::Eq => BinaryOp::Eq,
                Tok::Neq => BinaryOp::Neq,
                Tok::Lt => BinaryOp::Lt,
                Tok::Lte => BinaryOp::Lte,
                Tok::Gt => BinaryOp::Gt,
                Tok::Gte => BinaryOp::Gte,
                Tok::Re => BinaryOp::Regex,
                Tok::Nre => BinaryOp::NotRegex,
                _ => break,
            };
            let op_span = self.bump().span;
            if self.at_word("nil") {
                depth = self.deeper(depth, 0, op_span)?;
                let nil = self.bump().span;
                match op {
                    BinaryOp::Neq => {
                        lhs = FieldExpr {
                            span: lhs.span.to(nil),
                            kind: FieldKind::Unary {
                                op: UnaryOp::Exists,
                                expr: Box::new(lhs),
                            },
                        };
                        continue;
                    }
                    BinaryOp::Eq => return Err(ParseError::at(op_span, EQ_NIL)),
                    _ => return Err(ParseError::at(nil, NIL_ONLY)),
                }
            }
            let rhs = self.field_add()?;
            depth = self.deeper(depth, self.depth, op_span)?;
            lhs = binary(op, lhs, rhs);
        }
        self.depth = depth;
        Ok(lhs)
    }

    fn field_add(&mut self) -> PResult<FieldExpr> {
        self.field_level(Self::field_mul, |tok| match tok {
            Tok::Plus => Some(BinaryOp::Add),
            Tok::Minus => Some(BinaryOp::Sub),
            _ => None,
        })
    }

    fn field_mul(&mut self) -> PResult<FieldExpr> {
        self.field_level(Self::field_pow, |tok| match tok {
            Tok::Star => Some(BinaryOp::Mul),
            Tok::Slash => Some(BinaryOp::Div),
            Tok::Percent => Some(BinaryOp::Mod),
            _ => None,
        })
    }

    fn field_pow(&mut self) -> PResult<FieldExpr> {
        let lhs = self.field_unary()?;
        let lhs_depth = self.depth;
        let Some(span) = self.eat(&Tok::Caret) else {
            return Ok(lhs);
        };
        self.enter()?;
        let rhs = self.field_pow()?;
        self.leave();
        self.depth = self.deeper(lhs_depth, self.depth, span)?;
        Ok(binary(BinaryOp::Pow, lhs, rhs))
    }

    fn field_unary(&mut self) -> PResult<FieldExpr> {
        let op = match self.peek() {
            Tok::Minus => UnaryOp::Neg,
            Tok::Bang => UnaryOp::Not,
            _ => return self.field_primary(),
        };
        let span = self.bump().span;
        self.enter()?;
        let operand = self.field_mul()?;
        self.leave();
        self.depth = self.deeper(self.depth, 0, span)?;
        Ok(FieldExpr {
            span: span.to(operand.span),
            kind: FieldKind::Unary {
                op,
                expr: Box::new(operand),
            },
        })
    }

    fn field_primary(&mut self) -> PResult<FieldExpr> {
        let span = self.span();
        let kind = match self.peek().clone() {
            Tok::Str(s) => FieldKind::Static(Static::String(s)),
            Tok::Int(i) => FieldKind::Static(Static::Int(i)),
            Tok::Float(f) => FieldKind::Static(Static::Float(f)),
            Tok::Duration(d) => FieldKind::Static(Static::Duration(d)),
            Tok::Attr(a) => FieldKind::Attribute(a),
            Tok::ScopedIntrinsic(i) => FieldKind::Intrinsic(i),
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.field_expr()?;
                let close = self.expect(&Tok::RParen, "`)` or an operator")?;
                self.leave();
                self.depth = self.deeper(self.depth, 0, span)?;
                return Ok(FieldExpr {
                    kind: inner.kind,
                    span: span.to(close),
                });
            }
            Tok::Word(w) if w == "nil" => return self.nil_first(),
            Tok::Word(w) => match (keyword_static(&w), Intrinsic::from_unscoped(&w)) {
                (Some(s), _) => FieldKind::Static(s),
                (None, Some(i)) => FieldKind::Intrinsic(i),
                (None, None) => {
                    // `http.status` lexes as `http` then `.status`: suggest the whole name.
                    let mut name = w.clone();
                    if let Some(Token {
                        tok: Tok::Attr(a),
                        span: next,
                    }) = self.tokens.get(self.pos + 1)
                        && next.start == span.end
                        && a.scope == Scope::None
                        && !a.parent
                    {
                        name = format!("{w}.{}", a.name);
                    }
                    return Err(ParseError::at(
                        span,
                        format!(
                            "unknown name `{name}`; attributes are written `.{name}`, \
                             `span.{name}` or `resource.{name}`, intrinsics as `span:name`, \
                             `trace:duration`, …"
                        ),
                    ));
                }
            },
            _ => return Err(self.unexpected("a value, an attribute or an intrinsic")),
        };
        self.bump();
        self.depth = 1;
        Ok(FieldExpr { kind, span })
    }

    /// `nil != x` (x is set), `nil = nil` and `nil != nil` (both false, as in Tempo).
    fn nil_first(&mut self) -> PResult<FieldExpr> {
        let nil = self.bump().span;
        let op_span = self.span();
        let eq = match self.peek() {
            Tok::Eq => true,
            Tok::Neq => false,
            _ => return Err(ParseError::at(nil, NIL_ONLY)),
        };
        self.bump();
        if self.at_word("nil") {
            let end = self.bump().span;
            self.depth = 1;
            return Ok(FieldExpr {
                kind: FieldKind::Static(Static::Bool(false)),
                span: nil.to(end),
            });
        }
        if eq {
            return Err(ParseError::at(op_span, EQ_NIL));
        }
        let operand = self.field_add()?;
        self.depth = self.deeper(self.depth, 0, nil)?;
        Ok(FieldExpr {
            span: nil.to(operand.span),
            kind: FieldKind::Unary {
                op: UnaryOp::Exists,
                expr: Box::new(operand),
            },
        })
    }
}

const EQ_NIL: &str = "`= nil` is not supported; to test that a field is set, write `!= nil`";
const NIL_ONLY: &str = "`nil` can only be compared with `!=`, as in `span.foo != nil`";

fn binary(op: BinaryOp, lhs: FieldExpr, rhs: FieldExpr) -> FieldExpr {
    FieldExpr {
        span: lhs.span.to(rhs.span),
        kind: FieldKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
    }
}

/// Literal keywords: booleans, statuses, kinds.
pub(crate) fn keyword_static(word: &str) -> Option<Static> {
    Some(match word {
        "true" => Static::Bool(true),
        "false" => Static::Bool(false),
        "ok" => Static::Status(Status::Ok),
        "error" => Static::Status(Status::Error),
        "unset" => Static::Status(Status::Unset),
        "unspecified" => Static::Kind(Kind::Unspecified),
        "internal" => Static::Kind(Kind::Internal),
        "server" => Static::Kind(Kind::Server),
        "client" => Static::Kind(Kind::Client),
        "producer" => Static::Kind(Kind::Producer),
        "consumer" => Static::Kind(Kind::Consumer),
        _ => return None,
    })
}
