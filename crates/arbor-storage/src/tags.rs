//! Tag names and values for autocompletion (Grafana Tempo's tag APIs): the typed value an
//! attribute is listed by, and the head's bounded registry of the names and values it holds.
//!
//! The registry is filled as spans are appended ([`crate::head::Head::append`]), so listing
//! the head's tags never decodes its spans. It is bounded: at most
//! [`RegistryLimits::max_values_per_key`] values per key (past it the key keeps the values it
//! has and is marked *over the limit*), at most [`RegistryLimits::max_keys_per_scope`] keys
//! per scope, and at most [`RegistryLimits::max_bytes`] in all (past it no new key or value is
//! taken and the scope is marked incomplete). Its bytes are charged to the head's budget.
//!
//! Every value remembers which of the tenant head's resources (by ordinal, in order of first
//! sight) carried it, up to [`MAX_RESOURCES_PER_VALUE`]; past that it is "carried by many".
//! A filter on tag values (`q` of Tempo's values API) uses this to narrow the head's values
//! to the resources that match the filter, without reading spans.

use std::sync::Arc;

use arbor_model::otlp::{AnyValue, KeyValue, Span, any_value::Value};

use crate::head::{ResourceEntry, ScopeEntry};

/// A fast hash map, randomly seeded (keys and values come from clients); the registry hashes
/// every attribute of every span appended.
type HashMap<K, V> = ahash::AHashMap<K, V>;

/// The type of a listed value, named as Tempo names it in `/api/v2/search/tag/…/values`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TagType {
    String,
    Int,
    Float,
    Bool,
}

impl TagType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "string",
            Self::Int => "int",
            Self::Float => "float",
            Self::Bool => "bool",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::String, Self::Int, Self::Float, Self::Bool]
            .into_iter()
            .find(|t| t.as_str() == s)
    }
}

/// A scalar attribute value as text, with its type. Ordered by text, then type.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TagValue {
    pub value: String,
    pub kind: TagType,
}

impl TagValue {
    pub fn new(kind: TagType, value: impl Into<String>) -> Self {
        Self {
            value: value.into(),
            kind,
        }
    }

    /// The value of a scalar attribute; `None` for arrays, maps, bytes and empty values.
    pub fn of(v: &AnyValue) -> Option<Self> {
        Some(match v.value.as_ref()? {
            Value::StringValue(s) => Self::new(TagType::String, s.as_str()),
            Value::IntValue(i) => Self::new(TagType::Int, i.to_string()),
            Value::DoubleValue(d) => Self::new(TagType::Float, float_text(*d)),
            Value::BoolValue(b) => Self::new(TagType::Bool, b.to_string()),
            _ => return None,
        })
    }

    /// The attribute's value, unless the attribute is a profiling-style one keyed by string
    /// table index (which blocks keep apart from plain attributes).
    pub fn of_kv(kv: &KeyValue) -> Option<Self> {
        if kv.key_strindex != 0 {
            return None;
        }
        Self::of(kv.value.as_ref()?)
    }

    /// The typed encoding of the attribute index's typed scopes: `<type>:<text>`
    /// (`int:200`, `bool:true`, `float:1.5`, `string:GET`).
    pub fn encode(&self) -> String {
        format!("{}:{}", self.kind.as_str(), self.value)
    }

    /// Reads [`TagValue::encode`]'s form.
    pub fn decode(s: &str) -> Option<Self> {
        let (kind, value) = s.split_once(':')?;
        Some(Self::new(TagType::parse(kind)?, value))
    }
}

/// A double as text, shortest form that reads back to it: `1.5`, `200`, `1e300`, `1e-7`,
/// `NaN`, `inf` (exponents where plain digits would run long, as Go's `%g` does).
pub fn float_text(d: f64) -> String {
    if d.is_finite() && d.fract() == 0.0 && d.abs() < 1e16 {
        format!("{d}")
    } else {
        format!("{d:?}")
    }
}

