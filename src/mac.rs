//! HMAC computation and constant-time comparison, written once for every
//! HMAC scheme.
//!
//! Each key's HMAC key schedule is computed once, when the verifier is built
//! ([`MacKey`]). The body is streamed into the MAC in place; the MAC and the
//! decoded signatures live in stack buffers.

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use subtle::ConstantTimeEq as _;
use zeroize::Zeroize as _;

use std::fmt;

use crate::encoding::{self, SIGNATURE_BUF};
use crate::error::VerifyError;
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
        // Only the first `len` bytes were ever written.
        self.bytes[..self.len].zeroize();
    }
}

/// An HMAC key with its key schedule computed once: the inner and outer
/// hash states after absorbing the padded key. Verifying then costs only the
/// message's blocks, not two extra compressions per request.
///
/// The states are key-equivalent, so they are treated like the key: `Debug`
/// is redacted, and on drop they are overwritten with the states of an empty
/// key. The `hmac` crate offers no zeroize for its states, so that wipe is
/// best effort (the overwrite is kept observable with `black_box`), unlike
/// [`Secret`], which zeroizes.
pub(crate) struct MacKey {
    state: KeyState,
}

#[derive(Clone)]
enum KeyState {
    Sha1(Hmac<sha1::Sha1>),
    Sha256(Hmac<sha2::Sha256>),
    Sha512(Hmac<sha2::Sha512>),
}

fn keyed<M: Mac + KeyInit>(key: &[u8]) -> M {
    // HMAC accepts keys of any length (RFC 2104, section 3): longer keys are
    // hashed first, so `new_from_slice` cannot fail for `Hmac<D>`.
    <M as KeyInit>::new_from_slice(key)
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"))
}

impl KeyState {
    fn new(algorithm: Algorithm, key: &[u8]) -> Self {
        match algorithm {
            Algorithm::Sha1 => Self::Sha1(keyed(key)),
            Algorithm::Sha256 => Self::Sha256(keyed(key)),
            Algorithm::Sha512 => Self::Sha512(keyed(key)),
        }
    }
}

fn finish<M: Mac>(mut mac: M, parts: &[&[u8]]) -> MacOutput {
    // Direct calls, no closure: this is every HMAC scheme's hot path.
    for part in parts {
        mac.update(part);
    }
    output(mac)
}

/// Produces a message piece by piece: called once with a sink that takes
/// each piece in order.
pub(crate) type Feed<'a> = dyn FnMut(&mut dyn FnMut(&[u8])) + 'a;

fn finish_streamed<M: Mac>(mut mac: M, feed: &mut Feed<'_>) -> MacOutput {
    feed(&mut |bytes| mac.update(bytes));
    output(mac)
}

fn output<M: Mac>(mac: M) -> MacOutput {
    let mut tag = mac.finalize().into_bytes();
    let mut out = MacOutput {
        bytes: [0; 64],
        len: tag.len(),
    };
    out.bytes[..tag.len()].copy_from_slice(&tag);
    tag.as_mut_slice().zeroize();
    out
}

impl MacKey {
    /// Keys an HMAC with `secret`, which is consumed (and so zeroized) here.
    pub(crate) fn new(algorithm: Algorithm, secret: Secret) -> Self {
        let state = KeyState::new(algorithm, secret.expose());
        drop(secret);
        Self { state }
    }

    /// HMAC of the concatenation of `parts`, without concatenating them.
    pub(crate) fn compute(&self, parts: &[&[u8]]) -> MacOutput {
        match &self.state {
            KeyState::Sha1(m) => finish(m.clone(), parts),
            KeyState::Sha256(m) => finish(m.clone(), parts),
            KeyState::Sha512(m) => finish(m.clone(), parts),
        }
    }

    /// HMAC of the bytes `feed` passes to the callback it is given, in
    /// order: for content produced piece by piece (decoded form fields)
    /// without collecting it first.
    pub(crate) fn compute_streamed(&self, feed: &mut Feed<'_>) -> MacOutput {
        match &self.state {
            KeyState::Sha1(m) => finish_streamed(m.clone(), feed),
            KeyState::Sha256(m) => finish_streamed(m.clone(), feed),
            KeyState::Sha512(m) => finish_streamed(m.clone(), feed),
        }
    }

