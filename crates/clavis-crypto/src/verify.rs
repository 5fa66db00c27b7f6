//! [`Verifier`]: checks signatures and compact JWS against one public JWK.
//!
//! The algorithm is pinned by the key when the verifier is built and never taken from a
//! token: a header that names any other algorithm (`none`, `HS256`, another asymmetric
//! one) is refused before any signature check, which closes the classic "alg confusion"
//! attacks. Claims (`exp`, `aud`, …) are not checked here; callers do that.

use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ED25519, ParsedPublicKey, RSA_PKCS1_2048_8192_SHA256,
    RsaPublicKeyComponents,
};
use clavis_types::SigningAlg;
use serde_json::Value;

use crate::signing::MIN_RSA_MODULUS_BYTES;
use crate::{CryptoError, Jwk, b64url_decode};

/// Largest RSA modulus accepted for verification (8192 bits), as aws-lc-rs enforces.
const MAX_RSA_MODULUS_BYTES: usize = 1024;

/// A public key with its pinned algorithm and key id. `Send + Sync`, cheap to share.
pub struct Verifier {
    alg: SigningAlg,
    kid: String,
    key: ParsedPublicKey,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

fn member(value: Option<&String>, name: &str, alg: &str) -> Result<Vec<u8>, CryptoError> {
    let s = value.ok_or_else(|| CryptoError::InvalidKey(format!("{alg} JWK lacks `{name}`")))?;
    b64url_decode(s)
        .map_err(|_| CryptoError::InvalidKey(format!("{alg} JWK `{name}` is not base64url")))
}

fn expect(jwk: &Jwk, kty: &str, crv: Option<&str>) -> Result<(), CryptoError> {
    if jwk.kty != kty {
        return Err(CryptoError::InvalidKey(format!(
            "{} JWK must have kty {kty}, not {}",
            jwk.alg, jwk.kty
        )));
    }
    if jwk.crv.as_deref() != crv {
        return Err(CryptoError::InvalidKey(format!(
            "{} JWK must have crv {}",
            jwk.alg,
            crv.unwrap_or("absent")
        )));
    }
    Ok(())
}

fn reject(e: aws_lc_rs::error::KeyRejected) -> CryptoError {
    CryptoError::InvalidKey(format!("public key rejected: {e}"))
}

impl Verifier {
    /// Build a verifier from a public JWK. Refuses algorithms other than RS256, ES256 and
    /// EdDSA, a `kty`/`crv` that does not fit the algorithm, keys for a `use` other than
    /// `sig`, malformed points and RSA moduli under 2048 bits.
    pub fn from_jwk(jwk: &Jwk) -> Result<Self, CryptoError> {
        let alg = SigningAlg::parse(&jwk.alg).map_err(|_| {
            CryptoError::Unsupported(format!(
                "JWK alg `{}`: expected RS256, ES256 or EdDSA",
                jwk.alg.chars().take(20).collect::<String>()
            ))
        })?;
        if !jwk.use_.is_empty() && jwk.use_ != "sig" {
            return Err(CryptoError::InvalidKey("JWK use must be `sig`".into()));
        }
        let key = match alg {
            SigningAlg::Rs256 => {
                expect(jwk, "RSA", None)?;
                let n = member(jwk.n.as_ref(), "n", "RS256")?;
                let e = member(jwk.e.as_ref(), "e", "RS256")?;
                let n = strip_leading_zeros(&n);
                let e = strip_leading_zeros(&e);
                if n.len() < MIN_RSA_MODULUS_BYTES || n.len() > MAX_RSA_MODULUS_BYTES {
                    return Err(CryptoError::InvalidKey(
                        "RSA keys must be 2048 to 8192 bits".into(),
                    ));
                }
                if e.is_empty() {
                    return Err(CryptoError::InvalidKey("RSA exponent is zero".into()));
                }
                RsaPublicKeyComponents { n, e }
                    .to_parsed_public_key(&RSA_PKCS1_2048_8192_SHA256)
                    .map_err(reject)?
            }
            SigningAlg::Es256 => {
                expect(jwk, "EC", Some("P-256"))?;
                let x = member(jwk.x.as_ref(), "x", "ES256")?;
                let y = member(jwk.y.as_ref(), "y", "ES256")?;
                if x.len() != 32 || y.len() != 32 {
                    return Err(CryptoError::InvalidKey(
                        "P-256 JWK x and y must be 32 bytes each".into(),
                    ));
                }
                let mut point = Vec::with_capacity(65);
                point.push(0x04);
                point.extend_from_slice(&x);
                point.extend_from_slice(&y);
                ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, point).map_err(reject)?
            }
            SigningAlg::EdDsa => {
                expect(jwk, "OKP", Some("Ed25519"))?;
                let x = member(jwk.x.as_ref(), "x", "EdDSA")?;
                if x.len() != 32 || jwk.y.is_some() {
                    return Err(CryptoError::InvalidKey(
                        "Ed25519 JWK x must be 32 bytes and y absent".into(),
                    ));
                }
                ParsedPublicKey::new(&ED25519, x).map_err(reject)?
            }
        };
        Ok(Self {
            alg,
            kid: jwk.kid.clone(),
            key,
        })
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// Whether `sig` is a valid signature of `msg` under this key and its algorithm.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        self.key.verify_sig(msg, sig).is_ok()
    }

