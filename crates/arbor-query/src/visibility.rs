//! What a read may see: a read token narrowed to a filter of resource attributes (for
//! example `{ resource.service.namespace = "shop" }`) sees only the spans whose resource
//! passes it.
//!
//! The narrowing is applied where spans are loaded, before anything is computed from them:
//!
//! - Search and TraceQL metrics: [`crate::search::batch::Needs::scope`] makes the head
//!   loader drop spans of resources out of scope, and the block loader drop the rows whose
//!   resource (the span file's resource index) is out of scope. Every answer — whether a
//!   trace matches, structural relations, `trace:rootService`, `trace:duration`, counts,
//!   summaries and returned spans — is then computed over the trace *as the token sees it*:
//!   its in-scope spans only. A span whose parent is out of scope is, to the token, a span
//!   with a missing parent.
//! - Trace by ID: [`Visibility::restrict`] drops the spans out of scope; the answer says
//!   how many were withheld and is marked partial.
//!
//! Only resource attributes may be named, so whether a span is visible depends on its
//! resource alone, which every stored form keeps once per resource: a filter is evaluated
//! once per distinct resource, not once per span.

use std::collections::HashMap;
use std::sync::Arc;

use arbor_model::otlp::Resource;
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
        "the scope filter must be one spanset filter of resource attributes, like {{ resource.service.namespace = \"shop\" }}; {0}"
    )]
    Shape(String),
}

/// A compiled scope filter.
#[derive(Debug)]
pub struct Visibility {
    text: String,
    expr: Expr,
    /// The resource attributes the filter reads.
    fields: Vec<FieldKey>,
}

impl Visibility {
    /// Parses `{ <expression of resource attributes> }`.
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
        only_resource_attributes(e)?;
        let mut needs = Needs::default();
        let expr = eval::compile(e, &mut needs).map_err(|e| VisibilityError::Shape(e.0))?;
        let mut fields: Vec<FieldKey> = needs.base.into_iter().collect();
        fields.sort();
        Ok(Visibility {
            text: text.trim().to_string(),
            expr,
            fields,
        })
    }

    /// The filter as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Whether spans of this resource are visible.
    pub fn admits(&self, resource: Option<&Resource>) -> bool {
        let mut batch = SpanBatch {
            len: 1,
            ..SpanBatch::default()
        };
        for key in &self.fields {
            let Some((_, name)) = key.attribute() else {
                continue;
            };
            let mut b = ColBuilder::default();
            push_any(&mut b, resource.and_then(|r| find(&r.attributes, name)));
            batch.cols.insert(key.clone(), b.finish());
        }
        eval::mask(&self.expr, &batch)[0]
    }

    /// For each of `resources`, whether its spans are visible.
    pub fn admits_each(&self, resources: &[Arc<ResourceEntry>]) -> Vec<bool> {
        resources
            .iter()
            .map(|r| self.admits(r.resource.as_ref()))
            .collect()
    }

    /// The spans of `spans` that are visible, and how many were withheld. Evaluates the
    /// filter once per distinct resource.
    pub fn restrict(&self, spans: Vec<HeadSpan>) -> (Vec<HeadSpan>, usize) {
        let mut seen: HashMap<*const ResourceEntry, bool> = HashMap::new();
        let before = spans.len();
        let kept: Vec<HeadSpan> = spans
            .into_iter()
            .filter(|s| {
                *seen
                    .entry(Arc::as_ptr(&s.resource))
                    .or_insert_with(|| self.admits(s.resource.resource.as_ref()))
            })
            .collect();
        let withheld = before - kept.len();
        (kept, withheld)
    }
}

/// Refuses anything but resource attributes, literals and the operators between them.
fn only_resource_attributes(e: &FieldExpr) -> Result<(), VisibilityError> {
    match &e.kind {
        FieldKind::Static(_) => Ok(()),
        FieldKind::Attribute(a) if a.scope == Scope::Resource && !a.parent => Ok(()),
        FieldKind::Attribute(a) => Err(VisibilityError::Shape(
            format!(
                "it names {}{}, which is not a resource attribute",
                if a.parent { "parent." } else { "" },
                a.scope.prefix(),
            ) + &a.name,
        )),
        FieldKind::Intrinsic(i) => Err(VisibilityError::Shape(format!(
            "it names the intrinsic {i:?}, which is not a resource attribute"
        ))),
        FieldKind::Unary { expr, .. } => only_resource_attributes(expr),
        FieldKind::Binary { lhs, rhs, .. } => {
            only_resource_attributes(lhs)?;
            only_resource_attributes(rhs)
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
    fn refuses_what_is_not_one_filter_of_resource_attributes() {
        for bad in [
            r#"{ span.http.route = "/x" }"#,
            r#"{ .service.namespace = "shop" }"#,
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
