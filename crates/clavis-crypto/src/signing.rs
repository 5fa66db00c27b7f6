//! JWS signing keys: generation (PKCS#8 private key + public JWK), and [`Signer`], which
//! produces compact JWS with the algorithm that belongs to the key.
//!
//! | alg   | key                  | signature                                  |
//! |-------|----------------------|--------------------------------------------|
//! | RS256 | RSA ≥ 2048 bits      | RSASSA-PKCS1-v1_5 with SHA-256             |
//! | ES256 | ECDSA P-256          | SHA-256, fixed `r || s` (64 bytes), RFC 7518 |
//! | EdDSA | Ed25519              | 64 bytes, RFC 8037                         |
//!
//! Private keys leave this module only as PKCS#8 DER in [`zeroize::Zeroizing`] buffers;
//! storing them (sealed with a [`crate::DataKey`]) is the caller's job.

use aws_lc_rs::encoding::AsDer as _;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::{KeyPair as RsaKeyPair, KeySize};
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256,
};
use clavis_types::{Rng, SigningAlg};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use crate::{CryptoError, Jwk, b64url};

pub use crate::verify::Verifier;

/// Smallest RSA modulus accepted anywhere in Clavis, in bytes (2048 bits).
pub(crate) const MIN_RSA_MODULUS_BYTES: usize = 256;

/// A freshly generated signing key.
pub struct GeneratedKey {
    /// PKCS#8 DER of the private key (v1 for RSA and P-256, v2 for Ed25519).
    pub pkcs8_der: Zeroizing<Vec<u8>>,
    /// The public half, ready for the JWKS.
    pub public_jwk: Jwk,
}

impl std::fmt::Debug for GeneratedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedKey")
            .field("pkcs8_der", &"**redacted**")
            .field("public_jwk", &self.public_jwk)
            .finish()
    }
}

/// Generate a new key for `alg`: RSA-2048, P-256 or Ed25519.
pub fn generate_signing_key(alg: SigningAlg, kid: &str) -> Result<GeneratedKey, CryptoError> {
    let fail = |what: &str| CryptoError::Sign(format!("could not generate {what} key"));
    let pkcs8_der = match alg {
        SigningAlg::Rs256 => {
            let kp = RsaKeyPair::generate(KeySize::Rsa2048).map_err(|_| fail("RSA"))?;
            let der = kp.as_der().map_err(|_| fail("RSA"))?;
            Zeroizing::new(der.as_ref().to_vec())
        }
        SigningAlg::Es256 => {
            let kp = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .map_err(|_| fail("P-256"))?;
            let doc = kp.to_pkcs8v1().map_err(|_| fail("P-256"))?;
            Zeroizing::new(doc.as_ref().to_vec())
        }
        SigningAlg::EdDsa => {
            let kp = Ed25519KeyPair::generate().map_err(|_| fail("Ed25519"))?;
            let doc = kp.to_pkcs8().map_err(|_| fail("Ed25519"))?;
            Zeroizing::new(doc.as_ref().to_vec())
        }
    };
    // Round-trip through the parser so the JWK comes from exactly what will be stored.
    let signer = Signer::from_pkcs8(alg, kid, &pkcs8_der)?;
    Ok(GeneratedKey {
        public_jwk: signer.public_jwk(),
        pkcs8_der,
    })
}

