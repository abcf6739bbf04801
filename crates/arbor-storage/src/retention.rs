//! Retention: which blocks of a tenant to delete, by age and by total size.
//!
//! Rules, applied per tenant to its visible blocks:
//!
//! 1. Age: a block goes when its newest span is older than `max_age`, that is when
//!    `end_unix_nano < now - max_age`. A block exactly `max_age` old stays. A `max_age` of
//!    zero means no age limit (never "delete everything").
//! 2. Size: if the blocks left still add up to more than `max_total_bytes` (the sum of
//!    [`BlockMeta::size_bytes`], `meta.json` not counted), the oldest go first — by
//!    `end_unix_nano`, then by block ID — until the total is at or under the limit. `None`
//!    means no size limit.
//!
//! [`plan_retention`] decides; [`apply_retention`] lists, decides and deletes through
//! [`Backend::delete_block`] (`meta.json` first, so a deleted block vanishes for readers
//! at once).

use std::time::Duration;

use crate::backend::{Backend, BackendError};
use crate::block::meta::BlockMeta;

/// The default age limit: 14 days.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);

/// The IDs of the blocks to delete, age victims first, then size victims, each oldest
/// first. Deterministic for the same input.
pub fn plan_retention(
    blocks: &[BlockMeta],
    now_unix_nano: u64,
    max_age: Duration,
    max_total_bytes: Option<u64>,
) -> Vec<String> {
    let mut sorted: Vec<&BlockMeta> = blocks.iter().collect();
    sorted.sort_by(|a, b| {
        a.end_unix_nano
            .cmp(&b.end_unix_nano)
            .then_with(|| a.block_id.cmp(&b.block_id))
    });
    sorted.dedup_by(|a, b| a.block_id == b.block_id);

    let max_age_ns = u64::try_from(max_age.as_nanos()).unwrap_or(u64::MAX);
    let too_old = |m: &BlockMeta| {
        !max_age.is_zero()
            && now_unix_nano
                .checked_sub(max_age_ns)
                .is_some_and(|cutoff| m.end_unix_nano < cutoff)
    };
    let (old, kept): (Vec<&BlockMeta>, Vec<&BlockMeta>) =
        sorted.into_iter().partition(|m| too_old(m));
    let mut out: Vec<String> = old.iter().map(|m| m.block_id.clone()).collect();

    if let Some(limit) = max_total_bytes {
        let mut total: u64 = kept
            .iter()
            .map(|m| m.size_bytes())
            .fold(0, u64::saturating_add);
        for m in kept {
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
    max_age: Duration,
    max_total_bytes: Option<u64>,
) -> Result<Vec<String>, BackendError> {
    let listing = backend.list_blocks(tenant).await?;
    let plan = plan_retention(&listing.visible, now_unix_nano, max_age, max_total_bytes);
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
            sources: Vec::new(),
        }
    }

    fn days(n: u64) -> Duration {
        Duration::from_secs(n * 86_400)
    }

    #[test]
    fn empty_input_plans_nothing() {
        assert!(plan_retention(&[], NOW, DEFAULT_MAX_AGE, Some(0)).is_empty());
        assert!(plan_retention(&[], NOW, DEFAULT_MAX_AGE, None).is_empty());
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
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), None),
            vec!["a-older"]
        );
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
        assert_eq!(
            plan_retention(&[long, late], NOW, days(14), None),
            vec!["late"]
        );
    }

    #[test]
    fn zero_max_age_means_no_age_limit() {
        let blocks = [block("a", 0, 10), block("b", NOW - 365 * DAY, 10)];
        assert!(plan_retention(&blocks, NOW, Duration::ZERO, None).is_empty());
    }

    #[test]
    fn max_age_beyond_now_deletes_nothing() {
        let blocks = [block("a", 0, 10)];
        assert!(plan_retention(&blocks, 5 * S, Duration::from_secs(10), None).is_empty());
        assert!(plan_retention(&blocks, NOW, Duration::MAX, None).is_empty());
    }

    #[test]
    fn age_victims_come_oldest_first() {
        let blocks = [
            block("x", NOW - 20 * DAY, 1),
            block("y", NOW - 30 * DAY, 1),
            block("z", NOW - 15 * DAY, 1),
            block("w", NOW, 1),
        ];
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), None),
            vec!["y", "x", "z"]
        );
    }

    #[test]
    fn size_deletes_oldest_until_at_or_under_limit() {
        let blocks = [
            block("new", NOW - DAY, 100),
            block("old", NOW - 3 * DAY, 100),
            block("mid", NOW - 2 * DAY, 100),
        ];
        // 300 total.
        assert!(plan_retention(&blocks, NOW, days(14), Some(300)).is_empty());
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(299)),
            vec!["old"]
        );
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(200)),
            vec!["old"]
        );
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(199)),
            vec!["old", "mid"]
        );
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(0)),
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
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(200)),
            vec!["ancient"]
        );
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(150)),
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
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(15)),
            vec!["a", "b"]
        );
        let reversed: Vec<BlockMeta> = blocks.iter().rev().cloned().collect();
        assert_eq!(
            plan_retention(&reversed, NOW, days(14), Some(15)),
            vec!["a", "b"]
        );
    }

    #[test]
    fn size_order_ignores_size_itself() {
        // The oldest goes first even when deleting a newer, bigger one would suffice.
        let blocks = [
            block("small-old", NOW - 2 * DAY, 1),
            block("big-new", NOW - DAY, 100),
        ];
        assert_eq!(
            plan_retention(&blocks, NOW, days(14), Some(50)),
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
        assert!(plan_retention(std::slice::from_ref(&b), NOW, days(14), Some(60)).is_empty());
        assert_eq!(plan_retention(&[b], NOW, days(14), Some(59)), vec!["multi"]);
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
            plan_retention(&blocks, NOW, days(14), Some(u64::MAX - 1)),
            vec!["zero", "huge1"]
        );
    }

    #[test]
    fn duplicate_ids_are_planned_once() {
        let b = block("dup", NOW - 20 * DAY, 10);
        assert_eq!(
            plan_retention(&[b.clone(), b], NOW, days(14), Some(0)),
            vec!["dup"]
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
        let deleted = apply_retention(&backend, "acme", NOW, days(14), None)
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
        let deleted = apply_retention(&backend, "acme", NOW, days(14), Some(0))
            .await
            .unwrap();
        assert_eq!(deleted, vec!["1-new"]);
        assert!(backend.list_tenants().await.unwrap().is_empty());
    }
}
