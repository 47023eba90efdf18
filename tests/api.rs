//! The JSON read API (`/api/v1/…` on `--http-listen`) against a real
//! server: every route, filters and paging, the same answers as gRPC for
//! the same queries, RFC 9457 problem details with mapped statuses, CORS,
//! the shared rate limit, and an OpenAPI document that names exactly the
//! routes, each of which answers.

mod common;

use accord::proto::{self, get_organization_request::Key};
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use common::{log_signer, HttpReply, MemServer};
use serde_json::Value;

async fn server(limit: Option<accord::service::access::RateLimit>) -> (MemServer, String) {
    let (server, addr) = common::http_server(limit).await;
    let registration = common::with_token(
        &common::registration(&common::operator_fixture()),
        common::ADMIN_TOKEN_FIXTURE,
    );
    server.client().await.submit(registration).await.unwrap();
    (server, addr)
}

/// GET off the async workers; the reply and its JSON body.
async fn get(addr: &str, path: &str) -> (HttpReply, Value) {
    let (addr, path) = (addr.to_owned(), path.to_owned());
    let reply = tokio::task::spawn_blocking(move || common::http_fetch(&addr, &path))
        .await
        .unwrap();
    let body = serde_json::from_slice(&reply.body).unwrap_or(Value::Null);
    (reply, body)
}

/// A problem-details answer with `status` whose detail mentions `about`.
async fn problem(addr: &str, path: &str, status: u16, about: &str) {
    let (reply, body) = get(addr, path).await;
    assert_eq!(reply.status, status, "{path}: {body}");
    assert_eq!(
        reply.header("content-type"),
        Some("application/problem+json"),
        "{path}"
    );
    assert_eq!(body["status"], status, "{path}");
    let detail = body["detail"].as_str().unwrap();
    assert!(detail.contains(about), "{path}: {detail}");
}

