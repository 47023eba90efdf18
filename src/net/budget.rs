//! How many connections the process keeps open: in all, and per client
//! address. One [`Budget`] is shared by every listener of the process.

use crate::metrics::Refusal;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A new connection must have sent its first request by then (TLS and
/// HTTP/2 handshakes take milliseconds; 5 s leaves room for slow links).
pub const DEFAULT_FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// A connection with no request in progress for this long is closed (a
/// client that comes back reconnects transparently); streams in progress
/// (WatchEntries) are requests, so a quiet stream is never cut.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(120);
/// Connections per client address (IPv6: per /64). A gRPC client uses one,
/// a browser up to six per host: 128 lets a busy office behind one NAT
/// address through while one address cannot hold more than a small share
/// of the process's descriptors.
pub const DEFAULT_PER_ADDRESS: usize = 128;
/// Upper bound of the automatic global cap: an idle HTTP/2 connection costs
/// tens of KiB (buffers, TLS state), so 16,384 stays well under 1 GiB.
pub const MAX_AUTO_CONNECTIONS: usize = 16_384;

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Limits {
    pub first_request_timeout: Duration,
    pub idle_timeout: Duration,
    /// 0: no per-address cap.
    pub per_address: usize,
    /// Apply the per-address cap to loopback clients too.
    pub limit_loopback: bool,
    /// Connections open at once over every listener.
    pub max_connections: usize,
}

impl Default for Limits {
    /// The defaults, with the global cap derived from the descriptor limit
    /// in force (see [`auto_max_connections`]).
    fn default() -> Limits {
        Limits {
            first_request_timeout: DEFAULT_FIRST_REQUEST_TIMEOUT,
            idle_timeout: DEFAULT_IDLE_TIMEOUT,
            per_address: DEFAULT_PER_ADDRESS,
            limit_loopback: false,
            max_connections: auto_max_connections(current_descriptor_limit()),
        }
    }
}

/// The soft limit on open descriptors (RLIMIT_NOFILE).
fn current_descriptor_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 1024; // the usual default soft limit
    }
    lim.rlim_cur
}

/// Raises the soft descriptor limit to the hard limit (as Go's runtime
/// does at start: the soft limit exists for old `select(2)` programs, and a
/// server is better off with every descriptor it is allowed), and returns
/// the limit now in force.
pub fn descriptor_limit() -> u64 {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: as above; setrlimit only reads the struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return 1024;
        }
        if lim.rlim_cur < lim.rlim_max {
            let raised = libc::rlimit {
                rlim_cur: lim.rlim_max,
                rlim_max: lim.rlim_max,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &raised) == 0 {
                lim.rlim_cur = lim.rlim_max;
            }
        }
    }
    lim.rlim_cur
}

/// The global cap for a descriptor limit: the limit less a reserve for
/// everything else the process opens (the database's files, the runtime,
/// listeners, backups in progress) of an eighth of the limit, at least 64
/// and at most 1024 descriptors; half the limit when it is tiny; never more
/// than [`MAX_AUTO_CONNECTIONS`]. 256 → 192; 1024 → 896; 65,536 → 16,384.
pub fn auto_max_connections(descriptors: u64) -> usize {
    let limit = usize::try_from(descriptors).unwrap_or(usize::MAX);
    let reserve = (limit / 8).clamp(64, 1024);
    let cap = if limit < 2 * reserve {
        limit / 2
    } else {
        limit - reserve
    };
    cap.clamp(1, MAX_AUTO_CONNECTIONS)
}

/// Places of the global cap kept for privileged connections: an eighth, at
/// most 256 (none below 16): 192 → 24.
pub fn reserved(max_connections: usize) -> usize {
    if max_connections < 16 {
        0
    } else {
        (max_connections / 8).min(256)
    }
}

/// Whether a client at `ip` counts as local (IPv4-mapped loopback too).
pub fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

struct Inner {
    limits: Limits,
    open: AtomicUsize,
    per_address: Mutex<HashMap<IpAddr, usize>>,
}

/// Connections open now, in all and per address, against the [`Limits`].
#[derive(Clone)]
pub struct Budget(Arc<Inner>);

/// One admitted connection's place in the budget; dropping it (when the
/// connection closes) gives the place back.
pub struct Slot {
    budget: Arc<Inner>,
    address: Option<IpAddr>,
}

/// The key a client address counts under: IPv6 by /64, the smallest block
/// one subscriber usually holds (as the rate limit does).
fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            IpAddr::V6(Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
        }
        v4 => v4,
    }
}

impl Budget {
    pub fn new(limits: Limits) -> Budget {
        Budget(Arc::new(Inner {
            limits,
            open: AtomicUsize::new(0),
            per_address: Mutex::new(HashMap::new()),
        }))
    }

    pub fn limits(&self) -> Limits {
        self.0.limits
    }

