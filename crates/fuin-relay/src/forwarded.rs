//! Which client a request comes from, when the relay sits behind proxies
//! the operator trusts: only such a proxy's `X-Forwarded-For` is believed.
//!
//! Each proxy appends the address it received the request from, so the
//! header's rightmost entries were written by the proxies nearest the relay.
//! Walking from the right, every address that is itself a trusted proxy is
//! skipped; the first one that is not is the client. Anything further left
//! was written by the client (or whoever it pretends to be) and is ignored.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use axum::http::HeaderMap;

/// The header a proxy names the client in.
pub const FORWARDED_FOR: &str = "x-forwarded-for";

/// A trusted proxy: one address, or a network in CIDR form
/// (`10.0.0.0/8`, `fd00::/8`).
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    network: IpAddr,
    prefix: u8,
}

impl TrustedProxy {
    /// Whether `address` is this proxy or inside its network. An IPv4
    /// address mapped into IPv6 counts as the IPv4 address.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address.to_canonical()) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                network.to_bits() & mask == address.to_bits() & mask
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                network.to_bits() & mask == address.to_bits() & mask
            }
            _ => false,
        }
    }
}

impl fmt::Debug for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix)
    }
}

impl FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let refused = || format!("{text:?} is not an IP address or a network like 10.0.0.0/8");
        let (address, prefix) = match text.trim().split_once('/') {
            Some((address, prefix)) => (address, Some(prefix)),
            None => (text.trim(), None),
        };
        let network = IpAddr::from_str(address)
            .map_err(|_| refused())?
            .to_canonical();
        let width = if network.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(prefix) => prefix
                .parse::<u8>()
                .ok()
                .filter(|prefix| *prefix <= width)
                .ok_or_else(refused)?,
            None => width,
        };
        Ok(Self { network, prefix })
    }
}

/// The client a request comes from: `peer` (the connection's other end),
/// unless `peer` is a trusted proxy and the request's `X-Forwarded-For`
/// names someone (see the [module documentation](self)). A header that
/// cannot be read, or names only trusted proxies, leaves `peer`.
pub fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[TrustedProxy]) -> IpAddr {
    let is_trusted = |address: IpAddr| trusted.iter().any(|proxy| proxy.contains(address));
    if !is_trusted(peer) {
        return peer;
    }
    // Several header lines are one list, in order.
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all(FORWARDED_FOR) {
        let Ok(value) = value.to_str() else {
            return peer;
        };
        entries.extend(value.split(','));
    }
    for entry in entries.iter().rev() {
        let Ok(address) = IpAddr::from_str(entry.trim()) else {
            // Whoever wrote this is not a proxy we trust to write well.
            return peer;
        };
        if !is_trusted(address) {
            return address.to_canonical();
        }
    }
    peer
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|text| text.parse().unwrap()).collect()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(FORWARDED_FOR, value.parse().unwrap());
        }
        headers
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let [v4, v6, one] = [
            "10.1.0.0/16".parse::<TrustedProxy>().unwrap(),
            "fd00::/8".parse().unwrap(),
            "192.0.2.7".parse().unwrap(),
        ];
        assert!(v4.contains(ip("10.1.255.3")));
        assert!(!v4.contains(ip("10.2.0.1")));
        assert!(v4.contains(ip("::ffff:10.1.0.9")));
        assert!(v6.contains(ip("fd12::1")));
        assert!(!v6.contains(ip("fe80::1")));
        assert!(one.contains(ip("192.0.2.7")));
        assert!(!one.contains(ip("192.0.2.8")));
        assert!(
            "0.0.0.0/0"
                .parse::<TrustedProxy>()
                .unwrap()
                .contains(ip("8.8.8.8"))
        );
        for bad in ["10.0.0.0/33", "fd00::/129", "proxy", "10.0.0.0/", "/8"] {
            assert!(bad.parse::<TrustedProxy>().is_err(), "{bad}");
        }
    }

    #[test]
    fn the_rightmost_untrusted_address_is_the_client() {
        let trusted = proxies(&["10.0.0.0/8"]);
        // The client claims 1.1.1.1; the proxy saw 203.0.113.5.
        let headers = forwarded(&["1.1.1.1, 203.0.113.5", "10.0.0.2"]);
        assert_eq!(
            client_address(ip("10.0.0.1"), &headers, &trusted),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_says() {
        let trusted = proxies(&["10.0.0.0/8"]);
        let headers = forwarded(&["1.1.1.1"]);
        assert_eq!(
            client_address(ip("198.51.100.9"), &headers, &trusted),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn a_header_without_a_client_leaves_the_peer() {
        let trusted = proxies(&["10.0.0.0/8"]);
        for values in [
            &[][..],
            &["10.0.0.3"],
            &["not an address"],
            &["1.1.1.1, junk"],
        ] {
            assert_eq!(
                client_address(ip("10.0.0.1"), &forwarded(values), &trusted),
                ip("10.0.0.1"),
                "{values:?}"
            );
        }
    }
}
