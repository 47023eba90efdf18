//! Shared test harness: a real server on 127.0.0.1:0 over a real sled
//! database in a temp dir, and real gRPC clients.
#![allow(dead_code)]

use accord::core::endorsement::Endorsement;
use accord::core::entry::{Entry, Signed};
use accord::core::model::{Region, StakeholderGroup};
use accord::core::note::Verifier;
use accord::proto::registry_service_client::RegistryServiceClient;
use accord::server::{self, Config};
use ed25519_dalek::{Signer as _, SigningKey};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::oneshot;
use tonic::transport::Channel;

pub struct TestServer {
    pub url: String,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
}

impl TestServer {
    pub async fn start(data_dir: &Path) -> TestServer {
        Self::try_start(data_dir, None)
            .await
            .expect("server starts")
    }

    /// Starts a server; returns the startup error if it refuses the data dir.
    pub async fn try_start(
        data_dir: &Path,
        origin: Option<&str>,
    ) -> Result<TestServer, server::ServerError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let config = Config {
            origin: origin.map(str::to_owned),
            ..Config::new(data_dir)
        };
        let task = tokio::spawn(server::run(listener, config, async {
            let _ = rx.await;
        }));
        // Wait until it answers (or fails to start).
        for _ in 0..200 {
            if task.is_finished() {
                return Err(task.await.unwrap().expect_err("server exited early"));
            }
            if let Ok(mut c) = RegistryServiceClient::connect(url.clone()).await {
                if c.get_checkpoint(accord::proto::GetCheckpointRequest {})
                    .await
                    .is_ok()
                {
                    let data_dir = data_dir.to_owned();
                    // Entry 0: the commitment the tests endorse (a duplicate on restart).
                    let operator_file = data_dir.join(server::datadir::OPERATOR_KEY_FILE);
                    let operator = server::datadir::read_key(&operator_file).unwrap();
                    let token = admin_token(&data_dir);
                    c.submit(with_token(&registration(&operator), &token))
                        .await
                        .unwrap();
                    return Ok(TestServer {
                        url,
                        data_dir,
                        shutdown: Some(tx),
                        task: Some(task),
                    });
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("server did not come up");
    }

    pub async fn client(&self) -> RegistryServiceClient<Channel> {
        RegistryServiceClient::connect(self.url.clone())
            .await
            .unwrap()
    }

    pub fn verifier(&self) -> Verifier {
        server::datadir::load_key(&self.data_dir, None)
            .unwrap()
            .verifier()
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A deterministic organization key for test number `i`.
pub fn org_key(i: u32) -> SigningKey {
    let mut seed = [0u8; 32];
    seed[..4].copy_from_slice(&i.to_be_bytes());
    seed[31] = 0xac;
    SigningKey::from_bytes(&seed)
}

/// The text of the commitment the tests endorse, registered as entry 0.
pub const COMMITMENT_TEXT: &[u8] = b"Global Commitment on Digital Trust and Security\n";

/// The registration of that commitment, deterministic so that registering
/// again is an idempotent duplicate.
pub fn registration(operator: &SigningKey) -> Signed {
    let registration = accord::core::statements::CommitmentRegistration {
        commitment_id: "global-commitment-dts".into(),
        version: "1".into(),
        title: "Global Commitment on Digital Trust and Security".into(),
        text_sha256: accord::core::sha256(COMMITMENT_TEXT),
        url: None,
        signed_at: 1_764_000_000,
        public_key: operator.verifying_key().to_bytes(),
    };
    let signature = operator.sign(&registration.signed_message()).to_bytes();
    Signed::Commitment {
        registration,
        signature,
    }
}

/// The operator key of in-memory test logs (TEST FIXTURE seed).
pub fn operator_fixture() -> SigningKey {
    SigningKey::from_bytes(&[0x0b; 32])
}

pub fn endorsement(key: &SigningKey, name: &str) -> Endorsement {
    Endorsement {
        commitment_id: "global-commitment-dts".into(),
        commitment_sha256: accord::core::sha256(COMMITMENT_TEXT),
        organization_name: name.into(),
        stakeholder_group: StakeholderGroup::Government,
        region: Region::WesternEuropeanOthers,
        country: Some("NL".into()),
        domain: Some("government.nl".into()),
        statement: Some("We endorse the Global Commitment.".into()),
        signed_at: now(),
        public_key: key.verifying_key().to_bytes(),
    }
}

pub fn sign(key: &SigningKey, e: Endorsement) -> Signed {
    let signature = key.sign(&e.signed_message()).to_bytes();
    Signed::Endorsement {
        endorsement: e,
        signature,
    }
}

pub fn request(signed: &Signed) -> accord::proto::SubmitRequest {
    accord::service::convert::signed_to_proto(signed)
}

/// The admin token of in-memory test logs (TEST FIXTURE, not secret).
pub const ADMIN_TOKEN_FIXTURE: &str = "test-admin-token-fixture";

/// The admin token a real server created in its data directory.
pub fn admin_token(data_dir: &Path) -> String {
    server::datadir::read_admin_token(&data_dir.join(server::datadir::ADMIN_TOKEN_FILE)).unwrap()
}

/// A submission carrying `authorization: Bearer <token>` (needed for
/// operator statements, harmless for others).
pub fn with_token(signed: &Signed, token: &str) -> tonic::Request<accord::proto::SubmitRequest> {
    let mut req = tonic::Request::new(request(signed));
    req.metadata_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    req
}

/// A real server over an in-memory store the test keeps a handle to, so it
/// can inject storage faults under the running server.
pub struct MemServer {
    pub url: String,
    pub storage: std::sync::Arc<accord::storage::MemoryStorage>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::ServerError>>>,
}

impl MemServer {
    pub async fn start(
        storage: std::sync::Arc<accord::storage::MemoryStorage>,
        signer: accord::core::note::Signer,
    ) -> MemServer {
        let endpoint = server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), None);
        let server = Self::start_with(storage, signer, endpoint).await;
        // Entry 0: the commitment the tests endorse (a duplicate if already there).
        let operator = operator_fixture();
        server
            .client()
            .await
            .submit(with_token(&registration(&operator), ADMIN_TOKEN_FIXTURE))
            .await
            .unwrap();
        server
    }

    /// A server with the given endpoint (TLS, token, rate limit) and
    /// nothing submitted.
    pub async fn start_with(
        storage: std::sync::Arc<accord::storage::MemoryStorage>,
        signer: accord::core::note::Signer,
        endpoint: server::Endpoint,
    ) -> MemServer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let (tx, rx) = oneshot::channel::<()>();
        let operator = operator_fixture();
        let operator_key = operator.verifying_key().to_bytes();
        let task = tokio::spawn(server::run_with(
            listener,
            storage.clone(),
            signer,
            operator_key,
            endpoint,
            async {
                let _ = rx.await;
            },
        ));
        MemServer {
            url,
            storage,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    pub async fn client(&self) -> RegistryServiceClient<Channel> {
        for _ in 0..100 {
            if let Ok(c) = RegistryServiceClient::connect(self.url.clone()).await {
                return c;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("server did not come up");
    }

    /// Submits endorsements by organizations `ids`, in order.
    pub async fn submit(&self, ids: impl IntoIterator<Item = u32>) {
        let mut c = self.client().await;
        for i in ids {
            let key = org_key(i);
            c.submit(request(&sign(
                &key,
                endorsement(&key, &format!("Organization {i}")),
            )))
            .await
            .unwrap();
        }
    }

    pub async fn stop(mut self) {
        let _ = self.shutdown.take().unwrap().send(());
        self.task.take().unwrap().await.unwrap().unwrap();
    }
}

/// A test log key (TEST FIXTURE seed).
pub fn log_signer() -> accord::core::note::Signer {
    accord::core::note::Signer::from_seed("test.example/log", &[0x5a; 32]).unwrap()
}

/// The c2sp.org/tlog-proof text of a receipt from its parts.
pub fn receipt_text(index: u64, proof: &[Vec<u8>], checkpoint: &str) -> String {
    accord::core::receipt::TlogProof {
        extra: None,
        index,
        proof: proof
            .iter()
            .map(|h| h.as_slice().try_into().unwrap())
            .collect(),
        checkpoint: checkpoint.to_owned(),
    }
    .format()
}

/// The receipt of a Submit answer.
pub fn receipt(resp: &accord::proto::SubmitResponse) -> String {
    receipt_text(resp.index, &resp.inclusion_proof, &resp.checkpoint)
}

/// A real `accord serve` process on an ephemeral loopback port, stopped
/// (SIGTERM) and reaped when dropped — on every path, so no test leaves a
/// server behind. Its output is drained so it never blocks on a full pipe.
pub struct ServeProcess {
    pub child: std::process::Child,
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// Its output up to "serving a log".
    pub lines: Vec<String>,
    /// Its output after that, as it comes.
    pub later: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl ServeProcess {
    /// Runs `accord serve --data DATA --listen 127.0.0.1:0 EXTRA…` and waits
    /// until it serves the log (its key files exist from then on); `Err`
    /// holds its stderr and output if it exits instead.
    pub fn start(data: &Path, extra: &[&str]) -> Result<ServeProcess, String> {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_accord"));
        cmd.arg("serve").arg("--data").arg(data);
        cmd.args(["--listen", "127.0.0.1:0"]).args(extra);
        Self::spawn(cmd)
    }

    /// Runs `accord serve --data DATA --listen 127.0.0.1:0 --storage URL`:
    /// a server keeping its log in PostgreSQL.
    pub fn on_postgres(data: &Path, url: &str) -> Result<ServeProcess, String> {
        Self::start(data, &["--storage", url])
    }

    /// Runs a prepared `accord serve` command (its own flags, environment).
    pub fn spawn(mut cmd: std::process::Command) -> Result<ServeProcess, String> {
        use std::io::{BufRead, BufReader, Read};
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run accord serve");
        let mut stderr = child.stderr.take().unwrap();
        let errors = std::thread::spawn(move || {
            let mut text = String::new();
            let _ = stderr.read_to_string(&mut text);
            text
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let (mut addr, mut seen) = (None, Vec::new());
        for line in lines.by_ref() {
            let line = line.unwrap();
            // Log lines carry a timestamp and level (or are JSON): find the words.
            if let Some((_, rest)) = line.split_once("listening on ") {
                addr = rest.split_whitespace().next().map(str::to_owned);
            }
            let ready = line.contains("serving a log");
            seen.push(line);
            if ready {
                let later = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
                let sink = later.clone();
                std::thread::spawn(move || {
                    for line in lines.map_while(Result::ok) {
                        sink.lock().unwrap().push(line);
                    }
                });
                let addr = addr.expect("address reported first");
                return Ok(ServeProcess {
                    child,
                    addr,
                    lines: seen,
                    later,
                });
            }
        }
        let _ = child.wait();
        Err(errors.join().unwrap() + &seen.join("\n"))
    }

    /// The word after `key` in the start-up output (e.g. "metrics on").
    pub fn reported(&self, key: &str) -> Option<String> {
        self.lines.iter().find_map(|l| {
            let (_, rest) = l.split_once(key)?;
            rest.split_whitespace().next().map(str::to_owned)
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// SIGKILL: no chance to finish anything (crash tests).
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl ServeProcess {
    /// SIGTERM, then its exit status (0: it stopped cleanly).
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = std::process::Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        self.child.wait().expect("reap accord serve")
    }
}

impl Drop for ServeProcess {
    fn drop(&mut self) {
        // Only a live child: a reaped one's pid may belong to another process.
        if let Ok(None) = self.child.try_wait() {
            let _ = std::process::Command::new("kill")
                .arg(self.child.id().to_string())
                .status();
            let _ = self.child.wait();
        }
    }
}

/// `GET path` over plain HTTP/1.1 (`addr` as `HOST:PORT`, or with
/// `http://`): the body of a 200 answer.
pub fn http_get(addr: &str, path: &str) -> String {
    let addr = addr.trim_start_matches("http://").trim_end_matches(path);
    let reply = http_fetch(addr, path);
    let body = String::from_utf8(reply.body).unwrap();
    assert_eq!(reply.status, 200, "{body}");
    body
}

/// Whether `leaf` is a map-head entry (kind 7, SPEC.md §5.7): the entry the
/// sequencer appends after the statements of every batch. Panics on a leaf
/// that does not parse, which no log may serve.
pub fn is_map_head(leaf: &[u8]) -> bool {
    let entry = Entry::from_leaf(leaf).expect("the log serves valid leaves");
    matches!(entry.signed, Signed::MapHead(_))
}

/// The latest checkpoint's tree size.
pub async fn tree_size(c: &mut RegistryServiceClient<Channel>) -> u64 {
    c.get_checkpoint(accord::proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .size
}

/// Entries `start..end` in order, in as many GetEntries calls as it takes
/// (each answers at most 1000).
pub async fn get_entries(
    c: &mut RegistryServiceClient<Channel>,
    start: u64,
    end: u64,
) -> Vec<accord::proto::Entry> {
    let mut entries = Vec::new();
    while start + (entries.len() as u64) < end {
        let next = start + entries.len() as u64;
        let page = c
            .get_entries(accord::proto::GetEntriesRequest { start: next, end })
            .await
            .unwrap()
            .into_inner()
            .entries;
        assert!(
            !page.is_empty(),
            "GetEntries({next}, {end}) returned nothing"
        );
        entries.extend(page);
    }
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.index, start + i as u64, "entries come in order");
    }
    entries
}

/// Checks what batches of submissions appended in `start..end`, where
/// `start` is just after a map head: each entry at `indices` once, and
/// besides them only map heads. Every batch appends at least one statement
/// and then its map head, so the range does not start with a map head,
/// ends with one, and has no two in a row. Returns how many map heads (one
/// per batch) there are.
pub async fn assert_statements_and_map_heads(
    c: &mut RegistryServiceClient<Channel>,
    start: u64,
    end: u64,
    indices: &[u64],
) -> u64 {
    let statements: std::collections::BTreeSet<u64> = indices.iter().copied().collect();
    assert_eq!(statements.len(), indices.len(), "no index answered twice");
    assert!(
        statements.iter().all(|i| (start..end).contains(i)),
        "every index in {start}..{end}: {indices:?}"
    );
    let entries = get_entries(c, start, end).await;
    let heads: Vec<bool> = entries.iter().map(|e| is_map_head(&e.leaf)).collect();
    for (e, &head) in entries.iter().zip(&heads) {
        assert_eq!(
            head,
            !statements.contains(&e.index),
            "entry {} is a map head exactly when no statement was answered with it",
            e.index
        );
    }
    assert_eq!(
        heads.first(),
        Some(&false),
        "a batch starts with a statement"
    );
    assert_eq!(
        heads.last(),
        Some(&true),
        "the last batch ends with its map head"
    );
    assert!(
        !heads.windows(2).any(|w| w[0] && w[1]),
        "no batch is a map head alone"
    );
    heads.iter().filter(|&&h| h).count() as u64
}

/// Runs the `accord` binary in `dir`.
pub fn run_accord(dir: &Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run accord")
}

/// Runs the `accord` binary in `dir`, which must succeed: its stdout.
pub fn accord_ok(dir: &Path, args: &[&str]) -> String {
    let out = run_accord(dir, args);
    assert!(
        out.status.success(),
        "accord {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Whether python3 with `cryptography` is here (the Python verifier's
/// needs); says visibly that the Python part is skipped if not, and fails
/// when ACCORD_REQUIRE_PYTHON is set (CI installs it).
pub fn python_ready() -> bool {
    let ok = std::process::Command::new("python3")
        .args(["-c", "import cryptography"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("ACCORD_REQUIRE_PYTHON").is_none(),
            "python3 with `cryptography` is required (ACCORD_REQUIRE_PYTHON is set)"
        );
        eprintln!("SKIPPED: python3 with the `cryptography` package not found");
    }
    ok
}

/// Map-proof cases for the second-language verifiers (Python, JavaScript):
/// `{"root", "cases": [{"key", "siblings", "terminal", "expect"}]}` with
/// present, tampered, absent and forged proofs over random keys, each
/// expecting the verdict `core::map` gives (a value hash, "absent", "fail").
pub fn map_proof_cases(seed: u64) -> serde_json::Value {
    use accord::core::map::{MapProof, MemoryMap, Node};
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut random = || {
        let mut h = [0u8; 32];
        rng.fill(&mut h);
        h
    };
    let pairs: Vec<([u8; 32], [u8; 32])> = (0..200).map(|_| (random(), random())).collect();
    let mut map = MemoryMap::default();
    let root = map.set_all(pairs.iter().map(|(k, v)| (k, v)));
    let case = |key: &[u8; 32], proof: &MapProof| {
        let expect = match accord::core::map::verify(&root, key, proof) {
            Ok(Some(v)) => hex::encode(v),
            Ok(None) => "absent".to_owned(),
            Err(_) => "fail".to_owned(),
        };
        let terminal = match proof.terminal {
            Node::Leaf { key, value_hash } => {
                serde_json::json!([hex::encode(key), hex::encode(value_hash)])
            }
            _ => serde_json::Value::Null,
        };
        serde_json::json!({
            "key": hex::encode(key),
            "siblings": proof.siblings.iter().map(hex::encode).collect::<Vec<_>>(),
            "terminal": terminal,
            "expect": expect,
        })
    };
    let mut cases = Vec::new();
    for (k, _) in pairs.iter().take(80) {
        let proof = map.prove(k);
        cases.push(case(k, &proof));
        let mut bad = proof.clone();
        if let Some(s) = bad.siblings.last_mut() {
            s[31] ^= 0x80;
            cases.push(case(k, &bad));
        }
    }
    for _ in 0..80 {
        let q = random();
        let proof = map.prove(&q);
        cases.push(case(&q, &proof));
        if let Node::Leaf { value_hash, .. } = proof.terminal {
            let forged = MapProof {
                siblings: proof.siblings.clone(),
                terminal: Node::Leaf { key: q, value_hash },
            };
            cases.push(case(&q, &forged));
        }
    }
    let fails = cases.iter().filter(|c| c["expect"] == "fail").count();
    let absent = cases.iter().filter(|c| c["expect"] == "absent").count();
    assert!(fails >= 80 && absent >= 40, "every kind of case is covered");
    serde_json::json!({ "root": hex::encode(root), "cases": cases })
}

/// Whether node ≥ 20 runs here (its WebCrypto has Ed25519), for the page's
/// JavaScript verifier; a failure where ACCORD_REQUIRE_NODE is set (.ci/run).
pub fn node_ready() -> bool {
    static READY: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *READY.get_or_init(|| {
        let major = std::process::Command::new("node")
            .args(["-p", "process.versions.node.split('.')[0]"])
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<u32>().ok());
        let ok = major.is_some_and(|m| m >= 20);
        if !ok {
            assert!(
                std::env::var_os("ACCORD_REQUIRE_NODE").is_none(),
                "node >= 20 is required (ACCORD_REQUIRE_NODE is set)"
            );
            eprintln!("SKIPPED: node >= 20 not found, so the JavaScript verifier is not run");
        }
        ok
    })
}

/// Commits `leaves` (made by the caller, valid or not) as the whole log in
/// `store`, with their Merkle nodes and a checkpoint signed by `signer`: a
/// log as a faulty or lying server would hold it.
pub fn commit_log(
    store: &accord::storage::MemoryStorage,
    signer: &accord::core::note::Signer,
    leaves: Vec<Vec<u8>>,
) {
    use accord::core::checkpoint::{Checkpoint, TreeHead};
    use accord::storage::{Batch, LogMeta, Storage};
    let mut frontier = accord::core::frontier::Frontier::new();
    let mut batch = Batch::default();
    for (i, leaf) in (0u64..).zip(leaves) {
        frontier.push(accord::core::merkle::leaf_hash(&leaf), |n| {
            batch.nodes.push(n)
        });
        batch.leaves.push((i, leaf));
    }
    let head = TreeHead {
        size: frontier.size(),
        root: frontier.root(),
    };
    let checkpoint = Checkpoint {
        origin: signer.name.clone(),
        head,
    }
    .sign(signer)
    .unwrap();
    batch.meta = Some(LogMeta {
        origin: signer.name.clone(),
        vkey: signer.verifier().to_string(),
        size: head.size,
        checkpoint,
    });
    store.commit(batch).unwrap();
}

/// `accord signatories --status all --json` of `commitment`: one JSON
/// object per signatory.
pub fn json_rows(dir: &Path, url: &str, commitment: &str) -> Vec<serde_json::Value> {
    let out = accord_ok(
        dir,
        &[
            "signatories",
            "--server",
            url,
            "--commitment",
            commitment,
            "--status",
            "all",
            "--json",
        ],
    );
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A server on `dir/data` holding the demo registry, and its URL; the log
/// key in `dir/vkey`.
pub fn demo_log(dir: &Path) -> (ServeProcess, String) {
    let server = ServeProcess::start(&dir.join("data"), &[]).unwrap();
    let url = server.url();
    accord_ok(dir, &["demo", "--server", &url, "--data", "data"]);
    std::fs::write(
        dir.join("vkey"),
        accord_ok(dir, &["log-key", "--data", "data"]),
    )
    .unwrap();
    (server, url)
}

/// An HTTP/1.1 response: status, headers (names lowercase), body.
pub struct HttpReply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpReply {
    pub fn header(&self, name: &str) -> Option<&str> {
        let found = self.headers.iter().find(|(n, _)| n == name);
        found.map(|(_, v)| v.as_str())
    }
}

/// `GET path` over plain HTTP/1.1 to `addr` (`HOST:PORT`), any status;
/// the body as sent (with Content-Length) or de-chunked.
pub fn http_fetch(addr: &str, path: &str) -> HttpReply {
    http_request(addr, "GET", path, b"")
}

/// `METHOD path` with `body` over plain HTTP/1.1, any status.
pub fn http_request(addr: &str, method: &str, path: &str, body: &[u8]) -> HttpReply {
    http_request_with(addr, method, path, "", body)
}

/// [`http_request`] with extra header lines (each ending in `\r\n`).
pub fn http_request_with(
    addr: &str,
    method: &str,
    path: &str,
    headers: &str,
    body: &[u8],
) -> HttpReply {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let length = body.len();
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Length: {length}\r\nConnection: close\r\n{headers}\r\n").unwrap();
    s.write_all(body).unwrap();
    let mut reply = Vec::new();
    s.read_to_end(&mut reply).unwrap();
    let split = reply
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8(reply[..split].to_vec()).unwrap();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut body = reply[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"))
    {
        let (mut out, mut rest) = (Vec::new(), &body[..]);
        loop {
            let end = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let len =
                usize::from_str_radix(std::str::from_utf8(&rest[..end]).unwrap(), 16).unwrap();
            if len == 0 {
                break;
            }
            out.extend_from_slice(&rest[end + 2..end + 2 + len]);
            rest = &rest[end + 4 + len..];
        }
        body = out;
    }
    HttpReply {
        status,
        headers,
        body,
    }
}

/// A running `accord witness`: its address and key.
pub struct WitnessProcess {
    pub child: std::process::Child,
    pub addr: String,
    pub key: accord::core::cosignature::CosignatureVerifier,
}

impl Drop for WitnessProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `accord witness` named `name` for the log `log_vkey`, its state in `dir`.
pub fn start_witness(dir: &std::path::Path, name: &str, log_vkey: &str) -> WitnessProcess {
    start_witness_at(dir, name, log_vkey, "127.0.0.1:0")
}

/// [`start_witness`] listening on `listen` (e.g. the address it had before a restart).
pub fn start_witness_at(
    dir: &std::path::Path,
    name: &str,
    log_vkey: &str,
    listen: &str,
) -> WitnessProcess {
    use std::io::{BufRead, BufReader};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_accord"))
        .args([
            "witness", "--listen", listen, "--name", name, "--log", log_vkey,
        ])
        .arg("--data")
        .arg(dir)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // First line: the witness's vkey; then a log line with its address.
    let key =
        accord::core::cosignature::CosignatureVerifier::parse(&lines.next().unwrap().unwrap())
            .unwrap();
    let addr = loop {
        let line = lines
            .next()
            .expect("the witness reports its address")
            .unwrap();
        if let Some((_, rest)) = line.split_once("listening on http://") {
            break rest.split('/').next().unwrap().to_owned();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    WitnessProcess { child, addr, key }
}

/// An in-memory server with the HTTP listener (`--http-listen`) on a free
/// loopback port, nothing submitted; the HTTP address (`HOST:PORT`).
pub async fn http_server(limit: Option<accord::service::access::RateLimit>) -> (MemServer, String) {
    let http = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = http.local_addr().unwrap().to_string();
    let mut endpoint = server::Endpoint::new(Some(ADMIN_TOKEN_FIXTURE), limit);
    endpoint.http = Some(http);
    let storage = std::sync::Arc::new(accord::storage::MemoryStorage::new());
    (
        MemServer::start_with(storage, log_signer(), endpoint).await,
        addr,
    )
}

/// A fresh database on the test PostgreSQL (ACCORD_TEST_POSTGRES_URL, an
/// admin URL; .ci/run starts a throwaway cluster), dropped afterwards.
/// `None`, saying so, where there is no PostgreSQL, unless
/// ACCORD_REQUIRE_POSTGRES is set.
pub struct PgDb {
    admin: String,
    name: String,
    pub url: String,
}

impl PgDb {
    pub fn create(what: &str) -> Option<PgDb> {
        let Ok(admin) = std::env::var("ACCORD_TEST_POSTGRES_URL") else {
            assert!(
                std::env::var_os("ACCORD_REQUIRE_POSTGRES").is_none(),
                "ACCORD_TEST_POSTGRES_URL is required (ACCORD_REQUIRE_POSTGRES is set)"
            );
            eprintln!("SKIPPED: {what} on PostgreSQL (no ACCORD_TEST_POSTGRES_URL)");
            return None;
        };
        let name = format!("accord_test_{}", hex::encode(rand::random::<[u8; 6]>()));
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).unwrap();
        c.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let (base, _) = admin.rsplit_once('/').expect("a URL ending in /DATABASE");
        let url = format!("{base}/{name}");
        Some(PgDb { admin, name, url })
    }

    pub fn open(&self) -> accord::storage::PgStorage {
        accord::storage::PgStorage::open(&self.url).unwrap()
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}