/// Where a tag lives. `Intrinsic` holds only the span name (key `name`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TagScope {
    Span,
    Resource,
    Event,
    Link,
    Instrumentation,
    Intrinsic,
}

impl TagScope {
    pub const ALL: [TagScope; 6] = [
        Self::Span,
        Self::Resource,
        Self::Event,
        Self::Link,
        Self::Instrumentation,
        Self::Intrinsic,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Span => "span",
            Self::Resource => "resource",
            Self::Event => "event",
            Self::Link => "link",
            Self::Instrumentation => "instrumentation",
            Self::Intrinsic => "intrinsic",
        }
    }

    fn slot(self) -> usize {
        self as usize
    }
}

/// A value carried by more resources than this is "carried by many" (no narrowing).
pub const MAX_RESOURCES_PER_VALUE: usize = 64;

/// Bytes counted per held value and key beyond their text (map entry, resource list).
const VALUE_OVERHEAD: usize = 64;
const KEY_OVERHEAD: usize = 96;

/// Bounds of one tenant head's registry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegistryLimits {
    pub max_values_per_key: usize,
    pub max_keys_per_scope: usize,
    pub max_bytes: usize,
}

impl Default for RegistryLimits {
    fn default() -> Self {
        Self {
            max_values_per_key: 1_000,
            max_keys_per_scope: 10_000,
            max_bytes: 16 << 20,
        }
    }
}

/// The resources that carried a value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Carriers {
    /// These resource ordinals (ascending).
    Few(Vec<u32>),
    /// More than [`MAX_RESOURCES_PER_VALUE`].
    Many,
}

impl Carriers {
    fn add(&mut self, r: u32) -> usize {
        let Self::Few(v) = self else { return 0 };
        // Spans of one resource arrive together: the last one is the usual hit.
        if v.last() == Some(&r) {
            return 0;
        }
        match v.binary_search(&r) {
            Ok(_) => 0,
            Err(_) if v.len() >= MAX_RESOURCES_PER_VALUE => {
                *self = Self::Many;
                0
            }
            Err(i) => {
                v.insert(i, r);
                4
            }
        }
    }

    /// Whether any of `set` (ascending ordinals) carried the value.
    pub fn intersects(&self, set: &[u32]) -> bool {
        match self {
            Self::Many => true,
            Self::Few(v) => v.iter().any(|r| set.binary_search(r).is_ok()),
        }
    }
}

/// The values of one key, by type (so a lookup by `&str` or number allocates nothing).
#[derive(Debug, Default)]
struct KeyTags {
    strings: HashMap<String, Carriers>,
    ints: HashMap<i64, Carriers>,
    /// By bit pattern, so every double (NaN too) is a key.
    floats: HashMap<u64, Carriers>,
    bools: [Option<Carriers>; 2],
    /// Values were seen that are not kept (too many, or out of bytes).
    over_limit: bool,
}

impl KeyTags {
    fn len(&self) -> usize {
        self.strings.len()
            + self.ints.len()
            + self.floats.len()
            + self.bools.iter().flatten().count()
    }

    fn values(&self) -> impl Iterator<Item = (TagValue, &Carriers)> {
        let strings = self
            .strings
            .iter()
            .map(|(s, c)| (TagValue::new(TagType::String, s.as_str()), c));
        let ints = self
            .ints
            .iter()
            .map(|(i, c)| (TagValue::new(TagType::Int, i.to_string()), c));
        let floats = self.floats.iter().map(|(f, c)| {
            (
                TagValue::new(TagType::Float, float_text(f64::from_bits(*f))),
                c,
            )
        });
        let bools = self.bools.iter().enumerate().filter_map(|(i, c)| {
            c.as_ref()
                .map(|c| (TagValue::new(TagType::Bool, (i == 1).to_string()), c))
        });
        strings.chain(ints).chain(floats).chain(bools)
    }

    fn carriers(&self, v: &TagValue) -> Option<&Carriers> {
        match v.kind {
            TagType::String => self.strings.get(&v.value),
            TagType::Int => self.ints.get(&v.value.parse().ok()?),
            TagType::Float => self.floats.get(&v.value.parse::<f64>().ok()?.to_bits()),
            TagType::Bool => self.bools[usize::from(v.value.parse::<bool>().ok()?)].as_ref(),
        }
    }
}

