//! The map's tiles near the root, written as deltas and checkpoints: the
//! store reads back exactly the map it was given, before and after a
//! reopen, whatever the checkpoint size.

use super::*;
use crate::core::frontier::Frontier;
use crate::core::map::{prove, MapSource, MemoryMap};
use crate::core::map_batch::set_batch;
use crate::core::map_versions::MapAt;
use crate::core::{merkle, sha256, Hash};
use crate::storage::{Batch, LocalStorage, LogMeta, Records, Storage};

/// Key hashes: random ones (paths end near the root), ones sharing their
/// first 18 bits (paths go on into deeper tiles), and, among the keys
/// added after the first commit, twins of earlier ones (all bits but the
/// last the same: a leaf near the root splits down to depth 255).
fn key(i: u64) -> Hash {
    if i >= KEYS && i.is_multiple_of(10) {
        let mut twin = key(i / 10 % KEYS);
        twin[31] ^= 1;
        return twin;
    }
    let mut k = sha256(&i.to_be_bytes());
    if i.is_multiple_of(3) {
        k[0] = 0x5a;
        k[1] = 0xc3;
        k[2] &= 0x3f;
    }
    k
}

/// Keys in the map: enough that the tiles near the root are full, as in
/// a real registry, so a commit changes a part of each tile it crosses.
const KEYS: u64 = 4_000;

/// Commit 1 sets the first `KEYS` keys; commit `n` > 1 adds 10 keys and
/// changes 12 others: key 1 and the first key the commit before added
/// (so later deltas set keys again, and their order counts; for commit 2
/// that key is new), and 10 more.
fn pairs(n: u64) -> Vec<(Hash, Hash)> {
    let value = |i: u64| sha256(&[i, n].map(u64::to_be_bytes).concat());
    match n {
        1 => (0..KEYS).map(|i| (key(i), value(i))).collect(),
        _ => (0..10)
            .map(|j| KEYS + 10 * n + j)
            .chain([1, KEYS + 10 * (n - 1)])
            .chain((0..10).map(|j| (n * 53 + j * 7) % KEYS))
            .map(|i| (key(i), value(i)))
            .collect(),
    }
}

/// Every key the commits up to `n` set.
fn keys_to(n: u64) -> Vec<Hash> {
    (0..KEYS + 10 * n + 10).map(key).collect()
}

/// Makes commits `commits` to `s` as the sequencer does (one entry, the
/// map's records and the pairs set per batch), mirrored in `reference`;
/// returns the delta counts seen after each commit.
fn load(
    s: &LocalStorage,
    reference: &mut MemoryMap,
    frontier: &mut Frontier,
    commits: std::ops::RangeInclusive<u64>,
) -> Vec<u64> {
    let mut counts = Vec::new();
    for n in commits {
        let pairs = pairs(n);
        let records = {
            let src = Records(s);
            let at = MapAt::new(&src, n - 1);
            let (_, writes) = set_batch(&at, &pairs).unwrap();
            at.records_for(n, writes, false).unwrap()
        };
        reference.set_all(pairs.iter().map(|(k, v)| (k, v)));
        let leaf = format!("leaf {n}").into_bytes();
        let mut nodes = Vec::new();
        frontier.push(merkle::leaf_hash(&leaf), |node| nodes.push(node));
        let meta = LogMeta {
            origin: "example.org/near-root".into(),
            vkey: "vkey".into(),
            size: n,
            checkpoint: format!("checkpoint {n}"),
        };
        s.commit(Batch {
            leaves: vec![(n - 1, leaf)],
            nodes,
            map: records,
            map_set: pairs.clone(),
            meta: Some(meta),
            ..Batch::default()
        })
        .unwrap();
        let changed: Vec<Hash> = pairs.iter().map(|(k, _)| *k).collect();
        same_map(
            s,
            reference,
            n,
            changed.iter().take(20).chain(&[key(0), key(3)]),
        );
        counts.push(s.map_deltas().0);
    }
    counts
}

/// The root, and the proofs of `keys`, are the reference map's (a proof
/// holds every node on its key's path and every sibling of one, so the
/// proofs of all keys cover the whole tree).
fn same_map<'k>(
    s: &LocalStorage,
    reference: &MemoryMap,
    size: u64,
    keys: impl IntoIterator<Item = &'k Hash>,
) {
    let src = Records(s);
    let at = MapAt::new(&src, size);
    let root = at.map_node(&Position::ROOT).unwrap().hash();
    assert_eq!(root, reference.root(), "root at size {size}");
    for k in keys {
        assert_eq!(prove(&at, k).unwrap(), reference.prove(k), "key {k:02x?}");
    }
}

