//! SPEC.md "Name vectors": every row's conflict keys, flags and admission
//! verdict are recomputed with `core::names` and must match the text, so a
//! third party reproducing §3.4 and §5.4 can check itself against the same
//! table.

use accord::core::names::{check_name_chars, conflict_keys, mixed_script};

/// Replaces each `\u{X}` escape by the code point X.
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(at) = rest.find("\\u{") {
        out.push_str(&rest[..at]);
        let end = rest[at..].find('}').expect("closing brace") + at;
        let cp = u32::from_str_radix(&rest[at + 3..end], 16).expect("hex");
        out.push(char::from_u32(cp).expect("scalar value"));
        rest = &rest[end + 1..];
    }
    out + rest
}

/// Escapes everything outside printable ASCII, as the table writes keys.
fn escape(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c.to_string()
            } else {
                format!("\\u{{{:X}}}", c as u32)
            }
        })
        .collect()
}

fn block() -> Vec<String> {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md")).unwrap();
    let start = spec
        .find("```name-vectors\n")
        .expect("SPEC.md has a name-vectors block");
    let body = &spec[start + "```name-vectors\n".len()..];
    let end = body.find("```").expect("block ends");
    body[..end]
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

/// What the implementation says for one name, in the table's format.
fn row(name: &str, verified: &[Vec<String>]) -> String {
    let keys = conflict_keys(name);
    let mut flags = Vec::new();
    if verified.iter().any(|v| v.iter().any(|k| keys.contains(k))) {
        flags.push("name-conflict");
    }
    if mixed_script(name) {
        flags.push("mixed-script");
    }
    let flags = if flags.is_empty() {
        "-".to_owned()
    } else {
        flags.join(" ")
    };
    let admission = match check_name_chars("organization_name", name) {
        Ok(()) => "ok".to_owned(),
        Err(e) => {
            let e = e.to_string();
            match e.find("U+") {
                Some(at) => format!("refused {}", e[at..].split(' ').next().unwrap()),
                None if e.contains("NFC") => "refused NFC".to_owned(),
                None => format!("refused {e}"),
            }
        }
    };
    let keys: Vec<String> = keys.iter().map(|k| escape(k)).collect();
    format!(
        "{} | {} | {flags} | {admission}",
        escape(name),
        keys.join(" ; ")
    )
}

#[test]
fn name_vectors_match_the_implementation() {
    let lines = block();
    let mut verified: Vec<Vec<String>> = Vec::new();
    let mut rows = 0;
    let mut mismatches = Vec::new();
    for line in &lines {
        if let Some(name) = line.strip_prefix("verified: ") {
            verified.push(conflict_keys(&unescape(name)));
            continue;
        }
        let name = unescape(line.split(" | ").next().unwrap());
        let want: Vec<&str> = line.split(" | ").collect();
        let got = row(&name, &verified);
        let got: Vec<&str> = got.split(" | ").collect();
        // The name column may be written with fewer escapes than `escape`
        // produces: compare the other columns as text.
        if want[1..] != got[1..] {
            mismatches.push(format!("{line}\n  implementation: {}", got.join(" | ")));
        }
        rows += 1;
    }
    assert!(!verified.is_empty() && rows >= 10, "{rows} rows");
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn the_escapes_round_trip() {
    let s = "Govern\u{200B}ment of Est\u{43E}nia";
    assert_eq!(unescape(&escape(s)), s);
}
