use std::sync::Arc;
use std::time::Instant;

use arbor_storage::head::{Head, Observer, ResourceEntry, SpanObserver};
use arbor_workload::{Generator, Options, Profile};

struct Obs(Arc<arbor_derived::Deriver>, std::sync::atomic::AtomicU64);
impl SpanObserver for Obs {
    fn observe(&self, tenant: &str, g: u64, r: &ResourceEntry, s: &[arbor_model::otlp::Span]) {
        let attrs = r
            .resource
            .as_ref()
            .map(|r| r.attributes.as_slice())
            .unwrap_or_default();
        let t = Instant::now();
        self.0.observe_batch(tenant, g, attrs, s, 0);
        self.1.fetch_add(
            t.elapsed().as_nanos() as u64,
            std::sync::atomic::Ordering::Relaxed,
        );
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .map_or(300_000, |s| s.parse().unwrap());
    let mut g = Generator::new(Options {
        profile: Profile::Microservices,
        seed: 42,
        late_fraction: 0.0,
    });
    let mut reqs = Vec::new();
    let mut batch = Vec::new();
    let mut total = 0;
    let mut t = 1_700_000_000_000_000_000u64;
    while total < n {
        let tr = g.next_trace(t);
        t += 1_000_000;
        total += tr.spans.len();
        batch.extend(tr.spans);
        if batch.len() >= 500 {
            reqs.push(g.request(std::mem::take(&mut batch)));
        }
    }
    for round in 0..3 {
        for with in [false, true] {
            let o = Arc::new(Obs(
                Arc::new(arbor_derived::Deriver::new(Default::default())),
                Default::default(),
            ));
            let obs = with.then(|| Observer(o.clone()));
            let head = Head::with_observer(usize::MAX / 2, obs);
            let rs = reqs.clone();
            let started = Instant::now();
            for r in rs {
                head.append("t", r);
            }
            let el = started.elapsed();
            let inside = o.1.load(std::sync::atomic::Ordering::Relaxed) as f64 / 1e3 / total as f64;
            println!(
                "round {round} derived={with}: {:.2} µs/span (in the observer {inside:.2})",
                el.as_secs_f64() * 1e6 / total as f64
            );
        }
    }
}
