//! `accord mirror` and `accord audit --tiles` against a real server's
//! tiles endpoint and against a mirror served by a plain static web server
//! (`python3 -m http.server`): the mirror extends without rewriting full
//! tiles, audits pass from both, and a tampered hash tile, a tampered entry
//! bundle, a damaged mirror and a forked log are all caught.

mod common;

use common::{log_signer, MemServer};
use std::path::{Path, PathBuf};
use std::process::Output;

/// Runs the binary off the async workers (the server shares the runtime).
async fn accord(dir: &Path, args: &[&str]) -> Output {
    let (dir, args): (PathBuf, Vec<String>) =
        (dir.to_owned(), args.iter().map(|a| a.to_string()).collect());
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        common::run_accord(&dir, &args)
    })
    .await
    .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

async fn ok(dir: &Path, args: &[&str]) -> String {
    let o = accord(dir, args).await;
    assert!(o.status.success(), "accord {args:?}: {}", text(&o));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// A log server with `--http-listen`, its operator registered, and
/// endorsements by `ids` (each batch with its map head); its tiles URL.
async fn log_with_tiles(ids: std::ops::RangeInclusive<u32>) -> (MemServer, String) {
    let (server, addr) = common::http_server(None).await;
    let tiles = format!("http://{addr}");
    let registration = common::with_token(
        &common::registration(&common::operator_fixture()),
        common::ADMIN_TOKEN_FIXTURE,
    );
    server.client().await.submit(registration).await.unwrap();
    server.submit(ids).await;
    (server, tiles)
}

/// `python3 -m http.server` on `dir`, on a free loopback port; `None`
/// (and a visible SKIPPED) without python3.
struct StaticServer {
    child: std::process::Child,
    url: String,
}

impl Drop for StaticServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn static_server(dir: &Path) -> Option<StaticServer> {
    use std::io::{BufRead, BufReader};
    let spawned = std::process::Command::new("python3")
        .args(["-u", "-m", "http.server", "--bind", "127.0.0.1", "0"])
        .current_dir(dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = spawned else {
        eprintln!("SKIPPED: the static-server part (python3 not found)");
        return None;
    };
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // "Serving HTTP on 127.0.0.1 port 38123 (http://127.0.0.1:38123/) ..."
    let line = lines.next()?.ok()?;
    let port = line
        .split(" port ")
        .nth(1)?
        .split_whitespace()
        .next()?
        .to_owned();
    std::thread::spawn(move || lines.for_each(drop));
    Some(StaticServer {
        child,
        url: format!("http://127.0.0.1:{port}"),
    })
}

fn flip_byte(path: &Path, at: usize) -> Vec<u8> {
    let original = std::fs::read(path).unwrap();
    let mut bytes = original.clone();
    bytes[at] ^= 1;
    std::fs::write(path, bytes).unwrap();
    original
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mirror_and_audit_from_tiles() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let vkey = log_signer().verifier().to_string();
    let (server, tiles) = log_with_tiles(1..=300).await; // 602 entries
    let mirror = dir.join("mirror");
    let m = mirror.to_str().unwrap();

    // Audit straight from the live tiles endpoint (no gRPC).
    let out = ok(
        dir,
        &["audit", "--tiles", &tiles, "--vkey", &vkey, "--quiet"],
    )
    .await;
    assert!(
        out.contains("OK: 602 entries checked, tree size 602"),
        "{out}"
    );

    // Mirror it: every tile of the tree, computed and checked.
    let out = ok(
        dir,
        &["mirror", "--server", &tiles, "--vkey", &vkey, "--out", m],
    )
    .await;
    assert!(out.contains("mirrored 602 entries (0 → 602)"), "{out}");
    for p in [
        "checkpoint",
        "tile/0/000",
        "tile/0/001",
        "tile/0/002.p/90",
        "tile/1/000.p/2",
        "tile/entries/001",
        "tile/entries/002.p/90",
    ] {
        let served = common::http_fetch(tiles.trim_start_matches("http://"), &format!("/{p}"));
        assert_eq!(std::fs::read(mirror.join(p)).unwrap(), served.body, "{p}");
    }
    let full_tile = std::fs::read(mirror.join("tile/0/001")).unwrap();
    let modified = std::fs::metadata(mirror.join("tile/0/001"))
        .unwrap()
        .modified()
        .unwrap();

    // The log grows; the mirror extends without touching its full tiles,
    // and a run with nothing new changes nothing.
    server.submit(301..=400).await; // 802 entries
    let out = ok(
        dir,
        &["mirror", "--server", &tiles, "--vkey", &vkey, "--out", m],
    )
    .await;
    assert!(out.contains("mirrored 200 entries (602 → 802)"), "{out}");
    assert_eq!(std::fs::read(mirror.join("tile/0/001")).unwrap(), full_tile);
    assert_eq!(
        std::fs::metadata(mirror.join("tile/0/001"))
            .unwrap()
            .modified()
            .unwrap(),
        modified,
        "a full tile was rewritten"
    );
    assert!(mirror.join("tile/0/003.p/34").exists());
    let out = ok(
        dir,
        &["mirror", "--server", &tiles, "--vkey", &vkey, "--out", m],
    )
    .await;
    assert!(out.contains("up to date (tree size 802"), "{out}");

    // Incremental audits from tiles (consistency proofs computed from tiles).
    let state = dir.join("state");
    let s = state.to_str().unwrap();
    let args = [
        "audit", "--tiles", &tiles, "--vkey", &vkey, "--quiet", "--state", s,
    ];
    assert!(ok(dir, &args).await.contains("OK: 802 entries checked"));
    server.submit(401..=420).await;
    assert!(ok(dir, &args)
        .await
        .contains("OK: 40 entries checked, tree size 842"));

    // The mirror on a plain static web server audits like the log itself.
    if let Some(web) = static_server(&mirror) {
        let audit = ["audit", "--tiles", &web.url, "--vkey", &vkey, "--quiet"];
        let out = ok(dir, &audit).await;
        assert!(
            out.contains("OK: 802 entries checked, tree size 802"),
            "{out}"
        );

        // A tampered hash tile, then a tampered entry bundle: refused.
        let original = flip_byte(&mirror.join("tile/0/001"), 100);
        let o = accord(dir, &audit).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        assert!(text(&o).contains("tile/0/001 differs"), "{}", text(&o));
        std::fs::write(mirror.join("tile/0/001"), original).unwrap();
        let original = flip_byte(&mirror.join("tile/entries/001"), 500);
        let o = accord(dir, &audit).await;
        assert_eq!(o.status.code(), Some(1), "{}", text(&o));
        std::fs::write(mirror.join("tile/entries/001"), original).unwrap();
        assert!(ok(dir, &audit).await.contains("OK: 802 entries checked"));

        // An auditor whose state is at a size the mirror never had (842,
        // audited on the live endpoint) resumes from the mirror's wider
        // tiles, cut to its size.
        server.submit(421..=430).await; // 862 entries
        ok(
            dir,
            &["mirror", "--server", &tiles, "--vkey", &vkey, "--out", m],
        )
        .await;
        assert!(!mirror.join("tile/0/003.p/74").exists());
        let resume = [
            "audit", "--tiles", &web.url, "--vkey", &vkey, "--quiet", "--state", s,
        ];
        let out = ok(dir, &resume).await;
        assert!(
            out.contains("OK: 20 entries checked, tree size 862"),
            "{out}"
        );
    }

    // A damaged mirror is not extended.
    // (Its current partial level-0 tile: the mirror is at 802 or, after
    // the static-server part, 862 entries.)
    let mirrored = std::fs::read_to_string(mirror.join("checkpoint")).unwrap();
    let size: u64 = mirrored.lines().nth(1).unwrap().parse().unwrap();
    let partial = mirror.join(format!("tile/0/003.p/{}", size - 768));
    let original = flip_byte(&partial, 7);
    let o = accord(
        dir,
        &["mirror", "--server", &tiles, "--vkey", &vkey, "--out", m],
    )
    .await;
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("the mirror is damaged"), "{}", text(&o));
    std::fs::write(&partial, original).unwrap();
    server.stop().await;

    // Another history under the same key (a fork): log misbehaviour, with
    // both checkpoints saved; the mirror keeps its checkpoint.
    let (fork, fork_tiles) = log_with_tiles(1000..=1500).await;
    let before = std::fs::read(mirror.join("checkpoint")).unwrap();
    let o = accord(
        dir,
        &[
            "mirror",
            "--server",
            &fork_tiles,
            "--vkey",
            &vkey,
            "--out",
            m,
        ],
    )
    .await;
    assert_eq!(o.status.code(), Some(4), "{}", text(&o));
    assert!(text(&o).contains("LOG MISBEHAVIOUR"), "{}", text(&o));
    assert_eq!(std::fs::read(mirror.join("checkpoint")).unwrap(), before);
    let evidence = std::fs::read_dir(&mirror)
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().starts_with("evidence-"));
    assert!(evidence, "evidence written");
    fork.stop().await;
}
