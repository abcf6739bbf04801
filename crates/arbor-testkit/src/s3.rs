//! A real S3-compatible server for tests: [`S3Server`] runs `s3s-fs` on a free loopback
//! port over a fresh temporary directory, with one bucket and fixed credentials.
//!
//! Install the server with `cargo install s3s-fs@0.14.1 --features binary --locked` (the
//! project's test script does). [`S3Server::start`] returns `Ok(None)` when the binary is not
//! found, so a caller decides; tests must not skip silently: `expect` it unless
//! `ARBOR_SKIP_S3=1` (see [`S3Server::skip_requested`]). `ARBOR_S3S_FS` may name the binary.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

const BINARY: &str = "s3s-fs";
const ACCESS_KEY: &str = "arbor-test-access";
const SECRET_KEY: &str = "arbor-test-secret-key";
const REGION: &str = "us-east-1";
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `s3s-fs`. Killed when dropped; its directory is removed.
pub struct S3Server {
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// A bucket that exists, empty at start.
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    child: Option<Child>,
    root: PathBuf,
    log: PathBuf,
    _tmp: tempfile::TempDir,
}

impl S3Server {
    /// Starts a server with a fresh root and an empty bucket `arbor`, and waits until it
    /// answers HTTP. `Ok(None)` when `s3s-fs` is not installed.
    pub fn start() -> anyhow::Result<Option<S3Server>> {
        let Some(binary) = find_binary() else {
            return Ok(None);
        };
        let tmp = tempfile::tempdir().context("creating the s3 server's directory")?;
        let root = tmp.path().join("root");
        let bucket = "arbor".to_string();
        // s3s-fs keeps a bucket as a directory under its root.
        std::fs::create_dir_all(root.join(&bucket)).context("creating the bucket directory")?;
        let log = tmp.path().join("s3s-fs.log");
        let out = std::fs::File::create(&log).context("creating the s3 server's log")?;
        let err = out.try_clone()?;
        let child = Command::new(&binary)
            .args(["--host", "127.0.0.1", "--port", "0"])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(&root)
            // The listening address is only in its log, at info level.
            .env("RUST_LOG", "s3s_fs=info,s3s=warn")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let mut server = S3Server {
            endpoint: String::new(),
            bucket,
            access_key: ACCESS_KEY.into(),
            secret_key: SECRET_KEY.into(),
            region: REGION.into(),
            child: Some(child),
            root,
            log,
            _tmp: tmp,
        };
        let addr = server.wait_for_address()?;
        server.endpoint = format!("http://{addr}");
        server.wait_until_answering(addr)?;
        Ok(Some(server))
    }

    /// Whether the environment asks to run without S3 (`ARBOR_SKIP_S3=1`).
    pub fn skip_requested() -> bool {
        std::env::var("ARBOR_SKIP_S3").is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
    }

    /// Options for `Backend::from_url(&format!("s3://{bucket}/<prefix>"), ..)`.
    pub fn options(&self) -> BTreeMap<String, String> {
        [
            ("endpoint", self.endpoint.as_str()),
            ("region", self.region.as_str()),
            ("access_key_id", self.access_key.as_str()),
            ("secret_access_key", self.secret_key.as_str()),
            ("allow_http", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// The same settings as `AWS_*` environment variables (for a server process).
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("AWS_ENDPOINT_URL", self.endpoint.as_str()),
            ("AWS_REGION", self.region.as_str()),
            ("AWS_ACCESS_KEY_ID", self.access_key.as_str()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_key.as_str()),
            ("AWS_ALLOW_HTTP", "true"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{}", self.bucket, prefix.trim_start_matches('/'))
    }

    /// The server's root directory (a bucket is a directory in it).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The server's log so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten())
    }

    /// Reads `server is running at http://<addr>` from the log.
    fn wait_for_address(&mut self) -> anyhow::Result<SocketAddr> {
        const MARK: &str = "server is running at http://";
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            let log = self.log();
            if let Some(at) = log.find(MARK) {
                let rest = &log[at + MARK.len()..];
                let end = rest.find(|c: char| c.is_whitespace()).unwrap_or(rest.len());
                if end < rest.len() {
                    return rest[..end]
                        .parse()
                        .with_context(|| format!("reading the address in {:?}", &rest[..end]));
                }
            }
            if let Some(status) = self.exited() {
                bail!("s3s-fs exited during start ({status}):\n{log}");
            }
            if Instant::now() > deadline {
                bail!("s3s-fs printed no address in {START_TIMEOUT:?}:\n{log}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until an HTTP request gets an HTTP answer (403 without a signature is fine).
    fn wait_until_answering(&mut self, addr: SocketAddr) -> anyhow::Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if http_answers(addr) {
                return Ok(());
            }
            if let Some(status) = self.exited() {
                bail!("s3s-fs exited during start ({status}):\n{}", self.log());
            }
            if Instant::now() > deadline {
                bail!(
                    "s3s-fs did not answer on {addr} in {START_TIMEOUT:?}:\n{}",
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `ARBOR_S3S_FS`, else `s3s-fs` on `PATH`, else `~/.cargo/bin/s3s-fs`.
fn find_binary() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("ARBOR_S3S_FS") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join(BINARY))
        .find(|p| p.is_file());
    on_path.or_else(|| {
        let home = std::env::var_os("CARGO_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))?;
        let p = home.join("bin").join(BINARY);
        p.is_file().then_some(p)
    })
}

/// One plain HTTP request; true when something HTTP-shaped comes back.
fn http_answers(addr: SocketAddr) -> bool {
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let req = format!("GET / HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    if s.write_all(req.as_bytes()).is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    let mut got = 0;
    while got < buf.len() {
        match s.read(&mut buf[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    buf[..got].starts_with(b"HTTP/1.")
}
