//! The rules of a C2SP tlog-witness (https://c2sp.org/tlog-witness)
//! `add-checkpoint` call, without I/O: parsing the request body and
//! deciding, against the latest checkpoint the witness cosigned for the log,
//! whether to cosign, or which refusal (and HTTP status) applies.

use super::note::{self, Verifier};
use super::proof::verify_consistency;
use super::{merkle, Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};

/// The most consistency proof lines a request may carry (the spec's 63).
pub const MAX_PROOF_LINES: usize = 63;

/// A parsed `add-checkpoint` request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddCheckpoint {
    pub old_size: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint, as sent.
    pub checkpoint: String,
}

/// The first three lines of a checkpoint (any log's: extension lines may
/// follow), and its whole note text (what a cosignature signs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Head {
    pub origin: String,
    pub size: u64,
    pub root: Hash,
    pub text: String,
}

/// Why a witness does not cosign, each with its status in the spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// 400: the body is malformed, or the old size is above the new one.
    #[error("bad request: {0}")]
    BadRequest(String),
    /// 403: no valid signature by the log's key.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// 404: the witness does not know the log.
    #[error("unknown log {0:?}")]
    UnknownLog(String),
    /// 409: the old size is not the latest cosigned size (the body).
    #[error("the latest cosigned size is {0}")]
    Conflict(u64),
    /// 422: the checkpoint is not consistent with the witnessed one.
    #[error("unprocessable: {0}")]
    Unprocessable(String),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Refusal::BadRequest(_) => 400,
            Refusal::Forbidden(_) => 403,
            Refusal::UnknownLog(_) => 404,
            Refusal::Conflict(_) => 409,
            Refusal::Unprocessable(_) => 422,
        }
    }
}

fn canonical_size(s: &str) -> Option<u64> {
    let ok =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    s.parse().ok().filter(|_| ok)
}

/// Parses `old <size>\n`, up to 63 base64 hash lines, an empty line, then
/// the checkpoint.
pub fn parse_request(body: &str) -> Result<AddCheckpoint, Refusal> {
    let bad = |why: &str| Refusal::BadRequest(why.to_owned());
    let (head, checkpoint) = body
        .split_once("\n\n")
        .ok_or_else(|| bad("no empty line before the checkpoint"))?;
    let mut lines = head.split('\n');
    let old = lines
        .next()
        .and_then(|l| l.strip_prefix("old "))
        .and_then(canonical_size);
    let old_size =
        old.ok_or_else(|| bad("the first line must be `old <size>` (decimal, no leading zeros)"))?;
    let proof = lines
        .map(|l| B64.decode(l).ok().and_then(|h| Hash::try_from(h).ok()))
        .collect::<Option<Vec<Hash>>>()
        .ok_or_else(|| bad("every proof line must be the base64 of a 32-byte hash"))?;
    if proof.len() > MAX_PROOF_LINES {
        return Err(bad("more than 63 consistency proof lines"));
    }
    Ok(AddCheckpoint {
        old_size,
        proof,
        checkpoint: checkpoint.to_owned(),
    })
}

/// The origin of a signed checkpoint (its first line), to find the log's key.
pub fn origin(checkpoint: &str) -> Result<&str, Refusal> {
    match checkpoint.split_once('\n') {
        Some((origin, _)) if !origin.is_empty() => Ok(origin),
        _ => Err(Refusal::BadRequest(
            "the checkpoint has no origin line".into(),
        )),
    }
}

/// Verifies the log's signature and reads the checkpoint's head.
pub fn open(checkpoint: &str, log: &Verifier) -> Result<Head, Refusal> {
    let text = note::open(checkpoint, log).map_err(|e| match e {
        Error::Signature(why) => Refusal::Forbidden(why),
        other => Refusal::BadRequest(other.to_string()),
    })?;
    let lines: Vec<&str> = text.split('\n').collect();
    let bad = |why: &str| Refusal::BadRequest(format!("checkpoint: {why}"));
    let [origin, size, root, ..] = lines[..] else {
        return Err(bad("fewer than three lines"));
    };
    let size = canonical_size(size).ok_or_else(|| bad("the size is not a canonical decimal"))?;
    let root = B64.decode(root).ok().and_then(|r| Hash::try_from(r).ok());
    let root = root.ok_or_else(|| bad("the root is not the base64 of 32 bytes"))?;
    if origin != log.name {
        return Err(Refusal::Forbidden(format!(
            "origin {origin:?} is not the key's name"
        )));
    }
    Ok(Head {
        origin: origin.to_owned(),
        size,
        root,
        text: text.to_owned(),
    })
}

/// Decides whether `head` (with `request`'s old size and proof) may be
/// cosigned, given the latest cosigned `(size, root)` for the log (`None`
/// if never). `Ok` means: store it as the latest, then cosign.
pub fn decide(
    latest: Option<(u64, Hash)>,
    request: &AddCheckpoint,
    head: &Head,
) -> Result<(), Refusal> {
    let unprocessable = |why: String| Err(Refusal::Unprocessable(why));
    if request.old_size > head.size {
        return Err(Refusal::BadRequest(format!(
            "old size {} is above the checkpoint's size {}",
            request.old_size, head.size
        )));
    }
    let (size, root) = latest.unwrap_or((0, merkle::EMPTY_ROOT));
    if request.old_size != size {
        return Err(Refusal::Conflict(size));
    }
    if head.size == 0 && head.root != merkle::EMPTY_ROOT {
        return unprocessable("a checkpoint of size 0 must have the empty tree's root".into());
    }
    if size == 0 {
        if !request.proof.is_empty() {
            return unprocessable("a proof from size 0 must be empty".into());
        }
        return Ok(());
    }
    if size == head.size {
        if head.root != root || !request.proof.is_empty() {
            return unprocessable(format!(
                "another root (or a proof) for the cosigned size {size}"
            ));
        }
        return Ok(());
    }
    let proof: Vec<&[u8]> = request.proof.iter().map(|h| &h[..]).collect();
    verify_consistency(size, head.size, &proof, &root, &head.root)
        .map_err(|e| Refusal::Unprocessable(format!("consistency proof from {size}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bodies_parse_strictly() {
        let cp = "example.com/log\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n\u{2014} example.com/log AAAA\n";
        let h = B64.encode([1u8; 32]);
        let req = parse_request(&format!("old 3\n{h}\n{h}\n\n{cp}")).unwrap();
        assert_eq!(
            (req.old_size, req.proof.len(), req.checkpoint.as_str()),
            (3, 2, cp)
        );
        assert_eq!(
            parse_request(&format!("old 0\n\n{cp}")).unwrap().proof,
            Vec::<Hash>::new()
        );
        for bad in [
            format!("old 03\n\n{cp}"),
            format!("old -1\n\n{cp}"),
            format!("new 3\n\n{cp}"),
            format!("old 3\nnot base64!\n\n{cp}"),
            format!("old 3\n{}\n\n{cp}", B64.encode([1u8; 31])),
            format!("old 3\n{}\n\n{cp}", vec![h.as_str(); 64].join("\n")),
            format!("old 3\n{cp}"),
        ] {
            assert!(
                matches!(parse_request(&bad), Err(Refusal::BadRequest(_))),
                "{bad:?}"
            );
        }
    }
}
