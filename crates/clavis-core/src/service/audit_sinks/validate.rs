//! Validation of sink configuration: endpoints per kind, secrets, options, and the event
//! type filter. Errors name the offending field (`endpoint`, `options.batch_size`, …).

use std::net::IpAddr;

use serde_json::{Value, json};

use super::MAX_SINK_BATCH;
use crate::CoreError;
use crate::model::{JsonMap, SinkKind};

const MAX_SECRET_LEN: usize = 4096;
const MAX_ENDPOINT_LEN: usize = 2048;
const MAX_EVENT_TYPES: usize = 50;

/// The endpoint without user info, query string or fragment (any of which may carry a
/// token), safe to show and to log.
pub fn endpoint_for_log(endpoint: &str) -> String {
    if let Ok(mut url) = url::Url::parse(endpoint)
        && url.has_host()
    {
        // Cannot fail for a URL with a host.
        let _ = url.set_username("");
        let _ = url.set_password(None);
        url.set_query(None);
        url.set_fragment(None);
        return url.to_string();
    }
    let base = endpoint.split(['?', '#']).next().unwrap_or_default();
    match base.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
            format!("{scheme}://{host}{path}")
        }
        None => base.to_owned(),
    }
}

pub(super) fn validate_name(name: &str) -> Result<String, CoreError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(CoreError::invalid("name", "must be 1 to 100 characters"));
    }
    if name.chars().any(char::is_control) {
        return Err(CoreError::invalid(
            "name",
            "must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

/// Whether `host` (as the URL parser gives it) is a loopback host.
pub fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        url::Host::Ipv6(ip) => IpAddr::V6(*ip).is_loopback(),
    }
}

/// Whether `ip` is a loopback or private-network address (RFC 1918, CGNAT 100.64/10,
/// benchmarking 198.18/15, IPv6 unique-local fc00::/7; IPv4-mapped forms too): the only
/// places plain `tcp://` syslog may go, since it carries personal data unencrypted.
pub fn is_loopback_or_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, _, _] = v4.octets();
            v4.is_loopback()
                || v4.is_private()
                || (a == 100 && (64..128).contains(&b))
                || (a == 198 && (b & 0xfe) == 18)
        }
        IpAddr::V6(v6) => v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

/// Check an endpoint against its kind and return it normalised.
///
/// A `tcp://` syslog endpoint that is an IP address must be a loopback or private one
/// ([`is_loopback_or_private`]); a host name is checked when the delivery worker resolves
/// it, which refuses plain TCP to any public address. Public hosts need `tls://`.
pub fn validate_endpoint(kind: SinkKind, endpoint: &str) -> Result<String, CoreError> {
    let bad = |reason: &str| CoreError::invalid("endpoint", reason);
    let endpoint = endpoint.trim();
    if endpoint.is_empty() || endpoint.len() > MAX_ENDPOINT_LEN {
        return Err(bad("must be a URL of at most 2048 characters"));
    }
    let url = url::Url::parse(endpoint).map_err(|e| bad(&format!("not a URL ({e})")))?;
    let host = url.host().ok_or_else(|| bad("must name a host"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("must not carry credentials; put the token in `secret`"));
    }
    if url.fragment().is_some() {
        return Err(bad("must not have a fragment"));
    }
    match kind {
        SinkKind::Https | SinkKind::SplunkHec | SinkKind::Datadog => match url.scheme() {
            "https" => {}
            "http" if is_loopback_host(&host) => {}
            "http" => {
                return Err(bad(
                    "must use https:// (http:// only for a loopback test endpoint)",
                ));
            }
            _ => return Err(bad("must be an https:// URL")),
        },
        SinkKind::Syslog => {
            if !matches!(url.scheme(), "tcp" | "tls") {
                return Err(bad("must be tcp://host:port or tls://host:port"));
            }
            if url.port().is_none() {
                return Err(bad(
                    "must name the port (tcp://host:port or tls://host:port)",
                ));
            }
            if !matches!(url.path(), "" | "/") || url.query().is_some() {
                return Err(bad("must be only tcp://host:port or tls://host:port"));
            }
            // `tcp`/`tls` are not special schemes: the URL parser leaves an IPv4 address
            // as a domain, so parse it here.
            let ip = match host {
                url::Host::Ipv4(ip) => Some(IpAddr::V4(ip)),
                url::Host::Ipv6(ip) => Some(IpAddr::V6(ip)),
                url::Host::Domain(d) => d.parse::<IpAddr>().ok(),
            };
            let public_ip = ip.is_some_and(|ip| !is_loopback_or_private(ip));
            if url.scheme() == "tcp" && public_ip {
                return Err(bad(
                    "plain tcp:// would send personal data unencrypted: use tls://host:port \
                     (tcp:// only to a loopback or private-network address)",
                ));
            }
        }
    }
    Ok(url.to_string())
}

