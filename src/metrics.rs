//! Process-wide counters for Prometheus (text exposition format 0.0.4),
//! kept with atomics so that recording costs a few nanoseconds and never
//! blocks the single writer. The HTTP endpoint is `server::metrics_http`.
//!
//! One process serves one log, so the counters are a process-global
//! ([`METRICS`]), like the default registry of Prometheus client libraries.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// How a submitted statement ended (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Accepted,
    Duplicate,
    /// Malformed or failed verification (INVALID_ARGUMENT).
    Invalid,
    /// Refused by the registry rules (FAILED_PRECONDITION).
    Rejected,
    /// Queue full or client over its rate (RESOURCE_EXHAUSTED).
    Busy,
    /// Missing or wrong admin token.
    Unauthorized,
    /// Anything else (UNAVAILABLE, INTERNAL).
    Failed,
}

const OUTCOMES: [(Outcome, &str); 7] = [
    (Outcome::Accepted, "accepted"),
    (Outcome::Duplicate, "duplicate"),
    (Outcome::Invalid, "invalid"),
    (Outcome::Rejected, "rejected"),
    (Outcome::Busy, "busy"),
    (Outcome::Unauthorized, "unauthorized"),
    (Outcome::Failed, "failed"),
];

/// Latency buckets (seconds): 0.5 ms to 10 s, about ×2.5 apart, covering a
/// cached proof (≈ 0.1 ms) up to a submission waiting out a slow flush.
pub(crate) const SECONDS: [f64; 11] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 10.0,
];
/// Entries per batch: powers of four up to the batch limit (4096).
const ENTRIES: [f64; 7] = [1.0, 4.0, 16.0, 64.0, 256.0, 1024.0, 4096.0];

pub struct Histogram<const N: usize> {
    bounds: [f64; N],
    counts: [AtomicU64; N],
    count: AtomicU64,
    /// Sum in millionths of the unit (µs for seconds), to stay an integer.
    sum_micros: AtomicU64,
}

impl<const N: usize> Histogram<N> {
    pub(crate) const fn new(bounds: [f64; N]) -> Self {
        Histogram {
            bounds,
            counts: [const { AtomicU64::new(0) }; N],
            count: AtomicU64::new(0),
            sum_micros: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        if let Some(i) = self.bounds.iter().position(|b| value <= *b) {
            self.counts[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        self.sum_micros.fetch_add((value * 1e6) as u64, Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        self.render_series(out, name, "");
    }

    /// The series of one histogram; `labels` is empty or `k="v",…`.
    pub(crate) fn render_series(&self, out: &mut String, name: &str, labels: &str) {
        let (open, sep) = if labels.is_empty() {
            (String::new(), "")
        } else {
            (format!("{{{labels}}}"), ",")
        };
        let mut cumulative = 0;
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            cumulative += count.load(Relaxed);
            let _ = writeln!(
                out,
                "{name}_bucket{{{labels}{sep}le=\"{bound}\"}} {cumulative}"
            );
        }
        let count = self.count.load(Relaxed);
        let sum = self.sum_micros.load(Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let _ = writeln!(out, "{name}_sum{open} {sum}\n{name}_count{open} {count}");
    }
}

/// Which listener a connection came in on (the `listener` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Listener {
    Grpc,
    Metrics,
    Http,
    /// `accord witness`.
    Witness,
}

impl Listener {
    const ALL: [Listener; 4] = [
        Listener::Grpc,
        Listener::Metrics,
        Listener::Http,
        Listener::Witness,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Listener::Grpc => "grpc",
            Listener::Metrics => "metrics",
            Listener::Http => "http",
            Listener::Witness => "witness",
        }
    }
}

/// Which cap a refused connection was over (the `cap` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections`, over every listener.
    Global,
    /// `max_connections_per_address`.
    Address,
}

/// Why a connection was closed by its deadline (the `reason` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Closed {
    /// No first request within `first_request_timeout`.
    NoRequest,
    /// No request in progress for `idle_timeout`.
    Idle,
}

const LISTENERS: usize = Listener::ALL.len();
const REFUSALS: [(Refusal, &str); 2] = [(Refusal::Global, "global"), (Refusal::Address, "address")];
const CLOSED: [(Closed, &str); 2] = [(Closed::NoRequest, "no-request"), (Closed::Idle, "idle")];

/// Connection counters per listener (`server::listener`).
pub struct Connections {
    open: [AtomicI64; LISTENERS],
    accept_errors: [AtomicU64; LISTENERS],
    refused: [[AtomicU64; REFUSALS.len()]; LISTENERS],
    timed_out: [[AtomicU64; CLOSED.len()]; LISTENERS],
}

impl Connections {
    const fn new() -> Connections {
        Connections {
            open: [const { AtomicI64::new(0) }; LISTENERS],
            accept_errors: [const { AtomicU64::new(0) }; LISTENERS],
            refused: [const { [const { AtomicU64::new(0) }; REFUSALS.len()] }; LISTENERS],
            timed_out: [const { [const { AtomicU64::new(0) }; CLOSED.len()] }; LISTENERS],
        }
    }

    pub fn opened(&self, l: Listener) {
        self.open[l as usize].fetch_add(1, Relaxed);
    }

    pub fn closed(&self, l: Listener) {
        self.open[l as usize].fetch_sub(1, Relaxed);
    }

    pub fn accept_error(&self, l: Listener) {
        self.accept_errors[l as usize].fetch_add(1, Relaxed);
    }

    pub fn refused(&self, l: Listener, why: Refusal) {
        let i = REFUSALS.iter().position(|(r, _)| *r == why).unwrap_or(0);
        self.refused[l as usize][i].fetch_add(1, Relaxed);
    }

