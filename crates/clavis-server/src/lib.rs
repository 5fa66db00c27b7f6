//! The composition root: reads configuration, opens and migrates the store, loads the
//! master key, builds [`clavis_core::Core`] and the HTTP router, and runs the server with
//! graceful shutdown. `Server::build` binds the listener (port 0 in tests).
//!
//! Must not: hold business rules, or talk SQL other than through the store crate.

mod audit_stream;
mod audit_tasks;
mod config;
mod dns;
mod mail;
mod master_key;
mod telemetry;

pub use audit_stream::{
    AuditStreamError, AuditStreamOptions, AuditStreaming, spawn_audit_streaming,
};
pub use config::{Config, ConfigError, LogFormat};
pub use mail::{
    MAX_ATTEMPTS, OUTBOX_RETENTION_DAYS, SmtpSecurity, SmtpSettings, purge_outbox, retry_delay_secs,
};
pub use telemetry::init_tracing;

use clavis_api::{ApiContext, Metrics};
use clavis_core::Core;
use clavis_core::ports::SchemaStatus;
use clavis_crypto::SystemRng;
use clavis_store::AnyStore;
use clavis_types::{Clock, SystemClock};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Store(#[from] clavis_core::StoreError),
    #[error("{0}")]
    Core(#[from] clavis_core::CoreError),
    #[error("audit streaming: {0}")]
    Streaming(#[from] AuditStreamError),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Open the database named in the configuration, migrate it, and build `Core`; creates the
/// data directory and the master key on first use.
pub async fn open_core(cfg: &Config) -> Result<(Core, AnyStore, SchemaStatus), ServerError> {
    open_core_with_clock(cfg, Arc::new(SystemClock)).await
}

/// [`open_core`] with an injected clock (tests move time with a `ManualClock`).
pub async fn open_core_with_clock(
    cfg: &Config,
    clock: Arc<dyn Clock>,
) -> Result<(Core, AnyStore, SchemaStatus), ServerError> {
    create_data_dir(&cfg.data_dir)?;
    let rng = Arc::new(SystemRng::new());
    let master = master_key::load_or_create(cfg, &*rng)?;
    let store = AnyStore::connect(&cfg.database_url()).await?;
    let status = store.migrate(clock.now()).await?;
    let core = Core::new(store.clone().into_store(), clock, rng, master);
    Ok((core, store, status))
}

/// Keep the attack-protection request counters in Redis when `redis_url` is set. A Redis
/// that does not answer does not stop the start: requests are counted in the database
/// until it answers (a warning says so; logs name its host and port, never the URL).
async fn with_shared_counters(core: Core, cfg: &Config) -> Result<Core, ServerError> {
    let Some(url) = &cfg.redis_url else {
        return Ok(core);
    };
    let counters = clavis_store::RedisCounters::open(
        url,
        &cfg.redis_key_prefix,
        std::time::Duration::from_millis(cfg.redis_timeout_ms),
    )?;
    match counters.ping().await {
        Ok(()) => tracing::info!(
            redis = counters.target(),
            "attack-protection counters are kept in Redis"
        ),
        Err(e) => tracing::warn!(
            redis = counters.target(),
            error = %e,
            "Redis does not answer: attack-protection counters are kept in the database until it does"
        ),
    }
    Ok(core.with_rate_counters(Arc::new(counters)))
}

/// Open an existing installation without changing it: no migration, no new master key,
/// no new database file. For `clavis check`.
pub async fn inspect(cfg: &Config) -> Result<(Core, AnyStore, SchemaStatus), ServerError> {
    let url = cfg.database_url();
    if let Some(path) = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
    {
        let path = path.split('?').next().unwrap_or(path);
        if !std::path::Path::new(path).exists() {
            return Err(ConfigError::Invalid {
                key: "database_url",
                reason: format!("no database at {path}; start `clavis serve` once to create it"),
            }
            .into());
        }
    }
    let master = master_key::load_existing(cfg)?;
    let store = AnyStore::connect(&url).await?;
    let status = store.clone().into_store().schema_status().await?;
    let core = Core::new(
        store.clone().into_store(),
        Arc::new(SystemClock),
        Arc::new(SystemRng::new()),
        master,
    );
    Ok((core, store, status))
}

/// Create the data directory (mode 0700 when Clavis creates it: it holds the master key
/// and, by default, the database).
fn create_data_dir(dir: &std::path::Path) -> Result<(), ServerError> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|source| ServerError::Io {
        what: format!("cannot create data directory {}", dir.display()),
        source,
    })
}

/// A built server, listening but not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    core: Core,
    local_addr: SocketAddr,
    public_url: String,
    bootstrap_token: Option<String>,
    audit_checkpoint_interval_secs: u64,
    stream_opts: AuditStreamOptions,
    metrics: Arc<Metrics>,
    mail_sender: Option<mail::Sender>,
}

