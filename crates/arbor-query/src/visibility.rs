//! What a read may see: a read token narrowed to a filter of resource and span attributes
//! (for example `{ resource.service.namespace = "shop" }`, or `{ span.faas.name != nil }`
//! for the spans of functions) sees only the spans that pass it.
//!
//! The narrowing is applied where spans are loaded, before anything is computed from them:
//!
//! - Search and TraceQL metrics: [`crate::search::batch::Needs::scope`] makes the head
//!   loader drop the spans out of scope, and the block loader drop their rows (by the span
//!   file's resource index when the filter reads resource attributes only, else by the
//!   filter evaluated over the row group's columns it reads). Every answer — whether a
//!   trace matches, structural relations, `trace:rootService`, `trace:duration`, counts,
//!   summaries and returned spans — is then computed over the trace *as the token sees it*:
//!   its in-scope spans only. A span whose parent is out of scope is, to the token, a span
//!   with a missing parent.
//! - Trace by ID, tag names, derived views: [`Visibility::restrict`] drops the spans out of
//!   scope; a trace by ID says how many were withheld and is marked partial.
//!
//! Only `resource.` and `span.` attributes may be named (not unscoped `.name`, intrinsics,
//! events, links or `parent.`): whether a span is visible depends on the span and its
//! resource alone. A filter of resource attributes only is evaluated once per distinct
//! resource, not once per span.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::otlp::{KeyValue, Resource};
use arbor_storage::head::{HeadSpan, ResourceEntry};

use crate::search::batch::{ColBuilder, FieldKey, Needs, SpanBatch};
use crate::search::eval::{self, Expr};
use crate::search::load_head::{find, push_any};
use crate::traceql::{
    self, FieldExpr, FieldKind, QueryKind, Scope, SpansetExpr, Stage, TraceQlError,
};

/// The longest filter text taken.
pub const MAX_FILTER_BYTES: usize = 4096;

/// Why a filter cannot narrow a token.
#[derive(Debug, thiserror::Error)]
pub enum VisibilityError {
    #[error("the scope filter is longer than {MAX_FILTER_BYTES} bytes")]
    TooLong,
    #[error("the scope filter does not parse: {0}")]
    Syntax(#[source] TraceQlError),
    #[error(
        "the scope filter must be one spanset filter of resource and span attributes, like {{ resource.service.namespace = \"shop\" }}; {0}"
    )]
    Shape(String),
}

/// A compiled scope filter.
#[derive(Debug)]
pub struct Visibility {
    text: String,
    expr: Expr,
    /// The resource and span attributes the filter reads.
    fields: Vec<FieldKey>,
    /// It reads resource attributes only.
    by_resource: bool,
}

impl Visibility {
    /// Parses `{ <expression of resource and span attributes> }`.
    pub fn parse(text: &str) -> Result<Visibility, VisibilityError> {
        if text.len() > MAX_FILTER_BYTES {
            return Err(VisibilityError::TooLong);
        }
        let q = traceql::parse_and_validate(text).map_err(VisibilityError::Syntax)?;
        if !q.hints.is_empty() {
            return Err(VisibilityError::Shape("hints are not taken".into()));
        }
        let QueryKind::Search(p) = &q.kind else {
            return Err(VisibilityError::Shape("this is a metrics query".into()));
        };
        let [Stage::Spanset(SpansetExpr::Filter(f))] = p.stages.as_slice() else {
            return Err(VisibilityError::Shape(
                "pipelines and spanset operators are not taken".into(),
            ));
        };
        let Some(e) = &f.expr else {
            return Err(VisibilityError::Shape(
                "an empty filter {} would not narrow anything".into(),
            ));
        };
        only_span_and_resource_attributes(e)?;
        let mut needs = Needs::default();
        let expr = eval::compile(e, &mut needs).map_err(|e| VisibilityError::Shape(e.0))?;
        let mut fields: Vec<FieldKey> = needs.base.into_iter().collect();
        fields.sort();
        let by_resource = fields
            .iter()
            .all(|k| matches!(k.attribute(), Some((Scope::Resource, _))));
        Ok(Visibility {
            text: text.trim().to_string(),
            expr,
            fields,
            by_resource,
        })
    }

