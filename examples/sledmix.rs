//! What sled's commit costs per entry, by record kind (issue 18): batches
//! of 1,000 entries shaped as the log's (per entry: the leaf-hash index,
//! 4 registry records of ≈ 70 bytes, 0.7 map tile records of ≈ 228 bytes;
//! with `1`, also a 278-byte leaf and a node, as sled held them before the
//! log files), applied and flushed as `SledStorage::commit` does.
//! `cargo run --release --example sledmix -- 1|0 BATCHES`. BENCHMARKS.md
//! has its figures; they decided moving leaves and nodes out of sled.
use rand::RngCore;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sledmix 1|0 BATCHES";
    let with_log = args.get(1).expect(usage) == "1";
    let batches: u64 = args.get(2).and_then(|b| b.parse().ok()).expect(usage);
    let dir = tempfile::tempdir().unwrap();
    let db = sled::Config::new()
        .path(dir.path())
        .cache_capacity(64 << 20)
        .open()
        .unwrap();
    let mut rng = rand::thread_rng();
    let t0 = Instant::now();
    let mut apply = std::time::Duration::ZERO;
    for b in 0..batches {
        let mut batch = sled::Batch::default();
        for i in 0..1000u64 {
            let idx = b * 1000 + i;
            let mut h = [0u8; 33];
            rng.fill_bytes(&mut h);
            h[0] = b'h';
            batch.insert(&h[..], &idx.to_be_bytes()[..]);
            if with_log {
                let mut k = vec![b'l'];
                k.extend_from_slice(&idx.to_be_bytes());
                let mut v = vec![0u8; 278];
                rng.fill_bytes(&mut v);
                batch.insert(k, v);
                let mut k = vec![b'n', 1];
                k.extend_from_slice(&idx.to_be_bytes());
                batch.insert(k, &h[1..]);
            }
            for _ in 0..4 {
                let mut k = vec![0u8; 40];
                rng.fill_bytes(&mut k);
                k[0] = b'r';
                let mut v = vec![0u8; 70];
                rng.fill_bytes(&mut v);
                batch.insert(k, v);
            }
            if i % 10 < 7 {
                let mut k = vec![0u8; 12];
                rng.fill_bytes(&mut k[..4]);
                k[0] = b'p';
                let mut v = vec![0u8; 228];
                rng.fill_bytes(&mut v);
                batch.insert(k, v);
            }
        }
        let t = Instant::now();
        db.apply_batch(batch).unwrap();
        db.flush().unwrap();
        apply += t.elapsed();
    }
    println!(
        "with_log={with_log} batches={batches} total {:?} apply+flush {:?} = {:.1} us/entry, disk {} B/entry",
        t0.elapsed(),
        apply,
        apply.as_secs_f64() * 1e6 / (batches * 1000) as f64,
        db.size_on_disk().unwrap() / (batches * 1000)
    );
}
