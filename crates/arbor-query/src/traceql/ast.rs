//! The TraceQL syntax tree, shaped for an executor: intrinsics are resolved enums, literals
//! are typed (durations in nanoseconds, status and kind as enums), a search is a pipeline
//! of stages, a metrics query is a tree of metrics pipelines, arithmetic, comparisons and
//! `topk`/`bottomk`. Every node that an error can point at carries a [`Span`].

pub use super::error::Span;

/// A parsed query: a search or a metrics query, and its `with(…)` hints.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub kind: QueryKind,
    pub hints: Vec<Hint>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum QueryKind {
    /// Finds spansets: `{ … } | … `.
    Search(Pipeline),
    /// Computes time series: `{ … } | rate() by (…)`, arithmetic between such, `topk`.
    Metrics(MetricsExpr),
}

impl Query {
    pub fn is_metrics(&self) -> bool {
        matches!(self.kind, QueryKind::Metrics(_))
    }

    pub fn hints(&self) -> &[Hint] {
        &self.hints
    }

    /// The last value given for hint `name`.
    pub fn hint(&self, name: &str) -> Option<&Static> {
        self.hints
            .iter()
            .rev()
            .find(|h| h.name == name)
            .map(|h| &h.value)
    }
}

/// `with(sample=0.1)`.
#[derive(Debug, Clone, PartialEq)]
pub struct Hint {
    pub name: String,
    pub value: Static,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------
// Search pipelines

/// Stages applied in order to each trace's spansets: `{ … } | by(…) | count() > 2`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pipeline {
    pub stages: Vec<Stage>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Stage {
    /// Filters and combines spansets: `{ … }`, `{ … } >> { … }`, `( … | … ) && ( … )`.
    Spanset(SpansetExpr),
    /// Keeps spansets whose aggregate passes: `count() > 2`, `avg(duration) > 1s`.
    ScalarFilter(ScalarFilter),
    /// `by(expr)`: regroups each spanset by the value of `expr`.
    GroupBy(GroupBy),
    /// `select(a, b)`: fetch more fields for the result.
    Select(Select),
    /// `coalesce()`: merges a trace's spansets into one.
    Coalesce,
}

#[derive(Debug, Clone, PartialEq)]
pub enum SpansetExpr {
    Filter(SpansetFilter),
    /// A parenthesized pipeline used as an operand: `({ … } | count() > 1) >> { … }`.
    Pipeline(Box<Pipeline>),
    Op {
        op: SpansetOp,
        lhs: Box<SpansetExpr>,
        rhs: Box<SpansetExpr>,
        /// The operator.
        span: Span,
    },
}

/// `{ expr }`; `{}` (no expression) matches every span.
#[derive(Debug, Clone, PartialEq)]
pub struct SpansetFilter {
    pub expr: Option<FieldExpr>,
    pub span: Span,
}

/// Operators between spansets. Structural ones relate the spans of the two sides within a
/// trace; the result holds the right side's spans (`&`-union forms: both sides').
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpansetOp {
    /// `&&`: both sides match in the trace.
    And,
    /// `||`: either side.
    Or,
    /// `>`: right-side spans that are children of left-side spans.
    Child,
    /// `<`: right-side spans that are parents of left-side spans.
    Parent,
    /// `>>`
    Descendant,
    /// `<<`
    Ancestor,
    /// `~`
    Sibling,
    /// `!>`
    NotChild,
    /// `!<`
    NotParent,
    /// `!>>`
    NotDescendant,
    /// `!<<`
    NotAncestor,
    /// `!~`
    NotSibling,
    /// `&>`
    UnionChild,
    /// `&<`
    UnionParent,
    /// `&>>`
    UnionDescendant,
    /// `&<<`
    UnionAncestor,
    /// `&~`
    UnionSibling,
}

impl SpansetOp {
    pub fn symbol(self) -> &'static str {
        match self {
            SpansetOp::And => "&&",
            SpansetOp::Or => "||",
            SpansetOp::Child => ">",
            SpansetOp::Parent => "<",
            SpansetOp::Descendant => ">>",
            SpansetOp::Ancestor => "<<",
            SpansetOp::Sibling => "~",
            SpansetOp::NotChild => "!>",
            SpansetOp::NotParent => "!<",
            SpansetOp::NotDescendant => "!>>",
            SpansetOp::NotAncestor => "!<<",
            SpansetOp::NotSibling => "!~",
            SpansetOp::UnionChild => "&>",
            SpansetOp::UnionParent => "&<",
            SpansetOp::UnionDescendant => "&>>",
            SpansetOp::UnionAncestor => "&<<",
            SpansetOp::UnionSibling => "&~",
        }
    }

