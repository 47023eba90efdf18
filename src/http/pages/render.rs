//! The pages' main content, from the JSON the API answers
//! (`service::json`), so both show the same facts. Every value from the
//! log is escaped (`html::esc`, names in `<bdi>`); links are built only
//! from hex ids, indices, slugs and percent-encoded query values.

use super::html::{esc, field, name, q, select};
use super::text::{Lang, Text};
use crate::core::entry::{Entry, Signed};
use crate::core::registry::Version;
use crate::service::counts::Counts;
use serde_json::Value;
use std::fmt::Write as _;

/// The listing's filters, as the form and the paging links carry them.
pub struct Filters {
    pub name: String,
    pub group: String,
    pub region: String,
    pub country: String,
    pub status: String,
    pub verified_only: bool,
}

impl Filters {
    /// The query string of these filters, the language and a page token.
    pub fn query(&self, page_token: &str, lang: Lang) -> String {
        let mut out = format!("lang={}", lang.code());
        for (k, v) in [
            ("name", &self.name),
            ("group", &self.group),
            ("region", &self.region),
            ("country", &self.country),
            ("status", &self.status),
        ] {
            if !v.is_empty() {
                let _ = write!(out, "&{k}={}", q(v));
            }
        }
        if self.verified_only {
            out += "&verified_only=true";
        }
        if !page_token.is_empty() {
            let _ = write!(out, "&page_token={}", q(page_token));
        }
        out
    }
}

pub fn index(
    lang: Lang,
    tree_size: u64,
    all: &crate::service::queries::Commitments,
    counts: &dyn Fn(&str) -> Option<std::sync::Arc<Counts>>,
) -> String {
    let t = lang.t();
    let mut out = format!(
        "<h1>{}</h1>\n<p>{}</p>\n<ul class=\"commitments\">\n",
        t.commitments, t.intro
    );
    for (id, versions) in all {
        let latest = versions.last();
        let title = latest.map_or(id.as_str(), |v| v.title.as_str());
        let _ = write!(
            out,
            "<li><a href=\"/commitments/{}?lang={}\">{}</a>",
            q(id),
            lang.code(),
            name(title)
        );
        if let Some(v) = latest {
            out += &version(t, v);
        }
        out += &total(t, counts(id).as_deref());
        out += "</li>\n";
    }
    let _ = writeln!(out, "</ul>\n<p>{}: {tree_size}</p>", t.tree_size);
    out
}

fn version(t: &Text, v: &Version) -> String {
    let mut out = format!(
        " <span>{} {}</span>, {}: <code>{}</code>",
        t.version,
        esc(&v.version),
        t.text_hash,
        hex::encode(v.text_sha256)
    );
    // Only web links become links; anything else is shown as text.
    if let Some(url) = &v.url {
        if url.starts_with("https://") || url.starts_with("http://") {
            let _ = write!(
                out,
                ", {}: <a href=\"{}\" rel=\"nofollow noreferrer\">{}</a>",
                t.published_at,
                esc(url),
                esc(url)
            );
        } else {
            let _ = write!(out, ", {}: {}", t.published_at, esc(url));
        }
    }
    out
}

pub fn commitment(
    lang: Lang,
    id: &str,
    versions: &[Version],
    f: &Filters,
    page: &Value,
    counts: Option<&Counts>,
) -> String {
    let t = lang.t();
    let title = versions.last().map_or(id, |v| v.title.as_str());
    let mut out = format!("<h1>{}</h1>\n<p>", name(title));
    if let Some(v) = versions.last() {
        out += &version(t, v);
    }
    out += "</p>\n";
    out += &charts(t, counts);
    // The filters: a plain GET form, so it works without JavaScript.
    let _ = writeln!(
        out,
        "<h2>{}</h2>\n<form method=\"get\" action=\"/commitments/{}\">\n<input type=\"hidden\" name=\"lang\" value=\"{}\">\n\
         <label for=\"name\">{}</label> <input id=\"name\" name=\"name\" type=\"search\" value=\"{}\">",
        t.signatories,
        q(id),
        lang.code(),
        t.search,
        esc(&f.name)
    );
    out += &select("group", t.group, t.any, &t.groups, &f.group);
    out += &select("region", t.region, t.any, &t.regions, &f.region);
    let _ = writeln!(
        out,
        "\n<label for=\"country\">{}</label> <input id=\"country\" name=\"country\" size=\"2\" maxlength=\"2\" value=\"{}\">",
        t.country,
        esc(&f.country)
    );
    let statuses = [
        ("current", t.current),
        ("withdrawn", t.withdrawn),
        ("all", t.all),
    ];
    let mut status = format!(
        "<label for=\"status\">{}</label> <select id=\"status\" name=\"status\">",
        t.status
    );
    for (slug, label) in statuses {
        let sel = if f.status == slug { " selected" } else { "" };
        let _ = write!(status, "<option value=\"{slug}\"{sel}>{label}</option>");
    }
    out += &(status + "</select>\n");
    let checked = if f.verified_only { " checked" } else { "" };
    let _ = writeln!(
        out,
        "<label><input type=\"checkbox\" name=\"verified_only\" value=\"true\"{checked}> {}</label>\n<button type=\"submit\">{}</button>\n</form>",
        t.verified_only, t.apply
    );
    out += &signatories(lang, id, page);
    if let Some(token) = page["next_page_token"].as_str() {
        let _ = writeln!(
            out,
            "<p><a rel=\"next\" href=\"/commitments/{}?{}\">{}</a></p>",
            q(id),
            esc(&f.query(token, lang)),
            t.next_page
        );
    }
    let _ = writeln!(out, "<p>{}: {}</p>", t.tree_size, page["tree_size"]);
    out
}

