//! The `Storage` contract, run against every implementation (in the style of
//! akd's storage test suite): what one backend does, all must do.

mod common;

use accord::core::frontier::Frontier;
use accord::core::merkle;
use accord::storage::{Batch, LocalStorage, LogMeta, MemoryStorage, Nodes, PgStorage, Storage};
use common::PgDb;

fn meta(size: u64) -> LogMeta {
    LogMeta {
        origin: "o".into(),
        vkey: "v".into(),
        size,
        checkpoint: format!("cp {size}"),
    }
}

/// Commits `n` leaves in two batches and checks every read.
fn contract(s: &dyn Storage) {
    assert_eq!(s.meta().unwrap(), None, "a fresh store has no metadata");
    assert_eq!(s.leaf(0).unwrap(), None);
    let mut frontier = Frontier::new();
    let mut start = 0u64;
    for batch_len in [5u64, 11] {
        let mut batch = Batch::default();
        for i in start..start + batch_len {
            let leaf = format!("leaf {i}").into_bytes();
            frontier.push(merkle::leaf_hash(&leaf), |n| batch.nodes.push(n));
            batch.leaves.push((i, leaf));
        }
        start += batch_len;
        batch.meta = Some(meta(start));
        s.commit(batch).unwrap();
        assert_eq!(s.meta().unwrap(), Some(meta(start)));
    }
    for i in 0..16u64 {
        let leaf = s.leaf(i).unwrap().expect("leaf stored");
        assert_eq!(leaf, format!("leaf {i}").into_bytes());
        let h = merkle::leaf_hash(&leaf);
        assert_eq!(s.node(0, i).unwrap(), Some(h));
        assert_eq!(s.find_leaf_hash(&h).unwrap(), Some(i));
    }
    assert_eq!(s.leaf(16).unwrap(), None);
    assert!(
        s.node(4, 0).unwrap().is_some(),
        "the complete 16-leaf subtree is stored"
    );
    assert_eq!(
        merkle::root(16, &accord::storage::Nodes(s)).unwrap(),
        frontier.root()
    );
    // A metadata-only batch (as at log creation) changes nothing else.
    s.commit(Batch {
        meta: Some(meta(16)),
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.leaf(15).unwrap(), Some(b"leaf 15".to_vec()));
}

/// Appends batches of many sizes; at every size reached, inclusion and
/// consistency proofs read from the store (directly, and batched as the
/// service reads a shared store) verify against the roots recorded as the
/// leaves went in (a frontier, independent of the store).
fn proofs_contract(s: &dyn Storage) {
    use accord::core::proof::{verify_consistency, verify_inclusion};
    use accord::storage::merkle_batched;
    let mut frontier = Frontier::new();
    let (mut roots, mut hashes) = (vec![[0u8; 32]], Vec::new());
    for batch_len in [1u64, 2, 37, 100, 255, 7, 600] {
        let mut batch = Batch::default();
        for _ in 0..batch_len {
            let i = frontier.size();
            let leaf = format!("proof leaf {i}").into_bytes();
            hashes.push(merkle::leaf_hash(&leaf));
            frontier.push(merkle::leaf_hash(&leaf), |n| batch.nodes.push(n));
            batch.leaves.push((i, leaf));
            roots.push(frontier.root());
        }
        batch.meta = Some(meta(frontier.size()));
        s.commit(batch).unwrap();
        let size = frontier.size();
        let sizes = [1, size / 3 + 1, size / 2 + 1, size - 1, size];
        for tree in sizes.into_iter().filter(|t| (1..=size).contains(t)) {
            for index in (0..tree).step_by(29).chain([tree - 1]) {
                let proof =
                    merkle_batched(s, |n| merkle::inclusion_proof(index, tree, &n)).unwrap();
                assert_eq!(
                    proof,
                    merkle::inclusion_proof(index, tree, &Nodes(s)).unwrap()
                );
                let proof: Vec<&[u8]> = proof.iter().map(|h| &h[..]).collect();
                let (leaf, root) = (&hashes[index as usize], &roots[tree as usize]);
                verify_inclusion(index, tree, leaf, &proof, root)
                    .unwrap_or_else(|e| panic!("{index} in {tree}: {e}"));
            }
            for old in sizes.into_iter().filter(|o| (1..=tree).contains(o)) {
                let proof =
                    merkle_batched(s, |n| merkle::consistency_proof(old, tree, &n)).unwrap();
                let proof: Vec<&[u8]> = proof.iter().map(|h| &h[..]).collect();
                let (r1, r2) = (&roots[old as usize], &roots[tree as usize]);
                verify_consistency(old, tree, &proof, r1, r2)
                    .unwrap_or_else(|e| panic!("{old} to {tree}: {e}"));
            }
        }
    }
}

#[test]
fn proofs_at_many_sizes_on_every_backend() {
    proofs_contract(&MemoryStorage::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    proofs_contract(&LocalStorage::open(&path).unwrap());
    let Some(db) = PgDb::create("proofs at many sizes") else {
        return;
    };
    proofs_contract(&db.open());
}

#[test]
fn memory_storage_keeps_the_contract() {
    contract(&MemoryStorage::new());
}

#[test]
fn local_storage_keeps_the_contract_and_persists() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = LocalStorage::open(&dir.path().join("db")).unwrap();
        contract(&s);
    }
    let reopened = LocalStorage::open(&dir.path().join("db")).unwrap();
    assert_eq!(reopened.meta().unwrap(), Some(meta(16)));
    assert_eq!(reopened.leaf(3).unwrap(), Some(b"leaf 3".to_vec()));
}

