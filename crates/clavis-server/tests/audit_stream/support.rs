//! Receivers and helpers for the audit streaming tests: real HTTP receivers (axum on
//! 127.0.0.1:0), a real TCP/TLS syslog listener that parses RFC 6587 octet-counted
//! RFC 5424 frames, and a tenant with a log to stream.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use clavis_core::Core;
use clavis_core::model::{
    AuditActor, AuditEvent, AuditOrganization, AuditSink, JsonMap, Tenant, TenantSettings,
};
use clavis_core::service::RequestMeta;
use clavis_core::service::audit_sinks::SinkInput;
use clavis_server::AuditStreamOptions;
use clavis_store::testing::TestDb;
use clavis_types::{Clock, ManualClock, Slug, SystemClock};
use serde_json::{Value, json};
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc;

/// Generous bound on anything the tests wait for.
pub const PATIENCE: Duration = Duration::from_secs(30);

/// A tenant on a fresh database, a `Core` whose clock the test moves.
pub struct Env {
    pub db: TestDb,
    pub clock: Arc<ManualClock>,
    pub core: Core,
    pub tenant: Tenant,
}

impl Env {
    pub async fn new(db: TestDb) -> Self {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let core = db.core_with_clock(clock.clone());
        let tenant = tenant(&core, "acme").await;
        Self {
            db,
            clock,
            core,
            tenant,
        }
    }

    /// Append `n` events (`kind.<i>`) in one transaction, with personal data in them.
    pub async fn append(&self, n: usize, kind: &str) {
        append(&self.core, &self.tenant, n, kind).await;
    }

    /// Create a sink, acting as an administrator.
    pub async fn sink(
        &self,
        name: &str,
        kind: &str,
        endpoint: &str,
        secret: Option<&str>,
        options: Value,
    ) -> AuditSink {
        let input: SinkInput = serde_json::from_value(json!({
            "name": name,
            "kind": kind,
            "endpoint": endpoint,
            "secret": secret,
            "options": options,
        }))
        .expect("sink input");
        self.core
            .audit_sink_create(&self.tenant, input, admin(), &RequestMeta::default())
            .await
            .expect("sink created")
    }

    pub async fn get(&self, id: &str) -> AuditSink {
        self.core
            .audit_sink_get(&self.tenant, id)
            .await
            .expect("sink")
    }

    /// The readable views of every event after `after`, as the sinks should receive them.
    pub async fn views_after(&self, after: i64) -> Vec<Value> {
        let mut tx = self.core.store.read().await.expect("read");
        let events = tx
            .audit_range(&self.tenant.id, after, None, 10_000)
            .await
            .expect("range");
        drop(tx);
        let views = self
            .core
            .audit_views(&self.tenant, &events)
            .await
            .expect("views");
        views
            .iter()
            .map(|v| serde_json::to_value(v).expect("json"))
            .collect()
    }

    pub async fn head(&self) -> i64 {
        let mut tx = self.core.store.read().await.expect("read");
        tx.audit_head(&self.tenant.id).await.expect("head").seq
    }

    /// Wait until the sink's cursor reaches the head of the log.
    pub async fn caught_up(&self, id: &str) -> AuditSink {
        let head = self.head().await;
        wait_for(&format!("sink {id} to reach seq {head}"), || async {
            let s = self.get(id).await;
            (s.cursor >= head).then_some(s)
        })
        .await
    }
}

pub fn admin() -> AuditActor {
    AuditActor {
        client_id: Some("mgmt-client".into()),
        ..AuditActor::default()
    }
}

pub async fn tenant(core: &Core, slug: &str) -> Tenant {
    let mut tx = core.store.begin().await.expect("begin");
    let t = core
        .create_tenant(
            &mut *tx,
            &Slug::parse(slug).expect("slug"),
            slug,
            TenantSettings::default(),
        )
        .await
        .expect("tenant");
    tx.commit().await.expect("commit");
    t
}

