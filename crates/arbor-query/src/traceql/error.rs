//! Positions and the two error kinds: the parser's (the text is not TraceQL) and the
//! validator's (the text is TraceQL, but its types or shape are wrong, or it asks for
//! something not supported).

use std::fmt;

/// Where a piece of the query sits: a byte range, and the line and column (both from 1,
/// the column counted in characters) of its start.
///
/// Spans are metadata for error messages. They take no part in equality, so two trees
/// parsed from differently spaced text compare equal.
#[derive(Clone, Copy, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
    pub line: u32,
    pub column: u32,
}

impl Span {
    /// From the start of `self` to the end of `other`.
    pub fn to(self, other: Span) -> Span {
        Span {
            end: other.end.max(self.start),
            ..self
        }
    }
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}..{}", self.start, self.end)
    }
}

/// The query is not TraceQL: a token out of place, an unknown name, a malformed literal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ParseError {
    /// Byte offset into the query.
    pub offset: usize,
    pub line: u32,
    pub column: u32,
    /// What was found and what was expected.
    pub message: String,
}

impl ParseError {
    pub(crate) fn at(span: Span, message: impl Into<String>) -> ParseError {
        ParseError {
            offset: span.start,
            line: span.line,
            column: span.column,
            message: message.into(),
        }
    }
}

/// Whether a query that parsed is wrong, or right but beyond what is supported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValidateErrorKind {
    /// Type errors and other mistakes: `{ 1 = "a" }`, `{ .a =~ "[" }`, `| topk(0)`.
    Invalid,
    /// Valid TraceQL that no engine runs yet: the `parent` scope, aggregates compared with
    /// each other, arithmetic between aggregates.
    Unsupported,
}

/// The query parsed but cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {message}")]
pub struct ValidateError {
    pub kind: ValidateErrorKind,
    /// Byte offset into the query of the part at fault.
    pub offset: usize,
    pub line: u32,
    pub column: u32,
    pub message: String,
}

impl ValidateError {
    pub(crate) fn invalid(span: Span, message: impl Into<String>) -> ValidateError {
        ValidateError::new(ValidateErrorKind::Invalid, span, message.into())
    }

    pub(crate) fn unsupported(span: Span, message: impl Into<String>) -> ValidateError {
        ValidateError::new(ValidateErrorKind::Unsupported, span, message.into())
    }

    fn new(kind: ValidateErrorKind, span: Span, message: String) -> ValidateError {
        ValidateError {
            kind,
            offset: span.start,
            line: span.line,
            column: span.column,
            message,
        }
    }
}

/// Either failure of [`parse_and_validate`](super::parse_and_validate). Both are the
/// user's to fix (an HTTP 400), with the position and a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceQlError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error(transparent)]
    Validate(#[from] ValidateError),
}

impl TraceQlError {
    pub fn message(&self) -> &str {
        match self {
            TraceQlError::Parse(e) => &e.message,
            TraceQlError::Validate(e) => &e.message,
        }
    }
}
