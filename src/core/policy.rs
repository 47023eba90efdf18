//! C2SP tlog-policy (https://c2sp.org/tlog-policy): which logs, which
//! witnesses, and the quorum of cosignatures a checkpoint needs before a
//! verifier trusts it (the defence against split views). Parsing is
//! strict: unknown keywords, names used before they are defined, duplicate
//! keys or members, and thresholds out of range are refused with the line.

use super::cosignature::CosignatureVerifier;
use super::note::{self, Verifier};
use super::Error;
use std::collections::{BTreeSet, HashMap};

/// Past these, a policy is refused (the spec recommends supporting 32 of each).
const MAX_LOGS: usize = 64;
const MAX_WITNESSES: usize = 64;
const MAX_GROUPS: usize = 64;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyLog {
    pub key: Verifier,
    pub url: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyWitness {
    pub name: String,
    pub key: CosignatureVerifier,
    /// The submission prefix: the log POSTs to `<url>/add-checkpoint`.
    pub url: Option<String>,
}

/// A quorum rule: a witness, or at least `k` of a group's members.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Rule {
    None,
    Witness(usize),
    Group { k: usize, members: Vec<Rule> },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub logs: Vec<PolicyLog>,
    pub witnesses: Vec<PolicyWitness>,
    quorum: Rule,
    /// The file as parsed: what the web page shows readers, who check
    /// checkpoints with it in their browser.
    pub source: String,
}

fn line_err(n: usize, why: impl std::fmt::Display) -> Error {
    Error::malformed("policy", format!("line {n}: {why}"))
}

impl Policy {
    pub fn parse(text: &str) -> Result<Policy, Error> {
        if let Some(b) = text
            .bytes()
            .find(|b| b.is_ascii_control() && *b != b'\t' && *b != b'\n')
        {
            return Err(Error::malformed(
                "policy",
                format!("control character 0x{b:02x}"),
            ));
        }
        let mut logs: Vec<PolicyLog> = Vec::new();
        let mut witnesses: Vec<PolicyWitness> = Vec::new();
        let mut names: HashMap<String, Rule> = HashMap::new();
        let mut groups = 0;
        let mut quorum = None;
        for (i, line) in text.split('\n').enumerate() {
            let n = i + 1;
            let words: Vec<&str> = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect();
            let Some(keyword) = words.first() else {
                continue;
            };
            if keyword.starts_with('#') {
                continue;
            }
            let err = |why: &str| line_err(n, why);
            match (*keyword, &words[1..]) {
                ("log", [vkey, url @ ..]) if url.len() <= 1 => {
                    let key = Verifier::parse(vkey).map_err(|e| line_err(n, e))?;
                    if logs.iter().any(|l| l.key.key == key.key) {
                        return Err(err("a duplicate log key"));
                    }
                    logs.push(PolicyLog { key, url: url.first().map(|u| u.to_string()) });
                }
                ("witness", [name, vkey, url @ ..]) if url.len() <= 1 => {
                    let key = CosignatureVerifier::parse(vkey).map_err(|e| line_err(n, e))?;
                    if witnesses.iter().any(|w| w.key.key == key.key) {
                        return Err(err("a duplicate witness key"));
                    }
                    define(&mut names, name, Rule::Witness(witnesses.len()), n)?;
                    let url = url.first().map(|u| u.trim_end_matches('/').to_owned());
                    witnesses.push(PolicyWitness { name: name.to_string(), key, url });
                }
                ("group", [name, k, members @ ..]) if !members.is_empty() => {
                    let mut seen = BTreeSet::new();
                    let mut rules = Vec::new();
                    for m in members {
                        if *m == "none" || !seen.insert(*m) {
                            return Err(line_err(n, format!("member {m:?} is `none` or listed twice")));
                        }
                        let rule = names.get(*m).ok_or_else(|| line_err(n, format!("{m:?} is not defined above")))?;
                        rules.push(rule.clone());
                    }
                    let k = match *k {
                        "all" => rules.len(),
                        "any" => 1,
                        k => match k.parse::<usize>() {
                            Ok(v) if (1..=rules.len()).contains(&v) && v.to_string() == k => v,
                            _ => return Err(err("the threshold must be all, any or 1 ≤ k ≤ members")),
                        },
                    };
                    groups += 1;
                    define(&mut names, name, Rule::Group { k, members: rules }, n)?;
                }
                ("quorum", [name]) => {
                    if quorum.is_some() {
                        return Err(err("a second quorum line"));
                    }
                    quorum = Some(match *name {
                        "none" => Rule::None,
                        name => names.get(name).cloned().ok_or_else(|| line_err(n, format!("{name:?} is not defined above")))?,
                    });
                }
                _ => return Err(err("expected `log <vkey> [url]`, `witness <name> <vkey> [url]`, `group <name> <all|any|k> <names…>` or `quorum <name>`")),
            }
            if logs.len() > MAX_LOGS || witnesses.len() > MAX_WITNESSES || groups > MAX_GROUPS {
                return Err(err("more than 64 logs, witnesses or groups"));
            }
        }
        let quorum = quorum.ok_or_else(|| Error::malformed("policy", "no quorum line"))?;
        Ok(Policy {
            logs,
            witnesses,
            quorum,
            source: text.to_owned(),
        })
    }

