//! Where blocks live: one object store (local filesystem, S3 or an S3-compatible server,
//! Google Cloud Storage, Azure Blob Storage, or memory for tests), chosen by one URL.
//!
//! # Layout
//!
//! ```text
//! <prefix>/<tenant>/<block_id>/<file>        data files of a block (Parquet, filter, index)
//! <prefix>/<tenant>/<block_id>/meta.json     its metadata, written last
//! ```
//!
//! `<prefix>` is the URL's path (`s3://bucket/<prefix>`) or the local directory
//! (`<data_dir>/blocks` by default). Every directory directly under the prefix is a tenant and
//! every directory under a tenant is a block: the prefix belongs to Arbor alone. Tenant names
//! are stored with `object_store`'s path encoding (e.g. `*` as `%2A`) and decoded on listing.
//!
//! # Visibility
//!
//! A block exists for readers once its `meta.json` exists, and only then. Data files are
//! written first and `meta.json` last, each object appearing atomically (S3 and the other
//! stores put whole objects; on the local filesystem `object_store` writes a temporary file
//! and renames it, with fsync on). A crash mid-write leaves a directory without `meta.json`:
//! an *unfinished* block, never read, removed by [`Backend::cleanup`] once its newest object
//! is older than a grace period (an upload still in progress elsewhere must not be cut down;
//! the grace must exceed the time one file takes to upload).
//!
//! A compacted block lists the blocks it replaces in `sources`. A block listed there by
//! another block that has a readable `meta.json` is *superseded*: hidden from readers at once
//! (so a crash between publishing the output and deleting the inputs never counts spans
//! twice) and deleted by the next cleanup.
//!
//! # Deletion order
//!
//! [`Backend::delete_block`] deletes `meta.json` first, then the rest of the directory. The
//! block disappears for readers in one step, and a crash halfway leaves an unfinished
//! directory that cleanup removes, never a visible block with missing files. A reader that
//! listed the block just before may still fail to open its files: readers treat a file that
//! vanished as a block that was deleted meanwhile.
//!
//! Retention (what to delete by age and by size) is in [`crate::retention`].

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::{Path, PathPart};
use object_store::prefix::PrefixStore;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

use crate::block::meta::{BlockMeta, META_FILE};

/// Files larger than this are uploaded in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: usize = 32 << 20;
/// Size of one part of a multipart upload (S3 needs at least 5 MiB but for the last).
const PART_BYTES: usize = 8 << 20;
/// Parts of one file uploaded at once.
const PART_CONCURRENCY: usize = 4;
/// Files of one block, or `meta.json` files of one tenant, transferred at once.
const IO_CONCURRENCY: usize = 8;
/// A sensible default for [`Backend::cleanup`]'s grace period.
pub const DEFAULT_UNFINISHED_GRACE: Duration = Duration::from_secs(3600);

/// Why a storage operation failed.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The storage URL cannot be used.
    #[error("invalid storage url {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// Options that the URL's store does not know.
    #[error("unknown storage option(s) {} for {url:?}", keys.join(", "))]
    UnknownOption { url: String, keys: Vec<String> },
    /// The store's builder refused the configuration (e.g. a bad option value).
    #[error("configuring storage {url:?}: {source}")]
    Config {
        url: String,
        source: object_store::Error,
    },
    /// A tenant, block ID or file name that cannot be stored as given.
    #[error("invalid {what} {name:?}: {reason}")]
    InvalidName {
        what: &'static str,
        name: String,
        reason: String,
    },
    /// An object store request failed.
    #[error("object store {op} {path}: {source}")]
    ObjectStore {
        op: &'static str,
        path: String,
        source: object_store::Error,
    },
    /// A `meta.json` could not be written or read.
    #[error("block meta {path}: {source}")]
    Meta {
        path: String,
        source: serde_json::Error,
    },
    /// A local filesystem operation failed.
    #[error("local storage {op} {}: {source}", path.display())]
    Io {
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

pub type Result<T, E = BackendError> = std::result::Result<T, E>;

fn os_err(op: &'static str, path: &Path) -> impl FnOnce(object_store::Error) -> BackendError {
    let path = path.to_string();
    move |source| BackendError::ObjectStore { op, path, source }
}

fn is_not_found(e: &object_store::Error) -> bool {
    matches!(e, object_store::Error::NotFound { .. })
}

/// The object store holding every tenant's blocks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Backend {
    store: Arc<dyn ObjectStore>,
    /// Set for the local filesystem, whose interrupted writes leave temporary files that
    /// `object_store` does not list.
    local: Option<Arc<LocalFileSystem>>,
    description: String,
    multipart_threshold: usize,
}

