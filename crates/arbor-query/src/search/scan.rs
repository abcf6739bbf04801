//! Feeding every span that may match to a consumer, batch by batch: what metrics queries
//! and other whole-range readers use.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_storage::block::{AttributeIndex, BlockReader, schema};
use arbor_storage::{Part, SearchView};
use arrow::array::RecordBatch;
use futures::{Stream, StreamExt};

use super::batch::{Needs, SpanBatch};
use super::load_block::Layout;
use super::{SearchError, check_time, load_block, load_head, pool, prune, storage};

/// What a [`scan`] read.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Scanned {
    pub spans: u64,
    /// Compressed bytes of the block columns read.
    pub bytes: u64,
    /// Blocks in the view.
    pub blocks: u64,
}

/// Feeds every span that may match `prune` to `f`, a batch at a time with the part of the
/// view it is from: each head (decoded
/// shard by shard on all cores, fed in shard order, so results come out the same every
/// time), then each block whose time range overlaps `[from, to)` (Unix ns), a row group at
/// a time with only the columns `needs` names. Head traces none of whose spans reach into
/// the range are skipped; `f` filters rows itself where it must.
pub(crate) async fn scan(
    view: &SearchView,
    prune: &prune::Prune,
    needs: &Needs,
    (from, to): (u64, u64),
    (started, timeout): (Instant, Duration),
    mut f: impl FnMut(Part, &SpanBatch) -> Result<(), SearchError>,
) -> Result<Scanned, SearchError> {
    let mut out = Scanned {
        blocks: view.blocks.len() as u64,
        ..Default::default()
    };
    let needs = Arc::new(needs.clone());
    for (i, head) in view.heads.iter().enumerate() {
        if !prune.is_all() && !prune.head_may_match(&head.tags()) {
            continue;
        }
        let mut batches = futures::stream::iter(0..head.shard_count())
            .map(|shard| {
                let (head, needs) = (head.clone(), needs.clone());
                pool::run(move || {
                    let depth = load_head::Decode::for_needs(&needs);
                    let traces = head.shard_traces_in(shard, (from, to), |b| depth.decode(b));
                    load_head::load(traces, &needs)
                })
            })
            .buffered(pool::parallelism());
        while let Some(batch) = batches.next().await {
            check_time(started, timeout)?;
            let batch = batch?;
            out.spans += batch.len as u64;
            f(Part::Head(i), &batch)?;
        }
    }
    for (i, block) in view.blocks.iter().enumerate() {
        check_time(started, timeout)?;
        let m = &block.meta;
        if m.span_count == 0 || m.end_unix_nano < from || m.start_unix_nano >= to {
            continue;
        }
        let window = Some((from, to.saturating_sub(1)));
        let Some((row_groups, layout)) = block_plan(block, prune, window).await? else {
            continue;
        };
        let cols = load_block::columns(&needs, &layout);
        let refs: Vec<&str> = cols.iter().map(String::as_str).collect();
        let (needs, layout) = (needs.clone(), Arc::new(layout));
        let mut batches = decoded_row_groups(block, &refs, row_groups, move |batches| {
            load_block::load(&batches, &needs, &layout).map_err(storage)
        });
        while let Some(read) = batches.next().await {
            check_time(started, timeout)?;
            let (_, bytes, batch) = read?;
            out.bytes += bytes;
            out.spans += batch.len as u64;
            f(Part::Block(i), &batch)?;
        }
    }
    Ok(out)
}

/// Row groups `rgs` of `block`, columns `refs`: each read on the async side, then
/// decompressed, decoded and handed to `f` in one task on the search pool, one row group
/// per core ahead. Yields `(row group, compressed bytes read, what f made)` in the order of
/// `rgs`.
pub(crate) fn decoded_row_groups<'a, T: Send + 'static>(
    block: &'a BlockReader,
    refs: &'a [&'a str],
    rgs: Vec<usize>,
    f: impl Fn(Vec<RecordBatch>) -> Result<T, SearchError> + Clone + Send + 'static,
) -> impl Stream<Item = Result<(usize, u64, T), SearchError>> + 'a {
    futures::stream::iter(rgs)
        .map(move |rg| {
            let f = f.clone();
            async move {
                let bytes = block.column_bytes(refs, rg).await.map_err(storage)?;
                let pages = block
                    .fetch_row_group(refs, rg, None, usize::MAX)
                    .await
                    .map_err(storage)?;
                let out = pool::run(move || f(pages.decode().map_err(storage)?)).await??;
                Ok((rg, bytes, out))
            }
        })
        .buffered(pool::parallelism())
}

