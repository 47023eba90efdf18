//! Who may do what: the admin token for operator statements and a
//! per-client rate limit. One interceptor runs before every handler; it
//! refuses clients over their rate and records whether the caller presented
//! the admin token, which [`authorize`] checks for operator statements.
//!
//! Why a token when operator statements are signed anyway: the signature
//! proves who *wrote* a statement, the token decides who may *use this
//! server's admin surface* — an operator key copied to a laptop is not enough
//! to register commitments, and administrative calls that carry no signature
//! (later issues) have something to check.

use super::error::ApiError;
use super::limiter::Limiter;
use sha2::{Digest, Sha256};
use std::net::{IpAddr, Ipv6Addr};
use tonic::{Request, Status};

/// The metadata key clients send the token in: `authorization: Bearer <token>`.
pub const AUTHORIZATION: &str = "authorization";

/// The admin token, kept only as its SHA-256 so that comparing a guess costs
/// the same whatever bytes it shares with the token (no timing oracle).
#[derive(Clone)]
pub struct AdminToken([u8; 32]);

impl AdminToken {
    pub fn new(token: &str) -> AdminToken {
        AdminToken(Sha256::digest(token.trim().as_bytes()).into())
    }

    fn matches(&self, presented: &str) -> bool {
        let guess: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        guess
            .iter()
            .zip(&self.0)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

/// What the interceptor learned about a request's credentials; handlers read
/// it from the request's extensions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Caller {
    /// No `authorization` header.
    Anonymous,
    /// A header that is not `Bearer <this server's admin token>`.
    WrongToken,
    /// The admin token.
    Operator,
    /// The server has no admin token: nobody is an operator here.
    NoAdmin,
}

/// Refuses operator statements from anyone but the operator: UNAUTHENTICATED
/// without credentials, PERMISSION_DENIED with credentials that do not grant
/// operator rights (a wrong token, or a server configured without one).
pub fn authorize(caller: Option<Caller>) -> Result<(), ApiError> {
    let denied = |why: &str| ApiError::PermissionDenied(why.to_owned());
    match caller.unwrap_or(Caller::Anonymous) {
        Caller::Operator => Ok(()),
        Caller::Anonymous => Err(ApiError::Unauthenticated(
            "operator statements (commitment registrations) need `authorization: Bearer <admin token>`; \
             the token is in the server's admin token file (default DATA/admin.token)"
                .into(),
        )),
        Caller::WrongToken => Err(denied(
            "authorization: the bearer token is not this server's admin token",
        )),
        Caller::NoAdmin => Err(denied(
            "this server has no admin token configured and accepts no operator statements",
        )),
    }
}

/// Per-client request rate: a token bucket of `burst` requests refilled at
/// `per_second`. Clients are told apart by IP address (IPv6 by /64, the
/// smallest block one subscriber usually holds).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: f64,
    /// Also limit clients on 127.0.0.0/8 and ::1 (local tools, benchmarks
    /// and sidecars are trusted by default).
    pub loopback: bool,
}

/// The interceptor installed in front of the service (cheap to clone); the
/// Submit handlers also ask it about signing keys ([`Access::admit_key`]).
#[derive(Clone)]
pub struct Access {
    admin: Option<AdminToken>,
    clients: Option<Limiter<IpAddr>>,
    keys: Option<Limiter<[u8; 32]>>,
}

