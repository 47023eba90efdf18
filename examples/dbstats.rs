//! Bytes a local log holds, by table of its records file
//! (`local_store.rs`), and the log files beside it (`log_files.rs`): for
//! BENCHMARKS.md's disk figures. `cargo run --release --example dbstats --
//! DIR/db` (the server stopped).

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition};

fn main() {
    let path = std::env::args().nth(1).expect("usage: dbstats DIR/db");
    let dir = std::path::Path::new(&path);
    let file = dir.join(accord::storage::local_store::RECORDS_FILE);
    let db = redb::Database::open(&file).expect("open the records file (is the server stopped?)");
    let tx = db.begin_read().expect("read");
    let meta: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
    let leaves = tx
        .open_table(meta)
        .expect("meta table")
        .get("F")
        .expect("read")
        .map_or(0, |v| {
            u64::from_be_bytes(v.value().try_into().expect("8 bytes"))
        });
    let per = |bytes: u64| bytes as f64 / leaves.max(1) as f64;
    println!("{leaves} entries");
    println!("table      records   key+value B  stored B   tree B   per leaf (stored+tree)");
    let mut total = 0;
    for name in ["hashes", "map", "registry"] {
        let (n, logical, stats) = if name == "hashes" {
            let t = tx
                .open_table(TableDefinition::<&[u8], u64>::new(name))
                .expect("table");
            (
                t.len().expect("len"),
                t.len().expect("len") * 40,
                t.stats().expect("stats"),
            )
        } else {
            let t = tx
                .open_table(TableDefinition::<&[u8], &[u8]>::new(name))
                .expect("table");
            let mut logical = 0u64;
            for kv in t.iter().expect("iterate") {
                let (k, v) = kv.expect("read");
                logical += (k.value().len() + v.value().len()) as u64;
            }
            (t.len().expect("len"), logical, t.stats().expect("stats"))
        };
        let tree = stats.metadata_bytes() + stats.fragmented_bytes();
        total += stats.stored_bytes() + tree;
        println!(
            "{name:<9} {n:>9}  {logical:>11}  {:>9}  {tree:>8}  {:>10.1}",
            stats.stored_bytes(),
            per(stats.stored_bytes() + tree)
        );
    }
    // The deltas of the map's tiles near the root since their checkpoint
    // (`map_near_root.rs`): a few MB at most.
    // (None in a layout-3 file this build has not opened yet.)
    if let Ok(deltas) = tx.open_table(TableDefinition::<u64, &[u8]>::new("map_near_root")) {
        let (mut count, mut bytes) = (0u64, 0u64);
        for kv in deltas.iter().expect("iterate") {
            count += 1;
            bytes += kv.expect("read").1.value().len() as u64;
        }
        let stats = deltas.stats().expect("stats");
        let tree = stats.metadata_bytes() + stats.fragmented_bytes();
        total += stats.stored_bytes() + tree;
        println!("map_near_root: {count} deltas of {bytes} bytes in all");
    }
    use accord::storage::log_files::{LEAF_ENDS, LEAVES, NODES};
    for name in [LEAVES, LEAF_ENDS, NODES] {
        let len = std::fs::metadata(dir.join(name)).map_or(0, |m| m.len());
        println!(
            "file {name:>9}: {len:>11} bytes  {:>10.1} per leaf",
            per(len)
        );
    }
    let on_disk = std::fs::metadata(&file).map_or(0, |m| m.len());
    println!(
        "records file: {on_disk} bytes on disk ({:.1} per leaf), {total} in the tables' pages",
        per(on_disk)
    );
}
