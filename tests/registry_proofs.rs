//! Registry proofs end to end through the `accord` binary: the demo log,
//! `accord prove` for a verified government (current), a withdrawn
//! organization (withdrawn), an unknown key (absent) and a current key;
//! `accord verify --registry-proof` and the Python verifier agree on each,
//! refuse every tampered or forged file, and proofs made before a restart
//! still verify while new ones extend them. Plus a log whose map head lies:
//! `accord audit` calls it misbehaviour (exit 4) with evidence.

mod common;

use accord::core::entry::{Entry, Signed};
use accord::core::map::MemoryMap;
use accord::core::map_head::MapHead;
use accord::core::registry::MapKey;
use accord::core::registry_proof::{Found, Item, RegistryProof};
use std::path::Path;
use std::process::Command;

const PYTHON_VERIFIER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/verifiers/python/accord_verify.py"
);

use common::{accord_ok as ok, demo_log, json_rows, python_ready, run_accord as accord};

const JS_VERIFIER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/js/verify_proof.mjs");

/// `(accepted, first line of stdout)` from the verifiers; they must agree:
/// `accord verify`, the Python verifier, and the page's JavaScript
/// verifier under node (each where present).
fn verify_both(dir: &Path, file: &str, python: bool) -> (bool, String) {
    let out = accord(dir, &["verify", "--vkey", "vkey", "--registry-proof", file]);
    let stdout = String::from_utf8(out.stdout).unwrap();
    let first = stdout.lines().next().unwrap_or("").to_owned();
    if out.status.success() {
        assert!(out.stderr.is_empty(), "nothing on stderr when it verifies");
    }
    if python {
        let py = Command::new("python3")
            .args([
                PYTHON_VERIFIER,
                "registry-proof",
                "--vkey",
                "vkey",
                "--proof",
                file,
            ])
            .current_dir(dir)
            .output()
            .unwrap();
        let py_first = String::from_utf8(py.stdout)
            .unwrap()
            .lines()
            .next()
            .unwrap_or("")
            .to_owned();
        assert_eq!(
            py.status.success(),
            out.status.success(),
            "{file}: accord and Python disagree: {first:?} / {py_first:?} {}",
            String::from_utf8_lossy(&py.stderr)
        );
        if py.status.success() {
            assert_eq!(py_first, first, "{file}: the same statement");
        }
    }
    if common::node_ready() {
        let js = Command::new("node")
            .args([JS_VERIFIER, "vkey", file])
            .current_dir(dir)
            .output()
            .unwrap();
        let js_first = String::from_utf8(js.stdout).unwrap();
        assert_eq!(
            js.status.success(),
            out.status.success(),
            "{file}: accord and the JavaScript verifier disagree: {first:?} / {js_first:?} {}",
            String::from_utf8_lossy(&js.stderr)
        );
        if js.status.success() {
            assert_eq!(js_first.trim_end(), first, "{file}: the same statement");
        }
    }
    (out.status.success(), first)
}

