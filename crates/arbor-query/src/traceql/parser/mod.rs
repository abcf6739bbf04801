//! Tokens to trees. Field expressions (inside `{ }`, aggregates and `by()`) parse straight
//! to [`FieldExpr`]. The query level parses first to a loose tree ([`Cst`]) with one
//! operator table for everything outside braces, because `>` is a comparison or the child
//! operator and `(` opens a pipeline, a metrics query or arithmetic, which only the
//! operands tell apart; [`lower`](super::lower) then turns it into the typed [`Query`].
//!
//! Depth is bounded (nesting, and the depth of the tree that operator chains build), so a
//! hostile query gets an error, not a stack overflow, here or in the passes over the tree.

mod calls;
mod field;

use super::ast::*;
use super::error::ParseError;
use super::lexer::{Tok, Token, tokenize};

pub(crate) use field::keyword_static;

pub(crate) type PResult<T> = Result<T, ParseError>;

/// Parentheses, braces, unary operators and `^` chains nested deeper than this are refused.
const MAX_NESTING: usize = 64;
/// Trees deeper than this are refused. Operator chains build left-deep trees (a chain of
/// 300 `||` is 300 deep), and every pass over the tree recurses; this bound keeps a debug
/// build well inside a 2 MiB thread stack.
const MAX_DEPTH: usize = 256;

/// The query level before it is typed. Binary operators keep the operator's span.
#[derive(Debug)]
pub(crate) enum Cst {
    Filter(SpansetFilter),
    Paren(Box<Cst>, Span),
    /// Two or more stages joined by `|`.
    Pipe(Vec<Cst>, Span),
    Binary {
        op: QOp,
        lhs: Box<Cst>,
        rhs: Box<Cst>,
        span: Span,
    },
    Neg(Box<Cst>, Span),
    /// An int, float or duration.
    Literal(Static, Span),
    Aggregate(Aggregate),
    GroupBy(GroupBy),
    Select(Select),
    Coalesce(Span),
    Metrics(MetricsFunction),
    TopK(TopKOp, u64, Span),
}

/// Operators outside braces. `>` and `<` are [`QOp::Cmp`] until the operands show they are
/// structural.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum QOp {
    /// `&&`, `||`
    Logic(SpansetOp),
    Cmp(CmpOp),
    /// Structural operators other than `>` and `<`.
    Structural(SpansetOp),
    Arith(ArithOp),
}

impl QOp {
    pub(crate) fn symbol(self) -> &'static str {
        match self {
            QOp::Logic(op) | QOp::Structural(op) => op.symbol(),
            QOp::Cmp(op) => op.symbol(),
            QOp::Arith(op) => op.symbol(),
        }
    }
}

impl Cst {
    pub(crate) fn span(&self) -> Span {
        match self {
            Cst::Filter(f) => f.span,
            Cst::Paren(_, s) | Cst::Pipe(_, s) | Cst::Neg(_, s) | Cst::Literal(_, s) => *s,
            Cst::Coalesce(s) | Cst::TopK(_, _, s) => *s,
            Cst::Binary { lhs, rhs, .. } => lhs.span().to(rhs.span()),
            Cst::Aggregate(a) => a.span,
            Cst::GroupBy(g) => g.span,
            Cst::Select(s) => s.span,
            Cst::Metrics(m) => m.span,
        }
    }
}

pub(crate) struct Parser<'a> {
    src: &'a str,
    tokens: Vec<Token>,
    pos: usize,
    nesting: usize,
    /// The depth of the subtree parsed last.
    depth: usize,
}

