//! Connect tickets: short-lived, single-use proofs that a user may open a stream to a simulator. The control plane
//! mints them over authenticated HTTPS; the host's direct WebSocket endpoint redeems them.
//!
//! A ticket is `base64url(user "." sim "." expires_ms "." nonce) "." base64url(HMAC-SHA256(secret, payload))`.
//!
//! # Invariants
//! - A ticket lives at most [`MAX_TICKET_LIFETIME`] and is redeemed at most once per host.
//! - Verification compares MACs in constant time and checks the signature before reading anything else.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};
use tradesim_protocol::stream::{SimId, UserId};

pub const MAX_TICKET_LIFETIME: Duration = Duration::from_secs(30);

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    #[error("the ticket is malformed")]
    Malformed,
    #[error("the ticket's signature is not valid")]
    BadSignature,
    #[error("the ticket has expired; fetch a new one")]
    Expired,
    #[error("the ticket was already used; fetch a new one")]
    Reused,
    #[error("the ticket is for another simulator")]
    WrongSimulator,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketClaims {
    pub user: UserId,
    pub sim: SimId,
    pub expires_at: SystemTime,
}

fn mac(secret: &[u8], payload: &[u8]) -> Hmac<Sha256> {
    // HMAC takes keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).unwrap_or_else(|_| unreachable!("HMAC accepts any key"));
    mac.update(payload);
    mac
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Mints a ticket for `user` on `sim`, valid for `lifetime` (capped at [`MAX_TICKET_LIFETIME`]).
pub fn mint(secret: &[u8], user: &UserId, sim: &SimId, now: SystemTime, lifetime: Duration) -> String {
    let expires = unix_ms(now + lifetime.min(MAX_TICKET_LIFETIME));
    let nonce: u64 = rand::random();
    let payload = format!("{user}.{sim}.{expires}.{nonce:016x}");
    let signature = mac(secret, payload.as_bytes()).finalize().into_bytes();
    format!("{}.{}", URL_SAFE_NO_PAD.encode(payload), URL_SAFE_NO_PAD.encode(signature))
}

/// Redeems tickets, remembering the ones used until they expire.
#[derive(Debug)]
pub struct TicketVerifier {
    secret: Vec<u8>,
    used: Mutex<HashMap<String, SystemTime>>,
}

impl TicketVerifier {
    pub fn new(secret: impl Into<Vec<u8>>) -> Self {
        Self { secret: secret.into(), used: Mutex::new(HashMap::new()) }
    }

    /// Checks `ticket` for a connection to `sim` at `now` and marks it used.
    pub fn redeem(&self, ticket: &str, sim: &SimId, now: SystemTime) -> Result<TicketClaims, TicketError> {
        let (payload_b64, signature_b64) = ticket.split_once('.').ok_or(TicketError::Malformed)?;
        let payload = URL_SAFE_NO_PAD.decode(payload_b64).map_err(|_| TicketError::Malformed)?;
        let signature = URL_SAFE_NO_PAD.decode(signature_b64).map_err(|_| TicketError::Malformed)?;
        mac(&self.secret, &payload).verify_slice(&signature).map_err(|_| TicketError::BadSignature)?;
        let payload = String::from_utf8(payload).map_err(|_| TicketError::Malformed)?;
        let mut parts = payload.split('.');
        let (Some(user), Some(ticket_sim), Some(expires), Some(nonce), None) =
            (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TicketError::Malformed);
        };
        let user = UserId::parse(user).map_err(|_| TicketError::Malformed)?;
        let ticket_sim = SimId::parse(ticket_sim).map_err(|_| TicketError::Malformed)?;
        let expires: u64 = expires.parse().map_err(|_| TicketError::Malformed)?;
        let expires_at = SystemTime::UNIX_EPOCH + Duration::from_millis(expires);
        if expires_at <= now || expires_at > now + MAX_TICKET_LIFETIME {
            return Err(TicketError::Expired);
        }
        if &ticket_sim != sim {
            return Err(TicketError::WrongSimulator);
        }
        let mut used = self.used.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        used.retain(|_, expiry| *expiry > now);
        if used.insert(format!("{user}.{nonce}"), expires_at).is_some() {
            return Err(TicketError::Reused);
        }
        Ok(TicketClaims { user, sim: ticket_sim, expires_at })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids() -> (UserId, SimId) {
        (UserId::parse("u1").unwrap(), SimId::parse("s1").unwrap())
    }

    #[test]
    fn a_ticket_is_redeemed_once() {
        let (user, sim) = ids();
        let now = SystemTime::now();
        let verifier = TicketVerifier::new(b"secret".to_vec());
        let ticket = mint(b"secret", &user, &sim, now, Duration::from_secs(30));
        let claims = verifier.redeem(&ticket, &sim, now).unwrap();
        assert_eq!((claims.user, claims.sim), ids());
        assert_eq!(verifier.redeem(&ticket, &sim, now), Err(TicketError::Reused));
    }

    #[test]
    fn bad_tickets_are_refused_with_their_reason() {
        let (user, sim) = ids();
        let now = SystemTime::now();
        let verifier = TicketVerifier::new(b"secret".to_vec());
        let forged = mint(b"other", &user, &sim, now, Duration::from_secs(30));
        assert_eq!(verifier.redeem(&forged, &sim, now), Err(TicketError::BadSignature));
        let ticket = mint(b"secret", &user, &sim, now, Duration::from_secs(5));
        assert_eq!(verifier.redeem(&ticket, &sim, now + Duration::from_secs(6)), Err(TicketError::Expired));
        let other = SimId::parse("s2").unwrap();
        assert_eq!(verifier.redeem(&ticket, &other, now), Err(TicketError::WrongSimulator));
        assert_eq!(verifier.redeem("nonsense", &sim, now), Err(TicketError::Malformed));
        let (payload, _) = ticket.split_once('.').unwrap();
        assert_eq!(verifier.redeem(&format!("{payload}.AAAA"), &sim, now), Err(TicketError::BadSignature));
    }

    #[test]
    fn lifetimes_are_capped() {
        let (user, sim) = ids();
        let now = SystemTime::now();
        let ticket = mint(b"k", &user, &sim, now, Duration::from_secs(3600));
        let verifier = TicketVerifier::new(b"k".to_vec());
        assert_eq!(verifier.redeem(&ticket, &sim, now + Duration::from_secs(31)), Err(TicketError::Expired));
    }
}
