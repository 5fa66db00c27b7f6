//! An SMTP sink for tests: a real, minimal SMTP server on `127.0.0.1:0` that keeps what it
//! receives. It speaks EHLO/HELO, STARTTLS (with a certificate from a throwaway `rcgen`
//! CA, see [`SmtpSink::ca_pem`]), AUTH PLAIN and LOGIN, MAIL FROM, RCPT TO, DATA (with
//! dot-unstuffing), RSET, NOOP and QUIT. When STARTTLS is offered, AUTH and mail are
//! refused until the client has switched to TLS; when credentials are set, mail is refused
//! until the client has authenticated. [`SmtpSink::fail_next`] makes the next deliveries
//! end with a `451` after the data, to test retries.
//!
//! [`Received::text_part`] and [`Received::html_part`] decode the parts of a
//! `multipart/alternative` message (quoted-printable, base64, 7bit, 8bit).

#![allow(clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// Longest line or message the sink accepts.
const MAX_LINE: usize = 8 * 1024;
const MAX_MESSAGE: usize = 4 * 1024 * 1024;

/// How the sink behaves.
#[derive(Debug, Clone, Default)]
pub struct SinkOptions {
    /// Offer STARTTLS, and require it before AUTH and mail.
    pub starttls: bool,
    /// Require AUTH (PLAIN or LOGIN) with this user name and password before mail.
    pub credentials: Option<(String, String)>,
}

/// One message the sink accepted.
#[derive(Debug, Clone)]
pub struct Received {
    pub mail_from: String,
    pub rcpt_to: Vec<String>,
    /// The message as received, dot-unstuffed, lines ending in CRLF.
    pub data: String,
    /// Whether it came over TLS (after STARTTLS).
    pub tls: bool,
    /// The user name the client authenticated as.
    pub auth_user: Option<String>,
}

/// A running sink; dropping it stops listening.
pub struct SmtpSink {
    addr: SocketAddr,
    shared: Arc<Shared>,
    ca_pem: String,
    credentials: Option<(String, String)>,
    task: JoinHandle<()>,
}

struct Shared {
    messages: Mutex<Vec<Received>>,
    count: watch::Sender<usize>,
    fail_next: AtomicU32,
    attempts: AtomicU32,
    /// Every command line (AUTH exchanges as `AUTH as USER over TLS|plain text`).
    transcript: Mutex<Vec<String>>,
    options: SinkOptions,
    tls: Option<TlsAcceptor>,
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl SmtpSink {
    /// Start a sink on `127.0.0.1:0`.
    pub async fn start(options: SinkOptions) -> Self {
        let (ca_pem, acceptor) = tls_acceptor();
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind sink");
        let addr = listener.local_addr().expect("sink address");
        let (count, _) = watch::channel(0);
        let shared = Arc::new(Shared {
            messages: Mutex::default(),
            count,
            fail_next: AtomicU32::new(0),
            attempts: AtomicU32::new(0),
            transcript: Mutex::default(),
            tls: options.starttls.then_some(acceptor),
            options: options.clone(),
        });
        let s = shared.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let s = s.clone();
                tokio::spawn(async move {
                    let _ = serve(stream, s).await;
                });
            }
        });
        Self {
            addr,
            shared,
            ca_pem,
            credentials: options.credentials,
            task,
        }
    }

    /// STARTTLS and AUTH required, user `clavis`, password `p4ss/w0rd+secret`.
    pub async fn secure() -> Self {
        Self::start(SinkOptions {
            starttls: true,
            credentials: Some(("clavis".to_owned(), "p4ss/w0rd+secret".to_owned())),
        })
        .await
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `smtp_url` that reaches this sink: `smtp://USER:PASSWORD@127.0.0.1:PORT` with
    /// STARTTLS, or `…?tls=none` without.
    pub fn url(&self) -> String {
        let auth = self
            .credentials
            .as_ref()
            .map(|(u, p)| format!("{}:{}@", crate::urlencode(u), crate::urlencode(p)))
            .unwrap_or_default();
        let tls = if self.shared.options.starttls {
            ""
        } else {
            "?tls=none"
        };
        format!("smtp://{auth}{}{tls}", self.addr)
    }

    /// The password clients must give, if any.
    pub fn password(&self) -> Option<&str> {
        self.credentials.as_ref().map(|(_, p)| p.as_str())
    }

    /// The PEM certificate of the CA that signed the sink's certificate (for `smtp_ca_file`).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Write [`SmtpSink::ca_pem`] to `dir/smtp-ca.pem` and return the path.
    pub fn write_ca(&self, dir: &std::path::Path) -> std::path::PathBuf {
        let path = dir.join("smtp-ca.pem");
        std::fs::write(&path, &self.ca_pem).expect("write CA");
        path
    }

    /// Answer the next `n` deliveries with `451` (after their data) instead of accepting them.
    pub fn fail_next(&self, n: u32) {
        self.shared.fail_next.store(n, Ordering::SeqCst);
    }

    /// Deliveries that reached the end of DATA, accepted or refused.
    pub fn attempts(&self) -> u32 {
        self.shared.attempts.load(Ordering::SeqCst)
    }

    /// Messages accepted so far.
    pub fn messages(&self) -> Vec<Received> {
        self.shared.messages.lock().expect("sink lock").clone()
    }

    /// Command lines received, AUTH exchanges as `AUTH as USER over TLS` (or `plain text`).
    pub fn transcript(&self) -> Vec<String> {
        self.shared.transcript.lock().expect("sink lock").clone()
    }

    /// Wait until at least `n` messages were accepted (at most `within`); returns them all.
    pub async fn wait_for(&self, n: usize, within: Duration) -> Vec<Received> {
        let mut rx = self.shared.count.subscribe();
        let reached = tokio::time::timeout(within, rx.wait_for(|c| *c >= n)).await;
        assert!(
            matches!(reached, Ok(Ok(_))),
            "the sink received {} message(s), expected {n} within {within:?}",
            self.messages().len()
        );
        self.messages()
    }
}

