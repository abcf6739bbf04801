//! What a search reads of one tenant: the heads and the blocks, taken at one moment
//! ([`crate::Store::search_view`]).
//!
//! A trace's spans can be in several of these *parts* at once — the live head, heads being
//! cut, blocks not yet compacted together — and, inside a block, in more than one row
//! group. A search evaluates parts one at a time to find candidates cheaply, and then must
//! see each candidate whole: [`SearchView::held_elsewhere`] says (from in-memory indexes
//! only) whether a trace may have spans outside the part being read, and
//! [`SearchView::trace`] gathers every span of it.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::TraceId;

use crate::block::{BlockError, BlockReader};
use crate::head::{self, HeadSpan, TenantHead};

/// A tenant's data as a search reads it.
#[derive(Clone, Default)]
pub struct SearchView {
    /// The live head first, then heads being cut into blocks.
    pub heads: Vec<Arc<TenantHead>>,
    pub blocks: Vec<Arc<BlockReader>>,
}

/// One part of a view: a head (by index in [`SearchView::heads`]) or a block (by index in
/// [`SearchView::blocks`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Part {
    Head(usize),
    Block(usize),
}

/// Why a whole trace could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    /// A block of the view was removed (compacted or expired) while it was read: its spans
    /// are in a block this view does not have, so the caller takes a new view.
    #[error("block {block} was removed while it was read")]
    Vanished { block: String },
    #[error("reading block {block}: {source}")]
    Block {
        block: String,
        #[source]
        source: BlockError,
    },
}

impl SearchView {
    /// Whether trace `id` may have spans in a part other than `here`: another head holds
    /// it, or another block's trace-ID filter admits it, or (for a block) the trace-ID
    /// ranges of more than one of its row groups do. False positives are possible (the
    /// filters are probabilistic); false negatives are not.
    pub fn held_elsewhere(&self, id: &TraceId, here: Part) -> bool {
        let in_heads = self
            .heads
            .iter()
            .enumerate()
            .any(|(i, h)| here != Part::Head(i) && h.contains(id));
        in_heads
            || self.blocks.iter().enumerate().any(|(i, b)| {
                if here == Part::Block(i) {
                    b.row_groups_of(id).len() > 1
                } else {
                    b.may_contain(id)
                }
            })
    }

    /// Every span of trace `id` in the view, de-duplicated (a span sent twice, or held by
    /// a head and by the block it is being cut into, counts once). Empty if none.
    pub async fn trace(&self, id: &TraceId) -> Result<Vec<HeadSpan>, ViewError> {
        Ok(self
            .traces(std::slice::from_ref(id))
            .await?
            .pop()
            .map(|(_, spans)| spans)
            .unwrap_or_default())
    }

    /// Every span of each of `ids`, as [`SearchView::trace`], in one read of each block
    /// that may hold some of them; traces with no span held are left out.
    pub async fn traces(
        &self,
        ids: &[TraceId],
    ) -> Result<Vec<(TraceId, Vec<HeadSpan>)>, ViewError> {
        let mut found: HashMap<TraceId, Vec<HeadSpan>> = HashMap::new();
        for h in &self.heads {
            for id in ids {
                let spans = h.trace(id);
                if !spans.is_empty() {
                    found.entry(*id).or_default().extend(spans);
                }
            }
        }
        let reads = self.blocks.iter().filter_map(|b| {
            let here: Vec<TraceId> = ids.iter().filter(|id| b.may_contain(id)).copied().collect();
            (!here.is_empty()).then_some(async move { (b, b.find_traces(&here).await) })
        });
        for (b, r) in futures::future::join_all(reads).await {
            match r {
                Ok(spans) => {
                    for (id, s) in spans {
                        found.entry(id).or_default().push(s);
                    }
                }
                Err(e) => {
                    let block = b.meta.block_id.clone();
                    return Err(if b.exists().await {
                        ViewError::Block { block, source: e }
                    } else {
                        ViewError::Vanished { block }
                    });
                }
            }
        }
        let mut out: Vec<(TraceId, Vec<HeadSpan>)> = found.into_iter().collect();
        out.sort_by_key(|(id, _)| *id);
        for (_, spans) in &mut out {
            head::dedupe(spans);
        }
        Ok(out)
    }
}
