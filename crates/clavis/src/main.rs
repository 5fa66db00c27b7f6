//! The `clavis` command: `serve`, `migrate`, `apply`, `export`, `keys`, `audit`,
//! `healthcheck`, `check`. Parses arguments, loads configuration, calls the server crate, and turns
//! errors into a message and a non-zero exit code.

#![allow(clippy::print_stdout)] // a CLI prints

mod audit;
mod commands;

use clap::{Parser, Subcommand};
use std::path::PathBuf;
use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "clavis",
    version,
    about = "Self-hosted, multi-tenant identity and access platform"
)]
struct Cli {
    /// Configuration file (default: ./clavis.toml if present). `CLAVIS_*` variables override it.
    #[arg(short, long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the server (zero configuration: SQLite in ./clavis-data, generated keys).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create or update tenants and their resources from a YAML file (idempotent).
    Apply {
        /// The YAML document.
        #[arg(short, long, value_name = "FILE")]
        file: PathBuf,
    },
    /// Write the configuration back as YAML (without secrets).
    Export {
        /// Only this tenant.
        #[arg(long)]
        tenant: Option<String>,
        /// Output file (default: standard output).
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// The tamper-evident audit log: verify, checkpoint, export, reports, retention.
    Audit {
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Exit 0 when the server at URL answers /ready with 200.
    Healthcheck {
        #[arg(long, default_value = "http://127.0.0.1:8080")]
        url: String,
    },
    /// Check the database: schema version, and on SQLite the file's integrity.
    Check,
}

#[derive(Subcommand)]
enum KeysCommand {
    /// List a tenant's signing keys.
    List {
        #[arg(long, default_value = "default")]
        tenant: String,
    },
    /// Rotate: the published next key starts signing.
    Rotate {
        #[arg(long, default_value = "default")]
        tenant: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(commands::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
