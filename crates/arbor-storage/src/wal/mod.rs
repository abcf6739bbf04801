//! Write-ahead log: makes ingested batches durable before the client is
//! acknowledged.
//!
//! The WAL stores opaque byte payloads (the caller encodes tenant and
//! batch); it knows nothing about spans. Records are appended to segment
//! files in one directory, and are handed back in order by
//! [`Wal::open`] after a restart or crash.
//!
//! # On-disk layout
//!
//! ```text
//! <dir>/LOCK                         advisory lock held while the WAL is open
//! <dir>/00000000000000000001.wal     segment 1
//! <dir>/00000000000000000002.wal     segment 2, ...
//! ```
//!
//! A segment file is named after its id (a `u64`, 20 decimal digits, zero
//! padded, so names sort by id) and is append-only. All integers are
//! little-endian. Every segment starts with a 24-byte header:
//!
//! ```text
//! offset  size  field
//!      0     8  magic "ARBORWAL" (41 52 42 4F 52 57 41 4C)
//!      8     4  format version, u32 = 1
//!     12     8  segment id, u64, equal to the number in the file name
//!     20     4  CRC32C of bytes 0..20, u32
//! ```
//!
//! Records follow back to back from offset 24, without padding. A record
//! carrying an `n`-byte payload takes `12 + n` bytes:
//!
//! ```text
//! offset  size  field
//!      0     4  sync marker A7 1B E3 5C (u32 0x5CE31BA7)
//!      4     4  payload length n, u32
//!      8     4  CRC32C of bytes 4..8 (the length) followed by the payload, u32
//!     12     n  payload
//! ```
//!
//! The checksum is CRC-32C (Castagnoli), computed with the `crc32c` crate.
//! A record's [`Lsn`] is its segment id and the byte offset of its sync
//! marker within the segment file; `Lsn`s grow with append order.
//!
//! # Writing and sync policies
//!
//! One writer thread owns the active segment. Appends are queued to it; it
//! takes everything queued as one group, copies the group into one buffer,
//! writes it with one `write_all` and then, depending on [`SyncPolicy`]:
//!
//! * [`SyncPolicy::Batch`] (default): one `fdatasync` ([`File::sync_data`])
//!   covers the whole group. Consecutive fsyncs start at least
//!   [`WalConfig::sync_interval`] apart; while the writer waits for the
//!   interval, more appends join the group.
//! * [`SyncPolicy::Always`]: every record is written and fsynced on its own.
//! * [`SyncPolicy::None`]: records are written to the OS and acknowledged
//!   without fsync (benchmarks only).
//!
//! An append returns (or its future resolves) once the record is durable
//! under the policy. When a record would make the active segment larger than
//! [`WalConfig::segment_bytes`], the segment is fsynced and closed and a new
//! one is started (a record larger than that gets a segment of its own).
//! Segments are always fsynced when closed, and the directory is fsynced
//! after a segment file is created or deleted. [`Wal::sync`] and
//! [`Wal::close`] fsync under every policy.
//!
//! A failed write or fsync *poisons* the WAL: the appends of the failing
//! group get an error (never an acknowledgement) and later requests are
//! refused with [`WalError::Poisoned`] ([`Wal::poisoned`] says why). After a
//! failed fsync the state of the page cache is unknown, so the failed file is
//! never written or fsynced again. Instead, every
//! `RECOVERY_INTERVAL` (1 s) the writer tries to start a new segment
//! (header written, file and directory fsynced); once it can — a full disk
//! was freed, a file system came back — the failed segment is closed as of
//! its last acknowledged record (its unacknowledged tail cut off, best
//! effort) and appends are accepted again, with no restart.
//!
//! # Recovery
//!
//! [`Wal::open`] replays every segment in id order, passing each valid
//! record to a callback, then starts appending to a fresh segment:
//!
//! * A record is valid when its marker is present, its payload lies within
//!   the file and the checksum matches.
//! * **Torn tail.** Invalid bytes at the end of the last segment (a partial
//!   record, or a record with a bad checksum after which nothing valid
//!   follows) are truncated away (`set_len` to the end of the last valid
//!   record, then fsync) and counted in
//!   [`ReplayReport::torn_tail_truncated_bytes`].
//! * **Corruption in the middle.** An invalid record followed by valid ones
//!   is skipped: the reader scans forward for the next sync marker that
//!   starts a valid record. The skipped range is logged (`tracing::warn!`
//!   with segment and byte offset) and listed in
//!   [`ReplayReport::corrupt_regions`]. Invalid bytes at the end of a
//!   segment other than the last are reported the same way and left alone.
//! * **Segment headers.** The last segment, if shorter than its header (a
//!   crash while creating it), is removed and counted as torn. Any other
//!   segment with a short or damaged header is skipped, logged and reported
//!   as one corrupt region. A segment with an intact header but an unknown
//!   format version fails the open ([`WalError::UnsupportedVersion`]).
//! * Replay fails only on I/O errors (or when the callback fails), never on
//!   corruption.
//!
//! # Guarantees
//!
//! * A record whose append returned `Ok` is replayed after a crash under
//!   [`SyncPolicy::Batch`] and [`SyncPolicy::Always`]; under
//!   [`SyncPolicy::None`] only if the OS wrote it (or [`Wal::sync`] or
//!   [`Wal::close`] returned `Ok` after the append).
//! * Records are replayed in append order, each at most once per open.
//! * A record whose append failed may or may not be replayed.
//! * A payload that itself contains a complete, valid record could, after
//!   corruption of its own header, be mistaken for a record by the
//!   forward scan; the checksum makes any other false match negligible.
//!
//! # Example
//!
//! ```no_run
//! use arbor_storage::wal::{Wal, WalConfig, WalError};
//!
//! # fn main() -> Result<(), WalError> {
//! let (wal, report) = Wal::open(WalConfig::new("/var/lib/arbor/wal"), |lsn, payload| {
//!     // Rebuild in-memory state from `payload`.
//!     let _ = (lsn, payload);
//!     Ok::<_, std::convert::Infallible>(())
//! })?;
//! println!("replayed {} records", report.records);
//! let lsn = wal.append(b"tenant+batch".to_vec())?;
//! // Later, after the records have been written to a block:
//! let closed = wal.rotate()?;
//! wal.release_through(closed)?;
//! # let _ = lsn;
//! wal.close()
//! # }
//! ```

