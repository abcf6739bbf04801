//! The head: recent spans in memory, per tenant, indexed by trace ID.
//!
//! Spans of one trace arrive in many batches; the head collates them under their trace ID
//! and drops resent spans: same span ID, kind, name, parent, start and end
//! ([`span_identity`]). So Zipkin's shared client/server spans (same ID, other kind) both
//! stay, and so do distinct spans that an instrumentation gave the same ID. Resources and scopes are interned per tenant, so a resource sent with every
//! batch is held once.
//!
//! Spans are held in their protobuf encoding and decoded when read: a decoded OTLP span
//! takes about eight times the memory of its encoding, and reads are rare next to writes.
//!
//! Memory is bounded: every span is charged its in-memory size against one budget shared
//! by all tenants; [`Head::check_capacity`] tells ingest to push back before the
//! budget is passed. Cutting the head into blocks swaps every tenant's [`TenantHead`] for an
//! empty one ([`Head::take_all`]); the taken heads stay readable, and their bytes stay
//! charged, until their blocks are durable ([`Head::release`]).
//!
//! Each tenant head keeps a bounded registry of the tag names and values it holds
//! ([`crate::tags::TagRegistry`]), filled on append, so listing them never decodes spans.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arbor_model::TraceId;
use arbor_model::otlp::{ExportTraceServiceRequest, InstrumentationScope, Resource, Span};
use parking_lot::{Mutex, RwLock};
use prost::Message;

use crate::tags::{RegistryLimits, TagRegistry};

/// Shards per tenant: enough that concurrent ingest rarely contends on one lock.
const SHARDS: usize = 32;

/// Per-span overhead of the head's own structures beyond the span itself: its slot in the
/// trace's vector (with the vector's spare capacity), two resource/scope pointers, and its
/// entry in the trace's de-duplication set.
const SPAN_OVERHEAD: usize = 104;

/// Per-trace overhead: the map entry, the entry's vectors and set.
const TRACE_OVERHEAD: usize = 160;

/// A resource with its schema URL, shared by every span of the tenant that carries it.
#[derive(Debug, PartialEq)]
pub struct ResourceEntry {
    pub resource: Option<Resource>,
    pub schema_url: String,
}

/// An instrumentation scope with its schema URL, shared like [`ResourceEntry`].
#[derive(Debug, PartialEq)]
pub struct ScopeEntry {
    pub scope: Option<InstrumentationScope>,
    pub schema_url: String,
}

/// One span as read from the head.
#[derive(Debug, Clone)]
pub struct HeadSpan {
    pub resource: Arc<ResourceEntry>,
    pub scope: Arc<ScopeEntry>,
    pub span: Span,
}

/// One span as the head holds it: encoded.
struct StoredSpan {
    resource: Arc<ResourceEntry>,
    scope: Arc<ScopeEntry>,
    encoded: Box<[u8]>,
}

impl StoredSpan {
    fn decode(&self) -> Option<HeadSpan> {
        self.decode_with(|b| Span::decode(b).ok())
    }

    /// Decodes with `decode` (which may read only some fields).
    fn decode_with(&self, decode: impl Fn(&[u8]) -> Option<Span>) -> Option<HeadSpan> {
        let Some(span) = decode(&self.encoded[..]) else {
            // The head encoded these bytes itself; failing to decode them is a bug.
            tracing::error!("head holds a span it cannot decode");
            return None;
        };
        Some(HeadSpan {
            resource: self.resource.clone(),
            scope: self.scope.clone(),
            span,
        })
    }
}

/// What an append did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct AppendStats {
    pub spans_added: u64,
    pub duplicates_dropped: u64,
    pub traces_created: u64,
}

impl TraceEntry {
    /// A copy of the held spans (their bytes), to decode outside the shard's lock.
    fn copy_spans(&self) -> Vec<StoredSpan> {
        self.spans
            .iter()
            .map(|s| StoredSpan {
                resource: s.resource.clone(),
                scope: s.scope.clone(),
                encoded: s.encoded.clone(),
            })
            .collect()
    }
}

#[derive(Default)]
struct TraceEntry {
    spans: Vec<StoredSpan>,
    /// (span ID, kind) of every span held, for de-duplication.
    seen: HashSet<SpanIdentity>,
    /// Earliest span start and latest span end held (Unix ns), once a span is.
    times: Option<(u64, u64)>,
}

