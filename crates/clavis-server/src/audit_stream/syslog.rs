//! Syslog sinks: RFC 5424 messages over TCP (`tcp://host:port`) or TLS (`tls://host:port`,
//! RFC 5425, verified against the platform's trust store plus any configured roots),
//! framed by octet counting (RFC 6587 §3.4.1: `MSG-LEN SP SYSLOG-MSG`). One connection per
//! batch; the batch counts as delivered once every frame is written and the connection
//! closed cleanly (TCP gives no application-level acknowledgement).
//!
//! Plain TCP carries the events' personal data unencrypted, so it goes only to loopback or
//! private-network addresses (which the worker's options must admit as well): a `tcp://`
//! host that resolves only to public addresses is refused before any connection is made,
//! and its public addresses are never tried; public hosts need `tls://`.
//!
//! Each event is one message:
//!
//! ```text
//! <PRI>1 TIMESTAMP HOSTNAME clavis - MSGID [clavis@32473 event_id="…" event_type="…" seq="…" tenant="…"] BOM{event JSON}
//! ```
//!
//! PRI = facility × 8 + severity, facility from the sink's `facility` option (default 13,
//! "log audit"), severity 6 (informational); TIMESTAMP is the event's time (UTC,
//! milliseconds); HOSTNAME the sink's `hostname` option or the server's; MSGID the event
//! type cut to 32 printable ASCII characters; MSG the event's readable view as UTF-8 JSON
//! preceded by the byte-order mark RFC 5424 §6.4 asks for. The SD-ID uses enterprise
//! number 32473, which RFC 5612 reserves for documentation and examples: Clavis has no
//! number of its own.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio_rustls::rustls;

use super::net::NetPolicy;
use super::{AuditStreamError, Batch, DeliveryError, Item};

/// SD-ID of the structured data element every message carries.
pub(crate) const SD_ID: &str = "clavis@32473";
/// APP-NAME of every message.
pub(crate) const APP_NAME: &str = "clavis";
/// Facility when the sink does not name one: 13, log audit.
const DEFAULT_FACILITY: u8 = 13;
/// Severity of every message: informational.
const SEVERITY: u8 = 6;
/// UTF-8 byte-order mark that starts MSG (RFC 5424 §6.4).
const BOM: &str = "\u{feff}";

/// How syslog connections are made.
pub(crate) struct Transport {
    pub policy: NetPolicy,
    pub tls: Arc<rustls::ClientConfig>,
    pub connect_timeout: Duration,
    pub timeout: Duration,
}

/// The TLS client configuration for `tls://` sinks.
pub(crate) fn tls_config(
    extra_roots: &[Vec<u8>],
) -> Result<Arc<rustls::ClientConfig>, AuditStreamError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let extra: Vec<rustls::pki_types::CertificateDer<'static>> = extra_roots
        .iter()
        .map(|der| rustls::pki_types::CertificateDer::from(der.clone()))
        .collect();
    let verifier = if extra.is_empty() {
        rustls_platform_verifier::Verifier::new(provider.clone())
    } else {
        rustls_platform_verifier::Verifier::new_with_extra_roots(extra, provider.clone())
    }
    .map_err(|e| AuditStreamError::Tls(e.to_string()))?;
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| AuditStreamError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Send one batch: every message, octet-counted, on one connection.
pub(crate) async fn send(t: &Transport, batch: &Batch<'_>) -> Result<(), DeliveryError> {
    let url = url::Url::parse(&batch.sink.endpoint)
        .map_err(|e| DeliveryError(format!("invalid endpoint: {e}")))?;
    let tls = match url.scheme() {
        "tcp" => false,
        "tls" => true,
        other => return Err(DeliveryError(format!("unsupported scheme {other}"))),
    };
    let host = url
        .host_str()
        .map(|h| h.trim_start_matches('[').trim_end_matches(']').to_owned())
        .ok_or_else(|| DeliveryError("the endpoint has no host".into()))?;
    let port = url
        .port()
        .ok_or_else(|| DeliveryError("the endpoint has no port".into()))?;
    let payload = frames(batch);
    let work = async {
        let mut addrs = t.policy.resolve(&host, port).await?;
        if !tls {
            addrs = plain_tcp_targets(&host, addrs)?;
        }
        let tcp = connect(&addrs, t.connect_timeout).await?;
        if tls {
            let name = rustls::pki_types::ServerName::try_from(host.clone())
                .map_err(|_| DeliveryError(format!("{host} is not a valid TLS server name")))?;
            let connector = tokio_rustls::TlsConnector::from(t.tls.clone());
            let mut stream = tokio::time::timeout(t.connect_timeout, connector.connect(name, tcp))
                .await
                .map_err(|_| DeliveryError("TLS handshake timed out".into()))?
                .map_err(|e| DeliveryError(format!("TLS handshake failed: {e}")))?;
            write_all(&mut stream, &payload).await
        } else {
            let mut stream = tcp;
            write_all(&mut stream, &payload).await
        }
    };
    tokio::time::timeout(t.timeout, work)
        .await
        .map_err(|_| DeliveryError("syslog delivery timed out".into()))?
}

