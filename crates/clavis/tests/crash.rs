//! `kill -9` of `clavis serve` (the long-running server, and servers killed while they
//! write during start-up) and of the `clavis apply` processes writing beside them, during
//! a burst of writes, leaves a SQLite database that opens, passes its integrity
//! check, is at the current schema, and still holds every write that was reported as
//! committed.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stdout,
    // the crash test times its SIGKILLs by sleeping: that is the point of it
    clippy::disallowed_methods
)]

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_clavis");

fn clavis(dir: &Path) -> Command {
    let mut c = Command::new(BIN);
    c.env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("CLAVIS_DATA_DIR", dir)
        .env("CLAVIS_LISTEN", "127.0.0.1:0")
        .env("CLAVIS_LOG_LEVEL", "warn")
        .current_dir(dir);
    c
}

/// Start `clavis serve` and return it with the URL it printed.
fn serve(dir: &Path) -> (Child, String) {
    let mut child = clavis(dir)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = BufReader::new(stdout).lines();
    let url = loop {
        let line = lines.next().expect("serve exited early").unwrap();
        if let Some(u) = line.strip_prefix("Clavis is listening on ") {
            break u.trim().to_owned();
        }
    };
    // keep draining stdout so the child never blocks on a full pipe
    std::thread::spawn(move || for _ in lines {});
    (child, url)
}

fn ready(url: &str) -> bool {
    Command::new(BIN)
        .args(["healthcheck", "--url", url])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn doc(writer: usize, i: usize) -> String {
    format!(
        "tenants:\n  - slug: default\n    display_name: Default\n    organizations:\n      - slug: crash-{writer}-{i}\n        display_name: Crash {writer} {i}\n    users:\n      - email: crash-{writer}-{i}@example.com\n        name: Crash {writer} {i}\n"
    )
}

#[test]
fn kill_9_during_a_write_burst_leaves_a_sound_database() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, url) = serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(&url) {
        assert!(Instant::now() < deadline, "server never became ready");
        std::thread::sleep(Duration::from_millis(50));
    }

    // Three writers apply new organizations and users in a loop; each records the slugs
    // whose `apply` reported success (i.e. committed).
    let stop_at = Instant::now() + Duration::from_millis(2500);
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let dir = dir.path().to_owned();
            std::thread::spawn(move || {
                let mut committed = Vec::new();
                let mut i = 0;
                while Instant::now() < stop_at {
                    let file = dir.join(format!("burst-{w}-{i}.yaml"));
                    std::fs::write(&file, doc(w, i)).unwrap();
                    let mut child = clavis(&dir)
                        .args(["apply", "-f"])
                        .arg(&file)
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap();
                    // every fifth apply is killed with SIGKILL mid-flight
                    if i % 5 == 4 {
                        std::thread::sleep(Duration::from_millis(15 + (i as u64 * 7) % 40));
                        let _ = child.kill();
                        let _ = child.wait();
                    } else if child.wait().unwrap().success() {
                        committed.push(format!("crash-{w}-{i}"));
                    }
                    i += 1;
                }
                committed
            })
        })
        .collect();

    // Meanwhile more `clavis serve` processes start on the same database — each one
    // writes at start (migration check, a fresh bootstrap token) — and are killed with
    // SIGKILL at varying points of that start-up.
    let mut restarts = 0;
    let mut delay = 5;
    while Instant::now() + Duration::from_millis(1300) < stop_at {
        let mut extra = clavis(dir.path())
            .arg("serve")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        extra.kill().unwrap();
        extra.wait().unwrap();
        delay = delay * 3 % 97 + 5;
        restarts += 1;
    }
    // and the long-running server is killed in the middle of the burst
    server.kill().unwrap(); // SIGKILL
    server.wait().unwrap();
    assert!(restarts >= 3, "only {restarts} serve processes were killed");
    let committed: Vec<String> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(
        committed.len() >= 5,
        "the burst wrote too little to mean anything: {committed:?}"
    );

    // The database opens and passes `PRAGMA integrity_check` and `foreign_key_check`.
    let check = clavis(dir.path()).arg("check").output().unwrap();
    let out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "clavis check failed: {out}\n{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(out.contains("integrity_check: ok"), "{out}");

    // Every committed write survived.
    let export = clavis(dir.path())
        .args(["export", "--tenant", "default"])
        .output()
        .unwrap();
    assert!(
        export.status.success(),
        "{}",
        String::from_utf8_lossy(&export.stderr)
    );
    let yaml = String::from_utf8_lossy(&export.stdout);
    for slug in &committed {
        assert!(
            yaml.contains(&format!("slug: {slug}")),
            "committed organization {slug} was lost"
        );
        assert!(
            yaml.contains(&format!("{slug}@example.com")),
            "committed user of {slug} was lost"
        );
    }

    // And Clavis starts on it again.
    let (mut server, url) = serve(dir.path());
    let deadline = Instant::now() + Duration::from_secs(20);
    while !ready(&url) {
        assert!(
            Instant::now() < deadline,
            "server did not restart on the crashed database"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server.kill().unwrap();
    server.wait().unwrap();
    println!("{} committed writes survived kill -9", committed.len());
}
