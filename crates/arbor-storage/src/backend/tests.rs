use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use super::*;
use crate::block::meta::{BlockFile, FilterMeta};

fn meta(tenant: &str, id: &str, files: &[(&str, usize)]) -> BlockMeta {
    BlockMeta {
        format: crate::block::meta::FORMAT.into(),
        version: crate::block::meta::VERSION,
        block_id: id.into(),
        tenant: tenant.into(),
        created_unix_nano: 1,
        start_unix_nano: 10,
        end_unix_nano: 20,
        min_trace_id: "00".into(),
        max_trace_id: "ff".into(),
        span_count: 3,
        trace_count: 1,
        files: files
            .iter()
            .map(|(n, b)| BlockFile {
                name: (*n).into(),
                bytes: *b as u64,
            })
            .collect(),
        row_groups: Vec::new(),
        dedicated_columns: Vec::new(),
        trace_filter: FilterMeta {
            kind: "bloom".into(),
            file: "filter.bin".into(),
            params: Default::default(),
        },
        wal: None,
        compaction_level: 0,
        received: None,
        sources: Vec::new(),
    }
}

fn data(seed: u8, len: usize) -> Bytes {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

/// Publishes a block with two small files; returns its meta.
async fn publish(b: &Backend, tenant: &str, id: &str, sources: &[&str]) -> BlockMeta {
    let mut m = meta(tenant, id, &[("data.parquet", 100), ("filter.bin", 10)]);
    m.sources = sources.iter().map(|s| s.to_string()).collect();
    let files = vec![
        ("data.parquet".to_string(), data(1, 100)),
        ("filter.bin".to_string(), data(2, 10)),
    ];
    b.publish_block(tenant, id, files, &m).await.unwrap();
    m
}

async fn put_raw(b: &Backend, path: &Path, body: &'static [u8]) {
    b.store()
        .put(path, PutPayload::from_static(body))
        .await
        .unwrap();
}

fn ids(metas: &[BlockMeta]) -> Vec<&str> {
    metas.iter().map(|m| m.block_id.as_str()).collect()
}

fn memory() -> Backend {
    Backend::from_url("memory://", FsPath::new("/nonexistent"), &BTreeMap::new()).unwrap()
}

fn local(tmp: &tempfile::TempDir) -> Backend {
    Backend::from_url("", tmp.path(), &BTreeMap::new()).unwrap()
}

fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Both kinds of backend the unit tests run on, with a name for messages.
fn backends(tmp: &tempfile::TempDir) -> Vec<(&'static str, Backend)> {
    vec![("memory", memory()), ("local", local(tmp))]
}

// ---- URLs ----------------------------------------------------------------------------------

#[test]
fn empty_url_is_data_dir_blocks() {
    let tmp = tempfile::tempdir().unwrap();
    let b = Backend::from_url("", tmp.path(), &BTreeMap::new()).unwrap();
    assert!(tmp.path().join("blocks").is_dir());
    let canon = std::fs::canonicalize(tmp.path().join("blocks")).unwrap();
    assert_eq!(b.describe(), format!("file://{}/", canon.display()));
    // Whitespace only is empty too.
    Backend::from_url("  ", tmp.path(), &BTreeMap::new()).unwrap();
}

#[test]
fn paths_and_file_urls_are_local() {
    let tmp = tempfile::tempdir().unwrap();
    let plain = tmp.path().join("plain/dir");
    let b = Backend::from_url(plain.to_str().unwrap(), tmp.path(), &BTreeMap::new()).unwrap();
    assert!(plain.is_dir());
    assert!(b.describe().starts_with("file://"), "{}", b.describe());

    let via_url = tmp.path().join("via url");
    let url = url::Url::from_directory_path(&via_url).unwrap().to_string();
    Backend::from_url(&url, tmp.path(), &BTreeMap::new()).unwrap();
    assert!(via_url.is_dir(), "{url}");

    let err = Backend::from_url("file://somehost/x", tmp.path(), &BTreeMap::new()).unwrap_err();
    assert!(matches!(err, BackendError::InvalidUrl { .. }), "{err}");
}

#[test]
fn memory_urls() {
    let b = Backend::from_url("memory://", FsPath::new("/x"), &BTreeMap::new()).unwrap();
    assert_eq!(b.describe(), "memory://");
    let b = Backend::from_url("memory://pre/fix", FsPath::new("/x"), &BTreeMap::new()).unwrap();
    assert_eq!(b.describe(), "memory://pre/fix");
}

#[test]
fn s3_url_with_options() {
    let o = opts(&[
        ("endpoint", "http://127.0.0.1:9"),
        ("region", "eu-west-3"),
        ("access_key_id", "AK"),
        ("secret_access_key", "very-secret"),
        ("allow_http", "true"),
        ("virtual_hosted_style_request", "false"),
        ("AWS_SESSION_TOKEN", "tok"),
    ]);
    let b = Backend::from_url("s3://bucket/some/prefix", FsPath::new("/x"), &o).unwrap();
    let d = b.describe();
    assert!(d.starts_with("s3://bucket/some/prefix"), "{d}");
    assert!(
        d.contains("http://127.0.0.1:9") && d.contains("eu-west-3"),
        "{d}"
    );
    assert!(
        !d.contains("very-secret") && !d.contains("AK") && !d.contains("tok"),
        "{d}"
    );
    Backend::from_url("s3a://bucket", FsPath::new("/x"), &o).unwrap();
}

#[test]
fn gcs_and_azure_urls() {
    let gs = Backend::from_url(
        "gs://bkt/p",
        FsPath::new("/x"),
        &opts(&[("skip_signature", "true")]),
    )
    .unwrap();
    assert_eq!(gs.describe(), "gs://bkt/p");
    for scheme in ["az", "azure"] {
        let az = Backend::from_url(
            &format!("{scheme}://container/p"),
            FsPath::new("/x"),
            &opts(&[("account_name", "acct"), ("skip_signature", "true")]),
        )
        .unwrap();
        assert!(
            az.describe().starts_with("az://container/p"),
            "{}",
            az.describe()
        );
    }
}

#[test]
fn bad_urls_say_what_is_wrong() {
    let none = BTreeMap::new();
    let dir = FsPath::new("/x");
    for (url, needle) in [
        ("ftp://host/x", "unsupported scheme \"ftp\""),
        ("s3:///prefix", "no bucket"),
        ("s3://key:secret@bucket/p", "credentials"),
        ("s3://bucket/p?x=1", "query"),
        ("s3://bucket:9000/p", "port"),
        ("s3://bucket/a//b", "bad prefix"),
    ] {
        let err = Backend::from_url(url, dir, &none).unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, BackendError::InvalidUrl { .. }),
            "{url}: {text}"
        );
        assert!(text.contains(needle), "{url}: {text}");
        assert!(!text.contains("secret"), "{text}");
    }
}