    /// `&&` and `||` bind looser than the structural operators.
    pub(crate) fn is_logical(self) -> bool {
        matches!(self, SpansetOp::And | SpansetOp::Or)
    }
}

/// `lhs op rhs` over a spanset's aggregates: `count() > 2`, `avg(.a) >= 1 - 3`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScalarFilter {
    pub op: CmpOp,
    pub lhs: ScalarExpr,
    pub rhs: ScalarExpr,
    /// The operator.
    pub span: Span,
}

/// A value per spanset: aggregates, number literals, and arithmetic on them.
#[derive(Debug, Clone, PartialEq)]
pub enum ScalarExpr {
    Aggregate(Aggregate),
    /// An int, float or duration (negative when written `-3`).
    Literal(Static, Span),
    Binary {
        op: ArithOp,
        lhs: Box<ScalarExpr>,
        rhs: Box<ScalarExpr>,
        span: Span,
    },
}

/// `count()`, `avg(expr)`, `min(expr)`, `max(expr)`, `sum(expr)` over a spanset.
#[derive(Debug, Clone, PartialEq)]
pub struct Aggregate {
    pub op: AggregateOp,
    /// `None` for `count()`.
    pub expr: Option<FieldExpr>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggregateOp {
    Count,
    Avg,
    Max,
    Min,
    Sum,
}

impl AggregateOp {
    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Count => "count",
            AggregateOp::Avg => "avg",
            AggregateOp::Max => "max",
            AggregateOp::Min => "min",
            AggregateOp::Sum => "sum",
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupBy {
    pub expr: FieldExpr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    pub fields: Vec<FieldRef>,
    pub span: Span,
}

// ---------------------------------------------------------------------------------------
// Field expressions: evaluated per span

#[derive(Debug, Clone, PartialEq)]
pub struct FieldExpr {
    pub kind: FieldKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum FieldKind {
    Static(Static),
    Intrinsic(Intrinsic),
    Attribute(Attribute),
    Binary {
        op: BinaryOp,
        lhs: Box<FieldExpr>,
        rhs: Box<FieldExpr>,
    },
    Unary {
        op: UnaryOp,
        expr: Box<FieldExpr>,
    },
}

impl FieldExpr {
    /// Whether the expression reads anything from the span (an attribute or intrinsic).
    pub fn references_span(&self) -> bool {
        match &self.kind {
            FieldKind::Static(_) => false,
            FieldKind::Intrinsic(_) | FieldKind::Attribute(_) => true,
            FieldKind::Binary { lhs, rhs, .. } => lhs.references_span() || rhs.references_span(),
            FieldKind::Unary { expr, .. } => expr.references_span(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
    /// `=~`: the whole value matches the regex (anchored at both ends).
    Regex,
    /// `!~`
    NotRegex,
    And,
    Or,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "!=",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::Regex => "=~",
            BinaryOp::NotRegex => "!~",
            BinaryOp::And => "&&",
            BinaryOp::Or => "||",
        }
    }

    /// Binding strength, higher binds tighter (Tempo's table: `&&` and `||` share a level).
    pub(crate) fn precedence(self) -> u8 {
        match self {
            BinaryOp::And | BinaryOp::Or => 1,
            BinaryOp::Eq
            | BinaryOp::Neq
            | BinaryOp::Lt
            | BinaryOp::Lte
            | BinaryOp::Gt
            | BinaryOp::Gte
            | BinaryOp::Regex
            | BinaryOp::NotRegex => 2,
            BinaryOp::Add | BinaryOp::Sub => 3,
            BinaryOp::Mul | BinaryOp::Div | BinaryOp::Mod => 4,
            BinaryOp::Pow => 5,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnaryOp {
    /// `-x`
    Neg,
    /// `!x`
    Not,
    /// `x != nil`: the field is present on the span.
    Exists,
}

/// Arithmetic outside field expressions (scalar filters, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArithOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
}

impl ArithOp {
    pub fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
            ArithOp::Pow => "^",
        }
    }

    pub(crate) fn precedence(self) -> u8 {
        match self {
            ArithOp::Add | ArithOp::Sub => 3,
            ArithOp::Mul | ArithOp::Div | ArithOp::Mod => 4,
            ArithOp::Pow => 5,
        }
    }
}

/// Comparisons outside field expressions (scalar filters, metrics thresholds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Neq,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl CmpOp {
    pub fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::Neq => "!=",
            CmpOp::Lt => "<",
            CmpOp::Lte => "<=",
            CmpOp::Gt => ">",
            CmpOp::Gte => ">=",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Static {
    Bool(bool),
    Int(i64),
    Float(f64),
    /// Nanoseconds.
    Duration(i64),
    String(String),
    Status(Status),
    Kind(Kind),
}

/// Span status codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    Unset,
    Ok,
    Error,
}

/// Span kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Unspecified,
    Internal,
    Server,
    Client,
    Producer,
    Consumer,
}

/// An attribute: `span.http.method`, `resource.service.name`, `.anywhere`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attribute {
    pub scope: Scope,
    pub name: String,
    /// `parent.…`: the attribute of the span's parent (an Arbor extension; nil for a root).
    pub parent: bool,
}

/// Where an attribute is looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// `.name`: span attributes, then resource attributes.
    None,
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
}

