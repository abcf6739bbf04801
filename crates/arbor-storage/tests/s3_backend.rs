//! The storage backend against a real S3-compatible server (`s3s-fs`, see
//! `arbor_testkit::s3`): publish, list, read, supersede, clean up and delete blocks.
//! Fails when the server is not installed, unless `ARBOR_SKIP_S3=1`.

use std::collections::BTreeMap;
use std::path::Path as FsPath;
use std::time::Duration;

use arbor_storage::backend::{Backend, BackendError, BlockList};
use arbor_storage::block::meta::{BlockFile, BlockMeta, FilterMeta};
use arbor_testkit::s3::S3Server;
use bytes::Bytes;
use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};

fn server() -> Option<S3Server> {
    match S3Server::start() {
        Ok(Some(s)) => Some(s),
        Ok(None) if S3Server::skip_requested() => None,
        Ok(None) => panic!(
            "s3s-fs is not installed: cargo install s3s-fs@0.14.1 --features binary --locked \
             (ARBOR_SKIP_S3=1 skips S3 tests)"
        ),
        Err(e) => panic!("starting the S3 server: {e:#}"),
    }
}

fn meta(tenant: &str, id: &str, files: &[(&str, &Bytes)], sources: &[&str]) -> BlockMeta {
    BlockMeta {
        format: arbor_storage::block::meta::FORMAT.into(),
        version: arbor_storage::block::meta::VERSION,
        block_id: id.into(),
        tenant: tenant.into(),
        created_unix_nano: 1,
        start_unix_nano: 10,
        end_unix_nano: 20,
        min_trace_id: "00".into(),
        max_trace_id: "ff".into(),
        span_count: 1,
        trace_count: 1,
        files: files
            .iter()
            .map(|(n, b)| BlockFile {
                name: (*n).into(),
                bytes: b.len() as u64,
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
        sources: sources.iter().map(|s| s.to_string()).collect(),
    }
}

async fn publish(b: &Backend, tenant: &str, id: &str, sources: &[&str]) -> BlockMeta {
    let data = Bytes::from(format!("spans of {id}").repeat(50));
    let filter = Bytes::from_static(b"filter");
    let m = meta(
        tenant,
        id,
        &[("data.parquet", &data), ("filter.bin", &filter)],
        sources,
    );
    let files = vec![("data.parquet".into(), data), ("filter.bin".into(), filter)];
    b.publish_block(tenant, id, files, &m).await.unwrap();
    m
}

fn ids(metas: &[BlockMeta]) -> Vec<&str> {
    metas.iter().map(|m| m.block_id.as_str()).collect()
}

fn backend(s3: &S3Server, prefix: &str) -> Backend {
    Backend::from_url(&s3.url(prefix), FsPath::new("/unused"), &s3.options()).unwrap()
}

#[tokio::test]
async fn blocks_on_s3() {
    let Some(s3) = server() else { return };
    let b = backend(&s3, "arbor/test");
    assert!(b.describe().contains(&s3.endpoint), "{}", b.describe());
    assert!(b.list_tenants().await.unwrap().is_empty());

    let m1 = publish(&b, "acme", "b1", &[]).await;
    let m2 = publish(&b, "acme", "b2", &[]).await;
    publish(&b, "other", "b3", &[]).await;
    assert_eq!(b.list_tenants().await.unwrap(), vec!["acme", "other"]);
    let l = b.list_blocks("acme").await.unwrap();
    assert_eq!(l.visible, vec![m1, m2.clone()]);

    // The prefix is honoured: the objects are under it in the bucket.
    assert!(
        s3.root()
            .join("arbor/arbor/test/acme/b1/meta.json")
            .is_file(),
        "{}",
        s3.log()
    );

    let got = b
        .store()
        .get(&b.block_dir("acme", "b2").join("data.parquet"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(got.len() as u64, m2.files[0].bytes);

    // Compaction output supersedes its inputs; cleanup deletes them.
    publish(&b, "acme", "c", &["b1", "b2"]).await;
    let l = b.list_blocks("acme").await.unwrap();
    assert_eq!(ids(&l.visible), vec!["c"]);
    assert_eq!(ids(&l.superseded), vec!["b1", "b2"]);

    // An interrupted write: files without meta.json.
    b.store()
        .put(
            &b.block_dir("acme", "half").join("data.parquet"),
            PutPayload::from_static(b"partial"),
        )
        .await
        .unwrap();
    let l = b.list_blocks("acme").await.unwrap();
    assert_eq!(l.unfinished.len(), 1);
    let report = b
        .cleanup("acme", &l, Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!(report.superseded_deleted, vec!["b1", "b2"]);
    assert_eq!(report.unfinished_kept, vec!["half"]);
    let l = b.list_blocks("acme").await.unwrap();
    let report = b.cleanup("acme", &l, Duration::ZERO).await.unwrap();
    assert_eq!(report.unfinished_deleted, vec!["half"]);
    let l = b.list_blocks("acme").await.unwrap();
    assert_eq!(ids(&l.visible), vec!["c"]);
    assert!(l.superseded.is_empty() && l.unfinished.is_empty(), "{l:?}");

    // The cache sees what the store has.
    let list = BlockList::new();
    list.refresh(&b).await.unwrap();
    assert_eq!(list.tenants(), vec!["acme", "other"]);
    assert_eq!(ids(&list.blocks("acme")), vec!["c"]);

    b.delete_block("acme", "c").await.unwrap();
    b.delete_block("other", "b3").await.unwrap();
    assert!(b.list_tenants().await.unwrap().is_empty());
    let left: Vec<_> = b.store().list(None).try_collect().await.unwrap();
    assert!(left.is_empty(), "{left:?}");
    list.refresh(&b).await.unwrap();
    assert!(list.tenants().is_empty());
}

#[tokio::test]
async fn multipart_upload_on_s3() {
    let Some(s3) = server() else { return };
    let b = backend(&s3, "mp").with_multipart_threshold(1 << 20);
    // Three parts of 8 MiB, 8 MiB and the rest.
    let big: Bytes = (0..(17 << 20) + 7)
        .map(|i: usize| (i % 251) as u8)
        .collect::<Vec<u8>>()
        .into();
    let m = meta("t", "big", &[("data.parquet", &big)], &[]);
    b.publish_block("t", "big", vec![("data.parquet".into(), big.clone())], &m)
        .await
        .unwrap();
    let got = b
        .store()
        .get(&b.block_dir("t", "big").join("data.parquet"))
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert!(got == big, "multipart upload content differs");
    assert_eq!(b.list_blocks("t").await.unwrap().visible, vec![m]);
    b.delete_block("t", "big").await.unwrap();
    assert!(b.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn prefixes_keep_deployments_apart() {
    let Some(s3) = server() else { return };
    let one = backend(&s3, "one");
    let two = backend(&s3, "two");
    publish(&one, "t", "a", &[]).await;
    assert_eq!(one.list_tenants().await.unwrap(), vec!["t"]);
    assert!(two.list_tenants().await.unwrap().is_empty());
}

#[tokio::test]
async fn wrong_credentials_fail_with_the_path() {
    let Some(s3) = server() else { return };
    let mut opts: BTreeMap<String, String> = s3.options();
    opts.insert("secret_access_key".into(), "wrong".into());
    let b = Backend::from_url(&s3.url("p"), FsPath::new("/unused"), &opts).unwrap();
    let err = b.list_tenants().await.unwrap_err();
    assert!(matches!(err, BackendError::ObjectStore { .. }), "{err}");
}