mod format;
mod replay;
mod writer;

pub use writer::{SYNC_BUCKETS, SyncHistogram};

#[cfg(test)]
mod tests;

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::oneshot;

use self::format::{RECORD_HEADER_LEN, encode_record_header, segment_file_name};
use self::replay::SegmentMeta;
use self::writer::{Ack, Request, SegmentTable, Shared, Writer, WriterConfig};

/// Name of the lock file inside the WAL directory.
const LOCK_FILE: &str = "LOCK";

/// When appends are fsynced; see the [module documentation](self).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum SyncPolicy {
    /// Group commit: one fsync covers every record waiting, fsyncs at most
    /// every [`WalConfig::sync_interval`].
    #[default]
    Batch,
    /// One fsync per record, before its acknowledgement.
    Always,
    /// No fsync; acknowledged once written to the OS. For benchmarks.
    None,
}

/// Configuration of a [`Wal`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WalConfig {
    /// Directory holding the segment files; created if missing.
    pub dir: PathBuf,
    /// When appends are fsynced.
    pub sync: SyncPolicy,
    /// Minimum time between the starts of two fsyncs under
    /// [`SyncPolicy::Batch`].
    pub sync_interval: Duration,
    /// A new segment is started when a record would make the active one
    /// larger than this.
    pub segment_bytes: u64,
    /// Largest payload accepted by an append (capped at `u32::MAX`).
    pub max_record_bytes: u64,
}