const C: &str = "global-commitment-dts";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_json_api_answers_as_grpc_does() {
    let (server, addr) = server(None).await;
    server.submit(1..=30).await;
    let mut c = server.client().await;

    // The checkpoint, with CORS for any origin.
    let (reply, cp) = get(&addr, "/api/v1/checkpoint").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.header("access-control-allow-origin"), Some("*"));
    let grpc = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner();
    assert_eq!(cp, accord::service::json::checkpoint(&grpc));
    let size = grpc.size;

    // An entry with its inclusion proof in the checkpoint that comes along.
    let (_, e) = get(&addr, "/api/v1/entries/5").await;
    let leaf = B64.decode(e["leaf"].as_str().unwrap()).unwrap();
    let grpc = c
        .get_entry(proto::GetEntryRequest { index: 5 })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(leaf, grpc.leaf);
    let checkpoint = accord::core::checkpoint::Checkpoint::open(
        e["checkpoint"].as_str().unwrap(),
        &log_signer().verifier(),
    )
    .unwrap();
    assert_eq!(e["tree_size"], checkpoint.head.size);
    let proof: Vec<Vec<u8>> = (e["inclusion_proof"].as_array().unwrap().iter())
        .map(|h| B64.decode(h.as_str().unwrap()).unwrap())
        .collect();
    let refs: Vec<&[u8]> = proof.iter().map(Vec::as_slice).collect();
    accord::core::proof::verify_inclusion(5, size, &grpc.leaf_hash, &refs, &checkpoint.head.root)
        .unwrap();
    problem(&addr, &format!("/api/v1/entries/{size}"), 400, "beyond").await;
    problem(&addr, "/api/v1/entries/05", 400, "index").await;

    // Commitments.
    let (_, all) = get(&addr, "/api/v1/commitments").await;
    assert_eq!(all["commitments"][0]["id"], C);
    assert_eq!(all["commitments"][0]["versions"][0]["version"], "1");

    // Signatories: pages followed to the end equal the gRPC pages, answer
    // by answer.
    let mut token = String::new();
    let mut names = Vec::new();
    loop {
        let (_, page) = get(
            &addr,
            &format!("/api/v1/commitments/{C}/signatories?page_size=7&page_token={token}"),
        )
        .await;
        let grpc = c
            .list_signatories(proto::ListSignatoriesRequest {
                commitment_id: C.into(),
                page_size: 7,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page, accord::service::json::signatories(&grpc));
        for s in page["signatories"].as_array().unwrap() {
            names.push(s["name"].as_str().unwrap().to_owned());
        }
        match page["next_page_token"].as_str() {
            Some(t) => token = t.to_owned(),
            None => break,
        }
    }
    assert_eq!(
        names,
        (1..=30)
            .map(|i| format!("Organization {i}"))
            .collect::<Vec<_>>()
    );
    let (_, found) =
        get(&addr, &format!("/api/v1/commitments/{C}/signatories?name=organization%2012&group=government&region=weog&country=NL&status=all")).await;
    let found = found["signatories"].as_array().unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["name"], "Organization 12");
    assert_eq!(found[0]["verified"], false);
    assert_eq!(found[0]["flags"][0], "unverified");
    let (_, none) = get(
        &addr,
        &format!("/api/v1/commitments/{C}/signatories?verified_only=true"),
    )
    .await;
    assert_eq!(none["signatories"].as_array().unwrap().len(), 0);
    let list = format!("/api/v1/commitments/{C}/signatories");
    problem(&addr, &format!("{list}?page_size=5000"), 400, "page_size").await;
    problem(&addr, &format!("{list}?group=farmers"), 400, "farmers").await;
    problem(&addr, &format!("{list}?status=maybe"), 400, "status").await;
    problem(&addr, &format!("{list}?colour=blue"), 400, "colour").await;
    problem(&addr, &format!("{list}?name=a&name=b"), 400, "twice").await;
    problem(
        &addr,
        "/api/v1/commitments/no-such-commitment/signatories",
        404,
        "no-such-commitment",
    )
    .await;

    // An organization, by id and by key, as gRPC answers it.
    let id = found[0]["organization_id"].as_str().unwrap().to_owned();
    let (_, org) = get(&addr, &format!("/api/v1/organizations/{id}")).await;
    let grpc = c
        .get_organization(proto::GetOrganizationRequest {
            key: Some(Key::OrganizationId(hex::decode(&id).unwrap())),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(org, accord::service::json::organization(&grpc));
    let key = org["current_public_key"].as_str().unwrap();
    let (_, by_key) = get(&addr, &format!("/api/v1/organizations/{key}")).await;
    assert_eq!(by_key["organization_id"], id);
    problem(
        &addr,
        &format!("/api/v1/organizations/{}", "ab".repeat(32)),
        404,
        "no organization",
    )
    .await;
    problem(&addr, "/api/v1/organizations/xyz", 400, "organization").await;

    // A registry proof that verifies with the log key alone.
    let (_, p) = get(
        &addr,
        &format!("/api/v1/registry-proof?organization_id={id}&commitment={C}"),
    )
    .await;
    let proof =
        accord::core::registry_proof::RegistryProof::parse(p["proof"].as_str().unwrap()).unwrap();
    let verdict = proof.verify(&log_signer().verifier()).unwrap();
    assert!(
        verdict.describe().starts_with("current: "),
        "{}",
        verdict.describe()
    );
    problem(
        &addr,
        "/api/v1/registry-proof?commitment=x",
        400,
        "organization_id",
    )
    .await;

    // The OpenAPI document names exactly the routes, and each answers (not
    // the listener's "no such route").
    let (_, doc) = get(&addr, "/api/v1/openapi.json").await;
    let mut paths: Vec<String> = doc["paths"].as_object().unwrap().keys().cloned().collect();
    paths.sort();
    let mut routes: Vec<String> = accord::http::api::ROUTES
        .iter()
        .map(|r| r.to_string())
        .collect();
    routes.sort();
    assert_eq!(paths, routes);
    for route in accord::http::api::ROUTES {
        if route.ends_with("/stream") {
            // An endless answer: read its first event.
            let addr = addr.clone();
            let first = tokio::task::spawn_blocking(move || events(&addr, route, "", 0));
            assert_eq!(first.await.unwrap()[0].0, 0);
            continue;
        }
        let mut path = (route.replace("{index}", "0"))
            .replace("{id}/signatories", &format!("{C}/signatories"))
            .replace("{id}", &id);
        if route.ends_with("registry-proof") {
            path += &format!("?organization_id={id}");
        }
        let (reply, body) = get(&addr, &path).await;
        assert_eq!(reply.status, 200, "{path}: {body}");
    }
    // A CORS preflight, as a page elsewhere sends for Last-Event-ID.
    let pre = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            common::http_request_with(&addr, "OPTIONS", "/api/v1/entries/stream", "Origin: https://elsewhere.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: last-event-id\r\n", b"")
        })
        .await
        .unwrap()
    };
    assert_eq!(pre.status, 204);
    assert_eq!(pre.header("access-control-allow-origin"), Some("*"));
    assert_eq!(
        pre.header("access-control-allow-headers"),
        Some("Last-Event-ID")
    );
    let (reply, _) = get(&addr, "/api/v1/nothing").await;
    assert_eq!(reply.status, 404);
    server.stop().await;
}

