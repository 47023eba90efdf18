//! Bytes a local log holds, by keyspace of its records store
//! (`records_db.rs`), and the log files beside it (`log_files.rs`): for
//! BENCHMARKS.md's disk figures. `cargo run --release --example dbstats --
//! DIR/db` (the server stopped).

use fjall::{Database, KeyspaceCreateOptions};

fn main() {
    let path = std::env::args().nth(1).expect("usage: dbstats DIR/db");
    let dir = std::path::Path::new(&path);
    let records = dir.join(accord::storage::records_db::RECORDS_DIR);
    assert!(
        records.is_dir(),
        "no {} (open it with this build once)",
        records.display()
    );
    let db = Database::builder(&records)
        .open()
        .expect("open the records store (is the server stopped?)");
    let space = |name: &str| {
        db.keyspace(name, KeyspaceCreateOptions::default)
            .expect("keyspace")
    };
    let leaves = space("meta")
        .get("F")
        .expect("read")
        .map_or(0, |v| u64::from_be_bytes((*v).try_into().expect("8 bytes")));
    let per = |bytes: u64| bytes as f64 / leaves.max(1) as f64;
    println!("{leaves} entries");
    println!("keyspace       records   key+value B   on disk B   per leaf (on disk)");
    for name in ["hashes", "map", "map_near_root", "registry"] {
        let ks = space(name);
        let (mut n, mut logical) = (0u64, 0u64);
        for kv in ks.iter() {
            let (k, v) = kv.into_inner().expect("read");
            n += 1;
            logical += (k.len() + v.len()) as u64;
        }
        let disk = ks.disk_space();
        println!(
            "{name:<13} {n:>9}  {logical:>11}  {disk:>10}  {:>10.1}",
            per(disk)
        );
    }
    let journals = db.journal_disk_space().expect("journals");
    println!("journals: {journals} bytes");
    use accord::storage::log_files::{LEAF_ENDS, LEAVES, NODES};
    for name in [LEAVES, LEAF_ENDS, NODES] {
        let len = std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
        println!(
            "file {name:>9}: {len:>11} bytes  {:>10.1} per leaf",
            per(len)
        );
    }
    let on_disk = db.disk_space().expect("disk space");
    println!(
        "records store: {on_disk} bytes on disk ({:.1} per leaf)",
        per(on_disk)
    );
}
