//! Receipts: c2sp.org/tlog-proof@v1 — an index, the inclusion proof hashes
//! (leaf sibling first) and the signed checkpoint they lead to. Together with
//! the entry's leaf bytes (`.entry`) it proves offline that the entry is in
//! the log.

use super::{Error, Hash};
use base64::{engine::general_purpose::STANDARD as B64, Engine};

const HEADER: &str = "c2sp.org/tlog-proof@v1";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlogProof {
    pub extra: Option<Vec<u8>>,
    pub index: u64,
    pub proof: Vec<Hash>,
    /// The signed checkpoint note, verbatim.
    pub checkpoint: String,
}

fn err(why: impl Into<String>) -> Error {
    Error::malformed("tlog-proof", why)
}

impl TlogProof {
    pub fn format(&self) -> String {
        let mut out = format!("{HEADER}\n");
        if let Some(extra) = &self.extra {
            out += &format!("extra {}\n", B64.encode(extra));
        }
        out += &format!("index {}\n", self.index);
        for h in &self.proof {
            out += &B64.encode(h);
            out.push('\n');
        }
        out.push('\n');
        out + &self.checkpoint
    }

    pub fn parse(text: &str) -> Result<Self, Error> {
        let (head, checkpoint) = text
            .split_once("\n\n")
            .ok_or_else(|| err("no blank line before the checkpoint"))?;
        let mut lines = head.split('\n');
        if lines.next() != Some(HEADER) {
            return Err(err(format!("first line must be {HEADER}")));
        }
        let mut line = lines.next().ok_or_else(|| err("missing index line"))?;
        let mut extra = None;
        if let Some(b64) = line.strip_prefix("extra ") {
            extra = Some(B64.decode(b64).map_err(|_| err("extra is not base64"))?);
            line = lines.next().ok_or_else(|| err("missing index line"))?;
        }
        let idx = line
            .strip_prefix("index ")
            .ok_or_else(|| err("missing index line"))?;
        let canonical = !idx.is_empty()
            && idx.bytes().all(|b| b.is_ascii_digit())
            && (idx == "0" || !idx.starts_with('0'));
        let index = idx
            .parse()
            .ok()
            .filter(|_| canonical)
            .ok_or_else(|| err("index is not a canonical decimal"))?;
        let proof = lines
            .map(|l| {
                B64.decode(l)
                    .ok()
                    .and_then(|h| h.try_into().ok())
                    .ok_or_else(|| err("proof line is not base64 of 32 bytes"))
            })
            .collect::<Result<Vec<Hash>, _>>()?;
        Ok(TlogProof {
            extra,
            index,
            proof,
            checkpoint: checkpoint.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_malformed() {
        let p = TlogProof {
            extra: Some(b"ctx".to_vec()),
            index: 73894,
            proof: vec![[1; 32], [2; 32]],
            checkpoint: "log\n1\nAA==\n\n— log sig\n".into(),
        };
        assert_eq!(TlogProof::parse(&p.format()).unwrap(), p);
        let text = p.format();
        assert!(TlogProof::parse(&text.replace("index 73894", "index 073894")).is_err());
        assert!(TlogProof::parse(&text.replace("c2sp.org/tlog-proof@v1", "tlog-proof")).is_err());
        assert!(TlogProof::parse(&text.replace("\n\n", "\n")).is_err());
    }
}
