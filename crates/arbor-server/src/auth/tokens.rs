//! The token file: who may do what, for which tenants. Tokens are kept as the SHA-256 of
//! the token, never the token itself; a presented token is hashed and compared with every
//! entry in constant time. The file is read again when it changes ([`TokenFile::watch`]);
//! a file that no longer reads keeps the tokens in force and logs why.
//!
//! ```toml
//! [[tokens]]
//! name = "collector"                 # shown in the audit log and errors
//! sha256 = "<64 hex digits>"         # `arbor token` prints this entry
//! tenants = ["team-a", "team-b"]     # or ["*"] for every tenant
//! grants = ["write"]                 # any of write, read, admin
//! # Optional, for read tokens: only spans that pass this filter of resource and span
//! # attributes are seen
//! # by any read (see `arbor_query::visibility`); not with admin.
//! scope = '{ resource.service.namespace = "shop" }'
//! ```

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use parking_lot::{Mutex, RwLock};
use serde::Deserialize;
use tokio::sync::watch;

use arbor_query::visibility::Visibility;

/// A token file larger than this is refused before it is parsed.
pub const MAX_FILE_BYTES: u64 = 4 << 20;
/// The most tokens one file may hold.
pub const MAX_TOKENS: usize = 10_000;
/// A presented token longer than this is refused before it is hashed.
pub const MAX_TOKEN_BYTES: usize = 512;
/// The prefix of minted tokens (it makes them easy to find by secret scanners).
pub const PREFIX: &str = "arbor_";
/// How often the file is looked at for a change.
pub const RELOAD_INTERVAL: Duration = crate::reload::INTERVAL;

/// What a token allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Grant {
    /// Send spans (OTLP, Zipkin).
    Write,
    /// Read spans and everything derived from them.
    Read,
    /// Change alert rules and saved views, cut blocks (`/flush`).
    Admin,
}

impl Grant {
    pub fn as_str(self) -> &'static str {
        match self {
            Grant::Write => "write",
            Grant::Read => "read",
            Grant::Admin => "admin",
        }
    }
}

/// The tenants a token may use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tenants {
    /// `["*"]`: every tenant.
    All,
    /// These tenants only (at least one).
    Only(Vec<String>),
}

impl Tenants {
    pub fn allows(&self, tenant: &str) -> bool {
        match self {
            Tenants::All => true,
            Tenants::Only(list) => list.iter().any(|t| t == tenant),
        }
    }

    /// The one tenant of a token that grants exactly one.
    pub fn single(&self) -> Option<&str> {
        match self {
            Tenants::Only(list) if list.len() == 1 => Some(&list[0]),
            _ => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Tenants::All => "every tenant".into(),
            Tenants::Only(list) => list.join(", "),
        }
    }
}

/// One entry of the token file.
#[derive(Debug, Clone)]
pub struct Token {
    pub name: String,
    hash: [u8; 32],
    pub tenants: Tenants,
    pub grants: Vec<Grant>,
    /// What the token reads: every span, or (narrowed) only spans that pass this filter (`scope = '{ resource.service.namespace = "shop" }'`).
    pub scope: Option<Arc<Visibility>>,
}

impl Token {
    /// The token-like identity of a client certificate (`tls::clients`): it is never in a
    /// token file, so no presented token can match it.
    pub fn for_certificate(name: String, tenants: Tenants, grants: Vec<Grant>) -> Self {
        Self {
            name,
            hash: [0; 32],
            tenants,
            grants,
            scope: None,
        }
    }

    pub fn has(&self, grant: Grant) -> bool {
        self.grants.contains(&grant)
    }
}