/// What [`Backend::list_blocks`] found under one tenant.
#[derive(Debug, Clone, Default)]
pub struct BlockListing {
    /// Blocks to read, by block ID.
    pub visible: Vec<BlockMeta>,
    /// Blocks replaced by a compacted block that is present: logically gone, to delete.
    pub superseded: Vec<BlockMeta>,
    /// Directories without `meta.json`: writes in progress, or abandoned.
    pub unfinished: Vec<UnfinishedBlock>,
    /// Blocks whose `meta.json` could not be read or does not match its directory. Neither
    /// read nor deleted (they may come from a newer writer); logged.
    pub unreadable: Vec<UnreadableBlock>,
}

/// A block directory without `meta.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnfinishedBlock {
    pub block_id: String,
    /// When its newest object was written.
    pub last_modified: SystemTime,
}

/// A block directory whose `meta.json` was not usable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnreadableBlock {
    pub block_id: String,
    pub reason: String,
}

/// What [`Backend::cleanup`] removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CleanupReport {
    /// Superseded blocks deleted.
    pub superseded_deleted: Vec<String>,
    /// Unfinished directories deleted (older than the grace period).
    pub unfinished_deleted: Vec<String>,
    /// Unfinished directories left alone: younger than the grace period, or finished meanwhile.
    pub unfinished_kept: Vec<String>,
}

/// Every block directory of a tenant, metas read.
struct TenantScan {
    metas: Vec<BlockMeta>,
    unfinished: Vec<UnfinishedBlock>,
    unreadable: Vec<UnreadableBlock>,
}

