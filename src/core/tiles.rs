//! C2SP tlog-tiles (https://c2sp.org/tlog-tiles): the log as static
//! resources. A hash tile at level `L`, index `N` holds up to 256
//! consecutive Merkle Tree Hashes of perfect subtrees of height `8·L`
//! (so it is exactly our stored nodes at Merkle level `8·L`, indices
//! `256·N ..`); an entry bundle holds up to 256 consecutive leaves, each
//! with a big-endian `u16` length. Paths encode `N` in 3-digit elements,
//! all but the last prefixed with `x` (`1234067` → `x001/x234/067`), and
//! a partial tile of width `W` (1–255) adds `.p/W`.

use std::fmt;

/// Hashes (or entries) per full tile: 2^8.
pub const WIDTH: u64 = 256;
/// Merkle levels per tile level: log2(WIDTH).
pub const HEIGHT: u32 = 8;
/// Highest tile level the spec allows (its `<L>` is 0–63).
pub const MAX_LEVEL: u8 = 63;

/// Which resource: hash tiles of a level, or entry bundles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Hashes(u8),
    Entries,
}

/// One tile or bundle: `width` is 256 for a full one, 1–255 for a partial one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    pub kind: Kind,
    pub index: u64,
    pub width: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("tile path {path:?}: {why}")]
pub struct PathError {
    pub path: String,
    pub why: &'static str,
}

/// A decimal number without leading zeros (the spec's `<L>` and `<W>`).
fn plain_number(s: &str) -> Option<u64> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical.then(|| s.parse().ok()).flatten()
}

impl Tile {
    /// The Merkle level of this tile's hashes (0: leaf hashes).
    pub fn merkle_level(&self) -> u32 {
        match self.kind {
            Kind::Hashes(l) => HEIGHT * u32::from(l),
            Kind::Entries => 0,
        }
    }

    /// The first node (at [`Tile::merkle_level`]) or entry it holds, and
    /// one past its last.
    pub fn range(&self) -> (u64, u64) {
        let start = self.index.saturating_mul(WIDTH);
        (start, start.saturating_add(u64::from(self.width)))
    }

    /// True if a tree of `size` has all it holds: the first `width` of
    /// the nodes at its level that such a tree completes. (A partial tile
    /// of a smaller tree is a prefix of the tile now, so it is served too.)
    pub fn within(&self, size: u64) -> bool {
        let level = self.merkle_level();
        let complete = if level >= 64 { 0 } else { size >> level };
        self.range().1 <= complete && self.range().1 > self.range().0
    }

    /// The path after the log's prefix, e.g. `tile/0/x001/x234/067.p/7`.
    pub fn path(&self) -> String {
        let mut out = match self.kind {
            Kind::Hashes(l) => format!("tile/{l}/"),
            Kind::Entries => "tile/entries/".to_owned(),
        };
        let digits = self.index.to_string();
        let pad = (3 - digits.len() % 3) % 3;
        let digits = format!("{}{digits}", "0".repeat(pad));
        let groups: Vec<&str> = (0..digits.len() / 3)
            .map(|i| &digits[3 * i..3 * i + 3])
            .collect();
        for (i, g) in groups.iter().enumerate() {
            if i + 1 < groups.len() {
                out.push('x');
            }
            out.push_str(g);
            out.push(if i + 1 < groups.len() { '/' } else { '.' });
        }
        out.pop();
        if self.width != WIDTH as u16 {
            out.push_str(&format!(".p/{}", self.width));
        }
        out
    }

    /// Parses a path after the prefix (`tile/…`), strictly: every
    /// resource has exactly one path.
    pub fn parse(path: &str) -> Result<Tile, PathError> {
        let bad = |why| PathError {
            path: path.to_owned(),
            why,
        };
        let rest = path
            .strip_prefix("tile/")
            .ok_or_else(|| bad("does not start with tile/"))?;
        let (kind, rest) = rest.split_once('/').ok_or_else(|| bad("no tile index"))?;
        let kind = match kind {
            "entries" => Kind::Entries,
            l => match plain_number(l) {
                Some(l) if l <= u64::from(MAX_LEVEL) => Kind::Hashes(l as u8),
                _ => return Err(bad("the level must be 0–63 without leading zeros")),
            },
        };
        let (index, width) = match rest.split_once(".p/") {
            Some((index, w)) => match plain_number(w) {
                Some(w) if (1..WIDTH).contains(&w) => (index, w as u16),
                _ => return Err(bad("a partial width must be 1–255 without leading zeros")),
            },
            None => (rest, WIDTH as u16),
        };
        let elements: Vec<&str> = index.split('/').collect();
        let mut n: u64 = 0;
        for (i, e) in elements.iter().enumerate() {
            let last = i + 1 == elements.len();
            let digits = if last { Some(*e) } else { e.strip_prefix('x') };
            let digits = digits.filter(|d| d.len() == 3 && d.bytes().all(|b| b.is_ascii_digit()));
            let digits = digits
                .ok_or_else(|| bad("index elements are 3 digits, all but the last after an x"))?;
            n = (n.checked_mul(1000))
                .and_then(|n| n.checked_add(digits.parse::<u64>().expect("3 digits")))
                .ok_or_else(|| bad("the index does not fit 64 bits"))?;
        }
        let tile = Tile {
            kind,
            index: n,
            width,
        };
        // One path per tile: no superfluous leading `x000/` elements.
        if tile.path() != path {
            return Err(bad("not the canonical path of its tile"));
        }
        Ok(tile)
    }
}