fn signatories(lang: Lang, id: &str, page: &Value) -> String {
    let t = lang.t();
    let rows = page["signatories"]
        .as_array()
        .map_or(&[][..], Vec::as_slice);
    if rows.is_empty() {
        return format!("<p>{}</p>\n", t.none_found);
    }
    let mut out = format!(
        "<table id=\"signatories\">\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        t.name, t.group, t.region, t.country, t.status, t.entry, t.proof
    );
    for s in rows {
        let withdrawn = field(s, "status") == "withdrawn";
        let _ = writeln!(
            out,
            "<tr{}{}><td><a href=\"/organizations/{}?lang={}\">{}</a> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"proof\"></td></tr>",
            if withdrawn { " class=\"withdrawn\"" } else { "" },
            verify_attrs(s, id),
            esc(field(s, "organization_id")),
            lang.code(),
            name(field(s, "name")),
            trust(t, s),
            t.group(field(s, "group")),
            t.region(field(s, "region")),
            esc(field(s, "country")),
            if withdrawn { t.withdrawn } else { t.current },
            entry_link(s["endorsed_index"].as_u64()),
        );
    }
    out + "</tbody>\n</table>\n"
}

/// What the verifier script checks for a signatory (organization,
/// commitment, its endorsement entry and status), as data attributes.
fn verify_attrs(s: &Value, commitment: &str) -> String {
    let Some(entry) = s["endorsed_index"].as_u64() else {
        return String::new();
    };
    format!(
        " data-verify=\"signatory\" data-org=\"{}\" data-commitment=\"{}\" data-entry=\"{entry}\" data-status=\"{}\"",
        esc(field(s, "organization_id")),
        esc(commitment),
        esc(field(s, "status"))
    )
}

/// "verified" or "unverified", and the warnings a name carries.
fn trust(t: &Text, s: &Value) -> String {
    let mut out = if s["verified"].as_bool() == Some(true) {
        format!("<span class=\"verified\">{}</span>", t.verified)
    } else {
        format!("<span class=\"unverified\">{}</span>", t.unverified)
    };
    let flags = s["flags"].as_array().map_or(&[][..], Vec::as_slice);
    for (flag, warning) in [
        ("name-conflict", t.name_conflict),
        ("mixed-script", t.mixed_script),
    ] {
        if flags.iter().any(|f| f == flag) {
            let _ = write!(
                out,
                " <strong class=\"warning\" data-flag=\"{flag}\">{warning}</strong>"
            );
        }
    }
    out
}

fn entry_link(index: Option<u64>) -> String {
    index.map_or(String::new(), |i| {
        format!("<a href=\"/api/v1/entries/{i}\">{i}</a>")
    })
}

