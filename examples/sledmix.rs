//! What sled's commit costs per entry, by record kind (issue 18): batches
//! of 1,000 entries shaped as the log's (per entry: the leaf-hash index,
//! 4 registry records of ≈ 70 bytes, 0.7 map tile records of ≈ 228 bytes;
//! with `1`, also a 278-byte leaf and a node, as sled held them before the
//! log files), applied and flushed as `SledStorage::commit` did; with
//! `redb`, the records without the log into redb tables, one durable
//! transaction per batch, as `LocalStorage::commit` did until 2026-11-30
//! (with the records file's size, the process's RSS and the time to
//! reopen); with `fjall`, the same into fjall keyspaces, one durable
//! write batch per batch, as `LocalStorage::commit` does now, configured
//! as `records_db.rs` configures them.
//! `cargo run --release --example sledmix -- 1|0|redb|fjall BATCHES [PER]`
//! (`PER`: entries per batch, 1,000 by default; 65 is a unary commit's).
//! BENCHMARKS.md has its figures; they decided moving leaves and nodes
//! out of sled, then the records to redb, then to fjall.
use rand::RngCore;
use std::time::Instant;
fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: sledmix 1|0|redb|fjall BATCHES [PER]";
    let batches: u64 = args.get(2).and_then(|b| b.parse().ok()).expect(usage);
    let per: u64 = args.get(3).map_or(1000, |p| p.parse().expect(usage));
    match args.get(1).expect(usage).as_str() {
        "redb" => return records_mix(Store::Redb, batches, per),
        "fjall" => return records_mix(Store::Fjall, batches, per),
        _ => {}
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

enum Store {
    Redb,
    Fjall,
}

/// One batch's records: leaf hashes with their index, registry records,
/// map tiles.
type Records = (
    Vec<(Vec<u8>, u64)>,
    Vec<(Vec<u8>, Vec<u8>)>,
    Vec<(Vec<u8>, Vec<u8>)>,
);

/// The record mix above into redb (tables as layout 4's) or fjall
/// (keyspaces as `records_db.rs`'s), batches of `per` entries.
fn records_mix(store: Store, batches: u64, per: u64) {
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
    let open_redb = || {
        redb::Builder::new()
            .set_cache_size(64 << 20)
            .create(&file)
            .unwrap()
    };
    let open_fjall = || {
        let db = fjall::Database::builder(dir.path().join("records"))
            .worker_threads(1)
            .cache_size(64 << 20)
            .max_journaling_size(64 << 20)
            .open()
            .unwrap();
        let options = || {
            let leveled = fjall::compaction::Leveled::default().with_l0_threshold(8);
            fjall::KeyspaceCreateOptions::default()
                .max_memtable_size(16 << 20)
                .compaction_strategy(std::sync::Arc::new(leveled))
        };
        let spaces = ["hashes", "registry", "map"].map(|n| db.keyspace(n, options).unwrap());
        (db, spaces)
    };
    let (mut redb_db, mut fjall_db) = (None, None);
    match store {
        Store::Redb => redb_db = Some(open_redb()),
        Store::Fjall => fjall_db = Some(open_fjall()),
    }
    let commit = |records: Records| {
        if let Some(db) = &redb_db {
            let tx = db.begin_write().unwrap();
            {
                let mut h = tx.open_table(hashes).unwrap();
                let (mut r, mut p) = (
                    tx.open_table(registry).unwrap(),
                    tx.open_table(map).unwrap(),
                );
                records
                    .0
                    .iter()
                    .for_each(|(k, i)| drop(h.insert(&k[..], *i).unwrap()));
                records
                    .1
                    .iter()
                    .for_each(|(k, v)| drop(r.insert(&k[..], &v[..]).unwrap()));
                records
                    .2
                    .iter()
                    .for_each(|(k, v)| drop(p.insert(&k[..], &v[..]).unwrap()));
            }
            tx.commit().unwrap();
        }
        if let Some((db, [h, r, p])) = &fjall_db {
            let mut batch = db.batch().durability(Some(fjall::PersistMode::SyncData));
            records
                .0
                .into_iter()
                .for_each(|(k, i)| batch.insert(h, k, i.to_be_bytes()));
            records
                .1
                .into_iter()
                .for_each(|(k, v)| batch.insert(r, k, v));
            records
                .2
                .into_iter()
                .for_each(|(k, v)| batch.insert(p, k, v));
            batch.commit().unwrap();
        }
    };
    let mut rng = rand::thread_rng();
    let (t0, mut window) = (Instant::now(), Instant::now());
    let mut fill = |len: usize| {
        let mut v = vec![0u8; len];
        rng.fill_bytes(&mut v);
        v
    };
    let (mut reported, mut last) = (0, 0);
    for b in 0..batches {
        let mut records: Records = Default::default();
        for i in 0..per {
            records.0.push((fill(32), b * per + i));
            for _ in 0..4 {
                records.1.push((fill(40), fill(70)));
            }
            if i % 10 < 7 {
                // 2^24 tile positions, as sled's mix (tiles rewritten).
                let mut k = fill(3);
                k.resize(11, 0);
                records.2.push((k, fill(228)));
            }
        }
        commit(records);
        let done = (b + 1) * per;
        if done / 100_000 > reported {
            reported = done / 100_000;
            let size = match store {
                Store::Redb => std::fs::metadata(&file).unwrap().len(),
                Store::Fjall => fjall_db.as_ref().unwrap().0.disk_space().unwrap(),
            };
            println!(
                "{}k entries: {:.0} entries/s since the last line, {} B per entry on disk, RSS {} MB",
                done / 1000,
                (done - last) as f64 / window.elapsed().as_secs_f64(),
                size / done,
                rss_mb()
            );
            (window, last) = (Instant::now(), done);
        }
    }
    println!("batches={batches} of {per} in {:?}", t0.elapsed());
    if let Some(db) = redb_db {
        drop(db);
        let t = Instant::now();
        let db = open_redb();
        let tx = db.begin_read().unwrap();
        let n = tx.open_table(hashes).unwrap().len().unwrap();
        println!(
            "reopened in {:?} ({n} hashes), RSS {} MB",
            t.elapsed(),
            rss_mb()
        );
    }
    if let Some((db, spaces)) = fjall_db {
        drop((db, spaces));
        let t = Instant::now();
        let (_db, [h, _, _]) = open_fjall();
        let n = h.approximate_len();
        println!(
            "reopened in {:?} (≈ {n} hashes), RSS {} MB",
            t.elapsed(),
            rss_mb()
        );
    }
}
