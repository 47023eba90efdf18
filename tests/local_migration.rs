//! A database written by servers before the records store (sled, with the
//! log files beside it) opens as a `LocalStorage` with every record: the
//! log, the leaf-hash index, the registry, the map, the cosigned
//! checkpoint. So does a records file of redb (layouts 3 and 4,
//! `records.redb`; through which a sled database moves). sled's files and
//! the redb file are gone afterwards; a move a crash interrupted is done
//! again from the start.

use accord::core::frontier::Frontier;
use accord::core::map_versions::{records, MapAt};
use accord::core::merkle;
use accord::storage::{
    Batch, LocalStorage, LogMeta, Nodes, Records, SledStorage, Storage, StoredCosigned,
};
use std::path::Path;

fn meta(size: u64) -> LogMeta {
    LogMeta {
        origin: "example.org/log".into(),
        vkey: "vkey".into(),
        size,
        checkpoint: format!("checkpoint {size}"),
    }
}

const ENTRIES: u64 = 300;

/// Writes `ENTRIES` entries in three batches, with map and registry
/// records, through `s`; returns the map root and the log's root.
fn fill(s: &dyn Storage) -> ([u8; 32], [u8; 32]) {
    use accord::core::map::{MapSource, MapUpdate, Position};
    let mut frontier = Frontier::new();
    for b in 0..3u64 {
        let mut batch = Batch::default();
        for i in b * 100..(b + 1) * 100 {
            let leaf = format!("entry {i}").into_bytes();
            frontier.push(merkle::leaf_hash(&leaf), |n| batch.nodes.push(n));
            batch.leaves.push((i, leaf));
            batch
                .registry
                .push((format!("org {i:04}").into_bytes(), Some(vec![i as u8; 70])));
        }
        batch.registry.push((b"org 0001".to_vec(), None));
        let size = (b + 1) * 100;
        let src = Records(s);
        let latest = MapAt::new(&src, b * 100);
        let mut update = MapUpdate::new(&latest);
        for i in 0..size {
            let key = accord::core::sha256(&i.to_be_bytes());
            update
                .set(&key, &accord::core::sha256(&size.to_be_bytes()))
                .unwrap();
        }
        batch.map = records(size, update).unwrap();
        batch.meta = Some(meta(size));
        s.commit(batch).unwrap();
        assert!(MapAt::new(&Records(s), size)
            .map_node(&Position::ROOT)
            .is_ok());
    }
    let src = Records(s);
    let root = MapAt::new(&src, ENTRIES)
        .map_node(&Position::ROOT)
        .unwrap()
        .hash();
    (root, frontier.root())
}

fn sled_files(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n == "conf" || n == "db" || n == "blobs" || n.starts_with("snap."))
        .collect()
}

fn same_log(s: &LocalStorage, map_root: [u8; 32], log_root: [u8; 32], cosigned: &StoredCosigned) {
    use accord::core::map::{MapSource, Position};
    s.wait_for_node_cache();
    assert_eq!(s.meta().unwrap(), Some(meta(ENTRIES)));
    assert_eq!(merkle::root(ENTRIES, &Nodes(s)).unwrap(), log_root);
    assert_eq!(s.leaf(123).unwrap(), Some(b"entry 123".to_vec()));
    let h = merkle::leaf_hash(b"entry 217");
    assert_eq!(s.find_leaf_hash(&h).unwrap(), Some(217));
    assert_eq!(s.registry_record(b"org 0042").unwrap(), Some(vec![42; 70]));
    assert_eq!(s.registry_record(b"org 0001").unwrap(), None);
    let rows = s.registry_scan(b"org ", b"org ", 3).unwrap();
    let keys: Vec<_> = rows.iter().map(|(k, _)| k.clone()).collect();
    assert_eq!(keys, [&b"org 0000"[..], b"org 0002", b"org 0003"]);
    let src = Records(s);
    let at = MapAt::new(&src, ENTRIES);
    assert_eq!(at.map_node(&Position::ROOT).unwrap().hash(), map_root);
    assert_eq!(s.cosigned().unwrap().as_ref(), Some(cosigned));
}

/// A sled database at `path` as servers before the records store wrote
/// it: `fill`'s entries and records, and `cosigned`.
fn sled_log(path: &Path, cosigned: &StoredCosigned) -> ([u8; 32], [u8; 32]) {
    let sled = SledStorage::open(path).unwrap();
    let roots = fill(&sled);
    assert!(sled.store_cosigned(cosigned).unwrap());
    roots
}

/// A temporary directory with a sled database at `db` (`sled_log`).
fn sled_dir() -> (
    tempfile::TempDir,
    std::path::PathBuf,
    StoredCosigned,
    ([u8; 32], [u8; 32]),
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let cosigned = StoredCosigned {
        size: 100,
        note: "note\n".into(),
        at: 1,
    };
    let roots = sled_log(&path, &cosigned);
    (dir, path, cosigned, roots)
}

