//! Tempo's TraceQL parser corpus, run through Arbor's front end: every `valid` query
//! parses, validates and survives print → parse unchanged; every `parse_fails` query fails
//! to parse; every `validate_fails` query is refused (by the parser or the validator, as
//! Tempo's test runs both); no `unsupported` query panics. Then seeded random input and
//! mutations of the corpus, which must never panic and must round-trip when they parse.

use std::panic::{AssertUnwindSafe, catch_unwind};

use arbor_query::traceql::{self, Query};

const CORPUS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/conformance/traceql/tempo_examples.json"
);

struct Corpus {
    valid: Vec<String>,
    parse_fails: Vec<String>,
    validate_fails: Vec<String>,
    unsupported: Vec<String>,
}

fn corpus() -> Corpus {
    let text = std::fs::read_to_string(CORPUS)
        .unwrap_or_else(|e| panic!("the TraceQL corpus is missing: cannot read {CORPUS}: {e}"));
    let json: serde_json::Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("the TraceQL corpus {CORPUS} is not JSON: {e}"));
    let section = |name: &str| -> Vec<String> {
        json[name]
            .as_array()
            .unwrap_or_else(|| panic!("the TraceQL corpus has no `{name}` list"))
            .iter()
            .map(|q| q.as_str().expect("corpus queries are strings").to_string())
            .collect()
    };
    Corpus {
        valid: section("valid"),
        parse_fails: section("parse_fails"),
        validate_fails: section("validate_fails"),
        unsupported: section("unsupported"),
    }
}

/// Printing and parsing again gives the same tree, and the printed text is a fixed point.
fn round_trip(query: &str, parsed: &Query) -> Result<(), String> {
    let printed = parsed.to_string();
    let reparsed = traceql::parse(&printed)
        .map_err(|e| format!("{query:?} printed as {printed:?}, which fails to parse: {e}"))?;
    if &reparsed != parsed {
        return Err(format!(
            "{query:?} printed as {printed:?}, which parses differently:\n{parsed:?}\n{reparsed:?}"
        ));
    }
    let reprinted = reparsed.to_string();
    if reprinted != printed {
        return Err(format!(
            "{query:?} prints as {printed:?}, then as {reprinted:?}"
        ));
    }
    Ok(())
}

