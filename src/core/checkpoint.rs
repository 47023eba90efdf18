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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_strict_and_round_trips() {
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            head: TreeHead {
                size: 12,
                root: [1; 32],
            },
        };
        assert_eq!(Checkpoint::parse(&cp.text()).unwrap(), cp);
        let root = B64.encode([1u8; 32]);
        for bad in [
            format!("example.org/log\n012\n{root}\n"),
            format!("example.org/log\n+12\n{root}\n"),
            format!("example.org/log\n12\n{root}"),
            format!("example.org/log\n12\n{root}\nextension\n"),
            "example.org/log\n12\nAAAA\n".to_string(),
            format!("\n12\n{root}\n"),
        ] {
            assert!(Checkpoint::parse(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn open_requires_the_log_key_and_matching_origin() {
        let log = Signer::from_seed("example.org/log", &[4; 32]).unwrap();
        let other = Signer::from_seed("example.org/log", &[5; 32]).unwrap();
        let cp = Checkpoint {
            origin: "example.org/log".into(),
            head: TreeHead {
                size: 3,
                root: [2; 32],
            },
        };
        let signed = cp.sign(&log).unwrap();
        assert_eq!(Checkpoint::open(&signed, &log.verifier()).unwrap(), cp);
        assert!(
            Checkpoint::open(&signed, &other.verifier()).is_err(),
            "another key"
        );
        let foreign = Checkpoint {
            origin: "evil.example/log".into(),
            ..cp
        };
        assert!(
            Checkpoint::open(&foreign.sign(&log).unwrap(), &log.verifier()).is_err(),
            "origin mismatch"
        );
        // A witness cosignature by an unknown key is ignored.
        let cosigned = format!("{signed}— witness.example AAAAAQ==\n");
        assert!(Checkpoint::open(&cosigned, &log.verifier()).is_ok());
    }
}
