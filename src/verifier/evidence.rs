//! Evidence of log misbehaviour: two checkpoints signed by the log that it
//! should never have presented together, plus the proof it served. Anyone
//! with the log's verifier key can re-check the file (`accord check-evidence`
//! or [`Evidence::check`]).
//!
//! How conclusive each kind is:
//! - `fork`: two roots for one tree size. Conclusive: an honest log signs
//!   exactly one root per size.
//! - `inconsistent`: a larger checkpoint whose consistency proof from the
//!   earlier one fails. The file shows both genuine checkpoints and the failing
//!   proof; an honest log can answer the challenge with a valid proof, a forked
//!   one cannot.
//! - `rollback`: the log presented a smaller tree after a larger one. Both
//!   checkpoints are genuine; serving the smaller as "latest" hides entries.
//! - `map-root`: a map head (SPEC.md §5.7) whose root is not the registry
//!   map of the entries before it. The file proves, with the log key alone,
//!   that the log committed to that root (the entry, its inclusion proof,
//!   the signed checkpoint) and names the root the auditor computed; that
//!   the committed root is wrong is re-checked by recomputing the map from
//!   the log's entries (`accord audit`), which anyone can fetch.

use crate::core::checkpoint::Checkpoint;
use crate::core::entry::{Entry, Signed};
use crate::core::note::Verifier;
use crate::core::{merkle, proof, Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};

const HEADER: &str = "accord misbehaviour evidence v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Fork,
    Inconsistent,
    Rollback,
    MapRoot,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Fork => "fork",
            Kind::Inconsistent => "inconsistent",
            Kind::Rollback => "rollback",
            Kind::MapRoot => "map-root",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub kind: Kind,
    /// The earlier checkpoint (as verified before) and the later one, verbatim.
    pub old_checkpoint: String,
    pub new_checkpoint: String,
    /// The consistency proof the log served (empty if none applies); for
    /// `map-root`, the inclusion proof of the map head in `new_checkpoint`.
    pub proof: Vec<Vec<u8>>,
    /// For `map-root`: the map head's index, leaf bytes and the root the
    /// auditor recomputed.
    pub map_head: Option<(u64, Vec<u8>, Hash)>,
}

fn err(why: impl Into<String>) -> Error {
    Error::malformed("evidence", why)
}

fn block(name: &str, body: &str) -> String {
    format!("-----BEGIN {name}-----\n{body}-----END {name}-----\n")
}

fn take_block<'a>(text: &'a str, name: &str) -> Result<&'a str, Error> {
    let begin = format!("-----BEGIN {name}-----\n");
    let end = format!("-----END {name}-----\n");
    let start = text
        .find(&begin)
        .ok_or_else(|| err(format!("missing {name}")))?
        + begin.len();
    let len = text[start..]
        .find(&end)
        .ok_or_else(|| err(format!("unterminated {name}")))?;
    Ok(&text[start..start + len])
}

