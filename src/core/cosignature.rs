//! C2SP tlog-cosignature, Ed25519 `cosignature/v1`
//! (https://c2sp.org/tlog-cosignature): a witness's statement that, at a
//! time, the checkpoint is the largest consistent tree head it has seen for
//! the log. A cosignature is a signed-note line
//! `— <witness name> base64(key ID ‖ timestamp:u64 ‖ signature)` where
//! - key ID = SHA-256(name ‖ "\n" ‖ 0x04 ‖ public key)[:4] (0x04: this
//!   cosignature type, so the key never verifies another kind of message);
//! - the signed message is `cosignature/v1\ntime <timestamp>\n` followed by
//!   the checkpoint's whole note text (its lines, without signatures).

use super::note::valid_key_name;
use super::signature::{self, verify_strict};
use super::{sha256, Error};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// The signature-type byte of Ed25519 `cosignature/v1` keys.
pub const ALG_COSIGNATURE_V1: u8 = 0x04;
/// Signed-note signature lines start with U+2014 and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Timestamps are at most 2^63 − 1 (the spec's bound).
const MAX_TIMESTAMP: u64 = (1 << 63) - 1;

fn bad(why: impl Into<String>) -> Error {
    Error::malformed("cosignature", why)
}

pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = sha256(&[name.as_bytes(), b"\n", &[ALG_COSIGNATURE_V1], public_key].concat());
    u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"))
}

/// The message a cosignature signs: `cosignature/v1`, the time line, then
/// the checkpoint's note text (newline-terminated lines).
pub fn signed_message(text: &str, timestamp: u64) -> String {
    format!("cosignature/v1\ntime {timestamp}\n{text}")
}

/// A witness's cosigning key.
pub struct Cosigner {
    pub name: String,
    key: SigningKey,
}

impl Cosigner {
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        if !valid_key_name(name) {
            return Err(Error::invalid(
                "name",
                "must be non-empty without spaces or '+'",
            ));
        }
        Ok(Cosigner {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    pub fn verifier(&self) -> CosignatureVerifier {
        CosignatureVerifier::new(&self.name, self.key.verifying_key())
    }

    /// The private key string `PRIVATE+KEY+<name>+<key ID>+base64(0x04 ‖
    /// seed)` (the signed-note signer-key form, with this type's byte).
    pub fn to_private_string(&self) -> String {
        let raw = [&[ALG_COSIGNATURE_V1][..], self.key.as_bytes()].concat();
        let id = self.verifier().key_id;
        format!("PRIVATE+KEY+{}+{id:08x}+{}", self.name, B64.encode(raw))
    }

    pub fn parse(skey: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("witness private key", why.to_owned());
        let rest = (skey.trim_end().strip_prefix("PRIVATE+KEY+"))
            .ok_or_else(|| bad("no PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (Some(name), Some(id_hex), Some(b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected PRIVATE+KEY+name+keyid+key"));
        };
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ALG_COSIGNATURE_V1, s)) => s.try_into().map_err(|_| bad("wrong seed length"))?,
            _ => return Err(bad("not a cosignature/v1 key (type 0x04)")),
        };
        let cosigner = Cosigner::from_seed(name, &seed)?;
        if format!("{:08x}", cosigner.verifier().key_id) != id_hex {
            return Err(bad("key ID does not match name and key"));
        }
        Ok(cosigner)
    }

    /// The cosignature line (newline-terminated) over checkpoint `text`.
    pub fn cosign(&self, text: &str, timestamp: u64) -> String {
        let sig = self.key.sign(signed_message(text, timestamp).as_bytes());
        let id = key_id(&self.name, self.key.verifying_key().as_bytes());
        let blob = [
            &id.to_be_bytes()[..],
            &timestamp.to_be_bytes(),
            &sig.to_bytes(),
        ]
        .concat();
        format!("{SIG_PREFIX}{} {}\n", self.name, B64.encode(blob))
    }
}

/// A witness's public key, as a vkey `name+keyid+base64(0x04 ‖ key)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CosignatureVerifier {
    pub name: String,
    pub key_id: u32,
    pub key: VerifyingKey,
}

impl CosignatureVerifier {
    pub fn new(name: &str, key: VerifyingKey) -> Self {
        CosignatureVerifier {
            name: name.to_owned(),
            key_id: key_id(name, key.as_bytes()),
            key,
        }
    }

