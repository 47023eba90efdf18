//! Micro-benchmarks of the pure core: canonical encoding, leaf hashing,
//! signature verification (single strict vs batch) and Merkle proof
//! generation at 1M entries. Run with `cargo bench --bench core`;
//! BENCHMARKS.md records the figures.

use accord::core::batch::{verify_all, SigItem};
use accord::core::endorsement::Endorsement;
use accord::core::entry::{Entry, Signed};
use accord::core::frontier::Frontier;
use accord::core::merkle::{self, NodeSource};
use accord::core::model::{Region, StakeholderGroup};
use accord::core::Hash;
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use std::convert::Infallible;
use std::hint::black_box;

/// A typical endorsement (a name, a country and a domain), signed by `seed`.
fn endorsement(seed: u32) -> Signed {
    let mut bytes = [9u8; 32];
    bytes[..4].copy_from_slice(&seed.to_be_bytes());
    let key = SigningKey::from_bytes(&bytes);
    let e = Endorsement {
        commitment_id: "global-commitment-dts".into(),
        commitment_sha256: [0x11; 32],
        organization_name: format!("Ministry of Digital Affairs {seed}"),
        stakeholder_group: StakeholderGroup::ALL[seed as usize % 6],
        region: Region::ALL[seed as usize % 6],
        country: Some("FR".into()),
        domain: Some("example.gov".into()),
        statement: None,
        signed_at: 1_790_000_000,
        public_key: key.verifying_key().to_bytes(),
    };
    let signature = key.sign(&e.signed_message()).to_bytes();
    Signed::Endorsement {
        endorsement: e,
        signature,
    }
}

fn encoding(c: &mut Criterion) {
    let signed = endorsement(1);
    let leaf = Entry::leaf_bytes(42, 1_790_000_000_000, &[7; 32], &signed);
    let mut g = c.benchmark_group("encoding");
    g.throughput(Throughput::Elements(1));
    g.bench_function("signed_message", |b| {
        b.iter(|| black_box(&signed).signed_message())
    });
    g.bench_function("leaf_bytes", |b| {
        b.iter(|| Entry::leaf_bytes(42, 1_790_000_000_000, &[7; 32], black_box(&signed)))
    });
    g.bench_function("from_leaf", |b| {
        b.iter(|| Entry::from_leaf(black_box(&leaf)).unwrap())
    });
    g.bench_function("statement_hash", |b| {
        b.iter(|| black_box(&signed).statement_hash())
    });
    g.finish();

    let mut g = c.benchmark_group("hashing");
    g.throughput(Throughput::Bytes(leaf.len() as u64));
    g.bench_function(format!("leaf_hash_{}B", leaf.len()), |b| {
        b.iter(|| merkle::leaf_hash(black_box(&leaf)))
    });
    g.bench_function("node_hash", |b| {
        b.iter(|| merkle::node_hash(black_box(&[1; 32]), black_box(&[2; 32])))
    });
    g.finish();
}

fn verification(c: &mut Criterion) {
    let items: Vec<SigItem> = (0..256)
        .map(|i| endorsement(i).signature_items().remove(0))
        .collect();
    let mut g = c.benchmark_group("verify");
    g.throughput(Throughput::Elements(1));
    g.bench_function("strict_single", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % items.len();
            items[i].verify().unwrap()
        })
    });
    g.throughput(Throughput::Elements(items.len() as u64));
    g.bench_function("exact_batch_256", |b| {
        b.iter(|| assert!(verify_all(black_box(&items)).iter().all(|r| r.is_ok())))
    });
    // ed25519-dalek's own (cofactored) batch: faster, but it accepts
    // signatures strict verification rejects (SPEC.md §9), so Accord does not
    // use it; measured as the yardstick.
    let m: Vec<&[u8]> = items.iter().map(|i| i.message.as_slice()).collect();
    let s: Vec<Signature> = items
        .iter()
        .map(|i| Signature::from_bytes(&i.signature))
        .collect();
    let k: Vec<VerifyingKey> = items
        .iter()
        .map(|i| VerifyingKey::from_bytes(&i.public_key).unwrap())
        .collect();
    g.bench_function("dalek_cofactored_batch_256", |b| {
        b.iter(|| ed25519_dalek::verify_batch(&m, &s, &k).unwrap())
    });
    g.finish();
}

