#!/usr/bin/env bash
# The one test command: installs what the tests need, then runs every suite.
#
#   scripts/test.sh
#
# Works on a fresh Debian machine with Rust (rustup, cargo) and Node, run as
# root with no stdin, and again on a machine where everything is in place (it
# then skips the installs). Every suite runs even when an earlier one fails;
# the summary at the end says which failed, and the exit status is non-zero if
# any did.
#
# Environment:
#   ARBOR_BIN         server binary for the Python, Node and UI suites
#                     (default: target/debug/arbor, as built by step 4)
#   CARGO_TARGET_DIR  honoured when locating the default ARBOR_BIN

set -euo pipefail
exec </dev/null

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

export DEBIAN_FRONTEND=noninteractive
# A CI run builds once from a clean clone: incremental caches only cost disk
# there (several GB for this workspace; a CI run once died of a full disk).
if [ -n "${CI:-}" ]; then
    export CARGO_INCREMENTAL="${CARGO_INCREMENTAL:-0}"
fi
VENV="$ROOT/.venv-test"
PY_REQS="$ROOT/tests/python/requirements.txt"
NODE_DIR="$ROOT/tests/node"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR="$ROOT/$TARGET_DIR" ;; esac
ARBOR_BIN="${ARBOR_BIN:-$TARGET_DIR/debug/arbor}"

announce() { printf '\n==> %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    SUDO=(sudo)
fi
APT_UPDATED=0
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "error: need $*, and there is no apt-get to install them with" >&2
        return 1
    fi
    if [ "$APT_UPDATED" -eq 0 ]; then
        "${SUDO[@]}" apt-get update -qq
        APT_UPDATED=1
    fi
    "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "$@"
}

hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Results: one line per step for the summary ---------------------------------

RESULTS=()
FAILED=0

# run_step NAME COMMAND...: runs COMMAND in a subshell with errexit in force,
# records PASS/FAIL and the time taken, and never stops the script.
run_step() {
    local name="$1"
    shift
    local start=$SECONDS rc
    set +e
    (set -e; "$@")
    rc=$?
    set -e
    local took=$((SECONDS - start))
    if [ "$rc" -eq 0 ]; then
        RESULTS+=("$(printf '%-30s PASS  (%ds)' "$name" "$took")")
    else
        RESULTS+=("$(printf '%-30s FAIL  (%ds, exit %d)' "$name" "$took" "$rc")")
        FAILED=1
        echo "!!! $name failed (exit $rc)" >&2
    fi
    return 0
}

skip_step() {
    RESULTS+=("$(printf '%-30s SKIP  (%s)' "$1" "$2")")
    FAILED=1
}

last_passed() { [[ "${RESULTS[-1]}" == *" PASS "* ]]; }

# --- 1. Python ------------------------------------------------------------------

setup_python() {
    announce "Python: virtual environment .venv-test with tests/python/requirements.txt"
    if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import venv, ensurepip' >/dev/null 2>&1; then
        note "python3 with venv/pip is missing: installing python3 python3-venv python3-pip"
        apt_install python3 python3-venv python3-pip
    fi
    # The TLS tests (Python and Node) make their certificates with the openssl command.
    if ! command -v openssl >/dev/null 2>&1; then
        note "openssl is missing (the TLS tests make certificates with it): installing openssl"
        apt_install openssl
    fi
    # A venv whose interpreter no longer runs (Python upgraded or removed) is rebuilt.
    if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        note "existing .venv-test is broken: recreating it"
        rm -rf "$VENV"
    fi
    if [ ! -x "$VENV/bin/python" ]; then
        python3 -m venv "$VENV"
    fi
    local want stamp="$VENV/.requirements.sha256"
    want="$(hash_of "$PY_REQS")-$("$VENV/bin/python" -c 'import sys; print(sys.version.split()[0])')"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        note "requirements already installed ($("$VENV/bin/python" --version 2>&1))"
        return 0
    fi
    rm -f "$stamp"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --no-input -r "$PY_REQS"
    echo "$want" >"$stamp"
    note "installed into .venv-test ($("$VENV/bin/python" --version 2>&1))"
}

