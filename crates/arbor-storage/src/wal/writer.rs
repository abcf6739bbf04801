//! The writer thread: owns the active segment file, forms commit groups from
//! queued requests, writes each group with one `write_all` and covers it
//! with one fsync (under [`SyncPolicy::Batch`]).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};
use tokio::sync::oneshot;

use super::format::{
    RECORD_HEADER_LEN, RECORD_HEADER_LEN_U64, SEGMENT_HEADER_LEN_U64, encode_segment_header,
    segment_file_name,
};
use super::replay::SegmentMeta;
use super::{FaultHook, IoOp, Lsn, SegmentId, SyncPolicy, WalError, fsync_dir};

/// Once the group buffer holds this much, it is written out before the
/// group is complete (the fsync still covers the whole group).
const FLUSH_THRESHOLD: usize = 4 << 20;
/// Payloads at least this large are written straight from the caller's
/// buffer instead of being copied into the group buffer.
const DIRECT_WRITE_THRESHOLD: usize = 1 << 20;
/// A group buffer that grew beyond this is shrunk back after its group.
const BUFFER_RETAIN: usize = 8 << 20;
/// How often a poisoned writer tries to resume in a new segment.
pub(super) const RECOVERY_INTERVAL: Duration = Duration::from_secs(1);

/// Where the result of a request goes.
pub(super) enum Ack<T> {
    Blocking(mpsc::SyncSender<Result<T, WalError>>),
    Async(oneshot::Sender<Result<T, WalError>>),
}