#[test]
fn tempo_corpus() {
    let corpus = corpus();
    let mut failures = Vec::new();

    let mut valid = 0;
    for q in &corpus.valid {
        match traceql::parse_and_validate(q) {
            Ok(parsed) => match round_trip(q, &parsed) {
                Ok(()) => valid += 1,
                Err(e) => failures.push(format!("valid, round trip: {e}")),
            },
            Err(e) => failures.push(format!("valid, refused: {q:?}: {e}")),
        }
    }

    let mut parse_fails = 0;
    for q in &corpus.parse_fails {
        match traceql::parse(q) {
            Err(e) if !e.message.is_empty() => parse_fails += 1,
            Err(_) => failures.push(format!("parse_fails, empty message: {q:?}")),
            Ok(parsed) => failures.push(format!("parse_fails, parsed: {q:?} as {parsed}")),
        }
    }

    let mut validate_fails = 0;
    let mut refused_by_parser = 0;
    for q in &corpus.validate_fails {
        match traceql::parse(q) {
            Err(_) => {
                refused_by_parser += 1;
                validate_fails += 1;
            }
            Ok(parsed) => match traceql::validate(&parsed) {
                Err(e) if !e.message.is_empty() => validate_fails += 1,
                Err(_) => failures.push(format!("validate_fails, empty message: {q:?}")),
                Ok(()) => failures.push(format!("validate_fails, accepted: {q:?} as {parsed}")),
            },
        }
    }

    let mut unsupported_accepted = 0;
    for q in &corpus.unsupported {
        let outcome = catch_unwind(|| traceql::parse_and_validate(q));
        match outcome {
            Ok(Ok(_)) => unsupported_accepted += 1,
            Ok(Err(e)) if e.message().is_empty() => {
                failures.push(format!("unsupported, empty message: {q:?}"))
            }
            Ok(Err(_)) => {}
            Err(_) => failures.push(format!("unsupported, panicked: {q:?}")),
        }
    }

    println!(
        "valid: {valid}/{} (parsed, validated, round-tripped)",
        corpus.valid.len()
    );
    println!(
        "parse_fails: {parse_fails}/{} refused by the parser",
        corpus.parse_fails.len()
    );
    println!(
        "validate_fails: {validate_fails}/{} refused ({refused_by_parser} by the parser, {} by the validator)",
        corpus.validate_fails.len(),
        validate_fails - refused_by_parser
    );
    println!(
        "unsupported: {}/{} without panic ({unsupported_accepted} accepted, {} refused)",
        corpus.unsupported.len(),
        corpus.unsupported.len(),
        corpus.unsupported.len() - unsupported_accepted
    );
    assert!(
        failures.is_empty(),
        "{} corpus failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// xorshift64*: seeded, dependency-free.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PIECES: &[&str] = &[
    "{",
    "}",
    "(",
    ")",
    "|",
    "&&",
    "||",
    "!",
    "=",
    "!=",
    "=~",
    "!~",
    ">",
    ">=",
    "<",
    "<=",
    ">>",
    "<<",
    "~",
    "!>",
    "&>>",
    "&~",
    "+",
    "-",
    "*",
    "/",
    "%",
    "^",
    ",",
    ".",
    "span.",
    "resource.",
    ".a",
    "span.http.status",
    "\"x\"",
    "`r`",
    "\"",
    "1",
    "0",
    "-3",
    "1.5",
    "2s",
    "1h30m",
    "10us",
    "1e3",
    "nil",
    "true",
    "ok",
    "error",
    "server",
    "name",
    "duration",
    "status",
    "span:id",
    "trace:rootName",
    "event:name",
    "parent",
    "parent.a",
    "count()",
    "avg(",
    "max(",
    "by(",
    "select(",
    "coalesce()",
    "rate()",
    "count_over_time()",
    "quantile_over_time(duration,",
    "compare(",
    "topk(",
    "bottomk(5)",
    "with(",
    "sample=0.1",
    " ",
    "  ",
    "\n",
    "µ",
    "[",
    "]",
    "#",
    "\\",
    "//",
    "/*",
];

/// Parsing, validating and printing never panic; whatever parses round-trips. Returns
/// whether the input parsed and whether it validated.
fn check_no_panic(input: &str) -> (bool, bool) {
    let outcome = catch_unwind(AssertUnwindSafe(|| match traceql::parse(input) {
        Ok(parsed) => {
            let valid = traceql::validate(&parsed).is_ok();
            if let Err(e) = round_trip(input, &parsed) {
                panic!("{e}");
            }
            (true, valid)
        }
        Err(e) => {
            assert!(!e.message.is_empty(), "empty parse error for {input:?}");
            (false, false)
        }
    }));
    match outcome {
        Ok(result) => result,
        Err(panic) => {
            let message = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            panic!("input {input:?} panicked: {message}");
        }
    }
}

#[derive(Default, Debug)]
struct Tally {
    cases: usize,
    parsed: usize,
    valid: usize,
}

impl Tally {
    fn add(&mut self, (parsed, valid): (bool, bool)) {
        self.cases += 1;
        self.parsed += usize::from(parsed);
        self.valid += usize::from(valid);
    }
}

#[test]
fn random_input_never_panics() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let (mut bytes_tally, mut pieces_tally) = (Tally::default(), Tally::default());
    for _ in 0..2000 {
        let len = rng.below(40);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        bytes_tally.add(check_no_panic(&String::from_utf8_lossy(&bytes)));

        let pieces = rng.below(16);
        let text: String = (0..pieces).map(|_| rng.pick(PIECES)).collect();
        pieces_tally.add(check_no_panic(&text));
    }
    println!("random bytes: {bytes_tally:?}; random tokens: {pieces_tally:?}");
    assert_eq!(bytes_tally.cases + pieces_tally.cases, 4000);
}

#[test]
fn corpus_mutations_never_panic() {
    let corpus = corpus();
    let all: Vec<&String> = corpus
        .valid
        .iter()
        .chain(&corpus.parse_fails)
        .chain(&corpus.validate_fails)
        .chain(&corpus.unsupported)
        .collect();
    let mut rng = Rng(0x0dd_ba11_cafe_f00d);
    let mut tally = Tally::default();
    for _ in 0..3000 {
        let mut chars: Vec<char> = all[rng.below(all.len())].chars().collect();
        for _ in 0..=rng.below(3) {
            let at = rng.below(chars.len() + 1);
            match rng.below(5) {
                0 if at < chars.len() => {
                    chars.remove(at);
                }
                1 => {
                    let piece: Vec<char> = rng.pick(PIECES).chars().collect();
                    chars.splice(at..at, piece);
                }
                2 if chars.len() > 1 => {
                    let other = rng.below(chars.len());
                    let at = at.min(chars.len() - 1);
                    chars.swap(at, other);
                }
                3 => chars.truncate(at),
                _ => {
                    let from = rng.below(chars.len() + 1);
                    let to = (from + rng.below(8)).min(chars.len());
                    let copy: Vec<char> = chars[from..to].to_vec();
                    chars.splice(at..at, copy);
                }
            }
        }
        tally.add(check_no_panic(&chars.into_iter().collect::<String>()));
    }
    println!("corpus mutations: {tally:?}");
    // Some mutations keep the query parseable, and those must round-trip too.
    assert!(tally.parsed >= 150, "{tally:?}");
}