impl TraceEntry {
    /// Whether the trace's spans reach into `[from, to]` (`to` 0: no bound).
    fn overlaps(&self, (from, to): (u64, u64)) -> bool {
        self.times
            .is_none_or(|(start, end)| end >= from && (to == 0 || start <= to))
    }
}

/// An interned resource and its ordinal in the tenant's tag registry.
type InternedResource = (Arc<ResourceEntry>, u32);

/// One tenant's part of the head.
pub struct TenantHead {
    shards: Vec<Mutex<HashMap<TraceId, TraceEntry>>>,
    /// Interned resources with their ordinal in the tag registry.
    resources: Mutex<HashMap<Vec<u8>, InternedResource>>,
    scopes: Mutex<HashMap<Vec<u8>, Arc<ScopeEntry>>>,
    tags: Mutex<TagRegistry>,
    bytes: AtomicUsize,
    spans: AtomicU64,
    traces: AtomicU64,
    created: Instant,
    generation: u64,
    /// First and last receipt time of the batches appended (Unix ns, server clock);
    /// `u64::MAX`/0 while none is.
    received_first: AtomicU64,
    received_last: AtomicU64,
}

/// Generations of tenant heads: unique within a data directory's life, as they start at
/// the clock (nanoseconds) of the first one made by this process.
static NEXT_GENERATION: std::sync::OnceLock<AtomicU64> = std::sync::OnceLock::new();

fn next_generation() -> u64 {
    NEXT_GENERATION
        .get_or_init(|| {
            AtomicU64::new(
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(1, |d| d.as_nanos() as u64),
            )
        })
        .fetch_add(1, Ordering::Relaxed)
}

impl Default for TenantHead {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            resources: Mutex::default(),
            scopes: Mutex::default(),
            tags: Mutex::new(TagRegistry::new(RegistryLimits::default())),
            bytes: AtomicUsize::new(0),
            spans: AtomicU64::new(0),
            traces: AtomicU64::new(0),
            created: Instant::now(),
            generation: next_generation(),
            received_first: AtomicU64::new(u64::MAX),
            received_last: AtomicU64::new(0),
        }
    }
}

impl TenantHead {
    fn shard(&self, id: &TraceId) -> &Mutex<HashMap<TraceId, TraceEntry>> {
        // Trace IDs are random, so their last byte spreads traces evenly.
        &self.shards[id.0[15] as usize % SHARDS]
    }