    /// The filter as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether it reads resource attributes only (so [`Visibility::admits`] decides).
    pub fn by_resource(&self) -> bool {
        self.by_resource
    }

    /// The fields the filter reads.
    pub(crate) fn fields(&self) -> &[FieldKey] {
        &self.fields
    }

    /// Which rows of `batch` (holding [`Visibility::fields`]) are visible.
    pub(crate) fn mask(&self, batch: &SpanBatch) -> Vec<bool> {
        eval::mask(&self.expr, batch)
    }

    /// Whether spans of this resource are visible, for a filter of resource attributes
    /// only ([`Visibility::by_resource`]; otherwise whether a span of it without attributes
    /// would be).
    pub fn admits(&self, resource: Option<&Resource>) -> bool {
        self.mask(&self.columns(&[(resource, &[])]))[0]
    }

    /// For each of `resources`, whether its spans are visible (see [`Visibility::admits`]).
    pub fn admits_each(&self, resources: &[Arc<ResourceEntry>]) -> Vec<bool> {
        resources
            .iter()
            .map(|r| self.admits(r.resource.as_ref()))
            .collect()
    }

    /// A batch of the filter's fields, a row per (resource, span attributes).
    fn columns(&self, rows: &[(Option<&Resource>, &[KeyValue])]) -> SpanBatch {
        let mut batch = SpanBatch {
            len: rows.len(),
            ..SpanBatch::default()
        };
        for key in &self.fields {
            let Some((scope, name)) = key.attribute() else {
                continue;
            };
            let mut b = ColBuilder::default();
            for (resource, attrs) in rows {
                let v = match scope {
                    Scope::Resource => resource.and_then(|r| find(&r.attributes, name)),
                    _ => find(attrs, name),
                };
                push_any(&mut b, v);
            }
            batch.cols.insert(key.clone(), b.finish());
        }
        batch
    }

    /// The spans of `spans` that are visible, and how many were withheld. A filter of
    /// resource attributes is evaluated once per distinct resource, another once over all
    /// the spans.
    pub fn restrict(&self, spans: Vec<HeadSpan>) -> (Vec<HeadSpan>, usize) {
        let before = spans.len();
        let kept: Vec<HeadSpan> = if self.by_resource {
            let mut seen: HashMap<*const ResourceEntry, bool> = HashMap::new();
            spans
                .into_iter()
                .filter(|s| {
                    *seen
                        .entry(Arc::as_ptr(&s.resource))
                        .or_insert_with(|| self.admits(s.resource.resource.as_ref()))
                })
                .collect()
        } else {
            let rows: Vec<(Option<&Resource>, &[KeyValue])> = spans
                .iter()
                .map(|s| (s.resource.resource.as_ref(), &s.span.attributes[..]))
                .collect();
            let keep = self.mask(&self.columns(&rows));
            spans
                .into_iter()
                .zip(keep)
                .filter_map(|(s, k)| k.then_some(s))
                .collect()
        };
        let withheld = before - kept.len();
        (kept, withheld)
    }
}