pub async fn append(core: &Core, tenant: &Tenant, n: usize, kind: &str) {
    let mut events: Vec<AuditEvent> = (0..n)
        .map(|i| {
            core.audit_event(
                &tenant.id,
                &format!("{kind}.{i}"),
                AuditActor {
                    user_id: Some(format!("usr_{i}")),
                    email: Some(format!("user{i}@example.com")),
                    ip_address: Some("203.0.113.7".into()),
                    ..AuditActor::default()
                },
                Some(AuditOrganization {
                    org_id: "org_acme".into(),
                    name: Some("Acme \"Corp\"]".into()),
                }),
                JsonMap::from_iter([
                    ("n".to_owned(), json!(i)),
                    ("note".to_owned(), json!("été ✓")),
                ]),
                &RequestMeta::default(),
            )
        })
        .collect();
    let mut tx = core.store.begin().await.expect("begin");
    tx.audit_append(&tenant.id, &mut events)
        .await
        .expect("append");
    tx.commit().await.expect("commit");
}

/// Worker options for tests: fast polls, small batches, loopback allowed.
pub fn opts() -> AuditStreamOptions {
    AuditStreamOptions {
        poll_interval: Duration::from_millis(20),
        batch_size: 3,
        allow_insecure_loopback: true,
        hostname: "idp.test".into(),
        ..AuditStreamOptions::default()
    }
}

/// Poll `check` until it yields a value (every 20 ms, at most [`PATIENCE`]).
pub async fn wait_for<T, F, Fut>(what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        tick.tick().await;
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
    }
}

/// One request an HTTP receiver got, and whether it answered 2xx.
#[derive(Debug, Clone)]
pub struct Received {
    pub ok: bool,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

struct Hook {
    /// Statuses to answer, in order, before answering 200.
    fail: Mutex<VecDeque<u16>>,
    tx: mpsc::UnboundedSender<Received>,
}

async fn hook(State(h): State<Arc<Hook>>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let fail = h.fail.lock().expect("lock").pop_front();
    let status = fail
        .and_then(|s| StatusCode::from_u16(s).ok())
        .unwrap_or(StatusCode::OK);
    let _ = h.tx.send(Received {
        ok: status.is_success(),
        headers,
        body,
    });
    status
}

/// An HTTP receiver at `http://127.0.0.1:<port>/hook` answering `fail` first.
pub async fn http_receiver(fail: &[u16]) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Arc::new(Hook {
        fail: Mutex::new(fail.iter().copied().collect()),
        tx,
    });
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(state);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (format!("http://{addr}/hook"), rx)
}

/// The next request, or `None` when nothing comes within `within`.
pub async fn next(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    within: Duration,
) -> Option<Received> {
    tokio::time::timeout(within, rx.recv()).await.ok().flatten()
}

/// Collect successful requests until `n` items were received (`split` turns one body
/// into items); returns the items in arrival order and every request seen.
pub async fn collect<F>(
    rx: &mut mpsc::UnboundedReceiver<Received>,
    n: usize,
    split: F,
) -> (Vec<Value>, Vec<Received>)
where
    F: Fn(&Received) -> Vec<Value>,
{
    let mut items = Vec::new();
    let mut seen = Vec::new();
    while items.len() < n {
        let r = next(rx, PATIENCE)
            .await
            .unwrap_or_else(|| panic!("timed out after {} of {n} items", items.len()));
        if r.ok {
            items.extend(split(&r));
        }
        seen.push(r);
    }
    (items, seen)
}

/// The JSON array body of an `https` sink request.
pub fn json_array(r: &Received) -> Vec<Value> {
    match serde_json::from_slice(&r.body).expect("JSON body") {
        Value::Array(a) => a,
        other => panic!("not an array: {other}"),
    }
}

/// A syslog listener (TCP, or TLS with `acceptor`): every connection's bytes, read to the
/// end, are sent on the channel.
pub async fn syslog_listener(
    acceptor: Option<tokio_rustls::TlsAcceptor>,
) -> (u16, mpsc::UnboundedReceiver<Vec<u8>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            let tx = tx.clone();
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let read = match acceptor {
                    Some(a) => match a.accept(sock).await {
                        Ok(mut s) => s.read_to_end(&mut buf).await.map(drop),
                        Err(e) => Err(e),
                    },
                    None => {
                        let mut s = sock;
                        s.read_to_end(&mut buf).await.map(drop)
                    }
                };
                if read.is_ok() && !buf.is_empty() {
                    let _ = tx.send(buf);
                }
            });
        }
    });
    (port, rx)
}

