//! Password hashing with argon2id. Verification always does one full hash, against a dummy hash when the user does
//! not exist, so the answer and the work do not tell whether a username is registered.

use crate::domain::{Password, random_bytes};
use crate::error::ControlError;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use std::fmt;

/// Argon2id cost. The default is OWASP's recommendation (19 MiB, 2 passes, 1 lane).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
}

impl Default for HashCost {
    fn default() -> Self {
        Self { memory_kib: 19 * 1024, iterations: 2 }
    }
}

pub struct PasswordHashing {
    argon2: Argon2<'static>,
    /// A hash of a random password, verified against when the user does not exist.
    dummy: String,
}

impl fmt::Debug for PasswordHashing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PasswordHashing").finish_non_exhaustive()
    }
}

impl PasswordHashing {
    pub fn new(cost: HashCost) -> Result<Self, ControlError> {
        let params = Params::new(cost.memory_kib, cost.iterations, 1, None)
            .map_err(|e| ControlError::Internal(format!("bad argon2 parameters: {e}")))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let mut hashing = Self { argon2, dummy: String::new() };
        let random: [u8; 16] = random_bytes();
        hashing.dummy = hashing.hash_bytes(&random)?;
        Ok(hashing)
    }

    pub fn hash(&self, password: &Password) -> Result<String, ControlError> {
        self.hash_bytes(password.expose())
    }

    fn hash_bytes(&self, password: &[u8]) -> Result<String, ControlError> {
        let salt = SaltString::encode_b64(&random_bytes::<16>())
            .map_err(|e| ControlError::Internal(format!("cannot encode a salt: {e}")))?;
        let hash = self
            .argon2
            .hash_password(password, &salt)
            .map_err(|e| ControlError::Internal(format!("cannot hash a password: {e}")))?;
        Ok(hash.to_string())
    }

    /// Whether `password` matches `stored`; with `None` (no such user) checks against the dummy and answers false.
    pub fn verify(&self, password: &Password, stored: Option<&str>) -> bool {
        let matches = |hash: &str| {
            PasswordHash::new(hash).is_ok_and(|parsed| self.argon2.verify_password(password.expose(), &parsed).is_ok())
        };
        match stored {
            Some(hash) => matches(hash),
            None => {
                matches(&self.dummy);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> PasswordHashing {
        PasswordHashing::new(HashCost { memory_kib: 64, iterations: 1 }).unwrap()
    }

    #[test]
    fn hashes_are_argon2id_salted_and_verify() {
        let hashing = cheap();
        let password = Password::parse("correct horse").unwrap();
        let (a, b) = (hashing.hash(&password).unwrap(), hashing.hash(&password).unwrap());
        assert!(a.starts_with("$argon2id$"));
        assert_ne!(a, b, "each hash has its own salt");
        assert!(hashing.verify(&password, Some(&a)));
        assert!(!hashing.verify(&Password::parse("wrong horse!").unwrap(), Some(&a)));
        assert!(!hashing.verify(&password, Some("not a phc string")));
    }

    #[test]
    fn a_missing_user_never_verifies() {
        let hashing = cheap();
        assert!(!hashing.verify(&Password::parse("correct horse").unwrap(), None));
    }
}