#[derive(Debug, Default)]
struct ScopeTags {
    keys: HashMap<String, KeyTags>,
    /// Keys were seen that are not kept.
    incomplete: bool,
}

/// What the registry knows about one value of one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueAnswer {
    /// No span of this head carried it.
    Absent,
    /// These resources carried it.
    Carried(Carriers),
    /// The registry cannot tell (the key or scope is over its limit).
    Unknown,
}

/// Values of one key, as listed by [`TagRegistry::values`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyValues {
    pub values: Vec<TagValue>,
    /// Some values were not kept, so `values` may miss some.
    pub incomplete: bool,
}

/// One tenant head's tag names and values; see the module doc.
#[derive(Debug, Default)]
pub struct TagRegistry {
    limits: RegistryLimits,
    scopes: [ScopeTags; 6],
    /// Every resource of the head, by ordinal.
    resources: Vec<Arc<ResourceEntry>>,
    /// Each resource's service (an index into `services`).
    resource_service: Vec<u32>,
    /// Per service (`service.name`, "" for none): its span names, each with the span kinds
    /// seen as a bit set (bit = OTLP kind number); `None` once past the per-key value limit.
    services: Vec<(String, Option<HashMap<String, u8>>)>,
    bytes: usize,
}

impl TagRegistry {
    pub fn new(limits: RegistryLimits) -> Self {
        Self {
            limits,
            ..Default::default()
        }
    }

    /// Estimated bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Registers a newly interned resource and its attributes; returns its ordinal and the
    /// bytes added.
    pub fn add_resource(&mut self, r: &Arc<ResourceEntry>) -> (u32, usize) {
        let ordinal = self.resources.len() as u32;
        self.resources.push(r.clone());
        let before = self.bytes;
        self.bytes += std::mem::size_of::<usize>() + std::mem::size_of::<u32>();
        let service = crate::head::service_of(r);
        let si = match self.services.iter().position(|(s, _)| *s == service) {
            Some(i) => i,
            None => {
                self.bytes += service.len() + KEY_OVERHEAD;
                self.services.push((service, Some(HashMap::new())));
                self.services.len() - 1
            }
        };
        self.resource_service.push(si as u32);
        for kv in r.resource.iter().flat_map(|r| &r.attributes) {
            self.add_kv(TagScope::Resource, kv, ordinal);
        }
        (ordinal, self.bytes - before)
    }

    /// Registers the scope's name, version and attributes as seen with a resource.
    pub fn add_scope(&mut self, scope: &ScopeEntry, resource: u32) -> usize {
        let before = self.bytes;
        if let Some(s) = &scope.scope {
            for kv in &s.attributes {
                self.add_kv(TagScope::Instrumentation, kv, resource);
            }
        }
        self.bytes - before
    }

    /// Registers a span's name, its operation (service, kind, name), and the attributes of
    /// the span, its events and its links.
    pub fn add_span(&mut self, span: &Span, resource: u32) -> usize {
        let before = self.bytes;
        self.add_operation(span, resource);
        self.add(
            TagScope::Intrinsic,
            "name",
            ValueRef::Str(&span.name),
            resource,
        );
        for kv in &span.attributes {
            self.add_kv(TagScope::Span, kv, resource);
        }
        for e in &span.events {
            for kv in &e.attributes {
                self.add_kv(TagScope::Event, kv, resource);
            }
        }
        for l in &span.links {
            for kv in &l.attributes {
                self.add_kv(TagScope::Link, kv, resource);
            }
        }
        self.bytes - before
    }

