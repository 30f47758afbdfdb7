//! HMAC computation and constant-time comparison, written once for every
//! HMAC scheme.
//!
//! The key is applied per verification from the zeroizing [`Secret`], so no
//! key-equivalent HMAC state outlives a call. The body is streamed into the
//! MAC in place; the MAC and the decoded signatures live in stack buffers.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

use crate::encoding::{self, SIGNATURE_BUF};
use crate::error::{SecretError, VerifyError};
use crate::secret::Secret;

/// The hash function under an HMAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC-SHA1: only for providers that still require it (Twilio).
    Sha1,
    /// HMAC-SHA256: what nearly every provider uses.
    Sha256,
    /// HMAC-SHA512.
    Sha512,
}

/// How a signature is written as text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Encoding {
    /// Hexadecimal; either case is accepted, signers write lowercase.
    Hex,
    /// Standard base64 with padding.
    Base64,
}

impl Encoding {
    pub(crate) fn decode<'b>(
        self,
        text: &[u8],
        buf: &'b mut [u8; SIGNATURE_BUF],
    ) -> Option<&'b [u8]> {
        match self {
            Self::Hex => encoding::hex_into(text, buf),
            Self::Base64 => encoding::base64_into(text, buf),
        }
    }

    pub(crate) fn encode(self, bytes: &[u8]) -> String {
        match self {
            Self::Hex => encoding::hex(bytes),
            Self::Base64 => encoding::base64(bytes),
        }
    }
}

/// A computed MAC on the stack, wiped when dropped.
pub(crate) struct MacOutput {
    bytes: [u8; 64],
    len: usize,
}

impl MacOutput {
    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Constant-time equality; lengths are public, so a length mismatch
    /// returns early.
    pub(crate) fn matches(&self, candidate: &[u8]) -> bool {
        bool::from(self.as_bytes().ct_eq(candidate))
    }
}

impl Drop for MacOutput {
    fn drop(&mut self) {
        self.bytes.zeroize();
    }
}

fn run<M: Mac + KeyInit>(key: &[u8], parts: &[&[u8]]) -> Result<MacOutput, SecretError> {
    let mut mac = <M as KeyInit>::new_from_slice(key).map_err(|_| SecretError::Rejected("hmac"))?;
    for part in parts {
        mac.update(part);
    }
    let tag = mac.finalize().into_bytes();
    let mut out = MacOutput {
        bytes: [0; 64],
        len: tag.len(),
    };
    out.bytes[..tag.len()].copy_from_slice(&tag);
    Ok(out)
}

/// HMAC of the concatenation of `parts`, without concatenating them.
pub(crate) fn compute(
    algorithm: Algorithm,
    key: &Secret,
    parts: &[&[u8]],
) -> Result<MacOutput, SecretError> {
    let key = key.expose();
    match algorithm {
        Algorithm::Sha1 => run::<Hmac<sha1::Sha1>>(key, parts),
        Algorithm::Sha256 => run::<Hmac<sha2::Sha256>>(key, parts),
        Algorithm::Sha512 => run::<Hmac<sha2::Sha512>>(key, parts),
    }
}

/// Tries every key against every candidate signature (encoded text) and
/// returns the index (as given with the key) of the first key that matches
/// one of them.
///
/// Each key's MAC is computed once, whatever the number of candidates.
/// Candidates that do not decode simply do not match. The caller must have
/// checked that there is at least one candidate: an empty set is a rejection.
pub(crate) fn find_key<'k, 'c, K, I>(
    keys: K,
    algorithm: Algorithm,
    encoding: Encoding,
    parts: &[&[u8]],
    candidates: &I,
) -> Result<usize, VerifyError>
where
    K: IntoIterator<Item = (usize, &'k Secret)>,
    I: Iterator<Item = &'c [u8]> + Clone,
{
    let mut buf = [0u8; SIGNATURE_BUF];
    for (index, key) in keys {
        let mac = compute(algorithm, key, parts)?;
        for candidate in candidates.clone() {
            if encoding
                .decode(candidate, &mut buf)
                .is_some_and(|decoded| mac.matches(decoded))
            {
                return Ok(index);
            }
        }
    }
    Err(VerifyError::InvalidSignature)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn rfc4231_case_2_sha256_in_parts() -> Result<(), SecretError> {
        let key = Secret::from_bytes("Jefe")?;
        let mac = compute(
            Algorithm::Sha256,
            &key,
            &[b"what do ya want ", b"for nothing?"],
        )?;
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        Ok(())
    }

    // RFC 2202 test case 2 for HMAC-SHA1.
    #[test]
    fn rfc2202_case_2_sha1() -> Result<(), SecretError> {
        let key = Secret::from_bytes("Jefe")?;
        let mac = compute(Algorithm::Sha1, &key, &[b"what do ya want for nothing?"])?;
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        Ok(())
    }

    #[test]
    fn truncated_signature_does_not_match() -> Result<(), SecretError> {
        let key = Secret::from_bytes("k")?;
        let mac = compute(Algorithm::Sha256, &key, &[b"m"])?;
        assert!(mac.matches(mac.as_bytes()));
        assert!(!mac.matches(&mac.as_bytes()[..31]));
        Ok(())
    }
}
