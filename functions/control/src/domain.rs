//! Validated values: each type can only hold what its `parse` accepts, so code past the edge never re-checks.

use crate::error::ControlError;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use std::fmt;
pub use tradesim_protocol::stream::{SimId, UserId};

/// 3 to 32 characters of ASCII letters, digits, `.`, `-` and `_`, compared without case (kept lower-case).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    pub const MIN_LEN: usize = 3;
    pub const MAX_LEN: usize = 32;

    pub fn parse(name: &str) -> Result<Self, ControlError> {
        let name = name.trim();
        let length_ok = (Self::MIN_LEN..=Self::MAX_LEN).contains(&name.len());
        let alphabet_ok = name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !length_ok || !alphabet_ok {
            return Err(ControlError::InvalidInput(format!(
                "username must be {} to {} characters of letters, digits, '.', '-' and '_'",
                Self::MIN_LEN,
                Self::MAX_LEN
            )));
        }
        Ok(Self(name.to_ascii_lowercase()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A password of 10 to 128 characters. Its `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    /// Bounds the hashing work one request can ask for.
    pub const MAX_CHARS: usize = 128;

    pub fn parse(password: &str) -> Result<Self, ControlError> {
        let chars = password.chars().count();
        if !(Self::MIN_CHARS..=Self::MAX_CHARS).contains(&chars) {
            return Err(ControlError::InvalidInput(format!(
                "password must be {} to {} characters",
                Self::MIN_CHARS,
                Self::MAX_CHARS
            )));
        }
        Ok(Self(password.to_owned()))
    }

    pub fn expose(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(..)")
    }
}

/// Secret-grade randomness straight from the OS: ids and tokens must not be guessable.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut bytes = [0u8; N];
    // Without a working OS random source nothing here can be made safe; there is no sensible fallback.
    OsRng.try_fill_bytes(&mut bytes).expect("the operating system's random number generator failed");
    bytes
}

/// Random identifiers: a prefix naming the kind and 128 random bits in hex. Within the protocol's id alphabet, so a
/// user id is also a valid [`UserId`] and a simulator id a valid [`SimId`].
fn random_id(prefix: &str) -> String {
    let bytes: [u8; 16] = random_bytes();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{prefix}_{hex}")
}

pub fn new_user_id() -> UserId {
    UserId::parse(random_id("u")).unwrap_or_else(|_| unreachable!("generated ids fit the alphabet"))
}

pub fn new_sim_id() -> SimId {
    SimId::parse(random_id("sim")).unwrap_or_else(|_| unreachable!("generated ids fit the alphabet"))
}

/// The protocol's id alphabet: 1 to 64 characters of ASCII letters, digits, `-` and `_`.
fn protocol_id(id: &str) -> Result<(), String> {
    UserId::parse(id).map(drop).map_err(|e| e.to_string())
}

/// API Gateway connection ids are base64url with `=` padding (e.g. `d9ZOKdU7oAMCJ-g=`): the protocol's alphabet
/// plus `=`.
fn connection_id(id: &str) -> Result<(), String> {
    let ok = (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='));
    if ok { Ok(()) } else { Err("must be 1 to 64 characters of A-Z a-z 0-9 - _ =".to_owned()) }
}

macro_rules! control_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal) => {
        control_id!($(#[$doc])* $name, $prefix, $what, protocol_id);
    };
    ($(#[$doc:meta])* $name:ident, $prefix:literal, $what:literal, $check:path) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(type = "string"))]
        #[serde(try_from = "String", into = "String")]
        #[schema(value_type = String)]
        pub struct $name(String);

        impl $name {
            pub fn generate() -> Self {
                Self(random_id($prefix))
            }

            /// Checked against the type's alphabet.
            pub fn parse(id: impl Into<String>) -> Result<Self, ControlError> {
                let id = id.into();
                $check(id.as_str())
                    .map_err(|e| ControlError::InvalidInput(format!(concat!("bad ", $what, " id: {}"), e)))?;
                Ok(Self(id))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = ControlError;
            fn try_from(id: String) -> Result<Self, ControlError> {
                Self::parse(id)
            }
        }

        impl From<$name> for String {
            fn from(id: $name) -> String {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

control_id!(
    /// A trading session.
    SessionId, "ses", "session"
);
control_id!(
    /// A sign-in: one login's refresh-token family. Access tokens carry it as `sid`.
    FamilyId, "fam", "sign-in"
);
control_id!(
    /// A stream connection (an API Gateway connection id or a host's own).
    ConnectionId, "con", "connection", connection_id
);

/// Parses a simulator id from a path or body, with the control plane's error.
pub fn parse_sim_id(id: &str) -> Result<SimId, ControlError> {
    SimId::parse(id).map_err(|e| ControlError::InvalidInput(format!("bad simulator id: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_trimmed_lowercased_and_bounded() {
        assert_eq!(Username::parse(" Alice.B ").unwrap().as_str(), "alice.b");
        for bad in ["ab", "", "has space", "ünïcode", &"x".repeat(33)] {
            assert_eq!(Username::parse(bad).unwrap_err().code(), "invalid_input", "{bad:?}");
        }
    }

    #[test]
    fn passwords_count_characters_and_hide_themselves() {
        assert!(Password::parse("ten chars!").is_ok());
        assert!(Password::parse("nine char").is_err());
        assert!(Password::parse(&"é".repeat(128)).is_ok());
        assert!(Password::parse(&"a".repeat(129)).is_err());
        assert_eq!(format!("{:?}", Password::parse("secret secret").unwrap()), "Password(..)");
    }

    #[test]
    fn generated_ids_parse_and_are_distinct() {
        let a = SessionId::generate();
        assert_eq!(SessionId::parse(a.as_str()).unwrap(), a);
        assert_ne!(a, SessionId::generate());
        assert!(new_user_id().as_str().starts_with("u_"));
        assert!(new_sim_id().as_str().starts_with("sim_"));
        assert_eq!(FamilyId::parse("no/slash").unwrap_err().code(), "invalid_input");
        assert_eq!(parse_sim_id("").unwrap_err().code(), "invalid_input");
        assert!(ConnectionId::parse("d9ZOKdU7oAMCJ-g=").is_ok(), "API Gateway's connection ids");
        assert!(SessionId::parse("d9ZOKdU7oAMCJ-g=").is_err());
        assert!(ConnectionId::parse("a/b").is_err());
    }
}