    fn add_operation(&mut self, span: &Span, resource: u32) {
        let Some(&si) = self.resource_service.get(resource as usize) else {
            return;
        };
        let max = self.limits.max_values_per_key;
        let out_of_bytes = self.bytes >= self.limits.max_bytes;
        let slot = &mut self.services[si as usize].1;
        let Some(ops) = slot else {
            return;
        };
        let bit = 1u8 << (span.kind.clamp(0, 7) as u32);
        if let Some(kinds) = ops.get_mut(span.name.as_str()) {
            *kinds |= bit;
        } else if out_of_bytes || ops.len() >= max {
            // The names are dropped, their bytes stay counted: the head was charged for
            // them and is only credited when it is cut.
            *slot = None;
        } else {
            ops.insert(span.name.clone(), bit);
            self.bytes += span.name.len() + VALUE_OVERHEAD;
        }
    }

    /// The operations (span kind number, span name) of a service's spans, sorted by name
    /// then kind; `None` when the registry cannot tell (more operations than its limit).
    pub fn operations(&self, service: &str) -> Option<Vec<(i32, String)>> {
        let Some((_, ops)) = self.services.iter().find(|(s, _)| s == service) else {
            return Some(Vec::new());
        };
        let mut out: Vec<(i32, String)> = ops
            .as_ref()?
            .iter()
            .flat_map(|(name, kinds)| {
                (0..8)
                    .filter(move |k| kinds & (1 << k) != 0)
                    .map(move |k| (k, name.clone()))
            })
            .collect();
        out.sort_unstable_by(|a, b| (&a.1, a.0).cmp(&(&b.1, b.0)));
        Some(out)
    }

