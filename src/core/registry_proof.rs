//! Registry proofs (SPEC.md §8.2): a self-contained text file that proves,
//! offline and with the log key alone, what the registry says about one
//! organization or key — current, withdrawn, or absent — at one checkpoint.
//!
//! It chains three proofs: the signed checkpoint; the inclusion of its last
//! entry, a map head (`core::map_head`), so the map root is exactly the
//! state the checkpoint reflects; and one or two map paths from that root
//! to the values asked about (or to their absence). Modeled on
//! c2sp.org/tlog-proof, with every line strict: the file must be the
//! canonical formatting of what it parses to, so no byte can change
//! without failing verification.

use super::checkpoint::Checkpoint;
use super::entry::{Entry, Signed};
use super::map::{self, MapProof, Node};
use super::note::Verifier;
use super::registry::{KeyValue, MapKey, OrganizationValue, SignatoryValue, Status};
use super::{merkle, proof, sha256, Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};

pub const HEADER: &str = "accord-registry-proof/v1";

/// Who the proof is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    Organization(Hash),
    /// A public key, current or retired, of some organization (or of none).
    Key([u8; 32]),
}

/// The question a proof answers: the subject's record, or its standing on
/// one commitment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    pub subject: Subject,
    pub commitment: Option<String>,
}

/// What one map path ends in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Found {
    /// The key's value (its leaf is derived: key hash and SHA-256 of it).
    Present(Vec<u8>),
    /// No value: the path ends in an empty subtree or another key's leaf.
    Absent(Node),
}

/// One map path: sibling hashes deepest first, and where it ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub siblings: Vec<Hash>,
    pub found: Found,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryProof {
    pub query: Query,
    /// Index of the map-head entry: the checkpoint's last entry.
    pub index: u64,
    /// RFC 6962 inclusion proof of the map-head entry.
    pub inclusion: Vec<Hash>,
    /// The map-head entry's leaf bytes.
    pub map_head: Vec<u8>,
    pub items: Vec<Item>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

impl Query {
    /// The map key to prove after the values `found` so far (`None` once
    /// the answer is complete). Servers and verifiers share this rule, so
    /// a proof holds exactly the paths the verifier expects.
    pub fn next_key(&self, found: &[Option<&[u8]>]) -> Result<Option<MapKey>, Error> {
        let about = |org: Hash| match &self.commitment {
            Some(c) => MapKey::Signatory(org, c.clone()),
            None => MapKey::Organization(org),
        };
        Ok(match (self.subject, found) {
            (Subject::Organization(org), []) => Some(about(org)),
            (Subject::Key(k), []) => Some(MapKey::Key(k)),
            (Subject::Key(_), [Some(value)]) => Some(about(KeyValue::parse(value)?.organization)),
            _ => None,
        })
    }

    fn line(&self) -> String {
        let mut line = match self.subject {
            Subject::Organization(o) => format!("query organization {}", hex::encode(o)),
            Subject::Key(k) => format!("query key {}", hex::encode(k)),
        };
        if let Some(c) = &self.commitment {
            line += &format!(" commitment {c}");
        }
        line
    }

    fn parse_line(line: &str) -> Result<Query, Error> {
        let rest = line
            .strip_prefix("query ")
            .ok_or_else(|| err("the second line must be the query"))?;
        let mut words = rest.split(' ');
        let (kind, id) = (words.next(), words.next());
        let id = id.ok_or_else(|| err("query: missing the subject"))?;
        let subject = match kind {
            Some("organization") => Subject::Organization(lower_hex(id)?),
            Some("key") => Subject::Key(lower_hex(id)?),
            _ => return Err(err("query: the subject is `organization` or `key`")),
        };
        let commitment = match (words.next(), words.next(), words.next()) {
            (None, ..) => None,
            (Some("commitment"), Some(c), None) => {
                super::endorsement::validate_commitment_id(c)?;
                Some(c.to_owned())
            }
            _ => return Err(err("query: expected `commitment ID` after the subject")),
        };
        Ok(Query {
            subject,
            commitment,
        })
    }
}

fn err(why: impl Into<String>) -> Error {
    Error::malformed("registry proof", why)
}

fn lower_hex(s: &str) -> Result<[u8; 32], Error> {
    let lower = s
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
    (s.len() == 64 && lower)
        .then(|| hex::decode(s).ok()?.try_into().ok())
        .flatten()
        .ok_or_else(|| err(format!("{s:?} is not 64 lowercase hex digits")))
}

fn b64_hash(s: &str) -> Result<Hash, Error> {
    (B64.decode(s).ok())
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| err(format!("{s:?} is not base64 of 32 bytes")))
}

