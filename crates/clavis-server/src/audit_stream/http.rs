//! The HTTP kinds: one `POST` per batch, success only on a 2xx answer.
//!
//! - `https`: a JSON array of the events' readable views. `Authorization: Bearer <secret>`
//!   when the sink has a secret (unless option `bearer` is false). With option `signature`,
//!   `X-Clavis-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`, so
//!   the receiver can check origin and freshness (compare in constant time, reject old `t`).
//! - `splunk_hec`: `Authorization: Splunk <token>`; the body is the concatenation of one
//!   HEC event object per event: `{"time": <epoch seconds with milliseconds>, "host",
//!   "source", "sourcetype": "clavis:audit", "index"?, "event": <view>}`.
//! - `datadog`: `DD-API-KEY: <key>`; the body is a JSON array of
//!   `{"ddsource": "clavis", "service", "hostname", "ddtags", "message": <view as JSON text>}`.

use std::sync::Arc;

use clavis_core::model::SinkKind;
use serde_json::{Value, json};

use super::net::{NetPolicy, PolicyResolver};
use super::{AuditStreamError, AuditStreamOptions, Batch, DeliveryError};

/// Splunk `sourcetype` of every event.
pub(crate) const SPLUNK_SOURCETYPE: &str = "clavis:audit";
/// Header carrying the HMAC signature of an `https` sink's body.
pub(crate) const SIGNATURE_HEADER: &str = "x-clavis-signature";
/// Most bytes of an error answer kept for the sink's `last_error`.
const ERROR_BODY_BYTES: usize = 300;

/// The HTTP client every sink of this node uses: no redirects, no proxy, timeouts, and the
/// policy resolver.
pub(crate) fn client(
    opts: &AuditStreamOptions,
    policy: NetPolicy,
) -> Result<reqwest::Client, AuditStreamError> {
    let roots = opts
        .extra_root_certs
        .iter()
        .map(|der| reqwest::Certificate::from_der(der))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| AuditStreamError::Tls(e.to_string()))?;
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .no_proxy()
        .connect_timeout(opts.connect_timeout)
        .timeout(opts.request_timeout)
        .user_agent(concat!("clavis/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(PolicyResolver(policy)))
        .tls_certs_merge(roots)
        .build()
        .map_err(|e| AuditStreamError::Tls(error_chain(&e)))
}

/// Refuse a URL the policy does not allow before any connection is attempted (IP literals
/// do not go through the resolver).
fn check_url(url: &reqwest::Url, policy: NetPolicy) -> Result<(), DeliveryError> {
    let host = url
        .host()
        .ok_or_else(|| DeliveryError("the endpoint has no host".into()))?;
    let ip = match host {
        url::Host::Ipv4(ip) => Some(std::net::IpAddr::V4(ip)),
        url::Host::Ipv6(ip) => Some(std::net::IpAddr::V6(ip)),
        url::Host::Domain(_) => None,
    };
    match url.scheme() {
        "https" => {}
        "http"
            if policy.allow_loopback
                && clavis_core::service::audit_sinks::is_loopback_host(&host) => {}
        "http" => {
            return Err(DeliveryError(
                "plain http:// is refused (only loopback test endpoints, when this server allows them)"
                    .into(),
            ));
        }
        other => return Err(DeliveryError(format!("unsupported scheme {other}"))),
    }
    if let Some(ip) = ip.filter(|ip| !policy.permits(*ip)) {
        return Err(DeliveryError(format!(
            "{ip} is an address audit sinks may not reach (loopback, private, link-local or reserved)"
        )));
    }
    Ok(())
}

/// Encode and send one batch to an HTTP sink.
pub(crate) async fn send(
    client: &reqwest::Client,
    policy: NetPolicy,
    batch: &Batch<'_>,
) -> Result<(), DeliveryError> {
    let url = reqwest::Url::parse(&batch.sink.endpoint)
        .map_err(|e| DeliveryError(format!("invalid endpoint: {e}")))?;
    check_url(&url, policy)?;
    let body = encode(batch)?;
    let mut req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json");
    let secret = batch.secret;
    match (batch.sink.kind, secret) {
        (SinkKind::Https, s) => {
            if let Some(s) =
                s.filter(|_| batch.sink.options.get("bearer") != Some(&Value::Bool(false)))
            {
                req = req.bearer_auth(s);
            }
            if let Some(s) =
                s.filter(|_| batch.sink.options.get("signature") == Some(&Value::Bool(true)))
            {
                req = req.header(SIGNATURE_HEADER, signature(s, batch.now.as_secs(), &body));
            }
        }
        (SinkKind::SplunkHec, Some(s)) => {
            req = req.header(reqwest::header::AUTHORIZATION, format!("Splunk {s}"));
        }
        (SinkKind::Datadog, Some(s)) => req = req.header("DD-API-KEY", s),
        (SinkKind::SplunkHec | SinkKind::Datadog, None) => {
            return Err(DeliveryError("the sink has no secret".into()));
        }
        (SinkKind::Syslog, _) => return Err(DeliveryError("not an HTTP sink".into())),
    }
    let resp =
        req.body(body).send().await.map_err(|e| {
            DeliveryError(format!("request failed: {}", error_chain(&e.without_url())))
        })?;
    let status = resp.status();
    if status.is_success() {
        // Read (a bounded part of) the answer so the connection can be reused.
        drain(resp).await;
        return Ok(());
    }
    let snippet = error_snippet(resp).await;
    Err(DeliveryError(if snippet.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {snippet}")
    }))
}