#[test]
fn a_sled_database_is_moved_into_the_records_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let cosigned = StoredCosigned {
        size: 200,
        note: "a cosigned note\n".into(),
        at: 1_700_000_000,
    };
    let (map_root, log_root) = sled_log(&path, &cosigned);
    assert!(sled_files(&path).contains(&"conf".to_owned()));
    let s = LocalStorage::open(&path).unwrap();
    assert!(sled_files(&path).is_empty(), "{:?}", sled_files(&path));
    same_log(&s, map_root, log_root, &cosigned);
    // It grows, and keeps what it holds across a reopen.
    let mut batch = Batch::default();
    batch
        .registry
        .push((b"org 9999".to_vec(), Some(b"new".to_vec())));
    s.commit(batch).unwrap();
    drop(s);
    let s = LocalStorage::open(&path).unwrap();
    same_log(&s, map_root, log_root, &cosigned);
    assert_eq!(
        s.registry_record(b"org 9999").unwrap(),
        Some(b"new".to_vec())
    );
}

/// A records file a crash left half-written during the move (no layout
/// marker): thrown away, and the move done again from sled.
#[test]
fn an_interrupted_move_starts_again() {
    let (_dir, path, cosigned, (map_root, log_root)) = sled_dir();
    {
        let db =
            redb::Database::create(path.join(accord::storage::local_store::RECORDS_FILE)).unwrap();
        let tx = db.begin_write().unwrap();
        let junk: redb::TableDefinition<&[u8], &[u8]> = redb::TableDefinition::new("registry");
        tx.open_table(junk)
            .unwrap()
            .insert(&b"org 0001"[..], &b"half a move"[..])
            .unwrap();
        tx.commit().unwrap();
    }
    let s = LocalStorage::open(&path).unwrap();
    same_log(&s, map_root, log_root, &cosigned);
    assert!(sled_files(&path).is_empty());
}

/// Log files beside a records store that records no entries (it was
/// replaced or lost): refused, and the files are left as they are.
#[test]
fn log_files_without_records_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    std::fs::create_dir_all(&path).unwrap();
    let leaves = path.join(accord::storage::log_files::LEAVES);
    std::fs::write(&leaves, b"someone's leaves").unwrap();
    let err = LocalStorage::open(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("records none"), "{err}");
    assert_eq!(std::fs::read(&leaves).unwrap(), b"someone's leaves");
}

/// A crash after the move into redb's file but before sled's files were
/// all removed: the next open removes them (and moves the file into the
/// records directory). sled's files beside a records directory that did
/// not move them: refused, nothing removed.
#[test]
fn sled_files_are_removed_only_after_their_own_move() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    drop(SledStorage::open(&path).unwrap());
    let file = path.join(accord::storage::local_store::RECORDS_FILE);
    let meta: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("meta");
    // As the move's commit leaves it: layout 4, the removal pending,
    // sled's files there.
    {
        let db = redb::Database::create(&file).unwrap();
        let tx = db.begin_write().unwrap();
        {
            let mut t = tx.open_table(meta).unwrap();
            t.insert("L", &[4][..]).unwrap();
            t.insert("S", &[][..]).unwrap();
        }
        tx.commit().unwrap();
    }
    let leftovers = || {
        for name in ["conf", "db", "snap.0000000000001234"] {
            std::fs::write(path.join(name), b"sled's").unwrap();
        }
        std::fs::create_dir_all(path.join("blobs")).unwrap();
    };
    leftovers();
    drop(LocalStorage::open(&path).unwrap());
    assert!(sled_files(&path).is_empty(), "{:?}", sled_files(&path));
    assert!(!file.exists(), "the redb file was moved and removed");
    // sled's files appearing now are not ours to remove.
    leftovers();
    let err = LocalStorage::open(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("not moved from"), "{err}");
    assert_eq!(sled_files(&path).len(), 4);
}

/// A records directory a crash left half-built (`records.building`) is
/// thrown away and built again; a records directory without its layout
/// marker (damaged) is refused.
#[test]
fn a_half_built_records_directory_is_built_again() {
    let (_dir, path, cosigned, (map_root, log_root)) = sled_dir();
    let building = path.join(accord::storage::records_db::BUILDING);
    std::fs::create_dir_all(&building).unwrap();
    std::fs::write(building.join("junk"), b"half a build").unwrap();
    let s = LocalStorage::open(&path).unwrap();
    same_log(&s, map_root, log_root, &cosigned);
    drop(s);
    assert!(!building.exists());
    assert!(sled_files(&path).is_empty());

    let records = path.join(accord::storage::records_db::RECORDS_DIR);
    std::fs::remove_dir_all(&records).unwrap();
    drop(fjall::Database::builder(&records).open().unwrap());
    let err = LocalStorage::open(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("no layout marker"), "{err}");
}

/// A store is open in one place at a time (the data directory's lock),
/// and a `records.redb` beside a records directory that did not move it
/// (a copy restored over part of the directory?) is refused, not removed.
#[test]
fn one_open_at_a_time_and_no_stray_redb_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let first = LocalStorage::open(&path).unwrap();
    let err = LocalStorage::open(&path)
        .err()
        .expect("refused")
        .to_string();
    // The data directory's lock, not only fjall's (which would name
    // `db/records`): it is taken before anything in the directory is read.
    let locked = format!("{} is already open", path.display());
    assert!(err.contains(&locked), "{err}");
    drop(first);
    let stray = path.join(accord::storage::local_store::RECORDS_FILE);
    drop(redb::Database::create(&stray).unwrap());
    let err = LocalStorage::open(&path)
        .err()
        .expect("refused")
        .to_string();
    assert!(err.contains("not moved from"), "{err}");
    assert!(stray.exists(), "left as it was");
}
