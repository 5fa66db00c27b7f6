//! Envelope encryption of secrets at rest.
//!
//! A [`MasterKey`] (from configuration, never stored in the database) wraps per-tenant or
//! per-purpose [`DataKey`]s; a data key seals secrets (signing keys, upstream client
//! secrets, TOTP seeds…) and computes keyed digests of high-entropy secrets that are only
//! ever compared, never recovered (client secrets, API keys).
//!
//! Formats (all AES-256-GCM, 96-bit random nonce, 128-bit tag):
//! - sealed secret: `0x01 || nonce(12) || ciphertext || tag(16)` under
//!   `HKDF-SHA256(ikm = data key, salt = none, info = "clavis seal v1")`;
//! - wrapped data key: the same layout (61 bytes) under
//!   `HKDF-SHA256(ikm = master key, salt = none, info = "clavis wrap v1")`, so the raw
//!   master key is never used directly as an AES key and other uses can be derived later;
//! - a data key wrapped under another data key ([`DataKey::wrap_key`], e.g. per-user keys
//!   under a tenant's key): the same layout under
//!   `HKDF-SHA256(ikm = data key, salt = none, info = "clavis data key wrap v1")`, so a
//!   wrapped key never opens as a sealed secret and vice versa.
//!
//! The caller's `aad` binds a ciphertext to its context (tenant id, row id, column): a
//! ciphertext copied to another row does not open. Random nonces bound each key to about
//! 2^32 seals; rotate data keys well before that.
//!
//! No I/O here: keys and ciphertexts are bytes that callers store.

use aws_lc_rs::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use aws_lc_rs::hmac;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use clavis_types::Rng;
use zeroize::Zeroizing;

use crate::CryptoError;

const KEY_LEN: usize = 32;
const VERSION: u8 = 1;
const TAG_LEN: usize = 16;
const HEADER_LEN: usize = 1 + NONCE_LEN;
const SEAL_INFO: &[u8] = b"clavis seal v1";
const WRAP_INFO: &[u8] = b"clavis wrap v1";
const DIGEST_INFO: &[u8] = b"clavis secret digest v1";
const KEY_WRAP_INFO: &[u8] = b"clavis data key wrap v1";

/// HKDF-SHA256 (RFC 5869) with an empty salt and a 32-byte output. One output block is
/// `T(1) = HMAC(PRK, info || 0x01)`, so the derivation is written with aws-lc-rs HMAC and
/// cannot fail; a test checks it against aws-lc-rs's own HKDF and the RFC 5869 vector.
fn hkdf_sha256_32(ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; KEY_LEN]> {
    let extract_key = hmac::Key::new(hmac::HMAC_SHA256, &[0u8; KEY_LEN]);
    let mut prk = Zeroizing::new([0u8; KEY_LEN]);
    prk.copy_from_slice(hmac::sign(&extract_key, ikm).as_ref());
    let expand_key = hmac::Key::new(hmac::HMAC_SHA256, prk.as_slice());
    let mut ctx = hmac::Context::with_key(&expand_key);
    ctx.update(info);
    ctx.update(&[1]);
    let t1 = ctx.sign();
    let mut out = Zeroizing::new([0u8; KEY_LEN]);
    out.copy_from_slice(t1.as_ref());
    out
}

/// An AES-256-GCM key derived from `ikm`. `None` only if the provider cannot set up a
/// correctly sized key, which does not happen; callers then fail closed.
fn derive_aead_key(ikm: &[u8], info: &[u8]) -> Option<LessSafeKey> {
    let subkey = hkdf_sha256_32(ikm, info);
    UnboundKey::new(&AES_256_GCM, subkey.as_slice())
        .ok()
        .map(LessSafeKey::new)
}

/// Seal under `key`. Sealing only fails for inputs over ~64 GiB (or a key that could not be
/// set up); then the output is the bare header, which never opens: fail closed, no panic.
fn aead_seal(key: Option<&LessSafeKey>, plaintext: &[u8], aad: &[u8], rng: &dyn Rng) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rng.fill(&mut nonce);
    let mut out = Vec::with_capacity(HEADER_LEN + plaintext.len() + TAG_LEN);
    out.push(VERSION);
    out.extend_from_slice(&nonce);
    // Room for the tag up front, so appending it never leaves a copy of the plaintext behind.
    let mut body = Zeroizing::new(Vec::with_capacity(plaintext.len() + TAG_LEN));
    body.extend_from_slice(plaintext);
    let sealed = key.is_some_and(|key| {
        key.seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(aad),
            &mut *body,
        )
        .is_ok()
    });
    if sealed {
        out.extend_from_slice(&body);
    }
    out
}