    pub fn timed_out(&self, l: Listener, why: Closed) {
        let i = CLOSED.iter().position(|(c, _)| *c == why).unwrap_or(0);
        self.timed_out[l as usize][i].fetch_add(1, Relaxed);
    }

    fn render(&self, out: &mut String) {
        let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{{{labels}}} {v}");
            }
        };
        let listener = |l: Listener| format!("listener=\"{}\"", l.name());
        let per_listener = |counts: &[AtomicU64; LISTENERS]| {
            (Listener::ALL.iter())
                .map(|&l| (listener(l), counts[l as usize].load(Relaxed)))
                .collect()
        };
        let by_reason = |counts: &[[AtomicU64; 2]; LISTENERS], label: &str, names: [&str; 2]| {
            let mut rows = Vec::new();
            for l in Listener::ALL {
                for (i, name) in names.iter().enumerate() {
                    let v = counts[l as usize][i].load(Relaxed);
                    rows.push((format!("{},{label}=\"{name}\"", listener(l)), v));
                }
            }
            rows
        };
        let open = (Listener::ALL.iter())
            .map(|&l| {
                (
                    listener(l),
                    self.open[l as usize].load(Relaxed).max(0) as u64,
                )
            })
            .collect();
        family(
            "accord_connections_open",
            "gauge",
            "Connections open now, by listener.",
            open,
        );
        family(
            "accord_accept_errors_total",
            "counter",
            "Failed accept calls (EMFILE, ENFILE, ENOMEM, ECONNABORTED…), each followed by a pause.",
            per_listener(&self.accept_errors),
        );
        family(
            "accord_connections_refused_total",
            "counter",
            "Connections closed at once because a cap was reached (global or per client address).",
            by_reason(&self.refused, "cap", REFUSALS.map(|(_, n)| n)),
        );
        family(
            "accord_connections_timed_out_total",
            "counter",
            "Connections closed by a deadline: no first request in time, or idle.",
            by_reason(&self.timed_out, "reason", CLOSED.map(|(_, n)| n)),
        );
    }
}

pub struct Metrics {
    pub connections: Connections,
    submissions: [AtomicU64; OUTCOMES.len()],
    pub verify_failures: AtomicU64,
    pub rate_limited: AtomicU64,
    /// Submit: from the request's arrival to its answer (verify, queue, commit).
    pub admission_seconds: Histogram<11>,
    /// One storage commit (write + fsync) per batch.
    pub commit_seconds: Histogram<11>,
    pub batch_entries: Histogram<7>,
    pub tree_size: AtomicU64,
    pub subscribers: AtomicI64,
    pub witnessing: crate::metrics_witness::Witnessing,
}

pub static METRICS: Metrics = Metrics {
    connections: Connections::new(),
    submissions: [const { AtomicU64::new(0) }; OUTCOMES.len()],
    verify_failures: AtomicU64::new(0),
    rate_limited: AtomicU64::new(0),
    admission_seconds: Histogram::new(SECONDS),
    commit_seconds: Histogram::new(SECONDS),
    batch_entries: Histogram::new(ENTRIES),
    tree_size: AtomicU64::new(0),
    subscribers: AtomicI64::new(0),
    witnessing: crate::metrics_witness::Witnessing::new(),
};

impl Metrics {
    pub fn submitted(&self, outcome: Outcome) {
        let i = OUTCOMES
            .iter()
            .position(|(o, _)| *o == outcome)
            .unwrap_or(0);
        self.submissions[i].fetch_add(1, Relaxed);
    }

    pub fn batch_committed(&self, entries: usize, tree_size: u64, took: Duration) {
        self.batch_entries.observe(entries as f64);
        self.commit_seconds.observe(took.as_secs_f64());
        self.tree_size.store(tree_size, Relaxed);
    }

    /// The exposition text; `queue_depth` is read from the sequencer at
    /// scrape time.
    pub fn render(&self, queue_depth: usize) -> String {
        let mut out = String::with_capacity(4096);
        let _ = writeln!(
            out,
            "# HELP accord_submissions_total Statements submitted, by result.\n# TYPE accord_submissions_total counter"
        );
        for ((_, label), n) in OUTCOMES.iter().zip(&self.submissions) {
            let _ = writeln!(
                out,
                "accord_submissions_total{{result=\"{label}\"}} {}",
                n.load(Relaxed)
            );
        }
        let counters = [
            (
                "accord_verify_failures_total",
                "Statements whose fields or signatures failed verification.",
                self.verify_failures.load(Relaxed),
            ),
            (
                "accord_rate_limited_total",
                "Requests refused because the client was over its rate.",
                self.rate_limited.load(Relaxed),
            ),
        ];
        for (name, help, v) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}"
            );
        }
        self.admission_seconds.render(
            &mut out,
            "accord_admission_seconds",
            "Submit latency: arrival to durable answer.",
        );
        self.commit_seconds.render(
            &mut out,
            "accord_commit_seconds",
            "One batch's storage commit (write and fsync).",
        );
        self.batch_entries.render(
            &mut out,
            "accord_batch_entries",
            "Entries per committed batch.",
        );
        let gauges = [
            (
                "accord_tree_size",
                "Entries in the log (latest checkpoint).",
                self.tree_size.load(Relaxed) as i64,
            ),
            (
                "accord_queue_depth",
                "Statements waiting for the sequencer.",
                queue_depth as i64,
            ),
            (
                "accord_stream_subscribers",
                "Open WatchEntries streams.",
                self.subscribers.load(Relaxed),
            ),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
        self.connections.render(&mut out);
        self.witnessing.render(&mut out);
        out
    }
}