impl Received {
    /// A header of the message (first occurrence, unfolded), by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<String> {
        header_of(split_head(&self.data).0, name)
    }

    /// The decoded `text/plain` part.
    pub fn text_part(&self) -> Option<String> {
        find_part(&self.data, "text/plain")
    }

    /// The decoded `text/html` part.
    pub fn html_part(&self) -> Option<String> {
        find_part(&self.data, "text/html")
    }
}

fn split_head(entity: &str) -> (&str, &str) {
    entity
        .split_once("\r\n\r\n")
        .or_else(|| entity.split_once("\n\n"))
        .unwrap_or((entity, ""))
}

fn header_of(head: &str, name: &str) -> Option<String> {
    let mut found: Option<String> = None;
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(v) = found.as_mut() {
                v.push(' ');
                v.push_str(line.trim());
            }
            continue;
        }
        if found.is_some() {
            break;
        }
        if let Some((k, v)) = line.split_once(':')
            && k.trim().eq_ignore_ascii_case(name)
        {
            found = Some(v.trim().to_owned());
        }
    }
    found
}

/// The first leaf part whose content type is `mime`, decoded.
fn find_part(entity: &str, mime: &str) -> Option<String> {
    let (head, body) = split_head(entity);
    let ctype = header_of(head, "content-type").unwrap_or_else(|| "text/plain".to_owned());
    let lower = ctype.to_ascii_lowercase();
    if lower.starts_with("multipart/") {
        let boundary = ctype
            .split(';')
            .filter_map(|p| p.trim().split_once('='))
            .find(|(k, _)| k.eq_ignore_ascii_case("boundary"))
            .map(|(_, v)| v.trim_matches('"').to_owned())?;
        let delimiter = format!("--{boundary}");
        return body
            .split(delimiter.as_str())
            .skip(1)
            .take_while(|p| !p.starts_with("--"))
            .find_map(|p| find_part(p.trim_start_matches(['\r', '\n']), mime));
    }
    if !lower.starts_with(mime) {
        return None;
    }
    let encoding = header_of(head, "content-transfer-encoding")
        .unwrap_or_default()
        .to_ascii_lowercase();
    let bytes = match encoding.as_str() {
        "base64" => B64
            .decode(body.split_whitespace().collect::<String>())
            .ok()?,
        "quoted-printable" => decode_qp(body),
        _ => body.as_bytes().to_vec(),
    };
    String::from_utf8(bytes).ok()
}

fn decode_qp(body: &str) -> Vec<u8> {
    let b = body.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'=' {
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                i += 3;
                continue;
            }
            if b.get(i + 1) == Some(&b'\n') {
                i += 2;
                continue;
            }
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    out
}

