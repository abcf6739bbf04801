//! Builds the web UI (`ui/`, TypeScript + Vite) and embeds it in the binary.
//!
//! On a change to the UI's sources or lockfile this runs `npm ci` in `ui/` (only when
//! `package-lock.json` or the Node version changed since the last install) and
//! `vite build` into `$OUT_DIR/ui`, then writes `$OUT_DIR/ui_assets.rs`: every built file
//! as `(path, bytes, gzip bytes)` through `include_bytes!`, which `src/ui.rs` serves.
//!
//! `ARBOR_UI_DIST=<dir>` embeds an already built UI instead (no npm needed).
//! Nothing built is written to the source tree except `ui/node_modules` and the lock file
//! `ui/.build.lock`, which keeps two builds (say a debug and a release build in two target
//! directories) from running `npm ci` in the same folder at once.

use std::fmt::Write as _;
use std::fs;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Files and folders of `ui/` whose change means a new build.
const INPUTS: &[&str] = &[
    "src",
    "public",
    "index.html",
    "package.json",
    "package-lock.json",
    "vite.config.ts",
    "tsconfig.json",
];

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets it"));
    let ui = manifest.join("../../ui");
    println!("cargo:rerun-if-env-changed=ARBOR_UI_DIST");
    for input in INPUTS {
        println!("cargo:rerun-if-changed={}", ui.join(input).display());
    }

    let dist = match std::env::var_os("ARBOR_UI_DIST") {
        Some(dir) => PathBuf::from(dir),
        None => {
            let dist = out.join("ui");
            build_ui(&ui, &dist);
            dist
        }
    };
    if !dist.join("index.html").is_file() {
        fail(&format!(
            "{} holds no index.html: not a built UI",
            dist.display()
        ));
    }
    write_assets(&dist, &out.join("ui_assets.rs"));
}

fn fail(message: &str) -> ! {
    eprintln!("error: building the web UI: {message}");
    panic!("building the web UI: {message}");
}

fn build_ui(ui: &Path, dist: &Path) {
    if which("npm").is_none() || which("node").is_none() {
        fail(
            "`npm` and `node` were not found on PATH. Arbor embeds its web UI, built from ui/ \
             with Node.js (20.19 or later) and npm at build time: install them \
             (Debian: apt-get install nodejs npm), or set ARBOR_UI_DIST to a directory \
             holding a UI built with `npm ci && npx vite build` in ui/",
        );
    }
    let lock_path = ui.join(".build.lock");
    let lock = fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .unwrap_or_else(|e| fail(&format!("opening {}: {e}", lock_path.display())));
    lock.lock()
        .unwrap_or_else(|e| fail(&format!("locking {}: {e}", lock_path.display())));

    // `npm ci` only when the lockfile or Node changed since the last one.
    let node = output(Command::new("node").arg("--version"));
    let lockfile = fs::read(ui.join("package-lock.json"))
        .unwrap_or_else(|e| fail(&format!("reading ui/package-lock.json: {e}")));
    let mut h = DefaultHasher::new();
    lockfile.hash(&mut h);
    node.hash(&mut h);
    let want = format!("{:016x}", h.finish());
    let stamp = ui.join("node_modules/.arbor-build-stamp");
    if fs::read_to_string(&stamp).ok().as_deref() != Some(want.as_str()) {
        run(
            Command::new("npm")
                .args(["ci", "--no-audit", "--no-fund", "--loglevel=error"])
                .current_dir(ui),
            "npm ci",
        );
        fs::write(&stamp, &want)
            .unwrap_or_else(|e| fail(&format!("writing {}: {e}", stamp.display())));
    }
    run(
        Command::new("node")
            .arg("node_modules/vite/bin/vite.js")
            .args(["build", "--emptyOutDir", "--logLevel", "warn", "--outDir"])
            .arg(dist)
            .current_dir(ui),
        "vite build",
    );
    drop(lock);
}

fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

fn output(cmd: &mut Command) -> String {
    match cmd.output() {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
        Ok(o) => fail(&format!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&o.stderr)
        )),
        Err(e) => fail(&format!("running {cmd:?}: {e}")),
    }
}

/// Runs a command with its output on stderr (stdout is cargo's channel).
fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(std::io::stderr())
        .status()
        .unwrap_or_else(|e| fail(&format!("running {what}: {e}")));
    if !status.success() {
        fail(&format!(
            "{what} in ui/ failed ({status}); its output is above"
        ));
    }
}

fn write_assets(dist: &Path, target: &Path) {
    let mut files = Vec::new();
    collect(dist, dist, &mut files);
    files.sort();
    let gz_dir = target.with_file_name("ui_gz");
    fs::create_dir_all(&gz_dir).unwrap_or_else(|e| fail(&format!("creating ui_gz: {e}")));
    let mut src = String::from("&[\n");
    for (i, rel) in files.iter().enumerate() {
        let path = dist.join(rel);
        let body = fs::read(&path).unwrap_or_else(|e| fail(&format!("reading {rel}: {e}")));
        let gz = gzip(&body);
        // Only text-like files shrink enough to be worth a second copy.
        let gz_expr = if gz.len() + 256 < body.len() {
            let gz_path = gz_dir.join(format!("{i}.gz"));
            fs::write(&gz_path, &gz).unwrap_or_else(|e| fail(&format!("writing gzip: {e}")));
            format!("Some(include_bytes!({:?}))", gz_path.display().to_string())
        } else {
            "None".to_string()
        };
        writeln!(
            src,
            "    ({rel:?}, include_bytes!({:?}), {gz_expr}),",
            path.display().to_string()
        )
        .expect("writing to a string");
    }
    src.push_str("]\n");
    fs::write(target, src).unwrap_or_else(|e| fail(&format!("writing {}: {e}", target.display())));
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let entries =
        fs::read_dir(dir).unwrap_or_else(|e| fail(&format!("reading {}: {e}", dir.display())));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            let rel = path.strip_prefix(root).expect("under root");
            let rel: Vec<String> = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect();
            out.push(rel.join("/"));
        }
    }
}

fn gzip(body: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    enc.write_all(body).expect("gzip to memory");
    enc.finish().expect("gzip to memory")
}
