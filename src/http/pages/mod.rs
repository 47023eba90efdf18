//! The public web pages (`/`, `/commitments/{id}`, `/organizations/{id}`
//! on `--http-listen`): server-rendered HTML that works without JavaScript,
//! in English or French (`?lang=fr`). They show what the JSON API answers —
//! the same service calls, converted by `service::json` — so the page, the
//! API and gRPC cannot disagree. Every page is sent with a strict
//! Content-Security-Policy: no inline script or style, nothing from
//! another origin.

mod html;
mod render;
mod text;

use super::api::Problem;
use super::api_query::{hex32, Params};
use crate::core::entry::Entry;
use crate::core::model::{Region, StakeholderGroup};
use crate::net::ConnInfo;
use crate::proto;
use crate::service::access::Access;
use crate::service::error::{http_status, ApiError};
use crate::service::reader::Reader;
use crate::service::{json, queries};
use axum::extract::{ConnectInfo, Path, RawQuery, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use text::Lang;

/// No script or style but our own files, no frames, no other origins.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self'; script-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const STYLE: &str = include_str!("style.css");
/// The verifier (SPEC.md in JavaScript) and the script that wires it to
/// the page: static files embedded in the binary, no build step.
const SCRIPTS: [(&str, &str); 4] = [
    ("page.js", include_str!("page.js")),
    ("verify.js", include_str!("verify.js")),
    ("verify_entry.js", include_str!("verify_entry.js")),
    ("verify_registry.js", include_str!("verify_registry.js")),
];
/// Signatories per page.
const PAGE: u32 = 100;

#[derive(Clone)]
struct Pages {
    reader: Reader,
    access: Access,
    counts: crate::service::counts::CountCache,
}

/// An error page, in the reader's language, with the API's status.
struct PageError(tonic::Status, Lang);

impl From<(Problem, Lang)> for PageError {
    fn from((p, lang): (Problem, Lang)) -> PageError {
        PageError(p.0, lang)
    }
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        let code = http_status(self.0.code());
        let t = self.1.t();
        let main = format!(
            "<h1>{} {code}</h1>\n<p>{}</p>\n",
            t.error,
            html::esc(self.0.message())
        );
        let none = html::Trust {
            vkey: "",
            policy: None,
        };
        let body = html::page(self.1, t.error, "/", &none, &main);
        let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, html_headers(), body).into_response()
    }
}

