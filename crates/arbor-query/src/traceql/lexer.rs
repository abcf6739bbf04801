//! Text to tokens. Attributes (`span.http.url`, `."name with spaces"`) and scoped
//! intrinsics (`span:duration`) come out whole, as Tempo's lexer gives them: an attribute
//! name runs until whitespace or one of `{ } ( ) = ~ ! < > & | ^ ,`, so `.a-b/c` is one name.
//!
//! A malformed literal becomes an [`Tok::Error`] token and ends the stream; the parser
//! reports it when it gets there, so earlier mistakes are reported first.

use super::ast::{Attribute, Intrinsic, Scope};
use super::error::Span;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    LBrace,
    RBrace,
    LParen,
    RParen,
    Comma,
    Pipe,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    Re,
    Nre,
    AndAnd,
    OrOr,
    Bang,
    Plus,
    Minus,
    Star,
    Slash,
    Percent,
    Caret,
    Desc,
    Anc,
    Tilde,
    NotChild,
    NotDesc,
    NotParent,
    NotAnc,
    UnionChild,
    UnionDesc,
    UnionParent,
    UnionAnc,
    UnionSibling,
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    Str(String),
    Attr(Attribute),
    ScopedIntrinsic(Intrinsic),
    /// Keywords, function names, unscoped intrinsics, anything else word-like.
    Word(String),
    /// A character that starts no token (`[`, `&`, `$`, …).
    Unknown(char),
    /// A malformed literal; the message says what is wrong.
    Error(String),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub span: Span,
}

/// Tokenizes `src` up to the end or the first malformed literal; the last token is
/// [`Tok::Eof`] or [`Tok::Error`].
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let mut lexer = Lexer {
        src,
        pos: 0,
        line: 1,
        column: 1,
    };
    let mut out = Vec::new();
    loop {
        let token = lexer.next_token();
        let end = matches!(token.tok, Tok::Eof | Tok::Error(_));
        out.push(token);
        if end {
            return out;
        }
    }
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: u32,
    column: u32,
}

/// Runes that end an unquoted attribute name (besides whitespace).
fn ends_attribute(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '{' | '}' | '(' | ')' | '=' | '~' | '!' | '<' | '>' | '&' | '|' | '^' | ','
        )
}

pub(crate) fn is_attribute_rune(c: char) -> bool {
    !ends_attribute(c)
}

fn is_word_start(c: char) -> bool {
    c.is_ascii_alphabetic() || c == '_'
}

fn is_word_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