#[test]
fn unknown_options_are_named() {
    let dir = FsPath::new("/x");
    let err = Backend::from_url(
        "s3://b/p",
        dir,
        &opts(&[("endpoint", "http://x"), ("enpdoint", "y"), ("colour", "z")]),
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, BackendError::UnknownOption { .. }), "{text}");
    assert!(
        text.contains("colour") && text.contains("enpdoint"),
        "{text}"
    );
    assert!(!text.contains("http://x"), "{text}");

    for url in ["", "memory://", "/tmp/x-never-created-here"] {
        let tmp = tempfile::tempdir().unwrap();
        let err = Backend::from_url(url, tmp.path(), &opts(&[("region", "x")])).unwrap_err();
        assert!(
            matches!(err, BackendError::UnknownOption { .. }),
            "{url}: {err}"
        );
    }
    let err = Backend::from_url("gs://b", dir, &opts(&[("region", "x")])).unwrap_err();
    assert!(err.to_string().contains("region"), "{err}");
}

#[test]
fn bad_option_values_are_config_errors() {
    let err = Backend::from_url(
        "s3://b/p",
        FsPath::new("/x"),
        &opts(&[("allow_http", "perhaps"), ("region", "r")]),
    )
    .unwrap_err();
    assert!(matches!(err, BackendError::Config { .. }), "{err}");
    assert!(err.to_string().contains("s3://b/p"), "{err}");
}

#[test]
fn block_dir_layout() {
    let b = memory();
    assert_eq!(b.block_dir("acme", "0191-ab").as_ref(), "acme/0191-ab");
}

// ---- publish, list, delete -----------------------------------------------------------------