    fn algorithm(&self) -> Algorithm {
        match self.state {
            KeyState::Sha1(_) => Algorithm::Sha1,
            KeyState::Sha256(_) => Algorithm::Sha256,
            KeyState::Sha512(_) => Algorithm::Sha512,
        }
    }
}

impl Drop for MacKey {
    fn drop(&mut self) {
        self.state = KeyState::new(self.algorithm(), &[]);
        std::hint::black_box(&mut self.state);
    }
}

impl fmt::Debug for MacKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MacKey({:?}, [redacted])", self.algorithm())
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
    encoding: Encoding,
    parts: &[&[u8]],
    candidates: &I,
) -> Result<usize, VerifyError>
where
    K: IntoIterator<Item = (usize, &'k MacKey)>,
    I: Iterator<Item = &'c [u8]> + Clone,
{
    find_key_with(keys, encoding, candidates, |key| key.compute(parts))
}

/// As [`find_key`], with each key's MAC computed by `mac_of` (for content
/// produced piece by piece: [`MacKey::compute_streamed`]).
pub(crate) fn find_key_with<'k, 'c, K, I>(
    keys: K,
    encoding: Encoding,
    candidates: &I,
    mut mac_of: impl FnMut(&MacKey) -> MacOutput,
) -> Result<usize, VerifyError>
where
    K: IntoIterator<Item = (usize, &'k MacKey)>,
    I: Iterator<Item = &'c [u8]> + Clone,
{
    let mut buf = [0u8; SIGNATURE_BUF];
    for (index, key) in keys {
        let mac = mac_of(key);
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
    use crate::error::SecretError;

    // RFC 4231 test case 6: a 131-byte key (longer than the block, so it is
    // hashed first) — SHA-256 and SHA-512.
    #[test]
    fn rfc4231_case_6_long_key() -> Result<(), SecretError> {
        let secret = || Secret::from_bytes(vec![0xaa; 131]);
        let data = b"Test Using Larger Than Block-Size Key - Hash Key First";
        let mac = MacKey::new(Algorithm::Sha256, secret()?).compute(&[data]);
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
        let mac = MacKey::new(Algorithm::Sha512, secret()?).compute(&[data]);
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598"
        );
        Ok(())
    }

    #[test]
    fn a_key_is_reusable_across_messages() -> Result<(), SecretError> {
        let key = MacKey::new(Algorithm::Sha256, Secret::from_bytes("Jefe")?);
        let first = encoding::hex(key.compute(&[b"a"]).as_bytes());
        let _ = key.compute(&[b"something else"]);
        assert_eq!(encoding::hex(key.compute(&[b"a"]).as_bytes()), first);
        Ok(())
    }

    #[test]
    fn debug_is_redacted() -> Result<(), SecretError> {
        let key = MacKey::new(Algorithm::Sha256, Secret::from_bytes("Jefe")?);
        assert_eq!(format!("{key:?}"), "MacKey(Sha256, [redacted])");
        Ok(())
    }

    // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
    #[test]
    fn rfc4231_case_2_sha256_in_parts() -> Result<(), SecretError> {
        let key = MacKey::new(Algorithm::Sha256, Secret::from_bytes("Jefe")?);
        let mac = key.compute(&[b"what do ya want ", b"for nothing?"]);
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        Ok(())
    }

    // RFC 2202 test case 2 for HMAC-SHA1.
    #[test]
    fn rfc2202_case_2_sha1() -> Result<(), SecretError> {
        let key = MacKey::new(Algorithm::Sha1, Secret::from_bytes("Jefe")?);
        let mac = key.compute(&[b"what do ya want for nothing?"]);
        assert_eq!(
            encoding::hex(mac.as_bytes()),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
        Ok(())
    }

    #[test]
    fn truncated_signature_does_not_match() -> Result<(), SecretError> {
        let key = MacKey::new(Algorithm::Sha256, Secret::from_bytes("k")?);
        let mac = key.compute(&[b"m"]);
        assert!(mac.matches(mac.as_bytes()));
        assert!(!mac.matches(&mac.as_bytes()[..31]));
        Ok(())
    }
}