    fn add_kv(&mut self, scope: TagScope, kv: &KeyValue, resource: u32) {
        if kv.key_strindex != 0 {
            return;
        }
        let v = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => ValueRef::Str(s),
            Some(Value::IntValue(i)) => ValueRef::Int(*i),
            Some(Value::DoubleValue(d)) => ValueRef::Float(*d),
            Some(Value::BoolValue(b)) => ValueRef::Bool(*b),
            // Arrays, maps, bytes: the key is listed, its values are not.
            _ => ValueRef::Other,
        };
        self.add(scope, &kv.key, v, resource);
    }

    fn add(&mut self, scope: TagScope, key: &str, v: ValueRef<'_>, resource: u32) {
        let limits = self.limits;
        let out_of_bytes = self.bytes >= limits.max_bytes;
        let st = &mut self.scopes[scope.slot()];
        let kt = match st.keys.get_mut(key) {
            Some(kt) => kt,
            None => {
                if out_of_bytes || st.keys.len() >= limits.max_keys_per_scope {
                    st.incomplete = true;
                    return;
                }
                self.bytes += key.len() + KEY_OVERHEAD;
                st.keys.entry(key.to_string()).or_default()
            }
        };
        if kt.over_limit {
            // Past the limit the kept values are listed unnarrowed (their carriers are no
            // longer kept up to date), so nothing more is done per occurrence.
            return;
        }
        let full = out_of_bytes || kt.len() >= limits.max_values_per_key;
        let new = || Carriers::Few(vec![resource]);
        let added = match v {
            ValueRef::Str(s) => match kt.strings.get_mut(s) {
                Some(c) => c.add(resource),
                None if full => {
                    kt.over_limit = true;
                    0
                }
                None => {
                    kt.strings.insert(s.to_string(), new());
                    s.len() + VALUE_OVERHEAD
                }
            },
            ValueRef::Int(i) => match kt.ints.get_mut(&i) {
                Some(c) => c.add(resource),
                None if full => {
                    kt.over_limit = true;
                    0
                }
                None => {
                    kt.ints.insert(i, new());
                    VALUE_OVERHEAD
                }
            },
            ValueRef::Float(d) => match kt.floats.get_mut(&d.to_bits()) {
                Some(c) => c.add(resource),
                None if full => {
                    kt.over_limit = true;
                    0
                }
                None => {
                    kt.floats.insert(d.to_bits(), new());
                    VALUE_OVERHEAD
                }
            },
            ValueRef::Bool(b) => match &mut kt.bools[usize::from(b)] {
                Some(c) => c.add(resource),
                slot => {
                    *slot = Some(new());
                    VALUE_OVERHEAD
                }
            },
            ValueRef::Other => 0,
        };
        self.bytes += added;
    }

    /// The keys of a scope, sorted; and whether keys were left out.
    pub fn keys(&self, scope: TagScope) -> (Vec<String>, bool) {
        let st = &self.scopes[scope.slot()];
        let mut keys: Vec<String> = st.keys.keys().cloned().collect();
        keys.sort_unstable();
        (keys, st.incomplete)
    }

    /// The values of a key, sorted; with `resources` (ascending ordinals), only values that
    /// some of those resources carried (or that many resources carried: no narrowing).
    pub fn values(&self, scope: TagScope, key: &str, resources: Option<&[u32]>) -> KeyValues {
        let st = &self.scopes[scope.slot()];
        let Some(kt) = st.keys.get(key) else {
            return KeyValues {
                values: Vec::new(),
                incomplete: st.incomplete,
            };
        };
        // Carriers of a key past its limit are not kept up to date: no narrowing.
        let resources = resources.filter(|_| !kt.over_limit);
        let mut values: Vec<TagValue> = kt
            .values()
            .filter(|(_, c)| resources.is_none_or(|set| c.intersects(set)))
            .map(|(v, _)| v)
            .collect();
        values.sort_unstable();
        KeyValues {
            values,
            incomplete: kt.over_limit,
        }
    }

    /// Which resources carried `value` of `key`.
    pub fn lookup(&self, scope: TagScope, key: &str, value: &TagValue) -> ValueAnswer {
        let st = &self.scopes[scope.slot()];
        let Some(kt) = st.keys.get(key) else {
            return if st.incomplete {
                ValueAnswer::Unknown
            } else {
                ValueAnswer::Absent
            };
        };
        if kt.over_limit {
            return ValueAnswer::Unknown;
        }
        match kt.carriers(value) {
            Some(c) => ValueAnswer::Carried(c.clone()),
            None => ValueAnswer::Absent,
        }
    }

    /// The resources (ascending ordinals) having attribute `key` with `value`: exact, read
    /// from the resources themselves.
    pub fn resources_with(&self, key: &str, value: &TagValue) -> Vec<u32> {
        self.resources
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                r.resource.iter().flat_map(|r| &r.attributes).any(|kv| {
                    kv.key == key && TagValue::of_kv(kv).is_some_and(|v| same_value(&v, value))
                })
            })
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// The values of resource attribute `key` over the given resources, sorted and
    /// de-duplicated.
    pub fn resource_values(&self, key: &str, resources: &[u32]) -> Vec<TagValue> {
        let mut out: Vec<TagValue> = resources
            .iter()
            .filter_map(|&i| self.resources.get(i as usize))
            .flat_map(|r| r.resource.iter().flat_map(|r| &r.attributes))
            .filter(|kv| kv.key == key)
            .filter_map(TagValue::of_kv)
            .collect();
        out.sort_unstable();
        out.dedup();
        out
    }
}

