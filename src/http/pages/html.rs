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

/// The whole page around `main` (already HTML).
pub fn page(lang: Lang, title: &str, here: &str, vkey: &str, main: &str) -> String {
    let t = lang.t();
    let (other, other_name) = lang.other();
    let sep = if here.contains('?') { '&' } else { '?' };
    let mut out = String::with_capacity(main.len() + 2048);
    let _ = writeln!(
        out,
        "<!doctype html>\n<html lang=\"{code}\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>{title} — {site}</title>\n<link rel=\"stylesheet\" href=\"/assets/style.css\">\n</head>\n<body>\n\
         <header><a class=\"site\" href=\"/?lang={code}\">{site}</a> \
         <a class=\"lang\" hreflang=\"{ocode}\" lang=\"{ocode}\" href=\"{here}{sep}lang={ocode}\">{other_name}</a></header>\n\
         <main>\n{main}</main>\n<footer>{key}</footer>\n</body>\n</html>",
        code = lang.code(),
        title = esc(title),
        site = esc(t.site),
        ocode = other.code(),
        here = esc(here),
        // The key readers compare with the operator's (error pages have none).
        key = if vkey.is_empty() {
            String::new()
        } else {
            format!("<p>{}: <code>{}</code></p><p>{}</p>", t.log_key, esc(vkey), t.key_note)
        },
    );
    out
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