/// LocalStorage keeps upper tree levels in memory, loaded in the background
/// at open: proofs served through that copy, before and after a reopen and
/// with commits racing the load, equal proofs from the in-memory store.
#[test]
fn local_node_cache_serves_the_same_proofs() {
    let dir = tempfile::tempdir().unwrap();
    let reference = MemoryStorage::new();
    let mut frontier = Frontier::new();
    let mut append = |s: &LocalStorage, batches: &[u64]| {
        for &batch_len in batches {
            let (mut a, mut b) = (Batch::default(), Batch::default());
            for _ in 0..batch_len {
                let i = frontier.size();
                let leaf = format!("leaf {i}").into_bytes();
                frontier.push(merkle::leaf_hash(&leaf), |n| {
                    a.nodes.push(n);
                    b.nodes.push(n);
                });
                a.leaves.push((i, leaf.clone()));
                b.leaves.push((i, leaf));
            }
            a.meta = Some(meta(frontier.size()));
            b.meta = a.meta.clone();
            s.commit(a).unwrap();
            reference.commit(b).unwrap();
        }
        frontier.size()
    };
    let same_proofs = |s: &LocalStorage, size: u64, reference: &MemoryStorage| {
        s.wait_for_node_cache();
        for index in (0..size).step_by(13) {
            for tree in [index + 1, size / 2 + 1, size] {
                if index < tree {
                    assert_eq!(
                        merkle::inclusion_proof(index, tree, &Nodes(s)).unwrap(),
                        merkle::inclusion_proof(index, tree, &Nodes(reference)).unwrap(),
                        "proof of {index} in {tree}"
                    );
                }
            }
        }
    };
    let path = dir.path().join("db");
    let s = LocalStorage::open(&path).unwrap();
    let size = append(&s, &[1, 37, 100, 255, 300, 7, 4096, 4096]);
    drop(s);
    // Commits right after the reopen race the background load.
    let s = LocalStorage::open(&path).unwrap();
    let size2 = append(&s, &[3, 500, 64]);
    assert!(size2 > size);
    same_proofs(&s, size2, &reference);
    drop(s);
    same_proofs(&LocalStorage::open(&path).unwrap(), size2, &reference);
}