    /// Estimated bytes held by this tenant.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn span_count(&self) -> u64 {
        self.spans.load(Ordering::Relaxed)
    }

    pub fn trace_count(&self) -> u64 {
        self.traces.load(Ordering::Relaxed)
    }

    /// How long ago this tenant head received its first span.
    /// Which head this is: every tenant head made gets a new generation, so what was
    /// derived from its spans can be told apart from what a later head took.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn age(&self) -> Duration {
        self.created.elapsed()
    }

    /// When the server received the batches this head holds (first and last), once it
    /// holds one: the block cut from it records this range.
    pub fn received_range(&self) -> Option<crate::block::meta::ReceivedRange> {
        let first = self.received_first.load(Ordering::Relaxed);
        let last = self.received_last.load(Ordering::Relaxed);
        (first <= last).then_some(crate::block::meta::ReceivedRange {
            first_unix_nano: first,
            last_unix_nano: last,
        })
    }

    /// The IDs of every trace held, ascending: the order a block is written in.
    pub fn sorted_trace_ids(&self) -> Vec<TraceId> {
        let mut ids: Vec<TraceId> = self
            .shards
            .iter()
            .flat_map(|s| s.lock().keys().copied().collect::<Vec<_>>())
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Whether this head holds any span of trace `id`.
    pub fn contains(&self, id: &TraceId) -> bool {
        self.shard(id).lock().contains_key(id)
    }

    /// The spans of one trace, decoded.
    pub fn trace(&self, id: &TraceId) -> Vec<HeadSpan> {
        // Copy the bytes out under the lock; decode outside it.
        let held: Vec<StoredSpan> = match self.shard(id).lock().get(id) {
            Some(e) => e.copy_spans(),
            None => return Vec::new(),
        };
        held.iter().filter_map(StoredSpan::decode).collect()
    }

    /// Number of shards; [`TenantHead::shard_traces`] takes `0..shard_count()`.
    pub fn shard_count(&self) -> usize {
        self.shards.len()
    }

    /// Every trace of one shard, decoded (a search walks the head shard by shard, so it
    /// holds one shard's lock only while copying that shard's bytes).
    pub fn shard_traces(&self, shard: usize) -> Vec<(TraceId, Vec<HeadSpan>)> {
        self.shard_traces_with(shard, |b| Span::decode(b).ok())
    }

    /// [`TenantHead::shard_traces`] with a decoder of its own: a search that reads only some
    /// fields decodes a message that skips the rest (events, links, attributes), which is
    /// several times cheaper than decoding whole spans.
    pub fn shard_traces_with(
        &self,
        shard: usize,
        decode: impl Fn(&[u8]) -> Option<Span>,
    ) -> Vec<(TraceId, Vec<HeadSpan>)> {
        self.shard_traces_in(shard, (0, 0), decode)
    }

    /// [`TenantHead::shard_traces_with`], only the traces whose spans reach into
    /// `[from, to]` (Unix ns; `to` 0: no bound): the others are not even copied.
    pub fn shard_traces_in(
        &self,
        shard: usize,
        range: (u64, u64),
        decode: impl Fn(&[u8]) -> Option<Span>,
    ) -> Vec<(TraceId, Vec<HeadSpan>)> {
        let held: Vec<(TraceId, Vec<StoredSpan>)> = self.shards[shard]
            .lock()
            .iter()
            .filter(|(_, e)| e.overlaps(range))
            .map(|(id, e)| (*id, e.copy_spans()))
            .collect();
        held.into_iter()
            .map(|(id, spans)| {
                let decoded = spans
                    .iter()
                    .filter_map(|s| s.decode_with(&decode))
                    .collect();
                (id, decoded)
            })
            .collect()
    }

    /// The tag registry: names and values of the spans held (see [`crate::tags`]).
    pub fn tags(&self) -> parking_lot::MutexGuard<'_, TagRegistry> {
        self.tags.lock()
    }

    /// The interned resource, its ordinal in the tag registry, and the bytes newly charged.
    fn intern_resource(
        &self,
        resource: Option<Resource>,
        schema_url: String,
    ) -> (Arc<ResourceEntry>, u32, usize) {
        let mut key = resource
            .as_ref()
            .map(|r| r.encode_to_vec())
            .unwrap_or_default();
        key.extend_from_slice(schema_url.as_bytes());
        let mut map = self.resources.lock();
        if let Some((e, ordinal)) = map.get(&key) {
            return (e.clone(), *ordinal, 0);
        }
        let entry = Arc::new(ResourceEntry {
            resource,
            schema_url,
        });
        // Registered under the resources' lock, so ordinals follow interning order.
        let (ordinal, tag_bytes) = self.tags.lock().add_resource(&entry);
        let charged = key.len() * 3 + SPAN_OVERHEAD + tag_bytes;
        map.insert(key, (entry.clone(), ordinal));
        (entry, ordinal, charged)
    }

    fn intern_scope(
        &self,
        scope: Option<InstrumentationScope>,
        schema_url: String,
    ) -> (Arc<ScopeEntry>, usize) {
        let mut key = scope
            .as_ref()
            .map(|s| s.encode_to_vec())
            .unwrap_or_default();
        key.extend_from_slice(schema_url.as_bytes());
        let mut map = self.scopes.lock();
        if let Some(e) = map.get(&key) {
            return (e.clone(), 0);
        }
        let charged = key.len() * 3 + SPAN_OVERHEAD;
        let entry = Arc::new(ScopeEntry { scope, schema_url });
        map.insert(key, entry.clone());
        (entry, charged)
    }
}

/// The in-memory head of every tenant, under one memory budget.
pub struct Head {
    tenants: RwLock<HashMap<String, Arc<TenantHead>>>,
    bytes: AtomicUsize,
    max_bytes: usize,
    observer: Option<Observer>,
}

/// What is told of every span the head takes in (resends already dropped): the derived
/// views. Called after the span is held, outside the head's locks, on the ingest path and
/// while the write-ahead log is replayed.
pub trait SpanObserver: Send + Sync {
    /// Spans of one resource that the head of `generation` (see
    /// [`TenantHead::generation`]) took in.
    fn observe(&self, tenant: &str, generation: u64, resource: &ResourceEntry, spans: &[Span]);

    /// A file to keep in the block cut from `tenant`'s head `generation`, as (name,
    /// bytes); asked once per attempt to write that block.
    fn seal(&self, _tenant: &str, _generation: u64) -> Option<(String, Vec<u8>)> {
        None
    }