impl<'a> Lexer<'a> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.src[self.pos..].chars().nth(n)
    }

    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.column = 1;
        } else {
            self.column += 1;
        }
        Some(c)
    }

    fn bump_n(&mut self, n: usize) {
        for _ in 0..n {
            self.bump();
        }
    }

    fn here(&self) -> Span {
        Span {
            start: self.pos,
            end: self.pos,
            line: self.line,
            column: self.column,
        }
    }

    fn skip_trivia(&mut self) {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() => {
                    self.bump();
                }
                // Go's text/scanner, which Tempo's lexer is built on, skips comments.
                Some('/') if self.peek_at(1) == Some('/') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('/') if self.peek_at(1) == Some('*') => {
                    self.bump_n(2);
                    while !self.rest().is_empty() && !self.rest().starts_with("*/") {
                        self.bump();
                    }
                    self.bump_n(2);
                }
                _ => return,
            }
        }
    }

    fn next_token(&mut self) -> Token {
        self.skip_trivia();
        let mut span = self.here();
        let tok = self.scan();
        span.end = self.pos;
        Token { tok, span }
    }

    /// Consumes the longest of `options` (text, token) that the input starts with.
    fn longest(&mut self, options: &[(&str, Tok)]) -> Option<Tok> {
        let (text, tok) = options
            .iter()
            .filter(|(text, _)| self.rest().starts_with(text))
            .max_by_key(|(text, _)| text.len())?;
        self.bump_n(text.chars().count());
        Some(tok.clone())
    }

    fn scan(&mut self) -> Tok {
        let Some(c) = self.peek() else {
            return Tok::Eof;
        };
        let operators: &[(&str, Tok)] = &[
            ("{", Tok::LBrace),
            ("}", Tok::RBrace),
            ("(", Tok::LParen),
            (")", Tok::RParen),
            (",", Tok::Comma),
            ("|", Tok::Pipe),
            ("||", Tok::OrOr),
            ("&&", Tok::AndAnd),
            ("&>", Tok::UnionChild),
            ("&>>", Tok::UnionDesc),
            ("&<", Tok::UnionParent),
            ("&<<", Tok::UnionAnc),
            ("&~", Tok::UnionSibling),
            ("=", Tok::Eq),
            ("=~", Tok::Re),
            ("!", Tok::Bang),
            ("!=", Tok::Neq),
            ("!~", Tok::Nre),
            ("!>", Tok::NotChild),
            ("!>>", Tok::NotDesc),
            ("!<", Tok::NotParent),
            ("!<<", Tok::NotAnc),
            (">", Tok::Gt),
            (">=", Tok::Gte),
            (">>", Tok::Desc),
            ("<", Tok::Lt),
            ("<=", Tok::Lte),
            ("<<", Tok::Anc),
            ("~", Tok::Tilde),
            ("+", Tok::Plus),
            ("-", Tok::Minus),
            ("*", Tok::Star),
            ("/", Tok::Slash),
            ("%", Tok::Percent),
            ("^", Tok::Caret),
        ];
        if let Some(tok) = self.longest(operators) {
            return tok;
        }
        match c {
            '"' => self.string(),
            '`' => self.raw_string(),
            '.' if self.peek_at(1).is_some_and(|d| d.is_ascii_digit()) => self.number(),
            '.' => {
                self.bump();
                self.attribute(Scope::None, false, ".")
            }
            '0'..='9' => self.number(),
            c if is_word_start(c) => self.word(),
            c => {
                self.bump();
                Tok::Unknown(c)
            }
        }
    }

    fn word(&mut self) -> Tok {
        let start = self.pos;
        while self.peek().is_some_and(is_word_char) {
            self.bump();
        }
        let word = &self.src[start..self.pos];
        match self.peek() {
            Some('.') => {
                let scope = match word {
                    "span" => Scope::Span,
                    "resource" => Scope::Resource,
                    "event" => Scope::Event,
                    "link" => Scope::Link,
                    "instrumentation" => Scope::Instrumentation,
                    "parent" => return self.parent_attribute(),
                    _ => return Tok::Word(word.to_string()),
                };
                self.bump();
                self.attribute(scope, false, scope.prefix())
            }
            Some(':')
                if matches!(
                    word,
                    "span" | "trace" | "event" | "link" | "instrumentation"
                ) =>
            {
                self.bump();
                let name_start = self.pos;
                while self.peek().is_some_and(is_word_char) {
                    self.bump();
                }
                let text = &self.src[start..self.pos];
                match Intrinsic::from_scoped(text) {
                    Some(intrinsic) => Tok::ScopedIntrinsic(intrinsic),
                    None if name_start == self.pos => {
                        Tok::Error(format!("expected an intrinsic name after `{word}:`"))
                    }
                    None => Tok::Error(format!(
                        "unknown intrinsic `{text}`; the {word} intrinsics are {}",
                        Intrinsic::scoped_names(word)
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )),
                }
            }
            _ => Tok::Word(word.to_string()),
        }
    }

    /// After `parent`, at the `.`: `parent.name`, `parent.span.name`, `parent.resource.name`.
    fn parent_attribute(&mut self) -> Tok {
        self.bump();
        for (prefix, scope) in [("span.", Scope::Span), ("resource.", Scope::Resource)] {
            if self.rest().starts_with(prefix) {
                self.bump_n(prefix.len());
                return self.attribute(scope, true, prefix);
            }
        }
        self.attribute(Scope::None, true, "parent.")
    }

    /// An attribute name: unquoted runes and `"quoted parts"` (escapes `\"` and `\\`).
    fn attribute(&mut self, scope: Scope, parent: bool, prefix: &str) -> Tok {
        let mut name = String::new();
        let mut any = false;
        loop {
            match self.peek() {
                Some('"') => {
                    any = true;
                    self.bump();
                    loop {
                        match self.bump() {
                            None => return Tok::Error("unterminated attribute name".into()),
                            Some('"') => break,
                            Some('\\') => match self.bump() {
                                Some(c @ ('"' | '\\')) => name.push(c),
                                _ => {
                                    return Tok::Error(
                                        "invalid escape in attribute name; only `\\\"` and `\\\\` are allowed"
                                            .into(),
                                    );
                                }
                            },
                            Some(c) => name.push(c),
                        }
                    }
                }
                Some(c) if is_attribute_rune(c) => {
                    any = true;
                    name.push(c);
                    self.bump();
                }
                _ => break,
            }
        }
        if !any || name.is_empty() {
            return Tok::Error(format!("expected an attribute name after `{prefix}`"));
        }
        Tok::Attr(Attribute {
            scope,
            name,
            parent,
        })
    }

    /// Integers, floats (`1.5`, `.5`, `1e3`) and durations (`1.5s`, `1h30m`, `10µs`, `1d`).
    fn number(&mut self) -> Tok {
        let start = self.pos;
        let mut float = false;
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.bump();
        }
        if self.peek() == Some('.') && self.peek_at(1).is_some_and(|c| c.is_ascii_digit()) {
            float = true;
            self.bump();
            while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                self.bump();
            }
        }
        if matches!(self.peek(), Some('e' | 'E')) {
            let digit_at = if matches!(self.peek_at(1), Some('+' | '-')) {
                2
            } else {
                1
            };
            if self.peek_at(digit_at).is_some_and(|c| c.is_ascii_digit()) {
                float = true;
                self.bump_n(digit_at);
                while self.peek().is_some_and(|c| c.is_ascii_digit()) {
                    self.bump();
                }
            }
        }
        // Letters after a number make a duration, or a mistake reported whole (`5sec`).
        if self.peek().is_some_and(|c| c.is_alphabetic()) {
            while self
                .peek()
                .is_some_and(|c| c.is_alphanumeric() || c == '.' || c == '_')
            {
                self.bump();
            }
            let text = &self.src[start..self.pos];
            return match parse_duration(text) {
                Some(ns) => Tok::Duration(ns),
                None => Tok::Error(format!(
                    "invalid duration `{text}`; use units ns, us, ms, s, m, h, d, w, y as in `1.5s` or `1h30m`"
                )),
            };
        }
        let text = &self.src[start..self.pos];
        if float {
            match text.parse::<f64>() {
                Ok(f) if f.is_finite() => Tok::Float(f),
                _ => Tok::Error(format!("number `{text}` is out of range")),
            }
        } else {
            match text.parse::<i64>() {
                Ok(i) => Tok::Int(i),
                Err(_) => Tok::Error(format!(
                    "integer `{text}` is out of range (at most {})",
                    i64::MAX
                )),
            }
        }
    }

    /// A Go-style string: escapes `\a \b \f \n \r \t \v \\ \"`, `\xHH`, `\NNN` (octal),
    /// `\uHHHH`, `\UHHHHHHHH`.
    fn string(&mut self) -> Tok {
        self.bump();
        let mut bytes = Vec::new();
        loop {
            match self.bump() {
                None => return Tok::Error("unterminated string".into()),
                Some('"') => break,
                Some('\n') => {
                    return Tok::Error("unterminated string (write a newline as `\\n`)".into());
                }
                Some('\\') => {
                    if let Err(e) = self.escape(&mut bytes) {
                        return Tok::Error(e);
                    }
                }
                Some(c) => {
                    let mut buf = [0u8; 4];
                    bytes.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                }
            }
        }
        match String::from_utf8(bytes) {
            Ok(s) => Tok::Str(s),
            Err(_) => Tok::Error("string escapes do not form valid UTF-8".into()),
        }
    }

    /// After a backslash in a string: appends the escaped bytes.
    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), String> {
        let c = self.bump().ok_or("unterminated string")?;
        let simple = match c {
            'a' => Some(7u8),
            'b' => Some(8),
            'f' => Some(12),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(11),
            '\\' => Some(b'\\'),
            '"' => Some(b'"'),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            return Ok(());
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => (2, 8),
            _ => return Err(format!("invalid escape `\\{c}` in string")),
        };
        let mut value: u32 = if radix == 8 { c as u32 - '0' as u32 } else { 0 };
        for _ in 0..digits {
            let d = self
                .bump()
                .and_then(|d| d.to_digit(radix))
                .ok_or_else(|| format!("invalid escape `\\{c}…` in string"))?;
            value = value * radix + d;
        }
        match c {
            'x' | '0'..='7' => {
                let byte =
                    u8::try_from(value).map_err(|_| "octal escape above `\\377`".to_string())?;
                out.push(byte);
            }
            _ => {
                let ch = char::from_u32(value)
                    .ok_or_else(|| format!("escape `\\{c}{value:x}` is not a valid character"))?;
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
            }
        }
        Ok(())
    }

    fn raw_string(&mut self) -> Tok {
        self.bump();
        let start = self.pos;
        loop {
            match self.bump() {
                None => return Tok::Error("unterminated raw string".into()),
                Some('`') => return Tok::Str(self.src[start..self.pos - 1].to_string()),
                Some(_) => {}
            }
        }
    }
}

