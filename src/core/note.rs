//! C2SP signed notes (c2sp.org/signed-note) with Ed25519 keys, as used by
//! Go's golang.org/x/mod/sumdb/note: text, a blank line, then signature lines
//! `— <key name> <base64(key ID ‖ signature)>`.
//!
//! Key strings:
//! - verifier key: `<name>+<hex key ID>+<base64(0x01 ‖ public key)>`
//! - signer key:   `PRIVATE+KEY+<name>+<hex key ID>+<base64(0x01 ‖ seed)>`
//!
//! where key ID = first 4 bytes (big-endian) of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key).

use super::signature::{self, verify_strict};
use super::{sha256, Error};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use ed25519_dalek::{Signer as _, SigningKey, VerifyingKey};

/// Algorithm byte of Ed25519 keys in signed notes.
const ALG_ED25519: u8 = 0x01;
/// The signature line prefix: U+2014 EM DASH and a space.
const SIG_PREFIX: &str = "\u{2014} ";
/// Go's note package refuses notes with more than 100 signatures; so do we.
const MAX_SIGNATURES: usize = 100;

fn note_err(why: impl Into<String>) -> Error {
    Error::malformed("signed note", why)
}

/// A key name is non-empty and has no Unicode whitespace and no `+`.
pub fn valid_key_name(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(|c| c.is_whitespace() || c == '+')
}

pub fn key_id(name: &str, public_key: &[u8; 32]) -> u32 {
    let digest = sha256(&[name.as_bytes(), b"\n", &[ALG_ED25519], public_key].concat());
    u32::from_be_bytes(digest[..4].try_into().expect("4 bytes"))
}

/// A note verifier key: name, key ID and Ed25519 public key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verifier {
    pub name: String,
    pub key_id: u32,
    pub key: VerifyingKey,
}

impl Verifier {
    pub fn new(name: &str, key: VerifyingKey) -> Self {
        Verifier {
            name: name.to_owned(),
            key_id: key_id(name, key.as_bytes()),
            key,
        }
    }

    /// Parses `name+keyid+base64(0x01‖key)`, checking the key ID.
    pub fn parse(vkey: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("verifier key", why.to_owned());
        let mut parts = vkey.trim_end().splitn(3, '+');
        let (name, id_hex, key_b64) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad("expected name+keyid+key")),
        };
        if !valid_key_name(name) {
            return Err(bad("invalid key name"));
        }
        if id_hex.len() != 8
            || !id_hex
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return Err(bad("key ID must be 8 lowercase hex digits"));
        }
        let id = u32::from_str_radix(id_hex, 16).map_err(|_| bad("bad key ID"))?;
        let raw = B64.decode(key_b64).map_err(|_| bad("key is not base64"))?;
        match raw.split_first() {
            Some((&ALG_ED25519, pk)) if pk.len() == 32 => {
                let key = signature::parse_public_key(pk, "verifier key")?;
                let v = Verifier::new(name, key);
                if v.key_id != id {
                    return Err(bad("key ID does not match name and key"));
                }
                Ok(v)
            }
            Some((&ALG_ED25519, _)) => Err(bad("wrong Ed25519 key length")),
            _ => Err(bad("unknown or missing algorithm byte")),
        }
    }
}

impl std::fmt::Display for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let raw = [&[ALG_ED25519][..], self.key.as_bytes()].concat();
        write!(f, "{}+{:08x}+{}", self.name, self.key_id, B64.encode(raw))
    }
}

/// A note signer key (private).
pub struct Signer {
    pub name: String,
    key: SigningKey,
}

impl Signer {
    /// A signer from a 32-byte Ed25519 seed (the caller supplies randomness).
    pub fn from_seed(name: &str, seed: &[u8; 32]) -> Result<Self, Error> {
        if !valid_key_name(name) {
            return Err(Error::invalid(
                "origin",
                "must be non-empty without spaces or '+'",
            ));
        }
        Ok(Signer {
            name: name.to_owned(),
            key: SigningKey::from_bytes(seed),
        })
    }