/// The API shares gRPC's per-client rate limit (here with loopback limited
/// too): over it, 429 with Retry-After.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_is_rate_limited_like_grpc() {
    let limit = accord::service::access::RateLimit {
        per_second: 0.5,
        burst: 3.0,
        loopback: true,
    };
    let (server, addr) = server(Some(limit)).await; // the registration took one
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(get(&addr, "/api/v1/checkpoint").await.0.status);
    }
    assert_eq!(statuses.last(), Some(&429), "{statuses:?}");
    let (reply, body) = get(&addr, "/api/v1/checkpoint").await;
    assert_eq!(reply.status, 429);
    assert!(reply.header("retry-after").is_some());
    assert_eq!(body["title"], "Too Many Requests");
    server.stop().await;
}

/// Reads an SSE stream (an HTTP/1.0 request, so the body is the raw event
/// text) until an event with id `until`; the ids seen, with their data.
fn events(addr: &str, path: &str, extra: &str, until: u64) -> Vec<(u64, Value)> {
    use std::io::{BufRead, BufReader, Write};
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n{extra}\r\n").unwrap();
    let mut lines = BufReader::new(s).lines();
    let status = lines.next().unwrap().unwrap();
    assert!(status.contains(" 200 "), "{status}");
    let (mut out, mut id) = (Vec::new(), None);
    for line in lines {
        let line = line.unwrap();
        if let Some(v) = line.strip_prefix("id: ") {
            id = Some(v.parse::<u64>().unwrap());
        } else if let Some(v) = line.strip_prefix("data: ") {
            let id = id.take().expect("every entry event has an id");
            out.push((id, serde_json::from_str(v).unwrap()));
            if id == until {
                return out;
            }
        }
    }
    panic!("the stream ended before id {until}: {out:?}");
}

/// `/api/v1/entries/stream`: the replay from `from`, then live entries;
/// `Last-Event-ID` resumes after it; a bad `from` is a 400 problem.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_stream_as_server_sent_events() {
    let (server, addr) = server(None).await;
    server.submit(1..=3).await;
    let mut c = server.client().await;
    let size = c
        .get_checkpoint(proto::GetCheckpointRequest {})
        .await
        .unwrap()
        .into_inner()
        .size;
    let follow = {
        let addr = addr.clone();
        // Waits for the two entries (statement and map head) of one more
        // endorsement, submitted below.
        tokio::task::spawn_blocking(move || {
            events(&addr, "/api/v1/entries/stream?from=3", "", size + 1)
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    server.submit(4..=4).await;
    let seen = follow.await.unwrap();
    let ids: Vec<u64> = seen.iter().map(|(id, _)| *id).collect();
    assert_eq!(ids, (3..=size + 1).collect::<Vec<_>>());
    let grpc = c
        .get_entry(proto::GetEntryRequest { index: size })
        .await
        .unwrap()
        .into_inner();
    let (_, live) = &seen[seen.len() - 2];
    assert_eq!(live["index"], size);
    assert_eq!(
        B64.decode(live["leaf"].as_str().unwrap()).unwrap(),
        grpc.leaf
    );
    assert_eq!(live["leaf_hash"], hex::encode(&grpc.leaf_hash));

    let resumed = {
        let addr = addr.clone();
        tokio::task::spawn_blocking(move || {
            events(&addr, "/api/v1/entries/stream", "Last-Event-ID: 4\r\n", 5)
        })
    };
    assert_eq!(
        resumed.await.unwrap()[0].0,
        5,
        "resumes after Last-Event-ID"
    );
    problem(&addr, "/api/v1/entries/stream?from=x", 400, "index").await;
    problem(&addr, "/api/v1/entries/stream?since=3", 400, "since").await;
    server.stop().await;
}