# --- 2. Node --------------------------------------------------------------------

setup_node() {
    announce "Node: npm ci in tests/node"
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        note "node/npm missing: installing nodejs npm"
        apt_install nodejs npm
    fi
    local want stamp="$NODE_DIR/node_modules/.arbor-lock.sha256"
    want="$(hash_of "$NODE_DIR/package-lock.json" "$NODE_DIR/package.json")-$(node --version)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        note "node_modules is current with package-lock.json (node $(node --version), npm $(npm --version 2>/dev/null))"
        return 0
    fi
    (cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
}

# --- 2b. Chromium for the UI's browser tests ----------------------------------------
# (ui/node_modules, playwright-core included, is installed by the cargo build: the
# arbor-server build script runs `npm ci` in ui/ to build the embedded UI.)

setup_chromium() {
    announce "Chromium for the UI tests (/usr/bin/chromium)"
    if [ -x /usr/bin/chromium ]; then
        note "present: $(/usr/bin/chromium --version 2>/dev/null | head -n1)"
        return 0
    fi
    note "missing: installing Debian's chromium"
    apt_install chromium
}

# --- 2c. Build tools: jemalloc (the binary's allocator) is built with make -----------

setup_build_tools() {
    announce "build tools (cc, make)"
    local missing=()
    command -v make >/dev/null 2>&1 || missing+=(make)
    command -v cc >/dev/null 2>&1 || missing+=(gcc libc6-dev)
    if [ "${#missing[@]}" -eq 0 ]; then
        note "present: $(make --version | head -n1)"
        return 0
    fi
    note "missing: installing ${missing[*]}"
    apt_install "${missing[@]}"
}

# --- 3. cargo-nextest -----------------------------------------------------------

setup_nextest() {
    announce "cargo-nextest"
    if cargo nextest --version >/dev/null 2>&1; then
        note "present: $(cargo nextest --version 2>/dev/null | head -n1)"
        return 0
    fi
    note "missing: cargo install cargo-nextest --locked"
    cargo install cargo-nextest --locked
}

# --- 4-6. The suites ------------------------------------------------------------

# The S3-compatible server the storage tests run against (pinned: newer releases need a
# newer rustc than the project's).
setup_s3s() {
    if command -v s3s-fs >/dev/null 2>&1; then
        note "s3s-fs $(s3s-fs --version 2>/dev/null || echo present) already installed"
        return 0
    fi
    announce "installing s3s-fs 0.14.1 (S3-compatible server for the storage tests)"
    cargo install s3s-fs@0.14.1 --features binary --locked
}

rust_fmt() {
    announce "Rust: cargo fmt --all --check"
    cargo fmt --all --check
}
rust_clippy() {
    announce "Rust: cargo clippy --workspace --all-targets -- -D warnings"
    cargo clippy --workspace --all-targets -- -D warnings
}
rust_build() {
    announce "Rust: cargo build --workspace --all-targets"
    cargo build --workspace --all-targets
}
rust_tests() {
    announce "Rust: cargo nextest run --workspace --no-fail-fast"
    cargo nextest run --workspace --no-fail-fast
}
python_tests() {
    announce "Python: pytest tests/python (ARBOR_BIN=$ARBOR_BIN)"
    ARBOR_BIN="$ARBOR_BIN" "$VENV/bin/python" -m pytest -q tests/python
}
# The cargo build installs ui/node_modules (the build script runs npm ci in ui/); a binary
# built from ARBOR_UI_DIST did not, so the UI steps install it themselves when it is missing.
ui_modules() {
    if [ ! -d ui/node_modules/playwright-core ] || [ ! -d ui/node_modules/typescript ]; then
        note "ui/node_modules is missing: npm ci in ui/"
        (cd ui && npm ci --no-audit --no-fund --loglevel=error)
    fi
}
ui_typecheck() {
    announce "UI: tsc --noEmit (TypeScript, strict)"
    ui_modules
    (cd ui && node node_modules/typescript/bin/tsc --noEmit)
}
ui_tests() {
    announce "UI: node --test ui/e2e (Chromium, ARBOR_BIN=$ARBOR_BIN)"
    ui_modules
    (cd ui && ARBOR_BIN="$ARBOR_BIN" node --test e2e/*.test.mjs)
}
node_tests() {
    announce "Node: node --test tests/node (ARBOR_BIN=$ARBOR_BIN)"
    # The files are listed (shell glob) rather than the directory given: Node 20
    # searches a directory argument, Node 22 and later take it as a module path.
    ARBOR_BIN="$ARBOR_BIN" node --test tests/node/*.test.mjs
}

# --- Run ------------------------------------------------------------------------

TOTAL_START=$SECONDS
announce "arbor test suite in $ROOT"
note "$(cargo --version 2>/dev/null || echo 'cargo: missing')"

run_step "setup: python venv" setup_python
PY_READY=0; last_passed && PY_READY=1
run_step "setup: npm ci" setup_node
NODE_READY=0; last_passed && NODE_READY=1
run_step "setup: chromium" setup_chromium
CHROMIUM_READY=0; last_passed && CHROMIUM_READY=1
run_step "setup: build tools" setup_build_tools
run_step "setup: cargo-nextest" setup_nextest
run_step "setup: s3s-fs" setup_s3s
NEXTEST_READY=0; last_passed && NEXTEST_READY=1

run_step "rust: fmt" rust_fmt
run_step "rust: clippy" rust_clippy
run_step "rust: build" rust_build
BUILT=0; last_passed && BUILT=1

if [ "$NEXTEST_READY" -eq 1 ] && [ "$BUILT" -eq 1 ]; then
    run_step "rust: nextest" rust_tests
else
    skip_step "rust: nextest" "$([ "$BUILT" -eq 1 ] && echo 'cargo-nextest unavailable' || echo 'build failed')"
fi

# The SDK suites need the binary of this build; after a failed build they would
# test a stale one.
if [ "$BUILT" -ne 1 ]; then
    skip_step "python: otel sdk (pytest)" "build failed"
    skip_step "node: otel sdk (node --test)" "build failed"
    skip_step "ui: typecheck (tsc)" "build failed"
    skip_step "ui: browser (node --test)" "build failed"
else
    if [ "$PY_READY" -eq 1 ]; then
        run_step "python: otel sdk (pytest)" python_tests
    else
        skip_step "python: otel sdk (pytest)" "python setup failed"
    fi
    if [ "$NODE_READY" -eq 1 ]; then
        run_step "node: otel sdk (node --test)" node_tests
    else
        skip_step "node: otel sdk (node --test)" "npm ci failed"
    fi
    run_step "ui: typecheck (tsc)" ui_typecheck
    if [ "$CHROMIUM_READY" -eq 1 ]; then
        run_step "ui: browser (node --test)" ui_tests
    else
        skip_step "ui: browser (node --test)" "chromium setup failed"
    fi
fi

announce "Summary ($((SECONDS - TOTAL_START))s)"
for line in "${RESULTS[@]}"; do
    note "$line"
done
passed=0 failed=0
for line in "${RESULTS[@]}"; do
    case "$line" in
        *" PASS "*) passed=$((passed + 1)) ;;
        *" FAIL "*) failed=$((failed + 1)) ;;
    esac
done
if [ "$FAILED" -ne 0 ]; then
    echo "==> FAILED"
    echo "steps: $passed passed, $failed failed"
    exit 1
fi
echo "==> ALL PASSED"
echo "steps: $passed passed, $failed failed"