impl WalConfig {
    /// Default for [`WalConfig::sync_interval`]: 5 ms.
    pub const DEFAULT_SYNC_INTERVAL: Duration = Duration::from_millis(5);
    /// Default for [`WalConfig::segment_bytes`]: 128 MiB.
    pub const DEFAULT_SEGMENT_BYTES: u64 = 128 << 20;
    /// Default for [`WalConfig::max_record_bytes`]: 64 MiB.
    pub const DEFAULT_MAX_RECORD_BYTES: u64 = 64 << 20;

    /// Configuration with default settings for a WAL in `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            sync: SyncPolicy::default(),
            sync_interval: Self::DEFAULT_SYNC_INTERVAL,
            segment_bytes: Self::DEFAULT_SEGMENT_BYTES,
            max_record_bytes: Self::DEFAULT_MAX_RECORD_BYTES,
        }
    }

    fn record_limit(&self) -> u64 {
        self.max_record_bytes.min(u64::from(u32::MAX))
    }
}

/// Identifier of a segment file; ids grow by one per new segment.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SegmentId(pub u64);

impl SegmentId {
    /// The id of the segment created after this one.
    pub fn next(self) -> Self {
        Self(self.0 + 1)
    }
}

impl fmt::Display for SegmentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// Position of a record: its segment and the byte offset of the record
/// within the segment file. Ordered by append order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Lsn {
    /// Segment holding the record.
    pub segment: SegmentId,
    /// Byte offset of the record header within the segment file.
    pub offset: u64,
}

impl fmt::Display for Lsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.segment, self.offset)
    }
}

/// A segment file of the WAL, as listed by [`Wal::segments`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Id of the segment.
    pub id: SegmentId,
    /// Path of the segment file.
    pub path: PathBuf,
    /// Size of the file in bytes (for the active segment: up to the last
    /// acknowledged record).
    pub bytes: u64,
    /// Number of valid records in the segment.
    pub records: u64,
    /// Position of the last valid record, if any.
    pub last_record: Option<Lsn>,
    /// Whether this is the segment appends currently go to.
    pub active: bool,
}

/// A range of bytes skipped during replay because it held no valid record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CorruptRegion {
    /// Segment holding the range.
    pub segment: SegmentId,
    /// Byte offset of the range within the segment file.
    pub offset: u64,
    /// Length of the range in bytes.
    pub len: u64,
}

/// What [`Wal::open`] found while replaying.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReplayReport {
    /// Records handed to the callback.
    pub records: u64,
    /// Payload bytes handed to the callback.
    pub bytes: u64,
    /// Segment files read (including skipped and removed ones).
    pub segments: usize,
    /// Bytes cut from the end of the last segment (a torn tail), plus the
    /// size of a removed last segment whose header was incomplete.
    pub torn_tail_truncated_bytes: u64,
    /// Ranges skipped because they held no valid record, in file order.
    pub corrupt_regions: Vec<CorruptRegion>,
}

