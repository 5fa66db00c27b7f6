//! All cryptography of Clavis, on one provider: **aws-lc-rs**.
//!
//! This crate owns every cryptographic primitive the platform uses:
//! - hashing and encoding helpers (SHA-256, constant-time comparison, base64url);
//! - envelope encryption of secrets at rest ([`MasterKey`] wraps [`DataKey`]s, which seal
//!   secrets with AES-256-GCM) and keyed digests of high-entropy client secrets / API keys;
//! - JWS signing and verification with RS256, ES256 and EdDSA keys, and their JWK form;
//! - password hashing (argon2id) and verification of imported argon2 / bcrypt hashes.
//!
//! It must not do I/O or storage: keys come in and go out as bytes or strings, and callers
//! decide where they live. Randomness is injected through [`clavis_types::Rng`] wherever the
//! caller supplies bytes (salts, nonces, keys); [`SystemRng`] is the production source.
//! No other crypto provider (ring, the `rsa` crate, RustCrypto hashes) is used for signing,
//! hashing or encryption; argon2 and bcrypt are the only exceptions, for passwords.

pub mod envelope;
pub mod jwk;
pub mod password;
mod rng;
pub mod signing;
mod verify;

pub use envelope::{DataKey, MasterKey};
pub use jwk::{Jwk, JwkSet};
pub use password::{
    HashKind, PasswordCheck, dummy_verify, hash_password, validate_password_hash, verify_password,
};
pub use rng::SystemRng;
pub use signing::{GeneratedKey, Signer, generate_signing_key};
pub use verify::{Verifier, peek_jws_header};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Errors of this crate. Messages are safe to log: they never contain key material.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    /// Authenticated decryption failed (any cause is reported the same way).
    #[error("ciphertext could not be decrypted: wrong key or tampered data")]
    Decrypt,
    /// A key could not be parsed or is not acceptable (size, curve, format).
    #[error("invalid key: {0}")]
    InvalidKey(String),
    /// An algorithm or feature that Clavis refuses or does not implement.
    #[error("unsupported: {0}")]
    Unsupported(String),
    /// Signing failed.
    #[error("signing failed: {0}")]
    Sign(String),
    /// A JWS whose signature does not verify, or whose header does not match the key.
    #[error("invalid signature: {0}")]
    InvalidSignature(String),
    /// A stored password hash that cannot be parsed.
    #[error("invalid password hash: {0}")]
    InvalidHash(String),
    /// Malformed base64 / JSON / compact serialization.
    #[error("invalid encoding: {0}")]
    Encoding(String),
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// SHA-256 of `data` as 64 lowercase hex characters.
pub fn sha256_hex(data: &[u8]) -> String {
    hex_lower(&sha256(data))
}

pub(crate) fn hex_lower(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// Compare two byte strings in time independent of their contents (lengths may leak).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    aws_lc_rs::constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// base64url without padding (RFC 7515 §2).
pub fn b64url(data: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(data)
}

/// Strict base64url decoding: no padding, no whitespace, canonical trailing bits.
pub fn b64url_decode(s: &str) -> Result<Vec<u8>, CryptoError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|e| CryptoError::Encoding(format!("invalid base64url: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn sha256_known_answer() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha256(b"abc")[0], 0xba);
    }

    #[test]
    fn constant_time_eq_works() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
    }

    #[test]
    fn b64url_round_trip_and_strictness() {
        let data = [0xfbu8, 0xff, 0x00, 0x10];
        let s = b64url(&data);
        assert_eq!(s, "-_8AEA");
        assert_eq!(b64url_decode(&s).unwrap(), data);
        assert!(b64url_decode("-_8AEA==").is_err());
        assert!(b64url_decode("+/8AEA").is_err());
        assert!(b64url_decode("a b").is_err());
    }
}