fn aead_open(
    key: Option<&LessSafeKey>,
    sealed: &[u8],
    aad: &[u8],
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let Some(key) = key else {
        return Err(CryptoError::Decrypt);
    };
    if sealed.len() < HEADER_LEN + TAG_LEN || sealed.first() != Some(&VERSION) {
        return Err(CryptoError::Decrypt);
    }
    let (header, body) = sealed.split_at(HEADER_LEN);
    let nonce = Nonce::try_assume_unique_for_key(&header[1..]).map_err(|_| CryptoError::Decrypt)?;
    let mut buf = Zeroizing::new(body.to_vec());
    let plain_len = key
        .open_in_place(nonce, Aad::from(aad), buf.as_mut_slice())
        .map_err(|_| CryptoError::Decrypt)?
        .len();
    buf.truncate(plain_len);
    Ok(buf)
}

/// The root key of envelope encryption: 32 bytes from configuration.
pub struct MasterKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    wrap_key: Option<LessSafeKey>,
}

impl MasterKey {
    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let wrap_key = derive_aead_key(bytes.as_slice(), WRAP_INFO);
        Self { bytes, wrap_key }
    }

    pub fn generate(rng: &dyn Rng) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(bytes.as_mut_slice());
        Self::from_bytes(bytes)
    }

    /// Parse standard base64 (surrounding whitespace ignored) of exactly 32 bytes.
    pub fn from_base64(s: &str) -> Result<Self, CryptoError> {
        let decoded = Zeroizing::new(STANDARD.decode(s.trim()).map_err(|_| {
            CryptoError::InvalidKey("master key: expected base64 of 32 bytes".into())
        })?);
        let bytes: [u8; KEY_LEN] = decoded.as_slice().try_into().map_err(|_| {
            CryptoError::InvalidKey(format!(
                "master key: expected base64 of 32 bytes, got {} bytes",
                decoded.len()
            ))
        })?;
        Ok(Self::from_bytes(Zeroizing::new(bytes)))
    }

    /// Standard base64 (with padding) of the 32 key bytes.
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes.as_slice())
    }

    /// Encrypt a data key for storage; `aad` names what the key belongs to.
    pub fn wrap(&self, dk: &DataKey, aad: &[u8], rng: &dyn Rng) -> Vec<u8> {
        aead_seal(self.wrap_key.as_ref(), dk.bytes.as_slice(), aad, rng)
    }

    /// Decrypt a data key produced by [`MasterKey::wrap`] with the same `aad`.
    pub fn unwrap(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, CryptoError> {
        let plain = aead_open(self.wrap_key.as_ref(), wrapped, aad)?;
        let bytes: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(DataKey::from_bytes(Zeroizing::new(bytes)))
    }
}

impl std::fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MasterKey(**redacted**)")
    }
}

/// A 32-byte key that seals secrets and digests client secrets. Stored only wrapped.
///
/// The AES and HMAC subkeys are derived once at construction, so [`DataKey::seal`],
/// [`DataKey::open`] and [`DataKey::secret_digest`] do no key setup per call.
pub struct DataKey {
    bytes: Zeroizing<[u8; KEY_LEN]>,
    seal_key: Option<LessSafeKey>,
    digest_key: hmac::Key,
}

impl DataKey {
    fn from_bytes(bytes: Zeroizing<[u8; KEY_LEN]>) -> Self {
        let seal_key = derive_aead_key(bytes.as_slice(), SEAL_INFO);
        let digest_subkey = hkdf_sha256_32(bytes.as_slice(), DIGEST_INFO);
        let digest_key = hmac::Key::new(hmac::HMAC_SHA256, digest_subkey.as_slice());
        Self {
            bytes,
            seal_key,
            digest_key,
        }
    }

    pub fn generate(rng: &dyn Rng) -> Self {
        let mut bytes = Zeroizing::new([0u8; KEY_LEN]);
        rng.fill(bytes.as_mut_slice());
        Self::from_bytes(bytes)
    }

