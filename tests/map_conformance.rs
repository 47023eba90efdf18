//! The registry map (core::map) against an independent, naive computation
//! of its definition over the whole key set: roots after random insertion
//! orders and updates, proofs of membership and absence, and tampered
//! proofs, values and roots refused.

use accord::core::map::{self, MapProof, MemoryMap, Node};
use accord::core::map_arena::ArenaMap;
use accord::core::Hash;
use rand::{Rng, SeedableRng};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

fn h(tag: &str, parts: &[&[u8]]) -> Hash {
    let mut d = Sha256::new();
    d.update(tag.as_bytes());
    d.update([0u8]);
    for p in parts {
        d.update(p);
    }
    d.finalize().into()
}

fn bit(k: &Hash, i: usize) -> bool {
    (k[i / 8] >> (7 - i % 8)) & 1 == 1
}

/// The definition, recursively over the set: no storage, no paths.
fn reference_root(pairs: &[(Hash, Hash)], depth: usize) -> Hash {
    match pairs {
        [] => Sha256::digest(b"accord/v1/map-empty\0").into(),
        [(k, v)] => h("accord/v1/map-leaf", &[k, v]),
        _ => {
            let (left, right): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| !bit(k, depth));
            h(
                "accord/v1/map-node",
                &[
                    &reference_root(&left, depth + 1),
                    &reference_root(&right, depth + 1),
                ],
            )
        }
    }
}

/// Non-empty subtrees of the definition: what the store keeps.
fn reference_nodes(pairs: &[(Hash, Hash)], depth: usize) -> usize {
    match pairs {
        [] => 0,
        [_] => 1,
        _ => {
            let (left, right): (Vec<_>, Vec<_>) = pairs.iter().partition(|(k, _)| !bit(k, depth));
            1 + reference_nodes(&left, depth + 1) + reference_nodes(&right, depth + 1)
        }
    }
}

fn random_hash(rng: &mut impl Rng) -> Hash {
    let mut k = [0u8; 32];
    rng.fill(&mut k);
    k
}

#[test]
fn the_tagged_hashes_are_what_the_definition_says() {
    assert_eq!(map::empty_hash(), reference_root(&[], 0));
    let (k, v) = ([1u8; 32], [2u8; 32]);
    assert_eq!(map::leaf_hash(&k, &v), reference_root(&[(k, v)], 0));
    assert_eq!(map::node_hash(&k, &v), h("accord/v1/map-node", &[&k, &v]));
}

#[test]
fn roots_match_the_reference_whatever_the_order_and_updates() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..40 {
        let n = [0, 1, 2, 3, 17, 100, 600][round % 7];
        let mut pairs: BTreeMap<Hash, Hash> = BTreeMap::new();
        while pairs.len() < n {
            let mut k = random_hash(&mut rng);
            if round % 3 == 0 && !pairs.is_empty() {
                // Keys sharing long prefixes: deep paths and splits.
                let first = *pairs.keys().next().unwrap();
                k[..20].copy_from_slice(&first[..20]);
            }
            pairs.insert(k, random_hash(&mut rng));
        }
        let all: Vec<(Hash, Hash)> = pairs.iter().map(|(k, v)| (*k, *v)).collect();
        let expected = reference_root(&all, 0);

        // One batch in one order, then several batches in another.
        let mut one = MemoryMap::default();
        assert_eq!(one.set_all(all.iter().map(|(k, v)| (k, v))), expected);
        let mut shuffled = all.clone();
        for i in (1..shuffled.len()).rev() {
            shuffled.swap(i, rng.gen_range(0..=i));
        }
        let mut many = MemoryMap::default();
        for chunk in shuffled.chunks(7) {
            many.set_all(chunk.iter().map(|(k, v)| (k, v)));
        }
        assert_eq!(many.root(), expected, "round {round}");
        // The auditor's arena map: in one batch, and in batches of 3 (leaves
        // split and moved down by later batches).
        let mut arena_one = ArenaMap::default();
        assert_eq!(arena_one.set_all(all.iter().map(|(k, v)| (k, v))), expected);
        let mut arena = ArenaMap::default();
        for chunk in shuffled.chunks(3) {
            arena.set_all(chunk.iter().map(|(k, v)| (k, v)));
        }
        assert_eq!(arena.root(), expected, "round {round}");
        assert_eq!(arena.root(), many.root(), "round {round}");
        assert_eq!(arena.len(), n, "round {round}");
        // Key by key (MapUpdate::set), in chunks of another size: the same.
        let mut each = MemoryMap::default();
        for chunk in shuffled.chunks(5) {
            each.set_each(chunk.iter().map(|(k, v)| (k, v)));
        }
        assert_eq!(each.root(), expected, "round {round}");
        assert_eq!(each.len(), reference_nodes(&all, 0), "round {round}");
        // Stored nodes: one per non-empty subtree, no leftovers of moves.
        assert_eq!(many.len(), reference_nodes(&all, 0), "round {round}");
        if round % 3 != 0 && n >= 100 {
            // Random keys: n leaves and ≈ n / ln 2 inner nodes.
            assert!(many.len() < 3 * n, "{} nodes for {n} keys", many.len());
        }

        // Changing values (one given twice: the last wins), mixed with new
        // keys: still the definition of the new set.
        if let Some((k, _)) = all.first() {
            let (v1, v2, fresh, fv) = (
                random_hash(&mut rng),
                random_hash(&mut rng),
                random_hash(&mut rng),
                random_hash(&mut rng),
            );
            pairs.insert(*k, v2);
            pairs.insert(fresh, fv);
            many.set_all([(k, &v1), (&fresh, &fv), (k, &v2)]);
            let all2: Vec<_> = pairs.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(many.root(), reference_root(&all2, 0));
            arena.set_all([(k, &v1), (&fresh, &fv), (k, &v2)]);
            assert_eq!(arena.root(), reference_root(&all2, 0), "round {round}");
            assert_eq!(arena.len(), pairs.len(), "round {round}: one leaf per key");
            // A value changed alone, and changed together with a key that
            // splits its leaf: the leaf keeps its place and its new value.
            let (v3, near) = (random_hash(&mut rng), {
                let mut near = *k;
                near[31] ^= 1;
                near
            });
            pairs.insert(*k, v3);
            arena.set_all([(k, &v3)]);
            let all3: Vec<_> = pairs.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(arena.root(), reference_root(&all3, 0), "round {round}");
            assert_eq!(arena.len(), pairs.len(), "round {round}: one leaf per key");
            let v4 = random_hash(&mut rng);
            pairs.insert(*k, v4);
            pairs.insert(near, v3);
            arena.set_all([(&near, &v3), (k, &v4)]);
            let all4: Vec<_> = pairs.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(arena.root(), reference_root(&all4, 0), "round {round}");
            assert_eq!(arena.len(), pairs.len(), "round {round}: one leaf per key");
        }
    }
}

