//! What sled's commit costs per entry, by record kind (issue 18): batches
//! of 1,000 entries shaped as the log's (per entry: the leaf-hash index,
//! 4 registry records of ≈ 70 bytes, 0.7 map tile records of ≈ 228 bytes;
//! with `1`, also a 278-byte leaf and a node, as sled held them before the
//! log files), applied and flushed as `SledStorage::commit` did; with
//! `redb`, the records without the log into redb tables, one durable
//! transaction per batch, as `LocalStorage::commit` does (with the
//! records file's size, the process's RSS and the time to reopen).
//! `cargo run --release --example sledmix -- 1|0|redb BATCHES`.
//! BENCHMARKS.md has its figures; they decided moving leaves and nodes
//! out of sled, then the records to redb.
use rand::RngCore;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sledmix 1|0|redb BATCHES";
    let batches: u64 = args.get(2).and_then(|b| b.parse().ok()).expect(usage);
    if args.get(1).expect(usage) == "redb" {
        return redb_mix(batches);
    }
    let with_log = args.get(1).expect(usage) == "1";
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

/// The record mix above, into redb (tables as `local_store.rs`'s).
fn redb_mix(batches: u64) {
    use redb::{ReadableTableMetadata, TableDefinition};
    let hashes: TableDefinition<&[u8], u64> = TableDefinition::new("hashes");
    let registry: TableDefinition<&[u8], &[u8]> = TableDefinition::new("registry");
    let map: TableDefinition<&[u8], &[u8]> = TableDefinition::new("map");
    let rss_mb = || {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let kb = status.lines().find(|l| l.starts_with("VmRSS"));
        let kb = kb.and_then(|l| l.split_whitespace().nth(1)?.parse::<u64>().ok());
        kb.unwrap_or(0) / 1024
    };
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("records.redb");
    let open = || {
        redb::Builder::new()
            .set_cache_size(64 << 20)
            .create(&file)
            .unwrap()
    };
    let db = open();
    let mut rng = rand::thread_rng();
    let (t0, mut window) = (Instant::now(), Instant::now());
    let mut fill = |len: usize| {
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        v
    };
    for b in 0..batches {
        let tx = db.begin_write().unwrap();
        {
            let (mut h, mut r, mut p) = (
                tx.open_table(hashes).unwrap(),
                tx.open_table(registry).unwrap(),
                tx.open_table(map).unwrap(),
            );
            for i in 0..1000u64 {
                h.insert(&fill(32)[..], b * 1000 + i).unwrap();
                for _ in 0..4 {
                    r.insert(&fill(40)[..], &fill(70)[..]).unwrap();
                }
                if i % 10 < 7 {
                    // 2^24 tile positions, as sled's mix (tiles rewritten).
                    let mut k = fill(3);
                    k.resize(11, 0);
                    p.insert(&k[..], &fill(228)[..]).unwrap();
                }
            }
        }
        tx.commit().unwrap();
        if (b + 1) % 100 == 0 {
            let size = std::fs::metadata(&file).unwrap().len();
            println!(
                "{}k entries: {:.0} entries/s over the last 100k, file {} B per entry, RSS {} MB",
                b + 1,
                100_000.0 / window.elapsed().as_secs_f64(),
                size / ((b + 1) * 1000),
                rss_mb()
            );
            window = Instant::now();
        }
    }
    println!("redb batches={batches} total {:?}", t0.elapsed());
    drop(db);
    let t = Instant::now();
    let db = open();
    let n = db
        .begin_read()
        .unwrap()
        .open_table(hashes)
        .unwrap()
        .len()
        .unwrap();
    println!(
        "reopened in {:?} ({n} hashes), RSS {} MB",
        t.elapsed(),
        rss_mb()
    );
}
