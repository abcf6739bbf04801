//! The bounded smoke: every target runs its committed corpus (seeds and the inputs of past
//! crashes, unmutated, first) and then a few thousand seeded mutations. Deterministic: the
//! same inputs every run, bounded by count, never by time.

use arbor_fuzz::engine::{self, Bound, RunConfig};
use arbor_fuzz::targets;

fn smoke(name: &str) {
    let target = targets::by_name(name).expect("a target of that name");
    let config = RunConfig {
        seed: 0x5eed,
        bound: Bound::Iterations(target.smoke_iterations),
        corpus_dir: Some(arbor_fuzz::corpus_dir(name)),
        crash_dir: None,
        keep_current: false,
        progress: None,
    };
    let report = engine::run(&target, &config);
    assert_eq!(report.executions, target.smoke_iterations);
    if let Some(c) = report.crashes.first() {
        panic!(
            "{name}: {} distinct crash(es); first at {}: {}\ninput ({} bytes): {:?}\n{}",
            report.crashes.len(),
            c.location,
            c.message,
            c.input.len(),
            String::from_utf8_lossy(&c.input),
            c.backtrace
        );
    }
    // The feedback found more than one outcome: the target is not stuck on one path.
    assert!(report.outcomes > 1, "{name}: only one outcome seen");
}

macro_rules! smoke_tests {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                smoke(stringify!($name));
            }
        )*

        #[test]
        fn every_target_has_a_smoke_test() {
            let tested = [$(stringify!($name)),*];
            for t in targets::all() {
                assert!(tested.contains(&t.name), "no smoke test for {}", t.name);
            }
        }
    };
}

smoke_tests!(
    otlp_proto,
    otlp_json,
    zipkin_json,
    zipkin_proto,
    normalize,
    wal,
    record,
    block,
    traceql,
    params,
    search_request,
);