#[test]
fn proofs_show_membership_and_absence_and_nothing_else() {
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let pairs: Vec<(Hash, Hash)> = (0..300)
        .map(|_| (random_hash(&mut rng), random_hash(&mut rng)))
        .collect();
    let mut m = MemoryMap::default();
    let root = m.set_all(pairs.iter().map(|(k, v)| (k, v)));
    let mut longest = 0;
    for (k, v) in &pairs {
        let proof = m.prove(k);
        longest = longest.max(proof.siblings.len());
        assert_eq!(map::verify(&root, k, &proof).unwrap(), Some(*v));
        // The same proof for a changed value or another root fails.
        let mut wrong = proof.clone();
        if let Node::Leaf { value_hash, .. } = &mut wrong.terminal {
            value_hash[0] ^= 1;
        }
        assert!(map::verify(&root, k, &wrong).is_err());
        let mut other_root = root;
        other_root[31] ^= 1;
        assert!(map::verify(&other_root, k, &proof).is_err());
        if !proof.siblings.is_empty() {
            let mut bad = proof.clone();
            bad.siblings[0][0] ^= 1;
            assert!(map::verify(&root, k, &bad).is_err());
            let mut short = proof.clone();
            short.siblings.pop();
            assert!(map::verify(&root, k, &short).is_err());
        }
    }
    assert!(longest < 30, "paths are ≈ log2(n) long: {longest}");
    // Absent keys: proofs of absence that verify, and cannot be turned
    // into membership.
    for _ in 0..300 {
        let q = random_hash(&mut rng);
        let proof = m.prove(&q);
        assert_eq!(map::verify(&root, &q, &proof).unwrap(), None);
        if let Node::Leaf { key, value_hash } = proof.terminal {
            let claimed = MapProof {
                siblings: proof.siblings.clone(),
                terminal: Node::Leaf { key: q, value_hash },
            };
            assert!(map::verify(&root, &q, &claimed).is_err());
            // Another key's leaf only proves absence on its own path.
            assert!(map::verify(&root, &key, &proof).unwrap().is_some());
        }
    }
    // A present key cannot be proven absent with an empty terminal.
    let (k, _) = &pairs[0];
    let mut empty = m.prove(k);
    empty.terminal = Node::Empty;
    assert!(map::verify(&root, k, &empty).is_err());
    // Nor with an internal node, nor with a proof longer than 256 levels.
    let mut internal = m.prove(k);
    internal.terminal = Node::Internal(root);
    assert!(map::verify(&root, k, &internal).is_err());
    let long = MapProof {
        siblings: vec![[0; 32]; 257],
        terminal: Node::Empty,
    };
    assert!(map::verify(&root, k, &long).is_err());
}

#[test]
fn the_empty_map_proves_every_key_absent() {
    let m = MemoryMap::default();
    let root = m.root();
    assert_eq!(root, map::empty_hash());
    let proof = m.prove(&[9; 32]);
    assert!(proof.siblings.is_empty());
    assert_eq!(map::verify(&root, &[9; 32], &proof).unwrap(), None);
}

#[test]
fn stored_nodes_round_trip() {
    for node in [
        Node::Empty,
        Node::Leaf {
            key: [3; 32],
            value_hash: [4; 32],
        },
        Node::Internal([5; 32]),
    ] {
        assert_eq!(Node::from_bytes(&node.to_bytes()), Some(node));
    }
    assert_eq!(Node::from_bytes(&[2, 0]), None);
    assert_eq!(Node::from_bytes(&[]), None);
    let p = map::Position::of(&[0xff; 32], 13);
    assert_eq!(p.to_key(), vec![0, 13, 0xff, 0xf8]);
    assert_eq!(p.sibling().bits[1], 0xf0);
}
