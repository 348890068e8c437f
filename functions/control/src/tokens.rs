//! Access tokens (JWT, EdDSA over Ed25519) and opaque refresh tokens.
//!
//! Access tokens are checked for the one algorithm, signature, `typ`, `iss`, `aud`, `exp` and the id claims. `exp`
//! is checked against the injected clock, not by the JWT library, so tests can move time. Refresh tokens are 256
//! random bits; only their SHA-256 is stored.

use crate::clock::unix_secs;
use crate::domain::{FamilyId, UserId, random_bytes};
use crate::error::ControlError;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fmt;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, SystemTime};

/// The longest an access token may live.
pub const MAX_ACCESS_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The `typ` claim of access tokens, so that no other token signed with the key passes as one.
const ACCESS_TYP: &str = "access";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    pub typ: String,
    pub iss: String,
    pub aud: String,
    pub sub: UserId,
    /// The sign-in (refresh family) the token was issued under.
    pub sid: FamilyId,
    pub iat: u64,
    pub exp: u64,
}

/// Signs and verifies access tokens.
pub struct AccessTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    lifetime: Duration,
    verified: VerifiedTokens,
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokens").field("issuer", &self.issuer).field("audience", &self.audience).finish()
    }
}

impl AccessTokens {
    /// `seed` is the Ed25519 private key (32 bytes). `lifetime` is capped at [`MAX_ACCESS_LIFETIME`].
    pub fn new(seed: &[u8; 32], issuer: &str, audience: &str, lifetime: Duration) -> Result<Self, ControlError> {
        let signing = SigningKey::from_bytes(seed);
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| ControlError::Internal(format!("cannot encode the signing key: {e}")))?;
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.validate_exp = false;
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            decoding: DecodingKey::from_ed_der(signing.verifying_key().as_bytes()),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            lifetime: lifetime.min(MAX_ACCESS_LIFETIME),
            verified: VerifiedTokens::default(),
        })
    }

    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    pub fn issue(&self, user: &UserId, family: &FamilyId, now: SystemTime) -> Result<String, ControlError> {
        let claims = AccessClaims {
            typ: ACCESS_TYP.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            sub: user.clone(),
            sid: family.clone(),
            iat: unix_secs(now),
            exp: unix_secs(now + self.lifetime),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &self.encoding)
            .map_err(|e| ControlError::Internal(format!("cannot sign an access token: {e}")))
    }

    pub fn verify(&self, token: &str, now: SystemTime) -> Result<AccessClaims, ControlError> {
        let claims = match self.verified.lookup(token) {
            Some(claims) => claims,
            None => {
                let claims = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
                    .map_err(|_| ControlError::InvalidToken)?
                    .claims;
                if claims.typ != ACCESS_TYP {
                    return Err(ControlError::InvalidToken);
                }
                self.verified.keep(token, &claims, now);
                claims
            }
        };
        if claims.exp <= unix_secs(now) {
            return Err(ControlError::TokenExpired);
        }
        Ok(claims)
    }
}

/// The claims of tokens whose signature was checked, by token: a client sends the same token until it refreshes,
/// and the signature check is most of the cost of an authenticated call's CPU. Keyed by the whole token, so a hit is
/// exactly a token that verified before; expiry is still checked on every use. Bounded: when full, expired entries
/// go, and if that frees nothing, all of them.
#[derive(Debug, Default)]
struct VerifiedTokens {
    claims: Mutex<HashMap<String, AccessClaims>>,
}

impl VerifiedTokens {
    const CAPACITY: usize = 16_384;

    fn lookup(&self, token: &str) -> Option<AccessClaims> {
        self.claims.lock().unwrap_or_else(PoisonError::into_inner).get(token).cloned()
    }

    fn keep(&self, token: &str, claims: &AccessClaims, now: SystemTime) {
        let mut kept = self.claims.lock().unwrap_or_else(PoisonError::into_inner);
        if kept.len() >= Self::CAPACITY {
            let now = unix_secs(now);
            kept.retain(|_, claims| claims.exp > now);
            if kept.len() >= Self::CAPACITY {
                kept.clear();
            }
        }
        kept.insert(token.to_owned(), claims.clone());
    }
}

/// An opaque refresh token as handed to the client.
pub fn new_refresh_token() -> String {
    format!("rt_{}", URL_SAFE_NO_PAD.encode(random_bytes::<32>()))
}

