//! The bounded aggregates reports are built from: per-day counts, heavy-hitter counters,
//! capped tables, request-to-completion delays, and the number formats they print with.

use clavis_types::Timestamp;
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};

use super::{
    DAY_MS, DENSE_DAYS, Granularity, MAX_ROWS, Point, Range, Section, Series, TOP_CAPACITY, TOP_N,
    Table,
};

/// Counts per UTC day (only days that have events are stored).
#[derive(Debug, Default)]
pub(super) struct Daily(BTreeMap<i64, u64>);

impl Daily {
    pub(super) fn add(&mut self, t: Timestamp) {
        *self.0.entry(t.as_millis().div_euclid(DAY_MS)).or_default() += 1;
    }

    pub(super) fn days_with_events(&self) -> u64 {
        self.0.len() as u64
    }

    /// Per day over the whole range when it is short, else per month between the first
    /// and the last month that have events.
    pub(super) fn series(&self, key: &str, title: &str, range: Range) -> Series {
        let first = range.from.as_millis().div_euclid(DAY_MS);
        let last = (range.to.as_millis() - 1).div_euclid(DAY_MS);
        if last - first < DENSE_DAYS {
            let points = (first..=last)
                .map(|d| Point {
                    period: day_label(d),
                    count: self.0.get(&d).copied().unwrap_or(0),
                })
                .collect();
            return Series {
                key: key.to_owned(),
                title: title.to_owned(),
                granularity: Granularity::Day,
                points,
            };
        }
        let mut months: BTreeMap<i64, u64> = BTreeMap::new();
        for (d, n) in &self.0 {
            if let Some(m) = month_index(&day_label(*d)) {
                *months.entry(m).or_default() += n;
            }
        }
        let points = match (months.keys().next(), months.keys().next_back()) {
            (Some(&a), Some(&b)) => (a..=b)
                .map(|m| Point {
                    period: format!("{:04}-{:02}", m.div_euclid(12), m.rem_euclid(12) + 1),
                    count: months.get(&m).copied().unwrap_or(0),
                })
                .collect(),
            _ => Vec::new(),
        };
        Series {
            key: key.to_owned(),
            title: title.to_owned(),
            granularity: Granularity::Month,
            points,
        }
    }
}

pub(super) fn day_label(day: i64) -> String {
    let s = Timestamp::from_millis(day.saturating_mul(DAY_MS)).to_rfc3339();
    s.get(..10).unwrap_or(&s).to_owned()
}

/// `year * 12 + month - 1` of a `YYYY-MM…` label.
pub(super) fn month_index(label: &str) -> Option<i64> {
    let year: i64 = label.get(..4)?.parse().ok()?;
    let month: i64 = label.get(5..7)?.parse().ok()?;
    Some(year * 12 + month - 1)
}

/// Heavy hitters (Misra–Gries): exact while at most [`TOP_CAPACITY`] distinct keys were
/// seen; beyond that, any key with more than 1/[`TOP_CAPACITY`] of the total is kept and
/// counts are lower bounds.
#[derive(Debug, Default)]
pub(super) struct TopCounter {
    counts: HashMap<String, u64>,
    pub(super) approximate: bool,
}

impl TopCounter {
    pub(super) fn add(&mut self, key: &str) {
        if let Some(c) = self.counts.get_mut(key) {
            *c += 1;
        } else if self.counts.len() < TOP_CAPACITY {
            self.counts.insert(key.to_owned(), 1);
        } else {
            self.approximate = true;
            self.counts.retain(|_, c| {
                *c -= 1;
                *c > 0
            });
        }
    }

    pub(super) fn distinct(&self) -> usize {
        self.counts.len()
    }

    /// The largest counts as a two-column table.
    pub(super) fn table(&self, key: &str, title: &str, column: &str) -> Table {
        let mut all: Vec<(&String, &u64)> = self.counts.iter().collect();
        all.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
        let total = all.len() as u64;
        Table {
            key: key.to_owned(),
            title: title.to_owned(),
            columns: vec![column.to_owned(), "Count".to_owned()],
            rows: all
                .into_iter()
                .take(TOP_N)
                .map(|(k, n)| vec![k.clone(), n.to_string()])
                .collect(),
            total_rows: total,
        }
    }
}

/// Rows of a table, capped at [`MAX_ROWS`]; every row is counted.
#[derive(Debug)]
pub(super) struct Rows {
    pub(super) columns: Vec<String>,
    pub(super) rows: Vec<Vec<String>>,
    pub(super) total: u64,
}

impl Rows {
    pub(super) fn new(columns: &[&str]) -> Self {
        Self {
            columns: columns.iter().map(|c| (*c).to_owned()).collect(),
            rows: Vec::new(),
            total: 0,
        }
    }

    /// True while another row would still be listed.
    pub(super) fn has_room(&self) -> bool {
        self.rows.len() < MAX_ROWS
    }

