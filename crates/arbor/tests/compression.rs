//! Compressed answers: the query APIs (Tempo's, Jaeger's) answer in gzip or zstd when the
//! client accepts it, the same content as uncompressed; live-tail events are never held
//! back by compression.

use std::io::Read;
use std::time::Duration;

use arbor_model::time::now_unix_nanos;
use arbor_testkit::TestServer;
use arbor_testkit::spans::{batch, chain, rng, trace_id};

const BIN: &str = env!("CARGO_BIN_EXE_arbor");

/// A client that leaves bodies as sent.
fn raw() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .no_gzip()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap()
}

fn get(url: &str, encoding: &str) -> (Option<String>, Vec<u8>) {
    let r = raw()
        .get(url)
        .header("Accept-Encoding", encoding)
        .send()
        .unwrap();
    assert_eq!(r.status().as_u16(), 200, "{url}");
    let enc = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string());
    (enc, r.bytes().unwrap().to_vec())
}

fn gunzip(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(b)
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn query_answers_are_compressed_when_accepted() {
    let s = TestServer::start(BIN, &[]).unwrap();
    let mut r = rng(7);
    let tid = trace_id(&mut r);
    let spans = chain(&mut r, tid, 300, now_unix_nanos() - 60_000_000_000);
    let (status, _) = s.export_http(&batch("svc", spans)).unwrap();
    assert_eq!(status, 200);
    let id = hex::encode(tid);

    for url in [
        format!("{}/api/traces/{id}", s.http_url()),
        format!("{}/api/traces/{id}", s.jaeger_url()),
        format!("{}/api/search?q=%7B%7D&limit=5", s.http_url()),
    ] {
        let (enc, plain) = get(&url, "identity");
        assert_eq!(enc, None, "{url}");
        let (enc, gz) = get(&url, "gzip");
        assert_eq!(enc.as_deref(), Some("gzip"), "{url}");
        let (enc, zs) = get(&url, "zstd");
        assert_eq!(enc.as_deref(), Some("zstd"), "{url}");
        let json = |b: &[u8]| -> serde_json::Value { serde_json::from_slice(b).unwrap() };
        let mut want = json(&plain);
        // A search's answer says how long it took; the rest must be equal.
        let drop_elapsed = |v: &mut serde_json::Value| {
            if let Some(m) = v.get_mut("metrics") {
                m["elapsedMs"] = 0.into();
            }
        };
        drop_elapsed(&mut want);
        for body in [gunzip(&gz), zstd::decode_all(&zs[..]).unwrap()] {
            let mut got = json(&body);
            drop_elapsed(&mut got);
            assert_eq!(got, want, "{url}");
        }
        if url.contains("/api/traces/") {
            assert!(
                gz.len() * 3 < plain.len(),
                "{url}: {} of {} bytes",
                gz.len(),
                plain.len()
            );
        }
    }

    // Server-sent events are not compressed (each event must go out as it happens).
    let resp = raw()
        .get(format!("{}/api/tail", s.http_url()))
        .header("Accept-Encoding", "gzip")
        .send()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers().get("content-encoding").is_none());
}