impl RegistryProof {
    pub fn format(&self) -> String {
        let mut out = format!("{HEADER}\n{}\nindex {}\n", self.query.line(), self.index);
        for h in &self.inclusion {
            out += &format!("{}\n", B64.encode(h));
        }
        out += &format!("map-head {}\n", B64.encode(&self.map_head));
        for item in &self.items {
            out += &match &item.found {
                Found::Present(v) => format!("present {}\n", B64.encode(v)),
                Found::Absent(Node::Leaf { key, value_hash }) => {
                    format!("absent {} {}\n", B64.encode(key), B64.encode(value_hash))
                }
                Found::Absent(_) => "absent\n".to_owned(),
            };
            for h in &item.siblings {
                out += &format!("{}\n", B64.encode(h));
            }
        }
        out.push('\n');
        out + &self.checkpoint
    }

    /// Parses strictly: the text must be exactly [`RegistryProof::format`]
    /// of the result (canonical decimal, base64 and hex; no extra lines).
    pub fn parse(text: &str) -> Result<Self, Error> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| err("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n').peekable();
        if lines.next() != Some(HEADER) {
            return Err(err(format!("the first line must be {HEADER}")));
        }
        let query = Query::parse_line(lines.next().unwrap_or(""))?;
        let index = (lines.next().and_then(|l| l.strip_prefix("index ")))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(|| err("the third line must be `index N`"))?;
        let mut inclusion = Vec::new();
        let map_head = loop {
            let line = lines.next().ok_or_else(|| err("no map-head line"))?;
            match line.strip_prefix("map-head ") {
                Some(b64) => break B64.decode(b64).map_err(|_| err("map-head is not base64"))?,
                None => inclusion.push(b64_hash(line)?),
            }
        };
        let mut items = Vec::new();
        while let Some(line) = lines.next() {
            let found = match line.split(' ').collect::<Vec<_>>()[..] {
                ["present", v] => Found::Present(
                    B64.decode(v)
                        .map_err(|_| err("present: value is not base64"))?,
                ),
                ["absent"] => Found::Absent(Node::Empty),
                ["absent", k, v] => Found::Absent(Node::Leaf {
                    key: b64_hash(k)?,
                    value_hash: b64_hash(v)?,
                }),
                _ => return Err(err(format!("expected a map item, found {line:?}"))),
            };
            let mut siblings = Vec::new();
            let item_line =
                |l: &&str| *l == "absent" || l.starts_with("absent ") || l.starts_with("present ");
            while let Some(l) = lines.next_if(|l| !item_line(l)) {
                siblings.push(b64_hash(l)?);
            }
            items.push(Item { siblings, found });
        }
        let proof = RegistryProof {
            query,
            index,
            inclusion,
            map_head,
            items,
            checkpoint: checkpoint.to_owned(),
        };
        if proof.format() != text {
            return Err(err(
                "not in canonical form (leading zeros, padding, spacing or line order)",
            ));
        }
        Ok(proof)
    }
}

/// What a verified registry proof establishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub query: Query,
    pub origin: String,
    pub tree_size: u64,
    pub map_root: Hash,
    /// The organization the answer is about (`None`: the key is unknown).
    pub organization: Option<Hash>,
    /// For a key query: when the key was rotated away, if it was.
    pub key_retired_at: Option<u64>,
    pub signatory: Option<SignatoryValue>,
    pub record: Option<OrganizationValue>,
}

/// `current`, `withdrawn` or `absent`: the verdict's first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Current,
    Withdrawn,
    Absent,
}