    /// The block of `tenant`'s head `generation` is published and readable.
    fn release(&self, _tenant: &str, _generation: u64) {}

    /// The names of the files [`SpanObserver::seal`] writes into blocks.
    fn files(&self) -> Vec<String> {
        Vec::new()
    }

    /// Merges the `file` of blocks compacted into one (inputs it cannot read are left
    /// out); `None` leaves the file out of the output.
    fn merge(&self, _file: &str, _inputs: &[&[u8]]) -> Option<Vec<u8>> {
        None
    }
}

/// A [`SpanObserver`] to hand to the store.
#[derive(Clone)]
pub struct Observer(pub Arc<dyn SpanObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Observer")
    }
}

/// Ingest must wait: the head is at its memory budget.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("head memory budget exhausted: {used} of {limit} bytes in use (head.max_bytes)")]
pub struct HeadFull {
    pub used: usize,
    pub limit: usize,
}

/// Bytes a span will occupy in the head: its encoding (one allocation) plus the head's own
/// per-span structures.
pub fn estimate_span_bytes(span: &Span) -> usize {
    span.encoded_len() + ALLOC_OVERHEAD + SPAN_OVERHEAD
}

/// Bookkeeping and size-class rounding of one heap allocation.
const ALLOC_OVERHEAD: usize = 16;

/// Head bytes a request will take, from its encoded size (already paid for by the log
/// record) and its span count: each span is held as its encoding plus the per-span
/// overheads of [`estimate_span_bytes`].
pub fn estimate_request_bytes(encoded_len: usize, spans: usize) -> usize {
    encoded_len + spans * (ALLOC_OVERHEAD + SPAN_OVERHEAD)
}

/// The `service.name` of a resource, "" when it has none (or not as a string).
pub fn service_of(r: &ResourceEntry) -> String {
    arbor_model::otlp::service_name(r.resource.as_ref())
        .unwrap_or_default()
        .to_string()
}

/// What makes two spans the same span: span ID, kind, and a fingerprint of name, parent,
/// start and end. A span sent again has all of them equal; Zipkin's shared client and
/// server halves differ in kind, and two spans an instrumentation gave one ID differ in
/// name or times.
pub type SpanIdentity = (u64, i32, u64);

/// The [`SpanIdentity`] of a span.
pub fn span_identity(span: &Span) -> SpanIdentity {
    use std::hash::{BuildHasher, Hash, Hasher};
    // Fixed seeds: the fingerprint must not change between calls (it is only compared
    // within one process, but one state keeps it cheap and plain).
    let mut h = ahash::RandomState::with_seeds(1, 2, 3, 4).build_hasher();
    span.name.hash(&mut h);
    span.parent_span_id.hash(&mut h);
    span.start_time_unix_nano.hash(&mut h);
    span.end_time_unix_nano.hash(&mut h);
    (span_key(&span.span_id), span.kind, h.finish())
}

/// Keeps the first of spans that are the same span ([`span_identity`]), in order.
pub fn dedupe(spans: &mut Vec<HeadSpan>) {
    let mut seen = HashSet::with_capacity(spans.len());
    spans.retain(|s| seen.insert(span_identity(&s.span)));
}

/// A span ID as a number, for hashing; an ID of the wrong length (refused by validation
/// before it gets here) hashes as zero.
fn span_key(id: &[u8]) -> u64 {
    <[u8; 8]>::try_from(id).map_or(0, u64::from_le_bytes)
}

impl Head {
    pub fn new(max_bytes: usize) -> Self {
        Self::with_observer(max_bytes, None)
    }

    /// A head that tells `observer` of every span it takes in.
    pub fn with_observer(max_bytes: usize, observer: Option<Observer>) -> Self {
        Self {
            tenants: RwLock::new(HashMap::new()),
            bytes: AtomicUsize::new(0),
            max_bytes,
            observer,
        }
    }

    /// Estimated bytes held across all tenants.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// Refuses when adding `incoming` bytes would pass the budget. A single request larger
    /// than the whole budget is admitted into an empty head, so it can never wedge ingest.
    pub fn check_capacity(&self, incoming: usize) -> Result<(), HeadFull> {
        let used = self.bytes();
        if used > 0 && used.saturating_add(incoming) > self.max_bytes {
            return Err(HeadFull {
                used,
                limit: self.max_bytes,
            });
        }
        Ok(())
    }

