//! Bytes a sled log holds, by record kind (`sled_store.rs`'s key layout),
//! and the log files beside it (`log_files.rs`): for BENCHMARKS.md's disk
//! figures. `cargo run --release --example dbstats -- DIR/db` (the server
//! stopped).

use std::collections::BTreeMap;

fn main() {
    let path = std::env::args().nth(1).expect("usage: dbstats DIR/db");
    let db = sled::open(&path).expect("open the sled database (is the server stopped?)");
    let mut kinds: BTreeMap<u8, (u64, u64, u64)> = BTreeMap::new();
    for kv in db.iter() {
        let (k, v) = kv.expect("read");
        let e = kinds.entry(k[0]).or_default();
        e.0 += 1;
        e.1 += k.len() as u64;
        e.2 += v.len() as u64;
    }
    // Entries: the log files' count (`F`), or layout 1's leaf records.
    let leaves = match db.get(b"F").expect("read") {
        Some(v) => u64::from_be_bytes(v.as_ref().try_into().expect("8 bytes")),
        None => kinds.get(&b'l').map_or(0, |e| e.0),
    };
    println!("kind  records  key bytes  value bytes  per leaf (B)");
    for (kind, (n, kb, vb)) in &kinds {
        let per = (kb + vb) as f64 / leaves.max(1) as f64;
        println!(
            "{:>4}  {n:>7}  {kb:>9}  {vb:>11}  {per:>12.1}",
            *kind as char
        );
    }
    use accord::storage::log_files::{LEAF_ENDS, LEAVES, NODES};
    for name in [LEAVES, LEAF_ENDS, NODES] {
        let len = std::fs::metadata(std::path::Path::new(&path).join(name)).map_or(0, |m| m.len());
        let per = len as f64 / leaves.max(1) as f64;
        println!("file {name:>9}: {len:>11} bytes  {per:>12.1} per leaf");
    }
    let total: u64 = kinds.values().map(|e| e.1 + e.2).sum();
    println!(
        "logical bytes {total}; sled on disk {}",
        db.size_on_disk().unwrap_or(0)
    );
}