impl Backend {
    /// Opens the storage a URL names:
    ///
    /// - empty: `<data_dir>/blocks` on the local filesystem (created);
    /// - a path, or `file:///absolute/path`: that directory (created);
    /// - `s3://bucket/prefix` (also `s3a://`): S3 or an S3-compatible server, configured from
    ///   the `AWS_*` environment variables, then `options` (`endpoint`, `region`,
    ///   `access_key_id`, `secret_access_key`, `allow_http`, `virtual_hosted_style_request`,
    ///   ... any key `object_store`'s `AmazonS3ConfigKey` accepts, with or without `aws_`);
    /// - `gs://bucket/prefix`: Google Cloud Storage (`GOOGLE_*`, then `GoogleConfigKey`s);
    /// - `az://container/prefix` or `azure://container/prefix`: Azure Blob Storage
    ///   (`AZURE_*`, then `AzureConfigKey`s, e.g. `account_name`, `access_key`);
    /// - `memory://prefix`: a fresh in-memory store (tests).
    ///
    /// The bucket or container is the URL's, whatever the options say. Unknown option keys
    /// are an error naming them; the local filesystem and memory take no options.
    pub fn from_url(
        url: &str,
        data_dir: &FsPath,
        options: &BTreeMap<String, String>,
    ) -> Result<Backend> {
        let raw = url.trim();
        // Errors and logs show the URL without any credentials in it.
        let shown = redact(raw);
        let url = shown.as_str();
        if url.is_empty() {
            no_options(url, options)?;
            return Self::local(&data_dir.join("blocks"));
        }
        if !looks_like_url(url) {
            no_options(url, options)?;
            let path = std::path::absolute(url).map_err(|e| BackendError::InvalidUrl {
                url: url.into(),
                reason: format!("not a usable path: {e}"),
            })?;
            return Self::local(&path);
        }
        let parsed = url::Url::parse(raw).map_err(|e| BackendError::InvalidUrl {
            url: url.into(),
            reason: e.to_string(),
        })?;
        let invalid = |reason: &str| BackendError::InvalidUrl {
            url: url.into(),
            reason: reason.into(),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(invalid(
                "credentials do not belong in the url; use options or environment variables",
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(invalid("a query or fragment is not allowed"));
        }
        let scheme = parsed.scheme().to_ascii_lowercase();
        match scheme.as_str() {
            "file" => {
                no_options(url, options)?;
                let path = parsed
                    .to_file_path()
                    .map_err(|()| invalid("expected file:///absolute/path"))?;
                Self::local(&path)
            }
            "memory" => {
                no_options(url, options)?;
                let raw = format!("{}{}", parsed.host_str().unwrap_or(""), parsed.path());
                let prefix = parse_prefix(url, &raw)?;
                let store: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
                let description = if prefix.is_root() {
                    "memory://".to_string()
                } else {
                    format!("memory://{prefix}")
                };
                Ok(Self::from_store(prefixed(store, &prefix), description))
            }
            "s3" | "s3a" => {
                use object_store::aws::{AmazonS3Builder, AmazonS3ConfigKey};
                let (bucket, prefix) = bucket_and_prefix(url, &parsed)?;
                let mut builder = AmazonS3Builder::from_env();
                for (key, value) in parse_options::<AmazonS3ConfigKey>(url, options)? {
                    builder = builder.with_config(key, value);
                }
                builder = builder.with_bucket_name(&bucket);
                let mut description = format!("s3://{bucket}/{prefix}");
                let endpoint = builder.get_config_value(&AmazonS3ConfigKey::Endpoint);
                let region = builder.get_config_value(&AmazonS3ConfigKey::Region);
                let details: Vec<String> = [("endpoint", endpoint), ("region", region)]
                    .into_iter()
                    .filter_map(|(k, v)| v.map(|v| format!("{k} {v}")))
                    .collect();
                if !details.is_empty() {
                    description.push_str(&format!(" ({})", details.join(", ")));
                }
                let store = builder.build().map_err(|source| BackendError::Config {
                    url: url.into(),
                    source,
                })?;
                Ok(Self::from_store(
                    prefixed(Arc::new(store), &prefix),
                    description,
                ))
            }
            "gs" => {
                use object_store::gcp::{GoogleCloudStorageBuilder, GoogleConfigKey};
                let (bucket, prefix) = bucket_and_prefix(url, &parsed)?;
                let mut builder = GoogleCloudStorageBuilder::from_env();
                for (key, value) in parse_options::<GoogleConfigKey>(url, options)? {
                    builder = builder.with_config(key, value);
                }
                builder = builder.with_bucket_name(&bucket);
                let store = builder.build().map_err(|source| BackendError::Config {
                    url: url.into(),
                    source,
                })?;
                let description = format!("gs://{bucket}/{prefix}");
                Ok(Self::from_store(
                    prefixed(Arc::new(store), &prefix),
                    description,
                ))
            }
            "az" | "azure" => {
                use object_store::azure::{AzureConfigKey, MicrosoftAzureBuilder};
                let (container, prefix) = bucket_and_prefix(url, &parsed)?;
                let mut builder = MicrosoftAzureBuilder::from_env();
                for (key, value) in parse_options::<AzureConfigKey>(url, options)? {
                    builder = builder.with_config(key, value);
                }
                builder = builder.with_container_name(&container);
                let mut description = format!("az://{container}/{prefix}");
                if let Some(account) = builder.get_config_value(&AzureConfigKey::AccountName) {
                    description.push_str(&format!(" (account {account})"));
                }
                let store = builder.build().map_err(|source| BackendError::Config {
                    url: url.into(),
                    source,
                })?;
                Ok(Self::from_store(
                    prefixed(Arc::new(store), &prefix),
                    description,
                ))
            }
            other => Err(invalid(&format!(
                "unsupported scheme {other:?} (expected a path, file, s3, gs, az, azure or memory)"
            ))),
        }
    }

    /// Blocks in a local directory (created if missing), written with fsync.
    fn local(dir: &FsPath) -> Result<Backend> {
        std::fs::create_dir_all(dir).map_err(|source| BackendError::Io {
            op: "create",
            path: dir.to_path_buf(),
            source,
        })?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .map_err(|source| BackendError::Config {
                url: dir.display().to_string(),
                source,
            })?
            .with_fsync(true)
            .with_automatic_cleanup(true);
        let fs = Arc::new(fs);
        let description =
            url::Url::from_directory_path(std::fs::canonicalize(dir).map_err(|source| {
                BackendError::Io {
                    op: "canonicalize",
                    path: dir.to_path_buf(),
                    source,
                }
            })?)
            .map(|u| u.to_string())
            .unwrap_or_else(|()| dir.display().to_string());
        Ok(Backend {
            store: fs.clone(),
            local: Some(fs),
            description,
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        })
    }

    /// A backend over any store (e.g. one wrapped for fault injection); `description` is
    /// what [`Backend::describe`] returns.
    pub fn from_store(store: Arc<dyn ObjectStore>, description: impl Into<String>) -> Backend {
        Backend {
            store,
            local: None,
            description: description.into(),
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
        }
    }

    /// Files larger than `bytes` are uploaded in parts (default 32 MiB).
    pub fn with_multipart_threshold(mut self, bytes: usize) -> Backend {
        self.multipart_threshold = bytes;
        self
    }

    /// The store, with the URL's prefix applied: block paths from [`Backend::block_dir`]
    /// are relative to it.
    pub fn store(&self) -> Arc<dyn ObjectStore> {
        self.store.clone()
    }

    /// The directory of a block: `<tenant>/<block_id>`.
    pub fn block_dir(&self, tenant: &str, block_id: &str) -> Path {
        tenant_dir(tenant).join(block_id)
    }

    /// Where the blocks are, for logs: the URL without credentials, plus endpoint and region
    /// when configured.
    pub fn describe(&self) -> String {
        self.description.clone()
    }

    /// Writes a block: every data file (large ones in parts), then `meta.json`. Returns once
    /// the block is visible. `files` must not contain `meta.json`.
    pub async fn publish_block(
        &self,
        tenant: &str,
        block_id: &str,
        files: Vec<(String, Bytes)>,
        meta: &BlockMeta,
    ) -> Result<()> {
        validate_tenant(tenant)?;
        validate_plain("block id", block_id)?;
        if meta.block_id != block_id || meta.tenant != tenant {
            return Err(BackendError::InvalidName {
                what: "block meta",
                name: format!("{}/{}", meta.tenant, meta.block_id),
                reason: format!("published as {tenant}/{block_id}"),
            });
        }
        let mut names = HashSet::new();
        for (name, _) in &files {
            validate_plain("file name", name)?;
            if name == META_FILE {
                return Err(BackendError::InvalidName {
                    what: "file name",
                    name: name.clone(),
                    reason: "meta.json is written from the meta".into(),
                });
            }
            if !names.insert(name.as_str()) {
                return Err(BackendError::InvalidName {
                    what: "file name",
                    name: name.clone(),
                    reason: "given twice".into(),
                });
            }
        }
        let dir = self.block_dir(tenant, block_id);
        let meta_path = dir.clone().join(META_FILE);
        let meta_bytes = serde_json::to_vec_pretty(meta).map_err(|source| BackendError::Meta {
            path: meta_path.to_string(),
            source,
        })?;

        stream::iter(files)
            .map(|(name, data)| {
                let path = dir.clone().join(name.as_str());
                async move { self.put_file(&path, data).await }
            })
            .buffer_unordered(IO_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        // Only now, with every file in place, does the block become visible.
        self.store
            .put(&meta_path, PutPayload::from(meta_bytes))
            .await
            .map_err(os_err("put", &meta_path))?;
        Ok(())
    }

    async fn put_file(&self, path: &Path, data: Bytes) -> Result<()> {
        if data.len() <= self.multipart_threshold {
            self.store
                .put(path, PutPayload::from(data))
                .await
                .map_err(os_err("put", path))?;
            return Ok(());
        }
        let upload = self
            .store
            .put_multipart(path)
            .await
            .map_err(os_err("start multipart upload of", path))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut rest = data;
        while !rest.is_empty() {
            if let Err(e) = writer.wait_for_capacity(PART_CONCURRENCY).await {
                if let Err(abort) = writer.abort().await {
                    tracing::warn!(path = %path, error = %abort, "aborting a multipart upload failed");
                }
                return Err(os_err("upload part of", path)(e));
            }
            let n = rest.len().min(PART_BYTES);
            writer.put(rest.split_to(n));
        }
        // `finish` aborts the upload itself when a part or the completion fails.
        writer
            .finish()
            .await
            .map_err(os_err("complete multipart upload of", path))?;
        Ok(())
    }

    /// Deletes a block: `meta.json` first (the block is gone for readers at once), then every
    /// other object of its directory. Deleting a block that is not there is not an error.
    pub async fn delete_block(&self, tenant: &str, block_id: &str) -> Result<()> {
        crate::block::cache::forget(block_id);
        let dir = self.block_dir(tenant, block_id);
        let meta_path = dir.clone().join(META_FILE);
        match self.store.delete(&meta_path).await {
            Ok(()) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(os_err("delete", &meta_path)(e)),
        }
        self.delete_dir(&dir).await
    }

    /// Deletes every object under `dir` (and, locally, leftover temporary files).
    async fn delete_dir(&self, dir: &Path) -> Result<()> {
        let locations = self
            .store
            .list(Some(dir))
            .map_ok(|m| m.location)
            .try_collect::<Vec<Path>>()
            .await
            .map_err(os_err("list", dir))?;
        if !locations.is_empty() {
            let results = self
                .store
                .delete_stream(stream::iter(locations.into_iter().map(Ok)).boxed())
                .collect::<Vec<_>>()
                .await;
            for r in results {
                match r {
                    Ok(_) => {}
                    Err(e) if is_not_found(&e) => {}
                    Err(e) => return Err(os_err("delete", dir)(e)),
                }
            }
        }
        if let Some(fs) = &self.local {
            let path = fs.path_to_filesystem(dir).map_err(os_err("resolve", dir))?;
            match tokio::fs::remove_dir_all(&path).await {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => {
                    return Err(BackendError::Io {
                        op: "remove",
                        path,
                        source,
                    });
                }
            }
            // The tenant directory goes too once empty (fails harmlessly otherwise).
            if let Some(parent) = path.parent() {
                let _ = tokio::fs::remove_dir(parent).await;
            }
        }
        Ok(())
    }

    /// Tenants with anything stored, sorted.
    pub async fn list_tenants(&self) -> Result<Vec<String>> {
        let listing = self
            .store
            .list_with_delimiter(None)
            .await
            .map_err(os_err("list", &Path::ROOT))?;
        let mut tenants: Vec<String> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().map(decode_part))
            .collect();
        tenants.sort();
        tenants.dedup();
        Ok(tenants)
    }

    /// Every block of a tenant, read from its `meta.json` (unreadable ones are logged and
    /// reported apart), split into visible and superseded, plus the unfinished directories.
    /// One recursive LIST, then one GET per `meta.json`.
    pub async fn list_blocks(&self, tenant: &str) -> Result<BlockListing> {
        let scan = self.scan_tenant(tenant, &HashMap::new()).await?;
        let (visible, superseded) = split_superseded(scan.metas);
        Ok(BlockListing {
            visible,
            superseded,
            unfinished: scan.unfinished,
            unreadable: scan.unreadable,
        })
    }

    /// Lists a tenant's objects once and reads the `meta.json` of blocks not in `known`.
    async fn scan_tenant(
        &self,
        tenant: &str,
        known: &HashMap<String, BlockMeta>,
    ) -> Result<TenantScan> {
        let tdir = tenant_dir(tenant);
        let objects = match self.store.list(Some(&tdir)).try_collect::<Vec<_>>().await {
            Ok(o) => o,
            Err(e) if is_not_found(&e) => Vec::new(),
            Err(e) => return Err(os_err("list", &tdir)(e)),
        };

        struct Dir {
            has_meta: bool,
            newest: Option<SystemTime>,
        }
        let mut dirs: BTreeMap<String, Dir> = BTreeMap::new();
        for o in objects {
            let Some(mut parts) = o.location.prefix_match(&tdir) else {
                continue;
            };
            let Some(block) = parts.next() else { continue };
            let rest: Vec<PathPart<'_>> = parts.collect();
            if rest.is_empty() {
                // An object directly under the tenant: not part of any block.
                continue;
            }
            let d = dirs.entry(decode_part(block.as_ref())).or_insert(Dir {
                has_meta: false,
                newest: None,
            });
            if rest.len() == 1 && rest[0].as_ref() == META_FILE {
                d.has_meta = true;
            }
            let modified = SystemTime::from(o.last_modified);
            d.newest = Some(d.newest.map_or(modified, |n| n.max(modified)));
        }

        let mut unfinished = Vec::new();
        let mut to_read = Vec::new();
        let mut metas = Vec::new();
        for (id, d) in &dirs {
            if d.has_meta {
                match known.get(id) {
                    Some(m) => metas.push(m.clone()),
                    None => to_read.push(id.clone()),
                }
            } else {
                unfinished.push(UnfinishedBlock {
                    block_id: id.clone(),
                    last_modified: d.newest.unwrap_or(SystemTime::UNIX_EPOCH),
                });
            }
        }
        if let Some(fs) = &self.local {
            // Directories holding only temporary files of an interrupted local write are
            // invisible to `list`: find them on disk.
            let path = fs
                .path_to_filesystem(&tdir)
                .map_err(os_err("resolve", &tdir))?;
            let seen: HashSet<String> = dirs.keys().cloned().collect();
            let extra = tokio::task::spawn_blocking(move || local_dirs_not_in(&path, &seen))
                .await
                .map_err(|e| BackendError::Io {
                    op: "scan",
                    path: PathBuf::new(),
                    source: std::io::Error::other(e),
                })??;
            unfinished.extend(extra);
            unfinished.sort_by(|a, b| a.block_id.cmp(&b.block_id));
        }

        let mut unreadable = Vec::new();
        let read: Vec<(String, Result<BlockMeta, String>)> = stream::iter(to_read)
            .map(|id| async move {
                let r = self.read_meta(tenant, &id).await;
                (id, r)
            })
            .buffer_unordered(IO_CONCURRENCY)
            .collect()
            .await;
        for (id, r) in read {
            match r {
                Ok(m) => metas.push(m),
                Err(reason) => {
                    tracing::warn!(tenant, block = %id, %reason, "skipping unreadable block meta");
                    unreadable.push(UnreadableBlock {
                        block_id: id,
                        reason,
                    });
                }
            }
        }
        metas.sort_by(|a, b| a.block_id.cmp(&b.block_id));
        unreadable.sort_by(|a, b| a.block_id.cmp(&b.block_id));
        Ok(TenantScan {
            metas,
            unfinished,
            unreadable,
        })
    }

    /// Reads and checks one `meta.json`; the error is a reason to log.
    async fn read_meta(&self, tenant: &str, block_id: &str) -> Result<BlockMeta, String> {
        let path = self.block_dir(tenant, block_id).join(META_FILE);
        let bytes = async { self.store.get(&path).await?.bytes().await }
            .await
            .map_err(|e| format!("reading {path}: {e}"))?;
        let meta: BlockMeta =
            serde_json::from_slice(&bytes).map_err(|e| format!("parsing {path}: {e}"))?;
        if meta.block_id != block_id || meta.tenant != tenant {
            return Err(format!(
                "{path} describes block {}/{}",
                meta.tenant, meta.block_id
            ));
        }
        Ok(meta)
    }

    /// Deletes the superseded blocks of `listing`, and the unfinished directories whose newest
    /// object is at least `unfinished_older_than` old (checked again just before deleting).
    /// A failure to delete one block is logged and the others still go; the first error is
    /// returned after.
    pub async fn cleanup(
        &self,
        tenant: &str,
        listing: &BlockListing,
        unfinished_older_than: Duration,
    ) -> Result<CleanupReport> {
        let mut report = CleanupReport::default();
        let mut first_err = None;
        for m in &listing.superseded {
            match self.delete_block(tenant, &m.block_id).await {
                Ok(()) => report.superseded_deleted.push(m.block_id.clone()),
                Err(e) => {
                    tracing::warn!(tenant, block = %m.block_id, error = %e, "deleting a superseded block failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        for u in &listing.unfinished {
            if !old_enough(u.last_modified, unfinished_older_than) {
                report.unfinished_kept.push(u.block_id.clone());
                continue;
            }
            match self
                .delete_if_abandoned(tenant, &u.block_id, unfinished_older_than)
                .await
            {
                Ok(true) => {
                    tracing::info!(tenant, block = %u.block_id, "deleted an abandoned block write");
                    report.unfinished_deleted.push(u.block_id.clone());
                }
                Ok(false) => report.unfinished_kept.push(u.block_id.clone()),
                Err(e) => {
                    tracing::warn!(tenant, block = %u.block_id, error = %e, "deleting an unfinished block failed");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(report),
        }
    }

    /// Looks at an unfinished directory again and deletes it if it still has no `meta.json`
    /// and nothing in it is younger than `grace`.
    async fn delete_if_abandoned(
        &self,
        tenant: &str,
        block_id: &str,
        grace: Duration,
    ) -> Result<bool> {
        let dir = self.block_dir(tenant, block_id);
        let objects = self
            .store
            .list(Some(&dir))
            .try_collect::<Vec<_>>()
            .await
            .map_err(os_err("list", &dir))?;
        if objects
            .iter()
            .any(|o| o.location.filename() == Some(META_FILE))
        {
            return Ok(false);
        }
        let mut newest = objects
            .iter()
            .map(|o| SystemTime::from(o.last_modified))
            .max();
        if let Some(fs) = &self.local {
            let path = fs
                .path_to_filesystem(&dir)
                .map_err(os_err("resolve", &dir))?;
            let on_disk = tokio::task::spawn_blocking(move || newest_on_disk(&path))
                .await
                .ok()
                .flatten();
            newest = newest.max(on_disk);
        }
        if newest.is_some_and(|n| !old_enough(n, grace)) {
            return Ok(false);
        }
        self.delete_dir(&dir).await?;
        Ok(true)
    }
}

/// Whether `t` is at least `age` in the past (a time in the future is not).
fn old_enough(t: SystemTime, age: Duration) -> bool {
    match SystemTime::now().duration_since(t) {
        Ok(elapsed) => elapsed >= age,
        Err(_) => age.is_zero(),
    }
}

/// Splits blocks into visible and superseded: a block is superseded when another block of
/// the set lists it in `sources`. Both keep the input order.
pub fn split_superseded(metas: Vec<BlockMeta>) -> (Vec<BlockMeta>, Vec<BlockMeta>) {
    let replaced: HashSet<String> = metas
        .iter()
        .flat_map(|m| m.sources.iter().filter(move |s| **s != m.block_id).cloned())
        .collect();
    metas
        .into_iter()
        .partition(|m| !replaced.contains(&m.block_id))
}

/// Block directories on disk that `list` did not show, with the newest time inside.
fn local_dirs_not_in(tenant_dir: &FsPath, seen: &HashSet<String>) -> Result<Vec<UnfinishedBlock>> {
    let entries = match std::fs::read_dir(tenant_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(BackendError::Io {
                op: "read",
                path: tenant_dir.to_path_buf(),
                source,
            });
        }
    };
    let mut out = Vec::new();
    for entry in entries.flatten() {
        if !entry.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        // Local directory names are the store's encoded path parts.
        let id = decode_part(&name);
        if seen.contains(&id) {
            continue;
        }
        let last_modified = newest_on_disk(&entry.path()).unwrap_or(SystemTime::UNIX_EPOCH);
        out.push(UnfinishedBlock {
            block_id: id,
            last_modified,
        });
    }
    Ok(out)
}

/// The newest modification time of the files directly in a directory, or the directory's
/// own when it is empty.
fn newest_on_disk(dir: &FsPath) -> Option<SystemTime> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(t) = entry.metadata().and_then(|m| m.modified()) {
            newest = Some(newest.map_or(t, |n: SystemTime| n.max(t)));
        }
    }
    newest.or_else(|| std::fs::metadata(dir).and_then(|m| m.modified()).ok())
}

// ---- names and URLs ------------------------------------------------------------------------

fn tenant_dir(tenant: &str) -> Path {
    Path::ROOT.join(tenant)
}

/// Reverses the percent-encoding `object_store` applies to path parts.
fn decode_part(raw: &str) -> String {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(h), Some(l)) = (hex_val(bytes[i + 1]), hex_val(bytes[i + 2]))
        {
            out.push(h << 4 | l);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| raw.to_string())
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// A tenant becomes one path part: no `/`, no control characters, not `.` or `..`.
fn validate_tenant(tenant: &str) -> Result<()> {
    let bad = |reason: &str| BackendError::InvalidName {
        what: "tenant",
        name: tenant.into(),
        reason: reason.into(),
    };
    if tenant.is_empty() {
        return Err(bad("empty"));
    }
    if tenant.len() > 255 {
        return Err(bad("longer than 255 bytes"));
    }
    PathPart::parse(tenant).map_err(|e| bad(&e.to_string()))?;
    Ok(())
}

/// Block IDs and file names: ASCII letters, digits, `.`, `_`, `-`; not starting with `.`.
fn validate_plain(what: &'static str, name: &str) -> Result<()> {
    let bad = |reason: &str| BackendError::InvalidName {
        what,
        name: name.into(),
        reason: reason.into(),
    };
    if name.is_empty() {
        return Err(bad("empty"));
    }
    if name.len() > 255 {
        return Err(bad("longer than 255 bytes"));
    }
    if name.starts_with('.') {
        return Err(bad("starts with '.'"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
    {
        return Err(bad(
            "only ascii letters, digits, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

/// The URL with any user name and password replaced by `***`.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
            let _ = u.set_username("***");
            let _ = u.set_password(None);
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// `scheme:` at the start (two letters or more, so `C:\` stays a path).
fn looks_like_url(s: &str) -> bool {
    match s.split_once(':') {
        Some((scheme, _)) => {
            scheme.len() >= 2
                && scheme.starts_with(|c: char| c.is_ascii_alphabetic())
                && scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
        }
        None => false,
    }
}

fn no_options(url: &str, options: &BTreeMap<String, String>) -> Result<()> {
    if options.is_empty() {
        return Ok(());
    }
    Err(BackendError::UnknownOption {
        url: url.into(),
        keys: options.keys().cloned().collect(),
    })
}

/// Every option as the store's config key; all unknown keys are named in one error.
fn parse_options<K: std::str::FromStr>(
    url: &str,
    options: &BTreeMap<String, String>,
) -> Result<Vec<(K, String)>> {
    let mut parsed = Vec::new();
    let mut unknown = Vec::new();
    for (key, value) in options {
        match key.trim().to_ascii_lowercase().parse::<K>() {
            Ok(k) => parsed.push((k, value.clone())),
            Err(_) => unknown.push(key.clone()),
        }
    }
    if unknown.is_empty() {
        Ok(parsed)
    } else {
        Err(BackendError::UnknownOption {
            url: url.into(),
            keys: unknown,
        })
    }
}

fn bucket_and_prefix(url: &str, parsed: &url::Url) -> Result<(String, Path)> {
    let bucket =
        parsed
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| BackendError::InvalidUrl {
                url: url.into(),
                reason: "no bucket or container name".into(),
            })?;
    if parsed.port().is_some() {
        return Err(BackendError::InvalidUrl {
            url: url.into(),
            reason: "a port is not allowed (set the endpoint option instead)".into(),
        });
    }
    Ok((bucket.to_string(), parse_prefix(url, parsed.path())?))
}

fn parse_prefix(url: &str, raw: &str) -> Result<Path> {
    Path::from_url_path(raw).map_err(|e| BackendError::InvalidUrl {
        url: url.into(),
        reason: format!("bad prefix: {e}"),
    })
}

fn prefixed(store: Arc<dyn ObjectStore>, prefix: &Path) -> Arc<dyn ObjectStore> {
    if prefix.is_root() {
        store
    } else {
        Arc::new(PrefixStore::new(store, prefix.clone()))
    }
}

// ---- the block list cache -----------------------------------------------------------------

/// The blocks of every tenant, kept in memory and refreshed from the store.
///
/// [`BlockList::refresh`] costs one LIST per tenant plus one GET per `meta.json` not seen
/// before (block metadata never changes). A writer calls [`BlockList::insert`] right after
/// publishing, and [`BlockList::remove`] right after deleting, so its own changes show at
/// once; a refresh running meanwhile does not undo them.
#[derive(Debug, Default)]
pub struct BlockList {
    inner: parking_lot::RwLock<ListState>,
    refreshing: tokio::sync::Mutex<()>,
}

#[derive(Debug, Default)]
struct ListState {
    tenants: HashMap<String, HashMap<String, Entry>>,
    /// Raised at the start of every refresh; inserts and removals are stamped with it.
    epoch: u64,
    /// Blocks removed by hand, with the epoch of the removal.
    removed: HashMap<(String, String), u64>,
}

#[derive(Debug, Clone)]
struct Entry {
    meta: BlockMeta,
    /// 0 when it came from a listing, else the epoch of the insert.
    stamp: u64,
}

impl BlockList {
    pub fn new() -> BlockList {
        BlockList::default()
    }

    /// Re-lists every tenant: picks up new blocks, drops deleted ones, keeps the metas of
    /// blocks already known. On error the list is left as it was.
    pub async fn refresh(&self, backend: &Backend) -> Result<()> {
        let _one = self.refreshing.lock().await;
        let (start, known) = {
            let mut s = self.inner.write();
            s.epoch += 1;
            let known: HashMap<String, HashMap<String, BlockMeta>> = s
                .tenants
                .iter()
                .map(|(t, blocks)| {
                    let metas = blocks
                        .iter()
                        .map(|(id, e)| (id.clone(), e.meta.clone()))
                        .collect();
                    (t.clone(), metas)
                })
                .collect();
            (s.epoch, known)
        };
        let empty = HashMap::new();
        let mut listed: HashMap<String, Vec<BlockMeta>> = HashMap::new();
        for tenant in backend.list_tenants().await? {
            let known = known.get(&tenant).unwrap_or(&empty);
            let scan = backend.scan_tenant(&tenant, known).await?;
            listed.insert(tenant, scan.metas);
        }

        let mut s = self.inner.write();
        let mut tenants: HashMap<String, HashMap<String, Entry>> = HashMap::new();
        for (tenant, metas) in listed {
            let blocks = tenants.entry(tenant.clone()).or_default();
            for meta in metas {
                let removed_since = s
                    .removed
                    .get(&(tenant.clone(), meta.block_id.clone()))
                    .is_some_and(|&at| at >= start);
                if !removed_since {
                    blocks.insert(meta.block_id.clone(), Entry { meta, stamp: 0 });
                }
            }
        }
        // Inserted while the listing ran: the listing may have missed them.
        for (tenant, blocks) in &s.tenants {
            for (id, e) in blocks {
                if e.stamp >= start {
                    tenants
                        .entry(tenant.clone())
                        .or_default()
                        .entry(id.clone())
                        .or_insert_with(|| e.clone());
                }
            }
        }
        tenants.retain(|_, b| !b.is_empty());
        s.tenants = tenants;
        s.removed.retain(|_, at| *at >= start);
        Ok(())
    }

    /// The visible blocks of a tenant (superseded ones hidden), by block ID.
    pub fn blocks(&self, tenant: &str) -> Vec<BlockMeta> {
        let s = self.inner.read();
        let Some(blocks) = s.tenants.get(tenant) else {
            return Vec::new();
        };
        let mut metas: Vec<BlockMeta> = blocks.values().map(|e| e.meta.clone()).collect();
        metas.sort_by(|a, b| a.block_id.cmp(&b.block_id));
        split_superseded(metas).0
    }

    /// Tenants with at least one block, sorted.
    pub fn tenants(&self) -> Vec<String> {
        let mut t: Vec<String> = self.inner.read().tenants.keys().cloned().collect();
        t.sort();
        t
    }

    /// Registers a block just published here.
    pub fn insert(&self, meta: BlockMeta) {
        let mut s = self.inner.write();
        let stamp = s.epoch;
        s.removed
            .remove(&(meta.tenant.clone(), meta.block_id.clone()));
        s.tenants
            .entry(meta.tenant.clone())
            .or_default()
            .insert(meta.block_id.clone(), Entry { meta, stamp });
    }

    /// Forgets a block just deleted here.
    pub fn remove(&self, tenant: &str, block_id: &str) {
        let mut s = self.inner.write();
        let at = s.epoch;
        if let Some(blocks) = s.tenants.get_mut(tenant) {
            blocks.remove(block_id);
            if blocks.is_empty() {
                s.tenants.remove(tenant);
            }
        }
        s.removed.insert((tenant.into(), block_id.into()), at);
    }
}

#[cfg(test)]
mod tests;
