//! Password hashing: argon2id for everything Clavis hashes, and verification of hashes
//! imported from other systems (argon2 PHC strings and bcrypt), with a `needs_rehash` signal
//! so that a successful login can upgrade an old hash to the current parameters.
//!
//! Current parameters (OWASP Password Storage Cheat Sheet): argon2id, m = 19456 KiB, t = 2,
//! p = 1, 16-byte salt, 32-byte output. Imported hashes whose cost would let one login
//! exhaust the server (argon2 m > 256 MiB, t > 10, p > 16; bcrypt cost > 16) are refused
//! as invalid rather than verified.

use argon2::password_hash::Error as PhError;
use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};
use clavis_types::Rng;
use zeroize::Zeroizing;

use crate::CryptoError;

const M_COST: u32 = 19_456;
const T_COST: u32 = 2;
const P_COST: u32 = 1;
const SALT_LEN: usize = 16;

const MAX_M_COST: u32 = 262_144;
const MAX_T_COST: u32 = 10;
const MAX_P_COST: u32 = 16;
const MAX_BCRYPT_COST: u32 = 16;

const EXPECTED: &str = "expected an argon2 PHC string ($argon2id$v=19$m=<KiB>,t=<n>,p=<n>$<salt>$<hash>) \
     or a bcrypt hash ($2a$, $2b$ or $2y$, 60 characters)";

/// An argon2id hash of a random password with the current parameters, for
/// [`dummy_verify`]. A test checks that its parameters match the current ones.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$ODjx2TMfCdGu/iYb9US25A$4eOQ0E7pWZ7WpAeTC3H+eCVnRra9OwOM2i9zAU+r/EA";

/// The outcome of checking a password against a stored hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCheck {
    pub ok: bool,
    /// The password matched and the stored hash should be replaced by
    /// [`hash_password`] of it (bcrypt, argon2i/argon2d, or weaker argon2 parameters).
    pub needs_rehash: bool,
}

/// The family of a stored password hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashKind {
    Argon2,
    Bcrypt,
}

fn current_params() -> Result<Params, CryptoError> {
    Params::new(M_COST, T_COST, P_COST, None)
        .map_err(|e| CryptoError::InvalidHash(format!("argon2 parameters: {e}")))
}

/// Hash `password` with argon2id and the current parameters; returns a PHC string.
pub fn hash_password(password: &str, rng: &dyn Rng) -> Result<String, CryptoError> {
    let mut salt = [0u8; SALT_LEN];
    rng.fill(&mut salt);
    let argon = Argon2::new(Algorithm::Argon2id, Version::V0x13, current_params()?);
    let hash = argon
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|e| CryptoError::InvalidHash(format!("argon2 hashing failed: {e}")))?;
    Ok(hash.to_string())
}

enum Parsed {
    Argon2(Box<PasswordHash>),
    Bcrypt,
}

fn invalid(detail: &str) -> CryptoError {
    CryptoError::InvalidHash(format!("{detail}; {EXPECTED}"))
}

fn parse(stored: &str) -> Result<Parsed, CryptoError> {
    let stored = stored.trim();
    if stored.starts_with("$argon2") {
        let hash = PasswordHash::new(stored).map_err(|_| invalid("malformed argon2 hash"))?;
        let algorithm = hash.algorithm.as_str();
        if !matches!(algorithm, "argon2id" | "argon2i" | "argon2d") {
            return Err(invalid("unknown argon2 variant"));
        }
        if let Some(v) = hash.version {
            Version::try_from(v).map_err(|_| invalid("unknown argon2 version"))?;
        }
        let params = Params::try_from(&hash).map_err(|_| invalid("invalid argon2 parameters"))?;
        if params.m_cost() > MAX_M_COST
            || params.t_cost() > MAX_T_COST
            || params.p_cost() > MAX_P_COST
        {
            return Err(CryptoError::InvalidHash(format!(
                "argon2 parameters too costly to verify (limits: m <= {MAX_M_COST} KiB, \
                 t <= {MAX_T_COST}, p <= {MAX_P_COST})"
            )));
        }
        if hash.salt.is_none() || hash.hash.is_none() {
            return Err(invalid("argon2 hash lacks salt or output"));
        }
        return Ok(Parsed::Argon2(Box::new(hash)));
    }
    if ["$2a$", "$2b$", "$2y$"]
        .iter()
        .any(|p| stored.starts_with(p))
    {
        let parts: bcrypt::HashParts = stored
            .parse()
            .map_err(|_| invalid("malformed bcrypt hash"))?;
        let cost = parts.get_cost();
        if !(4..=MAX_BCRYPT_COST).contains(&cost) {
            return Err(CryptoError::InvalidHash(format!(
                "bcrypt cost {cost} out of the accepted range 4..={MAX_BCRYPT_COST}"
            )));
        }
        return Ok(Parsed::Bcrypt);
    }
    Err(invalid("unrecognised password hash format"))
}

