//! Cursors for `GET /api/search`: walking every matching trace of a range, a page at a
//! time, each trace exactly once and in answer order.
//!
//! A full page (as many traces as `limit`) comes with `nextCursor`; `GET /api/search?
//! cursor=…` gives the next page of the same search (its query, range and durations are
//! the cursor's; `limit` may change). Pages follow answer order — start time, most recent
//! first, then trace ID — from where the previous page ended; a trace is never given twice,
//! even when spans arriving meanwhile move its start past the cursor.
//!
//! The cursor is kept by the server (what a trace ID set needs is too large for a URL):
//! at most [`MAX_CURSORS`] cursors and [`MAX_RETURNED`] trace IDs over all of them, the
//! least recently used dropped first, each dropped after [`IDLE`] unused. A dropped cursor
//! answers 410 with a message. A cursor belongs to its tenant.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arbor_query::search::{After, SearchResult};
use parking_lot::Mutex;

/// Cursors kept at once.
pub const MAX_CURSORS: usize = 256;
/// Trace IDs remembered over all cursors (16 bytes each, plus the set's overhead).
pub const MAX_RETURNED: usize = 1_000_000;
/// A cursor unused this long is dropped.
pub const IDLE: Duration = Duration::from_secs(15 * 60);

/// A search being walked.
#[derive(Debug, Clone)]
pub struct Walk {
    pub tenant: String,
    /// The search's parameters (without `cursor` and `limit`).
    pub params: HashMap<String, String>,
    pub after: After,
}

struct Entry {
    walk: Walk,
    used: Instant,
}

#[derive(Default)]
pub struct Cursors {
    inner: Mutex<HashMap<String, Entry>>,
}

/// Why a cursor cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CursorError {
    #[error(
        "cursor {0:?} is not known: it was never given, or was dropped after {IDLE:?} unused or to keep at most {MAX_CURSORS} cursors; search again"
    )]
    Unknown(String),
    #[error("cursor {0:?} belongs to another tenant")]
    OtherTenant(String),
}

impl Cursors {
    /// The walk a cursor continues.
    pub fn get(&self, cursor: &str, tenant: &str) -> Result<Walk, CursorError> {
        let mut map = self.inner.lock();
        expire(&mut map);
        let e = map
            .get_mut(cursor)
            .ok_or_else(|| CursorError::Unknown(cursor.to_string()))?;
        if e.walk.tenant != tenant {
            return Err(CursorError::OtherTenant(cursor.to_string()));
        }
        e.used = Instant::now();
        Ok(e.walk.clone())
    }

    /// Records a page: the cursor for the next one, or `None` when the page was the last
    /// (fewer traces than `limit`). `previous` is the cursor this page continued, if any;
    /// it is used up.
    pub fn page(
        &self,
        previous: Option<(&str, Walk)>,
        tenant: &str,
        params: HashMap<String, String>,
        result: &SearchResult,
        limit: usize,
    ) -> Option<String> {
        let mut map = self.inner.lock();
        let (returned, params) = match previous {
            Some((cursor, walk)) => {
                map.remove(cursor);
                (walk.after.returned, walk.params)
            }
            None => (Arc::new(HashSet::new()), params),
        };
        let last = result.traces.last()?;
        if result.traces.len() < limit {
            return None;
        }
        let mut returned = Arc::unwrap_or_clone(returned);
        returned.extend(result.traces.iter().map(|t| t.trace_id));
        let after = After {
            start_ns: last.start_ns,
            trace_id: last.trace_id,
            returned: Arc::new(returned),
        };
        let cursor = uuid::Uuid::now_v7().simple().to_string();
        map.insert(
            cursor.clone(),
            Entry {
                walk: Walk {
                    tenant: tenant.to_string(),
                    params,
                    after,
                },
                used: Instant::now(),
            },
        );
        expire(&mut map);
        Some(cursor)
    }

    pub fn len(&self) -> usize {
        self.inner.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Drops idle cursors, then the least recently used past the bounds.
fn expire(map: &mut HashMap<String, Entry>) {
    map.retain(|_, e| e.used.elapsed() < IDLE);
    let total = |m: &HashMap<String, Entry>| -> usize {
        m.values().map(|e| e.walk.after.returned.len()).sum()
    };
    while map.len() > MAX_CURSORS || (map.len() > 1 && total(map) > MAX_RETURNED) {
        let Some(oldest) = map
            .iter()
            .min_by_key(|(_, e)| e.used)
            .map(|(k, _)| k.clone())
        else {
            break;
        };
        map.remove(&oldest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::TraceId;
    use arbor_query::search::TraceResult;

    fn result(ids: &[(u64, u8)]) -> SearchResult {
        SearchResult {
            traces: ids
                .iter()
                .map(|&(start, b)| TraceResult {
                    trace_id: TraceId([b; 16]),
                    root_service: None,
                    root_name: None,
                    start_ns: start,
                    end_ns: start,
                    span_count: 1,
                    error_count: 0,
                    span_sets: Vec::new(),
                })
                .collect(),
            metrics: Default::default(),
        }
    }

    #[test]
    fn a_full_page_gives_a_cursor_that_remembers_every_page() {
        let c = Cursors::default();
        let p = HashMap::from([("q".to_string(), "{ }".to_string())]);
        let first = c
            .page(None, "t", p, &result(&[(30, 1), (20, 2)]), 2)
            .unwrap();
        let walk = c.get(&first, "t").unwrap();
        assert_eq!(
            (walk.after.start_ns, walk.after.trace_id),
            (20, TraceId([2; 16]))
        );
        assert_eq!(
            c.get(&first, "u").unwrap_err(),
            CursorError::OtherTenant(first.clone())
        );
        let second = c
            .page(
                Some((&first, walk)),
                "t",
                HashMap::new(),
                &result(&[(10, 3), (5, 4)]),
                2,
            )
            .unwrap();
        assert!(
            matches!(c.get(&first, "t"), Err(CursorError::Unknown(_))),
            "used up"
        );
        let walk = c.get(&second, "t").unwrap();
        assert_eq!(walk.after.returned.len(), 4);
        assert_eq!(walk.params["q"], "{ }");
        // A short page is the last.
        assert!(
            c.page(
                Some((&second, walk)),
                "t",
                HashMap::new(),
                &result(&[(1, 5)]),
                2
            )
            .is_none()
        );
        assert!(c.is_empty());
    }

    #[test]
    fn cursors_past_the_bound_drop_the_least_recently_used() {
        let c = Cursors::default();
        let first = c
            .page(None, "t", HashMap::new(), &result(&[(1, 1)]), 1)
            .unwrap();
        for i in 0..MAX_CURSORS {
            c.page(None, "t", HashMap::new(), &result(&[(1, i as u8)]), 1);
        }
        assert_eq!(c.len(), MAX_CURSORS);
        assert!(matches!(c.get(&first, "t"), Err(CursorError::Unknown(_))));
    }
}
