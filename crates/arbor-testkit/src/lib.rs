//! Test support: [`TestServer`] runs the real `arbor` binary on free ports with its own data
//! directory, and [`spans`] makes span batches.

pub mod http;
pub mod s3;
pub mod spans;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use arbor_model::otlp::{ExportTraceServiceRequest, ExportTraceServiceResponse, TracesData};
use prost::Message;

/// Addresses from the listen file.
#[derive(Debug, Clone)]
pub struct Addrs {
    pub http: String,
    pub otlp_grpc: String,
    pub otlp_http: String,
    pub zipkin: String,
    pub jaeger: String,
}

/// An HTTP answer: status, headers (lowercase names), body.
pub type HttpAnswer = (u16, Vec<(String, String)>, Vec<u8>);

/// A running `arbor serve`. Killed when dropped.
pub struct TestServer {
    binary: PathBuf,
    child: Option<Child>,
    data_dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    extra_args: Vec<String>,
    envs: Vec<(String, String)>,
    pub addrs: Addrs,
    http: reqwest::blocking::Client,
}

impl TestServer {
    /// Starts a server with a fresh data directory.
    pub fn start(binary: &str, extra_args: &[&str]) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("data");
        Self::start_in(binary, &data_dir, extra_args, Some(tmp))
    }

    /// Starts a server on an existing data directory (kept by the caller).
    pub fn start_in(
        binary: &str,
        data_dir: &Path,
        extra_args: &[&str],
        tmp: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Self> {
        let mut s = Self::unlaunched(binary, data_dir, extra_args, tmp)?;
        s.launch()?;
        Ok(s)
    }

    fn unlaunched(
        binary: &str,
        data_dir: &Path,
        extra_args: &[&str],
        tmp: Option<tempfile::TempDir>,
    ) -> anyhow::Result<Self> {
        Ok(Self {
            binary: PathBuf::from(binary),
            child: None,
            data_dir: data_dir.to_path_buf(),
            _tmp: tmp,
            extra_args: extra_args.iter().map(|s| s.to_string()).collect(),
            envs: Vec::new(),
            addrs: Addrs {
                http: String::new(),
                otlp_grpc: String::new(),
                otlp_http: String::new(),
                zipkin: String::new(),
                jaeger: String::new(),
            },
            http: reqwest::blocking::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
        })
    }

    /// Starts a server with a fresh data directory and extra environment variables.
    pub fn start_with_env(
        binary: &str,
        extra_args: &[&str],
        envs: &[(&str, &str)],
    ) -> anyhow::Result<Self> {
        let tmp = tempfile::tempdir()?;
        let data_dir = tmp.path().join("data");
        let mut s = Self::unlaunched(binary, &data_dir, extra_args, Some(tmp))?;
        s.envs = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        s.launch()?;
        Ok(s)
    }

    fn log_path(&self) -> PathBuf {
        self.data_dir.with_extension("log")
    }

    /// The server's log so far (stderr), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    fn launch(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir)?;
        let listen_file = self.data_dir.with_extension("listen.json");
        let _ = std::fs::remove_file(&listen_file);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut cmd = serve_command(&self.binary, &self.data_dir);
        cmd.arg("--listen-file")
            .arg(&listen_file)
            .args(&self.extra_args)
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env_remove("ARBOR_CONFIG")
            .env(
                "ARBOR_LOG_LEVEL",
                std::env::var("ARBOR_TEST_LOG").unwrap_or_else(|_| "info".into()),
            )
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let child = cmd
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(text) = std::fs::read_to_string(&listen_file)
                && let Ok(v) = serde_json::from_str::<serde_json::Value>(&text)
            {
                let get = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                self.addrs = Addrs {
                    http: get("http"),
                    otlp_grpc: get("otlp_grpc"),
                    otlp_http: get("otlp_http"),
                    zipkin: get("zipkin"),
                    jaeger: get("jaeger"),
                };
                return Ok(());
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("arbor exited during start ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!("arbor did not become ready in 60s:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn http_url(&self) -> String {
        format!("http://{}", self.addrs.http)
    }
    pub fn otlp_http_url(&self) -> String {
        format!("http://{}", self.addrs.otlp_http)
    }
    pub fn otlp_grpc_url(&self) -> String {
        format!("http://{}", self.addrs.otlp_grpc)
    }
    pub fn zipkin_url(&self) -> String {
        format!("http://{}", self.addrs.zipkin)
    }

    pub fn jaeger_url(&self) -> String {
        format!("http://{}", self.addrs.jaeger)
    }
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, no chance to clean up.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// SIGTERM and wait for a clean exit; returns the exit status code.
    pub fn stop(&mut self) -> anyhow::Result<Option<i32>> {
        let Some(mut c) = self.child.take() else {
            return Ok(None);
        };
        Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status()
            .context("running kill")?;
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = c.try_wait()? {
                return Ok(status.code());
            }
            if Instant::now() > deadline {
                let _ = c.kill();
                bail!("arbor did not stop within 30s of SIGTERM:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Starts the binary again on the same data directory (new ports).
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill();
        self.launch()
    }

    pub fn get(&self, path: &str) -> anyhow::Result<reqwest::blocking::Response> {
        Ok(self
            .http
            .get(format!("{}{}", self.http_url(), path))
            .send()?)
    }

    /// Cuts the head into blocks now (`POST /flush`).
    pub fn flush(&self) -> anyhow::Result<()> {
        // A cut of a large head (and waiting for a cut or compaction under way) can take
        // longer than the client's usual 30 s.
        let resp = self
            .http
            .post(format!("{}/flush", self.http_url()))
            .timeout(Duration::from_secs(600))
            .send()?;
        if resp.status() != reqwest::StatusCode::NO_CONTENT {
            bail!(
                "flush: {} {}\n{}",
                resp.status(),
                resp.text().unwrap_or_default(),
                self.log()
            );
        }
        Ok(())
    }

    /// The value of an unlabelled metric on `/metrics`.
    pub fn metric(&self, name: &str) -> anyhow::Result<f64> {
        let text = self.get("/metrics")?.text()?;
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| anyhow::anyhow!("metric {name} not found"))
    }

    /// A trace by ID over the Tempo API in protobuf; `None` on 404.
    pub fn trace(&self, id_hex: &str) -> anyhow::Result<Option<TracesData>> {
        let resp = self
            .http
            .get(format!("{}/api/traces/{id_hex}", self.http_url()))
            .header("Accept", "application/protobuf")
            .send()?;
        if resp.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if !resp.status().is_success() {
            bail!(
                "GET trace {id_hex}: {} {}",
                resp.status(),
                resp.text().unwrap_or_default()
            );
        }
        Ok(Some(TracesData::decode(resp.bytes()?)?))
    }

    /// A trace by ID as OTLP/JSON (`/api/traces/<id>`).
    pub fn trace_json(&self, id_hex: &str) -> anyhow::Result<(u16, serde_json::Value)> {
        let resp = self.get(&format!("/api/traces/{id_hex}"))?;
        let status = resp.status().as_u16();
        let text = resp.text()?;
        Ok((
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text)),
        ))
    }

    /// POSTs a raw body to an ingest URL with the given headers.
    pub fn post(
        &self,
        url: &str,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> anyhow::Result<HttpAnswer> {
        let mut req = self.http.post(url).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send()?;
        let status = resp.status().as_u16();
        let hdrs = resp
            .headers()
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let mut body = Vec::new();
        resp.take(64 << 20).read_to_end(&mut body)?;
        Ok((status, hdrs, body))
    }

    /// Sends a batch over OTLP/HTTP protobuf; returns the status and the decoded answer.
    pub fn export_http(
        &self,
        req: &ExportTraceServiceRequest,
    ) -> anyhow::Result<(u16, Option<ExportTraceServiceResponse>)> {
        let (status, _, body) = self.post(
            &format!("{}/v1/traces", self.otlp_http_url()),
            req.encode_to_vec(),
            &[("Content-Type", "application/x-protobuf")],
        )?;
        let answer = if status == 200 {
            Some(ExportTraceServiceResponse::decode(&body[..])?)
        } else {
            None
        };
        Ok((status, answer))
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Mints a token with `arbor token <args>` (e.g. `--name ci --tenant a --grant read`):
/// (the token, shown on stderr; its token-file entry, printed on stdout).
pub fn mint_token(binary: &str, args: &[&str]) -> (String, String) {
    let out = Command::new(binary)
        .arg("token")
        .args(args)
        .output()
        .expect("running arbor token");
    assert!(out.status.success(), "arbor token {args:?}: {out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let token = stderr
        .split_whitespace()
        .find(|w| w.starts_with("arbor_"))
        .unwrap_or_else(|| panic!("no token in {stderr:?}"))
        .to_string();
    (token, String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` every 50 ms until it is true; false if it never was within `limit` (a bound
/// against a hang, never a measure of speed).
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    f()
}

/// `arbor serve` on a data directory with every listener on a free loopback port, as the
/// tests start it (add `--listen-file` to learn the ports).
pub fn serve_command(binary: &Path, data_dir: &Path) -> Command {
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .arg("--data-dir")
        .arg(data_dir)
        .args(["--http-listen", "127.0.0.1:0"])
        .args(["--otlp-grpc-listen", "127.0.0.1:0"])
        .args(["--otlp-http-listen", "127.0.0.1:0"])
        .args(["--zipkin-listen", "127.0.0.1:0"])
        .args(["--jaeger-listen", "127.0.0.1:0"]);
    cmd
}

/// CPU time (user + system) a process has used so far, from `/proc/<pid>/stat` (zero when
/// it cannot be read).
pub fn process_cpu(pid: u32) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let field = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime, in clock ticks.
    Duration::from_secs_f64((field(11) + field(12)) / clock_ticks())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be asked).
fn clock_ticks() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// Every span of a trace response, flattened, with its service name.
pub fn flatten(data: &TracesData) -> Vec<(String, arbor_model::otlp::Span)> {
    let mut out = Vec::new();
    for rs in &data.resource_spans {
        let service = arbor_model::otlp::service_name(rs.resource.as_ref())
            .unwrap_or("")
            .to_string();
        for ss in &rs.scope_spans {
            for s in &ss.spans {
                out.push((service.clone(), s.clone()));
            }
        }
    }
    out
}
