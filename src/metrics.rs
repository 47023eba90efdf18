//! Process-wide metrics for Prometheus, through `prometheus-client` (the
//! Prometheus project's Rust client: OpenMetrics text, typed label sets,
//! no global registry or macros — chosen over `metrics` + an exporter, which
//! adds a recorder layer and a second crate for one endpoint). Every series
//! with a fixed label set is created at start, so it reads 0 before its first
//! event and recording is one atomic add on a handle kept here. The HTTP
//! endpoint is `server::metrics_http`.
//!
//! One process serves one log, so the metrics are a process-global
//! ([`METRICS`]), like the default registry of other client libraries.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::LazyLock;
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

/// A histogram with the latency buckets.
pub(crate) fn seconds() -> Histogram {
    Histogram::new(SECONDS)
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

const REFUSALS: [(Refusal, &str); 2] = [(Refusal::Global, "global"), (Refusal::Address, "address")];
const CLOSED: [(Closed, &str); 2] = [(Closed::NoRequest, "no-request"), (Closed::Idle, "idle")];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabel {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CapLabels {
    listener: &'static str,
    cap: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    listener: &'static str,
    reason: &'static str,
}

/// Connection counters per listener (`net`).
pub struct Connections {
    open: Vec<Gauge>,
    accept_errors: Vec<Counter>,
    refused: Vec<[Counter; 2]>,
    timed_out: Vec<[Counter; 2]>,
}

impl Connections {
    fn new(r: &mut Registry) -> Connections {
        let open = Family::<ListenerLabel, Gauge>::default();
        let accept_errors = Family::<ListenerLabel, Counter>::default();
        let refused = Family::<CapLabels, Counter>::default();
        let timed_out = Family::<ReasonLabels, Counter>::default();
        let c = Connections {
            open: (Listener::ALL.iter())
                .map(|l| {
                    open.get_or_create(&ListenerLabel { listener: l.name() })
                        .clone()
                })
                .collect(),
            accept_errors: (Listener::ALL.iter())
                .map(|l| {
                    (accept_errors.get_or_create(&ListenerLabel { listener: l.name() })).clone()
                })
                .collect(),
            refused: (Listener::ALL.iter())
                .map(|l| {
                    REFUSALS.map(|(_, cap)| {
                        let labels = CapLabels {
                            listener: l.name(),
                            cap,
                        };
                        refused.get_or_create(&labels).clone()
                    })
                })
                .collect(),
            timed_out: (Listener::ALL.iter())
                .map(|l| {
                    CLOSED.map(|(_, reason)| {
                        let labels = ReasonLabels {
                            listener: l.name(),
                            reason,
                        };
                        timed_out.get_or_create(&labels).clone()
                    })
                })
                .collect(),
        };
        r.register(
            "accord_connections_open",
            "Connections open now, by listener",
            open,
        );
        r.register(
            "accord_accept_errors",
            "Failed accept calls (EMFILE, ENFILE, ENOMEM, ECONNABORTED…), each followed by a pause",
            accept_errors,
        );
        r.register(
            "accord_connections_refused",
            "Connections closed at once because a cap was reached (global or per client address)",
            refused,
        );
        r.register(
            "accord_connections_timed_out",
            "Connections closed by a deadline: no first request in time, or idle",
            timed_out,
        );
        c
    }

    pub fn opened(&self, l: Listener) {
        self.open[l as usize].inc();
    }

    pub fn closed(&self, l: Listener) {
        self.open[l as usize].dec();
    }

    pub fn accept_error(&self, l: Listener) {
        self.accept_errors[l as usize].inc();
    }

    pub fn refused(&self, l: Listener, why: Refusal) {
        let i = REFUSALS.iter().position(|(r, _)| *r == why).unwrap_or(0);
        self.refused[l as usize][i].inc();
    }

    pub fn timed_out(&self, l: Listener, why: Closed) {
        let i = CLOSED.iter().position(|(c, _)| *c == why).unwrap_or(0);
        self.timed_out[l as usize][i].inc();
    }
}

pub struct Metrics {
    registry: Registry,
    pub connections: Connections,
    submissions: [Counter; OUTCOMES.len()],
    pub verify_failures: Counter,
    pub rate_limited: Counter,
    /// Submit: from the request's arrival to its answer (verify, queue, commit).
    pub admission_seconds: Histogram,
    /// One storage commit (write + fsync) per batch.
    pub commit_seconds: Histogram,
    pub batch_entries: Histogram,
    pub tree_size: Gauge,
    /// Read from the sequencer at scrape time.
    queue_depth: Gauge,
    pub subscribers: Gauge,
    pub witnessing: crate::metrics_witness::Witnessing,
}

pub static METRICS: LazyLock<Metrics> = LazyLock::new(Metrics::new);

impl Metrics {
    fn new() -> Metrics {
        let mut r = Registry::default();
        let submissions = Family::<ResultLabel, Counter>::default();
        let handles =
            OUTCOMES.map(|(_, result)| submissions.get_or_create(&ResultLabel { result }).clone());
        r.register(
            "accord_submissions",
            "Statements submitted, by result",
            submissions,
        );
        let m = Metrics {
            connections: Connections::new(&mut r),
            submissions: handles,
            verify_failures: Counter::default(),
            rate_limited: Counter::default(),
            admission_seconds: seconds(),
            commit_seconds: seconds(),
            batch_entries: Histogram::new(ENTRIES),
            tree_size: Gauge::default(),
            queue_depth: Gauge::default(),
            subscribers: Gauge::default(),
            witnessing: crate::metrics_witness::Witnessing::default(),
            registry: Registry::default(),
        };
        r.register(
            "accord_verify_failures",
            "Statements whose fields or signatures failed verification",
            m.verify_failures.clone(),
        );
        r.register(
            "accord_rate_limited",
            "Requests refused because the client was over its rate",
            m.rate_limited.clone(),
        );
        r.register(
            "accord_admission_seconds",
            "Submit latency: arrival to durable answer",
            m.admission_seconds.clone(),
        );
        r.register(
            "accord_commit_seconds",
            "One batch's storage commit (write and fsync)",
            m.commit_seconds.clone(),
        );
        r.register(
            "accord_batch_entries",
            "Entries per committed batch",
            m.batch_entries.clone(),
        );
        r.register(
            "accord_tree_size",
            "Entries in the log (latest checkpoint)",
            m.tree_size.clone(),
        );
        r.register(
            "accord_queue_depth",
            "Statements waiting for the sequencer",
            m.queue_depth.clone(),
        );
        r.register(
            "accord_stream_subscribers",
            "Open WatchEntries streams",
            m.subscribers.clone(),
        );
        Metrics { registry: r, ..m }
    }

    pub fn submitted(&self, outcome: Outcome) {
        let i = OUTCOMES
            .iter()
            .position(|(o, _)| *o == outcome)
            .unwrap_or(0);
        self.submissions[i].inc();
    }

    pub fn batch_committed(&self, entries: usize, tree_size: u64, took: Duration) {
        self.batch_entries.observe(entries as f64);
        self.commit_seconds.observe(took.as_secs_f64());
        self.tree_size.set(tree_size as i64);
    }

    /// The OpenMetrics text; `queue_depth` is read from the sequencer at
    /// scrape time. The witnessing series follow only with a witness policy.
    pub fn render(&self, queue_depth: usize) -> String {
        self.queue_depth.set(queue_depth as i64);
        let mut out = String::with_capacity(8192);
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode_registry(&mut out, &self.registry);
        self.witnessing.encode(&mut out);
        let _ = prometheus_client::encoding::text::encode_eof(&mut out);
        out
    }
}
