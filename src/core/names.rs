//! Names as people read them (SPEC.md §3.4 and §5.4 "Flags"): which
//! characters a displayed name may hold, and the key and flags that catch
//! look-alikes of a verified name.
//!
//! All Unicode data comes from crates, every one generated from Unicode
//! 16.0.0 and pinned exactly in Cargo.toml (a test below checks each
//! crate's version): `unicode-normalization` (NFC, NFKC, canonical combining
//! class), `caseless` (default case folding), `unicode-security` (UTS #39
//! confusable skeletons, augmented script sets), `unicode-script`
//! (Script_Extensions), `unicode-joining-type` (Joining_Type for RFC 5892
//! CONTEXTJ), `unicode-bidi` (display order of names logged with bidi
//! controls before they were refused). The one table of our own, Default_Ignorable_Code_Point, is
//! copied from DerivedCoreProperties.txt of the same version: none of the
//! pinned crates exposes it.

use super::Error;
use unicode_joining_type::{get_joining_type, JoiningType};
use unicode_normalization::char::canonical_combining_class;
use unicode_normalization::UnicodeNormalization;
use unicode_script::Script;
use unicode_security::mixed_script::AugmentedScriptSet;

/// The Unicode version of every property and mapping used here (SPEC.md §3.4).
pub const UNICODE_VERSION: (u64, u64, u64) = (16, 0, 0);

/// Entries integrated at or after this time (2026-12-01T00:00:00Z, in ms)
/// must satisfy the name rule of SPEC.md §3.4; admission applies it always.
pub const STRICT_NAMES_FROM_MS: u64 = 1_796_083_200_000;

/// True if an entry judged at `now` (Unix seconds: `integrated_at / 1000`
/// when auditing) falls under the name rule.
pub fn strict_at(now: u64) -> bool {
    now >= STRICT_NAMES_FROM_MS / 1000
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';
/// Canonical_Combining_Class of viramas (RFC 5892 Appendix A: "Virama").
const VIRAMA: u8 = 9;

/// The bidirectional controls: ALM, LRM, RLM, LRE..RLO, LRI..PDI.
pub fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
    )
}

