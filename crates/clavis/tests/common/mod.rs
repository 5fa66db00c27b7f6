//! Starting real `clavis` processes for the tests of this crate: a [`Site`] (one database,
//! the configuration every process on it shares, a directory for data and logs) runs
//! short-lived subcommands and starts `clavis serve` processes ([`Server`]), waiting until
//! each answers `/ready`.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::{Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clavis_store::testing::{Backend, TestDb};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

pub const BIN: &str = env!("CARGO_BIN_EXE_clavis");
/// Longest any one step (a command, a start-up, a request) may take.
pub const STEP: Duration = Duration::from_secs(30);

/// One database, the configuration every `clavis` process on it shares (same URL, same
/// master key, the extra `CLAVIS_*` variables of [`Site::env`]), and a directory for their
/// data, files and logs.
pub struct Site {
    pub db: TestDb,
    pub dir: tempfile::TempDir,
    servers_started: AtomicUsize,
    env: Vec<(String, String)>,
}

/// A running `clavis serve`.
pub struct Server {
    pub child: Child,
    pub url: String,
    pub log: PathBuf,
}

impl Site {
    pub async fn new(backend: Backend) -> Self {
        Self {
            db: TestDb::new(backend).await,
            dir: tempfile::tempdir().unwrap(),
            servers_started: AtomicUsize::new(0),
            env: Vec::new(),
        }
    }

    /// Set an environment variable for every process started from now on.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_owned(), value.to_owned()));
        self
    }

    pub fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("CLAVIS_DATA_DIR", self.dir.path().join("data"))
            .env("CLAVIS_DATABASE_URL", &self.db.url)
            .env("CLAVIS_MASTER_KEY", &self.db.master_key_b64)
            .env("CLAVIS_LISTEN", "127.0.0.1:0")
            .env("CLAVIS_LOG_LEVEL", "warn")
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .current_dir(self.dir.path())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    /// Run a short-lived `clavis` subcommand to completion.
    pub async fn run(&self, args: &[&str]) -> Output {
        let out = tokio::time::timeout(STEP, self.command().args(args).output())
            .await
            .unwrap_or_else(|_| panic!("clavis {args:?} did not finish"))
            .unwrap();
        println!(
            "clavis {}: {}\n{}{}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Start `clavis serve` and wait until it answers `/ready`.
    pub async fn serve(&self) -> Server {
        let n = self.servers_started.fetch_add(1, Ordering::Relaxed);
        let log = self.dir.path().join(format!("serve-{n}.log"));
        let mut child = self
            .command()
            .arg("serve")
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let url = tokio::time::timeout(STEP, async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if let Some(u) = line.strip_prefix("Clavis is listening on ") {
                    return u.trim().to_owned();
                }
            }
            panic!(
                "serve exited early: {}",
                std::fs::read_to_string(&log).unwrap()
            );
        })
        .await
        .expect("serve never printed its address");
        // keep draining stdout so the child never blocks on a full pipe
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let server = Server { child, url, log };
        server.wait_ready().await;
        server
    }
}

impl Server {
    pub async fn wait_ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + STEP;
        let mut tick = tokio::time::interval(Duration::from_millis(20));
        loop {
            tick.tick().await;
            let ok = http
                .get(format!("{}/ready", self.url))
                .timeout(Duration::from_secs(2))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} never became ready: {}",
                self.url,
                self.logs()
            );
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, and the process must exit cleanly.
    pub async fn stop(mut self) {
        let pid = self.child.id().unwrap().to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap();
        assert!(sent.success());
        let status = tokio::time::timeout(STEP, self.child.wait())
            .await
            .expect("serve did not stop on SIGTERM")
            .unwrap();
        assert!(
            status.success(),
            "serve exited with {status}: {}",
            self.logs()
        );
    }

    /// SIGKILL.
    pub async fn kill_9(mut self) {
        self.child.start_kill().unwrap();
        let status = self.child.wait().await.unwrap();
        assert!(!status.success(), "serve was not killed: {status}");
    }
}