    pub fn tenant(&self, tenant: &str) -> Option<Arc<TenantHead>> {
        self.tenants.read().get(tenant).cloned()
    }

    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.tenants.read().keys().cloned().collect();
        t.sort();
        t
    }

    fn tenant_or_create(&self, tenant: &str) -> Arc<TenantHead> {
        if let Some(t) = self.tenant(tenant) {
            return t;
        }
        self.tenants
            .write()
            .entry(tenant.to_string())
            .or_default()
            .clone()
    }

    /// Takes every tenant's head out, for cutting into blocks. Their bytes stay charged
    /// against the budget until [`Head::release`]: the spans are still in memory.
    pub fn take_all(&self) -> Vec<(String, Arc<TenantHead>)> {
        let mut taken: Vec<_> = std::mem::take(&mut *self.tenants.write())
            .into_iter()
            .collect();
        taken.sort_by(|a, b| a.0.cmp(&b.0));
        taken
    }

    /// Gives back `bytes` of budget (a taken head whose block is now durable).
    pub fn release(&self, bytes: usize) {
        self.bytes.fetch_sub(bytes, Ordering::Relaxed);
    }

    /// Age of the oldest tenant head, if any holds spans.
    pub fn oldest_age(&self) -> Option<Duration> {
        self.tenants.read().values().map(|t| t.age()).max()
    }

    /// [`Head::append_received`], received now.
    pub fn append(&self, tenant: &str, req: ExportTraceServiceRequest) -> AppendStats {
        self.append_received(tenant, req, crate::record::now_unix_nano())
    }

    /// Adds every span of a (validated) request the server received at
    /// `received_unix_nano` (its clock), collating by trace ID and dropping duplicates.
    /// Spans with malformed IDs are skipped (validation already refused them).
    pub fn append_received(
        &self,
        tenant: &str,
        req: ExportTraceServiceRequest,
        received_unix_nano: u64,
    ) -> AppendStats {
        let th = self.tenant_or_create(tenant);
        th.received_first
            .fetch_min(received_unix_nano, Ordering::Relaxed);
        th.received_last
            .fetch_max(received_unix_nano, Ordering::Relaxed);
        let mut stats = AppendStats::default();
        let mut charged = 0usize;
        for rs in req.resource_spans {
            let (resource, ordinal, c) = th.intern_resource(rs.resource, rs.schema_url);
            charged += c;
            for ss in rs.scope_spans {
                let (scope, c) = th.intern_scope(ss.scope, ss.schema_url);
                charged += c;
                {
                    // One lock per group of spans: cheap next to encoding them.
                    let mut tags = th.tags.lock();
                    charged += tags.add_scope(&scope, ordinal);
                    for span in &ss.spans {
                        charged += tags.add_span(span, ordinal);
                    }
                }
                // The spans kept, for the observer: told once per group.
                let mut kept = Vec::new();
                for span in ss.spans {
                    let Ok(trace_id) = TraceId::from_bytes(&span.trace_id) else {
                        continue;
                    };
                    if span.span_id.len() != 8 {
                        continue;
                    }
                    let key = span_identity(&span);
                    let encoded = span.encode_to_vec().into_boxed_slice();
                    let size = encoded.len() + ALLOC_OVERHEAD + SPAN_OVERHEAD;
                    let mut shard = th.shard(&trace_id).lock();
                    let entry = shard.entry(trace_id).or_insert_with(|| {
                        stats.traces_created += 1;
                        charged += TRACE_OVERHEAD;
                        TraceEntry::default()
                    });
                    if !entry.seen.insert(key) {
                        stats.duplicates_dropped += 1;
                        continue;
                    }
                    let (start, end) = (span.start_time_unix_nano, span.end_time_unix_nano);
                    entry.times = Some(match entry.times {
                        None => (start, end),
                        Some((a, b)) => (a.min(start), b.max(end)),
                    });
                    entry.spans.push(StoredSpan {
                        resource: resource.clone(),
                        scope: scope.clone(),
                        encoded,
                    });
                    drop(shard);
                    stats.spans_added += 1;
                    charged += size;
                    if self.observer.is_some() {
                        kept.push(span);
                    }
                }
                if let Some(o) = &self.observer
                    && !kept.is_empty()
                {
                    o.0.observe(tenant, th.generation, &resource, &kept);
                }
            }
        }
        th.bytes.fetch_add(charged, Ordering::Relaxed);
        th.spans.fetch_add(stats.spans_added, Ordering::Relaxed);
        th.traces.fetch_add(stats.traces_created, Ordering::Relaxed);
        self.bytes.fetch_add(charged, Ordering::Relaxed);
        stats
    }

    /// All spans the head holds for a trace (cloned), in arrival order.
    pub fn trace(&self, tenant: &str, id: &TraceId) -> Vec<HeadSpan> {
        match self.tenant(tenant) {
            Some(th) => th.trace(id),
            None => Vec::new(),
        }
    }

    /// Spans and traces held, summed over tenants.
    pub fn counts(&self) -> (u64, u64) {
        self.tenants.read().values().fold((0, 0), |(s, t), th| {
            (s + th.span_count(), t + th.trace_count())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::{ResourceSpans, ScopeSpans, kv_str};

    fn req(service: &str, spans: Vec<Span>) -> ExportTraceServiceRequest {
        ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: Some(Resource {
                    attributes: vec![kv_str("service.name", service)],
                    ..Default::default()
                }),
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
    }

    fn span(trace: u8, id: u8, kind: i32) -> Span {
        Span {
            trace_id: vec![trace; 16],
            span_id: vec![id; 8],
            kind,
            name: format!("s{id}"),
            ..Default::default()
        }
    }

    #[test]
    fn collates_batches_and_drops_duplicates() {
        let head = Head::new(1 << 30);
        let a = head.append("t", req("a", vec![span(1, 1, 2), span(1, 2, 3)]));
        assert_eq!(a.spans_added, 2);
        assert_eq!(a.traces_created, 1);
        let b = head.append("t", req("b", vec![span(1, 3, 2), span(1, 1, 2)]));
        assert_eq!(b.spans_added, 1);
        assert_eq!(b.duplicates_dropped, 1);
        // Same span ID, other kind: a shared Zipkin span, kept.
        let c = head.append("t", req("b", vec![span(1, 1, 3)]));
        assert_eq!(c.spans_added, 1);
        let spans = head.trace("t", &TraceId([1; 16]));
        assert_eq!(spans.len(), 4);
        assert!(head.trace("other", &TraceId([1; 16])).is_empty());
        assert_eq!(head.counts(), (4, 1));
    }

    #[test]
    fn resources_are_interned() {
        let head = Head::new(1 << 30);
        head.append("t", req("a", vec![span(1, 1, 2)]));
        head.append("t", req("a", vec![span(2, 1, 2)]));
        let x = head.trace("t", &TraceId([1; 16]));
        let y = head.trace("t", &TraceId([2; 16]));
        assert!(Arc::ptr_eq(&x[0].resource, &y[0].resource));
    }

    #[test]
    fn append_fills_the_tag_registry_and_charges_it() {
        use crate::tags::{TagScope, TagType, TagValue};
        let head = Head::new(1 << 30);
        let mut s = span(1, 1, 2);
        s.attributes = vec![kv_str("http.route", "/a")];
        head.append("t", req("api", vec![s]));
        let th = head.tenant("t").unwrap();
        let tags_bytes = th.tags().bytes();
        assert!(tags_bytes > 0);
        // The span's encoding and overheads are charged, and the registry on top of them.
        assert!(th.bytes() > tags_bytes);
        head.append("t", req("db", vec![span(2, 1, 3)]));
        let reg = th.tags();
        assert_eq!(reg.keys(TagScope::Span).0, vec!["http.route"]);
        let names = reg.values(TagScope::Intrinsic, "name", None).values;
        assert_eq!(names, vec![TagValue::new(TagType::String, "s1")]);
        let svc = |v: &str| TagValue::new(TagType::String, v);
        assert_eq!(reg.resources_with("service.name", &svc("api")), vec![0]);
        assert_eq!(reg.resources_with("service.name", &svc("db")), vec![1]);
        assert!(head.tenant("other").is_none());
    }

    #[test]
    fn budget_pushes_back_and_take_releases() {
        let head = Head::new(2_000);
        assert!(
            head.check_capacity(10_000).is_ok(),
            "an empty head admits any request"
        );
        head.append("t", req("a", (1..=10).map(|i| span(1, i, 1)).collect()));
        let err = head.check_capacity(1_000).unwrap_err();
        assert_eq!(err.limit, 2_000);
        assert!(err.to_string().contains("head.max_bytes"));
        let taken = head.take_all();
        assert_eq!(taken.len(), 1);
        assert_eq!(taken[0].1.trace_count(), 1);
        head.release(taken[0].1.bytes());
        assert_eq!(head.bytes(), 0);
        assert!(head.check_capacity(1_000).is_ok());
    }
}
