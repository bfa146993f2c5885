//! Caps on open connections: in all, and per client address (an IPv4
//! address or an IPv6 /64), so that one address holding connections open
//! (stalled request heads, idle keep-alives) cannot take every connection,
//! or every file descriptor, from the others.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::api::client_key;

/// The connections open now, in all and by client address.
pub(crate) struct ConnectionLimits {
    max: usize,
    max_per_address: usize,
    open: Mutex<Open>,
}

#[derive(Default)]
struct Open {
    total: usize,
    by_address: HashMap<IpAddr, usize>,
}

impl ConnectionLimits {
    /// At most `max` connections, `max_per_address` of them from one
    /// address (both at least one).
    pub(crate) fn new(max: usize, max_per_address: usize) -> Arc<Self> {
        Arc::new(Self {
            max: max.max(1),
            max_per_address: max_per_address.max(1),
            open: Mutex::new(Open::default()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Open> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a new connection from `peer`, or refuses it (`None`) if the
    /// relay, or `peer`'s address, is at its cap. A trusted proxy's
    /// connections carry many clients and count against the total only.
    pub(crate) fn admit(self: &Arc<Self>, peer: IpAddr, proxy: bool) -> Option<ConnectionPermit> {
        let mut open = self.lock();
        if open.total >= self.max {
            return None;
        }
        let address = (!proxy).then(|| client_key(peer));
        if let Some(address) = address {
            let from_address = open.by_address.entry(address).or_default();
            if *from_address >= self.max_per_address {
                return None;
            }
            *from_address += 1;
        }
        open.total += 1;
        Some(ConnectionPermit {
            limits: self.clone(),
            address,
        })
    }

    /// How many connections are open.
    pub(crate) fn open(&self) -> usize {
        self.lock().total
    }
}

/// One open connection's place under the caps, given back when dropped.
pub(crate) struct ConnectionPermit {
    limits: Arc<ConnectionLimits>,
    address: Option<IpAddr>,
}

impl Drop for ConnectionPermit {
    fn drop(&mut self) {
        let mut open = self.limits.lock();
        open.total = open.total.saturating_sub(1);
        if let Some(address) = self.address
            && let Some(count) = open.by_address.get_mut(&address)
        {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_address.remove(&address);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_address_is_capped_and_others_still_get_in() {
        let limits = ConnectionLimits::new(4, 2);
        let a: IpAddr = "192.0.2.1".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let b: IpAddr = "192.0.2.2".parse().unwrap_or(IpAddr::from([0, 0, 0, 0]));
        let first = limits.admit(a, false);
        let second = limits.admit(a, false);
        assert!(first.is_some() && second.is_some());
        assert!(limits.admit(a, false).is_none());
        let other = limits.admit(b, false);
        assert!(other.is_some());
        // A proxy is not held to the per-address cap, only to the total.
        let proxied = limits.admit(a, true);
        assert!(proxied.is_some());
        assert!(limits.admit(b, true).is_none());
        assert_eq!(limits.open(), 4);
        // A closed connection gives its place back.
        drop(first);
        assert_eq!(limits.open(), 3);
        let again = limits.admit(a, false);
        assert!(again.is_some());
        assert_eq!(limits.open(), 4);
    }
}