    /// Verify a compact JWS and return its JSON payload.
    ///
    /// Rejected: anything but three base64url parts; a header whose `alg` is not exactly the
    /// key's algorithm; a header `kid` that differs from the key's; a `crit` header (no
    /// extensions are understood); a bad signature; a payload that is not JSON.
    pub fn verify_jws(&self, compact: &str) -> Result<Value, CryptoError> {
        let malformed = |what: &str| CryptoError::Encoding(format!("compact JWS: {what}"));
        let mut parts = compact.split('.');
        let (Some(h64), Some(p64), Some(s64), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed("expected three dot-separated parts"));
        };
        let header: Value = serde_json::from_slice(&b64url_decode(h64)?)
            .map_err(|_| malformed("header is not JSON"))?;
        let Value::Object(header) = header else {
            return Err(malformed("header is not a JSON object"));
        };
        match header.get("alg") {
            Some(Value::String(a)) if a == self.alg.as_str() => {}
            _ => {
                return Err(CryptoError::InvalidSignature(format!(
                    "header alg does not match the key's algorithm {}",
                    self.alg
                )));
            }
        }
        match header.get("kid") {
            None => {}
            Some(Value::String(k)) if *k == self.kid => {}
            Some(_) => {
                return Err(CryptoError::InvalidSignature(
                    "header kid does not match the key".into(),
                ));
            }
        }
        if header.contains_key("crit") {
            return Err(CryptoError::Unsupported(
                "JWS crit header extensions are not supported".into(),
            ));
        }
        let sig = b64url_decode(s64)?;
        let signing_input_len = h64.len() + 1 + p64.len();
        let signing_input = compact.get(..signing_input_len).unwrap_or_default();
        if !self.verify(signing_input.as_bytes(), &sig) {
            return Err(CryptoError::InvalidSignature(
                "signature does not verify".into(),
            ));
        }
        serde_json::from_slice(&b64url_decode(p64)?).map_err(|_| malformed("payload is not JSON"))
    }
}

fn strip_leading_zeros(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    bytes.get(start..).unwrap_or_default()
}