impl<'a> Parser<'a> {
    pub(crate) fn new(src: &'a str) -> Parser<'a> {
        Parser {
            src,
            tokens: tokenize(src),
            pos: 0,
            nesting: 0,
            depth: 0,
        }
    }

    // -----------------------------------------------------------------------------------
    // Token helpers

    fn peek(&self) -> &Tok {
        &self.tokens[self.pos].tok
    }

    fn span(&self) -> Span {
        self.tokens[self.pos].span
    }

    /// The current token, moving past it (never past the last, `Eof` or `Error`).
    fn bump(&mut self) -> Token {
        let token = self.tokens[self.pos].clone();
        if self.pos + 1 < self.tokens.len() {
            self.pos += 1;
        }
        token
    }

    fn eat(&mut self, tok: &Tok) -> Option<Span> {
        (self.peek() == tok).then(|| self.bump().span)
    }

    fn at_word(&self, word: &str) -> bool {
        matches!(self.peek(), Tok::Word(w) if w == word)
    }

    fn expect(&mut self, tok: &Tok, expected: &str) -> PResult<Span> {
        match self.eat(tok) {
            Some(span) => Ok(span),
            None => Err(self.unexpected(expected)),
        }
    }

    /// "expected …, found …" at the current token, or the lexer's message if the current
    /// token is a malformed literal.
    fn unexpected(&self, expected: &str) -> ParseError {
        let span = self.span();
        match self.peek() {
            Tok::Error(message) => ParseError::at(span, message.clone()),
            Tok::Eq if self.previous() == Some(&Tok::Eq) => {
                ParseError::at(span, "`==` is not an operator; TraceQL compares with `=`")
            }
            _ => ParseError::at(span, format!("expected {expected}, found {}", self.found())),
        }
    }

    /// The token before the current one, when it ends where the current one starts.
    fn previous(&self) -> Option<&Tok> {
        let before = self.tokens.get(self.pos.checked_sub(1)?)?;
        (before.span.end == self.span().start).then_some(&before.tok)
    }

    /// Whether the current token follows a binary operator (so a value is expected).
    fn after_operator(&self) -> bool {
        let Some(before) = self.pos.checked_sub(1).and_then(|i| self.tokens.get(i)) else {
            return false;
        };
        matches!(
            before.tok,
            Tok::Eq
                | Tok::Neq
                | Tok::Lt
                | Tok::Lte
                | Tok::Gt
                | Tok::Gte
                | Tok::Plus
                | Tok::Minus
                | Tok::Star
                | Tok::Slash
                | Tok::Percent
                | Tok::Caret
        )
    }

    fn found(&self) -> String {
        let token = &self.tokens[self.pos];
        if token.tok == Tok::Eof {
            return "the end of the query".into();
        }
        let text = &self.src[token.span.start..token.span.end];
        let mut shown: String = text.chars().take(30).collect();
        if shown.len() < text.len() {
            shown.push('…');
        }
        format!("`{shown}`")
    }

    fn enter(&mut self) -> PResult<()> {
        self.nesting += 1;
        if self.nesting > MAX_NESTING {
            return Err(ParseError::at(
                self.span(),
                format!("the query nests more than {MAX_NESTING} levels deep"),
            ));
        }
        Ok(())
    }

    fn leave(&mut self) {
        self.nesting -= 1;
    }

    /// The depth of a node over subtrees `a` and `b` deep, refused past [`MAX_DEPTH`].
    fn deeper(&self, a: usize, b: usize, span: Span) -> PResult<usize> {
        let depth = 1 + a.max(b);
        if depth > MAX_DEPTH {
            return Err(ParseError::at(
                span,
                format!(
                    "the query is too deep: its operators nest more than {MAX_DEPTH} levels \
                     (a long `||` chain over one attribute can be one regex, `=~ \"a|b|c\"`)"
                ),
            ));
        }
        Ok(depth)
    }

    // -----------------------------------------------------------------------------------
    // Query level

    /// The whole query: an expression, hints, the end.
    pub(crate) fn query(&mut self) -> PResult<(Cst, Vec<Hint>)> {
        let cst = self.q_pipe()?;
        let mut hints = Vec::new();
        while self.at_word("with") {
            self.hints(&mut hints)?;
        }
        if *self.peek() != Tok::Eof {
            let expected = if hints.is_empty() {
                "`|`, an operator, `with(…)` or the end of the query"
            } else {
                "the end of the query"
            };
            return Err(self.unexpected(expected));
        }
        Ok((cst, hints))
    }

    fn q_pipe(&mut self) -> PResult<Cst> {
        let first = self.q_or()?;
        if *self.peek() != Tok::Pipe {
            return Ok(first);
        }
        // Stages sit side by side in a list: the pipeline is one level over the deepest.
        let mut depth = self.depth;
        let mut stages = vec![first];
        while self.eat(&Tok::Pipe).is_some() {
            stages.push(self.q_or()?);
            depth = depth.max(self.depth);
        }
        self.depth = self.deeper(depth, 0, stages[0].span())?;
        let span = stages[0].span().to(stages[stages.len() - 1].span());
        Ok(Cst::Pipe(stages, span))
    }

    /// One binary level: `next (op next)*`, left-associative.
    fn q_level(
        &mut self,
        next: fn(&mut Self) -> PResult<Cst>,
        op_of: fn(&Tok) -> Option<QOp>,
    ) -> PResult<Cst> {
        let mut lhs = next(self)?;
        let mut depth = self.depth;
        while let Some(op) = op_of(self.peek()) {
            let span = self.bump().span;
            let rhs = next(self)?;
            depth = self.deeper(depth, self.depth, span)?;
            lhs = Cst::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
                span,
            };
        }
        self.depth = depth;
        Ok(lhs)
    }

    fn q_or(&mut self) -> PResult<Cst> {
        self.q_level(Self::q_rel, |tok| match tok {
            Tok::AndAnd => Some(QOp::Logic(SpansetOp::And)),
            Tok::OrOr => Some(QOp::Logic(SpansetOp::Or)),
            _ => None,
        })
    }