fn html_headers() -> [(header::HeaderName, &'static str); 4] {
    [
        (header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
    ]
}

type Page = Result<Response, PageError>;

impl Pages {
    /// Rate limit, language and parameters of a request.
    fn begin(
        &self,
        c: &ConnInfo,
        query: Option<&str>,
        allowed: &[&str],
    ) -> Result<(Lang, Params), PageError> {
        let mut p = Params::parse(query, allowed).map_err(|e| PageError::from((e, Lang::En)))?;
        let lang = Lang::parse(p.take("lang").as_deref()).ok_or_else(|| {
            PageError(
                tonic::Status::invalid_argument("lang: must be en or fr"),
                Lang::En,
            )
        })?;
        self.access
            .admit(c.remote.ip())
            .map_err(|e| PageError(e.into(), lang))?;
        Ok((lang, p))
    }

    async fn call<T: Send + 'static>(
        &self,
        lang: Lang,
        f: impl FnOnce(&Reader) -> Result<T, ApiError> + Send + 'static,
    ) -> Result<T, PageError> {
        let ready = self
            .reader
            .sequencer
            .registry_ready()
            .await
            .map_err(ApiError::from);
        let answer = match ready {
            Ok(()) => self.reader.blocking(f).await,
            Err(e) => Err(e),
        };
        answer.map_err(|e| PageError(e.into(), lang))
    }

    /// The log's verifier key, shown on every page.
    fn vkey(&self) -> String {
        (self.reader.storage.meta().ok().flatten()).map_or(String::new(), |m| m.vkey)
    }

    /// A page with the log key and witness policy in its footer.
    fn page(&self, lang: Lang, title: &str, here: &str, main: &str) -> Page {
        let vkey = self.vkey();
        let trust = html::Trust {
            vkey: &vkey,
            policy: self.reader.witness_policy.as_deref(),
        };
        html(html::page(lang, title, here, &trust, main))
    }
}

/// A vocabulary filter's code (0: any).
fn code<T>(
    slug: &str,
    parse: fn(&str) -> Result<T, crate::core::Error>,
    code: fn(T) -> u8,
) -> Result<i32, ApiError> {
    if slug.is_empty() {
        return Ok(0);
    }
    Ok(i32::from(code(parse(slug)?)))
}

fn status(s: &str) -> Result<i32, ApiError> {
    Ok(match s {
        "current" => proto::SignatoryStatus::Current,
        "withdrawn" => proto::SignatoryStatus::Withdrawn,
        "all" => proto::SignatoryStatus::All,
        other => {
            let why = format!("must be current, withdrawn or all, got {other:?}");
            return Err(crate::service::error::invalid("status", why));
        }
    } as i32)
}

fn html(body: String) -> Page {
    Ok((html_headers(), body).into_response())
}

async fn index(
    State(s): State<Pages>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    RawQuery(q): RawQuery,
) -> Page {
    let (lang, _) = s.begin(&c, q.as_deref(), &["lang"])?;
    let (tree_size, all) = s.call(lang, queries::commitments).await?;
    let counts = |id: &str| s.counts.get(&s.reader, id);
    let main = render::index(lang, tree_size, &all, &counts);
    s.page(lang, lang.t().commitments, "/", &main)
}

async fn commitment(
    State(s): State<Pages>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let allowed = [
        "lang",
        "name",
        "group",
        "region",
        "country",
        "status",
        "verified_only",
        "page_token",
    ];
    let (lang, mut p) = s.begin(&c, q.as_deref(), &allowed)?;
    let bad = |e: Problem| PageError::from((e, lang));
    let filters = render::Filters {
        name: p.take("name").unwrap_or_default(),
        group: p.take("group").unwrap_or_default(),
        region: p.take("region").unwrap_or_default(),
        country: p.take("country").unwrap_or_default(),
        status: p.take("status").unwrap_or_else(|| "current".into()),
        verified_only: p.flag("verified_only").map_err(bad)?,
    };
    let invalid = |e: ApiError| PageError(e.into(), lang);
    let req = proto::ListSignatoriesRequest {
        commitment_id: id.clone(),
        stakeholder_group: code(
            &filters.group,
            StakeholderGroup::from_slug,
            StakeholderGroup::code,
        )
        .map_err(invalid)?,
        region: code(&filters.region, Region::from_slug, Region::code).map_err(invalid)?,
        country: filters.country.clone(),
        status: status(&filters.status).map_err(invalid)?,
        name_contains: filters.name.clone(),
        page_size: PAGE,
        page_token: p.take("page_token").unwrap_or_default(),
        verified_only: filters.verified_only,
    };
    let wanted = id.clone();
    let (versions, answer) = s
        .call(lang, move |r| {
            let (_, all) = queries::commitments(r)?;
            let versions = (all.into_iter().find(|(c, _)| *c == wanted))
                .map(|(_, v)| v)
                .ok_or_else(|| {
                    ApiError::NotFound(format!(
                        "commitment_id: {wanted:?} is not a registered commitment"
                    ))
                })?;
            Ok((versions, queries::list_signatories(r, req)?))
        })
        .await?;
    let here = format!("/commitments/{}", html::q(&id));
    let counts = s.counts.get(&s.reader, &id);
    let page = json::signatories(&answer);
    let main = render::commitment(lang, &id, &versions, &filters, &page, counts.as_deref());
    s.page(lang, &id, &here, &main)
}

async fn organization(
    State(s): State<Pages>,
    ConnectInfo(c): ConnectInfo<ConnInfo>,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Page {
    let (lang, _) = s.begin(&c, q.as_deref(), &["lang"])?;
    let bytes = hex32(&id, "organization").map_err(|e| PageError::from((e, lang)))?;
    let (answer, entries, total) = s
        .call(lang, move |r| {
            let answer = queries::organization_by_id_or_key(r, bytes)?;
            let (entries, total) = entries_about(r, &answer)?;
            Ok((answer, entries, total))
        })
        .await?;
    let org = json::organization(&answer);
    let here = format!("/organizations/{}", html::field(&org, "organization_id"));
    let main = render::organization(lang, &org, &entries, total);
    s.page(lang, html::field(&org, "name"), &here, &main)
}

/// Entries an organization page shows, decoded: the latest this many.
/// (Its statements are rate-limited, so real organizations have a handful;
/// the bound keeps a page of a spammer's key cheap.)
const ENTRIES_SHOWN: usize = 500;

/// The organization's entries and the operator's about it, in log order
/// (the latest [`ENTRIES_SHOWN`]), and how many there are in all.
fn entries_about(
    r: &Reader,
    o: &proto::GetOrganizationResponse,
) -> Result<(Vec<Entry>, usize), ApiError> {
    let mut all: Vec<u64> = o
        .history
        .iter()
        .chain(&o.verification_history)
        .copied()
        .collect();
    all.sort_unstable();
    all.dedup();
    let shown = &all[all.len().saturating_sub(ENTRIES_SHOWN)..];
    let entries = shown
        .iter()
        .map(|&i| {
            let (leaf, _) = r.entry(i)?;
            Entry::from_leaf(&leaf).map_err(|e| {
                ApiError::Storage(crate::storage::StorageError::Corrupt(format!(
                    "entry {i}: {e}"
                )))
            })
        })
        .collect::<Result<_, _>>()?;
    Ok((entries, all.len()))
}

async fn style() -> Response {
    asset(STYLE, "text/css; charset=utf-8")
}

async fn script(Path(name): Path<String>) -> Response {
    match SCRIPTS.iter().find(|(n, _)| *n == name) {
        Some((_, body)) => asset(body, "text/javascript; charset=utf-8"),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

fn asset(body: &'static str, content_type: &'static str) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    r
}

/// The pages' routes (merged into the HTTP listener's router).
pub fn router(reader: Reader, access: Access) -> axum::Router {
    axum::Router::new()
        .route("/", get(index))
        .route("/commitments/{id}", get(commitment))
        .route("/organizations/{id}", get(organization))
        .route("/assets/style.css", get(style))
        .route("/assets/js/{name}", get(script))
        .with_state(Pages {
            reader,
            access,
            counts: Default::default(),
        })
}