    /// Connections open now over every listener.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    /// A place for a new connection from `ip`, or which cap it is over.
    /// `privileged` connections (the metrics listener; loopback clients
    /// unless `limit_loopback`) may also take the [`reserved`] places, so a
    /// flood from the network cannot shut out health checks run on the
    /// host and the metrics scraper.
    pub fn admit(&self, ip: IpAddr, privileged: bool) -> Result<Slot, Refusal> {
        let limits = &self.0.limits;
        let cap = match privileged {
            true => limits.max_connections,
            false => limits.max_connections - reserved(limits.max_connections),
        };
        let open = self.0.open.fetch_add(1, Ordering::Relaxed);
        if open >= cap {
            self.0.open.fetch_sub(1, Ordering::Relaxed);
            return Err(Refusal::Global);
        }
        let capped = limits.per_address > 0 && (limits.limit_loopback || !is_loopback(ip));
        let mut slot = Slot {
            budget: self.0.clone(),
            address: None,
        };
        if capped {
            let key = client_key(ip);
            let mut table = self.0.per_address.lock().unwrap_or_else(|p| p.into_inner());
            let count = table.entry(key).or_insert(0);
            if *count >= limits.per_address {
                return Err(Refusal::Address); // `slot` gives back the global place
            }
            *count += 1;
            slot.address = Some(key);
        }
        Ok(slot)
    }

    /// What a refusal means, for the warning.
    pub fn describe(&self, refusal: Refusal) -> String {
        let limits = &self.0.limits;
        match refusal {
            Refusal::Global => format!(
                "{} connections open, the most this process keeps (max_connections)",
                limits.max_connections
            ),
            Refusal::Address => format!(
                "{} connections open from that address (IPv6: its /64), the most one address may hold (max_connections_per_address)",
                limits.per_address
            ),
        }
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Some(key) = self.address {
            let mut table = (self.budget.per_address.lock()).unwrap_or_else(|p| p.into_inner());
            if let Some(count) = table.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    table.remove(&key); // the table holds only open connections
                }
            }
        }
        self.budget.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_address: usize, max: usize, limit_loopback: bool) -> Limits {
        Limits {
            per_address,
            max_connections: max,
            limit_loopback,
            ..Limits::default()
        }
    }

    #[test]
    fn the_automatic_cap_stays_below_the_descriptor_limit() {
        assert_eq!(auto_max_connections(256), 192);
        assert_eq!(auto_max_connections(1024), 896);
        assert_eq!(auto_max_connections(65_536), MAX_AUTO_CONNECTIONS);
        assert_eq!(auto_max_connections(100), 50);
        assert_eq!(auto_max_connections(0), 1);
        for n in [8u64, 64, 200, 256, 1000, 4096, 1 << 20] {
            assert!((auto_max_connections(n) as u64) < n.max(2), "{n}");
        }
    }

    #[test]
    fn caps_count_open_connections_and_give_places_back() {
        let budget = Budget::new(limits(2, 3, false));
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let (s1, s2) = (
            budget.admit(a, false).unwrap(),
            budget.admit(a, false).unwrap(),
        );
        assert_eq!(budget.admit(a, false).err(), Some(Refusal::Address));
        let s3 = budget.admit("192.0.2.2".parse().unwrap(), false).unwrap();
        assert_eq!(budget.open(), 3);
        assert_eq!(
            budget.admit("192.0.2.3".parse().unwrap(), false).err(),
            Some(Refusal::Global)
        );
        drop(s1);
        let _s4 = budget.admit(a, false).unwrap();
        drop((s2, s3));
        assert_eq!(budget.open(), 1);
        assert_eq!(budget.0.per_address.lock().unwrap().len(), 1);
    }

    #[test]
    fn ipv6_counts_by_64_and_loopback_is_exempt_unless_asked() {
        let budget = Budget::new(limits(1, 100, false));
        let _a = budget
            .admit("2001:db8:1:2::1".parse().unwrap(), false)
            .unwrap();
        let same_64 = "2001:db8:1:2:ffff::9".parse().unwrap();
        assert_eq!(budget.admit(same_64, false).err(), Some(Refusal::Address));
        let held: Vec<_> = ["127.0.0.1", "::1", "::ffff:127.0.0.1"]
            .iter()
            .flat_map(|a| (0..5).map(|_| budget.admit(a.parse().unwrap(), true).unwrap()))
            .collect();
        assert_eq!(held.len(), 15);
        let strict = Budget::new(limits(1, 100, true));
        let _l = strict.admit("127.0.0.1".parse().unwrap(), false).unwrap();
        assert!(strict.admit("127.0.0.1".parse().unwrap(), false).is_err());
        assert!(strict.admit("127.0.0.2".parse().unwrap(), false).is_ok());
    }

    #[test]
    fn a_flood_from_the_network_leaves_the_reserve_to_local_and_metrics() {
        let budget = Budget::new(limits(0, 64, false));
        assert_eq!(reserved(64), 8);
        let remote: Vec<_> = (0..56u32)
            .map(|i| {
                budget
                    .admit(IpAddr::V4((0xc000_0200 + i).into()), false)
                    .unwrap()
            })
            .collect();
        assert_eq!(
            budget.admit("198.51.100.1".parse().unwrap(), false).err(),
            Some(Refusal::Global)
        );
        let local: Vec<_> = (0..8)
            .map(|_| budget.admit("127.0.0.1".parse().unwrap(), true).unwrap())
            .collect();
        assert_eq!(
            budget.admit("127.0.0.1".parse().unwrap(), true).err(),
            Some(Refusal::Global)
        );
        assert_eq!(remote.len() + local.len(), 64);
    }
}