/// A throwaway CA and a certificate for `localhost` / `127.0.0.1` signed by it.
fn tls_acceptor() -> (String, TlsAcceptor) {
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Clavis test SMTP CA");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA");
    let key = rcgen::KeyPair::generate().expect("server key");
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
        .expect("server params")
        .signed_by(&key, &ca)
        .expect("server cert");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("server config");
    let b64 = B64.encode(ca.der());
    let mut pem = String::from("-----BEGIN CERTIFICATE-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        pem.push_str(std::str::from_utf8(chunk).expect("base64 is ASCII"));
        pem.push('\n');
    }
    pem.push_str("-----END CERTIFICATE-----\n");
    (pem, TlsAcceptor::from(Arc::new(config)))
}

/// The state of one SMTP session (reset by STARTTLS).
#[derive(Default)]
struct Session {
    greeted: bool,
    auth_user: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// What a session asks its connection to do next.
enum Next {
    Close,
    StartTls,
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream);
    reader
        .get_mut()
        .write_all(b"220 sink.test ESMTP Clavis test sink\r\n")
        .await?;
    if let Next::StartTls = session(&mut reader, &shared, false).await? {
        let Some(acceptor) = shared.tls.clone() else {
            return Ok(());
        };
        let tls = acceptor.accept(reader.into_inner()).await?;
        let mut reader = BufReader::new(tls);
        session(&mut reader, &shared, true).await?;
    }
    Ok(())
}

async fn read_line<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *r)
        .take(u64::try_from(MAX_LINE).unwrap_or(u64::MAX))
        .read_until(b'\n', &mut buf)
        .await?;
    if n == 0 {
        return Ok(None);
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}

