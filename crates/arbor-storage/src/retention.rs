//! Retention: which blocks of a tenant to delete, by age and by total size.
//!
//! Age goes by the server's clock, not by the clients': a block's *retention time* is
//! the newest span end it holds (`end_unix_nano`), clamped to within `slack` of when the
//! server received the block's last span ([`BlockMeta::received_range`]):
//!
//! ```text
//! retention_time = clamp(end_unix_nano, received_last - slack, received_last + slack)
//! ```
//!
//! So a span stamped 30 days ago counts as received (less the slack) and is kept for
//! `max_age` after it was acknowledged; a span stamped far in the future counts as
//! received plus the slack and does not pin its block. With a slack of zero, retention
//! goes by receipt alone. The span range itself is left as stamped: queries still prune
//! blocks by it, so a span stamped 30 days ago is found by a query for that time (see
//! [`crate::block::meta`]). Blocks written before receipt times were recorded use their
//! creation time as `received_last`.
//!
//! Rules, applied per tenant to its visible blocks with that tenant's [`RetentionLimits`]
//! (from a [`RetentionPolicy`]):
//!
//! 1. Age: a block goes when `retention_time < now - max_age`. A block exactly `max_age`
//!    old stays. A `max_age` of zero means no age limit (never "delete everything").
//! 2. Size: if the blocks left still add up to more than `max_total_bytes` (the sum of
//!    [`BlockMeta::size_bytes`], `meta.json` not counted), the oldest go first — by
//!    retention time, then by block ID — until the total is at or under the limit. `None`
//!    means no size limit.
//!
//! [`plan_retention`] decides; [`apply_retention`] lists, decides and deletes through
//! [`Backend::delete_block`] (`meta.json` first, so a deleted block vanishes for readers
//! at once).

use std::collections::HashMap;
use std::time::Duration;

use crate::backend::{Backend, BackendError};
use crate::block::meta::BlockMeta;

/// The default age limit: 14 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// The default slack between a span's own times and its receipt (as Tempo's
/// `ingestion_time_range_slack` default): 2 minutes.
pub const DEFAULT_SLACK: Duration = Duration::from_secs(120);

/// How long and how much of one tenant's blocks are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionLimits {
    /// Blocks whose retention time is older than this go; zero: no age limit.
    pub max_age: Duration,
    /// The tenant's blocks are kept at or under this many bytes, oldest deleted first;
    /// `None`: no size limit.
    pub max_total_bytes: Option<u64>,
}

impl Default for RetentionLimits {
    fn default() -> Self {
        Self {
            max_age: DEFAULT_MAX_AGE,
            max_total_bytes: None,
        }
    }
}

/// Retention limits of every tenant: `default`, unless `per_tenant` names the tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetentionPolicy {
    pub default: RetentionLimits,
    pub per_tenant: HashMap<String, RetentionLimits>,
}

impl RetentionPolicy {
    /// The same limits for every tenant.
    pub fn uniform(default: RetentionLimits) -> Self {
        Self {
            default,
            per_tenant: HashMap::new(),
        }
    }

    /// The limits of `tenant`.
    pub fn for_tenant(&self, tenant: &str) -> RetentionLimits {
        self.per_tenant.get(tenant).copied().unwrap_or(self.default)
    }
}

/// Nanoseconds of a duration, saturating.
fn nanos(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The time retention judges a block's age by: its newest span end, clamped to within
/// `slack` of when its last span was received (see the module docs).
pub fn retention_time(meta: &BlockMeta, slack: Duration) -> u64 {
    let received = meta.received_range().last_unix_nano;
    let slack = nanos(slack);
    meta.end_unix_nano.clamp(
        received.saturating_sub(slack),
        received.saturating_add(slack),
    )
}

/// A block with its retention time.
type Dated<'a> = (u64, &'a BlockMeta);

