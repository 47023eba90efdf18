//! Checkpoints (c2sp.org/tlog-checkpoint): the note text
//! `<origin>\n<size>\n<base64 root>\n`, signed as a C2SP signed note by the
//! log key whose name is the origin.

use super::note::{self, Signer, Verifier};
use super::{Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub size: u64,
    pub root: Hash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub origin: String,
    pub head: TreeHead,
}

fn cp_err(why: impl Into<String>) -> Error {
    Error::malformed("checkpoint", why)
}

impl Checkpoint {
    /// The note text that gets signed.
    pub fn text(&self) -> String {
        format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.head.size,
            B64.encode(self.head.root)
        )
    }

    /// Parses checkpoint text strictly: Accord checkpoints have exactly three
    /// lines; the size has no sign and no leading zeros.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| cp_err("must end with a newline"))?;
        let lines: Vec<&str> = body.split('\n').collect();
        let [origin, size, root] = lines[..] else {
            return Err(cp_err(format!("expected 3 lines, found {}", lines.len())));
        };
        if origin.is_empty() {
            return Err(cp_err("empty origin"));
        }
        let size_ok = !size.is_empty()
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = match size.parse() {
            Ok(n) if size_ok => n,
            _ => {
                return Err(cp_err(format!(
                    "tree size {size:?} is not a canonical decimal"
                )))
            }
        };
        let root: Hash = B64
            .decode(root)
            .ok()
            .and_then(|r| r.try_into().ok())
            .ok_or_else(|| cp_err("root is not base64 of 32 bytes"))?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            head: TreeHead { size, root },
        })
    }

    pub fn sign(&self, signer: &Signer) -> Result<String, Error> {
        signer.sign(&self.text())
    }

    /// Verifies a signed checkpoint with the log's verifier key and parses it.
    /// The origin must equal the key name: a checkpoint of another log signed
    /// by a key of the same name is not ours.
    pub fn open(signed: &str, verifier: &Verifier) -> Result<Self, Error> {
        let text = note::open(signed, verifier)?;
        let cp = Checkpoint::parse(text)?;
        if cp.origin != verifier.name {
            return Err(cp_err(format!(
                "origin {:?} does not match the log key name {:?}",
                cp.origin, verifier.name
            )));
        }
        Ok(cp)
    }
}
