//! Views: the built-in scopes (Serverless Console's *API* and *All Functions*, see
//! [`filters`]) and the views users save — a name, a scope or a TraceQL filter of tags (or
//! both), the filters and the charts chosen — kept per tenant for the whole team.
//!
//! The saved views of every tenant are one file, `<data_dir>/views/views.json`, read at the
//! first request and written whole after every change: to a temporary file, synced,
//! renamed over, then the directory synced, so a change acknowledged survives a crash.

pub mod api;
pub mod filters;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

/// The longest name, query and filter value accepted, in bytes.
const MAX_NAME: usize = 100;
const MAX_QUERY: usize = 4096;
const MAX_VALUE: usize = 500;
/// Saved views per tenant.
pub const MAX_VIEWS: usize = 1000;

/// A saved view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct View {
    /// From the name: lowercase letters, digits and `-` (the view's URL).
    pub id: String,
    pub name: String,
    /// A built-in scope's id (`api`, `functions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// A TraceQL filter of tags, joined to the scope and filters with `&&`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub query: String,
    /// Filter id → value (see [`filters::FILTERS`]).
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    /// The charts shown, in order.
    #[serde(default)]
    pub charts: Vec<String>,
    /// Unix seconds.
    pub created: u64,
}

/// What a client sends to create or replace a view.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViewInput {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub scope: Option<String>,
    #[serde(default)]
    pub query: String,
    #[serde(default)]
    pub filters: BTreeMap<String, String>,
    #[serde(default)]
    pub charts: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("{0}")]
    Invalid(String),
    #[error("view {0:?} exists")]
    Exists(String),
    #[error("no view {0:?}")]
    Missing(String),
    #[error("{MAX_VIEWS} views is the most a tenant may keep")]
    Full,
    #[error("views file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("views file {path}: {source}")]
    Corrupt {
        path: PathBuf,
        source: serde_json::Error,
    },
}

impl ViewInput {
    /// The view's TraceQL: the scope and filters' spanset filter, and its own query.
    pub fn traceql(&self) -> Result<String, ViewError> {
        let scope = match self.scope.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(id) => Some(
                filters::scope(id)
                    .ok_or_else(|| ViewError::Invalid(format!("scope: no scope {id:?}")))?,
            ),
        };
        let set = filters::spanset(scope, &self.filters)
            .map_err(|e| ViewError::Invalid(e.to_string()))?;
        let query = self.query.trim();
        let q = match (query.is_empty(), set == "{ }") {
            (true, _) => set,
            (false, true) => query.to_string(),
            (false, false) => format!("{set} && {query}"),
        };
        arbor_query::traceql::parse_and_validate(&q)
            .map_err(|e| ViewError::Invalid(format!("query: {e}")))?;
        Ok(q)
    }

    /// Checks the input and makes it a view.
    pub fn check(self, created: u64) -> Result<View, ViewError> {
        let bad = |m: String| Err(ViewError::Invalid(m));
        let name = self.name.trim().to_string();
        if name.is_empty() || name.len() > MAX_NAME {
            return bad(format!("name: 1 to {MAX_NAME} bytes"));
        }
        let id = slug(&name);
        if id.is_empty() {
            return bad("name: needs a letter or a digit".into());
        }
        if self.query.len() > MAX_QUERY {
            return bad(format!("query: longer than {MAX_QUERY} bytes"));
        }
        if self.scope.as_deref().is_none_or(str::is_empty) && self.query.trim().is_empty() {
            return bad("a view needs a scope or a query".into());
        }
        for (k, v) in &self.filters {
            if v.len() > MAX_VALUE {
                return bad(format!("filter {k}: longer than {MAX_VALUE} bytes"));
            }
        }
        let allowed: Vec<&str> = filters::SCOPES
            .iter()
            .flat_map(|s| s.charts.iter().copied())
            .collect();
        if let Some(c) = self.charts.iter().find(|c| !allowed.contains(&c.as_str())) {
            return bad(format!(
                "charts: unknown chart {c:?} (one of {})",
                allowed.join(", ")
            ));
        }
        self.traceql()?;
        Ok(View {
            id,
            name,
            scope: self.scope.filter(|s| !s.is_empty()),
            query: self.query.trim().to_string(),
            filters: self
                .filters
                .into_iter()
                .filter(|(_, v)| !v.trim().is_empty())
                .collect(),
            charts: self.charts,
            created,
        })
    }
}

impl View {
    pub fn input(&self) -> ViewInput {
        ViewInput {
            name: self.name.clone(),
            scope: self.scope.clone(),
            query: self.query.clone(),
            filters: self.filters.clone(),
            charts: self.charts.clone(),
        }
    }
}

/// A name as an id: lowercase ASCII letters and digits, other runs as one `-`.
pub fn slug(name: &str) -> String {
    let mut out = String::new();
    for c in name.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    version: u32,
    tenants: BTreeMap<String, Vec<View>>,
}

/// The saved views of every tenant, loaded at first use.
pub struct Views {
    path: PathBuf,
    loaded: Mutex<Option<File>>,
}

impl Views {
    pub fn new(data_dir: &Path) -> Self {
        Self {
            path: data_dir.join("views").join("views.json"),
            loaded: Mutex::new(None),
        }
    }