#[test]
fn the_map_survives_deltas_checkpoints_and_reopens() {
    // Checkpoints only when a delta does not pay (the default, for this
    // small load); one every few commits; one at every commit.
    for checkpoint in [CHECKPOINT_BYTES, 10_000, 1] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut reference = MemoryMap::default();
        let s = LocalStorage::open(&path).unwrap();
        s.set_map_checkpoint_bytes(checkpoint);
        let mut frontier = Frontier::new();
        let counts = load(&s, &mut reference, &mut frontier, 1..=40);
        match checkpoint {
            // Commit 1 writes every tile whole (they are new); then deltas.
            CHECKPOINT_BYTES => assert_eq!(counts, (0..40).collect::<Vec<_>>()),
            1 => assert!(counts.iter().all(|&c| c == 0), "{counts:?}"),
            _ => {
                let dropped = counts.windows(2).filter(|w| w[1] < w[0]).count();
                assert!(dropped >= 3, "checkpoints in between: {counts:?}");
                assert!(
                    counts.iter().any(|&c| c >= 2),
                    "deltas in between: {counts:?}"
                );
            }
        }
        // As a crash leaves it: the deltas stay, and the open sets them again.
        let last = *counts.last().unwrap();
        s.abandon();
        let reopened = LocalStorage::open(&path).unwrap();
        same_map(&reopened, &reference, 40, &keys_to(40));
        assert_eq!(reopened.map_deltas().0, last, "the deltas are stored");
        // More commits after that open, and another crash: the deltas go
        // on from those the open found.
        let more = load(&reopened, &mut reference, &mut frontier, 41..=45);
        reopened.abandon();
        let reopened = LocalStorage::open(&path).unwrap();
        same_map(&reopened, &reference, 45, &keys_to(45));
        assert_eq!(reopened.map_deltas().0, *more.last().unwrap());
        if checkpoint == CHECKPOINT_BYTES {
            assert_eq!(more, (40..45).collect::<Vec<_>>());
        }
        // A clean stop writes the tiles whole.
        drop(reopened);
        let reopened = LocalStorage::open(&path).unwrap();
        assert_eq!(reopened.map_deltas(), (0, 0));
        same_map(&reopened, &reference, 45, &keys_to(45));
        // Going on after the reopen, the map is still the reference's.
        let more = pairs(46);
        let src = Records(&reopened);
        let at = MapAt::new(&src, 45);
        let (root, _) = set_batch(&at, &more).unwrap();
        assert_eq!(root, reference.set_all(more.iter().map(|(k, v)| (k, v))));
    }
}

/// `accord reindex` empties the map: the tiles near the root go too, from
/// memory and from the file (with their deltas).
#[test]
fn clearing_the_map_clears_the_tiles_near_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut reference = MemoryMap::default();
    {
        let s = LocalStorage::open(&path).unwrap();
        load(&s, &mut reference, &mut Frontier::new(), 1..=5);
        assert!(s.clear_map().unwrap() > 0, "deep tiles were stored");
        assert_eq!(s.map_deltas(), (0, 0));
        assert_eq!(s.map_record(&Position::ROOT).unwrap(), None);
    }
    let reopened = LocalStorage::open(&path).unwrap();
    assert_eq!(reopened.map_record(&Position::ROOT).unwrap(), None);
    assert_eq!(reopened.map_deltas(), (0, 0));
}

/// A removal of the map a crash interrupted (its note still stored, the
/// map still whole here) is finished by the next open, before the map is
/// read.
#[test]
fn an_interrupted_clearing_of_the_map_is_finished_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut reference = MemoryMap::default();
    {
        let s = LocalStorage::open(&path).unwrap();
        load(&s, &mut reference, &mut Frontier::new(), 1..=5);
        s.abandon(); // the deltas stay too
    }
    {
        let records = path.join(crate::storage::records_db::RECORDS_DIR);
        let db = crate::storage::records_db::RecordsDb::open_at(&records, 8 << 20).unwrap();
        assert!(db.map.iter().next().is_some() && db.deltas.iter().next().is_some());
        let mut batch = db.batch();
        batch.insert(&db.meta, "X", []);
        db.commit(batch).unwrap();
    }
    let reopened = LocalStorage::open(&path).unwrap();
    assert_eq!(reopened.map_record(&Position::ROOT).unwrap(), None);
    assert_eq!(reopened.map_deltas(), (0, 0));
    assert!(
        reopened.db.map.iter().next().is_none(),
        "every tile removed"
    );
    assert_eq!(reopened.db.meta_value("X").unwrap(), None, "the note too");
}