/// The IDs of the blocks to delete, age victims first, then size victims, each oldest
/// first. Deterministic for the same input.
pub fn plan_retention(
    blocks: &[BlockMeta],
    now_unix_nano: u64,
    limits: RetentionLimits,
    slack: Duration,
) -> Vec<String> {
    let RetentionLimits {
        max_age,
        max_total_bytes,
    } = limits;
    let mut sorted: Vec<(u64, &BlockMeta)> = blocks
        .iter()
        .map(|m| (retention_time(m, slack), m))
        .collect();
    sorted.sort_by(|(ta, a), (tb, b)| ta.cmp(tb).then_with(|| a.block_id.cmp(&b.block_id)));
    sorted.dedup_by(|(_, a), (_, b)| a.block_id == b.block_id);

    let max_age_ns = nanos(max_age);
    let too_old = |t: u64| {
        !max_age.is_zero()
            && now_unix_nano
                .checked_sub(max_age_ns)
                .is_some_and(|cutoff| t < cutoff)
    };
    let (old, kept): (Vec<Dated>, Vec<Dated>) = sorted.into_iter().partition(|(t, _)| too_old(*t));
    let mut out: Vec<String> = old.iter().map(|(_, m)| m.block_id.clone()).collect();

    if let Some(limit) = max_total_bytes {
        let mut total: u64 = kept
            .iter()
            .map(|(_, m)| m.size_bytes())
            .fold(0, u64::saturating_add);
        for (_, m) in kept {
            if total <= limit {
                break;
            }
            total = total.saturating_sub(m.size_bytes());
            out.push(m.block_id.clone());
        }
    }
    out
}