/// Every perfect-subtree hash of a tree, in memory, by level.
struct Tree(Vec<Vec<Hash>>);

impl NodeSource for Tree {
    type Error = Infallible;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Infallible> {
        Ok(self.0[level as usize][index as usize])
    }
}

fn proofs(c: &mut Criterion) {
    const SIZE: u64 = 1 << 20; // "1M entries": 1,048,576
    let mut tree = Tree(vec![Vec::new(); 21]);
    let mut frontier = Frontier::new();
    for i in 0..SIZE {
        frontier.push(merkle::leaf_hash(&i.to_be_bytes()), |n| {
            tree.0[n.level as usize].push(n.hash)
        });
    }
    // An odd size, so proofs combine partial subtrees (the usual case).
    let size = SIZE - 12_345;
    let mut g = c.benchmark_group("proofs_1M");
    g.throughput(Throughput::Elements(1));
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    g.bench_function("inclusion", |b| {
        b.iter_batched(
            || next() % size,
            |i| merkle::inclusion_proof(i, size, &tree).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.bench_function("consistency", |b| {
        b.iter_batched(
            || 1 + next() % size,
            |old| merkle::consistency_proof(old, size, &tree).unwrap(),
            BatchSize::SmallInput,
        )
    });
    g.finish();
}

/// The registry map (core::map) with 2^20 keys in memory: one key's update
/// (the O(depth) reads, hashes and writes a statement's changed keys cost
/// per batch), a proof, and its verification.
fn registry_map(c: &mut Criterion) {
    use accord::core::map::{self, MapUpdate, MemoryMap};
    let key = |i: u64| accord::core::sha256(&i.to_be_bytes());
    let mut m = MemoryMap::default();
    let pairs: Vec<(Hash, Hash)> = (0..1u64 << 20).map(|i| (key(i), key(!i))).collect();
    let root = m.set_all(pairs.iter().map(|(k, v)| (k, v)));
    let mut g = c.benchmark_group("map_2^20");
    g.throughput(Throughput::Elements(1));
    let mut i = 0u64;
    g.bench_function("set_existing_key", |b| {
        b.iter(|| {
            i += 1;
            let mut u = MapUpdate::new(&m);
            u.set(&key(i % (1 << 20)), &key(i)).unwrap();
            black_box(u.writes())
        })
    });
    g.bench_function("set_new_key", |b| {
        b.iter(|| {
            i += 1;
            let mut u = MapUpdate::new(&m);
            u.set(&key(i | 1 << 40), &key(i)).unwrap();
            black_box(u.writes())
        })
    });
    g.throughput(Throughput::Elements(1000));
    g.bench_function("set_1000_keys_in_one_update", |b| {
        b.iter(|| {
            let mut u = MapUpdate::new(&m);
            for _ in 0..1000 {
                i += 1;
                u.set(&key(i % (1 << 20)), &key(i)).unwrap();
            }
            black_box(u.writes())
        })
    });
    // 1,000 existing keys with new values, as a batch of statements sets.
    let next_1000 = |i: &mut u64| -> Vec<(Hash, Hash)> {
        (0..1000)
            .map(|_| {
                *i += 1;
                (key(*i % (1 << 20)), key(*i))
            })
            .collect()
    };
    g.bench_function("set_1000_keys_bottom_up", |b| {
        b.iter(|| {
            let pairs = next_1000(&mut i);
            black_box(accord::core::map_batch::set_batch(&m, &pairs).unwrap())
        })
    });
    // The auditor's map (core::map_arena): the same batches, in place.
    let mut arena = accord::core::map_arena::ArenaMap::default();
    assert_eq!(arena.set_all(pairs.iter().map(|(k, v)| (k, v))), root);
    g.bench_function("set_1000_keys_arena", |b| {
        b.iter(|| {
            let pairs = next_1000(&mut i);
            black_box(arena.set_all(pairs.iter().map(|(k, v)| (k, v))))
        })
    });
    g.throughput(Throughput::Elements(1));
    let q = key(12345);
    g.bench_function("prove", |b| b.iter(|| black_box(m.prove(black_box(&q)))));
    let proof = m.prove(&q);
    g.bench_function("verify", |b| {
        b.iter(|| map::verify(black_box(&root), &q, &proof).unwrap())
    });
    g.finish();
}

criterion_group!(benches, encoding, verification, proofs, registry_map);
criterion_main!(benches);