pub(super) fn validate_secret(kind: SinkKind, secret: Option<&str>) -> Result<(), CoreError> {
    if let Some(s) = secret {
        if kind == SinkKind::Syslog {
            return Err(CoreError::invalid("secret", "syslog sinks take no secret"));
        }
        if s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| (0x21..=0x7e).contains(&b)) {
            return Err(CoreError::invalid(
                "secret",
                "must be at most 4096 printable ASCII characters without spaces",
            ));
        }
    }
    validate_secret_presence(kind, secret.is_some())
}

pub(super) fn validate_secret_presence(kind: SinkKind, present: bool) -> Result<(), CoreError> {
    match kind {
        SinkKind::SplunkHec if !present => Err(CoreError::invalid(
            "secret",
            "a Splunk HEC sink needs its token",
        )),
        SinkKind::Datadog if !present => Err(CoreError::invalid(
            "secret",
            "a Datadog sink needs its API key",
        )),
        _ => Ok(()),
    }
}

/// Check a sink's options against its kind and return them normalised.
///
/// Every kind: `batch_size` (1–1000 events per delivery; the worker's default otherwise)
/// and `event_types` (deliver only these types; a value ending in `.*` is a prefix;
/// other events are skipped, not delivered later).
/// - `https`: `signature` (bool: sign the body with HMAC-SHA256 under the secret),
///   `bearer` (bool, default true: send the secret as `Authorization: Bearer`).
/// - `splunk_hec`: `index`, `source` (default `clavis`), `host`.
/// - `datadog`: `service` (default `clavis`), `hostname`, `tags` (Datadog `ddtags`).
/// - `syslog`: `hostname` (HOSTNAME field), `facility` (0–23, default 13, log audit).
pub fn validate_options(
    kind: SinkKind,
    options: &JsonMap,
    has_secret: bool,
) -> Result<JsonMap, CoreError> {
    let mut out = JsonMap::new();
    for (key, value) in options {
        let field = format!("options.{key}");
        let bad = |reason: &str| CoreError::invalid(field.clone(), reason);
        let text = |max: usize, printable_only: bool| -> Result<Value, CoreError> {
            match value.as_str().map(str::trim) {
                Some(s)
                    if !s.is_empty()
                        && s.chars().count() <= max
                        && !s.chars().any(char::is_control)
                        && (!printable_only || s.bytes().all(|b| (0x21..=0x7e).contains(&b))) =>
                {
                    Ok(json!(s))
                }
                _ if printable_only => Err(bad(&format!(
                    "must be 1 to {max} printable ASCII characters without spaces"
                ))),
                _ => Err(bad(&format!("must be a string of 1 to {max} characters"))),
            }
        };
        let boolean = || {
            value
                .as_bool()
                .map(Value::Bool)
                .ok_or_else(|| bad("must be true or false"))
        };
        let v = match (kind, key.as_str()) {
            (_, "batch_size") => match value.as_u64() {
                Some(n) if (1..=u64::from(MAX_SINK_BATCH)).contains(&n) => json!(n),
                _ => return Err(bad("must be an integer from 1 to 1000")),
            },
            (_, "event_types") => Value::Array(event_types(value).map_err(&bad)?),
            (SinkKind::Https, "bearer") => boolean()?,
            (SinkKind::Https, "signature") => {
                let on = boolean()?;
                if on == Value::Bool(true) && !has_secret {
                    return Err(bad("signing needs a secret to sign with"));
                }
                on
            }
            (SinkKind::SplunkHec, "index") => text(80, true)?,
            (SinkKind::SplunkHec, "source") => text(200, false)?,
            (SinkKind::SplunkHec, "host") => text(255, false)?,
            (SinkKind::Datadog, "service") => text(100, false)?,
            (SinkKind::Datadog, "hostname") => text(255, false)?,
            (SinkKind::Datadog, "tags") => text(1000, false)?,
            (SinkKind::Syslog, "hostname") => text(255, true)?,
            (SinkKind::Syslog, "facility") => match value.as_u64() {
                Some(n) if n <= 23 => json!(n),
                _ => return Err(bad("must be an integer from 0 to 23")),
            },
            _ => {
                return Err(bad(&format!("unknown option for a {} sink", kind.as_str())));
            }
        };
        out.insert(key.clone(), v);
    }
    Ok(out)
}