    fn q_rel(&mut self) -> PResult<Cst> {
        self.q_level(Self::q_add, |tok| {
            Some(match tok {
                Tok::Eq => QOp::Cmp(CmpOp::Eq),
                Tok::Neq => QOp::Cmp(CmpOp::Neq),
                Tok::Lt => QOp::Cmp(CmpOp::Lt),
                Tok::Lte => QOp::Cmp(CmpOp::Lte),
                Tok::Gt => QOp::Cmp(CmpOp::Gt),
                Tok::Gte => QOp::Cmp(CmpOp::Gte),
                Tok::Desc => QOp::Structural(SpansetOp::Descendant),
                Tok::Anc => QOp::Structural(SpansetOp::Ancestor),
                Tok::Tilde => QOp::Structural(SpansetOp::Sibling),
                Tok::NotChild => QOp::Structural(SpansetOp::NotChild),
                Tok::NotParent => QOp::Structural(SpansetOp::NotParent),
                Tok::NotDesc => QOp::Structural(SpansetOp::NotDescendant),
                Tok::NotAnc => QOp::Structural(SpansetOp::NotAncestor),
                Tok::Nre => QOp::Structural(SpansetOp::NotSibling),
                Tok::UnionChild => QOp::Structural(SpansetOp::UnionChild),
                Tok::UnionParent => QOp::Structural(SpansetOp::UnionParent),
                Tok::UnionDesc => QOp::Structural(SpansetOp::UnionDescendant),
                Tok::UnionAnc => QOp::Structural(SpansetOp::UnionAncestor),
                Tok::UnionSibling => QOp::Structural(SpansetOp::UnionSibling),
                _ => return None,
            })
        })
    }

    fn q_add(&mut self) -> PResult<Cst> {
        self.q_level(Self::q_mul, |tok| match tok {
            Tok::Plus => Some(QOp::Arith(ArithOp::Add)),
            Tok::Minus => Some(QOp::Arith(ArithOp::Sub)),
            _ => None,
        })
    }

    fn q_mul(&mut self) -> PResult<Cst> {
        self.q_level(Self::q_pow, |tok| match tok {
            Tok::Star => Some(QOp::Arith(ArithOp::Mul)),
            Tok::Slash => Some(QOp::Arith(ArithOp::Div)),
            Tok::Percent => Some(QOp::Arith(ArithOp::Mod)),
            _ => None,
        })
    }

    fn q_pow(&mut self) -> PResult<Cst> {
        let lhs = self.q_unary()?;
        let lhs_depth = self.depth;
        let Some(span) = self.eat(&Tok::Caret) else {
            return Ok(lhs);
        };
        self.enter()?;
        let rhs = self.q_pow()?;
        self.leave();
        self.depth = self.deeper(lhs_depth, self.depth, span)?;
        Ok(Cst::Binary {
            op: QOp::Arith(ArithOp::Pow),
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
            span,
        })
    }

    fn q_unary(&mut self) -> PResult<Cst> {
        let Some(span) = self.eat(&Tok::Minus) else {
            return self.q_atom();
        };
        self.enter()?;
        let operand = self.q_unary()?;
        self.leave();
        self.depth = self.deeper(self.depth, 0, span)?;
        let span = span.to(operand.span());
        Ok(Cst::Neg(Box::new(operand), span))
    }

    fn q_atom(&mut self) -> PResult<Cst> {
        let span = self.span();
        match self.peek().clone() {
            Tok::LBrace => Ok(Cst::Filter(self.spanset_filter()?)),
            Tok::LParen => {
                self.bump();
                self.enter()?;
                let inner = self.q_pipe()?;
                let close = self.expect(&Tok::RParen, "`)`, `|` or an operator")?;
                self.leave();
                self.depth = self.deeper(self.depth, 0, span)?;
                Ok(Cst::Paren(Box::new(inner), span.to(close)))
            }
            Tok::Int(i) => {
                self.bump();
                self.depth = 1;
                Ok(Cst::Literal(Static::Int(i), span))
            }
            Tok::Float(f) => {
                self.bump();
                self.depth = 1;
                Ok(Cst::Literal(Static::Float(f), span))
            }
            Tok::Duration(d) => {
                self.bump();
                self.depth = 1;
                Ok(Cst::Literal(Static::Duration(d), span))
            }
            Tok::Word(word) => self.call(&word),
            _ => Err(self.unexpected(&self.operand_expected())),
        }
    }

    /// What a query-level operand may be, for messages.
    fn operand_expected(&self) -> String {
        if !self.after_operator() {
            return "a spanset filter `{ … }`".into();
        }
        let literal = match self.peek() {
            Tok::Str(_) => true,
            Tok::Word(w) => w == "nil" || keyword_static(w).is_some(),
            _ => false,
        };
        let mut expected = "a number, an aggregate or a spanset filter `{ … }`".to_string();
        if literal {
            expected =
                format!("{expected} (values other than numbers are compared inside `{{ }}`)");
        }
        expected
    }

    pub(crate) fn spanset_filter(&mut self) -> PResult<SpansetFilter> {
        let open = self.expect(&Tok::LBrace, "a spanset filter `{ … }`")?;
        self.enter()?;
        if let Some(close) = self.eat(&Tok::RBrace) {
            self.leave();
            self.depth = 1;
            return Ok(SpansetFilter {
                expr: None,
                span: open.to(close),
            });
        }
        let expr = self.field_expr()?;
        let close = self.expect(&Tok::RBrace, "`}` or an operator")?;
        self.leave();
        self.depth = self.deeper(self.depth, 0, open)?;
        Ok(SpansetFilter {
            expr: Some(expr),
            span: open.to(close),
        })
    }
}