/// Parse-only check of a stored hash (for imports): which family it is, or why it is refused.
pub fn validate_password_hash(stored: &str) -> Result<HashKind, CryptoError> {
    Ok(match parse(stored)? {
        Parsed::Argon2(_) => HashKind::Argon2,
        Parsed::Bcrypt => HashKind::Bcrypt,
    })
}

fn argon2_is_weak(hash: &PasswordHash) -> bool {
    let Ok(params) = Params::try_from(hash) else {
        return true;
    };
    hash.algorithm.as_str() != "argon2id"
        || hash.version != Some(Version::V0x13.into())
        || params.m_cost() < M_COST
        || params.t_cost() < T_COST
}

/// Verify `password` against a stored argon2 (PHC) or bcrypt hash. The comparison is
/// constant-time inside argon2 / bcrypt. An unrecognised or refused hash is an error, not
/// a mismatch, so that broken imports surface.
pub fn verify_password(password: &str, stored: &str) -> Result<PasswordCheck, CryptoError> {
    match parse(stored)? {
        Parsed::Argon2(hash) => {
            match Argon2::default().verify_password(password.as_bytes(), &*hash) {
                Ok(()) => Ok(PasswordCheck {
                    ok: true,
                    needs_rehash: argon2_is_weak(&hash),
                }),
                Err(PhError::PasswordInvalid) => Ok(PasswordCheck {
                    ok: false,
                    needs_rehash: false,
                }),
                Err(e) => Err(CryptoError::InvalidHash(format!(
                    "argon2 verification: {e}"
                ))),
            }
        }
        Parsed::Bcrypt => {
            let password = Zeroizing::new(password.as_bytes().to_vec());
            let ok = bcrypt::verify(password.as_slice(), stored.trim())
                .map_err(|e| CryptoError::InvalidHash(format!("bcrypt verification: {e}")))?;
            Ok(PasswordCheck {
                ok,
                needs_rehash: ok,
            })
        }
    }
}