enum KeyPairKind {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// A parsed private key with its pinned algorithm and key id. `Send + Sync`; share it
/// behind an `Arc`.
pub struct Signer {
    alg: SigningAlg,
    kid: String,
    key: KeyPairKind,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// Parse a PKCS#8 private key for `alg`. RSA keys under 2048 bits are refused.
    pub fn from_pkcs8(alg: SigningAlg, kid: &str, pkcs8_der: &[u8]) -> Result<Self, CryptoError> {
        let reject =
            |e: aws_lc_rs::error::KeyRejected| CryptoError::InvalidKey(format!("{alg} key: {e}"));
        let key = match alg {
            SigningAlg::Rs256 => {
                let kp = RsaKeyPair::from_pkcs8(pkcs8_der).map_err(reject)?;
                if kp.public_modulus_len() < MIN_RSA_MODULUS_BYTES {
                    return Err(CryptoError::InvalidKey(
                        "RS256 key: RSA keys must be at least 2048 bits".into(),
                    ));
                }
                KeyPairKind::Rsa(kp)
            }
            SigningAlg::Es256 => KeyPairKind::Ec(
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8_der)
                    .map_err(reject)?,
            ),
            SigningAlg::EdDsa => {
                KeyPairKind::Ed(Ed25519KeyPair::from_pkcs8(pkcs8_der).map_err(reject)?)
            }
        };
        Ok(Self {
            alg,
            kid: kid.to_owned(),
            key,
        })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWK of this key (`use` = `sig`).
    pub fn public_jwk(&self) -> Jwk {
        let mut jwk = Jwk {
            kty: String::new(),
            use_: "sig".into(),
            alg: self.alg.as_str().into(),
            kid: self.kid.clone(),
            n: None,
            e: None,
            crv: None,
            x: None,
            y: None,
        };
        match &self.key {
            KeyPairKind::Rsa(kp) => {
                let public = kp.public_key();
                jwk.kty = "RSA".into();
                jwk.n = Some(b64url(public.modulus().big_endian_without_leading_zero()));
                jwk.e = Some(b64url(public.exponent().big_endian_without_leading_zero()));
            }
            KeyPairKind::Ec(kp) => {
                // Uncompressed SEC1 point: 0x04 || x(32) || y(32).
                let coords = kp.public_key().as_ref().get(1..).unwrap_or_default();
                let (x, y) = coords.split_at(coords.len() / 2);
                jwk.kty = "EC".into();
                jwk.crv = Some("P-256".into());
                jwk.x = Some(b64url(x));
                jwk.y = Some(b64url(y));
            }
            KeyPairKind::Ed(kp) => {
                jwk.kty = "OKP".into();
                jwk.crv = Some("Ed25519".into());
                jwk.x = Some(b64url(kp.public_key().as_ref()));
            }
        }
        jwk
    }

    /// Sign `msg` with the key's algorithm. `_rng` is part of the port for symmetry with
    /// other randomized operations; aws-lc-rs draws ECDSA nonces from its own DRBG (and
    /// RS256 and EdDSA are deterministic).
    pub fn sign(&self, msg: &[u8], _rng: &dyn Rng) -> Result<Vec<u8>, CryptoError> {
        let fail = || CryptoError::Sign(format!("{} signature failed", self.alg));
        match &self.key {
            KeyPairKind::Rsa(kp) => {
                let mut sig = vec![0u8; kp.public_modulus_len()];
                kp.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
                    .map_err(|_| fail())?;
                Ok(sig)
            }
            KeyPairKind::Ec(kp) => kp
                .sign(&SystemRandom::new(), msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| fail()),
            KeyPairKind::Ed(kp) => kp
                .try_sign(msg)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| fail()),
        }
    }