#[tokio::test]
async fn publish_list_read_delete() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        assert!(b.list_tenants().await.unwrap().is_empty(), "{name}");
        assert!(b.list_blocks("acme").await.unwrap().visible.is_empty());
        let m1 = publish(&b, "acme", "b1", &[]).await;
        let m2 = publish(&b, "acme", "b2", &[]).await;
        let m3 = publish(&b, "other", "b3", &[]).await;
        assert_eq!(
            b.list_tenants().await.unwrap(),
            vec!["acme", "other"],
            "{name}"
        );
        let l = b.list_blocks("acme").await.unwrap();
        assert_eq!(l.visible, vec![m1.clone(), m2.clone()], "{name}");
        assert!(l.superseded.is_empty() && l.unfinished.is_empty() && l.unreadable.is_empty());
        assert_eq!(b.list_blocks("other").await.unwrap().visible, vec![m3]);

        let got = b
            .store()
            .get(&b.block_dir("acme", "b1").join("data.parquet"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert_eq!(got, data(1, 100), "{name}");

        b.delete_block("acme", "b1").await.unwrap();
        assert_eq!(
            b.list_blocks("acme").await.unwrap().visible,
            vec![m2],
            "{name}"
        );
        let left: Vec<_> = b
            .store()
            .list(Some(&b.block_dir("acme", "b1")))
            .try_collect()
            .await
            .unwrap();
        assert!(left.is_empty(), "{name}: {left:?}");
        // Deleting again, or something never there, is fine.
        b.delete_block("acme", "b1").await.unwrap();
        b.delete_block("nobody", "nothing").await.unwrap();

        b.delete_block("acme", "b2").await.unwrap();
        b.delete_block("other", "b3").await.unwrap();
        assert!(b.list_tenants().await.unwrap().is_empty(), "{name}");
    }
    // Locally, nothing is left on disk.
    let rest: Vec<_> = std::fs::read_dir(tmp.path().join("blocks"))
        .unwrap()
        .collect();
    assert!(rest.is_empty(), "{rest:?}");
}

#[tokio::test]
async fn meta_json_is_written_last() {
    let b = memory();
    let m = publish(&b, "t", "blk", &[]).await;
    let metas: Vec<_> = b.store().list(None).try_collect::<Vec<_>>().await.unwrap();
    let meta_obj = metas
        .iter()
        .find(|o| o.location.filename() == Some("meta.json"))
        .unwrap();
    for o in &metas {
        assert!(
            o.last_modified <= meta_obj.last_modified,
            "{o:?} after meta.json"
        );
    }
    let stored: BlockMeta = serde_json::from_slice(
        &b.store()
            .get(&meta_obj.location)
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap(),
    )
    .unwrap();
    assert_eq!(stored, m);
}

#[tokio::test]
async fn block_without_meta_is_unfinished_not_visible() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        publish(&b, "t", "done", &[]).await;
        put_raw(
            &b,
            &b.block_dir("t", "half").join("data.parquet"),
            b"partial",
        )
        .await;
        let before = SystemTime::now() - Duration::from_secs(5);
        let l = b.list_blocks("t").await.unwrap();
        assert_eq!(ids(&l.visible), vec!["done"], "{name}");
        assert_eq!(l.unfinished.len(), 1, "{name}");
        assert_eq!(l.unfinished[0].block_id, "half");
        assert!(l.unfinished[0].last_modified >= before, "{name}");
        // The tenant is listed even with only an unfinished block.
        put_raw(&b, &b.block_dir("lonely", "x").join("f"), b"1").await;
        assert_eq!(b.list_tenants().await.unwrap(), vec!["lonely", "t"]);
    }
}

#[tokio::test]
async fn unreadable_meta_is_reported_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        publish(&b, "t", "good", &[]).await;
        put_raw(
            &b,
            &b.block_dir("t", "garbled").join("meta.json"),
            b"{not json",
        )
        .await;
        // A meta.json that describes another block is not trusted either.
        let other = serde_json::to_vec(&meta("t", "elsewhere", &[])).unwrap();
        b.store()
            .put(&b.block_dir("t", "moved").join("meta.json"), other.into())
            .await
            .unwrap();
        let l = b.list_blocks("t").await.unwrap();
        assert_eq!(ids(&l.visible), vec!["good"], "{name}");
        let bad: Vec<&str> = l.unreadable.iter().map(|u| u.block_id.as_str()).collect();
        assert_eq!(bad, vec!["garbled", "moved"], "{name}");
        assert!(
            l.unreadable[1].reason.contains("elsewhere"),
            "{:?}",
            l.unreadable
        );
        assert!(l.unfinished.is_empty());
        let report = b.cleanup("t", &l, Duration::ZERO).await.unwrap();
        assert_eq!(report, CleanupReport::default());
        assert_eq!(b.list_blocks("t").await.unwrap().unreadable.len(), 2);
    }
}