/// Errors of the WAL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalError {
    /// A file-system operation failed.
    #[error("failed to {op} {path}")]
    Io {
        /// The operation, e.g. `"fsync"`.
        op: &'static str,
        /// The file or directory operated on.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// An earlier write or fsync failed; the WAL accepts no more writes.
    #[error("wal is read-only after a failed {op} of {path}: {cause}")]
    Poisoned {
        /// The operation that failed, e.g. `"fsync"`.
        op: &'static str,
        /// The file it failed on.
        path: PathBuf,
        /// The error it failed with.
        cause: Arc<io::Error>,
    },
    /// The payload is larger than [`WalConfig::max_record_bytes`].
    #[error("wal record of {size} bytes exceeds the limit of {limit} bytes")]
    RecordTooLarge {
        /// Size of the refused payload.
        size: u64,
        /// The configured limit.
        limit: u64,
    },
    /// The WAL is shutting down or its writer thread is gone.
    #[error("wal is closed")]
    Closed,
    /// Another `Wal` (in this or another process) has the directory open.
    #[error("wal directory {path} is locked by another instance")]
    Locked {
        /// The WAL directory.
        path: PathBuf,
    },
    /// The replay callback of [`Wal::open`] failed on the record at `lsn`.
    #[error("wal replay callback failed at {lsn}")]
    Replay {
        /// Position of the record the callback failed on.
        lsn: Lsn,
        /// The callback's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A segment was written by an unknown version of the format.
    #[error("wal segment {path} has unsupported format version {version}")]
    UnsupportedVersion {
        /// The segment file.
        path: PathBuf,
        /// The version found in its header.
        version: u32,
    },
}

pub(crate) fn io_error(op: &'static str, path: &Path, source: io::Error) -> WalError {
    WalError::Io {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Makes creations and deletions of files in `dir` durable.
pub(crate) fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

pub(crate) fn sync_dir(dir: &Path) -> Result<(), WalError> {
    fsync_dir(dir).map_err(|e| io_error("fsync", dir, e))
}

/// File operation about to be performed by the WAL, as seen by a
/// [`FaultHook`].
#[doc(hidden)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IoOp {
    /// A write to a segment file.
    Write,
    /// An fsync of a segment file.
    Sync,
}

/// Fault injector for tests: called before every segment write and fsync;
/// an `Err` is treated as the failure of that operation.
#[doc(hidden)]
pub type FaultHook = Arc<dyn Fn(IoOp, &Path) -> io::Result<()> + Send + Sync>;

/// The write-ahead log. See the [module documentation](self).
///
/// `Wal` is `Send + Sync`; share it with `Arc` to append from many threads.
/// Dropping it behaves like [`Wal::close`] without the result.
pub struct Wal {
    shared: Arc<Shared>,
    config: WalConfig,
    writer: Option<JoinHandle<Result<(), WalError>>>,
    /// Holds the directory lock until the writer is gone.
    _lock: File,
}

impl fmt::Debug for Wal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Wal")
            .field("config", &self.config)
            .field("active", &self.shared.segments.lock().active)
            .finish_non_exhaustive()
    }
}

impl Wal {
    /// Opens (or creates) the WAL in `config.dir`, hands every valid record
    /// to `on_record` in order, repairs a torn tail, and starts a fresh
    /// segment for appending.
    ///
    /// Fails on I/O errors, if the directory is locked by another instance,
    /// on an unsupported segment format, or with [`WalError::Replay`] if the
    /// callback fails (then the WAL is not opened). Corruption never fails
    /// the open; see [`ReplayReport`].
    pub fn open<E, F>(config: WalConfig, on_record: F) -> Result<(Wal, ReplayReport), WalError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnMut(Lsn, &[u8]) -> Result<(), E>,
    {
        Self::open_inner(config, None, on_record)
    }

    /// [`Wal::open`] with a fault injector, for tests.
    #[doc(hidden)]
    pub fn open_with_fault_hook<E, F>(
        config: WalConfig,
        hook: FaultHook,
        on_record: F,
    ) -> Result<(Wal, ReplayReport), WalError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnMut(Lsn, &[u8]) -> Result<(), E>,
    {
        Self::open_inner(config, Some(hook), on_record)
    }