pub fn organization(lang: Lang, o: &Value, entries: &[Entry], total: usize) -> String {
    let t = lang.t();
    let mut out = format!(
        "<h1>{} {}</h1>\n<dl>\n",
        name(field(o, "name")),
        trust(t, o)
    );
    for (label, value) in [
        (
            t.organization_id,
            format!("<code>{}</code>", esc(field(o, "organization_id"))),
        ),
        (
            t.current_key,
            format!("<code>{}</code>", esc(field(o, "current_public_key"))),
        ),
        (t.group, t.group(field(o, "group")).to_owned()),
        (t.region, t.region(field(o, "region")).to_owned()),
        (t.country, esc(field(o, "country"))),
        (t.domain, esc(field(o, "domain"))),
    ] {
        let _ = writeln!(out, "<dt>{label}</dt><dd>{value}</dd>");
    }
    out += "</dl>\n";
    let _ = writeln!(
        out,
        "<p class=\"proof\" data-verify=\"organization\" data-org=\"{}\" data-key=\"{}\"></p>",
        esc(field(o, "organization_id")),
        esc(field(o, "current_public_key"))
    );
    let _ = writeln!(out, "<h2>{}</h2>", t.verification);
    match o["verification"].as_object() {
        None => {
            let _ = writeln!(out, "<p class=\"unverified\">{}</p>", t.not_verified);
        }
        Some(v) => {
            let _ = writeln!(
                out,
                "<p class=\"verified\">{}: {} — {} ({})</p>",
                t.verified,
                name(v.get("name").and_then(Value::as_str).unwrap_or("")),
                esc(v.get("method").and_then(Value::as_str).unwrap_or("")),
                entry_link(v.get("index").and_then(Value::as_u64))
            );
        }
    }
    let _ = writeln!(out, "<h2>{}</h2>\n<ul>", t.standings);
    for s in o["commitments"].as_array().map_or(&[][..], Vec::as_slice) {
        let withdrawn = field(s, "status") == "withdrawn";
        let _ = writeln!(
            out,
            "<li{}><a href=\"/commitments/{}?lang={}\">{}</a>: {} ({}) <span class=\"proof\"></span></li>",
            verify_attrs(
                &serde_json::json!({
                    "organization_id": o["organization_id"],
                    "endorsed_index": s["endorsed_index"],
                    "status": s["status"],
                }),
                field(s, "commitment_id")
            ),
            q(field(s, "commitment_id")),
            lang.code(),
            esc(field(s, "commitment_id")),
            if withdrawn { t.withdrawn } else { t.current },
            entry_link(
                s[if withdrawn {
                    "withdrawn_index"
                } else {
                    "endorsed_index"
                }]
                .as_u64()
            )
        );
    }
    out += "</ul>\n";
    out += &keys(t, entries, total == entries.len());
    out += &entry_table(t, entries, total);
    let _ = writeln!(out, "<p>{}: {}</p>", t.tree_size, o["tree_size"]);
    out
}

/// The key history: the first endorsement's key, then each rotation's.
fn keys(t: &Text, entries: &[Entry], complete: bool) -> String {
    let mut rows = Vec::new();
    for e in entries {
        match &e.signed {
            // The first key only when the oldest entries are shown.
            Signed::Endorsement { endorsement, .. } if rows.is_empty() && complete => {
                rows.push((e.index, endorsement.public_key, t.first_key));
            }
            Signed::KeyRotation { rotation, .. } => {
                rows.push((e.index, rotation.new_public_key, t.rotated_to));
            }
            _ => {}
        }
    }
    let mut out = format!("<h2>{}</h2>\n<ol>\n", t.key_history);
    for (index, key, how) in rows {
        let _ = writeln!(
            out,
            "<li><code>{}</code> — {how} {}</li>",
            hex::encode(key),
            entry_link(Some(index))
        );
    }
    out + "</ol>\n"
}

/// Every entry about the organization: when, and what it says.
fn entry_table(t: &Text, entries: &[Entry], total: usize) -> String {
    let mut out = format!(
        "<h2>{}</h2>\n<table>\n<thead><tr><th scope=\"col\">{}</th><th scope=\"col\">{}</th><th scope=\"col\">{}</th></tr></thead>\n<tbody>\n",
        t.entries, t.entry, t.integrated, t.statement
    );
    for e in entries {
        let what = match &e.signed {
            Signed::Endorsement { endorsement: x, .. } => {
                format!(
                    "{} <code>{}</code> — {}",
                    t.kind_endorsement,
                    esc(&x.commitment_id),
                    name(&x.organization_name)
                )
            }
            Signed::Withdrawal { withdrawal: x, .. } => {
                format!(
                    "{} <code>{}</code>",
                    t.kind_withdrawal,
                    esc(&x.commitment_id)
                )
            }
            Signed::KeyRotation { rotation: x, .. } => format!(
                "{} <code>{}</code> → <code>{}</code>",
                t.kind_rotation,
                hex::encode(x.old_public_key),
                hex::encode(x.new_public_key)
            ),
            Signed::Verification {
                verification: x, ..
            } => {
                format!(
                    "{} {} ({})",
                    t.kind_verification,
                    name(&x.name),
                    x.method.slug()
                )
            }
            Signed::Revocation { revocation: x, .. } => {
                format!("{}: {}", t.kind_revocation, esc(&x.reason))
            }
            Signed::Commitment { .. } | Signed::MapHead(_) => continue,
        };
        let _ = writeln!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{what}</td></tr>",
            entry_link(Some(e.index)),
            utc(e.integrated_at_ms / 1000)
        );
    }
    out += "</tbody>\n</table>\n";
    if total > entries.len() {
        let _ = writeln!(
            out,
            "<p>{}</p>",
            t.latest_of
                .replace("{n}", &entries.len().to_string())
                .replace("{total}", &total.to_string())
        );
    }
    out
}