/// Default_Ignorable_Code_Point = Yes, from DerivedCoreProperties.txt of
/// Unicode 16.0.0 (https://www.unicode.org/Public/16.0.0/ucd/), ranges
/// merged. Includes every bidirectional control.
const DEFAULT_IGNORABLE: &[(char, char)] = &[
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Default_Ignorable_Code_Point (invisible unless a renderer chooses to
/// show it): zero-width spaces and joiners, bidirectional controls,
/// variation selectors, fillers, tags, the soft hyphen…
pub fn is_default_ignorable(c: char) -> bool {
    DEFAULT_IGNORABLE
        .binary_search_by(|&(lo, hi)| {
            if hi < c {
                std::cmp::Ordering::Less
            } else if lo > c {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .is_ok()
}

/// RFC 5892 Appendix A.1 (ZWNJ) and A.2 (ZWJ), the CONTEXTJ rules: either
/// may follow a virama; ZWNJ may also stand between a left- or
/// dual-joining character and a right- or dual-joining one, with only
/// transparent characters (combining marks) in between.
fn contextj_allows(chars: &[char], i: usize) -> bool {
    if i > 0 && canonical_combining_class(chars[i - 1]) == VIRAMA {
        return true;
    }
    if chars[i] != ZWNJ {
        return false;
    }
    let joining = |c: &&char| get_joining_type(**c) != JoiningType::Transparent;
    let before = chars[..i].iter().rev().find(joining).copied();
    let after = chars[i + 1..].iter().find(joining).copied();
    matches!(
        before.map(get_joining_type),
        Some(JoiningType::LeftJoining | JoiningType::DualJoining)
    ) && matches!(
        after.map(get_joining_type),
        Some(JoiningType::RightJoining | JoiningType::DualJoining)
    )
}

/// The name rule (SPEC.md §3.4) for a displayed name (`organization_name`,
/// a verification's `name`, a commitment's `title` and `version`): no
/// bidirectional control, no other default-ignorable character except ZWNJ
/// and ZWJ where RFC 5892 CONTEXTJ allows them, and Unicode NFC. The error
/// names the field and the code point, or shows the NFC form to sign.
pub fn check_name_chars(field: &'static str, s: &str) -> Result<(), Error> {
    let chars: Vec<char> = s.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        let what = if is_bidi_control(c) {
            "a bidirectional control"
        } else if c == ZWNJ || c == ZWJ {
            if contextj_allows(&chars, i) {
                continue;
            }
            "a zero-width joiner or non-joiner outside the contexts RFC 5892 Appendix A allows (after a virama; for U+200C also between joining letters)"
        } else if is_default_ignorable(c) {
            "an invisible (Default_Ignorable_Code_Point) character"
        } else {
            continue;
        };
        return Err(Error::invalid(
            field,
            format!(
                "U+{:04X} at character {} is {what}: not allowed in names",
                c as u32,
                i + 1
            ),
        ));
    }
    if !unicode_normalization::is_nfc(s) {
        let nfc: String = s.nfc().collect();
        return Err(Error::invalid(
            field,
            format!(
                "is not in Unicode normalization form C (NFC); sign its NFC form instead: {nfc:?}"
            ),
        ));
    }
    Ok(())
}

/// The key `name-conflict` compares (SPEC.md §5.4): NFKC, full default case
/// folding (locale-independent), NFKC again, every default-ignorable
/// character removed, the UTS #39 confusable skeleton, default case folding
/// and NFD once more, then runs of White_Space collapsed to one space and
/// trimmed. Names with equal keys
/// look alike ("Gоvernment  of ESTONIA" with a Cyrillic о, "Government of
/// Estonia").
pub fn conflict_key(name: &str) -> String {
    let nfkc: String = name.nfkc().collect();
    let folded = caseless::default_case_fold_str(&nfkc);
    let visible: String = folded
        .nfkc()
        .filter(|c| !is_default_ignorable(*c))
        .collect();
    let skeleton: String = unicode_security::skeleton(&visible).collect();
    // Prototypes may be capitals ("0" → "O"): fold once more.
    let folded: String = caseless::default_case_fold_str(&skeleton).nfd().collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// What a record's flags need to know about one of its names (SPEC.md
/// §5.4 "Flags"): its conflict keys and whether a word of it is
/// mixed-script. Computing them (NFKC, case folding, UTS #39 skeletons,
/// script sets) costs ≈ 10 µs per name, which made a page of 100 records
/// cost milliseconds; they depend on the name alone, so servers cache them
/// by name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NameFacts {
    pub conflict_keys: Vec<String>,
    pub mixed_script: bool,
}

impl NameFacts {
    pub fn of(name: &str) -> NameFacts {
        NameFacts {
            conflict_keys: conflict_keys(name),
            mixed_script: mixed_script(name),
        }
    }
}

/// Every key under which `name` can be read: its [`conflict_key`] and, if
/// it holds a bidirectional control (possible only in entries integrated
/// before [`STRICT_NAMES_FROM_MS`]), also the key of its display order —
/// each paragraph reordered as one line by the Unicode Bidirectional
/// Algorithm (UAX #9, rule L2; paragraph level from its first strong
/// character), so "Government of " + RLO + "ainotsE", shown as "Government of
/// Estonia", has that name's key too.
pub fn conflict_keys(name: &str) -> Vec<String> {
    let mut keys = vec![conflict_key(name)];
    if name.chars().any(is_bidi_control) {
        let info = unicode_bidi::BidiInfo::new(name, None);
        let visual: String = (info.paragraphs.iter())
            .map(|p| info.reorder_line(p, p.range.clone()))
            .collect();
        let key = conflict_key(&visual);
        if key != keys[0] {
            keys.push(key);
        }
    }
    keys
}

/// True if some word of `name` (split on White_Space) mixes scripts beyond
/// what UTS #39 §5.2 "Highly Restrictive" allows: its characters' augmented
/// script sets have an empty intersection, and those of its characters
/// whose Script_Extensions do not include Latin do not share Han with
/// Bopomofo, Japanese or Korean.
pub fn mixed_script(name: &str) -> bool {
    name.split_whitespace().any(word_mixes_scripts)
}

fn word_mixes_scripts(word: &str) -> bool {
    let mut all = AugmentedScriptSet::default();
    let mut non_latin = AugmentedScriptSet::default();
    for c in word.chars() {
        let set = AugmentedScriptSet::for_char(c);
        all.intersect_with(set);
        if !set.base.contains_script(Script::Latin) {
            non_latin.intersect_with(set);
        }
    }
    all.is_empty() && !(non_latin.hanb || non_latin.jpan || non_latin.kore)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ESTONIA: &str = "Government of Estonia";

    fn refused(s: &str) -> String {
        check_name_chars("organization_name", s)
            .expect_err(s)
            .to_string()
    }

    #[test]
    fn every_crate_is_at_the_pinned_unicode_version() {
        let v = UNICODE_VERSION;
        let n = unicode_normalization::UNICODE_VERSION;
        assert_eq!((n.0 as u64, n.1 as u64, n.2 as u64), v);
        assert_eq!(unicode_security::UNICODE_VERSION, v);
        assert_eq!(unicode_script::UNICODE_VERSION, v);
        assert_eq!(caseless::UNICODE_VERSION, v);
        assert_eq!(unicode_joining_type::UNICODE_VERSION, v);
        assert_eq!(unicode_bidi::UNICODE_VERSION, v);
        let spec = include_str!("../../SPEC.md");
        let (a, b, c) = v;
        assert!(
            spec.contains(&format!("Unicode {a}.{b}.{c}")),
            "SPEC.md must state Unicode {a}.{b}.{c}"
        );
    }

    #[test]
    fn cutover_is_2026_12_01() {
        // 20788 days from 1970-01-01 to 2026-12-01.
        assert_eq!(STRICT_NAMES_FROM_MS, 20_788 * 86_400 * 1000);
        assert!(!strict_at(STRICT_NAMES_FROM_MS / 1000 - 1));
        assert!(strict_at(STRICT_NAMES_FROM_MS / 1000));
    }

    #[test]
    fn default_ignorable_table_agrees_with_unicode_security() {
        // unicode-security's identifier types mark default-ignorables too
        // (same Unicode version): every one of them is in our table.
        use unicode_security::general_security_profile::IdentifierType;
        use unicode_security::GeneralSecurityProfile;
        let mut seen = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            if c.identifier_type() == Some(IdentifierType::Default_Ignorable) {
                assert!(is_default_ignorable(c), "U+{:04X}", c as u32);
                seen += 1;
            }
        }
        assert!(seen > 100, "{seen}");
        assert!(DEFAULT_IGNORABLE.windows(2).all(|w| w[0].1 < w[1].0));
    }

    #[test]
    fn bidi_controls_are_refused_naming_the_code_point() {
        for c in [
            '\u{061C}', '\u{200E}', '\u{200F}', '\u{202A}', '\u{202B}', '\u{202C}',
        ]
        .into_iter()
        .chain([
            '\u{202D}', '\u{202E}', '\u{2066}', '\u{2067}', '\u{2068}', '\u{2069}',
        ]) {
            assert!(is_bidi_control(c) && is_default_ignorable(c));
            let msg = refused(&format!("Government of {c}ainotsE"));
            assert!(
                msg.starts_with(&format!(
                    "organization_name: U+{:04X} at character 15 is a bidirectional control",
                    c as u32
                )),
                "{msg}"
            );
        }
    }

    #[test]
    fn invisible_characters_are_refused() {
        for c in [
            '\u{200B}',
            '\u{2060}',
            '\u{FEFF}',
            '\u{00AD}',
            '\u{3164}',
            '\u{FE0F}',
            '\u{E0041}',
        ] {
            let msg = refused(&format!("Govern{c}ment of Estonia"));
            assert!(
                msg.contains(&format!(
                    "U+{:04X} at character 7 is an invisible",
                    c as u32
                )),
                "{msg}"
            );
        }
    }

    #[test]
    fn zero_width_joiners_only_where_contextj_allows() {
        // Refused between Latin letters (the example).
        let msg = refused("Govern\u{200D}ment of Estonia");
        assert!(msg.contains("U+200D at character 7"), "{msg}");
        assert!(refused("Govern\u{200C}ment").contains("U+200C"));
        assert!(refused("\u{200C}Estonia").contains("U+200C"));
        // Persian: ZWNJ after a dual-joining letter, before a dual-joining
        // one ("می‌خواهم", I want).
        check_name_chars("organization_name", "وزارت امور خارجه می\u{200C}خواهم").unwrap();
        // ... also with a transparent mark in between (fatha after yeh).
        check_name_chars("organization_name", "می\u{064E}\u{200C}خواهم").unwrap();
        // After a right-joining letter (dal) ZWNJ joins nothing: refused.
        assert!(refused("د\u{200C}خ").contains("U+200C"));
        // Devanagari: virama then ZWJ (half form) or ZWNJ (explicit virama).
        check_name_chars("organization_name", "क्\u{200D}ष").unwrap();
        check_name_chars("organization_name", "क्\u{200C}ष").unwrap();
        // ZWJ needs the virama right before it.
        assert!(refused("क\u{200D}ष").contains("U+200D"));
    }

    #[test]
    fn names_must_be_nfc_and_the_message_shows_the_nfc_form() {
        let msg = refused("Cafe\u{0301} de Paris");
        assert!(msg.contains("NFC"), "{msg}");
        assert!(msg.contains("\"Caf\u{e9} de Paris\""), "{msg}");
        check_name_chars("organization_name", "Caf\u{e9} de Paris").unwrap();
        // NFC but not NFKC is fine: only canonical form is required.
        check_name_chars("organization_name", "\u{FB01}nance").unwrap();
        check_name_chars("organization_name", ESTONIA).unwrap();
    }

    #[test]
    fn look_alikes_share_the_verified_names_key() {
        let key = conflict_key(ESTONIA);
        for name in [
            "Government of Est\u{043E}nia",
            "G\u{043E}v\u{0435}rnm\u{0435}nt \u{043E}f \u{0415}st\u{043E}ni\u{0430}",
            "Government of \u{202E}ainotsE",
            "Govern\u{200B}ment of Estonia",
            "Govern\u{200D}ment of Estonia",
            "GOVERNMENT  OF\u{3000}ESTONIA",
            "Ｇｏｖｅｒｎｍｅｎｔ of Estonia",
            "Govemment of Estonia",
            "Government 0f EstonIa",
        ] {
            assert!(conflict_keys(name).contains(&key), "{name:?}");
        }
        // The override's logical order is reversed: only the display
        // order's key matches.
        assert_eq!(conflict_keys("Government of \u{202E}ainotsE")[1], key);
        assert_eq!(conflict_keys(ESTONIA), vec![key.clone()]);
        // Decomposed vs composed.
        assert_eq!(
            conflict_key("Gouvernement de l'\u{C9}tat"),
            conflict_key("Gouvernement de l'E\u{0301}tat")
        );
        // Full case folding: ß = ss.
        assert_eq!(conflict_key("Stra\u{DF}e"), conflict_key("STRASSE"));
        assert_ne!(conflict_key("Government of Latvia"), key);
    }

    #[test]
    fn mixed_script_is_judged_per_word() {
        assert!(mixed_script("G\u{043E}vernment of Estonia"));
        assert!(mixed_script("Government of Est\u{043E}nia"));
        assert!(!mixed_script(
            "Ministry of Foreign Affairs / Министерство иностранных дел"
        ));
        assert!(!mixed_script(ESTONIA));
        assert!(!mixed_script("Министерство"));
        // Latin with Han and Kana (Japanese) is highly restrictive: allowed.
        assert!(!mixed_script("NTTドコモ"));
        assert!(!mixed_script("G7"));
        assert!(mixed_script("Αthens"), "Greek Alpha in a Latin word");
    }
}
