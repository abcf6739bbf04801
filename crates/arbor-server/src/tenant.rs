//! Tenants: `X-Scope-OrgID` names one (as in Grafana Tempo and Loki); without it, requests
//! belong to the default tenant `single-tenant`.

use http::HeaderMap;

pub const HEADER: &str = "x-scope-orgid";
pub const DEFAULT_TENANT: &str = "single-tenant";
const MAX_LEN: usize = 150;

/// A tenant ID that is not acceptable, with the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant id is longer than {MAX_LEN} characters")]
    TooLong,
    #[error("tenant id {0:?} has characters outside [A-Za-z0-9!_.*'()-]")]
    BadChars(String),
    #[error("tenant id may not be \".\" or \"..\"")]
    Dots,
}

/// Checks a tenant ID: 1–150 characters from the set Tempo allows, not `.` or `..`.
pub fn validate(id: &str) -> Result<&str, TenantError> {
    if id.len() > MAX_LEN {
        return Err(TenantError::TooLong);
    }
    if id == "." || id == ".." {
        return Err(TenantError::Dots);
    }
    let ok = id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!-_.*'()".contains(&b));
    if !ok || id.is_empty() {
        return Err(TenantError::BadChars(id.chars().take(40).collect()));
    }
    Ok(id)
}

/// The tenant of an HTTP request.
pub fn from_headers(headers: &HeaderMap) -> Result<String, TenantError> {
    from_value(headers.get(HEADER).map(|v| v.as_bytes()))
}

/// The tenant named by the raw value of `X-Scope-OrgID` (an HTTP header or gRPC
/// metadata), or the default tenant when there is none.
pub fn from_value(value: Option<&[u8]>) -> Result<String, TenantError> {
    let Some(raw) = value else {
        return Ok(DEFAULT_TENANT.to_string());
    };
    let s = std::str::from_utf8(raw)
        .ok()
        .filter(|s| s.is_ascii())
        .ok_or_else(|| TenantError::BadChars("(not ascii)".into()))?;
    validate(s.trim()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules() {
        assert!(validate("team-a_1").is_ok());
        assert_eq!(validate(".."), Err(TenantError::Dots));
        assert!(validate("a/b").is_err());
        assert!(validate(&"a".repeat(151)).is_err());
        let h = HeaderMap::new();
        assert_eq!(from_headers(&h).unwrap(), DEFAULT_TENANT);
    }
}
