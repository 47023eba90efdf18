//! Property test: our Merkle roots and proofs (built from stored perfect
//! subtrees, as the server builds them) equal those of an independent
//! implementation, the `ct-merkle` crate, over many random trees; and our
//! verifier accepts them.

use accord::core::frontier::Frontier;
use accord::core::merkle::{self, NodeSource};
use accord::core::{proof, Hash};
use ct_merkle::mem_backed_tree::MemoryBackedTree;
use rand::{rngs::StdRng, Rng, SeedableRng};
use std::collections::HashMap;
use std::convert::Infallible;

type Ct = MemoryBackedTree<sha2_011::Sha256, Vec<u8>>;

#[derive(Default)]
struct Nodes(HashMap<(u32, u64), Hash>);

impl NodeSource for Nodes {
    type Error = Infallible;
    fn node(&self, level: u32, index: u64) -> Result<Hash, Infallible> {
        Ok(self.0[&(level, index)])
    }
}

fn refs(v: &[Hash]) -> Vec<&[u8]> {
    v.iter().map(|h| &h[..]).collect()
}

/// Builds both trees over the same random leaves, checking roots at every size.
fn build(rng: &mut StdRng, n: u64) -> (Vec<Vec<u8>>, Nodes, Vec<Hash>) {
    let mut nodes = Nodes::default();
    let mut frontier = Frontier::new();
    let mut ct = Ct::new();
    let mut leaves = Vec::new();
    let mut roots = Vec::new();
    for _ in 0..n {
        let len = rng.gen_range(0..40);
        let leaf: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        frontier.push(merkle::leaf_hash(&leaf), |node| {
            nodes.0.insert((node.level, node.index), node.hash);
        });
        ct.push(leaf.clone());
        leaves.push(leaf);
        let root = frontier.root();
        assert_eq!(
            &root[..],
            &ct.root().as_bytes()[..],
            "root at size {}",
            frontier.size()
        );
        assert_eq!(root, merkle::root(frontier.size(), &nodes).unwrap());
        roots.push(root);
    }
    (leaves, nodes, roots)
}

#[test]
fn roots_and_proofs_match_ct_merkle() {
    let mut rng = StdRng::seed_from_u64(0x00ac_c02d);
    for trial in 0..60 {
        let n = if trial < 40 {
            trial + 1
        } else {
            rng.gen_range(41..700)
        };
        let (leaves, nodes, roots) = build(&mut rng, n);
        let ct_full = {
            let mut t = Ct::new();
            leaves.iter().for_each(|l| t.push(l.clone()));
            t
        };
        let root = roots[n as usize - 1];
        for _ in 0..20 {
            let index = rng.gen_range(0..n);
            let ours = merkle::inclusion_proof(index, n, &nodes).unwrap();
            let theirs = ct_full.prove_inclusion(index as usize);
            assert_eq!(ours.concat(), theirs.as_bytes(), "inclusion {index} in {n}");
            let leaf_hash = merkle::leaf_hash(&leaves[index as usize]);
            proof::verify_inclusion(index, n, &leaf_hash, &refs(&ours), &root).unwrap();

            let old = rng.gen_range(1..=n);
            let ours = merkle::consistency_proof(old, n, &nodes).unwrap();
            let theirs = ct_full.prove_consistency((n - old) as usize);
            assert_eq!(ours.concat(), theirs.as_bytes(), "consistency {old} -> {n}");
            proof::verify_consistency(old, n, &refs(&ours), &roots[old as usize - 1], &root)
                .unwrap();
        }
    }
}

#[test]
fn tampered_proofs_are_rejected() {
    let mut rng = StdRng::seed_from_u64(7);
    let n = 300;
    let (leaves, nodes, roots) = build(&mut rng, n);
    let root = roots[n as usize - 1];
    for _ in 0..200 {
        let index = rng.gen_range(0..n);
        let mut p = merkle::inclusion_proof(index, n, &nodes).unwrap();
        let leaf_hash = merkle::leaf_hash(&leaves[index as usize]);
        let which = rng.gen_range(0..p.len());
        p[which][rng.gen_range(0..32)] ^= 1 << rng.gen_range(0..8);
        assert!(proof::verify_inclusion(index, n, &leaf_hash, &refs(&p), &root).is_err());
        let old = rng.gen_range(1..n);
        let mut c = merkle::consistency_proof(old, n, &nodes).unwrap();
        let which = rng.gen_range(0..c.len());
        c[which][0] ^= 0x80;
        assert!(
            proof::verify_consistency(old, n, &refs(&c), &roots[old as usize - 1], &root).is_err()
        );
    }
}
