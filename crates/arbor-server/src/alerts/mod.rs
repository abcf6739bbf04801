//! Alerts: rules over the derived series and TraceQL, evaluated every `alerts.interval`,
//! moving through inactive → pending → firing → resolved, and notifications delivered to
//! webhooks with retries. See docs/alerts.md.
//!
//! Rules come from the rules file (read-only here) and the API (kept in
//! `<data_dir>/alerts/rules.json`). The state of every rule, the history of transitions and
//! the notifications not yet delivered are kept in `<data_dir>/alerts/state.json`, written
//! (to a temporary file, then renamed) after every change, so a restart neither loses nor
//! repeats an alert. Each rule reads one tenant's data (the default tenant unless it names
//! one).

pub mod api;
pub mod eval;
pub mod notify;
pub mod rules;
mod task;

pub use task::run;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arbor_derived::{Deriver, Timeline};
use arbor_query::search::metrics;
use arbor_storage::Store;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use crate::config::{AlertsConfig, ReceiverConfig};
use notify::Notification;
use rules::{Kind, Rule};

/// How often the example traces of a breaching rule are looked for again.
const EXAMPLES_EVERY_MS: i64 = 60_000;

/// Transitions kept in the history.
pub(crate) const HISTORY: usize = 1_000;

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Where a rule comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    File,
    Api,
}

/// A rule's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Inactive,
    Pending,
    Firing,
    Error,
}

/// What is known of one rule now.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleState {
    pub state: Phase,
    /// When the state was entered (Unix ms).
    pub since: i64,
    /// When the current firing began (Unix ms), the notifications' identity.
    pub fired_at: Option<i64>,
    pub value: Option<f64>,
    pub threshold: Option<f64>,
    pub error: Option<String>,
    pub example_traces: Vec<String>,
    pub silenced_until: Option<i64>,
    pub evaluated_at: Option<i64>,
    /// When the example traces were found (Unix ms).
    #[serde(default)]
    pub examples_at: Option<i64>,
}

impl Default for RuleState {
    fn default() -> Self {
        Self {
            state: Phase::Inactive,
            since: now_ms(),
            fired_at: None,
            value: None,
            threshold: None,
            error: None,
            example_traces: Vec::new(),
            silenced_until: None,
            evaluated_at: None,
            examples_at: None,
        }
    }
}

/// One change of a rule's state.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transition {
    pub rule: String,
    pub from: String,
    pub to: String,
    pub at: i64,
    pub value: Option<f64>,
    pub example_traces: Vec<String>,
}

/// What survives a restart.
#[derive(Debug, Default, Serialize, Deserialize)]
struct Saved {
    states: BTreeMap<String, RuleState>,
    history: VecDeque<Transition>,
    outbox: VecDeque<Notification>,
}

