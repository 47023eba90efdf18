//! Witnessing metrics (`accord serve --witness-policy`): per witness, how
//! its requests ended and how long they took; and how far behind the log
//! the latest cosigned checkpoint is. Witnesses are named by the policy,
//! so the series are created when the witnessing task starts.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};

/// How one request to a witness ended (the `result` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WitnessResult {
    /// 200 with a cosignature that verifies.
    Cosigned,
    /// An HTTP answer without a valid cosignature (409, 4xx, a bad line…).
    Refused,
    /// No answer: connection failed, timed out, or a body too long.
    Failed,
}

const RESULTS: [(WitnessResult, &str); 3] = [
    (WitnessResult::Cosigned, "cosigned"),
    (WitnessResult::Refused, "refused"),
    (WitnessResult::Failed, "failed"),
];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    witness: String,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct WitnessLabel {
    witness: String,
}

type Seconds = Family<WitnessLabel, Histogram, fn() -> Histogram>;

/// The witnessing series, in their own registry: encoded only once a
/// policy registered its witnesses, so a log without one shows none.
pub struct Witnessing {
    registry: Registry,
    active: AtomicBool,
    requests: Family<RequestLabels, Counter>,
    seconds: Seconds,
    cosigned_size: Gauge,
    lease: Gauge,
    /// Set from `cosigned_at` at scrape time.
    age: Gauge,
    /// Unix seconds when the latest cosigned checkpoint reached its quorum (0: none yet).
    cosigned_at: AtomicU64,
}

impl Default for Witnessing {
    fn default() -> Self {
        let mut registry = Registry::default();
        let requests = Family::<RequestLabels, Counter>::default();
        let seconds: Seconds = Family::new_with_constructor(crate::metrics::seconds);
        let (cosigned_size, age, lease) = (Gauge::default(), Gauge::default(), Gauge::default());
        registry.register(
            "accord_witness_requests",
            "Checkpoints sent to each witness, by result",
            requests.clone(),
        );
        registry.register(
            "accord_witness_request_seconds",
            "One add-checkpoint request to a witness, until its answer",
            seconds.clone(),
        );
        registry.register(
            "accord_cosigned_tree_size",
            "Size of the latest checkpoint a quorum of witnesses cosigned (0: none yet)",
            cosigned_size.clone(),
        );
        registry.register(
            "accord_cosigned_age_seconds",
            "Seconds since the latest cosigned checkpoint reached its quorum (-1: none yet); alert when it grows while accord_tree_size does",
            age.clone(),
        );
        registry.register(
            "accord_witness_lease_held",
            "1 while this server runs the witness rounds (always, on a log of its own; one server at a time on a shared database)",
            lease.clone(),
        );
        Witnessing {
            registry,
            lease,
            active: AtomicBool::new(false),
            requests,
            seconds,
            cosigned_size,
            age,
            cosigned_at: AtomicU64::new(0),
        }
    }
}

impl Witnessing {
    /// Creates the series of the policy's witnesses (idempotent).
    pub fn register(&self, names: &[String]) {
        for name in names {
            for (_, result) in RESULTS {
                let labels = RequestLabels {
                    witness: name.clone(),
                    result,
                };
                let _ = self.requests.get_or_create(&labels);
            }
            let _ = self.seconds.get_or_create(&WitnessLabel {
                witness: name.clone(),
            });
        }
        self.active.store(true, Relaxed);
    }

    pub fn request(&self, witness: &str, result: WitnessResult, seconds: f64) {
        let result = RESULTS
            .iter()
            .find(|(r, _)| *r == result)
            .map_or("failed", |(_, n)| n);
        let labels = RequestLabels {
            witness: witness.to_owned(),
            result,
        };
        self.requests.get_or_create(&labels).inc();
        let witness = WitnessLabel {
            witness: witness.to_owned(),
        };
        self.seconds.get_or_create(&witness).observe(seconds);
    }

    pub fn lease_held(&self, held: bool) {
        self.lease.set(i64::from(held));
    }

    pub fn cosigned(&self, size: u64, unix_seconds: u64) {
        self.cosigned_size.set(size as i64);
        self.cosigned_at.store(unix_seconds, Relaxed);
    }

    /// Appends the series (OpenMetrics text, no EOF) when witnessing runs.
    pub(crate) fn encode(&self, out: &mut String) {
        if !self.active.load(Relaxed) {
            return; // no policy: no witnessing series
        }
        let at = self.cosigned_at.load(Relaxed);
        let age = if at == 0 {
            -1
        } else {
            unix_now().saturating_sub(at) as i64
        };
        self.age.set(age);
        let _ = prometheus_client::encoding::text::encode_registry(out, &self.registry);
    }
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
