//! Query parameters of Management API requests: unknown parameters are refused, a
//! parameter may appear once unless it is a list, and every error names the parameter.

use std::collections::HashMap;

use axum::http::StatusCode;
use clavis_types::Timestamp;

use crate::ApiError;

/// Most values one list parameter may hold.
const MAX_LIST: usize = 20;

/// Parsed query parameters.
pub(crate) struct Params {
    values: HashMap<String, Vec<String>>,
}

fn bad(name: &str, reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_request",
        format!("query parameter `{name}`: {reason}"),
    )
}

impl Params {
    /// Parse `query`, accepting only `known` names; names in `lists` may repeat (and may
    /// also hold comma-separated values).
    pub fn parse(query: Option<&str>, known: &[&str], lists: &[&str]) -> Result<Self, ApiError> {
        let mut values: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
            let k = k.into_owned();
            if k.chars().chain(v.chars()).any(char::is_control) {
                return Err(bad(&k, "contains a control character"));
            }
            if !known.contains(&k.as_str()) {
                return Err(bad(
                    &k,
                    format!("unknown parameter; expected one of: {}", known.join(", ")),
                ));
            }
            let entry = values.entry(k.clone()).or_default();
            if lists.contains(&k.as_str()) {
                entry.extend(
                    v.split(',')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(str::to_owned),
                );
                if entry.len() > MAX_LIST {
                    return Err(bad(&k, format!("at most {MAX_LIST} values")));
                }
            } else if entry.is_empty() {
                entry.push(v.into_owned());
            } else {
                return Err(bad(&k, "given more than once"));
            }
        }
        Ok(Self { values })
    }

    /// A single text value (empty strings count as absent).
    pub fn text(&self, name: &str) -> Option<&str> {
        self.values
            .get(name)
            .and_then(|v| v.first())
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// All values of a list parameter.
    pub fn list(&self, name: &str) -> Vec<String> {
        self.values.get(name).cloned().unwrap_or_default()
    }

    /// An integer within `min..=max`.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(s) = self.text(name) else {
            return Ok(None);
        };
        let n: i64 = s
            .parse()
            .map_err(|_| bad(name, format!("expected an integer, got `{s}`")))?;
        if n < min || n > max {
            return Err(bad(name, format!("must be between {min} and {max}")));
        }
        Ok(Some(n))
    }

    /// A time: RFC 3339, or a date `YYYY-MM-DD` (midnight UTC).
    pub fn time(&self, name: &str) -> Result<Option<Timestamp>, ApiError> {
        let Some(s) = self.text(name) else {
            return Ok(None);
        };
        let parsed = Timestamp::parse_rfc3339(s)
            .or_else(|| Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")));
        parsed
            .map(Some)
            .ok_or_else(|| bad(name, "expected an RFC 3339 time or a YYYY-MM-DD date"))
    }

    /// One of a fixed set of words.
    pub fn choice<'a>(
        &self,
        name: &str,
        choices: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, ApiError> {
        match self.text(name) {
            None => Ok(default),
            Some(s) => choices
                .iter()
                .find(|c| **c == s)
                .copied()
                .ok_or_else(|| bad(name, format!("expected one of: {}", choices.join(", ")))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_unknown_and_repeated_parameters() {
        assert!(Params::parse(Some("a=1&zz=2"), &["a"], &[]).is_err());
        assert!(Params::parse(Some("a=1&a=2"), &["a"], &[]).is_err());
        let p = Params::parse(Some("t=x,y&t=z"), &["t"], &["t"]).map_err(|e| e.description);
        assert_eq!(
            p.map(|p| p.list("t")).ok(),
            Some(vec!["x".into(), "y".into(), "z".into()])
        );
    }

    #[test]
    fn typed_values_name_the_parameter() {
        let p = Params::parse(Some("n=abc&d=2024-01-15"), &["n", "d"], &[]);
        let Ok(p) = p else { return assert!(p.is_ok()) };
        let err = p
            .int("n", 1, 10)
            .err()
            .map(|e| e.description)
            .unwrap_or_default();
        assert!(err.contains("`n`"), "{err}");
        assert_eq!(
            p.time("d").ok().flatten(),
            Timestamp::parse_rfc3339("2024-01-15T00:00:00Z")
        );
    }
}
