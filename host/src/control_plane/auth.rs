//! Bearer-token check of every control-plane request.
//!
//! The token is compared through its sha256 in constant time, so that the
//! time a refusal takes says nothing about the token, not even its length.
//! Weak tokens are refused at start-up ([`weakness`]) and a client that keeps
//! sending wrong ones is locked out for a while ([`Lockout`]).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The token clients must send, kept as its digest only.
pub struct Token([u8; 32]);

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No `Authorization: Bearer …` header.
    Missing,
    /// A bearer token other than the session's.
    Wrong,
}

impl Token {
    /// The digest of `token`.
    pub fn new(token: &str) -> Self {
        Self(Sha256::digest(token.as_bytes()).into())
    }

    /// Checks an `Authorization` header value.
    pub fn check(&self, authorization: Option<&[u8]>) -> Result<(), Refusal> {
        let given = authorization
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| {
                let (scheme, token) = h.trim().split_once(' ')?;
                scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
            })
            .ok_or(Refusal::Missing)?;
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        if bool::from(digest.ct_eq(&self.0)) {
            Ok(())
        } else {
            Err(Refusal::Wrong)
        }
    }
}

/// Shortest token accepted, in bytes.
pub const MIN_TOKEN_LEN: usize = 16;
/// Fewest distinct characters a token must have.
pub const MIN_DISTINCT: usize = 8;

/// Why a token is refused at start-up: short, repetitive, or not plain
/// visible ASCII (which a client may mangle or a shell may trim).
pub fn weakness(token: &str) -> Option<String> {
    if let Some(c) = token.chars().find(|c| !c.is_ascii_graphic()) {
        return Some(format!(
            "it contains {c:?}; use visible ASCII characters only (no spaces or control characters)"
        ));
    }
    if token.len() < MIN_TOKEN_LEN {
        return Some(format!(
            "it has {} characters; use at least {MIN_TOKEN_LEN}",
            token.len()
        ));
    }
    let distinct = token.bytes().collect::<BTreeSet<u8>>().len();
    if distinct < MIN_DISTINCT {
        return Some(format!(
            "it has only {distinct} distinct characters; use at least {MIN_DISTINCT}"
        ));
    }
    None
}

/// Failed attempts in a row after which a peer is locked out.
pub const MAX_FAILURES: u32 = 5;
/// First lockout; each further lockout of the same peer doubles it.
const FIRST_LOCKOUT: Duration = Duration::from_secs(1);
/// Longest lockout.
const MAX_LOCKOUT: Duration = Duration::from_secs(300);
/// Peers remembered before settled entries are forgotten.
const MAX_PEERS: usize = 1024;

#[derive(Debug, Default)]
struct Peer {
    failures: u32,
    lockouts: u32,
    until: Option<Instant>,
}

/// Failed authentications per client address: after [`MAX_FAILURES`] in a
/// row the address is refused — whatever token it sends, so that guessing
/// cannot go on — for a time that doubles with each lockout. A successful
/// authentication clears the address.
#[derive(Debug, Default)]
pub struct Lockout {
    peers: Mutex<HashMap<IpAddr, Peer>>,
}

impl Lockout {
    /// How long `peer` must still wait, if it is locked out.
    pub fn locked(&self, peer: IpAddr, now: Instant) -> Option<Duration> {
        let peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        let until = peers.get(&peer)?.until?;
        (until > now).then(|| until - now)
    }

    /// Records the outcome of an authentication by `peer`.
    pub fn record(&self, peer: IpAddr, passed: bool, now: Instant) {
        let mut peers = self.peers.lock().unwrap_or_else(|e| e.into_inner());
        if passed {
            peers.remove(&peer);
            return;
        }
        if peers.len() >= MAX_PEERS && !peers.contains_key(&peer) {
            peers.retain(|_, p| p.until.is_some_and(|u| u > now));
        }
        let entry = peers.entry(peer).or_default();
        entry.failures += 1;
        if entry.failures >= MAX_FAILURES {
            let lock = FIRST_LOCKOUT
                .saturating_mul(1u32.checked_shl(entry.lockouts).unwrap_or(u32::MAX))
                .min(MAX_LOCKOUT);
            entry.until = Some(now + lock);
            entry.lockouts = entry.lockouts.saturating_add(1);
            entry.failures = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_exact_bearer_token_passes() {
        let token = Token::new("s3cret");
        assert_eq!(token.check(Some(b"Bearer s3cret")), Ok(()));
        assert_eq!(token.check(Some(b"bearer s3cret")), Ok(()));
        assert_eq!(token.check(Some(b"Bearer s3cre")), Err(Refusal::Wrong));
        assert_eq!(token.check(Some(b"Bearer s3cretx")), Err(Refusal::Wrong));
        assert_eq!(token.check(Some(b"Bearer ")), Err(Refusal::Missing));
        assert_eq!(token.check(Some(b"Basic s3cret")), Err(Refusal::Missing));
        assert_eq!(token.check(Some(b"s3cret")), Err(Refusal::Missing));
        assert_eq!(token.check(None), Err(Refusal::Missing));
        assert_eq!(token.check(Some(b"Bearer \xff")), Err(Refusal::Missing));
    }

    #[test]
    fn weak_tokens_are_named() {
        assert!(weakness("a").unwrap().contains("at least 16"));
        assert!(weakness("                ")
            .unwrap()
            .contains("visible ASCII"));
        assert!(weakness("aaaaaaaaaaaaaaaaaaaa")
            .unwrap()
            .contains("distinct"));
        assert!(weakness("control-token-7c1e9b").is_none());
        assert!(weakness("control-token-é7c1e9b").is_some());
    }

    #[test]
    fn repeated_failures_lock_a_peer_out_for_longer_each_time() {
        let lockout = Lockout::default();
        let peer: IpAddr = [127, 0, 0, 1].into();
        let other: IpAddr = [127, 0, 0, 2].into();
        let t0 = Instant::now();
        for _ in 1..MAX_FAILURES {
            lockout.record(peer, false, t0);
        }
        assert_eq!(lockout.locked(peer, t0), None);
        lockout.record(peer, false, t0);
        assert_eq!(lockout.locked(peer, t0), Some(FIRST_LOCKOUT));
        assert_eq!(lockout.locked(other, t0), None);
        let t1 = t0 + FIRST_LOCKOUT;
        assert_eq!(lockout.locked(peer, t1), None);
        for _ in 0..MAX_FAILURES {
            lockout.record(peer, false, t1);
        }
        assert_eq!(lockout.locked(peer, t1), Some(FIRST_LOCKOUT * 2));
        lockout.record(peer, true, t1);
        assert_eq!(lockout.locked(peer, t1), None);
    }
}