    pub(super) fn push(&mut self, row: Vec<String>) {
        self.total += 1;
        if self.has_room() {
            self.rows.push(row);
        }
    }

    pub(super) fn table(self, key: &str, title: &str) -> Table {
        Table {
            key: key.to_owned(),
            title: title.to_owned(),
            columns: self.columns,
            rows: self.rows,
            total_rows: self.total,
        }
    }
}

/// Delays (milliseconds) between a request and its completion.
#[derive(Debug)]
pub(super) struct Latency {
    pub(super) count: u64,
    sum_ms: i64,
    max_ms: i64,
    /// The delay the report holds completions to, and its name (`24 hours`).
    limit_ms: i64,
    limit: &'static str,
    within: u64,
}

impl Latency {
    pub(super) fn new(limit_ms: i64, limit: &'static str) -> Self {
        Self {
            count: 0,
            sum_ms: 0,
            max_ms: 0,
            limit_ms,
            limit,
            within: 0,
        }
    }

    pub(super) fn add(&mut self, ms: i64) {
        let ms = ms.max(0);
        self.count += 1;
        self.sum_ms = self.sum_ms.saturating_add(ms);
        self.max_ms = self.max_ms.max(ms);
        if ms <= self.limit_ms {
            self.within += 1;
        }
    }

    /// Average, maximum and share within the limit as figures (keys `{prefix}_…`).
    pub(super) fn figures(&self, s: &mut Section, prefix: &str) {
        if self.count == 0 {
            return;
        }
        let avg = self.sum_ms / i64::try_from(self.count).unwrap_or(i64::MAX).max(1);
        s.figure(
            &format!("{prefix}_average_ms"),
            "Average delay",
            Value::from(avg),
            duration(avg),
        );
        s.figure(
            &format!("{prefix}_max_ms"),
            "Longest delay",
            Value::from(self.max_ms),
            duration(self.max_ms),
        );
        let share = percent(self.within, self.count);
        s.figure(
            &format!("{prefix}_within_limit_percent"),
            &format!("Completed within {}", self.limit),
            Value::from(share),
            format!("{share:.1}% ({} of {})", self.within, self.count),
        );
    }
}

/// `part / whole` in percent, rounded to one decimal (0 when `whole` is 0).
pub(super) fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 0.0;
    }
    #[allow(clippy::cast_precision_loss)] // counts far below 2^52
    let p = part as f64 * 100.0 / whole as f64;
    (p * 10.0).round() / 10.0
}

/// `3 d 4 h`, `2 h 5 min`, `45 s`.
pub(super) fn duration(ms: i64) -> String {
    let s = ms / 1000;
    let (d, h, m) = (s / 86_400, (s % 86_400) / 3600, (s % 3600) / 60);
    if d > 0 {
        format!("{d} d {h} h")
    } else if h > 0 {
        format!("{h} h {m} min")
    } else if m > 0 {
        format!("{m} min {} s", s % 60)
    } else {
        format!("{s} s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_counter_is_exact_below_capacity_and_keeps_heavy_hitters_beyond() {
        let mut t = TopCounter::default();
        for _ in 0..3 {
            t.add("a");
        }
        t.add("b");
        let table = t.table("k", "t", "Key");
        assert_eq!(table.rows[0], vec!["a".to_owned(), "3".to_owned()]);
        assert!(!t.approximate);
        for i in 0..(TOP_CAPACITY * 3) {
            t.add(&format!("noise{i}"));
            if i % 2 == 0 {
                t.add("heavy");
            }
        }
        assert!(t.approximate);
        assert!(t.distinct() <= TOP_CAPACITY);
        assert_eq!(t.table("k", "t", "Key").rows[0][0], "heavy");
    }

    #[test]
    fn daily_series_is_dense_for_short_ranges_and_monthly_for_long_ones() {
        let day0 = 19_000 * DAY_MS;
        let mut d = Daily::default();
        d.add(Timestamp::from_millis(day0 + 5));
        d.add(Timestamp::from_millis(day0 + 2 * DAY_MS));
        let short = Range {
            from: Timestamp::from_millis(day0),
            to: Timestamp::from_millis(day0 + 3 * DAY_MS),
        };
        let s = d.series("k", "t", short);
        assert_eq!(s.granularity, Granularity::Day);
        let counts: Vec<u64> = s.points.iter().map(|p| p.count).collect();
        assert_eq!(counts, [1, 0, 1]);
        assert_eq!(s.points[0].period, day_label(19_000));
        d.add(Timestamp::from_millis(day0 + 70 * DAY_MS));
        let long = Range {
            from: Timestamp::from_millis(0),
            to: Timestamp::from_millis(day0 + 1000 * DAY_MS),
        };
        let s = d.series("k", "t", long);
        assert_eq!(s.granularity, Granularity::Month);
        assert_eq!(s.points.iter().map(|p| p.count).sum::<u64>(), 3);
        assert!(s.points.len() >= 3 && s.points.len() <= 4, "{:?}", s.points);
    }
}