impl Scope {
    pub fn prefix(self) -> &'static str {
        match self {
            Scope::None => ".",
            Scope::Span => "span.",
            Scope::Resource => "resource.",
            Scope::Event => "event.",
            Scope::Link => "link.",
            Scope::Instrumentation => "instrumentation.",
        }
    }
}

/// Values every span, trace, event or link has, whatever its attributes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Intrinsic {
    /// `span:duration`, `duration`
    Duration,
    /// `span:name`, `name`
    Name,
    /// `span:status`, `status`
    Status,
    /// `span:statusMessage`, `statusMessage`
    StatusMessage,
    /// `span:kind`, `kind`
    Kind,
    /// `span:childCount`, `childCount`
    ChildCount,
    /// `span:id`: the span ID in hex.
    SpanId,
    /// `span:parentID`
    ParentId,
    /// `nestedSetLeft`: the span's position in a depth-first walk of its trace.
    NestedSetLeft,
    /// `nestedSetRight`
    NestedSetRight,
    /// `nestedSetParent`
    NestedSetParent,
    /// `trace:id`
    TraceId,
    /// `trace:duration`, `traceDuration`
    TraceDuration,
    /// `trace:rootName`, `rootName`
    TraceRootName,
    /// `trace:rootService`, `rootServiceName`
    TraceRootService,
    /// `event:name`
    EventName,
    /// `event:timeSinceStart`
    EventTimeSinceStart,
    /// `link:traceID`
    LinkTraceId,
    /// `link:spanID`
    LinkSpanId,
    /// `instrumentation:name`
    InstrumentationName,
    /// `instrumentation:version`
    InstrumentationVersion,
    /// `parent`: parsed, not supported.
    Parent,
}