    /// Runs `f` over the file's contents (read now if not yet), writing it back when `f`
    /// says it changed something.
    fn with<T>(
        &self,
        f: impl FnOnce(&mut File) -> Result<(T, bool), ViewError>,
    ) -> Result<T, ViewError> {
        let mut guard = self.loaded.lock();
        if guard.is_none() {
            *guard = Some(self.read()?);
        }
        let file = guard.as_mut().expect("loaded above");
        let before = serde_json::to_vec(&file.tenants).expect("views serialize");
        let (out, changed) = f(file)?;
        if changed {
            file.version = 1;
            let bytes = serde_json::to_vec_pretty(&*file).expect("views serialize");
            if let Err(e) = write_atomically(&self.path, &bytes) {
                // Not on disk: not kept.
                file.tenants = serde_json::from_slice(&before).expect("just written");
                return Err(ViewError::Io {
                    path: self.path.clone(),
                    source: e,
                });
            }
        }
        Ok(out)
    }

    fn read(&self) -> Result<File, ViewError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|source| ViewError::Corrupt {
                path: self.path.clone(),
                source,
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(source) => Err(ViewError::Io {
                path: self.path.clone(),
                source,
            }),
        }
    }

    pub fn list(&self, tenant: &str) -> Result<Vec<View>, ViewError> {
        self.with(|f| Ok((f.tenants.get(tenant).cloned().unwrap_or_default(), false)))
    }

    pub fn get(&self, tenant: &str, id: &str) -> Result<View, ViewError> {
        self.with(|f| {
            let v = f
                .tenants
                .get(tenant)
                .and_then(|vs| vs.iter().find(|v| v.id == id))
                .cloned()
                .ok_or_else(|| ViewError::Missing(id.to_string()))?;
            Ok((v, false))
        })
    }

    pub fn create(&self, tenant: &str, view: View) -> Result<View, ViewError> {
        self.with(|f| {
            let views = f.tenants.entry(tenant.to_string()).or_default();
            if views.iter().any(|v| v.id == view.id) {
                return Err(ViewError::Exists(view.id));
            }
            if views.len() >= MAX_VIEWS {
                return Err(ViewError::Full);
            }
            views.push(view.clone());
            views.sort_by_key(|a| a.name.to_lowercase());
            Ok((view, true))
        })
    }

    /// Replaces view `id` (keeping its id and creation time; the name may change).
    pub fn replace(&self, tenant: &str, id: &str, mut view: View) -> Result<View, ViewError> {
        self.with(|f| {
            let views = f.tenants.entry(tenant.to_string()).or_default();
            let at = views
                .iter()
                .position(|v| v.id == id)
                .ok_or_else(|| ViewError::Missing(id.to_string()))?;
            view.id = id.to_string();
            view.created = views[at].created;
            views[at] = view.clone();
            Ok((view, true))
        })
    }

    pub fn delete(&self, tenant: &str, id: &str) -> Result<(), ViewError> {
        self.with(|f| {
            let views = f.tenants.entry(tenant.to_string()).or_default();
            let before = views.len();
            views.retain(|v| v.id != id);
            if views.len() == before {
                return Err(ViewError::Missing(id.to_string()));
            }
            Ok(((), true))
        })
    }
}

/// Writes `bytes` to `path` whole or not at all: a temporary file beside it, synced,
/// renamed over, then the directory synced so that the rename survives a power cut.
fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, scope: Option<&str>, query: &str) -> ViewInput {
        ViewInput {
            name: name.into(),
            scope: scope.map(str::to_string),
            query: query.into(),
            ..Default::default()
        }
    }

    #[test]
    fn views_are_checked() {
        let v = input("Prod  API!", Some("api"), "").check(1).unwrap();
        assert_eq!(v.id, "prod-api");
        assert!(input("", Some("api"), "").check(1).is_err());
        assert!(input("x", None, "").check(1).is_err(), "scope or query");
        assert!(input("x", Some("nope"), "").check(1).is_err());
        assert!(input("x", None, "{ .a = }").check(1).is_err());
        let mut bad_chart = input("x", Some("api"), "");
        bad_chart.charts = vec!["pie".into()];
        assert!(bad_chart.check(1).is_err());
        let mut i = input("x", Some("functions"), r#"{ .faas.event_type = "http" }"#);
        i.filters.insert("errors".into(), "true".into());
        let q = i.traceql().unwrap();
        assert!(q.ends_with(r#"&& { .faas.event_type = "http" }"#), "{q}");
    }

    #[test]
    fn views_persist_per_tenant() {
        let dir = std::env::temp_dir().join(format!("arbor-views-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let views = Views::new(&dir);
        let v = input("Errors", Some("functions"), "").check(7).unwrap();
        views.create("a", v.clone()).unwrap();
        assert!(matches!(
            views.create("a", v.clone()),
            Err(ViewError::Exists(_))
        ));
        views.create("b", v.clone()).unwrap();
        let again = Views::new(&dir);
        assert_eq!(again.list("a").unwrap(), vec![v.clone()]);
        again.delete("b", "errors").unwrap();
        assert!(Views::new(&dir).list("b").unwrap().is_empty());
        assert!(matches!(
            again.get("c", "errors"),
            Err(ViewError::Missing(_))
        ));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