    /// Compact JWS of `payload`. The protected header is `{"alg", "kid"}` plus the entries
    /// of `header_extra` (e.g. `typ`); entries named `alg` or `kid` there are ignored, so
    /// the header always states the key's own algorithm and id.
    /// Compact JWS over a payload serialised by the caller (any `Serialize` type), with
    /// the protected header `{"alg", "kid", "typ"}`. The header is built from the key, so
    /// the algorithm can never be chosen by the payload's author.
    pub fn sign_typed<T: serde::Serialize>(
        &self,
        typ: &str,
        payload: &T,
        rng: &dyn Rng,
    ) -> Result<String, CryptoError> {
        #[derive(serde::Serialize)]
        struct Header<'a> {
            alg: &'a str,
            kid: &'a str,
            typ: &'a str,
        }
        let header = serde_json::to_vec(&Header {
            alg: self.alg.as_str(),
            kid: &self.kid,
            typ,
        })
        .map_err(|e| CryptoError::Encoding(format!("JWS header: {e}")))?;
        let payload = serde_json::to_vec(payload)
            .map_err(|e| CryptoError::Encoding(format!("JWS payload: {e}")))?;
        let mut out = String::with_capacity((header.len() + payload.len()) * 4 / 3 + 100);
        out.push_str(&b64url(&header));
        out.push('.');
        out.push_str(&b64url(&payload));
        let sig = self.sign(out.as_bytes(), rng)?;
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }

    pub fn sign_jws(
        &self,
        header_extra: &Map<String, Value>,
        payload: &Value,
        rng: &dyn Rng,
    ) -> Result<String, CryptoError> {
        let mut header = Map::new();
        for (k, v) in header_extra {
            if k != "alg" && k != "kid" {
                header.insert(k.clone(), v.clone());
            }
        }
        header.insert("alg".into(), Value::String(self.alg.as_str().into()));
        header.insert("kid".into(), Value::String(self.kid.clone()));
        let header = serde_json::to_vec(&header)
            .map_err(|e| CryptoError::Encoding(format!("JWS header: {e}")))?;
        let payload = serde_json::to_vec(payload)
            .map_err(|e| CryptoError::Encoding(format!("JWS payload: {e}")))?;
        let mut out = b64url(&header);
        out.push('.');
        out.push_str(&b64url(&payload));
        let sig = self.sign(out.as_bytes(), rng)?;
        out.push('.');
        out.push_str(&b64url(&sig));
        Ok(out)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{SystemRng, b64url_decode};

    fn assert_send_sync<T: Send + Sync>() {}

    #[test]
    fn signer_is_send_sync() {
        assert_send_sync::<Signer>();
        assert_send_sync::<Verifier>();
        assert_send_sync::<crate::DataKey>();
        assert_send_sync::<crate::MasterKey>();
    }

    #[test]
    fn rsa_jwk_known_answers() {
        let key = generate_signing_key(SigningAlg::Rs256, "r1").unwrap();
        let jwk = &key.public_jwk;
        assert_eq!(jwk.kty, "RSA");
        assert_eq!(jwk.alg, "RS256");
        assert_eq!(jwk.use_, "sig");
        assert_eq!(jwk.kid, "r1");
        assert_eq!(jwk.e.as_deref(), Some("AQAB"));
        let n = b64url_decode(jwk.n.as_deref().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert_ne!(n[0], 0);
        assert!(jwk.crv.is_none() && jwk.x.is_none() && jwk.y.is_none());
    }

    #[test]
    fn ec_and_okp_jwk_shapes() {
        let ec = generate_signing_key(SigningAlg::Es256, "e1")
            .unwrap()
            .public_jwk;
        assert_eq!((ec.kty.as_str(), ec.crv.as_deref()), ("EC", Some("P-256")));
        assert_eq!(b64url_decode(ec.x.as_deref().unwrap()).unwrap().len(), 32);
        assert_eq!(b64url_decode(ec.y.as_deref().unwrap()).unwrap().len(), 32);
        assert!(ec.n.is_none() && ec.e.is_none());
        let ed = generate_signing_key(SigningAlg::EdDsa, "d1")
            .unwrap()
            .public_jwk;
        assert_eq!(
            (ed.kty.as_str(), ed.crv.as_deref()),
            ("OKP", Some("Ed25519"))
        );
        assert_eq!(b64url_decode(ed.x.as_deref().unwrap()).unwrap().len(), 32);
        assert!(ed.y.is_none());
    }

    #[test]
    fn signature_sizes_and_reload() {
        let rng = SystemRng::new();
        for (alg, len) in [
            (SigningAlg::Rs256, 256),
            (SigningAlg::Es256, 64),
            (SigningAlg::EdDsa, 64),
        ] {
            let key = generate_signing_key(alg, "k").unwrap();
            let signer = Signer::from_pkcs8(alg, "k", &key.pkcs8_der).unwrap();
            assert_eq!(signer.sign(b"msg", &rng).unwrap().len(), len, "{alg}");
            assert_eq!(signer.public_jwk(), key.public_jwk);
            assert_eq!((signer.alg(), signer.kid()), (alg, "k"));
        }
    }

    #[test]
    fn pkcs8_must_match_alg() {
        let ec = generate_signing_key(SigningAlg::Es256, "k").unwrap();
        assert!(Signer::from_pkcs8(SigningAlg::Rs256, "k", &ec.pkcs8_der).is_err());
        assert!(Signer::from_pkcs8(SigningAlg::EdDsa, "k", &ec.pkcs8_der).is_err());
        assert!(Signer::from_pkcs8(SigningAlg::Es256, "k", b"garbage").is_err());
        let dbg = format!("{ec:?}");
        assert!(dbg.contains("redacted"));
    }

    #[test]
    fn header_extra_cannot_override_alg_or_kid() {
        let rng = SystemRng::new();
        let key = generate_signing_key(SigningAlg::EdDsa, "real").unwrap();
        let signer = Signer::from_pkcs8(SigningAlg::EdDsa, "real", &key.pkcs8_der).unwrap();
        let mut extra = Map::new();
        extra.insert("alg".into(), "none".into());
        extra.insert("kid".into(), "fake".into());
        extra.insert("typ".into(), "at+jwt".into());
        let jws = signer
            .sign_jws(&extra, &serde_json::json!({"sub": "u1"}), &rng)
            .unwrap();
        let header: Value =
            serde_json::from_slice(&b64url_decode(jws.split('.').next().unwrap()).unwrap())
                .unwrap();
        assert_eq!(
            header,
            serde_json::json!({"alg": "EdDSA", "kid": "real", "typ": "at+jwt"})
        );
    }
}