/// `YYYY-MM-DD HH:MM UTC` from Unix seconds (civil-from-days, Howard
/// Hinnant's algorithm: no date crate for one format).
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let (h, m) = ((secs % 86_400) / 3600, (secs % 3600) / 60);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let mo = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(mo <= 2);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{m:02} UTC")
}

/// The counts of a commitment as text: "N current signatories (counted at
/// log size S)", or that they are being counted.
pub fn total(t: &Text, counts: Option<&Counts>) -> String {
    match counts {
        None => format!("<p>{}</p>", t.counting),
        Some(c) => format!(
            "<p><strong>{}</strong> {} ({} {})</p>",
            c.total, t.current_signatories, t.counted_at, c.tree_size
        ),
    }
}

/// Two bar charts (inline SVG, drawn here: no library, no script) and the
/// same numbers as tables for screen readers and text browsers.
pub fn charts(t: &Text, counts: Option<&Counts>) -> String {
    let Some(c) = counts else {
        return total(t, None);
    };
    let mut out = total(t, Some(c));
    let groups: Vec<(&str, u64)> = (t.groups.iter().zip(&c.by_group))
        .map(|((_, label), n)| (*label, *n))
        .collect();
    let regions: Vec<(&str, u64)> = (t.regions.iter().zip(&c.by_region))
        .map(|((_, label), n)| (*label, *n))
        .collect();
    out += "<div class=\"charts\">\n";
    out += &bars("chart-groups", t.by_group, &groups);
    out += &bars("chart-regions", t.by_region, &regions);
    out + "</div>\n"
}

/// One horizontal bar chart: label, bar scaled to the largest value, count.
fn bars(id: &str, title: &str, rows: &[(&str, u64)]) -> String {
    const ROW: u64 = 26;
    const LABEL: u64 = 330;
    const BAR: u64 = 230;
    let max = rows.iter().map(|(_, n)| *n).max().unwrap_or(0).max(1);
    let height = ROW * rows.len() as u64 + 8;
    let mut out = format!(
        "<figure>\n<svg role=\"img\" aria-labelledby=\"{id}-title\" viewBox=\"0 0 640 {height}\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\n<title id=\"{id}-title\">{}</title>\n",
        esc(title)
    );
    for (i, (label, n)) in rows.iter().enumerate() {
        let y = ROW * i as u64 + 4;
        let w = (BAR * n).div_ceil(max);
        let _ = writeln!(
            out,
            "<text x=\"0\" y=\"{}\" font-size=\"13\">{}</text><rect x=\"{LABEL}\" y=\"{y}\" width=\"{w}\" height=\"18\" fill=\"#1a5fb4\"></rect><text x=\"{}\" y=\"{}\" font-size=\"13\">{n}</text>",
            y + 14,
            esc(label),
            LABEL + w + 6,
            y + 14
        );
    }
    // The numbers themselves, for screen readers and text browsers.
    out += "</svg>\n<figcaption><details><summary>";
    out += &esc(title);
    out += "</summary>\n<table class=\"counts\">\n";
    for (label, n) in rows {
        let _ = writeln!(
            out,
            "<tr><th scope=\"row\">{}</th><td>{n}</td></tr>",
            esc(label)
        );
    }
    out + "</table>\n</details></figcaption>\n</figure>\n"
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00 UTC");
        // The vector endorsement's integrated_at (SPEC.md, test vectors).
        assert_eq!(super::utc(1_764_000_001), "2025-11-24 16:00 UTC");
        assert_eq!(super::utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::utc(4_102_444_799), "2099-12-31 23:59 UTC");
    }
}
