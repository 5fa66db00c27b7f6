//! One function per subcommand.

use clavis_core::declarative;
use clavis_core::model::Page;
use clavis_core::service::Rotation;
use clavis_server::{Config, Server, init_tracing, inspect, open_core, shutdown_signal};
use clavis_store::AnyStore;
use clavis_types::Slug;
use std::process::ExitCode;

use crate::{Cli, Command, KeysCommand};

pub(crate) type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

pub(crate) async fn run(cli: Cli) -> Result<ExitCode> {
    if let Command::Healthcheck { url } = &cli.command {
        return healthcheck(url).await;
    }
    if let Command::Audit {
        command: crate::audit::AuditCommand::VerifyExport { jwks, file },
    } = &cli.command
    {
        return crate::audit::verify_export(jwks, file);
    }
    let cfg = Config::load(cli.config.as_deref())?;
    init_tracing(cfg.log_format, &cfg.log_level);
    match cli.command {
        Command::Serve => serve(cfg).await,
        Command::Migrate => {
            let (_, _, status) = open_core(&cfg).await?;
            println!("database schema at version {}", status.applied);
            Ok(ExitCode::SUCCESS)
        }
        Command::Apply { file } => apply(cfg, &file).await,
        Command::Export { tenant, output } => export(cfg, tenant, output).await,
        Command::Keys { command } => keys(cfg, command).await,
        Command::Check => check(cfg).await,
        Command::Audit { command } => crate::audit::run(cfg, command).await,
        Command::Healthcheck { .. } => Ok(ExitCode::SUCCESS),
    }
}

async fn serve(cfg: Config) -> Result<ExitCode> {
    let server = Server::build(cfg).await?;
    println!("Clavis is listening on {}", server.public_url());
    println!(
        "Issuer of the default tenant: {}/t/default",
        server.public_url()
    );
    if let Some(link) = server.bootstrap_link() {
        println!();
        println!("No administrator exists yet. Open this one-time link to create the first one");
        println!("(valid 24 hours; restart Clavis for a new one):");
        println!();
        println!("    {link}");
        println!();
    }
    server.run(shutdown_signal()).await?;
    Ok(ExitCode::SUCCESS)
}

async fn apply(cfg: Config, file: &std::path::Path) -> Result<ExitCode> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let doc = declarative::parse(&text).map_err(|e| format!("{}: {e}", file.display()))?;
    let (core, _, _) = open_core(&cfg).await?;
    let report = core.apply(&doc).await?;
    if report.changes.is_empty() {
        println!("no changes");
    }
    for c in &report.changes {
        println!("{c}");
    }
    for s in &report.secrets {
        println!(
            "client secret for application `{}` (tenant {}, client_id {}): {}",
            s.application,
            s.tenant,
            s.client_id,
            s.client_secret.expose()
        );
    }
    if !report.secrets.is_empty() {
        println!("(client secrets are shown once and stored only as digests)");
    }
    core.store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn export(
    cfg: Config,
    tenant: Option<String>,
    output: Option<std::path::PathBuf>,
) -> Result<ExitCode> {
    let (core, _, _) = open_core(&cfg).await?;
    let slug = tenant.as_deref().map(Slug::parse).transpose()?;
    let doc = core.export(slug.as_ref()).await?;
    let yaml = declarative::to_yaml(&doc)?;
    match output {
        Some(path) => std::fs::write(&path, yaml)
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?,
        None => print!("{yaml}"),
    }
    core.store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn keys(cfg: Config, command: KeysCommand) -> Result<ExitCode> {
    let (core, _, _) = open_core(&cfg).await?;
    let (slug, rotate) = match &command {
        KeysCommand::List { tenant } => (tenant, false),
        KeysCommand::Rotate { tenant } => (tenant, true),
    };
    let tenant = core.tenant_by_slug(slug).await?;
    let mut tx = core.store.begin().await?;
    if rotate {
        match core.rotate_signing_keys(&mut *tx, &tenant).await? {
            Rotation::Rotated(active) => {
                println!("rotated: {} ({}) now signs", active.kid, active.alg)
            }
            Rotation::NextPublished { usable_at } => println!(
                "there was no next key: one is published now; rotate again after {}",
                usable_at.to_rfc3339()
            ),
        }
    }
    for k in tx.key_list(&tenant.id).await? {
        println!(
            "{}\t{}\t{}\tcreated {}",
            k.kid,
            k.alg,
            k.state,
            k.created_at.to_rfc3339()
        );
    }
    tx.commit().await?;
    core.store.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn check(cfg: Config) -> Result<ExitCode> {
    let (core, store, status) = inspect(&cfg).await?;
    println!(
        "schema version {} (this binary: {})",
        status.applied, status.latest
    );
    if let AnyStore::Sqlite(s) = &store {
        s.integrity_check().await?;
        println!("integrity_check: ok");
    }
    if status.is_current() {
        core.check_master_key().await?;
        println!("master key: matches");
        let mut tx = core.store.read().await?;
        let tenants = tx.tenant_list(Page::first()).await?;
        println!("{} tenant(s)", tenants.len());
    }
    core.store.close().await;
    Ok(if status.is_current() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// GET {url}/ready over plain HTTP/1.1 (for container health probes).
async fn healthcheck(url: &str) -> Result<ExitCode> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rest = url
        .strip_prefix("http://")
        .ok_or("healthcheck supports http:// URLs")?;
    let host = rest.split('/').next().unwrap_or(rest);
    let mut stream = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        tokio::net::TcpStream::connect(host),
    )
    .await??;
    stream
        .write_all(
            format!("GET /ready HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n").as_bytes(),
        )
        .await?;
    let mut buf = Vec::new();
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        stream.read_to_end(&mut buf),
    )
    .await??;
    let head = String::from_utf8_lossy(&buf);
    let ok = head.starts_with("HTTP/1.1 200");
    println!("{}", head.lines().next().unwrap_or("no response"));
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
