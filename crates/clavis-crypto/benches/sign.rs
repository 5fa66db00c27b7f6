//! Raw JWS signing rate of each algorithm with this crate's provider (aws-lc-rs): the
//! ceiling of token issuance on this machine, before HTTP, client authentication and the
//! audit log. One row per algorithm and thread count; each thread signs with the same
//! `Signer` (as the server's request tasks share a tenant's cached signer) a message the
//! size of an access token's signing input.
//!
//! Knobs (environment): `SIGN_BENCH_SECS` (3 per row), `SIGN_BENCH_THREADS` ("1 N", N the
//! machine's CPUs). Run with `cargo bench -p clavis-crypto --bench sign`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use clavis_crypto::{Signer, SystemRng, generate_signing_key};
use clavis_types::SigningAlg;
use std::time::{Duration, Instant};

/// About the length of `base64url(header).base64url(payload)` of a client-credentials token.
const MESSAGE_BYTES: usize = 480;

fn env_secs() -> Duration {
    let secs = std::env::var("SIGN_BENCH_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3.0_f64);
    Duration::from_secs_f64(secs)
}

fn thread_counts() -> Vec<usize> {
    let cpus = std::thread::available_parallelism().map_or(1, usize::from);
    match std::env::var("SIGN_BENCH_THREADS") {
        Ok(v) => v
            .split_whitespace()
            .map(|t| t.parse().expect("SIGN_BENCH_THREADS: whole numbers"))
            .collect(),
        Err(_) if cpus > 1 => vec![1, cpus],
        Err(_) => vec![1],
    }
}

/// Signatures made by `threads` threads in `window`, and the median single-sign time.
fn run(signer: &Signer, threads: usize, window: Duration) -> (u64, Duration) {
    let msg = vec![b'e'; MESSAGE_BYTES];
    std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    let rng = SystemRng::new();
                    let mut times = Vec::new();
                    let started = Instant::now();
                    while started.elapsed() < window {
                        let t = Instant::now();
                        let sig = signer.sign(&msg, &rng).expect("sign");
                        times.push(t.elapsed());
                        assert!(!sig.is_empty());
                    }
                    times
                })
            })
            .collect();
        let mut all: Vec<Duration> = workers
            .into_iter()
            .flat_map(|w| w.join().expect("signing thread"))
            .collect();
        all.sort_unstable();
        let median = all.get(all.len() / 2).copied().unwrap_or_default();
        (u64::try_from(all.len()).unwrap_or(u64::MAX), median)
    })
}

fn main() {
    let window = env_secs();
    println!(
        "# raw JWS signing with aws-lc-rs, {MESSAGE_BYTES}-byte message, {:.1} s per row",
        window.as_secs_f64()
    );
    println!(
        "{:<7} {:>7} {:>10} {:>12}",
        "alg", "threads", "signs/s", "median µs"
    );
    for alg in [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa] {
        let key = generate_signing_key(alg, "bench").expect("key");
        let signer = Signer::from_pkcs8(alg, "bench", &key.pkcs8_der).expect("signer");
        run(&signer, 1, window / 10); // warm-up
        for threads in thread_counts() {
            let (n, median) = run(&signer, threads, window);
            println!(
                "{:<7} {:>7} {:>10.0} {:>12.1}",
                alg.as_str(),
                threads,
                n as f64 / window.as_secs_f64(),
                median.as_secs_f64() * 1e6
            );
        }
    }
}