/// For the span-attribute lookups the index does not answer, the row groups whose bloom
/// filter may hold the value (only for keys with a dedicated column that holds all of
/// their values).
async fn blooms(
    block: &BlockReader,
    prune: &prune::Prune,
    index: &AttributeIndex,
) -> Result<HashMap<(String, String), BTreeSet<usize>>, SearchError> {
    let mut out = HashMap::new();
    let lookups = prune.unindexed_span_lookups(index);
    if lookups.is_empty() {
        return Ok(out);
    }
    let dedicated = block.span_dedicated();
    let all: Vec<usize> = (0..block.row_group_count()).collect();
    for (key, value) in lookups {
        let Some((_, column, _)) = dedicated
            .iter()
            .find(|(k, _, also_generic)| *k == key && !*also_generic)
        else {
            continue;
        };
        let rgs = block
            .row_groups_may_hold(column, &value, &all)
            .await
            .map_err(storage)?;
        out.insert((key, value), rgs.into_iter().collect());
    }
    Ok(out)
}

/// The row groups of a block that can hold a match (from its attribute index and its row
/// groups' statistics), and how it stores the fields; `None` when no row group can.
/// `window` (Unix ns, both ends inclusive) drops row groups none of whose spans reach into
/// it.
pub(crate) async fn block_plan(
    block: &BlockReader,
    prune: &prune::Prune,
    window: Option<(u64, u64)>,
) -> Result<Option<(Vec<usize>, Layout)>, SearchError> {
    let mut row_groups: Vec<usize> = if prune.is_all() {
        (0..block.row_group_count()).collect()
    } else {
        let index = match prune.reads_index() {
            true => Some(block.index().await.map_err(storage)?),
            false => None,
        };
        let durations = match prune.reads_durations() {
            true => Some(
                block
                    .row_group_ranges(schema::DURATION)
                    .await
                    .map_err(storage)?,
            ),
            false => None,
        };
        let blooms = match &index {
            Some(index) => blooms(block, prune, index).await?,
            None => HashMap::new(),
        };
        let facts = prune::BlockFacts {
            index: index.as_ref(),
            durations: durations.as_deref(),
            blooms: Some(&blooms),
        };
        match prune.eval(&facts) {
            prune::RowGroups::All => (0..block.row_group_count()).collect(),
            prune::RowGroups::Some(s) => s.into_iter().collect(),
        }
    };
    if let Some((from, to)) = window {
        let m = &block.meta;
        // Only a block reaching out of the window has row groups wholly outside it.
        if m.start_unix_nano < from || m.end_unix_nano > to {
            let starts = block
                .row_group_ranges(schema::START)
                .await
                .map_err(storage)?;
            let durations = block
                .row_group_ranges(schema::DURATION)
                .await
                .map_err(storage)?;
            row_groups.retain(|&rg| match (starts.get(rg), durations.get(rg)) {
                (Some(Some((first, last))), Some(Some((_, longest)))) => {
                    *first <= to && last.saturating_add(*longest) >= from
                }
                _ => true,
            });
        }
    }
    if row_groups.is_empty() {
        return Ok(None);
    }
    let (resources, scopes) = block.resources_and_scopes().await.map_err(storage)?;
    let layout = Layout {
        dedicated: block
            .span_dedicated()
            .into_iter()
            .map(|(k, c, g)| (k, (c, g)))
            .collect(),
        resources,
        scopes,
        visible: std::sync::OnceLock::new(),
    };
    Ok(Some((row_groups, layout)))
}
