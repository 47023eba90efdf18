//! Witnessing metrics (`accord serve --witness-policy`): per witness, how
//! its requests ended and how long they took; and how far behind the log
//! the latest cosigned checkpoint is. Witnesses are named by the policy,
//! so the series are created when the witnessing task starts.

use crate::metrics::{Histogram, SECONDS};
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;

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

struct PerWitness {
    name: String,
    results: [AtomicU64; RESULTS.len()],
    seconds: Histogram<11>,
}

pub struct Witnessing {
    witnesses: Mutex<Vec<PerWitness>>,
    /// Unix seconds when the latest cosigned checkpoint reached its quorum (0: none yet).
    cosigned_at: AtomicU64,
    cosigned_size: AtomicU64,
}

impl Witnessing {
    pub(crate) const fn new() -> Self {
        Witnessing {
            witnesses: Mutex::new(Vec::new()),
            cosigned_at: AtomicU64::new(0),
            cosigned_size: AtomicU64::new(0),
        }
    }

    /// Creates the series of the policy's witnesses (idempotent).
    pub fn register(&self, names: &[String]) {
        let mut ws = self.witnesses.lock().expect("metrics lock");
        for name in names {
            if !ws.iter().any(|w| &w.name == name) {
                ws.push(PerWitness {
                    name: name.clone(),
                    results: [const { AtomicU64::new(0) }; RESULTS.len()],
                    seconds: Histogram::new(SECONDS),
                });
            }
        }
    }

    pub fn request(&self, witness: &str, result: WitnessResult, seconds: f64) {
        let ws = self.witnesses.lock().expect("metrics lock");
        if let Some(w) = ws.iter().find(|w| w.name == witness) {
            let i = RESULTS.iter().position(|(r, _)| *r == result).unwrap_or(0);
            w.results[i].fetch_add(1, Relaxed);
            w.seconds.observe(seconds);
        }
    }

    pub fn cosigned(&self, size: u64, unix_seconds: u64) {
        self.cosigned_size.store(size, Relaxed);
        self.cosigned_at.store(unix_seconds, Relaxed);
    }

    pub(crate) fn render(&self, out: &mut String) {
        let ws = self.witnesses.lock().expect("metrics lock");
        if ws.is_empty() {
            return; // no policy: no witnessing series
        }
        let name = "accord_witness_requests_total";
        let _ = writeln!(
            out,
            "# HELP {name} Checkpoints sent to each witness, by result.\n# TYPE {name} counter"
        );
        for w in ws.iter() {
            for ((_, label), n) in RESULTS.iter().zip(&w.results) {
                let _ = writeln!(
                    out,
                    "{name}{{witness=\"{}\",result=\"{label}\"}} {}",
                    escape(&w.name),
                    n.load(Relaxed)
                );
            }
        }
        let name = "accord_witness_request_seconds";
        let _ = writeln!(out, "# HELP {name} One add-checkpoint request to a witness, until its answer.\n# TYPE {name} histogram");
        for w in ws.iter() {
            w.seconds
                .render_series(out, name, &format!("witness=\"{}\"", escape(&w.name)));
        }
        let at = self.cosigned_at.load(Relaxed);
        let age = if at == 0 {
            -1
        } else {
            unix_now().saturating_sub(at) as i64
        };
        let gauges = [
            ("accord_cosigned_tree_size", "Size of the latest checkpoint a quorum of witnesses cosigned (0: none yet).", self.cosigned_size.load(Relaxed) as i64),
            ("accord_cosigned_age_seconds", "Seconds since the latest cosigned checkpoint reached its quorum (-1: none yet); alert when it grows while accord_tree_size does.", age),
        ];
        for (name, help, v) in gauges {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        }
    }
}

/// Label values escape `\`, `"` and newlines (exposition format 0.0.4).
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
