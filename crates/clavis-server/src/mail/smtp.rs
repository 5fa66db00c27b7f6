//! SMTP settings and transport: parsing and checking `smtp_url`, `email_from`,
//! `smtp_timeout_secs`, `smtp_ca_file` and `smtp_poll_interval_ms` (at configuration time,
//! so a wrong value stops Clavis with a message naming the key), building the lettre
//! transport (STARTTLS required, implicit TLS, or — to a loopback host only — no TLS;
//! certificates verified with the platform verifier plus any configured CA), and turning
//! an outbox row into a MIME message.
//!
//! The SMTP password lives only in [`SmtpSettings`] (zeroized on drop, never printed: its
//! `Debug` redacts it) and in lettre's credentials; error texts kept in the outbox or
//! logged are scrubbed of it.

use std::net::IpAddr;
use std::path::Path;
use std::time::{Duration, SystemTime};

use clavis_core::model::OutboxEmail;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use zeroize::Zeroizing;

use crate::config::{Config, ConfigError};

/// Longest `smtp_timeout_secs`.
const MAX_TIMEOUT_SECS: u64 = 600;
/// Bounds of `smtp_poll_interval_ms`.
const MIN_POLL_MS: u64 = 10;
const MAX_POLL_MS: u64 = 600_000;
/// Longest error text kept in the outbox.
const MAX_ERROR_LEN: usize = 500;

/// How the connection to the SMTP server is protected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    /// `smtp://`: plain connection upgraded with STARTTLS, which the server must offer.
    StartTls,
    /// `smtps://`: TLS from the first byte.
    Implicit,
    /// `smtp://…?tls=none`: no encryption (loopback hosts only).
    None,
}

/// The checked SMTP configuration.
#[derive(Clone)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: SmtpSecurity,
    pub username: Option<String>,
    password: Option<Zeroizing<String>>,
    pub from: Mailbox,
    /// Timeout of each step of an exchange.
    pub timeout: Duration,
    /// Extra trusted CA certificates (DER).
    pub extra_roots: Vec<Vec<u8>>,
    pub poll_interval: Duration,
}

impl std::fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "**redacted**"))
            .field("from", &self.from.to_string())
            .field("timeout", &self.timeout)
            .field("extra_roots", &self.extra_roots.len())
            .field("poll_interval", &self.poll_interval)
            .finish()
    }
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

const URL_FORMS: &str = "expected smtp://USER:PASSWORD@HOST:587 (STARTTLS), \
     smtps://USER:PASSWORD@HOST:465 (TLS), or smtp://localhost:25?tls=none (no encryption, \
     loopback only)";

