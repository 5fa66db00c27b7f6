//! The client address of a request behind reverse proxies.
//!
//! The socket peer is the client unless it is one of the configured trusted proxies
//! (`trusted_proxies`: addresses or CIDR blocks). Then `X-Forwarded-For` is read from the
//! right: each proxy appends the address it received the request from, so entries are
//! skipped while they are trusted proxies and the first one that is not is the client.
//! Everything left of it was written by the client and is never believed. A request from
//! a peer that is not a trusted proxy has its `X-Forwarded-For` ignored entirely, so a
//! client cannot choose the address its rate limits and audit events are counted under.
//!
//! A malformed entry ends the walk: whatever lies left of it cannot be attributed, so the
//! last address known (the proxy that passed it on) is taken instead.

use axum::http::HeaderMap;
use std::net::IpAddr;
use std::sync::Arc;

/// `X-Forwarded-For` entries read at most (from the right); longer chains end the walk.
const MAX_HOPS: usize = 32;

/// An address block: the network address and its prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Block {
    net: IpAddr,
    prefix: u8,
}

impl Block {
    /// `203.0.113.7`, `10.0.0.0/8`, `2001:db8::/32` (IPv4-mapped IPv6 as IPv4).
    fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let net = addr
            .parse::<IpAddr>()
            .map_err(|_| format!("`{s}` is not an IP address or CIDR block"))?
            .to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => match p.parse::<u8>() {
                Ok(p) if p <= max => p,
                _ => return Err(format!("`{s}`: the prefix length must be 0 to {max}")),
            },
        };
        Ok(Self { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// The reverse proxies whose `X-Forwarded-For` is believed (empty: none, the default).
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Arc<[Block]>);

impl TrustedProxies {
    /// Parse addresses and CIDR blocks; the error names the first bad entry. Empty
    /// entries are skipped (a trailing comma in `CLAVIS_TRUSTED_PROXIES`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        let blocks = entries
            .iter()
            .map(AsRef::as_ref)
            .filter(|e| !e.trim().is_empty())
            .map(Block::parse)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self(blocks.into()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `ip` is a trusted proxy.
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|b| b.contains(ip))
    }

    /// The client address of a request from socket peer `peer` with these headers.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = peer.to_canonical();
        if !self.contains(peer) {
            return peer;
        }
        // Several headers form one list, in order (RFC 9110 §5.3).
        let entries: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .map(|v| v.to_str().ok())
            .flat_map(|v| v.unwrap_or("\u{0}").split(','))
            .collect();
        let mut client = peer;
        for entry in entries.iter().rev().take(MAX_HOPS) {
            let Some(ip) = parse_hop(entry) else {
                return client;
            };
            client = ip;
            if !self.contains(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, optionally with a port (`203.0.113.7:4711`,
/// `[2001:db8::1]:4711`).
fn parse_hop(entry: &str) -> Option<IpAddr> {
    let e = entry.trim();
    if let Ok(ip) = e.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    e.parse::<std::net::SocketAddr>()
        .ok()
        .map(|s| s.ip().to_canonical())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn trusted(entries: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(entries).unwrap()
    }

    #[test]
    fn blocks_parse_and_match() {
        let t = trusted(&["10.0.0.0/8", " 192.0.2.1 ", "2001:db8::/32", ""]);
        assert!(t.contains(ip("10.200.3.4")));
        assert!(!t.contains(ip("11.0.0.1")));
        assert!(t.contains(ip("192.0.2.1")));
        assert!(!t.contains(ip("192.0.2.2")));
        assert!(t.contains(ip("2001:db8:ffff::1")));
        assert!(!t.contains(ip("2001:db9::1")));
        // An IPv4 peer seen through a dual-stack socket is still that IPv4 address.
        assert!(t.contains(ip("::ffff:10.1.2.3")));
        assert!(trusted(&["0.0.0.0/0"]).contains(ip("198.51.100.1")));
        assert!(!trusted(&["0.0.0.0/0"]).contains(ip("2001:db8::1")));
        assert!(TrustedProxies::default().is_empty());
        for bad in [
            "10.0.0.0/33",
            "proxy.example.com",
            "10.0.0.1/",
            "::/129",
            "1.2.3",
        ] {
            let e = TrustedProxies::parse(&[bad]).unwrap_err();
            assert!(e.contains(bad.trim_end_matches('/')), "{bad}: {e}");
        }
    }

    #[test]
    fn spoofed_headers_from_untrusted_peers_are_ignored() {
        let h = xff(&["198.51.100.66"]);
        // No trusted proxy configured: the socket peer, whatever the header says.
        assert_eq!(
            TrustedProxies::default().client_ip(ip("203.0.113.7"), &h),
            ip("203.0.113.7")
        );
        // A proxy is configured, but this peer is not it.
        let t = trusted(&["10.0.0.1"]);
        assert_eq!(t.client_ip(ip("203.0.113.7"), &h), ip("203.0.113.7"));
    }

    #[test]
    fn the_right_most_untrusted_hop_is_the_client() {
        let t = trusted(&["10.0.0.0/24", "192.0.2.10"]);
        // One proxy: it appended the client's address.
        let h = xff(&["203.0.113.7"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("203.0.113.7"));
        // Client → 192.0.2.10 (CDN) → 10.0.0.5 (load balancer) → Clavis; the client
        // prepended a forged address, which is never reached.
        let h = xff(&["198.51.100.66, 203.0.113.7", "192.0.2.10"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("203.0.113.7"));
        // Ports and bracketed IPv6 are understood.
        let h = xff(&["[2001:db8::7]:4711, 203.0.113.9:80"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("203.0.113.9"));
        let h = xff(&["[2001:db8::7]:4711"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("2001:db8::7"));
        // Only trusted proxies in the chain: the furthest one.
        let h = xff(&["192.0.2.10, 10.0.0.9"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("192.0.2.10"));
        // No header: the proxy itself.
        assert_eq!(
            t.client_ip(ip("10.0.0.5"), &HeaderMap::new()),
            ip("10.0.0.5")
        );
    }

    #[test]
    fn malformed_entries_are_never_taken_as_the_client() {
        let t = trusted(&["10.0.0.0/24"]);
        // A malformed hop ends the walk at the last address known: the forged one left
        // of it is not reached.
        for bad in [
            "198.51.100.66, unknown",
            "198.51.100.66, ",
            "198.51.100.66,999.1.1.1",
            "198.51.100.66, _hidden",
        ] {
            assert_eq!(t.client_ip(ip("10.0.0.5"), &xff(&[bad])), ip("10.0.0.5"));
        }
        let h = xff(&["198.51.100.66, junk, 10.0.0.8"]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.8"));
        // A header that is not text at all.
        let mut h = HeaderMap::new();
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"198.51.100.66 \xff").unwrap(),
        );
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.5"));
        // An endless chain of trusted hops stops after MAX_HOPS entries.
        let long = vec!["10.0.0.9"; MAX_HOPS + 5].join(",");
        let h = xff(&[&format!("198.51.100.66,{long}")]);
        assert_eq!(t.client_ip(ip("10.0.0.5"), &h), ip("10.0.0.9"));
    }
}
