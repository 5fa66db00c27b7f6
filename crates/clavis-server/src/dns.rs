//! The DNS adapter of core's [`TxtResolver`] port: `hickory-resolver` on tokio, with the
//! system configuration (`/etc/resolv.conf`) or the nameserver named by `dns_nameserver`.
//! Answers are not cached here, so a verification sees a record as soon as it is
//! published (core verifies on demand only).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use clavis_core::ports::{DnsError, TxtResolver};
use hickory_resolver::config::{
    ConnectionConfig, NameServerConfig, ProtocolConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{ResolverBuilder, TokioResolver};

/// A TXT resolver for the configuration: the given nameserver (`IP:port`, UDP then TCP), or
/// the system's. A system configuration that cannot be read is reported by every lookup,
/// not at start (custom domains are optional).
pub fn txt_resolver(nameserver: Option<SocketAddr>) -> Arc<dyn TxtResolver> {
    let builder = match nameserver {
        Some(addr) => {
            let conn = |protocol| {
                let mut c = ConnectionConfig::new(protocol);
                c.port = addr.port();
                c
            };
            let ns = NameServerConfig::new(
                addr.ip(),
                true,
                vec![conn(ProtocolConfig::Udp), conn(ProtocolConfig::Tcp)],
            );
            Ok(TokioResolver::builder_with_config(
                ResolverConfig::from_name_servers(vec![ns]),
                TokioRuntimeProvider::default(),
            ))
        }
        None => TokioResolver::builder_tokio(),
    };
    match builder.and_then(build) {
        Ok(resolver) => Arc::new(Hickory(resolver)),
        Err(e) => {
            tracing::warn!(error = %e, "no DNS resolver: custom domains cannot be verified");
            Arc::new(Broken(e.to_string()))
        }
    }
}

fn build(
    mut b: ResolverBuilder<TokioRuntimeProvider>,
) -> Result<TokioResolver, hickory_resolver::net::NetError> {
    let o = b.options_mut();
    o.timeout = Duration::from_secs(3);
    o.attempts = 2;
    o.cache_size = 0;
    b.build()
}

struct Hickory(TokioResolver);

impl std::fmt::Debug for Hickory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hickory")
    }
}

#[async_trait]
impl TxtResolver for Hickory {
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        // A fully qualified name: no search domain is ever appended.
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.0.txt_lookup(fqdn.as_str()).await {
            Ok(lookup) => Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(
                        t.txt_data
                            .iter()
                            .map(|s| String::from_utf8_lossy(s))
                            .collect::<String>(),
                    ),
                    _ => None,
                })
                .collect()),
            Err(e) if e.is_no_records_found() => Ok(Vec::new()),
            Err(e) => Err(DnsError(e.to_string())),
        }
    }
}

#[derive(Debug)]
struct Broken(String);

#[async_trait]
impl TxtResolver for Broken {
    async fn txt(&self, _name: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError(format!("no DNS resolver: {}", self.0)))
    }
}
