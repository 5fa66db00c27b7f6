//! Which addresses a sink may reach (SSRF protection). Host names are resolved here and
//! every resulting address is checked before a connection is made to it, so a name that
//! resolves (or re-resolves) to an internal address is refused too.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::DeliveryError;

/// What a sink's connections may reach besides public unicast addresses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct NetPolicy {
    /// RFC 1918, CGNAT (100.64/10), benchmarking (198.18/15), IPv6 unique-local (fc00::/7).
    pub allow_private: bool,
    /// 127/8 and ::1 (and plain `http://` to them).
    pub allow_loopback: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Public,
    Private,
    Loopback,
    /// Never reachable: unspecified, link-local (cloud metadata), multicast, broadcast,
    /// reserved and documentation ranges.
    Refused,
}

fn classify_v4(ip: Ipv4Addr) -> Class {
    let [a, b, c, _] = ip.octets();
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_private()
        || (a == 100 && (64..128).contains(&b))
        || (a == 198 && (b & 0xfe) == 18)
    {
        Class::Private
    } else if a == 0
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || a >= 240
        || (a == 192 && b == 0 && c == 0)
        || ip.is_documentation()
    {
        Class::Refused
    } else {
        Class::Public
    }
}

fn classify(ip: IpAddr) -> Class {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v6(ip: Ipv6Addr) -> Class {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    let s = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) reach the IPv4 address they embed.
    if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
        return classify_v4(embedded_v4(s[6], s[7]));
    }
    if s[0] == 0x2002 {
        return classify_v4(embedded_v4(s[1], s[2]));
    }
    if ip.is_loopback() {
        Class::Loopback
    } else if ip.is_unspecified()
        || ip.is_multicast()
        || (s[0] & 0xffc0) == 0xfe80
        || (s[0] == 0x2001 && s[1] == 0x0db8)
        || s[..6] == [0, 0, 0, 0, 0, 0]
    {
        // Link-local, documentation, and the deprecated IPv4-compatible ::a.b.c.d.
        Class::Refused
    } else if (s[0] & 0xfe00) == 0xfc00 {
        Class::Private
    } else {
        Class::Public
    }
}

fn embedded_v4(hi: u16, lo: u16) -> Ipv4Addr {
    let [a, b] = hi.to_be_bytes();
    let [c, d] = lo.to_be_bytes();
    Ipv4Addr::new(a, b, c, d)
}

/// Whether `ip` is a loopback or private-network address: the only kind plain (unencrypted)
/// syslog over TCP may reach.
pub(crate) fn is_internal(ip: IpAddr) -> bool {
    matches!(classify(ip), Class::Private | Class::Loopback)
}

impl NetPolicy {
    /// Whether a connection to `ip` is allowed.
    pub(crate) fn permits(self, ip: IpAddr) -> bool {
        match classify(ip) {
            Class::Public => true,
            Class::Private => self.allow_private,
            Class::Loopback => self.allow_loopback,
            Class::Refused => false,
        }
    }

    /// The addresses `host` resolves to that may be reached, in resolver order; an error
    /// when there are none.
    pub(crate) async fn resolve(
        self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, DeliveryError> {
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| DeliveryError(format!("cannot resolve {host}: {e}")))?
            .collect();
        let allowed: Vec<SocketAddr> = found
            .iter()
            .copied()
            .filter(|a| self.permits(a.ip()))
            .collect();
        if allowed.is_empty() {
            return Err(DeliveryError(if found.is_empty() {
                format!("{host} resolves to no address")
            } else {
                format!(
                    "{host} resolves only to addresses audit sinks may not reach \
                     (loopback, private, link-local or reserved)"
                )
            }));
        }
        Ok(allowed)
    }
}

/// The resolver reqwest uses for sink requests: the system resolver, filtered by policy.
pub(crate) struct PolicyResolver(pub NetPolicy);

impl reqwest::dns::Resolve for PolicyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.0.into() })?;
            let addrs: reqwest::dns::Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    const STRICT: NetPolicy = NetPolicy {
        allow_private: false,
        allow_loopback: false,
    };
    const PRIVATE: NetPolicy = NetPolicy {
        allow_private: true,
        allow_loopback: false,
    };

    #[test]
    fn public_addresses_pass_and_internal_ones_do_not() {
        for ok in [
            "93.184.216.34",
            "8.8.8.8",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
        ] {
            assert!(STRICT.permits(ip(ok)), "{ok}");
        }
        for refused in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "169.254.169.254",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fd00::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a9fe:a9fe",
            "2002:0a00:0001::1",
            "::7f00:1",
        ] {
            assert!(!STRICT.permits(ip(refused)), "{refused}");
        }
    }

    #[test]
    fn options_open_private_ranges_and_loopback_but_never_metadata() {
        assert!(PRIVATE.permits(ip("10.1.2.3")));
        assert!(PRIVATE.permits(ip("fd00::1")));
        assert!(!PRIVATE.permits(ip("127.0.0.1")));
        let all = NetPolicy {
            allow_private: true,
            allow_loopback: true,
        };
        assert!(all.permits(ip("127.0.0.1")));
        assert!(all.permits(ip("::1")));
        assert!(!all.permits(ip("169.254.169.254")));
        assert!(!all.permits(ip("fe80::1")));
        assert!(!all.permits(ip("0.0.0.0")));
    }

    #[test]
    fn only_loopback_and_private_addresses_are_internal() {
        for internal in [
            "127.0.0.1",
            "::1",
            "10.1.2.3",
            "100.64.0.1",
            "fd00::1",
            "::ffff:192.168.0.1",
        ] {
            assert!(is_internal(ip(internal)), "{internal}");
        }
        for other in [
            "93.184.216.34",
            "2606:4700::1111",
            "64:ff9b::5db8:d822",
            "169.254.169.254",
        ] {
            assert!(!is_internal(ip(other)), "{other}");
        }
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_refused() {
        let e = STRICT.resolve("localhost", 80).await.err().map(|e| e.0);
        assert!(e.is_some_and(|m| m.contains("may not reach")));
        let loopback = NetPolicy {
            allow_private: false,
            allow_loopback: true,
        };
        let ok = loopback.resolve("127.0.0.1", 80).await.map_err(|e| e.0);
        assert_eq!(ok, Ok(vec!["127.0.0.1:80".parse().unwrap()]));
    }
}