/// Why a token file was not taken.
#[derive(Debug, thiserror::Error)]
pub enum TokenFileError {
    #[error("reading the token file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the token file {path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("in the token file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileForm {
    #[serde(default)]
    tokens: Vec<EntryForm>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EntryForm {
    name: String,
    sha256: String,
    tenants: Vec<String>,
    grants: Vec<Grant>,
    #[serde(default)]
    scope: Option<String>,
}

/// The tokens of one reading of the file.
#[derive(Debug, Clone, Default)]
pub struct TokenSet {
    tokens: Vec<Arc<Token>>,
}

impl TokenSet {
    /// Parses the file's text; the error names the entry and the rule it broke.
    pub fn parse(text: &str) -> Result<Self, String> {
        let form: FileForm = toml::from_str(text).map_err(|e| e.to_string())?;
        if form.tokens.len() > MAX_TOKENS {
            return Err(format!(
                "{} tokens, more than the {MAX_TOKENS} allowed",
                form.tokens.len()
            ));
        }
        let mut names = std::collections::HashSet::new();
        let mut tokens = Vec::with_capacity(form.tokens.len());
        for e in form.tokens {
            let what = |m: String| format!("token {:?}: {m}", e.name);
            if e.name.trim().is_empty() || e.name.len() > 100 {
                return Err(what("name must be 1 to 100 characters".into()));
            }
            if !names.insert(e.name.clone()) {
                return Err(what("the name is used twice".into()));
            }
            let mut hash = [0u8; 32];
            hex::decode_to_slice(e.sha256.trim(), &mut hash)
                .map_err(|_| what("sha256 must be 64 hex digits".into()))?;
            if e.grants.is_empty() {
                return Err(what(
                    "grants is empty: give write, read and/or admin".into(),
                ));
            }
            let tenants = if e.tenants.iter().any(|t| t == "*") {
                if e.tenants.len() > 1 {
                    return Err(what("\"*\" (every tenant) stands alone in tenants".into()));
                }
                Tenants::All
            } else {
                if e.tenants.is_empty() {
                    return Err(what("tenants is empty: name tenants, or \"*\"".into()));
                }
                for t in &e.tenants {
                    crate::tenant::validate(t).map_err(|err| what(err.to_string()))?;
                }
                Tenants::Only(e.tenants)
            };
            let mut grants = e.grants;
            grants.sort();
            grants.dedup();
            let scope = match &e.scope {
                None => None,
                Some(text) => {
                    if grants.contains(&Grant::Admin) {
                        return Err(what(
                            "a token narrowed to a scope cannot grant admin (the alert rules, views and /flush are not narrowed)".into(),
                        ));
                    }
                    Some(Arc::new(
                        Visibility::parse(text).map_err(|err| what(err.to_string()))?,
                    ))
                }
            };
            tokens.push(Arc::new(Token {
                name: e.name,
                hash,
                tenants,
                grants,
                scope,
            }));
        }
        Ok(Self { tokens })
    }

    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The entry of a presented token. Every entry is compared, each in constant time, so
    /// the time taken says nothing about which bytes matched.
    pub fn find(&self, presented: &str) -> Option<Arc<Token>> {
        if presented.is_empty() || presented.len() > MAX_TOKEN_BYTES {
            return None;
        }
        let h = hash(presented);
        let mut found = None;
        for t in &self.tokens {
            if constant_time_eq(&t.hash, &h) {
                found = Some(t);
            }
        }
        found.cloned()
    }
}

/// SHA-256 of a token, as kept in the file.
pub fn hash(token: &str) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, token.as_bytes());
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

fn constant_time_eq(a: &[u8; 32], b: &[u8; 32]) -> bool {
    let mut diff = 0u8;
    for (x, y) in a.iter().zip(b) {
        diff |= x ^ y;
    }
    diff == 0
}

/// A new token: the prefix and 32 random bytes from the system's generator, in hex.
pub fn mint() -> Result<String, ring::error::Unspecified> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes)?;
    Ok(format!("{PREFIX}{}", hex::encode(bytes)))
}

/// The token file entry of a token (its hash, never the token).
pub fn entry_toml(
    name: &str,
    token: &str,
    tenants: &[String],
    grants: &[Grant],
    scope: Option<&str>,
) -> String {
    let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
    let list = |items: Vec<String>| items.join(", ");
    let scope = scope
        .map(|s| format!("scope = {}\n", quote(s)))
        .unwrap_or_default();
    format!(
        "[[tokens]]\nname = {}\nsha256 = \"{}\"\ntenants = [{}]\ngrants = [{}]\n{scope}",
        quote(name),
        hex::encode(hash(token)),
        list(tenants.iter().map(|t| quote(t)).collect()),
        list(grants.iter().map(|g| quote(g.as_str())).collect()),
    )
}

/// The token file and the tokens last read from it.
pub struct TokenFile {
    path: PathBuf,
    current: RwLock<Arc<TokenSet>>,
    stamp: Mutex<Option<Stamp>>,
}

/// What tells a changed file: its modification time and length.
type Stamp = (SystemTime, u64);

fn stamp_of(path: &Path) -> Option<Stamp> {
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len()))
}

fn read_set(path: &Path) -> Result<TokenSet, TokenFileError> {
    let read_err = |source| TokenFileError::Read {
        path: path.to_path_buf(),
        source,
    };
    let len = std::fs::metadata(path).map_err(read_err)?.len();
    if len > MAX_FILE_BYTES {
        return Err(TokenFileError::TooLarge {
            path: path.to_path_buf(),
        });
    }
    let text = std::fs::read_to_string(path).map_err(read_err)?;
    TokenSet::parse(&text).map_err(|message| TokenFileError::Invalid {
        path: path.to_path_buf(),
        message,
    })
}