/// The request body of a batch for its kind.
pub(crate) fn encode(batch: &Batch<'_>) -> Result<Vec<u8>, DeliveryError> {
    let enc = |v: &Value| {
        serde_json::to_vec(v).map_err(|e| DeliveryError(format!("encoding failed: {e}")))
    };
    match batch.sink.kind {
        SinkKind::Https => enc(&Value::Array(
            batch.items.iter().map(|i| i.view.clone()).collect(),
        )),
        SinkKind::SplunkHec => {
            let host = batch.option("host").unwrap_or(batch.hostname);
            let source = batch.option("source").unwrap_or("clavis");
            let mut out = Vec::new();
            for item in batch.items {
                let ms = item.event.timestamp.as_millis();
                // Seconds with millisecond precision; f64 prints the shortest form that
                // reads back as the same value, i.e. at most three decimals.
                #[allow(clippy::cast_precision_loss)]
                let time = ms as f64 / 1000.0;
                let mut e = json!({
                    "time": time,
                    "host": host,
                    "source": source,
                    "sourcetype": SPLUNK_SOURCETYPE,
                    "event": item.view,
                });
                if let (Some(index), Some(obj)) = (batch.option("index"), e.as_object_mut()) {
                    obj.insert("index".to_owned(), json!(index));
                }
                out.extend(enc(&e)?);
            }
            Ok(out)
        }
        SinkKind::Datadog => {
            let service = batch.option("service").unwrap_or("clavis");
            let hostname = batch.option("hostname").unwrap_or(batch.hostname);
            let mut tags = format!("tenant:{}", batch.tenant.slug);
            if let Some(extra) = batch.option("tags") {
                tags.push(',');
                tags.push_str(extra);
            }
            let mut entries = Vec::with_capacity(batch.items.len());
            for item in batch.items {
                let message = serde_json::to_string(&item.view)
                    .map_err(|e| DeliveryError(format!("encoding failed: {e}")))?;
                entries.push(json!({
                    "ddsource": "clavis",
                    "service": service,
                    "hostname": hostname,
                    "ddtags": tags,
                    "message": message,
                }));
            }
            enc(&Value::Array(entries))
        }
        SinkKind::Syslog => Err(DeliveryError("not an HTTP sink".into())),
    }
}

/// `t=<secs>,v1=<hex HMAC-SHA256(secret, "<secs>.<body>")>`.
pub(crate) fn signature(secret: &str, secs: i64, body: &[u8]) -> String {
    let key = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret.as_bytes());
    let mut ctx = aws_lc_rs::hmac::Context::with_key(&key);
    ctx.update(secs.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let hex: String = tag.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    format!("t={secs},v1={hex}")
}

/// The start of an error answer, as printable text.
async fn error_snippet(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY_BYTES {
        match resp.chunk().await {
            Ok(Some(c)) => buf.extend_from_slice(&c),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY_BYTES);
    String::from_utf8_lossy(&buf)
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect::<String>()
        .trim()
        .to_owned()
}

/// Read and drop at most 64 KiB of an answer.
async fn drain(mut resp: reqwest::Response) {
    let mut left: usize = 64 * 1024;
    while let Ok(Some(c)) = resp.chunk().await {
        left = left.saturating_sub(c.len());
        if left == 0 {
            break;
        }
    }
}

/// An error with its causes (`a: b: c`); reqwest's own text alone says little.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cur = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_over_time_dot_body() {
        // HMAC-SHA256("key", "1700000000.[]"), computed independently with
        // `printf '1700000000.[]' | openssl dgst -sha256 -hmac key`.
        assert_eq!(
            signature("key", 1_700_000_000, b"[]"),
            "t=1700000000,v1=2afce10b4f37880815b715635811bcfa4d5334e7213eea5bc2e130e1008055c3"
        );
    }

    #[test]
    fn plain_http_and_internal_literals_are_refused_before_connecting() {
        let strict = NetPolicy {
            allow_private: false,
            allow_loopback: false,
        };
        let test = NetPolicy {
            allow_private: false,
            allow_loopback: true,
        };
        let url = |s: &str| reqwest::Url::parse(s).ok();
        let ok = |u: &str, p| url(u).is_some_and(|u| check_url(&u, p).is_ok());
        assert!(ok("https://siem.example.com/x", strict));
        assert!(!ok("http://127.0.0.1:9/x", strict));
        assert!(ok("http://127.0.0.1:9/x", test));
        assert!(ok("http://localhost:9/x", test));
        assert!(!ok("http://siem.example.com/x", test));
        assert!(!ok("https://169.254.169.254/latest", test));
        assert!(!ok("https://10.0.0.1/", strict));
        assert!(!ok("https://[::1]/", strict));
    }
}
