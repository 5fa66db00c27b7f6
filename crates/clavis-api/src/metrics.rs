//! Prometheus metrics, kept in the application state (no global recorder): request counts
//! by method/route/status, a latency histogram per route, and process gauges.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

const BUCKETS: [f64; 12] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

#[derive(Debug, Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Debug, Default)]
struct Route {
    /// (method, status) → count
    counts: BTreeMap<(String, u16), u64>,
    latency: Histogram,
}

#[derive(Debug, Default)]
struct Inner {
    routes: BTreeMap<String, Route>,
}

#[derive(Debug, Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
    started_at: Option<std::time::Instant>,
    /// Email delivery attempts: sent, failed and retried later, failed and given up.
    emails_sent: AtomicU64,
    emails_retried: AtomicU64,
    emails_failed: AtomicU64,
}

impl Metrics {
    pub fn new(started_at: std::time::Instant) -> Self {
        Self {
            started_at: Some(started_at),
            ..Self::default()
        }
    }

    /// An email was delivered to the SMTP server.
    pub fn email_sent(&self) {
        self.emails_sent.fetch_add(1, Ordering::Relaxed);
    }
    /// An email delivery attempt failed; it will be retried.
    pub fn email_retry(&self) {
        self.emails_retried.fetch_add(1, Ordering::Relaxed);
    }
    /// An email delivery attempt failed and the message was given up.
    pub fn email_failed(&self) {
        self.emails_failed.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn observe(&self, method: &str, route: &str, status: u16, seconds: f64) {
        let Ok(mut m) = self.inner.lock() else { return };
        // Allocate keys only the first time a route/method/status is seen.
        if !m.routes.contains_key(route) {
            m.routes.insert(route.to_owned(), Route::default());
        }
        let Some(r) = m.routes.get_mut(route) else {
            return;
        };
        match r
            .counts
            .iter_mut()
            .find(|((m, s), _)| m == method && *s == status)
        {
            Some((_, n)) => *n += 1,
            None => {
                r.counts.insert((method.to_owned(), status), 1);
            }
        }
        let h = &mut r.latency;
        h.count += 1;
        h.sum += seconds;
        for (i, b) in BUCKETS.iter().enumerate() {
            if seconds <= *b {
                h.counts[i] += 1;
            }
        }
    }

    /// [`Metrics::render`] and `clavis_rate_counter_fallbacks_total`: how often the shared
    /// attack-protection counters (Redis) failed and the database counted instead.
    pub fn render_with_rate_fallbacks(&self, fallbacks: u64) -> String {
        let mut out = self.render();
        let _ = writeln!(
            out,
            "# HELP clavis_rate_counter_fallbacks_total Attack-protection counts made in the database because the shared counters (Redis) failed.\n# TYPE clavis_rate_counter_fallbacks_total counter"
        );
        let _ = writeln!(out, "clavis_rate_counter_fallbacks_total {fallbacks}");
        out
    }

    /// Prometheus text exposition format 0.0.4.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP clavis_build_info Clavis version.\n# TYPE clavis_build_info gauge"
        );
        let _ = writeln!(
            out,
            "clavis_build_info{{version=\"{}\"}} 1",
            env!("CARGO_PKG_VERSION")
        );
        if let Some(rss) = resident_memory_bytes() {
            let _ = writeln!(
                out,
                "# HELP process_resident_memory_bytes Resident memory size in bytes.\n# TYPE process_resident_memory_bytes gauge"
            );
            let _ = writeln!(out, "process_resident_memory_bytes {rss}");
        }
        if let Some(s) = self.started_at {
            let _ = writeln!(
                out,
                "# HELP clavis_uptime_seconds Seconds since start.\n# TYPE clavis_uptime_seconds gauge"
            );
            let _ = writeln!(
                out,
                "clavis_uptime_seconds {:.3}",
                s.elapsed().as_secs_f64()
            );
        }
        let _ = writeln!(
            out,
            "# HELP clavis_email_deliveries_total Email delivery attempts by outcome (retry: failed, will be retried; failed: given up).\n# TYPE clavis_email_deliveries_total counter"
        );
        for (outcome, n) in [
            ("sent", &self.emails_sent),
            ("retry", &self.emails_retried),
            ("failed", &self.emails_failed),
        ] {
            let _ = writeln!(
                out,
                "clavis_email_deliveries_total{{outcome=\"{outcome}\"}} {}",
                n.load(Ordering::Relaxed)
            );
        }
        let Ok(m) = self.inner.lock() else { return out };
        let _ = writeln!(
            out,
            "# HELP http_requests_total HTTP requests handled.\n# TYPE http_requests_total counter"
        );
        for (route, r) in &m.routes {
            for ((method, status), n) in &r.counts {
                let _ = writeln!(
                    out,
                    "http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        let _ = writeln!(
            out,
            "# HELP http_request_duration_seconds HTTP request latency.\n# TYPE http_request_duration_seconds histogram"
        );
        for (route, h) in m.routes.iter().map(|(k, r)| (k, &r.latency)) {
            let r = escape(route);
            for (i, b) in BUCKETS.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "http_request_duration_seconds_bucket{{route=\"{r}\",le=\"{b}\"}} {}",
                    h.counts[i]
                );
            }
            let _ = writeln!(
                out,
                "http_request_duration_seconds_bucket{{route=\"{r}\",le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_sum{{route=\"{r}\"}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "http_request_duration_seconds_count{{route=\"{r}\"}} {}",
                h.count
            );
        }
        out
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Resident set size from /proc (Linux); `None` elsewhere.
pub fn resident_memory_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}