#[tokio::test]
async fn invalid_names_are_refused() {
    let b = memory();
    let m = meta("t", "b", &[]);
    let one = |n: &str| vec![(n.to_string(), Bytes::from_static(b"x"))];
    for (tenant, id, files) in [
        ("", "b", one("f")),
        ("a/b", "b", one("f")),
        ("..", "b", one("f")),
        ("t", "b/c", one("f")),
        ("t", "b", one("meta.json")),
        ("t", "b", one("../x")),
        ("t", "b", one(".hidden")),
        (
            "t",
            "b",
            vec![("f".into(), Bytes::new()), ("f".into(), Bytes::new())],
        ),
    ] {
        let mut m = m.clone();
        m.tenant = tenant.into();
        m.block_id = id.into();
        let err = b.publish_block(tenant, id, files, &m).await.unwrap_err();
        assert!(
            matches!(err, BackendError::InvalidName { .. }),
            "{tenant}/{id}: {err}"
        );
    }
    // The meta must describe the block it is published as.
    let err = b
        .publish_block("t", "other", one("f"), &m)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("published as t/other"), "{err}");
    assert!(b.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn tenant_names_round_trip_through_path_encoding() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        let tenants = ["a*b", "team (x)", "per%cent", "plain-1"];
        for t in tenants {
            publish(&b, t, "blk", &[]).await;
        }
        let mut want: Vec<&str> = tenants.to_vec();
        want.sort();
        assert_eq!(b.list_tenants().await.unwrap(), want, "{name}");
        for t in tenants {
            assert_eq!(
                ids(&b.list_blocks(t).await.unwrap().visible),
                vec!["blk"],
                "{name} {t}"
            );
            b.delete_block(t, "blk").await.unwrap();
        }
        assert!(b.list_tenants().await.unwrap().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn large_files_go_in_parts() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        let b = b.with_multipart_threshold(1 << 20);
        let big = data(7, PART_BYTES * 2 + 12345);
        let m = meta("t", "big", &[("data.parquet", big.len()), ("small", 3)]);
        let files = vec![
            ("data.parquet".to_string(), big.clone()),
            ("small".to_string(), Bytes::from_static(b"abc")),
        ];
        b.publish_block("t", "big", files, &m).await.unwrap();
        let got = b
            .store()
            .get(&b.block_dir("t", "big").join("data.parquet"))
            .await
            .unwrap()
            .bytes()
            .await
            .unwrap();
        assert!(got == big, "{name}: multipart content differs");
        assert_eq!(b.list_blocks("t").await.unwrap().visible, vec![m]);
    }
}

// ---- compaction leftovers and cleanup ------------------------------------------------------

#[tokio::test]
async fn superseded_blocks_are_hidden_then_cleaned() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        publish(&b, "t", "a", &[]).await;
        publish(&b, "t", "b", &[]).await;
        publish(&b, "t", "keep", &[]).await;
        // A compaction output naming its inputs (and one already gone, and itself).
        publish(&b, "t", "c", &["a", "b", "gone", "c"]).await;
        let l = b.list_blocks("t").await.unwrap();
        assert_eq!(ids(&l.visible), vec!["c", "keep"], "{name}");
        assert_eq!(ids(&l.superseded), vec!["a", "b"], "{name}");

        let report = b.cleanup("t", &l, DEFAULT_UNFINISHED_GRACE).await.unwrap();
        assert_eq!(report.superseded_deleted, vec!["a", "b"]);
        let l = b.list_blocks("t").await.unwrap();
        assert_eq!(ids(&l.visible), vec!["c", "keep"], "{name}");
        assert!(
            l.superseded.is_empty() && l.unfinished.is_empty(),
            "{name}: {l:?}"
        );
    }
}

#[tokio::test]
async fn superseded_chains_hide_every_ancestor() {
    let b = memory();
    publish(&b, "t", "l0", &[]).await;
    publish(&b, "t", "l1", &["l0"]).await;
    publish(&b, "t", "l2", &["l1"]).await;
    let l = b.list_blocks("t").await.unwrap();
    assert_eq!(ids(&l.visible), vec!["l2"]);
    assert_eq!(ids(&l.superseded), vec!["l0", "l1"]);
}