/// The addresses plain (unencrypted) TCP may go to: loopback and private ones only.
fn plain_tcp_targets(host: &str, addrs: Vec<SocketAddr>) -> Result<Vec<SocketAddr>, DeliveryError> {
    let internal: Vec<SocketAddr> = addrs
        .into_iter()
        .filter(|a| super::net::is_internal(a.ip()))
        .collect();
    if internal.is_empty() {
        return Err(DeliveryError(format!(
            "plain tcp:// is refused to {host}: it resolves to public addresses and the \
             events carry personal data; use tls://"
        )));
    }
    Ok(internal)
}

async fn connect(addrs: &[SocketAddr], timeout: Duration) -> Result<TcpStream, DeliveryError> {
    let mut last = String::from("no address");
    for addr in addrs {
        match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
            Ok(Ok(s)) => return Ok(s),
            Ok(Err(e)) => last = format!("{addr}: {e}"),
            Err(_) => last = format!("{addr}: connection timed out"),
        }
    }
    Err(DeliveryError(format!("cannot connect ({last})")))
}

async fn write_all<S: tokio::io::AsyncWrite + Unpin>(
    s: &mut S,
    payload: &[u8],
) -> Result<(), DeliveryError> {
    let io = |e: std::io::Error| DeliveryError(format!("sending failed: {e}"));
    s.write_all(payload).await.map_err(io)?;
    s.flush().await.map_err(io)?;
    s.shutdown().await.map_err(io)
}

/// The whole batch as octet-counted frames.
pub(crate) fn frames(batch: &Batch<'_>) -> Vec<u8> {
    let mut out = Vec::new();
    for item in batch.items {
        let msg = message(batch, item);
        out.extend_from_slice(msg.len().to_string().as_bytes());
        out.push(b' ');
        out.extend_from_slice(&msg);
    }
    out
}

/// One RFC 5424 message.
pub(crate) fn message(batch: &Batch<'_>, item: &Item) -> Vec<u8> {
    let facility = batch
        .sink
        .options
        .get("facility")
        .and_then(serde_json::Value::as_u64)
        .and_then(|f| u8::try_from(f).ok())
        .filter(|f| *f <= 23)
        .unwrap_or(DEFAULT_FACILITY);
    let pri = u16::from(facility) * 8 + u16::from(SEVERITY);
    let timestamp = Some(item.event.timestamp.to_rfc3339()).filter(|t| !t.is_empty());
    let hostname = printable(batch.option("hostname").unwrap_or(batch.hostname), 255);
    let msgid = printable(&item.event.event_type, 32);
    let json = serde_json::to_string(&item.view).unwrap_or_else(|_| "{}".to_owned());
    format!(
        "<{pri}>1 {} {} {APP_NAME} - {} [{SD_ID} event_id=\"{}\" event_type=\"{}\" seq=\"{}\" tenant=\"{}\"] {BOM}{json}",
        timestamp.as_deref().unwrap_or("-"),
        nil_if_empty(&hostname),
        nil_if_empty(&msgid),
        param(&item.event.event_id),
        param(&item.event.event_type),
        item.event.seq,
        param(batch.tenant.slug.as_str()),
    )
    .into_bytes()
}

/// The printable US-ASCII characters of `s` (RFC 5424 PRINTUSASCII, 33–126), at most `max`.
fn printable(s: &str, max: usize) -> String {
    s.chars()
        .filter(|c| ('!'..='~').contains(c))
        .take(max)
        .collect()
}

fn nil_if_empty(s: &str) -> &str {
    if s.is_empty() { "-" } else { s }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped with a backslash (RFC 5424 §6.3.3).
fn param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn plain_tcp_goes_only_to_loopback_and_private_addresses() {
        let a = |s: &str| -> SocketAddr { s.parse().unwrap() };
        let mixed = vec![a("93.184.216.34:514"), a("10.0.0.5:514"), a("[::1]:514")];
        assert_eq!(
            plain_tcp_targets("h", mixed).map_err(|e| e.0),
            Ok(vec![a("10.0.0.5:514"), a("[::1]:514")])
        );
        let public = vec![a("93.184.216.34:514"), a("[2606:4700::1111]:514")];
        let err = plain_tcp_targets("logs.example.com", public).unwrap_err().0;
        assert!(
            err.contains("tls://") && err.contains("logs.example.com"),
            "{err}"
        );
    }

    #[test]
    fn fields_are_cut_to_printable_ascii_and_params_escaped() {
        assert_eq!(
            printable("user.login success\u{7f}é", 32),
            "user.loginsuccess"
        );
        assert_eq!(printable(&"a".repeat(40), 32).len(), 32);
        assert_eq!(param(r#"a"b\c]d"#), r#"a\"b\\c\]d"#);
        assert_eq!(nil_if_empty(""), "-");
    }
}