    /// Encrypt `plaintext`, bound to `aad`. Output: `0x01 || nonce || ciphertext || tag`.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8], rng: &dyn Rng) -> Vec<u8> {
        aead_seal(self.seal_key.as_ref(), plaintext, aad, rng)
    }

    /// Decrypt the output of [`DataKey::seal`]. Any failure is [`CryptoError::Decrypt`].
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        aead_open(self.seal_key.as_ref(), sealed, aad)
    }

    /// Encrypt another data key under this one (e.g. a per-user key under the tenant's key);
    /// `aad` names what the wrapped key belongs to.
    pub fn wrap_key(&self, other: &DataKey, aad: &[u8], rng: &dyn Rng) -> Vec<u8> {
        let key = derive_aead_key(self.bytes.as_slice(), KEY_WRAP_INFO);
        aead_seal(key.as_ref(), other.bytes.as_slice(), aad, rng)
    }

    /// Decrypt a key produced by [`DataKey::wrap_key`] with the same `aad`. Any failure is
    /// [`CryptoError::Decrypt`].
    pub fn unwrap_key(&self, wrapped: &[u8], aad: &[u8]) -> Result<DataKey, CryptoError> {
        let key = derive_aead_key(self.bytes.as_slice(), KEY_WRAP_INFO);
        let plain = aead_open(key.as_ref(), wrapped, aad)?;
        let bytes: [u8; KEY_LEN] = plain
            .as_slice()
            .try_into()
            .map_err(|_| CryptoError::Decrypt)?;
        Ok(DataKey::from_bytes(Zeroizing::new(bytes)))
    }

    /// HMAC-SHA256 of a high-entropy secret (client secret, API key) for storage as a
    /// lookup/verification digest. Not for passwords: use [`crate::hash_password`].
    pub fn secret_digest(&self, secret: &[u8]) -> [u8; 32] {
        let tag = hmac::sign(&self.digest_key, secret);
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Check `secret` against a digest from [`DataKey::secret_digest`] in constant time.
    pub fn verify_secret(&self, secret: &[u8], digest: &[u8]) -> bool {
        hmac::verify(&self.digest_key, secret, digest).is_ok()
    }
}

impl Clone for DataKey {
    fn clone(&self) -> Self {
        Self::from_bytes(self.bytes.clone())
    }
}