impl TokenFile {
    /// Reads the file; an error stops the start.
    pub fn open(path: &Path) -> Result<Self, TokenFileError> {
        let stamp = stamp_of(path);
        let set = read_set(path)?;
        Ok(Self {
            path: path.to_path_buf(),
            current: RwLock::new(Arc::new(set)),
            stamp: Mutex::new(stamp),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The tokens in force.
    pub fn tokens(&self) -> Arc<TokenSet> {
        self.current.read().clone()
    }

    /// Reads the file again if it changed; true if new tokens are in force.
    pub fn reload_if_changed(&self) -> bool {
        let now = stamp_of(&self.path);
        {
            let mut last = self.stamp.lock();
            if *last == now {
                return false;
            }
            *last = now;
        }
        match read_set(&self.path) {
            Ok(set) => {
                tracing::info!(path = %self.path.display(), tokens = set.len(), "token file read again");
                *self.current.write() = Arc::new(set);
                true
            }
            Err(e) => {
                tracing::error!(error = %e, "the token file changed but does not read; the tokens read before stay in force");
                false
            }
        }
    }

    /// Looks at the file every [`RELOAD_INTERVAL`] until told to stop.
    pub async fn watch(self: Arc<Self>, stop: watch::Receiver<bool>) {
        crate::reload::poll(
            move || {
                self.reload_if_changed();
            },
            stop,
        )
        .await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_are_found_by_their_entry() {
        let token = mint().unwrap();
        assert!(token.starts_with(PREFIX) && token.len() == PREFIX.len() + 64);
        let entry = entry_toml(
            "ci \"x\"",
            &token,
            &["team-a".into()],
            &[Grant::Write, Grant::Read],
            None,
        );
        assert!(!entry.contains(&token), "the file never holds the token");
        let set = TokenSet::parse(&entry).unwrap();
        let t = set.find(&token).unwrap();
        assert_eq!(t.name, "ci \"x\"");
        assert_eq!(t.tenants.single(), Some("team-a"));
        assert!(t.has(Grant::Read) && !t.has(Grant::Admin));
        assert!(t.scope.is_none());
    }

    #[test]
    fn a_scope_narrows_a_read_token_and_is_checked_when_read() {
        let token = mint().unwrap();
        let filter = r#"{ resource.service.namespace = "shop" }"#;
        let entry = entry_toml("shop", &token, &["a".into()], &[Grant::Read], Some(filter));
        let set = TokenSet::parse(&entry).unwrap();
        let t = set.find(&token).unwrap();
        assert_eq!(t.scope.as_ref().map(|s| s.text()), Some(filter));
        let bad = entry_toml(
            "shop",
            &token,
            &["a".into()],
            &[Grant::Read],
            Some(r#"{ name = "GET /" }"#),
        );
        let e = TokenSet::parse(&bad).unwrap_err();
        assert!(e.contains("not a resource. or span. attribute"), "{e}");
        let admin = entry_toml("shop", &token, &["a".into()], &[Grant::Admin], Some(filter));
        let e = TokenSet::parse(&admin).unwrap_err();
        assert!(e.contains("cannot grant admin"), "{e}");
        assert!(set.find("arbor_nope").is_none());
        assert!(set.find("").is_none());
        assert!(set.find(&"x".repeat(MAX_TOKEN_BYTES + 1)).is_none());
    }

    #[test]
    fn bad_entries_are_named() {
        let h = "0".repeat(64);
        for (body, says) in [
            (
                format!("name='a'\nsha256='{h}'\ntenants=['*','b']\ngrants=['read']"),
                "stands alone",
            ),
            (
                format!("name='a'\nsha256='{h}'\ntenants=[]\ngrants=['read']"),
                "tenants is empty",
            ),
            (
                format!("name='a'\nsha256='{h}'\ntenants=['a/b']\ngrants=['read']"),
                "characters outside",
            ),
            (
                "name='a'\nsha256='abc'\ntenants=['x']\ngrants=['read']".to_string(),
                "64 hex digits",
            ),
            (
                format!("name='a'\nsha256='{h}'\ntenants=['x']\ngrants=['root']"),
                "unknown variant",
            ),
            (
                format!("name='a'\nsha256='{h}'\ntenants=['x']\ngrants=[]"),
                "grants is empty",
            ),
        ] {
            let text = format!("[[tokens]]\n{body}\n");
            let err = TokenSet::parse(&text).unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
        let twice = format!(
            "[[tokens]]\nname='a'\nsha256='{h}'\ntenants=['*']\ngrants=['read']\n\
             [[tokens]]\nname='a'\nsha256='{h}'\ntenants=['*']\ngrants=['read']\n"
        );
        assert!(TokenSet::parse(&twice).unwrap_err().contains("used twice"));
    }

    #[test]
    fn a_changed_file_is_read_again_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.toml");
        let one = mint().unwrap();
        std::fs::write(
            &path,
            entry_toml("one", &one, &["a".into()], &[Grant::Read], None),
        )
        .unwrap();
        let file = TokenFile::open(&path).unwrap();
        assert!(file.tokens().find(&one).is_some());
        let two = mint().unwrap();
        // A different length, so the change shows even within the clock's resolution.
        std::fs::write(
            &path,
            entry_toml("second", &two, &["a".into()], &[Grant::Read], None),
        )
        .unwrap();
        assert!(file.reload_if_changed());
        assert!(file.tokens().find(&one).is_none());
        assert!(file.tokens().find(&two).is_some());
        std::fs::write(&path, "[[tokens]]\nname = 1\n").unwrap();
        assert!(!file.reload_if_changed());
        assert!(file.tokens().find(&two).is_some(), "kept after a bad edit");
    }
}
