//! Bearer-token check of every control-plane request.
//!
//! The token is compared through its sha256 in constant time, so that the
//! time a refusal takes says nothing about the token, not even its length.

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
}