impl std::fmt::Debug for DataKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DataKey(**redacted**)")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::SystemRng;

    #[test]
    fn hkdf_matches_rfc5869_and_aws_lc() {
        // RFC 5869 test case 3 (empty salt and info): first 32 bytes of the OKM.
        let okm = hkdf_sha256_32(&[0x0b; 22], b"");
        assert_eq!(
            crate::hex_lower(okm.as_slice()),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d"
        );
        let ikm = [7u8; 32];
        let mut expected = [0u8; 32];
        aws_lc_rs::hkdf::Salt::new(aws_lc_rs::hkdf::HKDF_SHA256, &[])
            .extract(&ikm)
            .expand(&[SEAL_INFO], aws_lc_rs::hkdf::HKDF_SHA256)
            .unwrap()
            .fill(&mut expected)
            .unwrap();
        assert_eq!(*hkdf_sha256_32(&ikm, SEAL_INFO), expected);
    }

    #[test]
    fn seal_open_round_trip() {
        let rng = SystemRng::new();
        let dk = DataKey::generate(&rng);
        let sealed = dk.seal(b"top secret", b"tenant-1/key-1", &rng);
        assert_eq!(sealed.len(), 1 + 12 + 10 + 16);
        assert_eq!(sealed[0], 1);
        let opened = dk.open(&sealed, b"tenant-1/key-1").unwrap();
        assert_eq!(opened.as_slice(), b"top secret");
        // Random nonces: the same plaintext seals differently.
        assert_ne!(sealed, dk.seal(b"top secret", b"tenant-1/key-1", &rng));
        // Empty plaintext works too.
        let empty = dk.seal(b"", b"", &rng);
        assert!(dk.open(&empty, b"").unwrap().is_empty());
        // A clone opens what the original sealed.
        assert_eq!(
            dk.clone()
                .open(&sealed, b"tenant-1/key-1")
                .unwrap()
                .as_slice(),
            b"top secret"
        );
    }

    #[test]
    fn open_rejects_tampering_wrong_aad_wrong_key_truncation() {
        let rng = SystemRng::new();
        let dk = DataKey::generate(&rng);
        let aad = b"ctx";
        let sealed = dk.seal(b"payload bytes", aad, &rng);
        for i in 0..sealed.len() {
            let mut t = sealed.clone();
            t[i] ^= 0x01;
            assert!(
                matches!(dk.open(&t, aad), Err(CryptoError::Decrypt)),
                "byte {i}"
            );
        }
        assert!(matches!(
            dk.open(&sealed, b"other"),
            Err(CryptoError::Decrypt)
        ));
        let other = DataKey::generate(&rng);
        assert!(matches!(
            other.open(&sealed, aad),
            Err(CryptoError::Decrypt)
        ));
        for len in 0..sealed.len() {
            assert!(matches!(
                dk.open(&sealed[..len], aad),
                Err(CryptoError::Decrypt)
            ));
        }
        let mut v2 = sealed.clone();
        v2[0] = 2;
        assert!(matches!(dk.open(&v2, aad), Err(CryptoError::Decrypt)));
    }

    #[test]
    fn wrap_unwrap() {
        let rng = SystemRng::new();
        let mk = MasterKey::generate(&rng);
        let dk = DataKey::generate(&rng);
        let wrapped = mk.wrap(&dk, b"tenant-1", &rng);
        assert_eq!(wrapped.len(), 1 + 12 + 32 + 16);
        let back = mk.unwrap(&wrapped, b"tenant-1").unwrap();
        let sealed = dk.seal(b"x", b"", &rng);
        assert_eq!(back.open(&sealed, b"").unwrap().as_slice(), b"x");
        assert!(matches!(
            mk.unwrap(&wrapped, b"tenant-2"),
            Err(CryptoError::Decrypt)
        ));
        let other = MasterKey::generate(&rng);
        assert!(matches!(
            other.unwrap(&wrapped, b"tenant-1"),
            Err(CryptoError::Decrypt)
        ));
        // A sealed secret is not a wrapped key (different subkeys).
        let as_secret = dk.seal(&[0u8; 32], b"tenant-1", &rng);
        assert!(mk.unwrap(&as_secret, b"tenant-1").is_err());
    }

    #[test]
    fn data_key_wraps_data_key() {
        let rng = SystemRng::new();
        let tenant = DataKey::generate(&rng);
        let user = DataKey::generate(&rng);
        let wrapped = tenant.wrap_key(&user, b"audit-subject:t1:u1", &rng);
        assert_eq!(wrapped.len(), 1 + 12 + 32 + 16);
        let back = tenant.unwrap_key(&wrapped, b"audit-subject:t1:u1").unwrap();
        let sealed = user.seal(b"ann@example.com", b"ctx", &rng);
        assert_eq!(
            back.open(&sealed, b"ctx").unwrap().as_slice(),
            b"ann@example.com"
        );
        // Another context, another key, a tampered byte or a truncation: refused.
        assert!(matches!(
            tenant.unwrap_key(&wrapped, b"audit-subject:t1:u2"),
            Err(CryptoError::Decrypt)
        ));
        assert!(matches!(
            DataKey::generate(&rng).unwrap_key(&wrapped, b"audit-subject:t1:u1"),
            Err(CryptoError::Decrypt)
        ));
        let mut t = wrapped.clone();
        t[20] ^= 1;
        assert!(tenant.unwrap_key(&t, b"audit-subject:t1:u1").is_err());
        assert!(
            tenant
                .unwrap_key(&wrapped[..40], b"audit-subject:t1:u1")
                .is_err()
        );
        // A wrapped key is not a sealed secret and a sealed 32-byte secret is not a wrapped
        // key (different subkeys), even under the same data key and aad.
        assert!(tenant.open(&wrapped, b"audit-subject:t1:u1").is_err());
        let secret = tenant.seal(&[7u8; 32], b"audit-subject:t1:u1", &rng);
        assert!(tenant.unwrap_key(&secret, b"audit-subject:t1:u1").is_err());
    }

    #[test]
    fn master_key_base64() {
        let rng = SystemRng::new();
        let mk = MasterKey::generate(&rng);
        let s = mk.to_base64();
        let back = MasterKey::from_base64(&format!("  {s}\n")).unwrap();
        assert_eq!(back.to_base64(), s);
        let err = MasterKey::from_base64("c2hvcnQ=").unwrap_err().to_string();
        assert!(err.contains("expected base64 of 32 bytes"), "{err}");
        let err = MasterKey::from_base64("not base64!")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected base64 of 32 bytes"), "{err}");
        assert_eq!(format!("{mk:?}"), "MasterKey(**redacted**)");
        assert_eq!(
            format!("{:?}", DataKey::generate(&rng)),
            "DataKey(**redacted**)"
        );
    }

    #[test]
    fn secret_digest_verify_and_mismatch() {
        let rng = SystemRng::new();
        let dk = DataKey::generate(&rng);
        let d = dk.secret_digest(b"cs_live_abc");
        assert_eq!(d, dk.secret_digest(b"cs_live_abc"));
        assert!(dk.verify_secret(b"cs_live_abc", &d));
        assert!(!dk.verify_secret(b"cs_live_abd", &d));
        assert!(!dk.verify_secret(b"cs_live_abc", &d[..31]));
        let other = DataKey::generate(&rng);
        assert!(!other.verify_secret(b"cs_live_abc", &d));
        // The digest is keyed: not the plain SHA-256 and not HMAC under the raw data key.
        assert_ne!(d, crate::sha256(b"cs_live_abc"));
    }
}