#[derive(Default)]
pub(crate) struct Inner {
    /// The file's rules, then the API's, by name.
    file_rules: Vec<Rule>,
    api_rules: Vec<Rule>,
    /// The rules file's last modification seen, and the error of its last reading.
    file_seen: Option<SystemTime>,
    pub(crate) file_error: Option<String>,
    states: BTreeMap<String, RuleState>,
    history: VecDeque<Transition>,
    pub(crate) outbox: VecDeque<Notification>,
    /// Counters for /metrics.
    failures: BTreeMap<String, u64>,
    pub(crate) deliveries: BTreeMap<(String, &'static str), u64>,
    /// Evaluation rounds per [`EVAL_BUCKETS`] bucket (the last is +Inf), their sum.
    eval_counts: [u64; EVAL_BUCKETS.len() + 1],
    eval_sum: f64,
    /// Evaluation rounds or rules-file readings that panicked (and were survived), and
    /// when the last round finished (Unix ms).
    pub(crate) panics: u64,
    pub(crate) last_round_ms: Option<i64>,
}

/// The alerting of one server.
pub struct Alerts {
    pub(crate) config: AlertsConfig,
    /// `alerts.external_url`, else `http://<http listener>`: for links in notifications.
    pub(crate) base_url: String,
    dir: PathBuf,
    pub(crate) inner: Mutex<Inner>,
    pub(crate) http: reqwest::Client,
    /// The clients of receivers with TLS settings of their own (`ca_file`,
    /// `insecure_skip_verify`), by receiver; the others use `http`.
    pub(crate) clients: HashMap<String, reqwest::Client>,
    /// Serialises state writes.
    write: Mutex<()>,
    /// What each traceql rule with a filter has counted so far, by rule.
    traceql_counts: Mutex<HashMap<String, eval::TraceqlCounts>>,
}

/// Notifications waiting for one receiver, at most. Past it the oldest is dropped (counted
/// as `dropped` and logged), so that a receiver down for days cannot grow the outbox, and
/// `state.json` with it, without end.
pub(crate) const OUTBOX_PER_RECEIVER: usize = 1_000;

impl Inner {
    /// Queues a notification behind those of its receiver.
    fn enqueue(&mut self, n: Notification) {
        let waiting = self
            .outbox
            .iter()
            .filter(|o| o.receiver == n.receiver)
            .count();
        if waiting >= OUTBOX_PER_RECEIVER
            && let Some(pos) = self.outbox.iter().position(|o| o.receiver == n.receiver)
            && let Some(old) = self.outbox.remove(pos)
        {
            tracing::error!(receiver = %old.receiver, id = %old.id, waiting, "alert notification dropped: {OUTBOX_PER_RECEIVER} are waiting for this receiver");
            *self
                .deliveries
                .entry((old.receiver, "dropped"))
                .or_default() += 1;
        }
        self.outbox.push_back(n);
    }
}

/// Upper bounds (seconds) of the evaluation-time histogram.
const EVAL_BUCKETS: [f64; 9] = [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 15.0];

/// Replaces `path` with `bytes` so that a crash at any moment leaves the old file or the new
/// one, whole: written to a temporary file, synced, renamed over, then the directory synced
/// (so that the rename itself survives a power cut).
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

impl Alerts {
    /// Loads the rules file, the API rules and the saved state from `data_dir/alerts`.
    pub fn open(config: AlertsConfig, data_dir: &Path, base_url: String) -> anyhow::Result<Self> {
        let dir = data_dir.join("alerts");
        std::fs::create_dir_all(&dir)?;
        let receivers: Vec<String> = config.receivers.iter().map(|r| r.name.clone()).collect();
        let api_rules: Vec<Rule> = match std::fs::read(dir.join("rules.json")) {
            Ok(b) => serde_json::from_slice(&b).map_err(|e| {
                anyhow::anyhow!("reading {}: {e}", dir.join("rules.json").display())
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e.into()),
        };
        let saved: Saved = match std::fs::read(dir.join("state.json")) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "alerts/state.json cannot be read; starting with no alert state");
                Saved::default()
            }),
            Err(_) => Saved::default(),
        };
        let (file_rules, file_seen) = match &config.rules_file {
            None => (Vec::new(), None),
            Some(p) => {
                let seen = std::fs::metadata(p).and_then(|m| m.modified()).ok();
                let rules = rules::load_file(p, &receivers).map_err(|e| anyhow::anyhow!(e))?;
                (rules, seen)
            }
        };
        if let Some(dup) = api_rules
            .iter()
            .find(|r| file_rules.iter().any(|f| f.name == r.name))
        {
            tracing::warn!(rule = %dup.name, "an API rule has the name of a rule in the rules file; the file's wins");
        }
        let http = reqwest::Client::builder()
            .build()
            .map_err(|e| anyhow::anyhow!("making the webhook client: {e}"))?;
        let mut clients = HashMap::new();
        for r in &config.receivers {
            if let Some(c) = notify::receiver_client(r)
                .map_err(|e| anyhow::anyhow!("alerts.receivers {:?}: {e}", r.name))?
            {
                if r.insecure_skip_verify {
                    tracing::warn!(receiver = %r.name, "insecure_skip_verify: the receiver's certificate is not checked (for testing only)");
                }
                clients.insert(r.name.clone(), c);
            }
        }
        Ok(Self {
            config,
            base_url,
            dir,
            inner: Mutex::new(Inner {
                file_rules,
                api_rules,
                file_seen,
                file_error: None,
                states: saved.states,
                history: saved.history,
                outbox: saved.outbox,
                failures: BTreeMap::new(),
                deliveries: BTreeMap::new(),
                eval_counts: [0; EVAL_BUCKETS.len() + 1],
                eval_sum: 0.0,
                panics: 0,
                last_round_ms: None,
            }),
            http,
            clients,
            write: Mutex::new(()),
            traceql_counts: Mutex::new(HashMap::new()),
        })
    }

    pub fn receiver_names(&self) -> Vec<String> {
        self.config
            .receivers
            .iter()
            .map(|r| r.name.clone())
            .collect()
    }

    pub fn receiver(&self, name: &str) -> Option<&ReceiverConfig> {
        self.config.receivers.iter().find(|r| r.name == name)
    }

    /// Every rule in force with its source: the file's, then the API's not shadowed by it.
    pub fn rules(&self) -> Vec<(Rule, Source)> {
        let inner = self.inner.lock();
        let mut out: Vec<(Rule, Source)> = inner
            .file_rules
            .iter()
            .map(|r| (r.clone(), Source::File))
            .collect();
        for r in &inner.api_rules {
            if !out.iter().any(|(f, _)| f.name == r.name) {
                out.push((r.clone(), Source::Api));
            }
        }
        out
    }

    pub fn state_of(&self, name: &str) -> RuleState {
        self.inner
            .lock()
            .states
            .get(name)
            .cloned()
            .unwrap_or_default()
    }

    pub fn history(&self, limit: usize) -> Vec<Transition> {
        self.inner
            .lock()
            .history
            .iter()
            .rev()
            .take(limit)
            .cloned()
            .collect()
    }

    /// Reads the rules file again if it changed (or `force`); a bad file keeps the rules
    /// in force and is reported.
    pub fn reload_file(&self, force: bool) {
        let Some(path) = &self.config.rules_file else {
            return;
        };
        let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
        {
            let inner = self.inner.lock();
            if !force && modified == inner.file_seen {
                return;
            }
        }
        let result = rules::load_file(path, &self.receiver_names());
        let mut inner = self.inner.lock();
        inner.file_seen = modified;
        match result {
            Ok(rules) => {
                tracing::info!(rules = rules.len(), file = %path.display(), "alert rules read");
                inner.file_rules = rules;
                inner.file_error = None;
            }
            Err(e) => {
                tracing::error!(error = %e, "the alert rules file is not valid; the rules in force stay");
                inner.file_error = Some(e);
            }
        }
    }

    fn save_rules(&self, rules: &[Rule]) -> std::io::Result<()> {
        let bytes = serde_json::to_vec_pretty(rules).expect("rules serialise");
        write_atomically(&self.dir.join("rules.json"), &bytes)
    }

    /// Writes the state, history and outbox.
    pub(crate) fn save_state(&self) {
        let _one = self.write.lock();
        let bytes = {
            let inner = self.inner.lock();
            let saved = SavedRef {
                states: &inner.states,
                history: &inner.history,
                outbox: &inner.outbox,
            };
            serde_json::to_vec(&saved).expect("state serialises")
        };
        if let Err(e) = write_atomically(&self.dir.join("state.json"), &bytes) {
            tracing::error!(error = %e, "writing alerts/state.json failed");
        }
    }

    /// Adds or replaces an API rule (`replace`: must exist; else: must not).
    pub fn put_rule(&self, rule: Rule, replace: bool) -> Result<(), (u16, String)> {
        rule.check(&self.receiver_names()).map_err(|e| (400, e))?;
        let mut inner = self.inner.lock();
        if inner.file_rules.iter().any(|r| r.name == rule.name) {
            return Err((
                if replace { 403 } else { 409 },
                format!(
                    "rule {:?} comes from the rules file; change it there",
                    rule.name
                ),
            ));
        }
        let at = inner.api_rules.iter().position(|r| r.name == rule.name);
        match (at, replace) {
            (Some(_), false) => return Err((409, format!("rule {:?} exists", rule.name))),
            (None, true) => return Err((404, format!("no rule {:?}", rule.name))),
            (Some(i), true) => {
                inner.api_rules[i] = rule;
            }
            (None, false) => inner.api_rules.push(rule),
        }
        let rules = inner.api_rules.clone();
        drop(inner);
        self.save_rules(&rules).map_err(|e| (500, e.to_string()))
    }

    pub fn delete_rule(&self, name: &str) -> Result<(), (u16, String)> {
        let mut inner = self.inner.lock();
        if inner.file_rules.iter().any(|r| r.name == name) {
            return Err((
                403,
                format!("rule {name:?} comes from the rules file; remove it there"),
            ));
        }
        let before = inner.api_rules.len();
        inner.api_rules.retain(|r| r.name != name);
        if inner.api_rules.len() == before {
            return Err((404, format!("no rule {name:?}")));
        }
        inner.states.remove(name);
        let rules = inner.api_rules.clone();
        drop(inner);
        self.save_rules(&rules).map_err(|e| (500, e.to_string()))?;
        self.save_state();
        Ok(())
    }

    pub fn silence(&self, name: &str, until: Option<i64>) -> Result<(), (u16, String)> {
        if !self.rules().iter().any(|(r, _)| r.name == name) {
            return Err((404, format!("no rule {name:?}")));
        }
        self.inner
            .lock()
            .states
            .entry(name.to_string())
            .or_default()
            .silenced_until = until;
        self.save_state();
        Ok(())
    }

    /// The value of a latency, errors or serverless rule, from `timeline` (and, for a
    /// baseline or new-errors rule, the series of earlier days).
    async fn series_evaluation(
        rule: &Rule,
        store: &Store,
        deriver: Option<&Deriver>,
        timeline: &Timeline,
        now_ns: u64,
    ) -> Result<eval::Evaluation, String> {
        let tenant = rule.tenant();
        let deriver = deriver
            .ok_or("the derived views are off (derived.enabled = false): this rule reads them")?;
        let window = rule.window.0.as_nanos() as u64;
        if rule.kind == Kind::Serverless && rule.measure() == "new_errors" {
            let to = now_ns.saturating_sub(window);
            let from = eval::read_from(to.saturating_sub(eval::NEW_ERRORS_LOOKBACK), now_ns);
            let sc = crate::api::derived::sidecars_for(store, tenant, from, to).await?;
            let mut earlier = Timeline::new();
            deriver.collect(tenant, from, to, &sc, |s, w, f| {
                // Only the messages are read.
                if !f.errors.is_empty() {
                    let e = earlier.entry((s, w)).or_default();
                    for (k, m) in &f.errors {
                        let into = e.errors.entry(k.clone()).or_default();
                        for (msg, n) in m {
                            *into.entry(msg.clone()).or_default() += n;
                        }
                    }
                }
            });
            let new = eval::new_errors(rule, timeline, &earlier, now_ns);
            return Ok(eval::Evaluation {
                value: Some(new.len() as f64),
                threshold: rule.threshold(),
                examples: Vec::new(),
            });
        }
        let mut baseline = Vec::new();
        if rule.baseline_factor.is_some() {
            for ago in eval::baseline_days() {
                let to = now_ns.saturating_sub(ago);
                let from = eval::read_from(to.saturating_sub(window), now_ns);
                baseline.push((
                    ago,
                    Self::timeline(store, Some(deriver), tenant, from, to).await?,
                ));
            }
        }
        Ok(eval::series_value(rule, timeline, now_ns, &baseline))
    }

    /// Evaluates rules of one tenant. The series rules read `timeline` (that tenant's
    /// derived series over their longest window). What needs the spans — the traceql
    /// rules' values and the example traces of the rules that breach — is read in one scan
    /// of the data for all of them.
    pub async fn evaluate(
        &self,
        rules: &[&Rule],
        store: &Store,
        deriver: Option<&Deriver>,
        timeline: &Timeline,
        now_ns: u64,
        timeout: Duration,
    ) -> Vec<Result<eval::Evaluation, String>> {
        let Some(tenant) = rules.first().map(|r| r.tenant()) else {
            return Vec::new();
        };
        debug_assert!(rules.iter().all(|r| r.tenant() == tenant));
        let mut out: Vec<Option<Result<eval::Evaluation, String>>> =
            rules.iter().map(|_| None).collect();
        // The scan's queries, and what each is for: a traceql rule's value (with its counts,
        // taken out while the scan runs and put back after) or a rule's examples.
        let mut reqs = Vec::new();
        let mut uses: Vec<(usize, Option<(eval::TraceqlCounts, bool)>)> = Vec::new();
        for (i, rule) in rules.iter().enumerate() {
            if rule.kind != Kind::Traceql {
                out[i] =
                    Some(Self::series_evaluation(rule, store, deriver, timeline, now_ns).await);
                continue;
            }
            let mut counts = self
                .traceql_counts
                .lock()
                .remove(&rule.name)
                .unwrap_or_default();
            match eval::traceql_request(rule, tenant, now_ns, timeout, &mut counts) {
                Ok(t) => {
                    reqs.push(t.req);
                    uses.push((i, Some((counts, t.metrics_query))));
                }
                Err(e) => out[i] = Some(Err(e)),
            }
        }
        // Example traces are looked for when a rule starts to breach, then at most once a
        // minute while it does.
        let mut fresh: Vec<Option<Vec<String>>> = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            let st = self.state_of(&rule.name);
            let is_fresh = st
                .examples_at
                .is_some_and(|at| now_ms() - at < EXAMPLES_EVERY_MS)
                && !st.example_traces.is_empty();
            fresh.push(is_fresh.then_some(st.example_traces));
            let Some(Ok(ev)) = &out[i] else { continue };
            if is_fresh || !ev.breached() {
                continue;
            }
            let Some(filter) = eval::example_filter(rule, ev.threshold) else {
                continue;
            };
            let window = rule.window.0.as_nanos() as u64;
            match eval::examples_request(&filter, now_ns.saturating_sub(window), now_ns, timeout) {
                Ok(req) => {
                    reqs.push(req);
                    uses.push((i, None));
                }
                Err(e) => tracing::warn!(rule = %rule.name, error = %e, "example query"),
            }
        }
        let answers = if reqs.is_empty() {
            Vec::new()
        } else {
            metrics::query_range_many(&store.search_view(tenant), &reqs).await
        };
        for ((i, counts), answer) in uses.into_iter().zip(answers) {
            let rule = rules[i];
            match counts {
                Some((mut counts, metrics_query)) => {
                    out[i] = Some(
                        answer
                            .map(|r| {
                                eval::traceql_answer(rule, metrics_query, &r, now_ns, &mut counts)
                            })
                            .map_err(|e| e.to_string()),
                    );
                    self.traceql_counts.lock().insert(rule.name.clone(), counts);
                }
                None => match (answer, &mut out[i]) {
                    (Ok(r), Some(Ok(ev))) => ev.examples = eval::example_ids(&r, true),
                    (Err(e), _) => {
                        tracing::warn!(rule = %rule.name, error = %e, "finding example traces failed")
                    }
                    _ => {}
                },
            }
        }
        out.into_iter()
            .zip(fresh)
            .map(|(r, fresh)| {
                let mut ev = r.expect("every rule evaluated")?;
                if let Some(examples) = fresh
                    && ev.examples.is_empty()
                {
                    ev.examples = examples;
                }
                Ok(ev)
            })
            .collect()
    }

    /// The derived series of a tenant over `[from, to)` (none when the views are off).
    async fn timeline(
        store: &Store,
        deriver: Option<&Deriver>,
        tenant: &str,
        from: u64,
        to: u64,
    ) -> Result<Timeline, String> {
        let mut timeline = Timeline::new();
        if let Some(d) = deriver {
            let sc = crate::api::derived::sidecars_for(store, tenant, from, to).await?;
            d.collect(tenant, from, to, &sc, |s, w, f| {
                timeline.entry((s, w)).or_default().merge(f)
            });
        }
        Ok(timeline)
    }

    /// The derived series a window ending now reads (see [`eval::read_from`]).
    async fn recent_timeline(
        store: &Store,
        deriver: Option<&Deriver>,
        tenant: &str,
        window: u64,
        now_ns: u64,
    ) -> Result<Timeline, String> {
        let from = eval::read_from(now_ns.saturating_sub(window), now_ns);
        Self::timeline(store, deriver, tenant, from, now_ns).await
    }

    /// Evaluates one rule now, reading the series of its own window.
    pub async fn evaluate_now(
        &self,
        rule: &Rule,
        store: &Store,
        deriver: Option<&Deriver>,
        timeout: Duration,
    ) -> Result<eval::Evaluation, String> {
        let now_ns = now_ms() as u64 * 1_000_000;
        let timeline = if rule.kind == Kind::Traceql {
            Timeline::new()
        } else {
            let window = rule.window.0.as_nanos() as u64;
            Self::recent_timeline(store, deriver, rule.tenant(), window, now_ns).await?
        };
        self.evaluate(&[rule], store, deriver, &timeline, now_ns, timeout)
            .await
            .pop()
            .expect("one evaluation")
    }

    /// One round: every rule evaluated (tenant by tenant), states moved, notifications
    /// queued, state saved.
    /// Returns whether anything to keep changed (the caller saves the state, off the async
    /// workers: [`task::save_state_off_runtime`]).
    pub async fn round(&self, store: &Store, deriver: Option<&Deriver>, timeout: Duration) -> bool {
        let started = Instant::now();
        self.reload_file(false);
        let rules = self.rules();
        let now_ns = now_ms() as u64 * 1_000_000;
        let mut tenants: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (i, (r, _)) in rules.iter().enumerate() {
            tenants.entry(r.tenant()).or_default().push(i);
        }
        let mut results: Vec<Option<Result<eval::Evaluation, String>>> =
            rules.iter().map(|_| None).collect();
        for (tenant, idx) in tenants {
            // The series the tenant's rules read, gathered once: the longest window's worth.
            let longest = idx
                .iter()
                .map(|&i| &rules[i].0)
                .filter(|r| r.kind != Kind::Traceql)
                .map(|r| r.window.0.as_nanos() as u64)
                .max();
            let timeline = match longest {
                Some(window) => Self::recent_timeline(store, deriver, tenant, window, now_ns)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::warn!(tenant, error = %e, "reading derived series for alerts");
                        Timeline::new()
                    }),
                None => Timeline::new(),
            };
            let these: Vec<&Rule> = idx.iter().map(|&i| &rules[i].0).collect();
            let evaluated = self
                .evaluate(&these, store, deriver, &timeline, now_ns, timeout)
                .await;
            for (i, r) in idx.into_iter().zip(evaluated) {
                results[i] = Some(r);
            }
        }
        let results = results
            .into_iter()
            .map(|r| r.expect("every rule evaluated"));
        let now = now_ms();
        let mut changed = false;
        {
            let mut inner = self.inner.lock();
            let names: Vec<&str> = rules.iter().map(|(r, _)| r.name.as_str()).collect();
            inner.states.retain(|k, _| names.contains(&k.as_str()));
            for ((rule, _), result) in rules.iter().zip(results) {
                changed |= self.step(&mut inner, rule, result, now);
            }
            let took = started.elapsed().as_secs_f64();
            let i = EVAL_BUCKETS
                .iter()
                .position(|b| took <= *b)
                .unwrap_or(EVAL_BUCKETS.len());
            inner.eval_counts[i] += 1;
            inner.eval_sum += took;
            inner.last_round_ms = Some(now);
        }
        changed
    }

    /// Moves one rule's state by its evaluation; true when anything to keep changed.
    fn step(
        &self,
        inner: &mut Inner,
        rule: &Rule,
        result: Result<eval::Evaluation, String>,
        now: i64,
    ) -> bool {
        let st = inner.states.entry(rule.name.clone()).or_default();
        let before = st.state;
        st.evaluated_at = Some(now);
        let mut notify: Option<&'static str> = None;
        match result {
            Err(e) => {
                *inner.failures.entry(rule.name.clone()).or_default() += 1;
                let st = inner.states.get_mut(&rule.name).expect("just made");
                st.error = Some(e);
                if st.state != Phase::Firing && st.state != Phase::Error {
                    st.state = Phase::Error;
                    st.since = now;
                }
            }
            Ok(ev) => {
                st.error = None;
                st.value = ev.value;
                st.threshold = ev.threshold;
                if ev.breached() {
                    if !ev.examples.is_empty() && ev.examples != st.example_traces {
                        st.example_traces = ev.examples.clone();
                        st.examples_at = Some(now);
                    }
                    match st.state {
                        Phase::Inactive | Phase::Error => {
                            st.state = Phase::Pending;
                            st.since = now;
                        }
                        _ => {}
                    }
                    if st.state == Phase::Pending
                        && now - st.since >= rule.for_.0.as_millis() as i64
                    {
                        st.state = Phase::Firing;
                        st.since = now;
                        st.fired_at = Some(now);
                        notify = Some("firing");
                    }
                } else {
                    match st.state {
                        Phase::Firing => notify = Some("resolved"),
                        Phase::Pending | Phase::Error => {}
                        Phase::Inactive => {}
                    }
                    if st.state != Phase::Inactive {
                        st.state = Phase::Inactive;
                        st.since = now;
                    }
                    if notify.is_none() {
                        st.example_traces.clear();
                        st.examples_at = None;
                    }
                }
            }
        }
        let st = inner.states.get(&rule.name).expect("just made").clone();
        let changed = st.state != before || notify.is_some();
        if changed {
            let to = match (notify, st.state) {
                (Some("resolved"), _) => "resolved".to_string(),
                (_, p) => phase_name(p).to_string(),
            };
            inner.history.push_back(Transition {
                rule: rule.name.clone(),
                from: phase_name(before).to_string(),
                to,
                at: now,
                value: st.value,
                example_traces: st.example_traces.clone(),
            });
            while inner.history.len() > HISTORY {
                inner.history.pop_front();
            }
        }
        if let Some(status) = notify {
            let silenced = st.silenced_until.is_some_and(|u| u > now);
            if silenced {
                tracing::info!(rule = %rule.name, status, "alert silenced: no notification");
            } else {
                for receiver in self.receivers_of(rule) {
                    let n = self.notification(rule, &st, status, &receiver, now);
                    inner.enqueue(n);
                }
            }
            if status == "resolved"
                && let Some(st) = inner.states.get_mut(&rule.name)
            {
                st.example_traces.clear();
                st.examples_at = None;
                st.fired_at = None;
            }
        }
        changed
    }

    pub fn receivers_of(&self, rule: &Rule) -> Vec<String> {
        match &rule.receivers {
            Some(rs) => rs.clone(),
            None => self.receiver_names(),
        }
    }

    /// `/metrics` lines.
    pub fn render(&self, out: &mut String) {
        use std::fmt::Write as _;
        let inner = self.inner.lock();
        let mut by_state: HashMap<&str, u64> = HashMap::new();
        for p in [Phase::Inactive, Phase::Pending, Phase::Firing, Phase::Error] {
            by_state.insert(phase_name(p), 0);
        }
        let names: Vec<String> = inner
            .file_rules
            .iter()
            .chain(inner.api_rules.iter())
            .map(|r| r.name.clone())
            .collect();
        for n in &names {
            let p = inner.states.get(n).map_or(Phase::Inactive, |s| s.state);
            *by_state.entry(phase_name(p)).or_default() += 1;
        }
        let _ = writeln!(
            out,
            "# HELP arbor_alert_rules Alert rules by state.\n# TYPE arbor_alert_rules gauge"
        );
        let mut states: Vec<_> = by_state.into_iter().collect();
        states.sort();
        for (s, n) in states {
            let _ = writeln!(out, "arbor_alert_rules{{state=\"{s}\"}} {n}");
        }
        let _ = writeln!(
            out,
            "# HELP arbor_alert_rule_failures_total Evaluations of a rule that failed.\n# TYPE arbor_alert_rule_failures_total counter"
        );
        for (rule, n) in &inner.failures {
            let _ = writeln!(
                out,
                "arbor_alert_rule_failures_total{{rule=\"{}\"}} {n}",
                rule.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        let _ = writeln!(
            out,
            "# HELP arbor_alert_notifications_total Notification deliveries by receiver and result.\n# TYPE arbor_alert_notifications_total counter"
        );
        for ((receiver, result), n) in &inner.deliveries {
            let _ = writeln!(
                out,
                "arbor_alert_notifications_total{{receiver=\"{}\",result=\"{result}\"}} {n}",
                receiver.replace('\\', "\\\\").replace('"', "\\\"")
            );
        }
        let _ = writeln!(
            out,
            "# HELP arbor_alert_rules_file_valid 1 when the rules file read last was valid (or there is none), 0 when the rules in force are older than the file.\n# TYPE arbor_alert_rules_file_valid gauge\narbor_alert_rules_file_valid {}",
            u8::from(inner.file_error.is_none())
        );
        let _ = writeln!(
            out,
            "# HELP arbor_alert_evaluation_panics_total Evaluation rounds or rules-file readings that panicked; the loop went on.\n# TYPE arbor_alert_evaluation_panics_total counter\narbor_alert_evaluation_panics_total {}",
            inner.panics
        );
        if let Some(ms) = inner.last_round_ms {
            let _ = writeln!(
                out,
                "# HELP arbor_alert_last_evaluation_timestamp_seconds When the last evaluation round finished.\n# TYPE arbor_alert_last_evaluation_timestamp_seconds gauge\narbor_alert_last_evaluation_timestamp_seconds {:.3}",
                ms as f64 / 1000.0
            );
        }
        let name = "arbor_alert_evaluation_seconds";
        let _ = writeln!(
            out,
            "# HELP {name} How long one evaluation round of every rule took.\n# TYPE {name} histogram"
        );
        crate::metrics::histogram(
            out,
            name,
            "",
            &EVAL_BUCKETS,
            &inner.eval_counts,
            inner.eval_sum,
        );
    }
}

pub fn phase_name(p: Phase) -> &'static str {
    match p {
        Phase::Inactive => "inactive",
        Phase::Pending => "pending",
        Phase::Firing => "firing",
        Phase::Error => "error",
    }
}