/// Split an RFC 6587 octet-counted stream (`MSG-LEN SP SYSLOG-MSG`…) into messages,
/// failing on anything else.
pub fn octet_frames(mut buf: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while !buf.is_empty() {
        let sp = buf
            .iter()
            .position(|b| *b == b' ')
            .expect("MSG-LEN then SP");
        let digits = std::str::from_utf8(&buf[..sp]).expect("ASCII length");
        assert!(
            !digits.is_empty()
                && !digits.starts_with('0')
                && digits.bytes().all(|b| b.is_ascii_digit()),
            "bad MSG-LEN {digits:?}"
        );
        let len: usize = digits.parse().expect("length");
        let rest = &buf[sp + 1..];
        assert!(
            rest.len() >= len,
            "frame says {len} octets, {} left",
            rest.len()
        );
        out.push(rest[..len].to_vec());
        buf = &rest[len..];
    }
    out
}

/// An RFC 5424 message, parsed strictly enough to catch format mistakes.
#[derive(Debug)]
pub struct Syslog {
    pub pri: u16,
    pub version: String,
    pub timestamp: String,
    pub hostname: String,
    pub app_name: String,
    pub procid: String,
    pub msgid: String,
    pub sd_id: String,
    pub sd_params: Vec<(String, String)>,
    /// MSG after the BOM.
    pub msg: String,
    pub had_bom: bool,
}

pub fn parse_5424(raw: &[u8]) -> Syslog {
    let text = std::str::from_utf8(raw).expect("UTF-8 message");
    let rest = text.strip_prefix('<').expect("<PRI>");
    let (pri, rest) = rest.split_once('>').expect("PRI closes");
    assert!(
        pri.len() <= 3 && pri.bytes().all(|b| b.is_ascii_digit()),
        "PRI {pri:?}"
    );
    let mut header = rest.splitn(7, ' ');
    let mut field = || header.next().expect("header field").to_owned();
    let (version, timestamp, hostname, app_name, procid, msgid) =
        (field(), field(), field(), field(), field(), field());
    let rest = header.next().expect("STRUCTURED-DATA");
    for f in [&hostname, &app_name, &procid, &msgid] {
        assert!(
            !f.is_empty() && f.bytes().all(|b| (33..=126).contains(&b)),
            "not PRINTUSASCII: {f:?}"
        );
    }
    assert!(
        hostname.len() <= 255 && app_name.len() <= 48 && procid.len() <= 128 && msgid.len() <= 32
    );
    // SD-ELEMENT: "[" SD-ID *(SP SD-PARAM) "]", values with \" \\ \] escapes.
    let mut chars = rest
        .strip_prefix('[')
        .expect("SD-ELEMENT")
        .chars()
        .peekable();
    let mut sd_id = String::new();
    while let Some(c) = chars.next_if(|c| *c != ' ' && *c != ']') {
        sd_id.push(c);
    }
    let mut sd_params = Vec::new();
    while chars.next_if_eq(&' ').is_some() {
        let mut name = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=') {
            name.push(c);
        }
        assert_eq!(chars.next(), Some('='));
        assert_eq!(chars.next(), Some('"'));
        let mut value = String::new();
        loop {
            match chars.next().expect("PARAM-VALUE closes") {
                '\\' => {
                    let e = chars.next().expect("escaped char");
                    assert!(matches!(e, '"' | '\\' | ']'), "bad escape \\{e}");
                    value.push(e);
                }
                '"' => break,
                c => {
                    assert!(c != ']', "unescaped ] in PARAM-VALUE");
                    value.push(c);
                }
            }
        }
        sd_params.push((name, value));
    }
    assert_eq!(chars.next(), Some(']'), "SD-ELEMENT closes");
    assert_eq!(chars.next(), Some(' '), "SP before MSG");
    let msg: String = chars.collect();
    let had_bom = msg.starts_with('\u{feff}');
    Syslog {
        pri: pri.parse().expect("PRI"),
        version,
        timestamp,
        hostname,
        app_name,
        procid,
        msgid,
        sd_id,
        sd_params,
        msg: msg.trim_start_matches('\u{feff}').to_owned(),
        had_bom,
    }
}

impl Syslog {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.sd_params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A throwaway CA and a server certificate for `localhost` / 127.0.0.1 issued by it:
/// (CA certificate DER, TLS acceptor).
pub fn tls_server() -> (Vec<u8>, tokio_rustls::TlsAcceptor) {
    use tokio_rustls::rustls;
    let ca_key = rcgen::KeyPair::generate().expect("CA key");
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Clavis test CA");
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
    (
        ca.der().to_vec(),
        tokio_rustls::TlsAcceptor::from(Arc::new(config)),
    )
}
