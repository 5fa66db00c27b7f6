//! `clavis audit …`: verify chains, sign checkpoints, export, verify an export offline,
//! purge by retention, legal holds, erasure and compliance reports.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Subcommand;
use clavis_core::Core;
use clavis_core::model::{AuditQuery, Page};
use clavis_core::service::{ExportFormat, ReportKind, RequestMeta};
use clavis_server::{Config, open_core};
use clavis_types::Timestamp;

use crate::commands::Result;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Re-walk the hash chain of one tenant (or all) and report the first broken link.
    /// Exits 1 on any break, or when a signature was made with a key revoked since.
    Verify {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Sign a checkpoint of a tenant's chain head now.
    Checkpoint {
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Export events as JSONL (verifiable offline) or CSV.
    Export {
        #[arg(long, default_value = "default")]
        tenant: String,
        /// Inclusive start (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        from: Option<String>,
        /// Exclusive end (RFC 3339 or YYYY-MM-DD).
        #[arg(long)]
        to: Option<String>,
        /// Event types (exact, or a prefix ending in `.*`); repeatable.
        #[arg(long = "type")]
        event_types: Vec<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "jsonl", value_parser = ["jsonl", "csv"])]
        format: String,
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Verify a JSONL export offline against the tenant's keys (no database needed). Only
    /// an unfiltered export (every seq of its range) can be verified.
    VerifyExport {
        /// The tenant's keys: its JWKS (saved from {issuer}/.well-known/jwks.json) or, for
        /// an export signed with a key retired since, its audit key set (every key it had).
        #[arg(long, value_name = "FILE")]
        jwks: PathBuf,
        /// The JSONL export.
        file: PathBuf,
    },
    /// Delete events older than each tenant's retention (legal holds respected).
    Purge {
        #[arg(long)]
        tenant: Option<String>,
    },
    /// Destroy a user's audit key: their personal data in the log becomes unreadable.
    Erase {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        user: String,
    },
    /// Legal holds on an organization's events.
    Hold {
        #[command(subcommand)]
        command: HoldCommand,
    },
    /// A compliance report (SOC 2, HIPAA, GDPR Art. 30) as HTML or JSON.
    Report {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long, value_parser = ["soc2", "hipaa", "gdpr"])]
        kind: String,
        /// Inclusive start (default: 30 days before `to`).
        #[arg(long)]
        from: Option<String>,
        /// Exclusive end (default: now).
        #[arg(long)]
        to: Option<String>,
        #[arg(long)]
        org: Option<String>,
        #[arg(long, default_value = "html", value_parser = ["html", "json"])]
        format: String,
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
pub(crate) enum HoldCommand {
    /// Place a hold on an organization's events.
    Add {
        #[arg(long, default_value = "default")]
        tenant: String,
        #[arg(long)]
        org: String,
        #[arg(long)]
        reason: String,
    },
    /// Release a hold.
    Release {
        #[arg(long, default_value = "default")]
        tenant: String,
        id: String,
    },
    /// List holds.
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn time_arg(name: &str, s: Option<&str>) -> Result<Option<Timestamp>> {
    let Some(s) = s else { return Ok(None) };
    Timestamp::parse_rfc3339(s)
        .or_else(|| Timestamp::parse_rfc3339(&format!("{s}T00:00:00Z")))
        .map(Some)
        .ok_or_else(|| {
            format!("--{name}: expected an RFC 3339 time or YYYY-MM-DD, got `{s}`").into()
        })
}

fn cli_meta() -> RequestMeta {
    RequestMeta {
        ip_address: None,
        user_agent: Some("clavis-cli".into()),
        caller: None,
    }
}

fn write_out(output: Option<&Path>, data: &[u8]) -> Result<()> {
    match output {
        Some(path) => std::fs::write(path, data)
            .map_err(|e| format!("cannot write {}: {e}", path.display()).into()),
        None => Ok(std::io::stdout().lock().write_all(data)?),
    }
}

pub(crate) async fn run(cfg: Config, command: AuditCommand) -> Result<ExitCode> {
    let (core, _, _) = open_core(&cfg).await?;
    let result = dispatch(&core, command).await;
    core.store.close().await;
    result
}

async fn dispatch(core: &Core, command: AuditCommand) -> Result<ExitCode> {
    match command {
        AuditCommand::Verify { tenant } => verify(core, tenant.as_deref()).await,
        AuditCommand::Checkpoint { tenant } => {
            let t = core.tenant_by_slug(&tenant).await?;
            let c = core.audit_checkpoint(&t).await?;
            println!(
                "checkpoint at seq {} hash {} (kid {})",
                c.seq, c.hash, c.kid
            );
            println!("{}", c.jws);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Export {
            tenant,
            from,
            to,
            event_types,
            org,
            format,
            output,
        } => {
            let t = core.tenant_by_slug(&tenant).await?;
            let q = AuditQuery {
                from: time_arg("from", from.as_deref())?,
                to: time_arg("to", to.as_deref())?,
                event_types,
                org_id: org,
                ..AuditQuery::default()
            };
            let format = if format == "csv" {
                ExportFormat::Csv
            } else {
                ExportFormat::Jsonl
            };
            let mut out: Box<dyn std::io::Write + Send> = match &output {
                Some(path) => Box::new(std::io::BufWriter::new(
                    std::fs::File::create(path)
                        .map_err(|e| format!("cannot create {}: {e}", path.display()))?,
                )),
                None => Box::new(std::io::BufWriter::new(std::io::stdout())),
            };
            let summary = core.audit_export(&t, &q, format, &mut *out).await?;
            out.flush()?;
            eprintln!("exported {} event(s)", summary.events);
            if format == ExportFormat::Jsonl && !summary.contiguous {
                eprintln!(
                    "note: this export is filtered (not every seq of its range), so it cannot \
                     be verified offline; export the period without --type/--org to verify it"
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::VerifyExport { jwks, file } => verify_export(&jwks, &file),
        AuditCommand::Purge { tenant } => {
            for t in tenants(core, tenant.as_deref()).await? {
                let r = core.audit_purge_expired(&t, &cli_meta()).await?;
                println!("{}: {}", t.slug, serde_json::to_string(&r)?);
            }
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Erase { tenant, user } => {
            let t = core.tenant_by_slug(&tenant).await?;
            clavis_types::UserId::parse(&user).map_err(|e| format!("--user: {e}"))?;
            core.audit_erase_subject(&t, &user, &cli_meta()).await?;
            println!("erased the audit data of {user}: their personal data is now unreadable");
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Hold { command } => hold(core, command).await,
        AuditCommand::Report {
            tenant,
            kind,
            from,
            to,
            org,
            format,
            output,
        } => {
            let t = core.tenant_by_slug(&tenant).await?;
            let kind = match kind.as_str() {
                "soc2" => ReportKind::Soc2,
                "hipaa" => ReportKind::Hipaa,
                _ => ReportKind::Gdpr,
            };
            let to = time_arg("to", to.as_deref())?.unwrap_or_else(|| core.now());
            let from = time_arg("from", from.as_deref())?.unwrap_or(to.plus_secs(-30 * 86_400));
            if from >= to {
                return Err("--from must be before --to".into());
            }
            let report = core
                .compliance_report(&t, kind, from, to, org.as_deref())
                .await?;
            let data = if format == "json" {
                serde_json::to_vec_pretty(&report)?
            } else {
                clavis_api::render_report(&report).into_bytes()
            };
            write_out(output.as_deref(), &data)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

async fn tenants(
    core: &Core,
    slug: Option<&str>,
) -> Result<Vec<std::sync::Arc<clavis_core::model::Tenant>>> {
    if let Some(slug) = slug {
        return Ok(vec![core.tenant_by_slug(slug).await?]);
    }
    let mut out = Vec::new();
    let mut page = 0;
    loop {
        let mut tx = core.store.read().await?;
        let batch = tx.tenant_list(Page::new(page, Page::MAX_PER_PAGE)).await?;
        let done = batch.len() < Page::MAX_PER_PAGE as usize;
        out.extend(batch.into_iter().map(std::sync::Arc::new));
        if done {
            return Ok(out);
        }
        page += 1;
    }
}

async fn verify(core: &Core, tenant: Option<&str>) -> Result<ExitCode> {
    let mut all_ok = true;
    for t in tenants(core, tenant).await? {
        let r = core.audit_verify(&t.id).await?;
        if r.signatures_unverifiable > 0 {
            all_ok = false;
            println!(
                "{}: WARNING {} checkpoint/anchor signature(s) made with a key revoked since \
                 prove nothing",
                t.slug, r.signatures_unverifiable
            );
        }
        if r.ok {
            println!(
                "{}: ok — {} event(s) checked (seq {}..={}), {} checkpoint(s)",
                t.slug, r.events_checked, r.from_seq, r.to_seq, r.checkpoints_checked
            );
        } else {
            all_ok = false;
            match &r.broken {
                Some(b) => println!(
                    "{}: BROKEN at seq {} ({}): expected {}, found {}",
                    t.slug, b.seq, b.kind, b.expected, b.found
                ),
                None => println!("{}: BROKEN", t.slug),
            }
        }
    }
    Ok(if all_ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

async fn hold(core: &Core, command: HoldCommand) -> Result<ExitCode> {
    match command {
        HoldCommand::Add {
            tenant,
            org,
            reason,
        } => {
            let t = core.tenant_by_slug(&tenant).await?;
            let h = core
                .audit_hold_create(&t, &org, &reason, &cli_meta())
                .await?;
            println!("legal hold {} on {}", h.id, h.org_id);
        }
        HoldCommand::Release { tenant, id } => {
            let t = core.tenant_by_slug(&tenant).await?;
            if !core.audit_hold_release(&t, &id, &cli_meta()).await? {
                return Err(format!("no active legal hold `{id}`").into());
            }
            println!("released {id}");
        }
        HoldCommand::List { tenant } => {
            let t = core.tenant_by_slug(&tenant).await?;
            for h in core.audit_holds(&t, false).await? {
                let state = match h.released_at {
                    Some(at) => format!("released {}", at.to_rfc3339()),
                    None => "active".into(),
                };
                println!("{}\t{}\t{}\t{}", h.id, h.org_id, state, h.reason);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Offline: needs only the export and the JWKS.
pub(crate) fn verify_export(jwks: &Path, file: &Path) -> Result<ExitCode> {
    let jwks_text = std::fs::read_to_string(jwks)
        .map_err(|e| format!("cannot read {}: {e}", jwks.display()))?;
    let set: clavis_crypto::JwkSet = serde_json::from_str(&jwks_text)
        .map_err(|e| format!("{}: not a JWKS: {e}", jwks.display()))?;
    let f =
        std::fs::File::open(file).map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let mut reader = std::io::BufReader::new(f);
    match clavis_core::chain_verify::verify_export(&mut reader, &set) {
        Ok(v) => {
            println!("{}", serde_json::to_string_pretty(&v)?);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            println!("verification FAILED: {e}");
            Ok(ExitCode::FAILURE)
        }
    }
}
