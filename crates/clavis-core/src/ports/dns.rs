//! The DNS port: TXT records, through which a tenant proves it owns a custom domain. The
//! server plugs in a real resolver; without one every lookup fails with a clear message.

use async_trait::async_trait;

/// Why a TXT lookup gave no answer (other than "the name has no TXT record", which is an
/// empty answer).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DnsError(pub String);

/// Looks up TXT records.
#[async_trait]
pub trait TxtResolver: Send + Sync + std::fmt::Debug {
    /// The TXT records of `name` (each record's strings joined); empty when the name does
    /// not exist or has none.
    async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError>;
}

/// The resolver of a `Core` nobody gave one (tools, tests that need none).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoResolver;

#[async_trait]
impl TxtResolver for NoResolver {
    async fn txt(&self, _name: &str) -> Result<Vec<String>, DnsError> {
        Err(DnsError("no DNS resolver is configured".to_owned()))
    }
}