#[test]
fn prove_and_verify_through_the_binary_and_in_python() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let python = python_ready();
    let data = dir.join("data");
    let (server, url) = demo_log(dir);

    // A verified government that endorses the Global Commitment, and an
    // organization that withdrew from some commitment.
    let gc = "global-commitment-dts";
    let rows = json_rows(dir, &url, gc);
    let government = rows
        .iter()
        .find(|r| r["verified"] == true && r["status"] == "current" && r["group"] == "government")
        .expect("a verified government");
    let gov = government["organization_id"].as_str().unwrap().to_owned();
    let (withdrawn, withdrawn_from) = ["global-commitment-dts", "paris-call"]
        .iter()
        .find_map(|c| {
            let rows = json_rows(dir, &url, c);
            let r = rows.iter().find(|r| r["status"] == "withdrawn")?;
            Some((
                r["organization_id"].as_str().unwrap().to_owned(),
                c.to_string(),
            ))
        })
        .expect("the demo has a withdrawal");
    let gov_key = ok(dir, &["org", "--server", &url, &gov])
        .lines()
        .find_map(|l| l.strip_prefix("current key  ").map(str::to_owned))
        .expect("the organization's current key");
    let unknown = "ab".repeat(32);

    let prove = |url: &str, name: &str, commitment: &str, flag: &str, subject: &str| {
        ok(
            dir,
            &[
                "prove",
                "--server",
                url,
                "--commitment",
                commitment,
                flag,
                subject,
                "--out",
                name,
            ],
        );
    };
    prove(&url, "current.proof", gc, "--org", &gov);
    prove(
        &url,
        "withdrawn.proof",
        &withdrawn_from,
        "--org",
        &withdrawn,
    );
    prove(&url, "absent.proof", gc, "--public-key", &unknown);
    prove(&url, "key.proof", gc, "--public-key", &gov_key);

    let (good, line) = verify_both(dir, "current.proof", python);
    assert!(
        good && line.starts_with(&format!(
            "current: organization {gov} endorses commitment {gc} "
        )),
        "{line}"
    );
    let size = RegistryProof::parse(&std::fs::read_to_string(dir.join("current.proof")).unwrap())
        .unwrap()
        .index
        + 1;
    assert!(line.contains(&format!("at tree size {size} ")), "{line}");
    let (good, line) = verify_both(dir, "withdrawn.proof", python);
    assert!(
        good && line.starts_with(&format!(
            "withdrawn: organization {withdrawn} withdrew from commitment {withdrawn_from} "
        )),
        "{line}"
    );
    let (good, line) = verify_both(dir, "absent.proof", python);
    assert!(
        good && line.starts_with(&format!("absent: key {unknown} belongs to no organization")),
        "{line}"
    );
    let (good, line) = verify_both(dir, "key.proof", python);
    assert!(
        good && line.starts_with(&format!("current: organization {gov} ")),
        "{line}"
    );
    assert!(
        line.ends_with(&format!("; key {gov_key} is its current key")),
        "{line}"
    );

    // Proof size: binary content (hashes, signature, entry, value) well under 2 KB here.
    let text = std::fs::read_to_string(dir.join("current.proof")).unwrap();
    assert!(text.len() < 2048, "{} bytes", text.len());

    tampering_is_refused(dir, python);

    // Restart: the old proofs still verify (offline); a new statement makes
    // the log grow, and new proofs extend the old checkpoint.
    drop(server);
    let server = common::ServeProcess::start(&data, &[]).unwrap();
    let url = server.url();
    for f in ["current.proof", "withdrawn.proof", "absent.proof"] {
        assert!(verify_both(dir, f, python).0, "{f} after the restart");
    }
    ok(dir, &["keygen", "--out", "new.pem"]);
    let digest = accord::core::sha256(include_bytes!("../commitments/global-commitment-dts.txt"));
    ok(
        dir,
        &[
            "endorse",
            "--server",
            &url,
            "--key",
            "new.pem",
            "--commitment",
            gc,
            "--commitment-sha256",
            &hex::encode(digest),
            "--org",
            "Newcomer Lab",
            "--group",
            "academia",
            "--region",
            "weog",
            "--out",
            "newcomer",
        ],
    );
    prove(&url, "current2.proof", gc, "--org", &gov);
    let (good, line) = verify_both(dir, "current2.proof", python);
    assert!(
        good && line.starts_with(&format!(
            "current: organization {gov} endorses commitment {gc} "
        )),
        "{line}"
    );
    let old =
        RegistryProof::parse(&std::fs::read_to_string(dir.join("current.proof")).unwrap()).unwrap();
    let new = RegistryProof::parse(&std::fs::read_to_string(dir.join("current2.proof")).unwrap())
        .unwrap();
    assert_eq!(
        new.index,
        old.index + 2,
        "the newcomer's entry and its map head"
    );
    // A stale proof's items under the new map head do not verify.
    let mut stale = new.clone();
    stale.items = old.items.clone();
    std::fs::write(dir.join("stale.proof"), stale.format()).unwrap();
    assert!(!verify_both(dir, "stale.proof", python).0);
    // The old map head under the new checkpoint is not its last entry.
    let mut behind = old.clone();
    behind.checkpoint = new.checkpoint.clone();
    std::fs::write(dir.join("behind.proof"), behind.format()).unwrap();
    assert!(!verify_both(dir, "behind.proof", python).0);
    // The auditor recomputes every map head and agrees.
    let audit = ok(
        dir,
        &["audit", "--server", &url, "--vkey", "vkey", "--quiet"],
    );
    assert!(audit.starts_with("OK: "), "{audit}");
}