impl RegistryProof {
    /// Verifies everything against the log key: checkpoint signature,
    /// the map head as the checkpoint's last entry, its inclusion, and each
    /// map path to the map head's root.
    pub fn verify(&self, log_key: &Verifier) -> Result<Verdict, Error> {
        let cp = Checkpoint::open(&self.checkpoint, log_key)?;
        let size = cp.head.size;
        if size == 0 || self.index != size - 1 {
            return Err(Error::proof(format!(
                "the map head must be the last entry of the checkpoint (of size {size}), not entry {}",
                self.index
            )));
        }
        let hashes: Vec<&[u8]> = self.inclusion.iter().map(|h| &h[..]).collect();
        let leaf_hash = merkle::leaf_hash(&self.map_head);
        proof::verify_inclusion(self.index, size, &leaf_hash, &hashes, &cp.head.root)?;
        let entry = Entry::from_leaf(&self.map_head)?;
        let Signed::MapHead(head) = entry.signed else {
            return Err(Error::proof("the entry proven is not a map head"));
        };
        if entry.index != self.index {
            return Err(Error::proof("the map-head entry names another index"));
        }
        let mut found: Vec<Option<&[u8]>> = Vec::new();
        let mut keys = Vec::new();
        for item in &self.items {
            let key = (self.query.next_key(&found)?)
                .ok_or_else(|| Error::proof("more map items than the query needs"))?;
            let (value, terminal) = match &item.found {
                Found::Present(v) => (
                    Some(&v[..]),
                    Node::Leaf {
                        key: key.hash(),
                        value_hash: sha256(v),
                    },
                ),
                Found::Absent(node) => (None, *node),
            };
            let path = MapProof {
                siblings: item.siblings.clone(),
                terminal,
            };
            match map::verify(&head.root, &key.hash(), &path)? {
                Some(_) if value.is_none() => {
                    return Err(Error::proof(
                        "a path said absent leads to the key's own leaf",
                    ))
                }
                _ => {}
            }
            found.push(value);
            keys.push(key);
        }
        if self.query.next_key(&found)?.is_some() {
            return Err(Error::proof("fewer map items than the query needs"));
        }
        let mut verdict = Verdict {
            query: self.query.clone(),
            origin: cp.origin,
            tree_size: size,
            map_root: head.root,
            organization: None,
            key_retired_at: None,
            signatory: None,
            record: None,
        };
        for (key, value) in keys.iter().zip(found) {
            match (key, value) {
                (MapKey::Key(_), Some(v)) => {
                    let k = KeyValue::parse(v)?;
                    verdict.organization = Some(k.organization);
                    verdict.key_retired_at = k.retired_at;
                }
                (MapKey::Signatory(org, _), v) => {
                    verdict.organization = Some(*org);
                    verdict.signatory = v.map(SignatoryValue::parse).transpose()?;
                }
                (MapKey::Organization(org), v) => {
                    verdict.organization = Some(*org);
                    verdict.record = v.map(OrganizationValue::parse).transpose()?;
                }
                _ => {}
            }
        }
        Ok(verdict)
    }
}

impl Verdict {
    pub fn answer(&self) -> Answer {
        match (&self.query.commitment, &self.signatory, &self.record) {
            (Some(_), Some(s), _) if s.status == Status::Current => Answer::Current,
            (Some(_), Some(_), _) => Answer::Withdrawn,
            (None, _, Some(_)) => Answer::Current,
            _ => Answer::Absent,
        }
    }

    /// One line for people, starting with `current`, `withdrawn` or
    /// `absent`, naming the organization, the commitment and the tree size.
    pub fn describe(&self) -> String {
        let at = format!("at tree size {} of {}", self.tree_size, self.origin);
        let key_note = match (self.query.subject, self.key_retired_at) {
            (Subject::Key(k), None) => format!("; key {} is its current key", hex::encode(k)),
            (Subject::Key(k), Some(i)) => {
                format!("; key {} was rotated out at entry {i}", hex::encode(k))
            }
            _ => String::new(),
        };
        let Some(org) = self.organization.map(hex::encode) else {
            let Subject::Key(k) = self.query.subject else {
                unreachable!("an organization query names its organization")
            };
            let what = match &self.query.commitment {
                Some(c) => format!(", so it endorses nothing, commitment {c} included"),
                None => String::new(),
            };
            return format!(
                "absent: key {} belongs to no organization{what}, {at}",
                hex::encode(k)
            );
        };
        match (&self.query.commitment, &self.signatory, &self.record) {
            (Some(c), Some(s), _) => match s.withdrawn_index {
                None => format!(
                    "current: organization {org} endorses commitment {c} (entry {}, text sha256 {}), {at}{key_note}",
                    s.endorsed_index,
                    hex::encode(s.text_sha256)
                ),
                Some(w) => format!(
                    "withdrawn: organization {org} withdrew from commitment {c} at entry {w} (endorsed at entry {}), {at}{key_note}",
                    s.endorsed_index
                ),
            },
            (Some(c), None, _) => {
                format!("absent: organization {org} has never endorsed commitment {c}, {at}{key_note}")
            }
            (None, _, Some(r)) => format!(
                "current: organization {org} ({:?}) is registered with key {}, {at}{key_note}",
                r.name,
                hex::encode(r.current_key)
            ),
            (None, _, None) => format!("absent: no organization {org}, {at}"),
        }
    }
}