impl Server {
    /// Everything `clavis serve` does before it accepts requests: data directory, master
    /// key, database and migrations, the `default` tenant, the bootstrap token.
    pub async fn build(cfg: Config) -> Result<Self, ServerError> {
        Self::build_with_clock(cfg, Arc::new(SystemClock)).await
    }

    /// [`Server::build`] with an injected clock.
    pub async fn build_with_clock(cfg: Config, clock: Arc<dyn Clock>) -> Result<Self, ServerError> {
        let started = Instant::now();
        // SMTP settings are checked (and the TLS client built) before anything is opened.
        let mail_sender = mail::Sender::from_config(&cfg)?;
        let (core, _store, status) = open_core_with_clock(&cfg, clock).await?;
        // Custom domains prove ownership through TXT records.
        let core = core.with_dns(dns::txt_resolver(cfg.dns_nameserver()?));
        let core = with_shared_counters(core, &cfg).await?;
        // Requests queue email as `pending` for the worker, or keep it in the development
        // outbox (`stored`) when no SMTP server is configured.
        core.set_smtp_enabled(mail_sender.is_some());
        // Before anything is written under it, the master key must match the database.
        core.check_master_key().await?;
        if core.ensure_default_tenant().await? {
            tracing::info!("created the default tenant");
        }
        let bootstrap_token = core.issue_bootstrap_token().await?;
        let listener = tokio::net::TcpListener::bind(cfg.listen)
            .await
            .map_err(|source| ServerError::Io {
                what: format!("cannot listen on {}", cfg.listen),
                source,
            })?;
        let local_addr = listener.local_addr().map_err(|source| ServerError::Io {
            what: "cannot read the listening address".to_owned(),
            source,
        })?;
        let public_url = cfg.public_url_for(local_addr);
        // Every tenant's built-in Management API lives under the public URL: create it or
        // add the scopes of this version (tenants created later get it with the tenant).
        core.set_public_url(&public_url);
        let updated = core.ensure_management_apis(&public_url).await?;
        if updated > 0 {
            tracing::info!(tenants = updated, "brought the Management API up to date");
        }
        let hostname_of = public_url.clone();
        let metrics = Arc::new(Metrics::new(started));
        let ctx = ApiContext::new(core.clone(), public_url.clone(), metrics.clone())
            .with_trusted_proxies(cfg.trusted_proxies()?);
        let email = mail_sender.as_ref().map_or_else(
            || "development outbox (no smtp_url)".to_owned(),
            mail::Sender::describe,
        );
        tracing::info!(
            %local_addr,
            %public_url,
            database = core.store.backend(),
            schema_version = status.applied,
            startup_ms = started.elapsed().as_secs_f64() * 1000.0,
            %email,
            rate_counters = core.rate_counters.kind(),
            "Clavis is ready"
        );
        Ok(Self {
            listener,
            router: clavis_api::router_with(ctx.clone(), clavis_web::frontend(ctx)),
            core,
            local_addr,
            public_url,
            bootstrap_token,
            audit_checkpoint_interval_secs: cfg.audit_checkpoint_interval_secs,
            stream_opts: AuditStreamOptions {
                allow_private_networks: cfg.audit_sinks_allow_private_networks,
                hostname: url::Url::parse(&hostname_of)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_owned))
                    .unwrap_or_else(|| "clavis".to_owned()),
                ..AuditStreamOptions::default()
            },
            metrics,
            mail_sender,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
    pub fn public_url(&self) -> &str {
        &self.public_url
    }
    pub fn core(&self) -> &Core {
        &self.core
    }
    /// The first-administrator link, when no administrator exists yet.
    pub fn bootstrap_link(&self) -> Option<String> {
        self.bootstrap_token
            .as_ref()
            .map(|t| format!("{}/bootstrap?token={t}", self.public_url))
    }
    pub fn bootstrap_token(&self) -> Option<&str> {
        self.bootstrap_token.as_deref()
    }

    /// Serve until `shutdown` resolves, then finish in-flight requests and close the store.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServerError> {
        let store = self.core.store.clone();
        let upkeep = audit_tasks::spawn(self.core.clone(), self.audit_checkpoint_interval_secs);
        let streaming = spawn_audit_streaming(self.core.clone(), self.stream_opts)?;
        let mail = mail::spawn(self.core.clone(), self.mail_sender, self.metrics);
        let app = self
            .router
            .into_make_service_with_connect_info::<SocketAddr>();
        let served = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await;
        upkeep.abort();
        streaming.stop().await;
        mail.stop().await;
        store.close().await;
        served.map_err(|source| ServerError::Io {
            what: "server failed".to_owned(),
            source,
        })
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