/// Writes the records of the store at `path` (closed) into a redb
/// records file of `layout` (3 or 4) beside the log files, as an older
/// Accord kept them, and removes the records directory.
fn back_to_redb(path: &std::path::Path, layout: u8) {
    use crate::storage::local_migrate::{DELTAS, HASHES, MAP, META, REGISTRY};
    use crate::storage::records_db::{RecordsDb, RECORDS_DIR};
    let records = path.join(RECORDS_DIR);
    let db = RecordsDb::open_at(&records, 8 << 20).unwrap();
    let old = redb::Database::create(path.join(crate::storage::local_store::RECORDS_FILE)).unwrap();
    let tx = old.begin_write().unwrap();
    {
        let all = |space: &fjall::Keyspace| {
            let kvs = space.iter().map(|kv| kv.into_inner().unwrap());
            kvs.map(|(k, v)| (k.to_vec(), v.to_vec()))
                .collect::<Vec<_>>()
        };
        let mut meta = tx.open_table(META).unwrap();
        for (k, v) in all(&db.meta) {
            let k = String::from_utf8(k).unwrap();
            let v = if k == "L" { vec![layout] } else { v };
            meta.insert(k.as_str(), v.as_slice()).unwrap();
        }
        let mut hashes = tx.open_table(HASHES).unwrap();
        for (k, v) in all(&db.hashes) {
            hashes
                .insert(k.as_slice(), u64::from_be_bytes(v.try_into().unwrap()))
                .unwrap();
        }
        for (table, space) in [(MAP, &db.map), (REGISTRY, &db.registry)] {
            let mut t = tx.open_table(table).unwrap();
            for (k, v) in all(space) {
                t.insert(k.as_slice(), v.as_slice()).unwrap();
            }
        }
        let deltas = all(&db.deltas);
        assert!(layout == 4 || deltas.is_empty(), "layout 3 has no deltas");
        let mut t = tx.open_table(DELTAS).unwrap();
        for (k, v) in deltas {
            t.insert(u64::from_be_bytes(k.try_into().unwrap()), v.as_slice())
                .unwrap();
        }
    }
    tx.commit().unwrap();
    drop(db);
    std::fs::remove_dir_all(records).unwrap();
}

/// A layout-3 records file (every tile in the `map` table, no deltas) and
/// a layout-4 one with deltas move into the records directory with their
/// map whole, and the redb file is removed.
#[test]
fn redb_records_files_move_with_their_map() {
    for layout in [3, 4] {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        let mut reference = MemoryMap::default();
        {
            let s = LocalStorage::open(&path).unwrap();
            if layout == 3 {
                s.set_map_checkpoint_bytes(1); // every tile in `map`, as layout 3
            }
            load(&s, &mut reference, &mut Frontier::new(), 1..=8);
            if layout == 4 {
                assert!(s.map_deltas().0 > 0);
                s.abandon(); // the deltas stay
            }
        }
        back_to_redb(&path, layout);
        let reopened = LocalStorage::open(&path).unwrap();
        same_map(&reopened, &reference, 8, &keys_to(8));
        let file = path.join(crate::storage::local_store::RECORDS_FILE);
        assert!(!file.exists(), "{} was removed", file.display());
    }
}

/// A commit under way, or one whose write batch failed (it may have been
/// stored), keeps the drop from writing memory over the deltas and
/// refuses the next commit; an aborted one (nothing stored) does not.
#[test]
fn an_unsure_commit_keeps_the_deltas() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut reference = MemoryMap::default();
    {
        let s = LocalStorage::open(&path).unwrap();
        load(&s, &mut reference, &mut Frontier::new(), 1..=3);
        s.abandon(); // two deltas stay
    }
    let records = path.join(crate::storage::records_db::RECORDS_DIR);
    let db = crate::storage::records_db::RecordsDb::open_at(&records, 8 << 20).unwrap();
    let mut near = NearRoot::load(&db).unwrap();
    assert_eq!(near.pending().0, 2);
    assert!(
        near.checkpoint().is_some(),
        "a clean stop would write the tiles"
    );
    near.begin().unwrap();
    assert!(
        near.checkpoint().is_none(),
        "not while a commit is under way"
    );
    near.aborted();
    assert!(near.checkpoint().is_some());
    near.begin().unwrap(); // ... and its write batch's commit fails
    assert!(near.checkpoint().is_none(), "it may have been stored");
    let refused = near.begin().unwrap_err().to_string();
    assert!(refused.contains("restart the server"), "{refused}");
}
