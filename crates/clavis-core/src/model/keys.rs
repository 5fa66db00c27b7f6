//! Signing keys of a tenant.

use clavis_crypto::Jwk;
use clavis_types::{KeyState, Kid, SigningAlg, TenantId, Timestamp};

/// One signing key. The private half is sealed under the tenant's data key; only the
/// `public_jwk` is ever served.
#[derive(Debug, Clone, PartialEq)]
pub struct SigningKey {
    pub tenant_id: TenantId,
    pub kid: Kid,
    pub alg: SigningAlg,
    pub state: KeyState,
    pub public_jwk: Jwk,
    pub private_key_sealed: Vec<u8>,
    pub created_at: Timestamp,
    pub activated_at: Option<Timestamp>,
    pub retired_at: Option<Timestamp>,
    /// After this instant no token signed by the key can still be valid: it leaves the JWKS.
    pub expires_at: Option<Timestamp>,
}