const UNITS: &[(&str, i64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("μs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
    ("w", 604_800_000_000_000),
    ("y", 31_536_000_000_000_000),
];

/// `1.5s`, `1h30m`, `300ms`: one or more number-unit pairs (Go's and Prometheus' units).
pub(crate) fn parse_duration(text: &str) -> Option<i64> {
    let mut rest = text;
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let int_len = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (int_part, after) = rest.split_at(int_len);
        let (frac_part, after) = match after.strip_prefix('.') {
            Some(after) => {
                let n = after
                    .find(|c: char| !c.is_ascii_digit())
                    .unwrap_or(after.len());
                after.split_at(n)
            }
            None => ("", after),
        };
        if int_part.is_empty() && frac_part.is_empty() {
            return None;
        }
        let (unit, scale) = UNITS
            .iter()
            .filter(|(u, _)| after.starts_with(u))
            .max_by_key(|(u, _)| u.len())?;
        rest = &after[unit.len()..];
        let whole: i128 = if int_part.is_empty() {
            0
        } else {
            int_part.parse().ok()?
        };
        let mut value = whole.checked_mul(i128::from(*scale))?;
        if !frac_part.is_empty() {
            // Exact in integers: digits past nanosecond precision are dropped.
            let digits = &frac_part[..frac_part.len().min(18)];
            let frac: i128 = digits.parse().ok()?;
            let denom = 10i128.pow(digits.len() as u32);
            value += frac * i128::from(*scale) / denom;
        }
        total = total.checked_add(value)?;
        if total > i128::from(i64::MAX) {
            return None;
        }
    }
    i64::try_from(total).ok()
}
