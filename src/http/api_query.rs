//! The HTTP API's query strings and path values: strict, like the gRPC
//! requests they become. An unknown or repeated parameter, a bad number or
//! an unknown vocabulary word is a 400 naming it, never silently ignored.

use super::api::Problem;
use crate::core::model::{Region, StakeholderGroup};
use crate::proto;
use crate::service::error::{invalid, ApiError};
use std::collections::BTreeMap;

/// The parameters of one request, taken one by one by the handler.
pub struct Params(BTreeMap<String, String>);

impl Params {
    pub fn parse(query: Option<&str>, allowed: &[&str]) -> Result<Params, Problem> {
        let mut map = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
            if !allowed.contains(&k.as_ref()) {
                let why = format!(
                    "{k:?} is not a parameter here (allowed: {})",
                    allowed.join(", ")
                );
                return Err(invalid("query", why).into());
            }
            if map.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(invalid("query", format!("{k:?} is given twice")).into());
            }
        }
        Ok(Params(map))
    }

    /// A parameter's value; an empty value counts as absent.
    pub fn take(&mut self, key: &str) -> Option<String> {
        self.0.remove(key).filter(|v| !v.is_empty())
    }

    pub fn group(&mut self) -> Result<i32, Problem> {
        match self.take("group") {
            None => Ok(0),
            Some(g) => Ok(i32::from(
                StakeholderGroup::from_slug(&g)
                    .map_err(ApiError::from)?
                    .code(),
            )),
        }
    }

    pub fn region(&mut self) -> Result<i32, Problem> {
        match self.take("region") {
            None => Ok(0),
            Some(r) => Ok(i32::from(
                Region::from_slug(&r).map_err(ApiError::from)?.code(),
            )),
        }
    }

    /// `current` (the default), `withdrawn` or `all`.
    pub fn status(&mut self) -> Result<i32, Problem> {
        let s = match self.take("status").as_deref() {
            None | Some("current") => proto::SignatoryStatus::Current,
            Some("withdrawn") => proto::SignatoryStatus::Withdrawn,
            Some("all") => proto::SignatoryStatus::All,
            Some(other) => {
                let why = format!("must be current, withdrawn or all, got {other:?}");
                return Err(invalid("status", why).into());
            }
        };
        Ok(s as i32)
    }

    pub fn number(&mut self, key: &'static str) -> Result<Option<u32>, Problem> {
        match self.take(key) {
            None => Ok(None),
            Some(n) => n
                .parse()
                .map(Some)
                .map_err(|_| invalid(key, format!("must be a whole number, got {n:?}")).into()),
        }
    }

    /// `true` or `false` (absent: false).
    pub fn flag(&mut self, key: &'static str) -> Result<bool, Problem> {
        match self.take(key).as_deref() {
            None | Some("false") => Ok(false),
            Some("true") => Ok(true),
            Some(other) => {
                Err(invalid(key, format!("must be true or false, got {other:?}")).into())
            }
        }
    }
}

/// An entry index: a canonical decimal.
pub fn index(s: &str) -> Result<u64, Problem> {
    let canonical =
        !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && (s == "0" || !s.starts_with('0'));
    canonical
        .then(|| s.parse().ok())
        .flatten()
        .ok_or_else(|| invalid("index", format!("must be a decimal entry index, got {s:?}")).into())
}

/// 32 bytes as 64 hex digits (either case).
pub fn hex32(s: &str, field: &'static str) -> Result<[u8; 32], Problem> {
    hex::decode(s)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| invalid(field, format!("must be 64 hex digits, got {s:?}")).into())
}