/// The decoded protected header of a compact JWS, without verifying anything: only to pick
/// the key by `kid`. Whatever it says about `alg` is checked by [`Verifier::verify_jws`]
/// against the key, never trusted.
pub fn peek_jws_header(compact: &str) -> Result<serde_json::Map<String, Value>, CryptoError> {
    let h64 = compact
        .split('.')
        .next()
        .ok_or_else(|| CryptoError::Encoding("compact JWS: empty".into()))?;
    match serde_json::from_slice(&b64url_decode(h64)?) {
        Ok(Value::Object(m)) => Ok(m),
        _ => Err(CryptoError::Encoding(
            "compact JWS: header is not a JSON object".into(),
        )),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::{GeneratedKey, Signer, SystemRng, b64url, generate_signing_key};
    use serde_json::{Map, json};

    const ALGS: [SigningAlg; 3] = [SigningAlg::Rs256, SigningAlg::Es256, SigningAlg::EdDsa];

    fn key(alg: SigningAlg, kid: &str) -> (GeneratedKey, Signer) {
        let key = generate_signing_key(alg, kid).unwrap();
        let signer = Signer::from_pkcs8(alg, kid, &key.pkcs8_der).unwrap();
        (key, signer)
    }

    fn token(signer: &Signer) -> String {
        let mut extra = Map::new();
        extra.insert("typ".into(), "JWT".into());
        signer
            .sign_jws(&extra, &json!({"sub": "user_1", "n": 1}), &SystemRng::new())
            .unwrap()
    }

    fn unsigned(header: &Value, payload: &Value) -> String {
        format!(
            "{}.{}",
            b64url(&serde_json::to_vec(header).unwrap()),
            b64url(&serde_json::to_vec(payload).unwrap())
        )
    }

    #[test]
    fn round_trip_each_alg() {
        for alg in ALGS {
            let (key, signer) = key(alg, "k1");
            let verifier = Verifier::from_jwk(&key.public_jwk).unwrap();
            assert_eq!((verifier.alg(), verifier.kid()), (alg, "k1"));
            let jws = token(&signer);
            assert_eq!(
                verifier.verify_jws(&jws).unwrap(),
                json!({"sub": "user_1", "n": 1})
            );
            let sig = signer.sign(b"raw", &SystemRng::new()).unwrap();
            assert!(verifier.verify(b"raw", &sig));
            assert!(!verifier.verify(b"raw!", &sig));
            // The JWK survives a JSON round trip (as in a published JWKS).
            let jwk: Jwk =
                serde_json::from_str(&serde_json::to_string(&key.public_jwk).unwrap()).unwrap();
            assert!(Verifier::from_jwk(&jwk).unwrap().verify_jws(&jws).is_ok());
        }
    }

    #[test]
    fn tampered_payload_and_signature_rejected() {
        for alg in ALGS {
            let (key, signer) = key(alg, "k1");
            let verifier = Verifier::from_jwk(&key.public_jwk).unwrap();
            let jws = token(&signer);
            let parts: Vec<&str> = jws.split('.').collect();
            let evil = b64url(br#"{"sub":"admin","n":1}"#);
            let forged = format!("{}.{}.{}", parts[0], evil, parts[2]);
            assert!(matches!(
                verifier.verify_jws(&forged),
                Err(CryptoError::InvalidSignature(_))
            ));
            let mut sig = b64url_decode(parts[2]).unwrap();
            sig[0] ^= 1;
            let forged = format!("{}.{}.{}", parts[0], parts[1], b64url(&sig));
            assert!(verifier.verify_jws(&forged).is_err());
            assert!(verifier.verify_jws(&format!("{jws}.x")).is_err());
            assert!(
                verifier
                    .verify_jws(&format!("{}.{}", parts[0], parts[1]))
                    .is_err()
            );
            assert!(verifier.verify_jws("").is_err());
        }
    }

    #[test]
    fn alg_none_rejected() {
        for alg in ALGS {
            let (key, _) = key(alg, "k1");
            let verifier = Verifier::from_jwk(&key.public_jwk).unwrap();
            let body = unsigned(
                &json!({"alg": "none", "kid": "k1"}),
                &json!({"sub": "admin"}),
            );
            assert!(verifier.verify_jws(&format!("{body}.")).is_err());
            let body = unsigned(&json!({"kid": "k1"}), &json!({"sub": "admin"}));
            assert!(verifier.verify_jws(&format!("{body}.")).is_err());
        }
    }

    #[test]
    fn hs256_with_public_key_as_secret_rejected() {
        let (key, _) = key(SigningAlg::Rs256, "k1");
        let verifier = Verifier::from_jwk(&key.public_jwk).unwrap();
        let secret = serde_json::to_vec(&key.public_jwk).unwrap();
        let body = unsigned(
            &json!({"alg": "HS256", "kid": "k1"}),
            &json!({"sub": "admin"}),
        );
        let mac = aws_lc_rs::hmac::sign(
            &aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, &secret),
            body.as_bytes(),
        );
        let jws = format!("{body}.{}", b64url(mac.as_ref()));
        assert!(matches!(
            verifier.verify_jws(&jws),
            Err(CryptoError::InvalidSignature(_))
        ));
    }

    #[test]
    fn other_alg_and_kid_rejected() {
        let (_, rsa_signer) = key(SigningAlg::Rs256, "k1");
        let (ec_key, ec_signer) = key(SigningAlg::Es256, "k1");
        let ec_verifier = Verifier::from_jwk(&ec_key.public_jwk).unwrap();
        assert!(ec_verifier.verify_jws(&token(&rsa_signer)).is_err());
        // Same alg, different key.
        let (_, other_ec) = key(SigningAlg::Es256, "k1");
        assert!(ec_verifier.verify_jws(&token(&other_ec)).is_err());
        // Same key, different kid in the header.
        let renamed = Signer::from_pkcs8(SigningAlg::Es256, "k2", &ec_key.pkcs8_der).unwrap();
        let err = ec_verifier.verify_jws(&token(&renamed)).unwrap_err();
        assert!(err.to_string().contains("kid"), "{err}");
        assert!(ec_verifier.verify_jws(&token(&ec_signer)).is_ok());
        // A header without kid is fine when alg matches.
        let body = unsigned(&json!({"alg": "ES256"}), &json!({"a": 1}));
        let sig = ec_signer.sign(body.as_bytes(), &SystemRng::new()).unwrap();
        assert!(
            ec_verifier
                .verify_jws(&format!("{body}.{}", b64url(&sig)))
                .is_ok()
        );
        // crit is refused even when signed.
        let body = unsigned(
            &json!({"alg": "ES256", "crit": ["b64"], "b64": false}),
            &json!({}),
        );
        let sig = ec_signer.sign(body.as_bytes(), &SystemRng::new()).unwrap();
        assert!(
            ec_verifier
                .verify_jws(&format!("{body}.{}", b64url(&sig)))
                .is_err()
        );
    }

    #[test]
    fn from_jwk_refusals() {
        let rsa = key(SigningAlg::Rs256, "k").0.public_jwk;
        let ec = key(SigningAlg::Es256, "k").0.public_jwk;
        let ed = key(SigningAlg::EdDsa, "k").0.public_jwk;
        for bad_alg in ["HS256", "none", "RS512", "PS256", ""] {
            let mut j = rsa.clone();
            j.alg = bad_alg.into();
            assert!(matches!(
                Verifier::from_jwk(&j),
                Err(CryptoError::Unsupported(_))
            ));
        }
        let mut j = rsa.clone();
        j.kty = "EC".into();
        assert!(Verifier::from_jwk(&j).is_err());
        let mut j = ec.clone();
        j.crv = Some("P-384".into());
        assert!(Verifier::from_jwk(&j).is_err());
        let mut j = ed.clone();
        j.alg = "ES256".into();
        assert!(Verifier::from_jwk(&j).is_err());
        let mut j = ec.clone();
        j.use_ = "enc".into();
        assert!(Verifier::from_jwk(&j).is_err());
        // Point not on the curve.
        let mut j = ec.clone();
        j.y = j.x.clone();
        assert!(Verifier::from_jwk(&j).is_err());
        // RSA-1024 modulus is refused.
        let mut j = rsa.clone();
        let n = b64url_decode(j.n.as_deref().unwrap()).unwrap();
        j.n = Some(b64url(&n[..128]));
        let err = Verifier::from_jwk(&j).unwrap_err().to_string();
        assert!(err.contains("2048"), "{err}");
        // A leading zero byte on n is tolerated.
        let mut j = rsa.clone();
        let mut padded = vec![0u8];
        padded.extend_from_slice(&n);
        j.n = Some(b64url(&padded));
        assert!(Verifier::from_jwk(&j).is_ok());
    }
}