/// Scoped spellings, the canonical ones, as printed.
const SCOPED: &[(&str, Intrinsic)] = &[
    ("span:duration", Intrinsic::Duration),
    ("span:name", Intrinsic::Name),
    ("span:status", Intrinsic::Status),
    ("span:statusMessage", Intrinsic::StatusMessage),
    ("span:kind", Intrinsic::Kind),
    ("span:childCount", Intrinsic::ChildCount),
    ("span:id", Intrinsic::SpanId),
    ("span:parentID", Intrinsic::ParentId),
    ("trace:id", Intrinsic::TraceId),
    ("trace:duration", Intrinsic::TraceDuration),
    ("trace:rootName", Intrinsic::TraceRootName),
    ("trace:rootService", Intrinsic::TraceRootService),
    ("event:name", Intrinsic::EventName),
    ("event:timeSinceStart", Intrinsic::EventTimeSinceStart),
    ("link:traceID", Intrinsic::LinkTraceId),
    ("link:spanID", Intrinsic::LinkSpanId),
    ("instrumentation:name", Intrinsic::InstrumentationName),
    ("instrumentation:version", Intrinsic::InstrumentationVersion),
];

/// Unscoped (legacy) spellings.
const UNSCOPED: &[(&str, Intrinsic)] = &[
    ("duration", Intrinsic::Duration),
    ("name", Intrinsic::Name),
    ("status", Intrinsic::Status),
    ("statusMessage", Intrinsic::StatusMessage),
    ("kind", Intrinsic::Kind),
    ("childCount", Intrinsic::ChildCount),
    ("rootName", Intrinsic::TraceRootName),
    ("rootServiceName", Intrinsic::TraceRootService),
    ("traceDuration", Intrinsic::TraceDuration),
    ("nestedSetLeft", Intrinsic::NestedSetLeft),
    ("nestedSetRight", Intrinsic::NestedSetRight),
    ("nestedSetParent", Intrinsic::NestedSetParent),
    ("parent", Intrinsic::Parent),
];

impl Intrinsic {
    /// `span:name`, `trace:id`, …
    pub fn from_scoped(text: &str) -> Option<Intrinsic> {
        SCOPED.iter().find(|(s, _)| *s == text).map(|(_, i)| *i)
    }

    /// `name`, `rootServiceName`, `nestedSetLeft`, …
    pub fn from_unscoped(text: &str) -> Option<Intrinsic> {
        UNSCOPED.iter().find(|(s, _)| *s == text).map(|(_, i)| *i)
    }

    /// The scoped intrinsics of `scope` (`span`, `trace`, …), for error messages.
    pub(crate) fn scoped_names(scope: &str) -> Vec<&'static str> {
        SCOPED
            .iter()
            .map(|(s, _)| *s)
            .filter(|s| s.split(':').next() == Some(scope))
            .collect()
    }

    /// The canonical spelling: scoped where one exists.
    pub fn name(self) -> &'static str {
        SCOPED
            .iter()
            .chain(UNSCOPED)
            .find(|(_, i)| *i == self)
            .map(|(s, _)| *s)
            .unwrap_or("?")
    }
}

/// A field named in `select(…)`, `by (…)` or as a metrics function's argument.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRef {
    pub field: Field,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Field {
    Intrinsic(Intrinsic),
    Attribute(Attribute),
}

// ---------------------------------------------------------------------------------------
// Metrics

/// A metrics query: pipelines turned into time series, combined and filtered.
#[derive(Debug, Clone, PartialEq)]
pub enum MetricsExpr {
    /// `{ … } | rate() by (…)`.
    Pipeline(Box<MetricsPipeline>),
    /// A number operand (`* 100`), or a comparison's threshold (a duration allowed there).
    Literal(Static, Span),
    /// `(…) + (…)`, `(…) * 100`: point-wise arithmetic.
    Binary {
        op: ArithOp,
        lhs: Box<MetricsExpr>,
        rhs: Box<MetricsExpr>,
        span: Span,
    },
    /// `… > 10`: keeps the points that pass. The threshold has no pipeline in it.
    Filter {
        input: Box<MetricsExpr>,
        op: CmpOp,
        threshold: Box<MetricsExpr>,
        span: Span,
    },
    /// `… | topk(10)`, `… | bottomk(10)`.
    TopK {
        input: Box<MetricsExpr>,
        op: TopKOp,
        k: u64,
        span: Span,
    },
}