impl<T> Ack<T> {
    fn send(self, result: Result<T, WalError>) {
        // The waiter may have given up (dropped future); nothing to do then.
        match self {
            Ack::Blocking(tx) => {
                let _ = tx.send(result);
            }
            Ack::Async(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// Work for the writer thread.
pub(super) enum Request {
    Append {
        header: [u8; RECORD_HEADER_LEN],
        payload: Vec<u8>,
        ack: Ack<Lsn>,
    },
    Sync {
        ack: Ack<()>,
    },
    Rotate {
        ack: Ack<SegmentId>,
    },
}

/// Why the WAL stopped accepting writes.
#[derive(Clone, Debug)]
pub(super) struct Poison {
    pub(super) op: &'static str,
    pub(super) path: PathBuf,
    pub(super) cause: Arc<io::Error>,
}

impl Poison {
    fn new(op: &'static str, path: &Path, cause: io::Error) -> Self {
        Self {
            op,
            path: path.to_path_buf(),
            cause: Arc::new(cause),
        }
    }

    /// The error for an operation that failed before the WAL was running.
    pub(super) fn into_io_error(self) -> WalError {
        let source = Arc::try_unwrap(self.cause)
            .unwrap_or_else(|shared| io::Error::new(shared.kind(), shared.to_string()));
        WalError::Io {
            op: self.op,
            path: self.path,
            source,
        }
    }

    pub(super) fn to_error(&self) -> WalError {
        WalError::Poisoned {
            op: self.op,
            path: self.path.clone(),
            cause: Arc::clone(&self.cause),
        }
    }
}

/// Requests waiting for the writer, guarded by [`Shared::inbox`].
#[derive(Default)]
pub(super) struct Inbox {
    requests: Vec<Request>,
    /// A request that must not wait for the sync interval is queued.
    urgent: bool,
    /// The WAL is shutting down: no new requests are accepted.
    closing: bool,
    poison: Option<Poison>,
}

/// The segment files of the WAL, guarded by [`Shared::segments`].
#[derive(Debug)]
pub(super) struct SegmentTable {
    pub(super) active: SegmentId,
    pub(super) segments: BTreeMap<SegmentId, SegmentMeta>,
}

/// State shared by the [`super::Wal`] handle and the writer thread.
pub(super) struct Shared {
    pub(super) dir: PathBuf,
    inbox: Mutex<Inbox>,
    wake: Condvar,
    pub(super) segments: Mutex<SegmentTable>,
    pub(super) syncs: SyncTimes,
}

/// Upper bounds (seconds) of the fsync latency histogram.
pub const SYNC_BUCKETS: [f64; 10] = [
    0.000_5, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0,
];

/// How long the log's group fsyncs took: a histogram over [`SYNC_BUCKETS`].
#[derive(Debug, Default)]
pub struct SyncTimes {
    counts: [std::sync::atomic::AtomicU64; SYNC_BUCKETS.len() + 1],
    sum_ns: std::sync::atomic::AtomicU64,
}

/// A copy of [`SyncTimes`]: per-bucket counts (not cumulative, the last is +Inf) and the
/// sum in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncHistogram {
    pub counts: [u64; SYNC_BUCKETS.len() + 1],
    pub sum_seconds: f64,
}

impl SyncTimes {
    fn record(&self, took: Duration) {
        use std::sync::atomic::Ordering::Relaxed;
        let secs = took.as_secs_f64();
        let i = SYNC_BUCKETS
            .iter()
            .position(|b| secs <= *b)
            .unwrap_or(SYNC_BUCKETS.len());
        self.counts[i].fetch_add(1, Relaxed);
        self.sum_ns.fetch_add(took.as_nanos() as u64, Relaxed);
    }

    pub fn snapshot(&self) -> SyncHistogram {
        use std::sync::atomic::Ordering::Relaxed;
        let mut h = SyncHistogram::default();
        for (o, c) in h.counts.iter_mut().zip(&self.counts) {
            *o = c.load(Relaxed);
        }
        h.sum_seconds = self.sum_ns.load(Relaxed) as f64 / 1e9;
        h
    }
}

impl Shared {
    pub(super) fn new(dir: PathBuf, table: SegmentTable) -> Self {
        Self {
            dir,
            inbox: Mutex::new(Inbox::default()),
            wake: Condvar::new(),
            segments: Mutex::new(table),
            syncs: SyncTimes::default(),
        }
    }

    /// Queues a request for the writer, or refuses it if the WAL is
    /// poisoned or closing.
    pub(super) fn submit(&self, request: Request) -> Result<(), WalError> {
        let mut inbox = self.inbox.lock();
        if let Some(poison) = &inbox.poison {
            return Err(poison.to_error());
        }
        if inbox.closing {
            return Err(WalError::Closed);
        }
        let urgent = !matches!(request, Request::Append { .. });
        // The writer only sleeps on an empty queue, or on a non-empty one
        // until the sync interval ends (which only urgent work cuts short).
        let wake = inbox.requests.is_empty() || (urgent && !inbox.urgent);
        inbox.urgent |= urgent;
        inbox.requests.push(request);
        drop(inbox);
        if wake {
            self.wake.notify_one();
        }
        Ok(())
    }

    /// The error appends get now, if the WAL is poisoned.
    pub(super) fn poisoned(&self) -> Option<WalError> {
        self.inbox.lock().poison.as_ref().map(Poison::to_error)
    }

    /// Stops accepting requests and tells the writer to finish.
    pub(super) fn begin_close(&self) {
        self.inbox.lock().closing = true;
        self.wake.notify_one();
    }
}

/// Held by the writer thread; when the thread ends, even by panicking, it
/// closes the inbox and drops what is still queued, so that waiters get
/// [`WalError::Closed`] instead of waiting forever.
pub(super) struct ExitGuard(pub(super) Arc<Shared>);

impl Drop for ExitGuard {
    fn drop(&mut self) {
        let orphans = {
            let mut inbox = self.0.inbox.lock();
            inbox.closing = true;
            std::mem::take(&mut inbox.requests)
        };
        drop(orphans);
    }
}

/// Settings the writer needs.
pub(super) struct WriterConfig {
    pub(super) policy: SyncPolicy,
    pub(super) sync_interval: Duration,
    pub(super) segment_bytes: u64,
}

/// Creates segment `id` in `dir`: writes and syncs its header, then syncs
/// the directory. Returns the open file and its path.
pub(super) fn create_segment(
    dir: &Path,
    id: SegmentId,
    hook: Option<&FaultHook>,
) -> Result<(File, PathBuf), Poison> {
    let path = dir.join(segment_file_name(id));
    let mut file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(|e| Poison::new("create", &path, e))?;
    run_hook(hook, IoOp::Write, &path)
        .and_then(|()| file.write_all(&encode_segment_header(id)))
        .map_err(|e| Poison::new("write", &path, e))?;
    run_hook(hook, IoOp::Sync, &path)
        .and_then(|()| file.sync_all())
        .map_err(|e| Poison::new("fsync", &path, e))?;
    fsync_dir(dir).map_err(|e| Poison::new("fsync", dir, e))?;
    Ok((file, path))
}

fn run_hook(hook: Option<&FaultHook>, op: IoOp, path: &Path) -> io::Result<()> {
    hook.map_or(Ok(()), |hook| hook(op, path))
}

/// The writer thread's state.
pub(super) struct Writer {
    shared: Arc<Shared>,
    config: WriterConfig,
    hook: Option<FaultHook>,
    file: File,
    path: PathBuf,
    segment: SegmentId,
    /// Length of the active segment including bytes still in `buf`.
    segment_len: u64,
    segment_records: u64,
    last_record: Option<Lsn>,
    /// Bytes of the current group not yet handed to the OS.
    buf: Vec<u8>,
    /// Written to the OS since the last fsync.
    dirty: bool,
    /// Appends of the current group, acknowledged once durable.
    pending: Vec<(Lsn, Ack<Lsn>)>,
    last_sync: Option<Instant>,
    poison: Option<Poison>,
    last_recovery: Option<Instant>,
}

impl Writer {
    pub(super) fn new(
        shared: Arc<Shared>,
        config: WriterConfig,
        hook: Option<FaultHook>,
        segment: SegmentId,
        file: File,
        path: PathBuf,
    ) -> Self {
        Self {
            shared,
            config,
            hook,
            file,
            path,
            segment,
            segment_len: SEGMENT_HEADER_LEN_U64,
            segment_records: 0,
            last_record: None,
            buf: Vec::new(),
            dirty: false,
            pending: Vec::new(),
            last_sync: None,
            poison: None,
            last_recovery: None,
        }
    }

    /// Serves requests until the WAL is closed, then makes everything
    /// durable. Returns the final state: an error if the WAL is poisoned.
    pub(super) fn run(mut self) -> Result<(), WalError> {
        let mut batch = Vec::new();
        loop {
            if self.poison.is_some() {
                self.try_recover();
            }
            let closing = self.next_batch(&mut batch);
            for request in batch.drain(..) {
                self.handle(request);
            }
            if self.poison.is_none() {
                // Complete the group: write, fsync per policy, acknowledge.
                let sync = self.config.policy != SyncPolicy::None;
                if let Err(poison) = self.commit(sync) {
                    self.set_poison(poison);
                }
            }
            if closing {
                break;
            }
        }
        if self.poison.is_none()
            && let Err(poison) = self.commit(true)
        {
            self.set_poison(poison);
        }
        match &self.poison {
            Some(poison) => Err(poison.to_error()),
            None => Ok(()),
        }
    }

    /// Waits for work and moves it into `batch`. Under `Batch`, waits until
    /// the sync interval since the last fsync has passed, so that more
    /// requests join the group. Returns whether the WAL is closing.
    fn next_batch(&mut self, batch: &mut Vec<Request>) -> bool {
        let shared = Arc::clone(&self.shared);
        let mut inbox = shared.inbox.lock();
        if self.poison.is_some() {
            // Nothing is queued while poisoned (submit refuses): wake up to try recovery.
            if inbox.requests.is_empty() && !inbox.closing {
                shared.wake.wait_for(&mut inbox, RECOVERY_INTERVAL);
            }
            std::mem::swap(&mut inbox.requests, batch);
            return inbox.closing;
        }
        while inbox.requests.is_empty() && !inbox.closing {
            shared.wake.wait(&mut inbox);
        }
        if self.config.policy == SyncPolicy::Batch
            && self.poison.is_none()
            && let Some(last_sync) = self.last_sync
        {
            let deadline = last_sync + self.config.sync_interval;
            while !inbox.closing && !inbox.urgent && Instant::now() < deadline {
                if shared.wake.wait_until(&mut inbox, deadline).timed_out() {
                    break;
                }
            }
        }
        inbox.urgent = false;
        std::mem::swap(&mut inbox.requests, batch);
        inbox.closing
    }

    fn handle(&mut self, request: Request) {
        if let Some(poison) = &self.poison {
            let error = poison.to_error();
            match request {
                Request::Append { ack, .. } => ack.send(Err(error)),
                Request::Sync { ack } => ack.send(Err(error)),
                Request::Rotate { ack } => ack.send(Err(error)),
            }
            return;
        }
        match request {
            Request::Append {
                header,
                payload,
                ack,
            } => {
                if let Err(poison) = self.append(&header, payload, ack) {
                    self.set_poison(poison);
                }
            }
            Request::Sync { ack } => match self.commit(true) {
                Ok(()) => ack.send(Ok(())),
                Err(poison) => {
                    ack.send(Err(poison.to_error()));
                    self.set_poison(poison);
                }
            },
            Request::Rotate { ack } => match self.rotate() {
                Ok(closed) => ack.send(Ok(closed)),
                Err(poison) => {
                    ack.send(Err(poison.to_error()));
                    self.set_poison(poison);
                }
            },
        }
    }

    fn append(
        &mut self,
        header: &[u8; RECORD_HEADER_LEN],
        payload: Vec<u8>,
        ack: Ack<Lsn>,
    ) -> Result<(), Poison> {
        let record_len = RECORD_HEADER_LEN_U64 + payload.len() as u64;
        if self.segment_records > 0 && self.segment_len + record_len > self.config.segment_bytes {
            self.start_new_segment()?;
        }
        let lsn = Lsn {
            segment: self.segment,
            offset: self.segment_len,
        };
        self.pending.push((lsn, ack));
        self.buf.extend_from_slice(header);
        if payload.len() >= DIRECT_WRITE_THRESHOLD {
            self.write_buffer()?;
            self.write_bytes(&payload)?;
        } else {
            self.buf.extend_from_slice(&payload);
        }
        drop(payload);
        self.segment_len += record_len;
        self.segment_records += 1;
        self.last_record = Some(lsn);
        if self.config.policy == SyncPolicy::Always {
            self.commit(true)?;
        } else if self.buf.len() >= FLUSH_THRESHOLD {
            self.write_buffer()?;
        }
        Ok(())
    }

    /// Writes the buffered group, fsyncs if `sync` and anything is unsynced,
    /// then acknowledges the pending appends.
    fn commit(&mut self, sync: bool) -> Result<(), Poison> {
        self.write_buffer()?;
        if sync && self.dirty {
            let started = Instant::now();
            self.last_sync = Some(started);
            run_hook(self.hook.as_ref(), IoOp::Sync, &self.path)
                .and_then(|()| self.file.sync_data())
                .map_err(|e| Poison::new("fsync", &self.path, e))?;
            self.shared.syncs.record(started.elapsed());
            self.dirty = false;
        }
        if !self.pending.is_empty() {
            self.publish_segment_len();
            for (lsn, ack) in self.pending.drain(..) {
                ack.send(Ok(lsn));
            }
        }
        if self.buf.capacity() > BUFFER_RETAIN {
            self.buf = Vec::new();
        }
        Ok(())
    }

    fn write_buffer(&mut self) -> Result<(), Poison> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let buf = std::mem::take(&mut self.buf);
        let result = self.write_bytes(&buf);
        self.buf = buf;
        self.buf.clear();
        result
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), Poison> {
        self.dirty = true;
        run_hook(self.hook.as_ref(), IoOp::Write, &self.path)
            .and_then(|()| self.file.write_all(bytes))
            .map_err(|e| Poison::new("write", &self.path, e))
    }

    /// Handles an explicit rotation: the active segment is closed unless it
    /// holds no records. Returns the id of the last segment that can hold
    /// records appended before this call.
    fn rotate(&mut self) -> Result<SegmentId, Poison> {
        if self.segment_records == 0 {
            return Ok(SegmentId(self.segment.0.saturating_sub(1)));
        }
        let closed = self.segment;
        self.start_new_segment()?;
        Ok(closed)
    }

    /// Makes the active segment durable (whatever the policy: closed
    /// segments are always synced), then opens the next one.
    fn start_new_segment(&mut self) -> Result<(), Poison> {
        self.commit(true)?;
        let next = self.segment.next();
        let (file, path) = create_segment(&self.shared.dir, next, self.hook.as_ref())?;
        let shared = Arc::clone(&self.shared);
        let mut table = shared.segments.lock();
        table.segments.insert(
            self.segment,
            SegmentMeta {
                bytes: self.segment_len,
                records: self.segment_records,
                last_record: self.last_record,
            },
        );
        tracing::debug!(closed = %self.segment, opened = %next, "wal: rotated segment");
        self.activate(&mut table, next, file, path);
        Ok(())
    }

    /// Makes `next`, just created, the segment appends go to: in the shared table and here.
    fn activate(&mut self, table: &mut SegmentTable, next: SegmentId, file: File, path: PathBuf) {
        table.segments.insert(
            next,
            SegmentMeta {
                bytes: SEGMENT_HEADER_LEN_U64,
                ..SegmentMeta::default()
            },
        );
        table.active = next;
        self.file = file;
        self.path = path;
        self.segment = next;
        self.segment_len = SEGMENT_HEADER_LEN_U64;
        self.segment_records = 0;
        self.last_record = None;
    }

    /// Records the size of the active segment in the shared table.
    fn publish_segment_len(&self) {
        let mut table = self.shared.segments.lock();
        if let Some(meta) = table.segments.get_mut(&self.segment) {
            meta.bytes = self.segment_len;
            meta.records = self.segment_records;
            meta.last_record = self.last_record;
        }
    }

    /// Leaves the poisoned state if the file system lets it: the segment that failed is
    /// closed as of its last acknowledged record (cut back to it, best effort: the bytes
    /// after it were never acknowledged), and appends go on in a new segment. Called at
    /// most every [`RECOVERY_INTERVAL`] while poisoned. A full disk that was freed, or a
    /// file system that came back, needs no restart; the failed file is never written or
    /// fsynced again, so no page of unknown state is trusted.
    fn try_recover(&mut self) {
        let Some(poison) = &self.poison else { return };
        if self
            .last_recovery
            .is_some_and(|t| t.elapsed() < RECOVERY_INTERVAL)
        {
            return;
        }
        self.last_recovery = Some(Instant::now());
        let next = self.segment.next();
        let (file, path) = match create_segment(&self.shared.dir, next, self.hook.as_ref()) {
            Ok(created) => created,
            Err(still) => {
                // A half-made segment is removed, so the next attempt can create it again.
                let _ = std::fs::remove_file(self.shared.dir.join(segment_file_name(next)));
                tracing::debug!(error = %still.cause, "wal: still cannot write; refusing appends");
                return;
            }
        };
        let failed = self.segment;
        // The failed segment stays in the table as last published: its acknowledged records.
        let kept = self
            .shared
            .segments
            .lock()
            .segments
            .get(&failed)
            .map(|m| m.bytes);
        if let Some(len) = kept {
            // Best effort: replay would skip these bytes (and report them) anyway.
            let _ = self.file.set_len(len).and_then(|()| self.file.sync_all());
        }
        tracing::warn!(
            failed_op = poison.op,
            failed_path = %poison.path.display(),
            cause = %poison.cause,
            closed = %failed,
            opened = %next,
            "wal: writing again, in a new segment; appends are accepted"
        );
        let shared = Arc::clone(&self.shared);
        self.activate(&mut shared.segments.lock(), next, file, path);
        self.buf.clear();
        self.dirty = false;
        self.last_sync = None;
        self.poison = None;
        self.shared.inbox.lock().poison = None;
    }

    /// Enters the read-only state: fails the current group and everything
    /// queued, and makes [`Shared::submit`] refuse new requests until
    /// [`Self::try_recover`] succeeds.
    fn set_poison(&mut self, poison: Poison) {
        tracing::error!(
            op = poison.op,
            path = %poison.path.display(),
            error = %poison.cause,
            "wal: i/o failure, refusing further writes"
        );
        // Refuse new requests before failing the pending ones, so that a caller told its
        // append failed already sees the log poisoned.
        self.shared.inbox.lock().poison = Some(poison.clone());
        for (_, ack) in self.pending.drain(..) {
            ack.send(Err(poison.to_error()));
        }
        self.buf.clear();
        self.poison = Some(poison);
        self.last_recovery = Some(Instant::now());
    }
}
