//! The `parent.` scope (an Arbor extension): `parent.http.route`,
//! `parent.resource.service.name` — an attribute of the span's parent, read beside the
//! span's own.
//!
//! The parent is found in the span tree of the trace part the batch holds
//! ([`SpanBatch::tree`]). A span whose parent is in another part (or that has none) reads
//! nil here, so a `parent.` field is *computed per trace* ([`super::relax`]): a part judges
//! it only in its candidate form, and the trace is judged for real once read whole.

use super::batch::{Col, ColBuilder, FieldKey, SpanBatch, Val};
use super::value::V;

/// The column of `key` (a [`FieldKey::Parent`]): row `r` holds the values its parent's row
/// holds in the span's own attribute column; nil for a root.
pub(crate) fn derive(batch: &SpanBatch, key: &FieldKey) -> Option<Col> {
    let own = batch.col(&key.parent_of()?)?;
    let tree = batch.tree();
    let mut b = if own.offsets.is_some() {
        ColBuilder::multi()
    } else {
        ColBuilder::default()
    };
    for r in 0..batch.len {
        let p = tree.parent_row[r];
        let vals: &[Val] = if p == u32::MAX {
            &[]
        } else {
            own.row(p as usize)
        };
        if own.offsets.is_none() && vals.is_empty() {
            b.push(Val::Nil);
        }
        for x in vals {
            match own.v(*x) {
                V::Str(s) => b.push_str(s),
                _ => b.push(*x),
            }
        }
        b.end_row();
    }
    Some(b.finish())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::search::batch::TracePart;
    use crate::traceql::Scope;
    use arbor_model::TraceId;

    #[test]
    fn a_span_reads_its_parents_value_and_a_root_reads_nil() {
        let key = FieldKey::attr(Scope::Span, "http.route");
        let mut own = ColBuilder::default();
        for s in ["/root", "/child", "/grandchild"] {
            own.push_str(s);
        }
        let mut batch = SpanBatch {
            len: 3,
            traces: vec![TracePart {
                id: TraceId([1; 16]),
                rows: 0..3,
            }],
            span_ids: vec![1, 2, 3],
            parents: vec![0, 1, 2],
            starts: vec![10, 20, 30],
            durations: vec![1, 1, 1],
            ..SpanBatch::default()
        };
        batch.cols.insert(key, own.finish());
        let col = derive(&batch, &FieldKey::parent_attr(Scope::Span, "http.route")).unwrap();
        let got: Vec<String> = (0..3)
            .map(|r| col.first(r).to_owned_value().to_string())
            .collect();
        assert_eq!(got, ["nil", "/root", "/child"]);
    }
}