/// One durable commit of the records store per batch (counted by the store,
/// so this checks the count, not the disk), also of a batch with a large
/// value (200 KiB: a registry record and a leaf, which goes to the log
/// files whatever its size). The durability guard is
/// `tests/fsync_strace.rs`: the system calls of a real server.
#[test]
fn local_commit_syncs_once_per_batch() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let big = vec![0x5a; 200 << 10];
    {
        let s = LocalStorage::open(&path).unwrap();
        assert_eq!(s.syncs(), 0);
        contract(&s);
        assert_eq!(s.syncs(), 3, "3 batches, 3 durable commits");
        let mut batch = Batch::default();
        batch.leaves.push((16, big.clone()));
        batch.registry.push((b"big".to_vec(), Some(big.clone())));
        s.commit(batch).unwrap();
        assert_eq!(s.syncs(), 4);
    }
    let reopened = LocalStorage::open(&path).unwrap();
    assert_eq!(reopened.leaf(16).unwrap(), Some(big.clone()));
    assert_eq!(reopened.registry_record(b"big").unwrap(), Some(big));
}

/// The registry map's records (`core::map_versions`), on every backend: a
/// reader at the published size gets that size's map — roots and proofs —
/// while the writer commits the next batch; one two commits behind is told
/// to read again (Stale); records survive a reopen.
fn map_contract(s: &dyn Storage) {
    use accord::core::map::{self, MapSource, MapUpdate, MemoryMap};
    use accord::core::map_versions::{records, MapAt};
    use accord::storage::{Records, StorageError};
    let key = |i: u64| accord::core::sha256(&i.to_be_bytes());
    let value = |i: u64, v: u64| accord::core::sha256(&[i, v].map(u64::to_be_bytes).concat());
    let mut reference = MemoryMap::default();
    let mut roots = vec![reference.root()]; // roots[n] = the map at tree size n
    let mut frontier = Frontier::new();
    // Ten commits; commit n (tree size n) sets keys 0..8n, changing earlier ones.
    for n in 1..=10u64 {
        let pairs: Vec<_> = (0..8 * n).map(|i| (key(i), value(i, n))).collect();
        let records = {
            let src = Records(s);
            let latest = MapAt::new(&src, n - 1);
            let mut update = MapUpdate::new(&latest);
            for (k, v) in &pairs {
                update.set(k, v).unwrap();
            }
            records(n, update).unwrap()
        };
        roots.push(reference.set_all(pairs.iter().map(|(k, v)| (k, v))));
        // One entry per commit, as the log's batches (the map is what is
        // tested; the entry moves the size).
        let leaf = format!("leaf {n}").into_bytes();
        let mut nodes = Vec::new();
        frontier.push(merkle::leaf_hash(&leaf), |node| nodes.push(node));
        s.commit(Batch {
            leaves: vec![(n - 1, leaf)],
            nodes,
            map: records,
            meta: Some(meta(n)),
            ..Batch::default()
        })
        .unwrap();
        // The published size and the one before read their own maps.
        for size in [n, n - 1] {
            let src = Records(s);
            let at = MapAt::new(&src, size);
            let root = at.map_node(&map::Position::ROOT).unwrap().hash();
            assert_eq!(root, roots[size as usize], "size {size} after commit {n}");
            let proof = map::prove(&at, &key(3)).unwrap();
            let expect = (size > 0).then(|| value(3, size));
            assert_eq!(map::verify(&root, &key(3), &proof).unwrap(), expect);
        }
        if n >= 3 {
            // Two commits behind: the root position changed in both.
            let src = Records(s);
            let at = MapAt::new(&src, n - 2);
            assert!(matches!(
                at.map_node(&map::Position::ROOT),
                Err(StorageError::Stale(_))
            ));
        }
    }
}

#[test]
fn map_records_on_every_backend() {
    map_contract(&MemoryStorage::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = LocalStorage::open(&path).unwrap();
        map_contract(&s);
    }
    let reopened = LocalStorage::open(&path).unwrap();
    let src = accord::storage::Records(&reopened);
    let at = accord::core::map_versions::MapAt::new(&src, 10);
    let mut reference = accord::core::map::MemoryMap::default();
    let key = |i: u64| accord::core::sha256(&i.to_be_bytes());
    let value = |i: u64| accord::core::sha256(&[i, 10].map(u64::to_be_bytes).concat());
    let pairs: Vec<_> = (0..80).map(|i| (key(i), value(i))).collect();
    let root = reference.set_all(pairs.iter().map(|(k, v)| (k, v)));
    use accord::core::map::MapSource as _;
    assert_eq!(
        at.map_node(&accord::core::map::Position::ROOT)
            .unwrap()
            .hash(),
        root
    );
}

