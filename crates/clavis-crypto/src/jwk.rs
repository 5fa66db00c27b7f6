//! JSON Web Keys (RFC 7517) for the public half of signing keys, as published at
//! `/.well-known/jwks.json` and read back by [`crate::Verifier`].
//!
//! Only the members Clavis needs are modelled: `kty`, `use`, `alg`, `kid` and the public
//! parameters of RSA (`n`, `e`), EC P-256 (`crv`, `x`, `y`) and OKP Ed25519 (`crv`, `x`).
//! Private members are never part of this type.

use serde::{Deserialize, Serialize};

/// One public JWK.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// `RSA`, `EC` or `OKP`.
    pub kty: String,
    /// Always `sig` for keys made here.
    #[serde(rename = "use")]
    pub use_: String,
    /// `RS256`, `ES256` or `EdDSA`.
    pub alg: String,
    pub kid: String,
    /// RSA modulus, base64url big-endian without leading zeros.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub n: Option<String>,
    /// RSA public exponent, base64url big-endian without leading zeros.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub e: Option<String>,
    /// Curve: `P-256` (EC) or `Ed25519` (OKP).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub crv: Option<String>,
    /// EC x coordinate (32 bytes) or the Ed25519 public key.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub x: Option<String>,
    /// EC y coordinate (32 bytes).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub y: Option<String>,
}

/// A JWK Set (`{"keys": [...]}`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    pub keys: Vec<Jwk>,
}

impl JwkSet {
    /// The key with this `kid`, if any.
    pub fn find(&self, kid: &str) -> Option<&Jwk> {
        self.keys.iter().find(|k| k.kid == kid)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn serializes_use_and_skips_absent_members() {
        let jwk = Jwk {
            kty: "OKP".into(),
            use_: "sig".into(),
            alg: "EdDSA".into(),
            kid: "k1".into(),
            n: None,
            e: None,
            crv: Some("Ed25519".into()),
            x: Some("abc".into()),
            y: None,
        };
        let json = serde_json::to_value(&jwk).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kty":"OKP","use":"sig","alg":"EdDSA","kid":"k1","crv":"Ed25519","x":"abc"})
        );
        let back: Jwk = serde_json::from_value(json).unwrap();
        assert_eq!(back, jwk);
        let set = JwkSet { keys: vec![jwk] };
        assert!(set.find("k1").is_some());
        assert!(set.find("k2").is_none());
    }
}