/// Every change to a valid file is refused by both verifiers: lines,
/// values, hashes, the map head, and a forged map head not in the log
/// whose root matches forged values.
fn tampering_is_refused(dir: &Path, python: bool) {
    let text = std::fs::read_to_string(dir.join("current.proof")).unwrap();
    let proof = RegistryProof::parse(&text).unwrap();
    let withdrawn =
        RegistryProof::parse(&std::fs::read_to_string(dir.join("withdrawn.proof")).unwrap())
            .unwrap();
    let mut cases: Vec<(&str, String)> = Vec::new();
    let lines: Vec<&str> = text.split('\n').collect();
    let with_line = |i: usize, new: &str| {
        let mut l = lines.clone();
        l[i] = new;
        l.join("\n")
    };
    let sibling_at = lines
        .iter()
        .position(|l| l.starts_with("present "))
        .unwrap()
        + 1;
    let mut sibling = lines[sibling_at].to_owned();
    sibling.replace_range(0..1, if sibling.starts_with('A') { "B" } else { "A" });
    cases.push(("a sibling hash", with_line(sibling_at, &sibling)));
    let value = lines[sibling_at - 1].to_owned();
    cases.push((
        "a value",
        with_line(sibling_at - 1, &value.replacen("AQ", "Ag", 1)),
    ));
    cases.push((
        "the index",
        with_line(2, &format!("index {}", proof.index - 1)),
    ));
    cases.push((
        "a leading zero",
        with_line(2, &format!("index 0{}", proof.index)),
    ));
    cases.push(("a trailing space", with_line(1, &format!("{} ", lines[1]))));
    cases.push((
        "a comment line",
        text.replacen("\nmap-head ", "\n# note\nmap-head ", 1),
    ));
    cases.push((
        "uppercase hex",
        text.replacen(&lines[1][19..83], &lines[1][19..83].to_uppercase(), 1),
    ));
    cases.push((
        "the header",
        text.replacen("accord-registry-proof/v1", "accord-registry-proof/v2", 1),
    ));
    let mut head = proof.clone();
    let last = head.map_head.len() - 2;
    head.map_head[last] ^= 1; // a byte of the map root
    cases.push(("the map head's root", head.format()));
    let mut other = proof.clone();
    other.items = withdrawn.items.clone();
    cases.push(("another key's path", other.format()));
    // A forged map head (not in the log) whose root is that of a forged map
    // holding only a "withdrawn" value for the government.
    let mut forged = proof.clone();
    let entry = Entry::from_leaf(&proof.map_head).unwrap();
    let query = &proof.query;
    let key: MapKey = query.next_key(&[]).unwrap().unwrap();
    let Found::Present(withdrawn_value) = &withdrawn.items[0].found else {
        panic!()
    };
    let mut map = MemoryMap::default();
    let value_hash = accord::core::sha256(withdrawn_value);
    let root = map.set_all([(&key.hash(), &value_hash)]);
    forged.map_head = Entry {
        signed: Signed::MapHead(MapHead {
            size: entry.index,
            root,
        }),
        ..entry
    }
    .to_leaf();
    forged.items = vec![Item {
        siblings: vec![],
        found: Found::Present(withdrawn_value.clone()),
    }];
    cases.push(("a map head not in the log", forged.format()));
    for (what, bad) in cases {
        assert_ne!(bad, text, "{what}: the case changes the file");
        std::fs::write(dir.join("bad.proof"), &bad).unwrap();
        let (good, line) = verify_both(dir, "bad.proof", python);
        assert!(!good, "{what}: accepted as {line:?}");
    }
}