impl fmt::Display for Tile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.path())
    }
}

/// A leaf longer than an entry bundle can hold (`u16` lengths).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    #[error("entry {0} is longer than 65535 bytes")]
    TooLong(usize),
    #[error("entry bundle is truncated")]
    Truncated,
}

/// An entry bundle: each leaf with its big-endian `u16` length.
pub fn bundle<L: AsRef<[u8]>>(leaves: &[L]) -> Result<Vec<u8>, BundleError> {
    let mut out = Vec::with_capacity(leaves.iter().map(|l| l.as_ref().len() + 2).sum());
    for (i, leaf) in leaves.iter().enumerate() {
        let leaf = leaf.as_ref();
        let len = u16::try_from(leaf.len()).map_err(|_| BundleError::TooLong(i))?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(leaf);
    }
    Ok(out)
}

/// The leaves of an entry bundle.
pub fn unbundle(mut bytes: &[u8]) -> Result<Vec<&[u8]>, BundleError> {
    let mut out = Vec::new();
    while !bytes.is_empty() {
        let len = match bytes {
            [a, b, ..] => usize::from(u16::from_be_bytes([*a, *b])),
            _ => return Err(BundleError::Truncated),
        };
        let leaf = bytes.get(2..2 + len).ok_or(BundleError::Truncated)?;
        out.push(leaf);
        bytes = &bytes[2 + len..];
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(kind: Kind, index: u64, width: u16) -> Tile {
        Tile { kind, index, width }
    }

    #[test]
    fn paths_are_the_specs_and_parse_back() {
        let cases = [
            (t(Kind::Hashes(0), 1_234_067, 256), "tile/0/x001/x234/067"),
            (t(Kind::Hashes(2), 0, 1), "tile/2/000.p/1"),
            (t(Kind::Hashes(1), 1000, 17), "tile/1/x001/000.p/17"),
            (t(Kind::Entries, 5, 256), "tile/entries/005"),
            (t(Kind::Entries, 273, 112), "tile/entries/273.p/112"),
        ];
        for (tile, path) in cases {
            assert_eq!(tile.path(), path);
            assert_eq!(Tile::parse(path), Ok(tile));
        }
        for bad in [
            "tile/0/1",
            "tile/00/000",
            "tile/64/000",
            "tile/0/x000/001",
            "tile/0/001.p/0",
            "tile/0/001.p/256",
            "tile/0/001.p/07",
            "tile/0/001/",
            "tile/0/y001/002",
            "tile/entries/000.p/",
            "tiles/0/000",
            "tile/0/x1/000",
        ] {
            assert!(Tile::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn which_tiles_a_tree_has() {
        // The spec's example: a tree of 70,000 has 273 full level-0 tiles,
        // a partial one of width 112, one full level-1 tile, a partial
        // level-1 tile of width 17 and a partial level-2 tile of width 1.
        let s = 70_000;
        assert!(t(Kind::Hashes(0), 272, 256).within(s));
        assert!(!t(Kind::Hashes(0), 273, 256).within(s));
        assert!(t(Kind::Hashes(0), 273, 112).within(s));
        assert!(!t(Kind::Hashes(0), 273, 113).within(s));
        assert!(t(Kind::Hashes(1), 0, 256).within(s));
        assert!(t(Kind::Hashes(1), 1, 17).within(s));
        assert!(!t(Kind::Hashes(1), 1, 18).within(s));
        assert!(t(Kind::Hashes(2), 0, 1).within(s));
        assert!(!t(Kind::Hashes(3), 0, 1).within(s));
        assert!(t(Kind::Entries, 273, 112).within(s));
    }

    #[test]
    fn bundles_round_trip_and_refuse_what_they_cannot_hold() {
        let leaves = [b"".to_vec(), b"abc".to_vec(), vec![7; 300]];
        let b = bundle(&leaves).unwrap();
        assert_eq!(&b[..7], &[0, 0, 0, 3, b'a', b'b', b'c']);
        assert_eq!(
            unbundle(&b).unwrap(),
            leaves.iter().map(|l| &l[..]).collect::<Vec<_>>()
        );
        assert_eq!(unbundle(&b[..b.len() - 1]), Err(BundleError::Truncated));
        assert_eq!(bundle(&[vec![0; 65_536]]), Err(BundleError::TooLong(0)));
    }
}