impl MetricsExpr {
    /// Whether a metrics pipeline occurs in the expression (a threshold has none).
    pub fn has_pipeline(&self) -> bool {
        match self {
            MetricsExpr::Pipeline(_) => true,
            MetricsExpr::Literal(..) => false,
            MetricsExpr::Binary { lhs, rhs, .. } => lhs.has_pipeline() || rhs.has_pipeline(),
            MetricsExpr::Filter { input, .. } | MetricsExpr::TopK { input, .. } => {
                input.has_pipeline()
            }
        }
    }
}

/// A spanset pipeline and the metrics function over its spans.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsPipeline {
    pub pipeline: Pipeline,
    pub function: MetricsFunction,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MetricsFunction {
    pub kind: MetricsFunctionKind,
    /// `by (…)`: one series per distinct combination of these fields.
    pub by: Vec<FieldRef>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq)]
pub enum MetricsFunctionKind {
    Rate,
    CountOverTime,
    MinOverTime(FieldRef),
    MaxOverTime(FieldRef),
    AvgOverTime(FieldRef),
    SumOverTime(FieldRef),
    QuantileOverTime {
        field: FieldRef,
        /// Each in `[0, 1]`.
        quantiles: Vec<f64>,
    },
    HistogramOverTime(FieldRef),
    /// `compare({selection}, top_n, start, end)`: the selection against the rest.
    Compare {
        selection: SpansetFilter,
        /// Values kept per attribute; 10 when not given.
        top_n: u64,
        /// Unix nanoseconds, when given.
        range: Option<(i64, i64)>,
    },
}

impl MetricsFunctionKind {
    pub fn name(&self) -> &'static str {
        match self {
            MetricsFunctionKind::Rate => "rate",
            MetricsFunctionKind::CountOverTime => "count_over_time",
            MetricsFunctionKind::MinOverTime(_) => "min_over_time",
            MetricsFunctionKind::MaxOverTime(_) => "max_over_time",
            MetricsFunctionKind::AvgOverTime(_) => "avg_over_time",
            MetricsFunctionKind::SumOverTime(_) => "sum_over_time",
            MetricsFunctionKind::QuantileOverTime { .. } => "quantile_over_time",
            MetricsFunctionKind::HistogramOverTime(_) => "histogram_over_time",
            MetricsFunctionKind::Compare { .. } => "compare",
        }
    }

    /// The field the function reads, for those that read one.
    pub fn field(&self) -> Option<&FieldRef> {
        match self {
            MetricsFunctionKind::MinOverTime(f)
            | MetricsFunctionKind::MaxOverTime(f)
            | MetricsFunctionKind::AvgOverTime(f)
            | MetricsFunctionKind::SumOverTime(f)
            | MetricsFunctionKind::HistogramOverTime(f)
            | MetricsFunctionKind::QuantileOverTime { field: f, .. } => Some(f),
            MetricsFunctionKind::Rate
            | MetricsFunctionKind::CountOverTime
            | MetricsFunctionKind::Compare { .. } => None,
        }
    }
}

/// `compare()`'s default number of values per attribute.
pub const COMPARE_DEFAULT_TOP_N: u64 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopKOp {
    TopK,
    BottomK,
}

impl TopKOp {
    pub fn name(self) -> &'static str {
        match self {
            TopKOp::TopK => "topk",
            TopKOp::BottomK => "bottomk",
        }
    }
}