/// A log whose map head commits to a root that is not the map of the
/// entries before it: the auditor recomputes the map, calls it misbehaviour
/// (exit 4), and writes evidence that `check-evidence` confirms with the log
/// key alone (the log signed a tree holding that map head).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_map_head_with_a_wrong_root_is_misbehaviour() {
    use accord::verifier::evidence::{Evidence, Kind};
    use common::*;
    let signer = log_signer();
    let store = std::sync::Arc::new(accord::storage::MemoryStorage::new());
    let statements = [
        registration(&operator_fixture()),
        Signed::MapHead(MapHead {
            size: 1,
            root: [7; 32],
        }),
    ];
    let mut prev = [0; 32];
    let leaves = (0u64..)
        .zip(statements)
        .map(|(index, signed)| {
            let leaf = Entry {
                index,
                integrated_at_ms: 1_000 * now(),
                prev_leaf_hash: prev,
                signed,
            }
            .to_leaf();
            prev = accord::core::merkle::leaf_hash(&leaf);
            leaf
        })
        .collect();
    commit_log(&store, &signer, leaves);
    // The server refuses to take submissions on this log (its own map
    // disagrees), but still serves it: what an auditor must judge.
    let endpoint = accord::server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), None);
    let server = MemServer::start_with(store, log_signer(), endpoint).await;
    let _ = server.client().await;
    let state = tempfile::tempdir().unwrap();
    let err = accord::cli::audit::audit(&server.url, &signer.verifier(), Some(state.path()), false)
        .await
        .map(|s| s.checked)
        .unwrap_err();
    assert_eq!(err.code, accord::cli::exit::MISBEHAVIOUR, "{}", err.message);
    assert!(
        err.message.contains("committed at entry 1"),
        "{}",
        err.message
    );
    let file = std::fs::read_dir(state.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("evidence-")
        })
        .expect("an evidence file");
    let evidence = Evidence::parse(&std::fs::read_to_string(file).unwrap()).unwrap();
    assert_eq!(evidence.kind, Kind::MapRoot);
    let proven = evidence
        .check(&signer.verifier())
        .expect("confirmed with the log key alone");
    assert!(proven.contains("committed at entry 1"), "{proven}");
    server.stop().await;
}

/// A stored map that does not match the log (here: a forged root tile) is
/// refused at start — no proof is served from it — and `accord reindex`
/// repairs it: it clears the map, and the next start rebuilds it from the
/// log and checks it against the log's own map head.
#[test]
fn reindex_repairs_a_map_that_does_not_match_the_log() {
    use accord::core::map::{Node, Position};
    use accord::core::map_tiles::Tile;
    use accord::core::map_versions::MapRecord;
    use accord::storage::{Batch, LocalStorage, Storage};
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let data = dir.join("data");
    let (server, url) = demo_log(dir);
    let gc = "global-commitment-dts";
    let org = json_rows(dir, &url, gc)[0]["organization_id"]
        .as_str()
        .unwrap()
        .to_owned();
    drop(server);
    {
        let db = LocalStorage::open(&accord::server::datadir::db_path(&data)).unwrap();
        let size = db.meta().unwrap().unwrap().size;
        let mut tile = Tile::default();
        tile.set(Position::ROOT, Node::Internal([9; 32]));
        let forged = MapRecord {
            version: size,
            tile,
            previous: None,
        };
        db.commit(Batch {
            map: vec![(Position::ROOT, forged)],
            ..Batch::default()
        })
        .unwrap();
    }
    let prove = |url: &str| {
        accord(
            dir,
            &[
                "prove",
                "--server",
                url,
                "--commitment",
                gc,
                "--org",
                &org,
                "--out",
                "p",
            ],
        )
    };
    let server = common::ServeProcess::start(&data, &[]).unwrap();
    let refused = prove(&server.url());
    let why = String::from_utf8_lossy(&refused.stderr);
    assert!(
        !refused.status.success() && why.contains("accord reindex"),
        "{why}"
    );
    drop(server);
    let report = ok(dir, &["reindex", "--data", "data"]);
    assert!(report.contains("did NOT match"), "{report}");
    let server = common::ServeProcess::start(&data, &[]).unwrap();
    assert!(prove(&server.url()).status.success());
    let (good, line) = verify_both(dir, "p", false);
    assert!(good && line.starts_with("current: "), "{line}");
    drop(server);
    assert!(ok(dir, &["reindex", "--data", "data"]).contains("registry map OK"));
}