async fn reply<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut BufReader<S>,
    text: &str,
) -> std::io::Result<()> {
    let w = r.get_mut();
    w.write_all(text.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

fn note(shared: &Shared, line: String) {
    shared.transcript.lock().expect("sink lock").push(line);
}

/// The address inside `FROM:<a@b> …` / `TO:<a@b>`.
fn path_of(arg: &str) -> String {
    let arg = arg.trim();
    match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => arg[a + 1..b].to_owned(),
        _ => arg.split_whitespace().next().unwrap_or_default().to_owned(),
    }
}

async fn session<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut BufReader<S>,
    shared: &Shared,
    tls: bool,
) -> std::io::Result<Next> {
    let mut s = Session::default();
    let opts = &shared.options;
    let tls_pending = opts.starttls && !tls;
    while let Some(line) = read_line(r).await? {
        let line = line.trim_end_matches(['\r', '\n']).to_owned();
        let (verb, arg) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        let verb = verb.to_ascii_uppercase();
        if verb != "AUTH" {
            note(shared, line.clone());
        }
        match verb.as_str() {
            "EHLO" => {
                s = Session::default();
                s.greeted = true;
                let mut lines = vec!["sink.test".to_owned(), "8BITMIME".to_owned()];
                if tls_pending {
                    lines.push("STARTTLS".to_owned());
                } else if opts.credentials.is_some() {
                    lines.push("AUTH PLAIN LOGIN".to_owned());
                }
                lines.push("SMTPUTF8".to_owned());
                let last = lines.len() - 1;
                let text = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}", if i == last { ' ' } else { '-' }))
                    .collect::<Vec<_>>()
                    .join("\r\n");
                reply(r, &text).await?;
            }
            "HELO" => {
                s = Session::default();
                s.greeted = true;
                reply(r, "250 sink.test").await?;
            }
            "STARTTLS" if tls_pending => {
                reply(r, "220 2.0.0 Ready to start TLS").await?;
                return Ok(Next::StartTls);
            }
            "AUTH" if tls_pending => reply(r, "538 5.7.11 Encryption required").await?,
            "AUTH" => {
                let (user, pass) = auth(r, arg).await?;
                let over = if tls { "TLS" } else { "plain text" };
                note(shared, format!("AUTH as {user} over {over}"));
                match &opts.credentials {
                    Some((u, p)) if *u == user && *p == pass => {
                        s.auth_user = Some(user);
                        reply(r, "235 2.7.0 Authentication successful").await?;
                    }
                    _ => reply(r, "535 5.7.8 Authentication credentials invalid").await?,
                }
            }
            "MAIL" if !s.greeted => reply(r, "503 5.5.1 Say EHLO first").await?,
            "MAIL" if tls_pending => reply(r, "530 5.7.0 Must issue STARTTLS first").await?,
            "MAIL" if opts.credentials.is_some() && s.auth_user.is_none() => {
                reply(r, "530 5.7.0 Authentication required").await?;
            }
            "MAIL" => {
                let from = arg.get(5..).map(path_of).unwrap_or_default();
                s.mail_from = Some(from);
                s.rcpt_to.clear();
                reply(r, "250 2.1.0 OK").await?;
            }
            "RCPT" if s.mail_from.is_none() => reply(r, "503 5.5.1 MAIL first").await?,
            "RCPT" => {
                s.rcpt_to
                    .push(arg.get(3..).map(path_of).unwrap_or_default());
                reply(r, "250 2.1.5 OK").await?;
            }
            "DATA" if s.rcpt_to.is_empty() => reply(r, "503 5.5.1 RCPT first").await?,
            "DATA" => {
                reply(r, "354 End data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(r).await? else {
                    return Ok(Next::Close);
                };
                shared.attempts.fetch_add(1, Ordering::SeqCst);
                let refuse = shared
                    .fail_next
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .is_ok();
                if refuse {
                    reply(r, "451 4.3.0 Temporary failure, try again later").await?;
                } else {
                    let msg = Received {
                        mail_from: s.mail_from.clone().unwrap_or_default(),
                        rcpt_to: s.rcpt_to.clone(),
                        data,
                        tls,
                        auth_user: s.auth_user.clone(),
                    };
                    let n = {
                        let mut all = shared.messages.lock().expect("sink lock");
                        all.push(msg);
                        all.len()
                    };
                    shared.count.send_replace(n);
                    reply(r, "250 2.0.0 OK queued").await?;
                }
                s.mail_from = None;
                s.rcpt_to.clear();
            }
            "RSET" => {
                s.mail_from = None;
                s.rcpt_to.clear();
                reply(r, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(r, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(r, "221 2.0.0 Bye").await?;
                return Ok(Next::Close);
            }
            _ => reply(r, "502 5.5.2 Command not recognized").await?,
        }
    }
    Ok(Next::Close)
}

/// Read an AUTH exchange (PLAIN or LOGIN, with or without an initial response); returns
/// the user name and password given (empty when the exchange is malformed).
async fn auth<S: AsyncRead + AsyncWrite + Unpin>(
    r: &mut BufReader<S>,
    arg: &str,
) -> std::io::Result<(String, String)> {
    let decode = |s: &str| {
        B64.decode(s.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default()
    };
    let mut parts = arg.split_whitespace();
    let mechanism = parts.next().unwrap_or_default().to_ascii_uppercase();
    let initial = parts.next().map(str::to_owned);
    match mechanism.as_str() {
        "PLAIN" => {
            let payload = match initial {
                Some(p) => p,
                None => {
                    reply(r, "334 ").await?;
                    read_line(r).await?.unwrap_or_default()
                }
            };
            let plain = decode(&payload);
            let mut fields = plain.split('\0');
            let _authzid = fields.next();
            let user = fields.next().unwrap_or_default().to_owned();
            let pass = fields.next().unwrap_or_default().to_owned();
            Ok((user, pass))
        }
        "LOGIN" => {
            let user = match initial {
                Some(u) => decode(&u),
                None => {
                    reply(r, "334 VXNlcm5hbWU6").await?;
                    decode(&read_line(r).await?.unwrap_or_default())
                }
            };
            reply(r, "334 UGFzc3dvcmQ6").await?;
            let pass = decode(&read_line(r).await?.unwrap_or_default());
            Ok((user, pass))
        }
        _ => Ok((String::new(), String::new())),
    }
}

/// Read DATA up to the lone `.` line, undoing dot-stuffing; `None` if the client left.
async fn read_data<S: AsyncRead + Unpin>(r: &mut BufReader<S>) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    loop {
        let Some(line) = read_line(r).await? else {
            return Ok(None);
        };
        let content = line.trim_end_matches(['\r', '\n']);
        if content == "." {
            return Ok(Some(data));
        }
        let content = content.strip_prefix('.').unwrap_or(content);
        if data.len() + content.len() < MAX_MESSAGE {
            data.push_str(content);
            data.push_str("\r\n");
        }
    }
}
