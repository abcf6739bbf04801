//! Attributes per span and attribute key length per tenant (`max_attributes_per_span`,
//! `max_attribute_key_bytes`). A span's attributes with a key longer than the limit are
//! dropped, then those past the count limit; both are counted in the span's
//! `dropped_attributes_count` (as OTLP defines it) and reported to the client in the
//! answer's partial-success message, which names the tenant and the limit. The span itself
//! is kept. Resource, scope, event and link attributes are held to the same count limit by
//! the validation every request goes through (`arbor_model::validate`).

use arbor_model::otlp::ExportTraceServiceRequest;

use super::overrides::TenantLimits;

/// Attributes dropped from a request's spans.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Dropped {
    /// Past `max_attributes_per_span`.
    pub over_count: u64,
    /// With a key past `max_attribute_key_bytes`.
    pub long_keys: u64,
}

impl Dropped {
    /// The client's message, if anything was dropped.
    pub fn message(&self, tenant: &str, limits: &TenantLimits) -> Option<String> {
        let mut parts = Vec::new();
        if self.long_keys > 0 {
            parts.push(format!(
                "{} span attributes dropped: key longer than max_attribute_key_bytes = {} of tenant {tenant:?} (overrides)",
                self.long_keys, limits.max_attribute_key_bytes
            ));
        }
        if self.over_count > 0 {
            parts.push(format!(
                "{} span attributes dropped past max_attributes_per_span = {} of tenant {tenant:?} (overrides)",
                self.over_count, limits.max_attributes_per_span
            ));
        }
        (!parts.is_empty()).then(|| parts.join("; "))
    }
}

/// Drops the span attributes past the tenant's limits. The count is held here only when
/// `overridden` (the tenant's limit is not the global `limits.max_attributes_per_span`);
/// else validation holds it, and its message names the global setting.
pub fn enforce(
    req: &mut ExportTraceServiceRequest,
    limits: &TenantLimits,
    overridden: bool,
) -> Dropped {
    let mut d = Dropped::default();
    let max_key = limits.max_attribute_key_bytes;
    let max_count = if overridden {
        limits.max_attributes_per_span
    } else {
        usize::MAX
    };
    if max_key == 0 && !overridden {
        return d;
    }
    for span in req
        .resource_spans
        .iter_mut()
        .flat_map(|rs| &mut rs.scope_spans)
        .flat_map(|ss| &mut ss.spans)
    {
        let before = span.attributes.len();
        if max_key > 0 {
            span.attributes.retain(|kv| kv.key.len() <= max_key);
        }
        let long = before - span.attributes.len();
        let over = span.attributes.len().saturating_sub(max_count);
        span.attributes.truncate(max_count);
        let dropped = (long + over) as u64;
        if dropped > 0 {
            span.dropped_attributes_count = span
                .dropped_attributes_count
                .saturating_add(u32::try_from(dropped).unwrap_or(u32::MAX));
        }
        d.long_keys += long as u64;
        d.over_count += over as u64;
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use arbor_model::otlp::{ResourceSpans, ScopeSpans, Span};

    #[test]
    fn long_keys_then_the_count() {
        let attrs = ["a", "bb", "a-very-long-key", "c", "d"]
            .iter()
            .map(|k| arbor_model::otlp::kv_str(k, "v"))
            .collect();
        let mut req = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        attributes: attrs,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        let limits = TenantLimits {
            max_attributes_per_span: 3,
            max_attribute_key_bytes: 4,
            ..TenantLimits::from_config(&Config::default())
        };
        let d = enforce(&mut req, &limits, true);
        assert_eq!(
            d,
            Dropped {
                over_count: 1,
                long_keys: 1
            }
        );
        let span = &req.resource_spans[0].scope_spans[0].spans[0];
        let keys: Vec<&str> = span.attributes.iter().map(|a| a.key.as_str()).collect();
        assert_eq!(keys, ["a", "bb", "c"]);
        assert_eq!(span.dropped_attributes_count, 2);
        let m = d.message("t", &limits).unwrap();
        assert!(
            m.contains("max_attribute_key_bytes = 4") && m.contains("max_attributes_per_span = 3"),
            "{m}"
        );
    }
}