/// Registry records (`core::registry::records`): sets and removals in
/// commit order, point reads, prefix scans in bytewise key order from a
/// start key with a limit, and `clear_registry`.
fn registry_contract(s: &dyn Storage) {
    let set = |k: &[u8], v: &[u8]| (k.to_vec(), Some(v.to_vec()));
    s.commit(Batch {
        registry: vec![
            set(b"a\x01", b"1"),
            set(b"a\x02", b"2"),
            set(b"a\x00\xff", b"0"),
            set(b"b", b"other prefix"),
            set(b"a\x03", b"removed below"),
            (b"a\x03".to_vec(), None),
            (b"never written".to_vec(), None),
        ],
        ..Batch::default()
    })
    .unwrap();
    assert_eq!(s.registry_record(b"a\x01").unwrap(), Some(b"1".to_vec()));
    assert_eq!(
        s.registry_record(b"a\x03").unwrap(),
        None,
        "removed in the same batch"
    );
    assert_eq!(
        s.registry_record(b"a").unwrap(),
        None,
        "a prefix is not a record"
    );
    let keys = |rows: Vec<(Vec<u8>, Vec<u8>)>| rows.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
    let all_a = keys(s.registry_scan(b"a", b"a", usize::MAX).unwrap());
    assert_eq!(
        all_a,
        [b"a\x00\xff".to_vec(), b"a\x01".to_vec(), b"a\x02".to_vec()]
    );
    let from = keys(s.registry_scan(b"a", b"a\x01", 1).unwrap());
    assert_eq!(
        from,
        [b"a\x01".to_vec()],
        "from a start key, at most the limit"
    );
    assert_eq!(s.registry_scan(b"a", b"a\x03", 10).unwrap(), vec![]);
    assert_eq!(s.registry_scan(&[], &[], usize::MAX).unwrap().len(), 4);
    // A later batch overwrites and removes.
    s.commit(Batch {
        registry: vec![set(b"a\x01", b"one"), (b"a\x02".to_vec(), None)],
        ..Batch::default()
    })
    .unwrap();
    let rows = s.registry_scan(b"a", b"a", usize::MAX).unwrap();
    assert_eq!(
        rows,
        [
            (b"a\x00\xff".to_vec(), b"0".to_vec()),
            (b"a\x01".to_vec(), b"one".to_vec())
        ]
    );
    assert_eq!(s.clear_registry().unwrap(), 3);
    assert_eq!(s.registry_scan(&[], &[], usize::MAX).unwrap(), vec![]);
}

#[test]
fn registry_records_on_every_backend() {
    registry_contract(&MemoryStorage::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = LocalStorage::open(&path).unwrap();
        registry_contract(&s);
        s.commit(Batch {
            registry: vec![(b"kept".to_vec(), Some(b"across a reopen".to_vec()))],
            ..Batch::default()
        })
        .unwrap();
    }
    let reopened = LocalStorage::open(&path).unwrap();
    assert_eq!(
        reopened.registry_record(b"kept").unwrap(),
        Some(b"across a reopen".to_vec())
    );
}

#[test]
fn postgres_keeps_every_contract_and_persists() {
    let Some(db) = PgDb::create("the storage contract") else {
        return;
    };
    {
        let s = db.open();
        contract(&s);
    }
    let reopened = db.open();
    assert_eq!(reopened.meta().unwrap(), Some(meta(16)));
    assert_eq!(reopened.leaf(3).unwrap(), Some(b"leaf 3".to_vec()));
    drop(reopened);
    for (what, run) in [
        ("map records", map_contract as fn(&dyn Storage)),
        ("registry records", registry_contract),
    ] {
        let Some(db) = PgDb::create(what) else { return };
        run(&db.open());
    }
}