#[derive(Serialize)]
struct SavedRef<'a> {
    states: &'a BTreeMap<String, RuleState>,
    history: &'a VecDeque<Transition>,
    outbox: &'a VecDeque<Notification>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_receivers_queue_is_bounded_and_drops_its_oldest() {
        let n = |receiver: &str, i: usize| Notification {
            id: format!("r/{i}/firing"),
            receiver: receiver.into(),
            body: serde_json::Value::Null,
            attempts: 0,
            next_at: 0,
            last_error: None,
        };
        let mut inner = Inner::default();
        inner.enqueue(n("other", 0));
        for i in 0..OUTBOX_PER_RECEIVER + 5 {
            inner.enqueue(n("down", i));
        }
        inner.enqueue(n("other", 1));
        let down: Vec<&str> = inner
            .outbox
            .iter()
            .filter(|o| o.receiver == "down")
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(down.len(), OUTBOX_PER_RECEIVER);
        assert_eq!(down[0], "r/5/firing");
        assert_eq!(
            down.last().copied(),
            Some(format!("r/{}/firing", OUTBOX_PER_RECEIVER + 4).as_str())
        );
        // Another receiver's queue is untouched.
        let other: Vec<&str> = inner
            .outbox
            .iter()
            .filter(|o| o.receiver == "other")
            .map(|o| o.id.as_str())
            .collect();
        assert_eq!(other, ["r/0/firing", "r/1/firing"]);
        assert_eq!(inner.deliveries[&("down".to_string(), "dropped")], 5);
    }
}