/// Whether two values are equal as TraceQL compares them (an int equals the same float).
pub fn same_value(a: &TagValue, b: &TagValue) -> bool {
    let num = |v: &TagValue| match v.kind {
        TagType::Int | TagType::Float => v.value.parse::<f64>().ok(),
        _ => None,
    };
    match (num(a), num(b)) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

/// A borrowed attribute value on the ingest path.
#[derive(Clone, Copy)]
enum ValueRef<'a> {
    Str(&'a str),
    Int(i64),
    Float(f64),
    Bool(bool),
    Other,
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::{Event, InstrumentationScope, Resource, kv_bool, kv_int, kv_str};

    fn resource(service: &str) -> Arc<ResourceEntry> {
        Arc::new(ResourceEntry {
            resource: Some(Resource {
                attributes: vec![kv_str("service.name", service), kv_int("pid", 7)],
                ..Default::default()
            }),
            schema_url: String::new(),
        })
    }

    fn span(name: &str, attrs: Vec<KeyValue>) -> Span {
        Span {
            name: name.into(),
            attributes: attrs,
            events: vec![Event {
                name: "exception".into(),
                attributes: vec![kv_str("exception.type", "Boom")],
                ..Default::default()
            }],
            ..Default::default()
        }
    }

    fn s(v: &str) -> TagValue {
        TagValue::new(TagType::String, v)
    }

    #[test]
    fn registry_lists_names_and_typed_values_by_scope() {
        let mut reg = TagRegistry::new(RegistryLimits::default());
        let (api, b1) = reg.add_resource(&resource("api"));
        let (db, _) = reg.add_resource(&resource("db"));
        assert_eq!((api, db), (0, 1));
        assert!(b1 > 0);
        let scope = ScopeEntry {
            scope: Some(InstrumentationScope {
                attributes: vec![kv_str("otel.lib", "x")],
                ..Default::default()
            }),
            schema_url: String::new(),
        };
        assert!(reg.add_scope(&scope, api) > 0);
        let grown = reg.add_span(
            &span(
                "GET /users",
                vec![
                    kv_str("http.route", "/users"),
                    kv_int("http.status_code", 200),
                    kv_bool("cache.hit", true),
                ],
            ),
            api,
        );
        assert!(grown > 0);
        // The same span again adds nothing.
        let again = span(
            "GET /users",
            vec![
                kv_str("http.route", "/users"),
                kv_int("http.status_code", 200),
                kv_bool("cache.hit", true),
            ],
        );
        assert_eq!(reg.add_span(&again, api), 0);
        reg.add_span(&span("SELECT", vec![kv_int("http.status_code", 500)]), db);

        assert_eq!(
            reg.keys(TagScope::Span).0,
            vec!["cache.hit", "http.route", "http.status_code"]
        );
        assert_eq!(reg.keys(TagScope::Resource).0, vec!["pid", "service.name"]);
        assert_eq!(reg.keys(TagScope::Event).0, vec!["exception.type"]);
        assert_eq!(reg.keys(TagScope::Instrumentation).0, vec!["otel.lib"]);
        assert_eq!(reg.keys(TagScope::Intrinsic).0, vec!["name"]);
        let codes = reg.values(TagScope::Span, "http.status_code", None);
        assert_eq!(
            codes.values,
            vec![
                TagValue::new(TagType::Int, "200"),
                TagValue::new(TagType::Int, "500")
            ]
        );
        assert!(!codes.incomplete);
        assert_eq!(
            reg.values(TagScope::Span, "cache.hit", None).values,
            vec![TagValue::new(TagType::Bool, "true")]
        );
        // Narrowed to the resources of service "db".
        let dbs = reg.resources_with("service.name", &s("db"));
        assert_eq!(dbs, vec![db]);
        assert_eq!(
            reg.values(TagScope::Intrinsic, "name", Some(&dbs)).values,
            vec![s("SELECT")]
        );
        assert_eq!(reg.resource_values("service.name", &dbs), vec![s("db")]);
        assert_eq!(
            reg.lookup(TagScope::Span, "http.route", &s("/users")),
            ValueAnswer::Carried(Carriers::Few(vec![api]))
        );
        assert_eq!(
            reg.lookup(TagScope::Span, "http.route", &s("/nope")),
            ValueAnswer::Absent
        );
        // An int attribute matches the same float literal.
        assert_eq!(
            reg.resources_with("pid", &TagValue::new(TagType::Float, "7")),
            vec![api, db]
        );
    }

    #[test]
    fn registry_lists_operations_per_service_until_its_limit() {
        let mut reg = TagRegistry::new(RegistryLimits {
            max_values_per_key: 3,
            ..RegistryLimits::default()
        });
        let (api, _) = reg.add_resource(&resource("api"));
        let (api2, _) = reg.add_resource(&resource("api"));
        let (db, _) = reg.add_resource(&resource("db"));
        let with_kind = |name: &str, kind: i32| Span {
            kind,
            ..span(name, Vec::new())
        };
        reg.add_span(&with_kind("GET /", 2), api);
        reg.add_span(&with_kind("GET /", 3), api2);
        reg.add_span(&with_kind("GET /", 2), api2);
        reg.add_span(&with_kind("query", 2), db);
        assert_eq!(
            reg.operations("api"),
            Some(vec![(2, "GET /".to_string()), (3, "GET /".to_string())])
        );
        assert_eq!(reg.operations("db"), Some(vec![(2, "query".to_string())]));
        assert_eq!(reg.operations("nope"), Some(Vec::new()));
        for i in 0..3 {
            reg.add_span(&with_kind(&format!("op{i}"), 1), db);
        }
        assert_eq!(reg.operations("db"), None, "past the limit it cannot tell");
        assert!(
            reg.operations("api").is_some(),
            "other services keep theirs"
        );
    }

    #[test]
    fn registry_is_bounded_per_key_and_in_bytes() {
        let mut reg = TagRegistry::new(RegistryLimits {
            max_values_per_key: 3,
            max_keys_per_scope: 2,
            max_bytes: 1_000_000,
        });
        let (r, _) = reg.add_resource(&resource("api"));
        for i in 0..10 {
            reg.add_span(&span("x", vec![kv_str("user", &format!("u{i}"))]), r);
        }
        let users = reg.values(TagScope::Span, "user", None);
        assert_eq!(users.values.len(), 3, "keeps the first values");
        assert!(users.incomplete);
        assert_eq!(
            reg.lookup(TagScope::Span, "user", &s("u9")),
            ValueAnswer::Unknown,
            "a dropped value may be there"
        );
        reg.add_span(&span("x", vec![kv_str("a", "1"), kv_str("b", "1")]), r);
        let (keys, incomplete) = reg.keys(TagScope::Span);
        assert_eq!(keys.len(), 2);
        assert!(incomplete, "a third key was refused");
        assert_eq!(
            reg.lookup(TagScope::Span, "b", &s("1")),
            ValueAnswer::Unknown
        );

        let mut small = TagRegistry::new(RegistryLimits {
            max_bytes: 2_000,
            ..RegistryLimits::default()
        });
        let (r, _) = small.add_resource(&resource("api"));
        for i in 0..1_000 {
            small.add_span(&span("x", vec![kv_str("id", &format!("{i:0>40}"))]), r);
        }
        assert!(small.bytes() < 2_000 + 200, "bytes {}", small.bytes());
        assert!(small.values(TagScope::Span, "id", None).incomplete);
    }

    #[test]
    fn carriers_turn_into_many_past_the_cap() {
        let mut reg = TagRegistry::new(RegistryLimits::default());
        for i in 0..=MAX_RESOURCES_PER_VALUE {
            let (r, _) = reg.add_resource(&resource(&format!("svc{i}")));
            reg.add_span(&span("GET", vec![]), r);
        }
        assert_eq!(
            reg.lookup(TagScope::Intrinsic, "name", &s("GET")),
            ValueAnswer::Carried(Carriers::Many)
        );
        assert_eq!(
            reg.values(TagScope::Intrinsic, "name", Some(&[0])).values,
            vec![s("GET")]
        );
    }

    #[test]
    fn typed_encoding_round_trips() {
        for v in [
            TagValue::new(TagType::Int, "-3"),
            TagValue::new(TagType::String, "a:b"),
            TagValue::new(TagType::Float, "1.5"),
            TagValue::new(TagType::Bool, "false"),
        ] {
            assert_eq!(TagValue::decode(&v.encode()), Some(v));
        }
        assert_eq!(TagValue::decode("nope"), None);
        assert_eq!(float_text(200.0), "200");
        assert_eq!(float_text(1.5), "1.5");
        assert_eq!(float_text(1e300), "1e300");
        assert_eq!(float_text(-2.5e-8), "-2.5e-8");
        for d in [0.1, 1e300, -2.5e-8, 123456789.125, f64::MAX] {
            assert_eq!(float_text(d).parse::<f64>().unwrap(), d);
        }
        assert_eq!(TagValue::decode("blob:x"), None);
    }
}