impl Access {
    pub fn new(admin: Option<AdminToken>, limit: Option<RateLimit>) -> Access {
        let limit = limit.filter(|l| l.per_second > 0.0);
        Access {
            admin,
            clients: limit.map(|l| Limiter::new(l, IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
            keys: None,
        }
    }

    /// Also limits statements per signing key of organizations the operator
    /// has not verified (spam resistance; verified organizations and the
    /// operator are not limited).
    pub fn with_key_limit(mut self, limit: Option<RateLimit>) -> Access {
        self.keys = limit
            .filter(|l| l.per_second > 0.0)
            .map(|l| Limiter::new(l, [0; 32]));
        self
    }

    fn caller(&self, req: &Request<()>) -> Caller {
        let Some(admin) = &self.admin else {
            return Caller::NoAdmin;
        };
        let Some(value) = req.metadata().get(AUTHORIZATION) else {
            return Caller::Anonymous;
        };
        let token = value.to_str().ok().and_then(|v| v.strip_prefix("Bearer "));
        match token {
            Some(t) if admin.matches(t.trim()) => Caller::Operator,
            _ => Caller::WrongToken,
        }
    }

    /// Takes one request from the client's bucket, or says how long to wait
    /// (gRPC and the HTTP API share the buckets).
    pub fn admit(&self, ip: IpAddr) -> Result<(), ApiError> {
        let Some(limiter) = &self.clients else {
            return Ok(());
        };
        if crate::net::budget::is_loopback(ip) && !limiter.limit.loopback {
            return Ok(());
        }
        // IPv4 clients of a dual-stack listener (::ffff:a.b.c.d) count as
        // themselves, not as one shared IPv6 /64.
        let key = match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        };
        limited(limiter, key, || format!("client {ip}"))
    }

    /// Takes one statement from a signing key's bucket (call it only for
    /// validly signed statements of unverified organizations, so nobody
    /// can spend another's allowance).
    pub fn admit_key(&self, key: [u8; 32]) -> Result<(), ApiError> {
        match &self.keys {
            Some(limiter) => limited(limiter, key, || format!("key {}", hex::encode(key))),
            None => Ok(()),
        }
    }
}

fn limited<K: std::hash::Hash + Eq + Clone>(
    limiter: &Limiter<K>,
    key: K,
    who: impl FnOnce() -> String,
) -> Result<(), ApiError> {
    limiter.take(key).map_err(|retry_after_ms| {
        crate::metrics::METRICS.rate_limited.inc();
        ApiError::RateLimited {
            who: who(),
            per_second: limiter.limit.per_second,
            retry_after_ms,
        }
    })
}

/// Marks a request whose statements skip the per-key limit: the operator's
/// (bulk imports carry the admin token), and loopback clients' unless
/// loopback is limited too.
#[derive(Clone, Copy, Debug)]
pub struct KeyLimitExempt;

impl tonic::service::Interceptor for Access {
    fn call(&mut self, mut req: Request<()>) -> Result<Request<()>, Status> {
        // The connection's address, from the listener (`server::listener`)
        // or, for a server run on a plain tonic listener, from tonic.
        let peer = crate::net::ConnInfo::of(req.extensions())
            .map(|c| c.remote)
            .or_else(|| req.remote_addr())
            .map(|a| a.ip());
        if let Some(ip) = peer {
            self.admit(ip)?;
        }
        let caller = self.caller(&req);
        let local = peer.is_some_and(crate::net::budget::is_loopback)
            && self.keys.as_ref().is_some_and(|k| !k.limit.loopback);
        if caller == Caller::Operator || local {
            req.extensions_mut().insert(KeyLimitExempt);
        }
        req.extensions_mut().insert(caller);
        Ok(req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: RateLimit = RateLimit {
        per_second: 1.0,
        burst: 2.0,
        loopback: false,
    };

    #[test]
    fn the_token_matches_only_itself() {
        let token = AdminToken::new("s3cret\n");
        assert!(token.matches("s3cret"));
        assert!(!token.matches("s3cre") && !token.matches("s3cret ") && !token.matches(""));
    }

    #[test]
    fn clients_are_told_apart_by_address_and_ipv6_by_64() {
        let access = Access::new(None, Some(LIMIT));
        let a: IpAddr = "2001:db8:1:2::1".parse().unwrap();
        let same_64: IpAddr = "2001:db8:1:2:ffff::9".parse().unwrap();
        let other: IpAddr = "192.0.2.7".parse().unwrap();
        access.admit(a).unwrap();
        access.admit(same_64).unwrap();
        assert!(matches!(access.admit(a), Err(ApiError::RateLimited { .. })));
        access.admit(other).unwrap();
        // Loopback is exempt unless asked for.
        for _ in 0..10 {
            access.admit("127.0.0.1".parse().unwrap()).unwrap();
        }
    }

    #[test]
    fn memory_stays_bounded_when_addresses_are_sprayed() {
        let access = Access::new(None, Some(LIMIT));
        let max = super::super::limiter::MAX_TRACKED as u32;
        for i in 0..(max + 1000) {
            let _ = access.admit(IpAddr::V4((0x0a00_0000 + i).into()));
        }
        let tracked = access.clients.as_ref().unwrap().tracked();
        assert!(tracked.len() <= max as usize + 1, "{}", tracked.len());
        // The newcomers beyond the bound shared one bucket.
        assert!(tracked.contains(&IpAddr::V6(Ipv6Addr::UNSPECIFIED)));
    }

    #[test]
    fn keys_have_their_own_allowance() {
        let access = Access::new(None, None).with_key_limit(Some(LIMIT));
        access.admit_key([1; 32]).unwrap();
        access.admit_key([1; 32]).unwrap();
        let err = access.admit_key([1; 32]).unwrap_err().to_string();
        assert!(err.contains("key 0101"), "{err}");
        access.admit_key([2; 32]).unwrap();
    }
}