    /// True if the witnesses at these positions satisfy the quorum.
    pub fn satisfied(&self, cosigned: &BTreeSet<usize>) -> bool {
        fn holds(rule: &Rule, cosigned: &BTreeSet<usize>) -> bool {
            match rule {
                Rule::None => true,
                Rule::Witness(i) => cosigned.contains(i),
                Rule::Group { k, members } => {
                    members.iter().filter(|m| holds(m, cosigned)).count() >= *k
                }
            }
        }
        holds(&self.quorum, cosigned)
    }

    /// The witnesses whose valid cosignature a signed note carries.
    /// A line by a policy witness that does not verify is an error (a
    /// malformed note, as in signed-note); lines by other keys are ignored.
    pub fn cosigners(&self, note_text: &str, signatures: &str) -> Result<BTreeSet<usize>, Error> {
        let mut out = BTreeSet::new();
        for line in signatures.lines() {
            for (i, w) in self.witnesses.iter().enumerate() {
                if w.key.verify_line(note_text, line)?.is_some() {
                    out.insert(i);
                }
            }
        }
        Ok(out)
    }

    /// Verifies a checkpoint against the policy: a valid signature by one
    /// of its logs, and cosignatures meeting the quorum. Returns the note
    /// text (the checkpoint's lines).
    pub fn verify<'a>(&self, note: &'a str) -> Result<&'a str, Error> {
        let mut last = Error::Signature("the policy lists no log".into());
        for log in &self.logs {
            match note::open(note, &log.key) {
                Ok(text) => {
                    let signatures = &note[text.len() + 1..];
                    let cosigned = self.cosigners(text, signatures)?;
                    if !self.satisfied(&cosigned) {
                        return Err(Error::Signature(format!(
                            "the checkpoint's cosignatures ({} of the policy's witnesses) do not meet the policy's quorum",
                            cosigned.len()
                        )));
                    }
                    return Ok(text);
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

fn define(
    names: &mut HashMap<String, Rule>,
    name: &str,
    rule: Rule,
    n: usize,
) -> Result<(), Error> {
    if name == "none" || names.contains_key(name) {
        return Err(line_err(
            n,
            format!("the name {name:?} is reserved or already defined"),
        ));
    }
    names.insert(name.to_owned(), rule);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::cosignature::Cosigner;
    use crate::core::note::Signer;

    fn witness(i: u8) -> Cosigner {
        Cosigner::from_seed(&format!("w{i}.example"), &[i; 32]).unwrap() // TEST FIXTURE keys
    }

    #[test]
    fn quorums_of_groups_count_as_the_spec_says() {
        let log = Signer::from_seed("log.example", &[1; 32]).unwrap();
        let text = format!(
            "log {}\n  # comment\n\nwitness X1 {} https://x1.example/\nwitness X2 {}\nwitness X3 {}\ngroup X 2 X1 X2 X3\nwitness Y1 {}\ngroup Y any Y1\ngroup XY all X Y\nquorum XY\n",
            log.verifier(), witness(11).verifier(), witness(12).verifier(), witness(13).verifier(), witness(21).verifier()
        );
        let p = Policy::parse(&text).unwrap();
        assert_eq!(p.witnesses[0].url.as_deref(), Some("https://x1.example"));
        let set = |v: &[usize]| v.iter().copied().collect::<BTreeSet<_>>();
        assert!(p.satisfied(&set(&[0, 1, 3])));
        assert!(!p.satisfied(&set(&[0, 1])), "no Y");
        assert!(!p.satisfied(&set(&[0, 3])), "one X");
        // A checkpoint cosigned by X1, X3 and Y1 verifies; by X1 and Y1 not.
        let cp = log
            .sign("log.example\n5\nAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n")
            .unwrap();
        let body = cp.split_once("\n\n").unwrap().0.to_owned() + "\n";
        let with = |ws: &[u8]| {
            ws.iter().fold(cp.clone(), |n, i| {
                n + &witness(*i).cosign(&body, 1_700_000_000)
            })
        };
        assert!(p.verify(&with(&[11, 13, 21])).is_ok());
        assert!(p.verify(&with(&[11, 21])).is_err());
        assert!(
            p.verify(&with(&[99])).is_err(),
            "unknown witnesses do not count"
        );
        assert!(
            Policy::parse(&format!("log {}\nquorum none\n", log.verifier()))
                .unwrap()
                .verify(&cp)
                .is_ok()
        );
    }

    #[test]
    fn bad_policies_are_refused_with_the_line() {
        let w = witness(11).verifier();
        for bad in [
            format!("witness A {w}\nquorum B\n"),
            format!("witness A {w}\nwitness B {w}\nquorum A\n"),
            format!("witness A {w}\ngroup G 2 A\nquorum G\n"),
            format!("witness A {w}\ngroup G 01 A\nquorum G\n"),
            format!("witness A {w}\ngroup G any A A\nquorum G\n"),
            format!("witness none {w}\nquorum none\n"),
            format!("witness A {w}\nquorum A\nquorum A\n"),
            format!("witness A {w}\n"),
            format!("witnesses A {w}\nquorum none\n"),
            "quorum none\r\n".to_owned(),
        ] {
            assert!(Policy::parse(&bad).is_err(), "{bad:?}");
        }
    }
}