fn event_types(value: &Value) -> Result<Vec<Value>, &'static str> {
    const REASON: &str =
        "must be a list of at most 50 event types (a value ending in `.*` is a prefix)";
    let items = value.as_array().ok_or(REASON)?;
    if items.is_empty() || items.len() > MAX_EVENT_TYPES {
        return Err(REASON);
    }
    items
        .iter()
        .map(|v| match v.as_str().map(str::trim) {
            Some(s)
                if !s.is_empty()
                    && s.len() <= 100
                    && s.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._-*".contains(&b))
                    && !s.trim_end_matches(".*").contains('*') =>
            {
                Ok(json!(s))
            }
            _ => Err(REASON),
        })
        .collect()
}

/// Whether `event_type` passes a sink's `event_types` option (no option: everything).
pub fn sink_accepts(options: &JsonMap, event_type: &str) -> bool {
    let Some(Value::Array(types)) = options.get("event_types") else {
        return true;
    };
    types
        .iter()
        .filter_map(Value::as_str)
        .any(|t| match t.strip_suffix(".*") {
            Some(prefix) => event_type
                .strip_prefix(prefix)
                .is_some_and(|rest| rest.starts_with('.')),
            None => t == event_type,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: Value) -> JsonMap {
        match v {
            Value::Object(m) => m,
            _ => JsonMap::new(),
        }
    }

    fn field_of(e: CoreError) -> String {
        match e {
            CoreError::Invalid { field, .. } => field,
            other => format!("not a validation error: {other}"),
        }
    }

    #[test]
    fn endpoints_match_their_kind() {
        let ok = |k, e: &str| validate_endpoint(k, e).map_err(field_of);
        assert!(ok(SinkKind::Https, "https://siem.example.com/hook?x=1").is_ok());
        assert!(
            ok(
                SinkKind::SplunkHec,
                "http://127.0.0.1:8088/services/collector/event"
            )
            .is_ok()
        );
        assert!(ok(SinkKind::Datadog, "http://[::1]:9/api/v2/logs").is_ok());
        assert_eq!(
            ok(SinkKind::Https, "http://siem.example.com/"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Https, "http://10.0.0.1/"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Https, "ftp://x.example/"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Https, "https://u:p@x.example/"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Https, "https://x.example/#f"),
            Err("endpoint".into())
        );
        assert_eq!(ok(SinkKind::Https, "not a url"), Err("endpoint".into()));
        assert!(ok(SinkKind::Syslog, "tls://logs.example.com:6514").is_ok());
        assert!(ok(SinkKind::Syslog, "tcp://127.0.0.1:514").is_ok());
        // Plain TCP carries personal data unencrypted: never to a public address.
        for internal in [
            "tcp://10.1.2.3:514",
            "tcp://172.16.0.9:514",
            "tcp://192.168.1.2:514",
            "tcp://100.64.0.1:514",
            "tcp://[::1]:514",
            "tcp://[fd00::5]:514",
            "tcp://[::ffff:10.0.0.1]:514",
            "tcp://localhost:514",
            "tcp://syslog.internal:514",
        ] {
            assert!(ok(SinkKind::Syslog, internal).is_ok(), "{internal}");
        }
        for public in [
            "tcp://93.184.216.34:514",
            "tcp://8.8.8.8:514",
            "tcp://[2606:4700::1111]:514",
            "tcp://[::ffff:8.8.8.8]:514",
            "tcp://172.32.0.1:514",
        ] {
            assert_eq!(
                ok(SinkKind::Syslog, public),
                Err("endpoint".into()),
                "{public}"
            );
        }
        assert!(ok(SinkKind::Syslog, "tls://93.184.216.34:6514").is_ok());
        assert_eq!(
            ok(SinkKind::Syslog, "tcp://logs.example.com"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Syslog, "udp://logs.example.com:514"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Syslog, "tcp://h.example:514/path"),
            Err("endpoint".into())
        );
        assert_eq!(
            ok(SinkKind::Syslog, "https://h.example:514"),
            Err("endpoint".into())
        );
    }

    #[test]
    fn options_are_checked_per_kind_naming_the_field() {
        let check = |k, v: Value, secret| validate_options(k, &opts(v), secret).map_err(field_of);
        assert!(
            check(
                SinkKind::Https,
                json!({"batch_size": 10, "signature": true}),
                true
            )
            .is_ok()
        );
        assert_eq!(
            check(SinkKind::Https, json!({"signature": true}), false),
            Err("options.signature".into())
        );
        assert_eq!(
            check(SinkKind::Https, json!({"batch_size": 0}), false),
            Err("options.batch_size".into())
        );
        assert_eq!(
            check(SinkKind::Https, json!({"batch_size": 1001}), false),
            Err("options.batch_size".into())
        );
        assert_eq!(
            check(SinkKind::Https, json!({"index": "main"}), false),
            Err("options.index".into())
        );
        assert!(
            check(
                SinkKind::SplunkHec,
                json!({"index": "main", "source": "idp"}),
                true
            )
            .is_ok()
        );
        assert_eq!(
            check(SinkKind::SplunkHec, json!({"index": "has space"}), true),
            Err("options.index".into())
        );
        assert_eq!(
            check(SinkKind::Syslog, json!({"facility": 24}), false),
            Err("options.facility".into())
        );
        assert_eq!(
            check(
                SinkKind::Syslog,
                json!({"event_types": ["user.*", "x*y"]}),
                false
            ),
            Err("options.event_types".into())
        );
        assert!(
            check(
                SinkKind::Datadog,
                json!({"tags": "env:prod,team:iam"}),
                true
            )
            .is_ok()
        );
    }

    #[test]
    fn secrets_are_required_refused_and_bounded_per_kind() {
        let f = |k, s| validate_secret(k, s).map_err(field_of);
        assert_eq!(f(SinkKind::SplunkHec, None), Err("secret".into()));
        assert_eq!(f(SinkKind::Datadog, None), Err("secret".into()));
        assert_eq!(f(SinkKind::Syslog, Some("x")), Err("secret".into()));
        assert_eq!(f(SinkKind::Https, Some("has space")), Err("secret".into()));
        assert_eq!(
            f(SinkKind::Https, Some("bad\r\nheader")),
            Err("secret".into())
        );
        assert!(f(SinkKind::Https, None).is_ok());
        assert!(f(SinkKind::SplunkHec, Some("b0b0-token")).is_ok());
    }

    #[test]
    fn event_type_filter_matches_exact_and_prefix() {
        let o = opts(json!({"event_types": ["user.login.*", "token.issued"]}));
        assert!(sink_accepts(&o, "user.login.success"));
        assert!(sink_accepts(&o, "token.issued"));
        assert!(!sink_accepts(&o, "user.loginx"));
        assert!(!sink_accepts(&o, "user.login"));
        assert!(!sink_accepts(&o, "token.issued.x"));
        assert!(sink_accepts(&JsonMap::new(), "anything"));
    }

    #[test]
    fn log_form_of_an_endpoint_drops_the_query_and_user_info() {
        assert_eq!(
            endpoint_for_log("https://x.example/a?dd-api-key=k#f"),
            "https://x.example/a"
        );
        assert_eq!(
            endpoint_for_log("https://user:s3cret@x.example:8088/a/b?token=t"),
            "https://x.example:8088/a/b"
        );
        assert_eq!(
            endpoint_for_log("https://s3cret@x.example"),
            "https://x.example/"
        );
        assert_eq!(
            endpoint_for_log("tls://logs.example.com:6514"),
            "tls://logs.example.com:6514"
        );
        // Not parseable as a URL: still cut by hand.
        assert_eq!(
            endpoint_for_log("https://u:s3cret@[bad/p?q=s3cret"),
            "https://[bad/p"
        );
        assert_eq!(endpoint_for_log("no scheme?token=s3cret"), "no scheme");
    }
}