impl Evidence {
    pub fn format(&self, log_key: &Verifier, summary: &str) -> String {
        let proof: String = self.proof.iter().map(|h| B64.encode(h) + "\n").collect();
        let map_head = match &self.map_head {
            None => String::new(),
            Some((index, leaf, computed)) => block(
                "MAP HEAD",
                &format!(
                    "index {index}\nleaf {}\ncomputed-root {}\n",
                    B64.encode(leaf),
                    hex::encode(computed)
                ),
            ),
        };
        format!(
            "{HEADER}\nkind {}\nlog {log_key}\nsummary {}\n{}{}{}{map_head}",
            self.kind.name(),
            summary.replace('\n', " "),
            block("OLD CHECKPOINT", &self.old_checkpoint),
            block("NEW CHECKPOINT", &self.new_checkpoint),
            block("CONSISTENCY PROOF", &proof),
        )
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let mut lines = text.lines();
        if lines.next() != Some(HEADER) {
            return Err(err(format!("first line must be {HEADER:?}")));
        }
        let kind = match lines.next().and_then(|l| l.strip_prefix("kind ")) {
            Some("fork") => Kind::Fork,
            Some("inconsistent") => Kind::Inconsistent,
            Some("rollback") => Kind::Rollback,
            Some("map-root") => Kind::MapRoot,
            _ => return Err(err("unknown or missing kind")),
        };
        let proof = take_block(text, "CONSISTENCY PROOF")?
            .lines()
            .map(|l| B64.decode(l).map_err(|_| err("proof hash is not base64")))
            .collect::<Result<_, _>>()?;
        let map_head = match kind {
            Kind::MapRoot => {
                let block = take_block(text, "MAP HEAD")?;
                let mut lines = block.lines();
                let mut field = |name: &str| {
                    (lines.next().and_then(|l| l.strip_prefix(name)))
                        .ok_or_else(|| err(format!("MAP HEAD: missing {name:?}")))
                };
                let index = (field("index ")?.parse()).map_err(|_| err("MAP HEAD: bad index"))?;
                let leaf = (B64.decode(field("leaf ")?)).map_err(|_| err("MAP HEAD: bad leaf"))?;
                let computed = (hex::decode(field("computed-root ")?).ok())
                    .and_then(|h| h.try_into().ok())
                    .ok_or_else(|| err("MAP HEAD: bad computed-root"))?;
                Some((index, leaf, computed))
            }
            _ => None,
        };
        Ok(Evidence {
            kind,
            old_checkpoint: take_block(text, "OLD CHECKPOINT")?.to_owned(),
            new_checkpoint: take_block(text, "NEW CHECKPOINT")?.to_owned(),
            proof,
            map_head,
        })
    }

    /// Re-checks the evidence with the log's key alone. Returns a sentence
    /// stating what is proven, or an error if the file proves nothing.
    pub fn check(&self, log_key: &Verifier) -> Result<String, Error> {
        if self.kind == Kind::MapRoot {
            return self.check_map_root(log_key);
        }
        let old = Checkpoint::open(&self.old_checkpoint, log_key)?;
        let new = Checkpoint::open(&self.new_checkpoint, log_key)?;
        let (o, n) = (old.head, new.head);
        let refs: Vec<&[u8]> = self.proof.iter().map(Vec::as_slice).collect();
        match self.kind {
            Kind::Fork if o.size == n.size && o.root != n.root => Ok(format!(
                "the log signed two different roots for tree size {}: it forked",
                o.size
            )),
            Kind::Rollback if n.size < o.size => Ok(format!(
                "the log presented tree size {} after tree size {}: a rollback",
                n.size, o.size
            )),
            Kind::Inconsistent if o.size < n.size => {
                match proof::verify_consistency(o.size, n.size, &refs, &o.root, &n.root) {
                    Err(e) => Ok(format!(
                        "the log's consistency proof from size {} to {} fails ({e}); \
                         both checkpoints are genuinely signed",
                        o.size, n.size
                    )),
                    Ok(()) => Err(err("the consistency proof verifies: no misbehaviour shown")),
                }
            }
            _ => Err(err(
                "the two checkpoints do not show the claimed misbehaviour",
            )),
        }
    }

    fn check_map_root(&self, log_key: &Verifier) -> Result<String, Error> {
        let (index, leaf, computed) = (self.map_head.as_ref()).ok_or_else(|| err("no MAP HEAD"))?;
        let cp = Checkpoint::open(&self.new_checkpoint, log_key)?;
        let refs: Vec<&[u8]> = self.proof.iter().map(Vec::as_slice).collect();
        proof::verify_inclusion(
            *index,
            cp.head.size,
            &merkle::leaf_hash(leaf),
            &refs,
            &cp.head.root,
        )?;
        let Signed::MapHead(head) = Entry::from_leaf(leaf)?.signed else {
            return Err(err("the entry is not a map head"));
        };
        if head.root == *computed {
            return Err(err(
                "the map head's root is the computed one: no misbehaviour shown",
            ));
        }
        Ok(format!(
            "the log committed at entry {index} (in its signed tree of size {}) to registry map root {}, \
             but the registry of the entries before it has root {} (recompute it with `accord audit`)",
            cp.head.size,
            hex::encode(head.root),
            hex::encode(computed)
        ))
    }
}