#[tokio::test]
async fn cleanup_respects_the_grace_period() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        publish(&b, "t", "done", &[]).await;
        put_raw(&b, &b.block_dir("t", "writing").join("data.parquet"), b"x").await;
        let l = b.list_blocks("t").await.unwrap();
        let report = b.cleanup("t", &l, Duration::from_secs(3600)).await.unwrap();
        assert_eq!(report.unfinished_kept, vec!["writing"], "{name}");
        assert!(report.unfinished_deleted.is_empty());
        assert_eq!(b.list_blocks("t").await.unwrap().unfinished.len(), 1);

        // The write finished between listing and cleanup: never deleted.
        let stale = b.list_blocks("t").await.unwrap();
        publish(&b, "t", "writing", &[]).await;
        let report = b.cleanup("t", &stale, Duration::ZERO).await.unwrap();
        assert_eq!(report.unfinished_kept, vec!["writing"], "{name}");
        assert_eq!(
            ids(&b.list_blocks("t").await.unwrap().visible),
            vec!["done", "writing"]
        );

        put_raw(
            &b,
            &b.block_dir("t", "abandoned").join("data.parquet"),
            b"x",
        )
        .await;
        let l = b.list_blocks("t").await.unwrap();
        let report = b.cleanup("t", &l, Duration::ZERO).await.unwrap();
        assert_eq!(report.unfinished_deleted, vec!["abandoned"], "{name}");
        let l = b.list_blocks("t").await.unwrap();
        assert!(l.unfinished.is_empty(), "{name}: {l:?}");
        assert_eq!(ids(&l.visible), vec!["done", "writing"]);
    }
}

fn age_file(path: &std::path::Path, age: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - age).unwrap();
}

#[tokio::test]
async fn local_grace_uses_the_newest_file() {
    let tmp = tempfile::tempdir().unwrap();
    let b = local(&tmp);
    let dir = tmp.path().join("blocks/t/slow");
    put_raw(&b, &b.block_dir("t", "slow").join("one"), b"1").await;
    put_raw(&b, &b.block_dir("t", "slow").join("two"), b"2").await;
    age_file(&dir.join("one"), Duration::from_secs(7200));
    let grace = Duration::from_secs(3600);
    let l = b.list_blocks("t").await.unwrap();
    let report = b.cleanup("t", &l, grace).await.unwrap();
    assert_eq!(report.unfinished_kept, vec!["slow"]);
    assert!(dir.join("one").exists());

    age_file(&dir.join("two"), Duration::from_secs(7200));
    let l = b.list_blocks("t").await.unwrap();
    let report = b.cleanup("t", &l, grace).await.unwrap();
    assert_eq!(report.unfinished_deleted, vec!["slow"]);
    assert!(!dir.exists());
}

#[tokio::test]
async fn local_interrupted_write_leftovers_are_found_and_removed() {
    let tmp = tempfile::tempdir().unwrap();
    let b = local(&tmp);
    publish(&b, "t", "done", &[]).await;
    // A crash during the first put leaves only object_store's temporary file.
    let dir = tmp.path().join("blocks/t/crashed");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("data.parquet#1"), b"half").unwrap();
    let l = b.list_blocks("t").await.unwrap();
    assert_eq!(ids(&l.visible), vec!["done"]);
    let unfinished: Vec<&str> = l.unfinished.iter().map(|u| u.block_id.as_str()).collect();
    assert_eq!(unfinished, vec!["crashed"]);

    let report = b.cleanup("t", &l, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.unfinished_kept, vec!["crashed"]);
    age_file(&dir.join("data.parquet#1"), Duration::from_secs(7200));
    let l = b.list_blocks("t").await.unwrap();
    let report = b.cleanup("t", &l, Duration::from_secs(3600)).await.unwrap();
    assert_eq!(report.unfinished_deleted, vec!["crashed"]);
    assert!(!dir.exists());
    assert_eq!(
        ids(&b.list_blocks("t").await.unwrap().visible),
        vec!["done"]
    );
}

// ---- the block list cache ------------------------------------------------------------------