    /// Parses `PRIVATE+KEY+name+keyid+base64(0x01‖seed)`.
    pub fn parse(skey: &str) -> Result<Self, Error> {
        let bad = |why: &str| Error::malformed("signer key", why.to_owned());
        let rest = skey
            .trim_end()
            .strip_prefix("PRIVATE+KEY+")
            .ok_or_else(|| bad("missing PRIVATE+KEY+ prefix"))?;
        let mut parts = rest.splitn(3, '+');
        let (name, id_hex, b64) = match (parts.next(), parts.next(), parts.next()) {
            (Some(n), Some(i), Some(k)) => (n, i, k),
            _ => return Err(bad("expected PRIVATE+KEY+name+keyid+key")),
        };
        let raw = B64.decode(b64).map_err(|_| bad("key is not base64"))?;
        let seed: [u8; 32] = match raw.split_first() {
            Some((&ALG_ED25519, s)) => s.try_into().map_err(|_| bad("wrong seed length"))?,
            _ => return Err(bad("unknown algorithm byte")),
        };
        let signer = Signer::from_seed(name, &seed)?;
        if format!("{:08x}", signer.verifier().key_id) != id_hex {
            return Err(bad("key ID does not match name and key"));
        }
        Ok(signer)
    }

    pub fn verifier(&self) -> Verifier {
        Verifier::new(&self.name, self.key.verifying_key())
    }

    /// The private key string (keep it secret: mode 0600 on disk).
    pub fn to_private_string(&self) -> String {
        let raw = [&[ALG_ED25519][..], self.key.as_bytes()].concat();
        format!(
            "PRIVATE+KEY+{}+{:08x}+{}",
            self.name,
            self.verifier().key_id,
            B64.encode(raw)
        )
    }

    /// Signs `text` (which must end in a newline and contain no blank line)
    /// and returns the complete signed note.
    pub fn sign(&self, text: &str) -> Result<String, Error> {
        check_text(text)?;
        let sig = self.key.sign(text.as_bytes()).to_bytes();
        let blob = [&self.verifier().key_id.to_be_bytes()[..], &sig].concat();
        Ok(format!(
            "{text}\n{SIG_PREFIX}{} {}\n",
            self.name,
            B64.encode(blob)
        ))
    }
}

fn check_text(text: &str) -> Result<(), Error> {
    if !text.ends_with('\n') {
        return Err(note_err("text must end with a newline"));
    }
    if text.contains("\n\n") || text.starts_with('\n') {
        return Err(note_err("text must not contain blank lines"));
    }
    if text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(note_err("text must not contain control characters"));
    }
    Ok(())
}

/// Opens a signed note: checks its structure and that at least one signature
/// line is by `verifier` and verifies. Lines by other keys are ignored, as in
/// C2SP. Returns the note text (everything up to the blank line, newline-terminated).
pub fn open<'a>(note: &'a str, verifier: &Verifier) -> Result<&'a str, Error> {
    let split = note
        .rfind("\n\n")
        .ok_or_else(|| note_err("no blank line before signatures"))?;
    let (text, sigs) = (&note[..split + 1], &note[split + 2..]);
    check_text(text)?;
    if !sigs.ends_with('\n') {
        return Err(note_err("signature block must end with a newline"));
    }
    let mut verified = false;
    let lines: Vec<&str> = sigs[..sigs.len() - 1].split('\n').collect();
    if lines.len() > MAX_SIGNATURES {
        return Err(note_err("too many signatures"));
    }
    for line in lines {
        let rest = line
            .strip_prefix(SIG_PREFIX)
            .ok_or_else(|| note_err("signature line must start with an em dash"))?;
        let (name, b64) = rest
            .split_once(' ')
            .ok_or_else(|| note_err("malformed signature line"))?;
        if !valid_key_name(name) || b64.contains(' ') {
            return Err(note_err("malformed signature line"));
        }
        let blob = B64
            .decode(b64)
            .map_err(|_| note_err("signature is not base64"))?;
        if blob.len() < 4 {
            return Err(note_err("signature too short"));
        }
        let id = u32::from_be_bytes(blob[..4].try_into().expect("4 bytes"));
        if name != verifier.name || id != verifier.key_id {
            continue; // an unknown key, e.g. a witness cosignature
        }
        let sig: [u8; 64] = blob[4..]
            .try_into()
            .map_err(|_| note_err("Ed25519 signature must be 64 bytes"))?;
        verify_strict(&verifier.key, text.as_bytes(), &sig)
            .map_err(|_| Error::Signature(format!("note signature by {name} does not verify")))?;
        verified = true;
    }
    if !verified {
        return Err(Error::Signature(format!(
            "note has no signature by {}+{:08x}",
            verifier.name, verifier.key_id
        )));
    }
    Ok(text)
}