impl SmtpSettings {
    /// The SMTP settings of `cfg`, or `None` when no `smtp_url` is set (email stays in the
    /// development outbox). Error messages never repeat the URL (it may hold a password).
    pub fn from_config(cfg: &Config) -> Result<Option<Self>, ConfigError> {
        let from = cfg.email_from.as_deref().map(parse_from).transpose()?;
        if cfg.smtp_timeout_secs == 0 || cfg.smtp_timeout_secs > MAX_TIMEOUT_SECS {
            return Err(invalid(
                "smtp_timeout_secs",
                format!("expected 1 to {MAX_TIMEOUT_SECS} seconds"),
            ));
        }
        if !(MIN_POLL_MS..=MAX_POLL_MS).contains(&cfg.smtp_poll_interval_ms) {
            return Err(invalid(
                "smtp_poll_interval_ms",
                format!("expected {MIN_POLL_MS} to {MAX_POLL_MS} milliseconds"),
            ));
        }
        let Some(raw) = cfg.smtp_url.as_deref() else {
            return Ok(None);
        };
        let Some(from) = from else {
            return Err(invalid(
                "email_from",
                "required when smtp_url is set: the From address of every email, such as \
                 no-reply@example.com",
            ));
        };
        let url =
            url::Url::parse(raw).map_err(|e| invalid("smtp_url", format!("{URL_FORMS} ({e})")))?;
        let (host, loopback) = match url.host() {
            // `smtp` is not a special scheme: IPv4 literals come back as domains.
            Some(url::Host::Domain(d)) => match d.parse::<IpAddr>() {
                Ok(ip) => (ip.to_string(), ip.is_loopback()),
                Err(_) => (d.to_owned(), d.eq_ignore_ascii_case("localhost")),
            },
            Some(url::Host::Ipv4(a)) => (a.to_string(), IpAddr::V4(a).is_loopback()),
            Some(url::Host::Ipv6(a)) => (a.to_string(), IpAddr::V6(a).is_loopback()),
            None => return Err(invalid("smtp_url", format!("no host; {URL_FORMS}"))),
        };
        if !matches!(url.path(), "" | "/") || url.fragment().is_some() {
            return Err(invalid(
                "smtp_url",
                format!("no path or fragment allowed; {URL_FORMS}"),
            ));
        }
        let mut tls = None;
        for (k, v) in url.query_pairs() {
            if k != "tls" || tls.is_some() {
                return Err(invalid(
                    "smtp_url",
                    "the only query parameter is `tls=none` (unencrypted, loopback hosts only)",
                ));
            }
            tls = Some(v.into_owned());
        }
        let security = match (url.scheme(), tls.as_deref()) {
            ("smtp", None | Some("required")) => SmtpSecurity::StartTls,
            ("smtp", Some("none")) => SmtpSecurity::None,
            ("smtps", None) => SmtpSecurity::Implicit,
            ("smtp", Some(_)) => {
                return Err(invalid(
                    "smtp_url",
                    "`tls` must be `required` (the default) or `none`; opportunistic STARTTLS \
                     is not offered, since anyone on the path could strip it",
                ));
            }
            ("smtps", Some(_)) => {
                return Err(invalid("smtp_url", "smtps:// takes no `tls` parameter"));
            }
            _ => return Err(invalid("smtp_url", URL_FORMS)),
        };
        if security == SmtpSecurity::None && !loopback {
            return Err(invalid(
                "smtp_url",
                "tls=none (no encryption) is allowed only to a loopback host (localhost, \
                 127.0.0.1, ::1): the password and every message, with its one-time links, \
                 would cross the network in clear text; use smtp://HOST:587 (STARTTLS) or \
                 smtps://HOST:465",
            ));
        }
        let port = url.port().unwrap_or(match security {
            SmtpSecurity::Implicit => 465,
            _ => 587,
        });
        let username = percent_decode(url.username());
        let password = url.password().map(percent_decode);
        let (username, password) = match (username.is_empty(), password) {
            (true, None) => (None, None),
            (false, Some(p)) if !p.is_empty() => (Some(username), Some(Zeroizing::new(p))),
            _ => {
                return Err(invalid(
                    "smtp_url",
                    "give both a user name and a password (USER:PASSWORD@HOST), or neither",
                ));
            }
        };
        let extra_roots = match &cfg.smtp_ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        Ok(Some(Self {
            host,
            port,
            security,
            username,
            password,
            from,
            timeout: Duration::from_secs(cfg.smtp_timeout_secs),
            extra_roots,
            poll_interval: Duration::from_millis(cfg.smtp_poll_interval_ms),
        }))
    }

    /// The lettre transport (one connection per message). Builds the TLS client now, so a
    /// broken trust store is reported at start.
    pub fn transport(&self) -> Result<AsyncSmtpTransport<Tokio1Executor>, ConfigError> {
        let tls = match self.security {
            SmtpSecurity::None => Tls::None,
            SmtpSecurity::StartTls => Tls::Required(self.tls_parameters()?),
            SmtpSecurity::Implicit => Tls::Wrapper(self.tls_parameters()?),
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&self.host)
            .port(self.port)
            .tls(tls)
            .timeout(Some(self.timeout));
        if let (Some(user), Some(pass)) = (&self.username, &self.password) {
            builder = builder
                .credentials(Credentials::new(user.clone(), pass.to_string()))
                .authentication(vec![Mechanism::Plain, Mechanism::Login]);
        }
        Ok(builder.build())
    }

