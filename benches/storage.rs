//! Storage benchmarks on the real local store in a temp dir: one durable
//! commit per batch, by batch size, and an inclusion proof read from it
//! (before 2026-11-29 these groups were `sled_commit` and `sled_read`). Run with `cargo bench --bench storage`; BENCHMARKS.md records the figures.

use accord::core::frontier::Frontier;
use accord::core::merkle;
use accord::storage::{Batch, LocalStorage, LogMeta, Nodes, Storage};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};

/// Leaf size of a typical endorsement entry (name, country, domain; see the
/// `leaf_hash_*B` figure of `benches/core.rs`).
const LEAF_BYTES: usize = 330;

/// Appends entries with synthetic leaves, as the sequencer would.
struct Appender {
    store: LocalStorage,
    frontier: Frontier,
    _dir: tempfile::TempDir,
}

impl Appender {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        Appender {
            store: LocalStorage::open(&dir.path().join("db")).expect("open the local store"),
            frontier: Frontier::new(),
            _dir: dir,
        }
    }

    fn batch(&mut self, n: usize) -> Batch {
        next_batch(&mut self.frontier, n)
    }
}

/// The next `n` entries after `frontier`, as one batch.
fn next_batch(frontier: &mut Frontier, n: usize) -> Batch {
    let mut batch = Batch::default();
    for _ in 0..n {
        let index = frontier.size();
        let mut leaf = vec![0xa5; LEAF_BYTES];
        leaf[..8].copy_from_slice(&index.to_be_bytes());
        let hash = merkle::leaf_hash(&leaf);
        frontier.push(hash, |node| batch.nodes.push(node));
        batch.leaves.push((index, leaf));
    }
    batch.meta = Some(LogMeta {
        origin: "bench.example/log".into(),
        vkey: "bench.example/log+00000000+AA".into(),
        size: frontier.size(),
        // A checkpoint note is about 200 bytes.
        checkpoint: "x".repeat(200),
    });
    batch
}

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("local_commit");
    g.sample_size(20);
    for n in [1usize, 16, 256, 1024, 4096] {
        let Appender {
            store, frontier, ..
        } = &mut Appender::new();
        g.throughput(Throughput::Elements(n as u64));
        g.bench_function(format!("batch_{n}"), |b| {
            b.iter_batched(
                || next_batch(frontier, n),
                |batch| store.commit(batch).unwrap(),
                BatchSize::PerIteration,
            )
        });
    }
    g.finish();
}

fn proof(c: &mut Criterion) {
    // 2^17 entries: deep enough that every proof reads ~17 nodes (with
    // locally: recent ones from memory, the rest from the node file).
    let mut a = Appender::new();
    while a.frontier.size() < 1 << 17 {
        let batch = a.batch(4096);
        a.store.commit(batch).unwrap();
    }
    let size = a.frontier.size() - 7;
    let mut x = 0x2545_f491_4f6c_dd1du64;
    let mut g = c.benchmark_group("local_read");
    g.throughput(Throughput::Elements(1));
    g.bench_function("inclusion_proof_131k", |b| {
        b.iter_batched(
            || {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x % size
            },
            |i| merkle::inclusion_proof(i, size, &Nodes(&a.store)).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("leaf", |b| b.iter(|| a.store.leaf(size / 2).unwrap()));
    g.finish();
}

criterion_group!(benches, append, proof);
criterion_main!(benches);