    pub fn parse(vkey: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("witness key", why.to_owned());
        let mut parts = vkey.trim_end().splitn(3, '+');
        let (Some(name), Some(id_hex), Some(key_b64)) = (parts.next(), parts.next(), parts.next())
        else {
            return Err(bad("expected name+keyid+key"));
        };
        if !valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        let id_ok = id_hex.len() == 8
            && id_hex
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        let id = u32::from_str_radix(id_hex, 16).ok().filter(|_| id_ok);
        let id = id.ok_or_else(|| bad("key ID must be 8 lowercase hex digits"))?;
        let raw = B64.decode(key_b64).map_err(|_| bad("key is not base64"))?;
        let v = match raw.split_first() {
            Some((&ALG_COSIGNATURE_V1, pk)) if pk.len() == 32 => {
                CosignatureVerifier::new(name, signature::parse_public_key(pk, "witness key")?)
            }
            _ => {
                return Err(bad(
                    "not an Ed25519 cosignature/v1 key (type 0x04, 32 bytes)",
                ))
            }
        };
        if v.key_id != id {
            return Err(bad("key ID does not match name and key"));
        }
        Ok(v)
    }

    /// Checks one signature line (with or without its newline) over
    /// checkpoint `text`: `Ok(None)` if the line is by another key,
    /// `Ok(Some(timestamp))` if it is a valid cosignature by this one.
    pub fn verify_line(&self, text: &str, line: &str) -> Result<Option<u64>, Error> {
        let line = line.strip_suffix('\n').unwrap_or(line);
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| bad("a line must start with an em dash"))?;
        let (name, b64) = rest.split_once(' ').ok_or_else(|| bad("malformed line"))?;
        let blob = B64.decode(b64).map_err(|_| bad("not base64"))?;
        let id = blob
            .get(..4)
            .map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")));
        if name != self.name || id != Some(self.key_id) {
            return Ok(None);
        }
        if blob.len() != 4 + 8 + 64 {
            return Err(bad(
                "a cosignature/v1 is 76 bytes (key ID, timestamp, signature)",
            ));
        }
        let timestamp = u64::from_be_bytes(blob[4..12].try_into().expect("8 bytes"));
        if timestamp > MAX_TIMESTAMP {
            return Err(bad("timestamp above 2^63 - 1"));
        }
        let sig: [u8; 64] = blob[12..].try_into().expect("64 bytes");
        verify_strict(&self.key, signed_message(text, timestamp).as_bytes(), &sig)
            .map_err(|_| Error::Signature(format!("cosignature by {name} does not verify")))?;
        Ok(Some(timestamp))
    }
}

impl std::fmt::Display for CosignatureVerifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raw = [&[ALG_COSIGNATURE_V1][..], self.key.as_bytes()].concat();
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str =
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n";

    #[test]
    fn the_signed_message_is_the_specs() {
        assert_eq!(
            signed_message(TEXT, 1_679_315_147),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn cosignatures_verify_only_for_their_text_key_and_type() {
        // TEST FIXTURE key.
        let w = Cosigner::from_seed("witness.example/w1", &[7; 32]).unwrap();
        let v = CosignatureVerifier::parse(&w.verifier().to_string()).unwrap();
        assert_eq!(v, w.verifier());
        let again = Cosigner::parse(&w.to_private_string()).unwrap();
        assert_eq!(again.verifier(), v);
        let line = w.cosign(TEXT, 1_679_315_147);
        // SPEC.md §13's worked example (computed independently with
        // Python's `cryptography`).
        assert_eq!(
            v.to_string(),
            "witness.example/w1+aa4a09d1+BOpKbGPinFIKvvVQexMuxfmVR3auvr57kkIe6mkURtIs"
        );
        assert_eq!(line, "\u{2014} witness.example/w1 qkoJ0QAAAABkGFDLWr4Jea05CAgwNVtwky0Jgz6WfX0QJgM//FkB/W9BoT9TX0DkTxG+2cT4p/ViKNhUM/SnUwFcYQzugGFQ15LwDw==\n");
        assert!(line.starts_with("\u{2014} witness.example/w1 ") && line.ends_with('\n'));
        assert_eq!(v.verify_line(TEXT, &line), Ok(Some(1_679_315_147)));
        let other = TEXT.replace("20852163", "20852164");
        assert!(v.verify_line(&other, &line).is_err(), "another checkpoint");
        // The same key as a checkpoint (0x01) key has another key ID: its
        // lines are not this witness's.
        let log = crate::core::note::Signer::from_seed("witness.example/w1", &[7; 32]).unwrap();
        let note_line = log.sign(TEXT).unwrap();
        let note_line = note_line.rsplit_once("\n\n").unwrap().1;
        assert_eq!(v.verify_line(TEXT, note_line), Ok(None));
        assert!(CosignatureVerifier::parse(&log.verifier().to_string()).is_err());
    }
}