/// Spend the time of one verification with the current parameters and discard the result,
/// so that a login for an unknown account takes as long as one with a wrong password.
pub fn dummy_verify(password: &str) {
    let result = verify_password(password, DUMMY_HASH);
    let _ = std::hint::black_box(result);
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::SystemRng;

    fn argon2_hash(alg: Algorithm, m: u32, t: u32, p: u32, password: &str) -> String {
        let params = Params::new(m, t, p, None).unwrap();
        Argon2::new(alg, Version::V0x13, params)
            .hash_password_with_salt(password.as_bytes(), b"0123456789abcdef")
            .unwrap()
            .to_string()
    }

    #[test]
    fn hash_and_verify() {
        let rng = SystemRng::new();
        let hash = hash_password("correct horse", &rng).unwrap();
        assert!(
            hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hash}"
        );
        assert_ne!(hash, hash_password("correct horse", &rng).unwrap());
        assert_eq!(
            verify_password("correct horse", &hash).unwrap(),
            PasswordCheck {
                ok: true,
                needs_rehash: false
            }
        );
        assert_eq!(
            verify_password("correct horsE", &hash).unwrap(),
            PasswordCheck {
                ok: false,
                needs_rehash: false
            }
        );
        assert_eq!(validate_password_hash(&hash).unwrap(), HashKind::Argon2);
    }

    #[test]
    fn bcrypt_verifies_and_needs_rehash() {
        let hash = bcrypt::hash("hunter2", 4).unwrap();
        assert_eq!(validate_password_hash(&hash).unwrap(), HashKind::Bcrypt);
        assert_eq!(
            verify_password("hunter2", &hash).unwrap(),
            PasswordCheck {
                ok: true,
                needs_rehash: true
            }
        );
        assert!(!verify_password("hunter3", &hash).unwrap().ok);
        let y = hash.replacen("$2b$", "$2y$", 1);
        assert!(verify_password("hunter2", &y).unwrap().ok);
        let a = hash.replacen("$2b$", "$2a$", 1);
        assert!(verify_password("hunter2", &a).unwrap().ok);
        // Cost over the limit is refused without spending the time.
        let costly = hash.replacen("$04$", "$20$", 1);
        assert!(matches!(
            verify_password("hunter2", &costly),
            Err(CryptoError::InvalidHash(_))
        ));
    }

    #[test]
    fn weaker_argon2_needs_rehash() {
        let weak_m = argon2_hash(Algorithm::Argon2id, 8192, 2, 1, "pw");
        assert_eq!(
            verify_password("pw", &weak_m).unwrap(),
            PasswordCheck {
                ok: true,
                needs_rehash: true
            }
        );
        let weak_t = argon2_hash(Algorithm::Argon2id, M_COST, 1, 1, "pw");
        assert!(verify_password("pw", &weak_t).unwrap().needs_rehash);
        let argon2i = argon2_hash(Algorithm::Argon2i, M_COST, T_COST, 1, "pw");
        assert!(argon2i.starts_with("$argon2i$"));
        assert_eq!(
            verify_password("pw", &argon2i).unwrap(),
            PasswordCheck {
                ok: true,
                needs_rehash: true
            }
        );
        // Stronger parameters are kept.
        let strong = argon2_hash(Algorithm::Argon2id, M_COST * 2, 3, 2, "pw");
        assert!(!verify_password("pw", &strong).unwrap().needs_rehash);
        // A wrong password never asks for a rehash.
        assert_eq!(
            verify_password("nope", &weak_m).unwrap(),
            PasswordCheck {
                ok: false,
                needs_rehash: false
            }
        );
    }

    #[test]
    fn garbage_and_costly_hashes_rejected() {
        for bad in [
            "",
            "plaintext",
            "$1$abc$def",
            "$argon2id$garbage",
            "$argon2x$v=19$m=19456,t=2,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA",
            "$2b$04$short",
            "$2x$04$abcdefghijklmnopqrstuuK5Y0Y9bYq5Ym1mA0k3q1yS4aWl8fXyG",
            "{SSHA}abc",
        ] {
            let err = validate_password_hash(bad).unwrap_err();
            assert!(matches!(err, CryptoError::InvalidHash(_)), "{bad}");
            assert!(verify_password("pw", bad).is_err(), "{bad}");
        }
        let msg = validate_password_hash("plaintext").unwrap_err().to_string();
        assert!(
            msg.contains("argon2 PHC") && msg.contains("bcrypt"),
            "{msg}"
        );
        let huge = argon2_hash(Algorithm::Argon2id, M_COST, 2, 1, "pw").replacen(
            "m=19456",
            "m=4194304",
            1,
        );
        let msg = validate_password_hash(&huge).unwrap_err().to_string();
        assert!(msg.contains("too costly"), "{msg}");
    }

    #[test]
    fn dummy_hash_uses_current_params() {
        assert_eq!(
            validate_password_hash(DUMMY_HASH).unwrap(),
            HashKind::Argon2
        );
        let hash = PasswordHash::new(DUMMY_HASH).unwrap();
        assert!(!argon2_is_weak(&hash));
        let params = Params::try_from(&hash).unwrap();
        assert_eq!(
            (params.m_cost(), params.t_cost(), params.p_cost()),
            (M_COST, T_COST, P_COST)
        );
        dummy_verify("anything");
    }
}
