//! HTML building blocks. Every text that comes from the log (names,
//! statements, domains, commitment titles and ids — all chosen by whoever
//! signed them) goes through [`esc`], and names are isolated with `<bdi>`
//! so right-to-left text cannot reorder what surrounds it. Nothing here
//! writes a `<script>` or an inline style: the Content-Security-Policy
//! forbids both.

use super::text::Lang;
use std::fmt::Write as _;

/// Escapes text for element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A query-string value, percent-encoded.
pub fn q(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Text from a JSON field (empty when absent).
pub fn field<'a>(v: &'a serde_json::Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or("")
}

/// A name as shown: escaped and bidi-isolated.
pub fn name(s: &str) -> String {
    format!("<bdi>{}</bdi>", esc(s))
}

/// What readers verify with: the log's vkey and, with witnesses, the policy
/// file. Both are shown in the footer and handed to the verifier script.
pub struct Trust<'a> {
    pub vkey: &'a str,
    pub policy: Option<&'a str>,
}

/// The whole page around `main` (already HTML). Pages with a log key load
/// the verifier script (`/assets/js/page.js`) and its configuration as a JSON
/// data block, which is never executed, so the CSP's `script-src 'self'`
/// still forbids every inline script.
pub fn page(lang: Lang, title: &str, here: &str, trust: &Trust, main: &str) -> String {
    let t = lang.t();
    let (other, other_name) = lang.other();
    let sep = if here.contains('?') { '&' } else { '?' };
    let mut out = String::with_capacity(main.len() + 4096);
    let _ = writeln!(
        out,
        "<!doctype html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — {site}</title>\n<link rel=\"stylesheet\" href=\"/assets/style.css\">\n</head>\n<body>\n\
         <header><a class=\"site\" href=\"/?lang={code}\">{site}</a> \
         <a class=\"lang\" hreflang=\"{ocode}\" lang=\"{ocode}\" href=\"{here}{sep}lang={ocode}\">{other_name}</a></header>\n\
         <main>\n{main}</main>",
        code = lang.code(),
        title = esc(title),
        site = esc(t.site),
        ocode = other.code(),
        here = esc(here),
    );
    // The key readers compare with the operator's (error pages have none).
    if !trust.vkey.is_empty() {
        let _ = write!(
            out,
            "<footer>\n<p>{}: <code id=\"log-key\">{}</code></p>\n",
            t.log_key,
            esc(trust.vkey)
        );
        if let Some(policy) = trust.policy {
            let _ = write!(out, "<p>{}:</p>\n<pre>{}</pre>\n", t.policy, esc(policy));
        }
        let config = serde_json::json!({
            "lang": lang.code(),
            "vkey": trust.vkey,
            "policy": trust.policy,
            "text": t.js.iter().copied().collect::<std::collections::BTreeMap<_, _>>(),
        });
        // `<` escaped: the data block cannot end early, whatever it holds.
        let config = config.to_string().replace('<', "\\u003c");
        let _ = write!(
            out,
            "<p>{}</p>\n<div id=\"pin\"></div>\n</footer>\n\
             <script type=\"application/json\" id=\"accord-config\">{config}</script>\n\
             <script type=\"module\" src=\"/assets/js/page.js\"></script>\n",
            t.key_note
        );
    }
    out + "</body>\n</html>\n"
}

/// A `<select>` of vocabulary `options` (slug, label) with `chosen` selected.
pub fn select(id: &str, label: &str, any: &str, options: &[(&str, &str)], chosen: &str) -> String {
    let mut out = format!("<label for=\"{id}\">{label}</label> <select id=\"{id}\" name=\"{id}\">");
    let _ = write!(out, "<option value=\"\">{}</option>", esc(any));
    for (slug, text) in options {
        let sel = if *slug == chosen { " selected" } else { "" };
        let _ = write!(out, "<option value=\"{slug}\"{sel}>{}</option>", esc(text));
    }
    out + "</select>"
}