/// What is stored of a refresh token.
pub fn refresh_token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(lifetime: Duration) -> AccessTokens {
        AccessTokens::new(&[7; 32], "tradesim", "tradesim-api", lifetime).unwrap()
    }

    fn ids() -> (UserId, FamilyId) {
        (UserId::parse("u_1").unwrap(), FamilyId::parse("fam_1").unwrap())
    }

    /// Signer and verifier with `lifetime`, a token it issued now for [`ids`], and that now.
    fn issued(lifetime: Duration) -> (AccessTokens, String, SystemTime) {
        let tokens = tokens(lifetime);
        let (user, family) = ids();
        let now = SystemTime::now();
        let token = tokens.issue(&user, &family, now).unwrap();
        (tokens, token, now)
    }

    #[test]
    fn a_token_verifies_until_it_expires() {
        let (tokens, token, now) = issued(Duration::from_secs(600));
        let claims = tokens.verify(&token, now).unwrap();
        assert_eq!((claims.sub, claims.sid), ids());
        assert_eq!(tokens.verify(&token, now + Duration::from_secs(601)), Err(ControlError::TokenExpired));
    }

    #[test]
    fn lifetime_is_capped_at_fifteen_minutes() {
        let (tokens, token, now) = issued(Duration::from_secs(3600));
        assert_eq!(tokens.lifetime(), MAX_ACCESS_LIFETIME);
        assert_eq!(tokens.verify(&token, now + Duration::from_secs(15 * 60 + 1)), Err(ControlError::TokenExpired));
    }

    #[test]
    fn foreign_keys_audiences_issuers_and_algorithms_are_refused() {
        let (user, family) = ids();
        let now = SystemTime::now();
        let ours = tokens(Duration::from_secs(60));
        let other_key = AccessTokens::new(&[8; 32], "tradesim", "tradesim-api", Duration::from_secs(60)).unwrap();
        let other_aud = AccessTokens::new(&[7; 32], "tradesim", "elsewhere", Duration::from_secs(60)).unwrap();
        let other_iss = AccessTokens::new(&[7; 32], "someone", "tradesim-api", Duration::from_secs(60)).unwrap();
        for minted in [&other_key, &other_aud, &other_iss] {
            let token = minted.issue(&user, &family, now).unwrap();
            assert_eq!(ours.verify(&token, now), Err(ControlError::InvalidToken));
        }
        let hs256 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &serde_json::json!({"typ": "access", "iss": "tradesim", "aud": "tradesim-api", "sub": "u_1",
                "sid": "fam_1", "iat": 0, "exp": unix_secs(now) + 60}),
            &EncodingKey::from_secret(b"guess"),
        )
        .unwrap();
        assert_eq!(ours.verify(&hs256, now), Err(ControlError::InvalidToken));
        let refresh_typ = jsonwebtoken::encode(
            &Header::new(Algorithm::EdDSA),
            &AccessClaims {
                typ: "refresh".into(),
                ..ours.verify(&ours.issue(&user, &family, now).unwrap(), now).unwrap()
            },
            &ours.encoding,
        )
        .unwrap();
        assert_eq!(ours.verify(&refresh_typ, now), Err(ControlError::InvalidToken));
        assert_eq!(ours.verify("not.a.jwt", now), Err(ControlError::InvalidToken));
    }

    #[test]
    fn a_verified_token_is_remembered_exactly_and_still_expires() {
        let (tokens, token, now) = issued(Duration::from_secs(60));
        assert!(tokens.verify(&token, now).is_ok());
        assert_eq!(tokens.verified.claims.lock().unwrap().len(), 1);
        // One character of the signature changed: not the remembered token, so checked, and refused.
        let mut forged = token.clone().into_bytes();
        let last = forged.len() - 2;
        forged[last] = if forged[last] == b'A' { b'B' } else { b'A' };
        assert_eq!(tokens.verify(std::str::from_utf8(&forged).unwrap(), now), Err(ControlError::InvalidToken));
        assert_eq!(tokens.verify(&token, now + Duration::from_secs(61)), Err(ControlError::TokenExpired));
    }

    #[test]
    fn remembered_tokens_are_bounded_and_the_expired_go_first() {
        let verified = VerifiedTokens::default();
        let now = SystemTime::now();
        let claims = |exp: u64| AccessClaims {
            typ: ACCESS_TYP.into(),
            iss: "tradesim".into(),
            aud: "tradesim-api".into(),
            sub: ids().0,
            sid: ids().1,
            iat: 0,
            exp,
        };
        let live = unix_secs(now) + 60;
        verified.keep("live", &claims(live), now);
        for n in 1..VerifiedTokens::CAPACITY {
            verified.keep(&format!("expired{n}"), &claims(unix_secs(now)), now);
        }
        verified.keep("new", &claims(live), now);
        let kept = verified.claims.lock().unwrap();
        assert_eq!(kept.len(), 2, "only the expired were dropped");
        assert!(kept.contains_key("live") && kept.contains_key("new"));
        drop(kept);
        for n in 0..VerifiedTokens::CAPACITY {
            verified.keep(&format!("live{n}"), &claims(live), now);
        }
        assert!(verified.claims.lock().unwrap().len() <= VerifiedTokens::CAPACITY);
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let (a, b) = (new_refresh_token(), new_refresh_token());
        assert_ne!(a, b);
        assert_eq!(refresh_token_hash(&a).len(), 32);
        assert_ne!(refresh_token_hash(&a), refresh_token_hash(&b));
    }
}