#[tokio::test]
async fn block_list_refresh_insert_remove() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, b) in backends(&tmp) {
        let list = BlockList::new();
        list.refresh(&b).await.unwrap();
        assert!(list.tenants().is_empty(), "{name}");

        publish(&b, "t", "a", &[]).await;
        publish(&b, "u", "x", &[]).await;
        assert!(list.blocks("t").is_empty(), "no refresh yet");
        list.refresh(&b).await.unwrap();
        assert_eq!(list.tenants(), vec!["t", "u"], "{name}");
        assert_eq!(ids(&list.blocks("t")), vec!["a"]);

        // A writer's own block shows at once.
        let bm = publish(&b, "t", "b", &[]).await;
        list.insert(bm);
        assert_eq!(ids(&list.blocks("t")), vec!["a", "b"], "{name}");

        // A compaction output hides its inputs at once, and after a refresh.
        let cm = publish(&b, "t", "c", &["a", "b"]).await;
        list.insert(cm);
        assert_eq!(ids(&list.blocks("t")), vec!["c"], "{name}");
        list.refresh(&b).await.unwrap();
        assert_eq!(ids(&list.blocks("t")), vec!["c"], "{name}");

        // Deleted elsewhere: gone after a refresh.
        b.delete_block("u", "x").await.unwrap();
        b.delete_block("t", "a").await.unwrap();
        b.delete_block("t", "b").await.unwrap();
        list.refresh(&b).await.unwrap();
        assert_eq!(list.tenants(), vec!["t"], "{name}");
        assert_eq!(ids(&list.blocks("t")), vec!["c"]);

        // Removed here: gone at once.
        b.delete_block("t", "c").await.unwrap();
        list.remove("t", "c");
        assert!(list.blocks("t").is_empty());
        assert!(list.tenants().is_empty());
        list.refresh(&b).await.unwrap();
        assert!(list.tenants().is_empty(), "{name}");
    }
}

#[tokio::test]
async fn block_list_refresh_reads_only_new_metas() {
    let b = memory();
    let list = BlockList::new();
    let old = publish(&b, "t", "old", &[]).await;
    list.refresh(&b).await.unwrap();
    // Were the known meta read again, this would make the block unreadable.
    put_raw(&b, &b.block_dir("t", "old").join("meta.json"), b"garbage").await;
    publish(&b, "t", "new", &[]).await;
    list.refresh(&b).await.unwrap();
    assert_eq!(list.blocks("t")[1], old);
    assert_eq!(ids(&list.blocks("t")), vec!["new", "old"]);
    // A fresh list reads everything, and skips the garbled one.
    let fresh = BlockList::new();
    fresh.refresh(&b).await.unwrap();
    assert_eq!(ids(&fresh.blocks("t")), vec!["new"]);
}

#[tokio::test]
async fn block_list_listing_is_the_truth_for_older_inserts() {
    let b = memory();
    let list = BlockList::new();
    // Registered but never published (e.g. the upload failed after all): a refresh drops it.
    list.insert(meta("t", "ghost", &[]));
    assert_eq!(ids(&list.blocks("t")), vec!["ghost"]);
    list.refresh(&b).await.unwrap();
    assert!(list.blocks("t").is_empty());
    // Removed by hand but still stored: a refresh brings it back.
    publish(&b, "t", "still", &[]).await;
    list.refresh(&b).await.unwrap();
    list.remove("t", "still");
    assert!(list.blocks("t").is_empty());
    list.refresh(&b).await.unwrap();
    assert_eq!(ids(&list.blocks("t")), vec!["still"]);
}

#[test]
fn split_superseded_ignores_self_reference() {
    let mut a = meta("t", "a", &[]);
    a.sources = vec!["a".into()];
    let (visible, superseded) = split_superseded(vec![a]);
    assert_eq!(ids(&visible), vec!["a"]);
    assert!(superseded.is_empty());
}

#[test]
fn percent_decoding() {
    assert_eq!(decode_part("a%2Ab"), "a*b");
    assert_eq!(decode_part("100%25"), "100%");
    assert_eq!(decode_part("bad%zz%"), "bad%zz%");
    assert_eq!(decode_part("%2"), "%2");
    assert_eq!(decode_part("plain"), "plain");
}

// ---- request order, seen by a recording store ----------------------------------------------

/// An in-memory store that records every request as `op path`.
#[derive(Debug, Default)]
struct Recording {
    inner: InMemory,
    ops: Arc<parking_lot::Mutex<Vec<String>>>,
}

impl Recording {
    fn log(&self, op: &str, path: impl std::fmt::Display) {
        self.ops.lock().push(format!("{op} {path}"));
    }
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.ops.lock())
    }
}