#[test]
fn postgres_migrates_once_and_refuses_a_newer_schema() {
    let Some(db) = PgDb::create("schema migrations") else {
        return;
    };
    // Several instances starting at once: every one opens, one migrates.
    let opened: Vec<_> = (0..4)
        .map(|_| {
            let url = db.url.clone();
            std::thread::spawn(move || PgStorage::open(&url).map(|_| ()))
        })
        .collect();
    for t in opened {
        t.join().unwrap().expect("opens while others migrate");
    }
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let applied: i64 = c
        .query_one("SELECT COUNT(*) FROM accord_schema", &[])
        .unwrap()
        .get(0);
    assert_eq!(applied, 2, "each of the 2 migrations recorded once");
    c.execute(
        "INSERT INTO accord_schema (version, applied_at) VALUES (99, 0)",
        &[],
    )
    .unwrap();
    let refused = PgStorage::open(&db.url)
        .err()
        .expect("a newer schema is refused");
    assert!(
        refused.to_string().contains("schema version 99"),
        "{refused}"
    );
}

#[test]
fn postgres_unreachable_is_an_error_not_a_hang() {
    // A closed loopback port: the pool gives up after its connect timeout.
    let refused = PgStorage::open("postgres://accord@127.0.0.1:1/accord")
        .err()
        .expect("nothing listens on port 1");
    assert!(refused.to_string().contains("PostgreSQL"), "{refused}");
}

/// Two servers on one PostgreSQL database: the database serializes their
/// writes. A writer's `begin_write` waits while another holds the lock; a
/// batch decided on a stale view, or a second creation of the log, is
/// refused and writes nothing.
#[test]
fn postgres_serializes_writers_sharing_a_database() {
    use accord::storage::StorageError;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let Some(db) = PgDb::create("two writers on one database") else {
        return;
    };
    let (a, b) = (db.open(), Arc::new(db.open()));
    assert!(a.shared());
    let create = || Batch {
        meta: Some(meta(0)),
        ..Batch::default()
    };
    a.commit(create()).unwrap();
    // Two servers creating the log at once sign the same bytes: harmless.
    b.commit(create()).unwrap();
    let one_leaf = |at: u64, text: &str| {
        let mut batch = Batch::default();
        let leaf = text.as_bytes().to_vec();
        batch.nodes.push(accord::core::frontier::NewNode {
            level: 0,
            index: at,
            hash: merkle::leaf_hash(&leaf),
        });
        batch.leaves.push((at, leaf));
        batch.meta = Some(meta(at + 1));
        batch
    };

    assert_eq!(a.begin_write().unwrap(), Some(0));
    let committed = Arc::new(AtomicBool::new(false));
    let waiter = {
        let (b, committed) = (b.clone(), committed.clone());
        std::thread::spawn(move || {
            let size = b.begin_write().unwrap();
            (size, committed.load(Ordering::SeqCst))
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    committed.store(true, Ordering::SeqCst);
    a.commit(one_leaf(0, "a's leaf")).unwrap();
    let (size, after) = waiter.join().unwrap();
    assert!(after, "the second writer waited for the first one's commit");
    assert_eq!(size, Some(1), "and then saw its entry");
    // A batch decided before that commit (at index 0) is refused.
    let stale = b.commit(one_leaf(0, "b's leaf"));
    assert!(matches!(stale, Err(StorageError::Conflict(_))), "{stale:?}");
    b.end_write();
    assert_eq!(a.meta().unwrap(), Some(meta(1)));
    assert_eq!(a.leaf(0).unwrap(), Some(b"a's leaf".to_vec()));
    // Without begin_write a commit still checks the stored size.
    b.commit(one_leaf(1, "b's leaf")).unwrap();
    assert_eq!(a.meta().unwrap(), Some(meta(2)));
    // The state row never goes back, nor becomes another log's.
    let back = b.commit(Batch {
        meta: Some(meta(1)),
        ..Batch::default()
    });
    assert!(matches!(back, Err(StorageError::Conflict(_))), "{back:?}");
    let mut foreign = meta(2);
    foreign.vkey = "another key".into();
    let foreign = b.commit(Batch {
        meta: Some(foreign),
        ..Batch::default()
    });
    assert!(
        matches!(foreign, Err(StorageError::Conflict(_))),
        "{foreign:?}"
    );
    assert_eq!(a.meta().unwrap(), Some(meta(2)));
}