/// Refuses anything but resource and span attributes, literals and the operators between
/// them.
fn only_span_and_resource_attributes(e: &FieldExpr) -> Result<(), VisibilityError> {
    match &e.kind {
        FieldKind::Static(_) => Ok(()),
        FieldKind::Attribute(a)
            if matches!(a.scope, Scope::Resource | Scope::Span) && !a.parent =>
        {
            Ok(())
        }
        FieldKind::Attribute(a) => Err(VisibilityError::Shape(format!(
            "it names {}{}{}, which is not a resource. or span. attribute",
            if a.parent { "parent." } else { "" },
            a.scope.prefix(),
            a.name
        ))),
        FieldKind::Intrinsic(i) => Err(VisibilityError::Shape(format!(
            "it names the intrinsic {i:?}, which is not a resource. or span. attribute"
        ))),
        FieldKind::Unary { expr, .. } => only_span_and_resource_attributes(expr),
        FieldKind::Binary { lhs, rhs, .. } => {
            only_span_and_resource_attributes(lhs)?;
            only_span_and_resource_attributes(rhs)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arbor_model::otlp::kv_str;

    fn resource(pairs: &[(&str, &str)]) -> Resource {
        Resource {
            attributes: pairs.iter().map(|(k, v)| kv_str(k, v)).collect(),
            ..Resource::default()
        }
    }

    #[test]
    fn admits_by_resource_attribute() {
        let v = Visibility::parse(r#"{ resource.service.namespace = "shop" }"#).unwrap();
        assert!(v.admits(Some(&resource(&[("service.namespace", "shop")]))));
        assert!(!v.admits(Some(&resource(&[("service.namespace", "bank")]))));
        assert!(!v.admits(Some(&resource(&[("service.name", "shop")]))));
        assert!(!v.admits(None));
    }

    #[test]
    fn boolean_and_regex_filters() {
        let v = Visibility::parse(
            r#"{ resource.service.namespace =~ "shop|cart" && resource.env != "test" }"#,
        )
        .unwrap();
        assert!(v.admits(Some(&resource(&[
            ("service.namespace", "cart"),
            ("env", "prod")
        ]))));
        // As in TraceQL, a missing attribute fails every comparison, `!=` included.
        assert!(!v.admits(Some(&resource(&[("service.namespace", "cart")]))));
        assert!(!v.admits(Some(&resource(&[
            ("service.namespace", "cart"),
            ("env", "test")
        ]))));
        assert!(!v.admits(Some(&resource(&[("service.namespace", "shopping")]))));
    }

    #[test]
    fn a_filter_of_span_attributes_judges_each_span() {
        use arbor_model::otlp::Span;
        use arbor_storage::head::ScopeEntry;
        let v =
            Visibility::parse(r#"{ span.faas.name != nil && resource.cloud.provider = "aws" }"#)
                .unwrap();
        assert!(!v.by_resource());
        let res = Arc::new(ResourceEntry {
            resource: Some(resource(&[("cloud.provider", "aws")])),
            schema_url: String::new(),
        });
        let scope = Arc::new(ScopeEntry {
            scope: None,
            schema_url: String::new(),
        });
        let span = |name: &str, attrs| HeadSpan {
            resource: res.clone(),
            scope: scope.clone(),
            span: Span {
                name: name.into(),
                attributes: attrs,
                ..Default::default()
            },
        };
        let (kept, withheld) = v.restrict(vec![
            span("fn", vec![kv_str("faas.name", "checkout")]),
            span("plain", vec![kv_str("http.route", "/")]),
            span("fn2", vec![kv_str("faas.name", "cart")]),
        ]);
        let names: Vec<&str> = kept.iter().map(|s| s.span.name.as_str()).collect();
        assert_eq!((names, withheld), (vec!["fn", "fn2"], 1));
    }

    #[test]
    fn refuses_what_is_not_one_filter_of_resource_attributes() {
        for bad in [
            r#"{ .service.namespace = "shop" }"#,
            r#"{ event.x = "y" }"#,
            r#"{ name = "GET" }"#,
            r#"{ parent.resource.service.namespace = "shop" }"#,
            r#"{ resource.a = "x" } >> { resource.a = "y" }"#,
            r#"{ resource.a = "x" } | count() > 1"#,
            "{ }",
            r#"{ resource.a = "x" } | rate()"#,
            "{ resource.a = ",
        ] {
            assert!(Visibility::parse(bad).is_err(), "{bad} was taken");
        }
        let long = format!("{{ resource.a = \"{}\" }}", "x".repeat(MAX_FILTER_BYTES));
        assert!(matches!(
            Visibility::parse(&long),
            Err(VisibilityError::TooLong)
        ));
    }
}