/// Lists a tenant's blocks, plans retention on the visible ones and deletes what the plan
/// says (`meta.json` first). Returns the deleted block IDs. Stops at the first failed
/// deletion; what is left is deleted by the next run.
pub async fn apply_retention(
    backend: &Backend,
    tenant: &str,
    now_unix_nano: u64,
    limits: RetentionLimits,
    slack: Duration,
) -> Result<Vec<String>, BackendError> {
    let listing = backend.list_blocks(tenant).await?;
    let plan = plan_retention(&listing.visible, now_unix_nano, limits, slack);
    let mut deleted = Vec::with_capacity(plan.len());
    for id in plan {
        backend.delete_block(tenant, &id).await?;
        deleted.push(id);
    }
    if !deleted.is_empty() {
        tracing::info!(
            tenant,
            blocks = deleted.len(),
            "blocks deleted by retention"
        );
    }
    Ok(deleted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::meta::{BlockFile, FilterMeta};

    const S: u64 = 1_000_000_000;
    const DAY: u64 = 86_400 * S;
    const NOW: u64 = 1_800_000_000 * S;

    fn block(id: &str, end: u64, bytes: u64) -> BlockMeta {
        BlockMeta {
            format: crate::block::meta::FORMAT.into(),
            version: crate::block::meta::VERSION,
            block_id: id.into(),
            tenant: "t".into(),
            created_unix_nano: end,
            start_unix_nano: end.saturating_sub(60 * S),
            end_unix_nano: end,
            min_trace_id: String::new(),
            max_trace_id: String::new(),
            span_count: 1,
            trace_count: 1,
            files: vec![BlockFile {
                name: "data.parquet".into(),
                bytes,
            }],
            row_groups: Vec::new(),
            dedicated_columns: Vec::new(),
            trace_filter: FilterMeta {
                kind: "bloom".into(),
                file: "data.parquet".into(),
                params: Default::default(),
            },
            wal: None,
            compaction_level: 0,
            received: None,
            sources: Vec::new(),
        }
    }

    fn lim(max_age: Duration, max_total_bytes: Option<u64>) -> RetentionLimits {
        RetentionLimits {
            max_age,
            max_total_bytes,
        }
    }

    /// The existing rules, judged with receipt equal to creation (as `block` makes them)
    /// and no slack beyond what the cases need: the span end decides within the slack.
    fn plan(
        blocks: &[BlockMeta],
        now: u64,
        max_age: Duration,
        max_total_bytes: Option<u64>,
    ) -> Vec<String> {
        plan_retention(blocks, now, lim(max_age, max_total_bytes), Duration::MAX)
    }

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    #[test]
    fn empty_input_plans_nothing() {
        assert!(plan(&[], NOW, DEFAULT_MAX_AGE, Some(0)).is_empty());
        assert!(plan(&[], NOW, DEFAULT_MAX_AGE, None).is_empty());
    }

    #[test]
    fn default_max_age_is_14_days() {
        assert_eq!(DEFAULT_MAX_AGE, days(14));
    }

    #[test]
    fn age_boundary_is_exclusive() {
        let cutoff = NOW - 14 * DAY;
        let blocks = [
            block("a-older", cutoff - 1, 10),
            block("b-exact", cutoff, 10),
            block("c-newer", cutoff + 1, 10),
            block("d-future", NOW + DAY, 10),
        ];
        assert_eq!(plan(&blocks, NOW, days(14), None), vec!["a-older"]);
    }

    #[test]
    fn age_uses_end_not_start_or_creation() {
        // Started long ago, but its newest span is recent: kept.
        let mut long = block("long", NOW - DAY, 10);
        long.start_unix_nano = NOW - 30 * DAY;
        long.created_unix_nano = NOW - 30 * DAY;
        // Created recently (e.g. compacted), but all spans are old: deleted.
        let mut late = block("late", NOW - 20 * DAY, 10);
        late.created_unix_nano = NOW;
        assert_eq!(plan(&[long, late], NOW, days(14), None), vec!["late"]);
    }

    #[test]
    fn zero_max_age_means_no_age_limit() {
        let blocks = [block("a", 0, 10), block("b", NOW - 365 * DAY, 10)];
        assert!(plan(&blocks, NOW, Duration::ZERO, None).is_empty());
    }

    #[test]
    fn max_age_beyond_now_deletes_nothing() {
        let blocks = [block("a", 0, 10)];
        assert!(plan(&blocks, 5 * S, Duration::from_secs(10), None).is_empty());
        assert!(plan(&blocks, NOW, Duration::MAX, None).is_empty());
    }

    #[test]
    fn age_victims_come_oldest_first() {
        let blocks = [
            block("x", NOW - 20 * DAY, 1),
            block("y", NOW - 30 * DAY, 1),
            block("z", NOW - 15 * DAY, 1),
            block("w", NOW, 1),
        ];
        assert_eq!(plan(&blocks, NOW, days(14), None), vec!["y", "x", "z"]);
    }

    #[test]
    fn size_deletes_oldest_until_at_or_under_limit() {
        let blocks = [
            block("new", NOW - DAY, 100),
            block("old", NOW - 3 * DAY, 100),
            block("mid", NOW - 2 * DAY, 100),
        ];
        // 300 total.
        assert!(plan(&blocks, NOW, days(14), Some(300)).is_empty());
        assert_eq!(plan(&blocks, NOW, days(14), Some(299)), vec!["old"]);
        assert_eq!(plan(&blocks, NOW, days(14), Some(200)), vec!["old"]);
        assert_eq!(plan(&blocks, NOW, days(14), Some(199)), vec!["old", "mid"]);
        assert_eq!(
            plan(&blocks, NOW, days(14), Some(0)),
            vec!["old", "mid", "new"]
        );
    }

    #[test]
    fn size_counts_only_what_age_left() {
        let blocks = [
            block("ancient", NOW - 20 * DAY, 1000),
            block("old", NOW - 3 * DAY, 100),
            block("new", NOW - DAY, 100),
        ];
        // Without the ancient block the rest (200) fits.
        assert_eq!(plan(&blocks, NOW, days(14), Some(200)), vec!["ancient"]);
        assert_eq!(
            plan(&blocks, NOW, days(14), Some(150)),
            vec!["ancient", "old"]
        );
    }

    #[test]
    fn size_ties_break_by_block_id() {
        let end = NOW - DAY;
        let blocks = [
            block("c", end, 10),
            block("a", end, 10),
            block("b", end, 10),
        ];
        assert_eq!(plan(&blocks, NOW, days(14), Some(15)), vec!["a", "b"]);
        let reversed: Vec<BlockMeta> = blocks.iter().rev().cloned().collect();
        assert_eq!(plan(&reversed, NOW, days(14), Some(15)), vec!["a", "b"]);
    }

    #[test]
    fn size_order_ignores_size_itself() {
        // The oldest goes first even when deleting a newer, bigger one would suffice.
        let blocks = [
            block("small-old", NOW - 2 * DAY, 1),
            block("big-new", NOW - DAY, 100),
        ];
        assert_eq!(
            plan(&blocks, NOW, days(14), Some(50)),
            vec!["small-old", "big-new"]
        );
    }

    #[test]
    fn size_counts_every_file() {
        let mut b = block("multi", NOW - DAY, 40);
        b.files.push(BlockFile {
            name: "filter.bin".into(),
            bytes: 20,
        });
        assert!(plan(std::slice::from_ref(&b), NOW, days(14), Some(60)).is_empty());
        assert_eq!(plan(&[b], NOW, days(14), Some(59)), vec!["multi"]);
    }

    #[test]
    fn empty_blocks_and_huge_sizes() {
        let blocks = [
            block("zero", NOW - 2 * DAY, 0),
            block("huge1", NOW - DAY, u64::MAX),
            block("huge2", NOW, u64::MAX),
        ];
        // Saturating sums: still deletes oldest first until under.
        assert_eq!(
            plan(&blocks, NOW, days(14), Some(u64::MAX - 1)),
            vec!["zero", "huge1"]
        );
    }

    #[test]
    fn duplicate_ids_are_planned_once() {
        let b = block("dup", NOW - 20 * DAY, 10);
        assert_eq!(plan(&[b.clone(), b], NOW, days(14), Some(0)), vec!["dup"]);
    }

    /// A block whose spans end at `end` (their own clock) and were received by the server
    /// up to `received`.
    fn received_block(id: &str, end: u64, received: u64) -> BlockMeta {
        let mut b = block(id, end, 10);
        b.created_unix_nano = received + S;
        b.received = Some(crate::block::meta::ReceivedRange {
            first_unix_nano: received - 60 * S,
            last_unix_nano: received,
        });
        b
    }

    const SLACK: Duration = Duration::from_secs(120);

    #[test]
    fn spans_stamped_long_ago_are_kept_max_age_after_receipt() {
        // Stamped 30 days ago, received an hour ago: a day's retention keeps it.
        let recent = received_block("recent", NOW - 30 * DAY, NOW - 3600 * S);
        assert!(plan_retention(&[recent], NOW, lim(days(1), None), SLACK).is_empty());
        // The same, received two days ago: it goes.
        let old = received_block("old", NOW - 30 * DAY, NOW - 2 * DAY);
        assert_eq!(
            plan_retention(&[old], NOW, lim(days(1), None), SLACK),
            vec!["old"]
        );
    }

    #[test]
    fn spans_stamped_in_the_future_do_not_pin_their_block() {
        // Stamped 30 days ahead, received two days ago: a day's retention deletes it.
        let pinned = received_block("future", NOW + 30 * DAY, NOW - 2 * DAY);
        assert_eq!(
            plan_retention(&[pinned], NOW, lim(days(1), None), SLACK),
            vec!["future"]
        );
        // Received just now: kept.
        let fresh = received_block("fresh", NOW + 30 * DAY, NOW);
        assert!(plan_retention(&[fresh], NOW, lim(days(1), None), SLACK).is_empty());
    }

    #[test]
    fn retention_time_is_the_span_end_within_the_slack_of_receipt() {
        let r = NOW - DAY;
        let at = |end| retention_time(&received_block("b", end, r), SLACK);
        assert_eq!(at(r - 30 * DAY), r - 120 * S);
        assert_eq!(at(r - 60 * S), r - 60 * S);
        assert_eq!(at(r + 60 * S), r + 60 * S);
        assert_eq!(at(r + 30 * DAY), r + 120 * S);
        // No slack: receipt alone.
        assert_eq!(
            retention_time(&received_block("b", r - 60 * S, r), Duration::ZERO),
            r
        );
        // The boundary, by receipt: exactly max_age (plus slack) old stays, older goes.
        let cutoff = NOW - days(1).as_nanos() as u64;
        let edge = received_block("edge", 0, cutoff + 120 * S);
        assert!(plan_retention(&[edge], NOW, lim(days(1), None), SLACK).is_empty());
        let past = received_block("past", 0, cutoff + 120 * S - 1);
        assert_eq!(
            plan_retention(&[past], NOW, lim(days(1), None), SLACK),
            vec!["past"]
        );
    }

    #[test]
    fn blocks_without_receipt_times_go_by_their_creation() {
        // Written before receipt times were recorded, spans stamped 30 days before the
        // block was written two hours ago: a day's retention keeps it.
        let mut b = block("legacy", NOW - 30 * DAY, 10);
        b.created_unix_nano = NOW - 2 * 3600 * S;
        assert!(
            plan_retention(std::slice::from_ref(&b), NOW, lim(days(1), None), SLACK).is_empty()
        );
        b.created_unix_nano = NOW - 2 * DAY;
        assert_eq!(
            plan_retention(&[b], NOW, lim(days(1), None), SLACK),
            vec!["legacy"]
        );
    }

    #[test]
    fn size_victims_are_ordered_by_receipt() {
        // The block with the oldest stamps was received last: it is deleted last.
        let blocks = [
            received_block("stamped-old", NOW - 30 * DAY, NOW - 60 * S),
            received_block("received-first", NOW - 3 * 3600 * S, NOW - 3 * 3600 * S),
            received_block("received-second", NOW - 2 * 3600 * S, NOW - 2 * 3600 * S),
        ];
        assert_eq!(
            plan_retention(&blocks, NOW, lim(days(14), Some(10)), SLACK),
            vec!["received-first", "received-second"]
        );
    }

    #[test]
    fn policy_gives_each_tenant_its_limits() {
        let mut policy = RetentionPolicy::uniform(lim(days(14), None));
        policy
            .per_tenant
            .insert("short".into(), lim(days(1), Some(5)));
        assert_eq!(policy.for_tenant("other"), lim(days(14), None));
        assert_eq!(policy.for_tenant("short"), lim(days(1), Some(5)));
        let blocks = [received_block("b", NOW - 2 * DAY, NOW - 2 * DAY)];
        assert!(plan_retention(&blocks, NOW, policy.for_tenant("other"), SLACK).is_empty());
        assert_eq!(
            plan_retention(&blocks, NOW, policy.for_tenant("short"), SLACK),
            vec!["b"]
        );
        assert_eq!(
            RetentionPolicy::default().for_tenant("x"),
            RetentionLimits::default()
        );
    }

    #[tokio::test]
    async fn apply_deletes_planned_blocks() {
        let backend = Backend::from_url(
            "memory://",
            std::path::Path::new("/nonexistent"),
            &Default::default(),
        )
        .unwrap();
        for (id, end) in [("0-old", NOW - 20 * DAY), ("1-new", NOW - DAY)] {
            let mut m = block(id, end, 4);
            m.tenant = "acme".into();
            backend
                .publish_block(
                    "acme",
                    id,
                    vec![("data.parquet".into(), bytes::Bytes::from_static(b"abcd"))],
                    &m,
                )
                .await
                .unwrap();
        }
        let deleted = apply_retention(&backend, "acme", NOW, lim(days(14), None), Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(deleted, vec!["0-old"]);
        let left: Vec<String> = backend
            .list_blocks("acme")
            .await
            .unwrap()
            .visible
            .into_iter()
            .map(|m| m.block_id)
            .collect();
        assert_eq!(left, vec!["1-new"]);
        let deleted = apply_retention(
            &backend,
            "acme",
            NOW,
            lim(days(14), Some(0)),
            Duration::ZERO,
        )
        .await
        .unwrap();
        assert_eq!(deleted, vec!["1-new"]);
        assert!(backend.list_tenants().await.unwrap().is_empty());
    }
}