impl std::fmt::Display for Recording {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Recording")
    }
}

#[async_trait::async_trait]
impl ObjectStore for Recording {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: object_store::PutOptions,
    ) -> object_store::Result<object_store::PutResult> {
        self.log("put", location);
        self.inner.put_opts(location, payload, opts).await
    }
    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: object_store::PutMultipartOptions,
    ) -> object_store::Result<Box<dyn object_store::MultipartUpload>> {
        self.log("put_multipart", location);
        self.inner.put_multipart_opts(location, opts).await
    }
    async fn get_opts(
        &self,
        location: &Path,
        options: object_store::GetOptions,
    ) -> object_store::Result<object_store::GetResult> {
        self.log("get", location);
        self.inner.get_opts(location, options).await
    }
    fn delete_stream(
        &self,
        locations: futures::stream::BoxStream<'static, object_store::Result<Path>>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<Path>> {
        let ops = self.ops.clone();
        let logged = locations
            .inspect(move |p| {
                if let Ok(p) = p {
                    ops.lock().push(format!("delete {p}"));
                }
            })
            .boxed();
        self.inner.delete_stream(logged)
    }
    fn list(
        &self,
        prefix: Option<&Path>,
    ) -> futures::stream::BoxStream<'static, object_store::Result<object_store::ObjectMeta>> {
        self.log("list", prefix.map(|p| p.to_string()).unwrap_or_default());
        self.inner.list(prefix)
    }
    async fn list_with_delimiter(
        &self,
        prefix: Option<&Path>,
    ) -> object_store::Result<object_store::ListResult> {
        self.log("list/", prefix.map(|p| p.to_string()).unwrap_or_default());
        self.inner.list_with_delimiter(prefix).await
    }
    async fn copy_opts(
        &self,
        from: &Path,
        to: &Path,
        options: object_store::CopyOptions,
    ) -> object_store::Result<()> {
        self.log("copy", from);
        self.inner.copy_opts(from, to, options).await
    }
}

fn recording() -> (Arc<Recording>, Backend) {
    let rec = Arc::new(Recording::default());
    let backend = Backend::from_store(rec.clone(), "recording");
    (rec, backend)
}

#[tokio::test]
async fn publish_puts_meta_last_and_delete_removes_it_first() {
    let (rec, b) = recording();
    publish(&b, "t", "blk", &[]).await;
    let ops = rec.take();
    assert_eq!(ops.len(), 3, "{ops:?}");
    assert_eq!(ops.last().unwrap(), "put t/blk/meta.json", "{ops:?}");
    assert!(ops.iter().all(|o| o.starts_with("put ")), "{ops:?}");

    b.delete_block("t", "blk").await.unwrap();
    let deletes: Vec<String> = rec
        .take()
        .into_iter()
        .filter(|o| o.starts_with("delete "))
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    assert_eq!(deletes[0], "delete t/blk/meta.json", "{deletes:?}");
}

#[tokio::test]
async fn multipart_publish_still_puts_meta_last() {
    let (rec, b) = recording();
    let b = b.with_multipart_threshold(10);
    let m = meta("t", "mp", &[("data.parquet", 100)]);
    b.publish_block("t", "mp", vec![("data.parquet".into(), data(3, 100))], &m)
        .await
        .unwrap();
    assert_eq!(
        rec.take(),
        vec!["put_multipart t/mp/data.parquet", "put t/mp/meta.json"]
    );
}

#[tokio::test]
async fn listing_costs_one_list_per_tenant_and_refresh_gets_only_new_metas() {
    let (rec, b) = recording();
    for id in ["a", "b", "c"] {
        publish(&b, "t", id, &[]).await;
    }
    rec.take();
    b.list_blocks("t").await.unwrap();
    let ops = rec.take();
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("list")).count(),
        1,
        "{ops:?}"
    );
    assert_eq!(
        ops.iter().filter(|o| o.starts_with("get")).count(),
        3,
        "{ops:?}"
    );

    let list = BlockList::new();
    list.refresh(&b).await.unwrap();
    publish(&b, "t", "d", &[]).await;
    rec.take();
    list.refresh(&b).await.unwrap();
    let ops = rec.take();
    assert_eq!(ops, vec!["list/ ", "list t", "get t/d/meta.json"]);
    assert_eq!(ids(&list.blocks("t")), vec!["a", "b", "c", "d"]);
}