    fn open_inner<E, F>(
        config: WalConfig,
        hook: Option<FaultHook>,
        mut on_record: F,
    ) -> Result<(Wal, ReplayReport), WalError>
    where
        E: Into<Box<dyn std::error::Error + Send + Sync>>,
        F: FnMut(Lsn, &[u8]) -> Result<(), E>,
    {
        let dir = config.dir.clone();
        create_dir(&dir)?;
        let lock = lock_dir(&dir)?;

        let replayed = replay::replay_dir(&dir, &mut |lsn, payload: &[u8]| {
            on_record(lsn, payload).map_err(|e| WalError::Replay {
                lsn,
                source: e.into(),
            })
        })?;
        let active = replayed.next_id;
        let (file, path) = writer::create_segment(&dir, active, hook.as_ref())
            .map_err(writer::Poison::into_io_error)?;
        let mut segments = replayed.segments;
        segments.insert(
            active,
            SegmentMeta {
                bytes: format::SEGMENT_HEADER_LEN_U64,
                ..SegmentMeta::default()
            },
        );
        let report = replayed.report;
        tracing::info!(
            dir = %dir.display(),
            records = report.records,
            bytes = report.bytes,
            segments = report.segments,
            torn_tail_truncated_bytes = report.torn_tail_truncated_bytes,
            corrupt_regions = report.corrupt_regions.len(),
            active = %active,
            "wal: replayed"
        );

        let shared = Arc::new(Shared::new(dir.clone(), SegmentTable { active, segments }));
        let writer = Writer::new(
            Arc::clone(&shared),
            WriterConfig {
                policy: config.sync,
                sync_interval: config.sync_interval,
                segment_bytes: config.segment_bytes,
            },
            hook,
            active,
            file,
            path,
        );
        let guard = writer::ExitGuard(Arc::clone(&shared));
        let handle = std::thread::Builder::new()
            .name("arbor-wal".to_owned())
            .spawn(move || {
                let _guard = guard;
                writer.run()
            })
            .map_err(|e| io_error("spawn the writer thread for", &dir, e))?;

        let wal = Wal {
            shared,
            config,
            writer: Some(handle),
            _lock: lock,
        };
        Ok((wal, report))
    }

    /// The configuration the WAL was opened with.
    /// How long the group fsyncs took so far.
    pub fn sync_times(&self) -> writer::SyncHistogram {
        self.shared.syncs.snapshot()
    }

    pub fn config(&self) -> &WalConfig {
        &self.config
    }

    /// The WAL directory.
    pub fn dir(&self) -> &Path {
        &self.config.dir
    }

    /// Appends `payload` and blocks until it is durable under the sync
    /// policy. Returns the record's position.
    ///
    /// Do not call this on an async runtime's worker thread; use
    /// [`Wal::append_async`] there.
    pub fn append(&self, payload: Vec<u8>) -> Result<Lsn, WalError> {
        let header = self.record_header(&payload)?;
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.submit(Request::Append {
            header,
            payload,
            ack: Ack::Blocking(tx),
        })?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Appends `payload`; the returned future resolves once the record is
    /// durable under the sync policy.
    ///
    /// The record is queued when this function is called (so records are
    /// ordered by call, not by first poll), and is written even if the
    /// future is dropped. No runtime is needed inside the WAL; the future
    /// can be awaited on any executor.
    pub fn append_async(
        &self,
        payload: Vec<u8>,
    ) -> impl Future<Output = Result<Lsn, WalError>> + Send + 'static {
        let queued = self.record_header(&payload).and_then(|header| {
            let (tx, rx) = oneshot::channel();
            self.shared
                .submit(Request::Append {
                    header,
                    payload,
                    ack: Ack::Async(tx),
                })
                .map(|()| rx)
        });
        async move { queued?.await.unwrap_or(Err(WalError::Closed)) }
    }

    /// Writes and fsyncs everything appended so far, under every policy.
    /// Blocks until done.
    pub fn sync(&self) -> Result<(), WalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.submit(Request::Sync {
            ack: Ack::Blocking(tx),
        })?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Closes the active segment (after fsyncing it) and starts a new one.
    ///
    /// Returns the id of the last segment that can hold records appended
    /// before this call: every record whose append returned before `rotate`
    /// was called lies in a segment with an id at most the returned one, and
    /// later appends go to segments with larger ids. If the active segment
    /// holds no records, no new segment is created and the id before it is
    /// returned (`SegmentId(0)` if there is none).
    pub fn rotate(&self) -> Result<SegmentId, WalError> {
        let (tx, rx) = mpsc::sync_channel(1);
        self.shared.submit(Request::Rotate {
            ack: Ack::Blocking(tx),
        })?;
        rx.recv().unwrap_or(Err(WalError::Closed))
    }

    /// Deletes every segment with an id at most `segment`, except the active
    /// one. Returns how many segment files were deleted.
    pub fn release_through(&self, segment: SegmentId) -> Result<usize, WalError> {
        self.release(|id, _| id <= segment)
    }