/// Random queries from the grammar: most parse (some put `!= nil` before arithmetic, which
/// Tempo parses and then refuses, and this parser refuses at once), many do not type-check,
/// and every one that parses must print and parse back to the same tree.
#[test]
fn generated_queries_round_trip() {
    let mut rng = Rng(0x6e6e_7261_6d6d_6172);
    let mut tally = Tally::default();
    for _ in 0..3000 {
        let query = Gen(&mut rng).query();
        tally.add(check_no_panic(&query));
    }
    println!("generated queries: {tally:?}");
    assert!(tally.parsed >= 2500 && tally.valid >= 200, "{tally:?}");
}

struct Gen<'a>(&'a mut Rng);

impl Gen<'_> {
    fn chance(&mut self, percent: usize) -> bool {
        self.0.below(100) < percent
    }

    fn query(&mut self) -> String {
        let mut q = if self.chance(65) {
            self.search()
        } else {
            self.metrics(2)
        };
        if self.chance(15) {
            q += " with(sample=0.1, most_recent=true)";
        }
        q
    }

    fn search(&mut self) -> String {
        if self.chance(10) {
            // Joined parenthesized pipelines stand alone.
            return self.wrapped(2);
        }
        let mut stages = vec![match self.0.below(10) {
            0 => format!("by({})", self.field(2)),
            1 => format!("select({})", self.field_ref()),
            2 => self.scalar_filter(),
            _ => self.spansets(2),
        }];
        for _ in 0..self.0.below(3) {
            stages.push(match self.0.below(6) {
                0 => "coalesce()".to_string(),
                1 => format!("by({})", self.field(2)),
                2 => self.scalar_filter(),
                3 => format!("select({}, {})", self.field_ref(), self.field_ref()),
                _ => self.spansets(1),
            });
        }
        stages.join(" | ")
    }

    fn spanset_op(&mut self) -> &'static str {
        self.0.pick(&[
            "&&", "||", ">", "<", ">>", "<<", "~", "!>", "!<", "!>>", "!<<", "!~", "&>", "&<",
            "&>>", "&<<", "&~",
        ])
    }

    /// Filters joined by spanset operators.
    fn spansets(&mut self, depth: usize) -> String {
        if depth == 0 || self.chance(40) {
            return if self.chance(15) {
                "{}".to_string()
            } else {
                format!("{{ {} }}", self.field(3))
            };
        }
        let op = self.spanset_op();
        let (l, r) = (self.spansets(depth - 1), self.spansets(depth - 1));
        if self.chance(30) {
            format!("({l}) {op} {r}")
        } else {
            format!("{l} {op} {r}")
        }
    }

    /// Parenthesized pipelines joined by spanset operators.
    fn wrapped(&mut self, depth: usize) -> String {
        if depth == 0 || self.chance(30) {
            return if self.chance(50) {
                format!("({})", self.search())
            } else {
                format!("({})", self.spansets(1))
            };
        }
        let op = self.spanset_op();
        let (l, r) = (self.wrapped(depth - 1), self.wrapped(depth - 1));
        if self.chance(30) {
            format!("({l} {op} {r})")
        } else {
            format!("{l} {op} {r}")
        }
    }

    fn field(&mut self, depth: usize) -> String {
        if depth == 0 || self.chance(30) {
            return self.leaf();
        }
        match self.0.below(10) {
            0 => format!("-{}", self.field(depth - 1)),
            1 => format!("!{}", self.field(depth - 1)),
            2 => format!("({})", self.field(depth - 1)),
            3 => format!("{} != nil", self.field(depth - 1)),
            _ => {
                let op = self.0.pick(&[
                    "+", "-", "*", "/", "%", "^", "=", "!=", "<", "<=", ">", ">=", "=~", "!~",
                    "&&", "||",
                ]);
                format!("{} {op} {}", self.field(depth - 1), self.field(depth - 1))
            }
        }
    }

    fn leaf(&mut self) -> String {
        match self.0.below(3) {
            0 => self.field_ref(),
            _ => self
                .0
                .pick(&[
                    "1",
                    "0",
                    "42",
                    "1.5",
                    "0.25",
                    "1e3",
                    "10ms",
                    "1.5s",
                    "2h",
                    "90s",
                    "\"a\"",
                    "\"a b\\\"c\"",
                    "\".*\"",
                    "`raw`",
                    "true",
                    "false",
                    "ok",
                    "error",
                    "unset",
                    "server",
                    "client",
                    "internal",
                ])
                .to_string(),
        }
    }

    fn field_ref(&mut self) -> String {
        self.0
            .pick(&[
                ".a",
                ".http.status",
                "span.x",
                "resource.service.name",
                "event.e",
                "link.l",
                "instrumentation.i",
                "span.\"a b\"",
                ".\"5xx\"",
                "duration",
                "name",
                "status",
                "kind",
                "statusMessage",
                "childCount",
                "rootName",
                "rootServiceName",
                "traceDuration",
                "nestedSetLeft",
                "span:duration",
                "span:id",
                "trace:id",
                "trace:rootService",
                "event:name",
                "link:spanID",
                "instrumentation:version",
            ])
            .to_string()
    }

    fn number(&mut self) -> String {
        self.0
            .pick(&["1", "2", "0", "-3", "1.5", "-0.5", "100"])
            .to_string()
    }

    fn scalar(&mut self, depth: usize) -> String {
        if depth == 0 || self.chance(50) {
            return match self.0.below(4) {
                0 => "count()".to_string(),
                1 => format!(
                    "{}({})",
                    self.0.pick(&["avg", "min", "max", "sum"]),
                    self.field(1)
                ),
                2 => "1s".to_string(),
                _ => self.number(),
            };
        }
        let op = self.0.pick(&["+", "-", "*", "/", "%", "^"]);
        let (l, r) = (self.scalar(depth - 1), self.scalar(depth - 1));
        if self.chance(30) {
            format!("({l} {op} {r})")
        } else {
            format!("{l} {op} {r}")
        }
    }

    fn scalar_filter(&mut self) -> String {
        let op = self.0.pick(&["=", "!=", "<", "<=", ">", ">="]);
        format!("count() {op} {}", self.scalar(1)).replacen(
            "count()",
            &match self.0.below(3) {
                0 => "count()".to_string(),
                _ => self.scalar(1),
            },
            usize::from(self.chance(30)),
        )
    }

    fn metrics_function(&mut self) -> String {
        let f = match self.0.below(9) {
            0 => "rate()".to_string(),
            1 => "count_over_time()".to_string(),
            2 => format!("quantile_over_time({}, 0.5, 0.99)", self.field_ref()),
            3 => format!("compare({{ {} }})", self.field(2)),
            4 => format!("compare({{ {} }}, 5, 1, 2)", self.field(1)),
            _ => format!(
                "{}({})",
                self.0.pick(&[
                    "min_over_time",
                    "max_over_time",
                    "avg_over_time",
                    "sum_over_time",
                    "histogram_over_time"
                ]),
                self.field_ref()
            ),
        };
        if !f.starts_with("compare") && self.chance(50) {
            format!("{f} by ({}, {})", self.field_ref(), self.field_ref())
        } else {
            f
        }
    }

    fn threshold(&mut self) -> String {
        let op = self.0.pick(&["=", "!=", "<", "<=", ">", ">="]);
        let value = match self.0.below(4) {
            0 => "1s".to_string(),
            1 => format!("{} * {}", self.number(), self.number()),
            _ => self.number(),
        };
        format!(" {op} {value}")
    }

    fn metrics(&mut self, depth: usize) -> String {
        let mut q = if depth == 0 || self.chance(50) {
            let mut q = format!("{} | {}", self.search(), self.metrics_function());
            if self.chance(30) {
                q += &self.threshold();
            }
            q
        } else {
            let op = self.0.pick(&["+", "-", "*", "/"]);
            let l = format!("({})", self.metrics(depth - 1));
            let r = if self.chance(50) {
                format!("({})", self.metrics(depth - 1))
            } else {
                self.number()
            };
            if self.chance(50) {
                format!("{l} {op} {r}")
            } else {
                format!("{r} {op} {l}")
            }
        };
        for _ in 0..self.0.below(3) {
            q += &format!(
                " | {}({})",
                self.0.pick(&["topk", "bottomk"]),
                self.0.below(4)
            );
            if self.chance(30) {
                q += &self.threshold();
            }
        }
        q
    }
}
