//! Tempo's `tags` search parameter.

/// Converts Tempo's `tags` search parameter (logfmt `key=value` pairs) to TraceQL.
pub fn tags_to_traceql(tags: &str) -> Result<String, String> {
    let mut conds = Vec::new();
    let mut rest = tags.trim();
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("tags: expected key=value, found {rest:?}"))?;
        let key = rest[..eq].trim();
        rest = &rest[eq + 1..];
        let (value, after) = if let Some(stripped) = rest.strip_prefix('"') {
            let mut out = String::new();
            let mut chars = stripped.char_indices();
            let mut end = None;
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, n)) = chars.next() {
                            out.push(n);
                        }
                    }
                    '"' => {
                        end = Some(i + 1);
                        break;
                    }
                    c => out.push(c),
                }
            }
            let end = end.ok_or_else(|| "tags: unterminated quoted value".to_string())?;
            (out, &stripped[end..])
        } else {
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            (rest[..end].to_string(), &rest[end..])
        };
        rest = after.trim_start();
        if key.is_empty() {
            return Err("tags: empty key".into());
        }
        let quoted = format!("{:?}", value);
        conds.push(match key {
            "name" => format!("name = {quoted}"),
            "status.code" | "status" => match value.as_str() {
                "error" | "2" | "STATUS_CODE_ERROR" => "status = error".into(),
                "ok" | "1" | "STATUS_CODE_OK" => "status = ok".into(),
                "unset" | "0" | "STATUS_CODE_UNSET" => "status = unset".into(),
                _ => return Err(format!("tags: unknown status {value:?}")),
            },
            "service.name" => format!("resource.service.name = {quoted}"),
            k => {
                let needs_quotes = k
                    .chars()
                    .any(|c| c.is_whitespace() || "{}()=~!<>&|^,\"".contains(c));
                if needs_quotes {
                    format!(".{:?} = {quoted}", k)
                } else {
                    format!(".{k} = {quoted}")
                }
            }
        });
    }
    if conds.is_empty() {
        Ok("{}".into())
    } else {
        Ok(format!("{{ {} }}", conds.join(" && ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logfmt_tags() {
        assert_eq!(tags_to_traceql("").unwrap(), "{}");
        assert_eq!(
            tags_to_traceql(r#"service.name=api http.status_code="5 00" name=GET"#).unwrap(),
            r#"{ resource.service.name = "api" && .http.status_code = "5 00" && name = "GET" }"#
        );
        assert_eq!(
            tags_to_traceql("status=error").unwrap(),
            "{ status = error }"
        );
        assert!(tags_to_traceql("novalue").is_err());
    }
}
