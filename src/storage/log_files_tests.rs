//! `log_files.rs`'s tests: positions, writes and reads, refusals, the tail
//! cut at open.

use super::*;
use crate::core::frontier::Frontier;
use crate::core::merkle;

/// The position formula against the order a frontier completes nodes.
#[test]
fn node_positions_follow_the_order_leaves_complete_them() {
    let mut frontier = Frontier::new();
    let mut order = Vec::new();
    for i in 0..1000u64 {
        frontier.push(merkle::leaf_hash(&i.to_be_bytes()), |n| {
            if n.level >= 1 {
                order.push((n.level, n.index))
            }
        });
        assert_eq!(order.len() as u64, node_count(i + 1));
    }
    for (position, (level, index)) in order.into_iter().enumerate() {
        assert_eq!(
            node_position(level, index),
            position as u64,
            "({level}, {index})"
        );
    }
}

fn batch(
    frontier: &mut Frontier,
    range: std::ops::Range<u64>,
) -> (Vec<(u64, Vec<u8>)>, Vec<NewNode>) {
    let (mut leaves, mut nodes) = (Vec::new(), Vec::new());
    for i in range {
        let leaf = format!("leaf {i}").repeat(i as usize % 5 + 1).into_bytes();
        frontier.push(merkle::leaf_hash(&leaf), |n| nodes.push(n));
        leaves.push((i, leaf));
    }
    (leaves, nodes)
}

#[test]
fn batches_read_back_and_an_uncommitted_tail_is_cut_at_open() {
    let dir = tempfile::tempdir().unwrap();
    let mut frontier = Frontier::new();
    let files = LogFiles::open(dir.path(), 0).unwrap();
    let (l1, n1) = batch(&mut frontier, 0..13);
    let written = files.write(&l1, &n1).unwrap();
    files.publish(written);
    let (l2, n2) = batch(&mut frontier, 13..40);
    // A batch is refused whole if a node is missing or foreign.
    let first_inner = n2.iter().position(|n| n.level >= 1).unwrap();
    let mut lacking = n2.clone();
    lacking.remove(first_inner);
    let err = files.write(&l2, &lacking).unwrap_err();
    assert!(err.to_string().contains("lacks the node"), "{err}");
    let err = files.write(&l2, &n1).unwrap_err();
    assert!(err.to_string().contains("do not complete"), "{err}");
    let err = files.write(&l2[1..], &n2).unwrap_err();
    assert!(err.to_string().contains("not at the next index"), "{err}");
    let written = files.write(&l2, &n2).unwrap();
    assert_eq!(written.entries(), 40);
    files.publish(written);
    let all: Vec<Vec<u8>> = l1.iter().chain(&l2).map(|(_, l)| l.clone()).collect();
    assert_eq!(files.leaves(0, 40).unwrap(), all);
    assert_eq!(files.leaves(17, 18).unwrap(), vec![all[17].clone()]);
    for n in n1.iter().chain(&n2).filter(|n| n.level >= 1) {
        assert_eq!(files.node(n.level, n.index).unwrap(), n.hash);
    }
    let mut scanned = Vec::new();
    files
        .scan_nodes(5, 40, 2, |l, i, h| scanned.push((l, i, h)))
        .unwrap();
    let expected: Vec<_> = n1
        .iter()
        .chain(&n2)
        .filter(|n| n.level >= 2 && (n.index + 1) << n.level > 5)
        .map(|n| (n.level, n.index, n.hash))
        .collect();
    assert_eq!(scanned, expected);
    drop(files);
    // Reopened as if sled had committed only the first batch: the
    // second is cut off, and what is left reads as before.
    let files = LogFiles::open(dir.path(), 13).unwrap();
    let len = |name| std::fs::metadata(dir.path().join(name)).unwrap().len();
    assert_eq!(len(LEAF_ENDS), 13 * 8);
    assert_eq!(len(NODES), node_count(13) * 32);
    assert_eq!(files.leaves(0, 13).unwrap(), all[..13].to_vec());
    drop(files);
    // A count above what the files hold: corrupt, nothing changed.
    let err = LogFiles::open(dir.path(), 14).err().unwrap();
    assert!(matches!(err, FilesError::Corrupt(_)), "{err}");
    assert_eq!(len(LEAF_ENDS), 13 * 8);
}
