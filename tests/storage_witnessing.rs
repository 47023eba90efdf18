//! The storage contract for witnessing, on every backend: the stored
//! cosigned checkpoint never goes back, and (on PostgreSQL, where several
//! servers share a log) one server at a time holds the witness lease.

mod common;

use accord::storage::{LocalStorage, MemoryStorage, Storage, StoredCosigned};
use common::PgDb;
use std::time::Duration;

fn cosigned(size: u64) -> StoredCosigned {
    StoredCosigned {
        size,
        note: format!("example.org/log\n{size}\nroot\n\n— cosignatures of {size}\n"),
        at: 1_700_000_000 + size,
    }
}

/// Larger sizes replace the stored one, and so does the same size (cosigned
/// again, e.g. under a new policy); smaller ones do not.
fn cosigned_contract(s: &dyn Storage) {
    assert_eq!(s.cosigned().unwrap(), None, "nothing stored yet");
    assert!(s.store_cosigned(&cosigned(5)).unwrap());
    assert_eq!(s.cosigned().unwrap(), Some(cosigned(5)));
    let mut same_size = cosigned(9);
    same_size.note = "another note of size 9".into();
    assert!(s.store_cosigned(&same_size).unwrap());
    assert!(
        s.store_cosigned(&cosigned(9)).unwrap(),
        "same size: replaced"
    );
    assert!(!s.store_cosigned(&cosigned(7)).unwrap(), "never goes back");
    assert_eq!(s.cosigned().unwrap(), Some(cosigned(9)));
}

#[test]
fn the_cosigned_checkpoint_never_goes_back_on_every_backend() {
    cosigned_contract(&MemoryStorage::new());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let s = LocalStorage::open(&path).unwrap();
        cosigned_contract(&s);
        // A backend with one server always grants the lease.
        assert!(s.witness_lease("a", Duration::from_secs(20)).unwrap());
        assert!(s.witness_lease("b", Duration::from_secs(20)).unwrap());
    }
    let reopened = LocalStorage::open(&path).unwrap();
    assert_eq!(
        reopened.cosigned().unwrap(),
        Some(cosigned(9)),
        "kept across a reopen"
    );
    let Some(db) = PgDb::create("the stored cosigned checkpoint") else {
        return;
    };
    cosigned_contract(&db.open());
    assert_eq!(db.open().cosigned().unwrap(), Some(cosigned(9)));
}

/// The lease: one holder at a time; the holder renews it; a released or
/// expired lease goes to the next server that asks; expiry is the
/// database's clock, whatever the servers' clocks.
#[test]
fn postgres_grants_the_witness_lease_to_one_server_at_a_time() {
    let Some(db) = PgDb::create("the witness lease") else {
        return;
    };
    let (a, b) = (db.open(), db.open());
    let long = Duration::from_secs(20);
    assert!(a.witness_lease("server-a", long).unwrap(), "free: taken");
    assert!(!b.witness_lease("server-b", long).unwrap(), "held by a");
    assert!(a.witness_lease("server-a", long).unwrap(), "a renews");
    b.release_witness_lease("server-b").unwrap();
    assert!(
        !b.witness_lease("server-b", long).unwrap(),
        "b cannot release a's lease"
    );
    a.release_witness_lease("server-a").unwrap();
    assert!(b.witness_lease("server-b", long).unwrap(), "released: b");
    assert!(!a.witness_lease("server-a", long).unwrap(), "now b's");

    // Expiry: b's short lease lapses and a takes it.
    b.release_witness_lease("server-b").unwrap();
    assert!(b
        .witness_lease("server-b", Duration::from_millis(300))
        .unwrap());
    assert!(
        !a.witness_lease("server-a", long).unwrap(),
        "not yet expired"
    );
    std::thread::sleep(Duration::from_millis(400));
    assert!(a.witness_lease("server-a", long).unwrap(), "expired: a");

    // Many servers asking at once for a free lease: exactly one gets it.
    a.release_witness_lease("server-a").unwrap();
    let askers: Vec<_> = (0..6)
        .map(|i| {
            let s = db.open();
            std::thread::spawn(move || s.witness_lease(&format!("server-{i}"), long).unwrap())
        })
        .collect();
    let granted = (askers.into_iter())
        .map(|t| t.join().unwrap())
        .filter(|&g| g)
        .count();
    assert_eq!(granted, 1, "one holder at a time");
}
