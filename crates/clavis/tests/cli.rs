//! The `clavis` binary as a user meets it: zero-configuration start, configuration errors
//! that name the key, graceful shutdown on SIGTERM, and apply/export from the command line.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");

fn clavis(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CLAVIS_LISTEN", "127.0.0.1:0")
        .current_dir(dir);
    c
}

#[test]
fn zero_config_serve_becomes_ready_and_stops_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = clavis(dir.path())
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut printed = Vec::new();
    let url = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        printed.push(line.clone());
        if let Some(u) = line.strip_prefix("Clavis is listening on ") {
            break u.trim().to_owned();
        }
    };
    // the first-administrator link is printed
    let rest: Vec<String> = lines.by_ref().take(6).map(Result::unwrap).collect();
    assert!(
        rest.iter()
            .any(|l| l.contains(&format!("{url}/bootstrap?token="))),
        "{rest:?}"
    );
    // everything was created with no configuration at all
    let data = dir.path().join("clavis-data");
    assert!(data.join("clavis.db").exists());
    let key_mode = std::fs::metadata(data.join("master.key"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(key_mode, 0o600);
    assert_eq!(
        std::fs::metadata(&data).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let ok = Command::new(BIN)
        .args(["healthcheck", "--url", &url])
        .output()
        .unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stdout)
    );

    let started = Instant::now();
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status after SIGTERM: {status}");
    assert!(started.elapsed() < Duration::from_secs(10));
    let mut logs = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    // JSON log lines, none carrying the master key or the bootstrap token
    let key = std::fs::read_to_string(data.join("master.key")).unwrap();
    let token = rest
        .iter()
        .find_map(|l| l.split("token=").nth(1))
        .unwrap()
        .trim()
        .to_owned();
    for line in logs.lines() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(v["level"].is_string());
        assert!(
            !line.contains(key.trim()) && !line.contains(&token),
            "secret in log: {line}"
        );
    }
    assert!(logs.contains("shutting down"));
    // the WAL was checkpointed on a clean shutdown
    let wal = data.join("clavis.db-wal");
    assert!(!wal.exists() || std::fs::metadata(&wal).unwrap().len() == 0);
}

#[test]
fn configuration_errors_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let out = clavis(dir.path())
        .env("CLAVIS_LISTEN", "nowhere")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("listen") && err.contains("CLAVIS_LISTEN"),
        "{err}"
    );

    std::fs::write(dir.path().join("clavis.toml"), "log_format = \"xml\"\n").unwrap();
    let out = clavis(dir.path()).arg("serve").output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("log_format") && err.contains("clavis.toml"),
        "{err}"
    );

    let out = clavis(dir.path())
        .env("CLAVIS_DATABASE_URL", "mysql://x")
        .arg("--config")
        .arg("missing.toml")
        .arg("serve")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn apply_the_readme_example_then_export_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/clavis.yaml");
    let first = clavis(dir.path())
        .args(["apply", "-f"])
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let out = String::from_utf8_lossy(&first.stdout);
    assert!(
        out.contains("created organization") && out.contains("client secret for application"),
        "{out}"
    );

    let second = clavis(dir.path())
        .args(["apply", "-f"])
        .arg(&example)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&second.stdout).trim(), "no changes");

    let exported = dir.path().join("exported.yaml");
    let e = clavis(dir.path())
        .args(["export", "-o"])
        .arg(&exported)
        .output()
        .unwrap();
    assert!(e.status.success(), "{}", String::from_utf8_lossy(&e.stderr));
    let yaml = std::fs::read_to_string(&exported).unwrap();
    assert!(!yaml.contains("correct horse") && !yaml.contains("$2b$") && !yaml.contains("$argon2"));
    let again = clavis(dir.path())
        .args(["apply", "-f"])
        .arg(&exported)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&again.stdout).trim(), "no changes");

    std::fs::write(
        dir.path().join("bad.yaml"),
        "tenants:\n  - slug: default\n    colour: blue\n",
    )
    .unwrap();
    let bad = clavis(dir.path())
        .args(["apply", "-f", "bad.yaml"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("line 3") && err.contains("colour"), "{err}");
}