    fn tls_parameters(&self) -> Result<TlsParameters, ConfigError> {
        let mut builder = TlsParameters::builder(self.host.clone());
        for der in &self.extra_roots {
            let cert = Certificate::from_der(der.clone())
                .map_err(|e| invalid("smtp_ca_file", format!("unusable certificate ({e})")))?;
            builder = builder.add_root_certificate(cert);
        }
        builder
            .build_rustls()
            .map_err(|e| invalid("smtp_url", format!("cannot set up TLS ({e})")))
    }

    /// `text` without the SMTP password (raw or percent-encoded), cut to a length fit for
    /// the outbox's `last_error` and the logs.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_owned();
        if let Some(p) = &self.password {
            out = out.replace(p.as_str(), "**redacted**");
            let encoded = url::form_urlencoded::byte_serialize(p.as_bytes()).collect::<String>();
            if encoded != **p {
                out = out.replace(&encoded, "**redacted**");
            }
        }
        if out.len() > MAX_ERROR_LEN {
            let mut end = MAX_ERROR_LEN;
            while !out.is_char_boundary(end) {
                end -= 1;
            }
            out.truncate(end);
        }
        out
    }
}

/// `email_from`: a mailbox such as `no-reply@example.com` or `Example <no-reply@example.com>`.
fn parse_from(s: &str) -> Result<Mailbox, ConfigError> {
    s.trim().parse::<Mailbox>().map_err(|e| {
        invalid(
            "email_from",
            format!("expected an address such as no-reply@example.com or `Example <no-reply@example.com>` ({e})"),
        )
    })
}