    /// Deletes every segment all of whose records lie before `lsn`, except
    /// the active one. Returns how many segment files were deleted.
    pub fn release_before(&self, lsn: Lsn) -> Result<usize, WalError> {
        self.release(|id, meta| id < lsn.segment || (id == lsn.segment && meta.bytes <= lsn.offset))
    }

    fn release(
        &self,
        covered: impl Fn(SegmentId, &SegmentMeta) -> bool,
    ) -> Result<usize, WalError> {
        let victims: Vec<(SegmentId, SegmentMeta)> = {
            let mut table = self.shared.segments.lock();
            let active = table.active;
            let victims: Vec<_> = table
                .segments
                .iter()
                .filter(|&(&id, meta)| id != active && covered(id, meta))
                .map(|(&id, &meta)| (id, meta))
                .collect();
            for (id, _) in &victims {
                table.segments.remove(id);
            }
            victims
        };
        if victims.is_empty() {
            return Ok(0);
        }

        let dir = &self.config.dir;
        let mut deleted = 0;
        let mut first_error = None;
        for (id, meta) in victims {
            let path = dir.join(segment_file_name(id));
            match fs::remove_file(&path) {
                Ok(()) => deleted += 1,
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => {
                    self.shared.segments.lock().segments.insert(id, meta);
                    first_error.get_or_insert(io_error("remove", &path, e));
                }
            }
        }
        sync_dir(dir)?;
        tracing::debug!(deleted, dir = %dir.display(), "wal: released segments");
        match first_error {
            Some(error) => Err(error),
            None => Ok(deleted),
        }
    }

    /// Why appends are refused now, if they are: the failed operation of a
    /// poisoned WAL (until it resumes in a new segment).
    pub fn poisoned(&self) -> Option<WalError> {
        self.shared.poisoned()
    }

    /// The segment files of the WAL, ordered by id; the last one is active.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let table = self.shared.segments.lock();
        table
            .segments
            .iter()
            .map(|(&id, meta)| SegmentInfo {
                id,
                path: self.config.dir.join(segment_file_name(id)),
                bytes: meta.bytes,
                records: meta.records,
                last_record: meta.last_record,
                active: id == table.active,
            })
            .collect()
    }

    /// Stops accepting appends, writes and fsyncs everything queued, and
    /// joins the writer thread. Fails if the final fsync fails or the WAL
    /// was poisoned.
    pub fn close(mut self) -> Result<(), WalError> {
        self.shutdown()
    }

    fn shutdown(&mut self) -> Result<(), WalError> {
        let Some(handle) = self.writer.take() else {
            return Ok(());
        };
        self.shared.begin_close();
        match handle.join() {
            Ok(result) => result,
            Err(_) => {
                tracing::error!(dir = %self.config.dir.display(), "wal: writer thread panicked");
                Err(WalError::Closed)
            }
        }
    }

    fn record_header(&self, payload: &[u8]) -> Result<[u8; RECORD_HEADER_LEN], WalError> {
        let limit = self.config.record_limit();
        let size = payload.len() as u64;
        if size > limit {
            return Err(WalError::RecordTooLarge { size, limit });
        }
        // Checksummed here, on the caller's thread, so that concurrent
        // appenders share the work.
        Ok(encode_record_header(payload))
    }
}

impl Drop for Wal {
    fn drop(&mut self) {
        if let Err(error) = self.shutdown() {
            tracing::error!(%error, "wal: close failed");
        }
    }
}

/// Creates `dir` if missing, making its creation durable.
fn create_dir(dir: &Path) -> Result<(), WalError> {
    if dir.is_dir() {
        return Ok(());
    }
    fs::create_dir_all(dir).map_err(|e| io_error("create directory", dir, e))?;
    if let Some(parent) = dir.parent().filter(|p| !p.as_os_str().is_empty()) {
        sync_dir(parent)?;
    }
    Ok(())
}

/// Takes the exclusive advisory lock on `dir`.
fn lock_dir(dir: &Path) -> Result<File, WalError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| io_error("open", &path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(WalError::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(io_error("lock", &path, e)),
    }
}
