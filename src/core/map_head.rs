//! The map head (entry kind 7, SPEC.md §5.7): the registry map's root as of
//! the entries before it.
//!
//! Why an entry and not a checkpoint extension line: C2SP checkpoints allow
//! extension lines but monitors cannot audit them; an entry is covered by
//! the Merkle tree like everything else, so auditors recompute it and any
//! proof of the registry rests on an inclusion proof. The sequencer writes
//! one as the last entry of every batch that changes the registry, in the
//! same commit, so the last entry of every checkpoint is a map head of
//! exactly the state the checkpoint reflects.

use super::encoding::{Reader, Writer};
use super::{Error, Hash};

/// Length of the body: `u64 size ‖ root`.
pub const BODY_LEN: usize = 8 + 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MapHead {
    /// The tree size whose registry state the root reflects: the number of
    /// entries before this one, so always equal to the entry's own index.
    pub size: u64,
    /// The root of the registry map (`core::map`) after entries `0..size`.
    pub root: Hash,
}

impl MapHead {
    pub fn body(&self) -> Vec<u8> {
        let mut w = Writer::with_capacity(BODY_LEN);
        w.u64(self.size).raw(&self.root);
        w.finish()
    }

    pub fn parse_body(bytes: &[u8]) -> Result<Self, Error> {
        let mut r = Reader::new(bytes);
        let size = r.u64("map head size")?;
        let root = r.array("map head root")?;
        r.finish("map head")?;
        Ok(MapHead { size, root })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_is_size_then_root_and_parses_strictly() {
        let head = MapHead {
            size: 0x0102,
            root: [7; 32],
        };
        let body = head.body();
        assert_eq!(body.len(), BODY_LEN);
        assert_eq!(&body[..8], &[0, 0, 0, 0, 0, 0, 1, 2]);
        assert_eq!(MapHead::parse_body(&body), Ok(head));
        assert!(MapHead::parse_body(&body[..39]).is_err());
        let mut long = body.clone();
        long.push(0);
        assert!(MapHead::parse_body(&long).is_err());
    }
}