/// The certificates (DER) of a PEM file; at least one.
fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, ConfigError> {
    let pem = std::fs::read(path).map_err(|e| {
        invalid(
            "smtp_ca_file",
            format!("cannot read {} ({e})", path.display()),
        )
    })?;
    let certs = CertificateDer::pem_slice_iter(&pem)
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            invalid(
                "smtp_ca_file",
                format!("{}: not PEM certificates ({e})", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(invalid(
            "smtp_ca_file",
            format!(
                "{} holds no PEM certificate (-----BEGIN CERTIFICATE-----)",
                path.display()
            ),
        ));
    }
    Ok(certs)
}

/// Decode `%XX` escapes of a URL's user or password (`+` stays `+`).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                let v = hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0);
                out.push(u8::try_from(v).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a message could not be built; such a message is never retried.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BadMessage(pub String);

/// The MIME message of an outbox row: `From`, `To`, `Subject`, `Date` (when it was
/// queued, so retries are identical), a `Message-ID` derived from the row's id (the same on
/// every attempt, so a receiver can drop a duplicate), and a `multipart/alternative` body
/// with the text and HTML parts.
pub fn build_message(from: &Mailbox, e: &OutboxEmail) -> Result<Message, BadMessage> {
    let to = e
        .to_address
        .parse::<Mailbox>()
        .map_err(|err| BadMessage(format!("invalid recipient address ({err})")))?;
    let domain = from.email.domain().to_owned();
    let millis = u64::try_from(e.created_at.as_millis()).unwrap_or(0);
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(e.subject.clone())
        .message_id(Some(format!("<{}@{domain}>", e.id)))
        .date(SystemTime::UNIX_EPOCH + Duration::from_millis(millis))
        .multipart(MultiPart::alternative_plain_html(
            e.text_body.clone(),
            e.html_body.clone(),
        ))
        .map_err(|err| BadMessage(format!("cannot build the message ({err})")))
}

/// Send one message, within `limit` in all.
pub async fn send(
    transport: &AsyncSmtpTransport<Tokio1Executor>,
    message: &Message,
    limit: Duration,
) -> Result<(), String> {
    match tokio::time::timeout(limit, transport.send(message.clone())).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", limit.as_secs())),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> Config {
        Config {
            smtp_url: Some(url.to_owned()),
            email_from: Some("Clavis <no-reply@example.com>".to_owned()),
            ..Config::default()
        }
    }

    fn err(c: &Config) -> String {
        SmtpSettings::from_config(c).unwrap_err().to_string()
    }

    #[test]
    fn url_forms() {
        let s = SmtpSettings::from_config(&cfg("smtp://u:p%40ss@mail.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!((s.port, s.security), (587, SmtpSecurity::StartTls));
        assert_eq!(s.password.as_deref().map(String::as_str), Some("p@ss"));
        let s = SmtpSettings::from_config(&cfg("smtps://u:p@mail.example.com"))
            .unwrap()
            .unwrap();
        assert_eq!((s.port, s.security), (465, SmtpSecurity::Implicit));
        let s = SmtpSettings::from_config(&cfg("smtp://127.0.0.1:2525?tls=none"))
            .unwrap()
            .unwrap();
        assert_eq!(
            (s.port, s.security, s.username),
            (2525, SmtpSecurity::None, None)
        );
        for ok in ["smtp://localhost:25?tls=none", "smtp://[::1]:25?tls=none"] {
            assert!(SmtpSettings::from_config(&cfg(ok)).is_ok(), "{ok}");
        }
        assert!(
            SmtpSettings::from_config(&Config::default())
                .unwrap()
                .is_none()
        );
    }

    #[test]
    fn plaintext_to_another_host_is_refused_without_echoing_the_password() {
        for bad in [
            "smtp://u:hunter2@mail.example.com:25?tls=none",
            "smtp://u:hunter2@10.0.0.5:25?tls=none",
            "smtp://u:hunter2@localhost.example.com:25?tls=none",
        ] {
            let e = err(&cfg(bad));
            assert!(e.contains("smtp_url") && e.contains("loopback"), "{e}");
            assert!(!e.contains("hunter2"), "{e}");
        }
        for bad in [
            "smtp://u:hunter2@mail.example.com?tls=opportunistic",
            "http://u:hunter2@mail.example.com",
            "smtps://u:hunter2@mail.example.com?tls=none",
            "smtp://u:hunter2@mail.example.com/path",
            "smtp://u:hunter2@mail.example.com?x=1",
            "smtp://u:hunter2@mail.example.com:99999",
            "smtp://u@mail.example.com",
            "smtp://:hunter2@mail.example.com",
        ] {
            let e = err(&cfg(bad));
            assert!(
                e.contains("smtp_url") && !e.contains("hunter2"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn from_timeout_and_ca_file_are_checked() {
        let mut c = cfg("smtp://u:p@mail.example.com");
        c.email_from = None;
        assert!(err(&c).contains("email_from"));
        c.email_from = Some("not an address".into());
        assert!(err(&c).contains("email_from"));
        c.email_from = Some("a@example.com\r\nBcc: x@evil.example".into());
        assert!(err(&c).contains("email_from"));
        c.email_from = Some("a@example.com".into());
        c.smtp_timeout_secs = 0;
        assert!(err(&c).contains("smtp_timeout_secs"));
        c.smtp_timeout_secs = 10;
        c.smtp_poll_interval_ms = 0;
        assert!(err(&c).contains("smtp_poll_interval_ms"));
        c.smtp_poll_interval_ms = 1000;
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("ca.pem");
        std::fs::write(&empty, "nothing here").unwrap();
        c.smtp_ca_file = Some(empty);
        assert!(err(&c).contains("smtp_ca_file"));
        c.smtp_ca_file = Some(dir.path().join("missing.pem"));
        assert!(err(&c).contains("smtp_ca_file"));
    }

    #[test]
    fn debug_and_scrub_hide_the_password() {
        let s = SmtpSettings::from_config(&cfg("smtp://u:s3cr%2Bt%2F@mail.example.com"))
            .unwrap()
            .unwrap();
        assert!(!format!("{s:?}").contains("s3cr"));
        let scrubbed = s.scrub("bad: s3cr+t/ and s3cr%2Bt%2F");
        assert!(!scrubbed.contains("s3cr"), "{scrubbed}");
        assert!(s.scrub(&"é".repeat(600)).len() <= MAX_ERROR_LEN);
        let c = cfg("smtp://u:hunter2@mail.example.com");
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
