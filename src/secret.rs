//! Key types: they zeroize on drop, print as `[redacted]`, and can be neither
//! compared, displayed nor serialized.

use std::fmt;

use ring::signature::{ED25519, Ed25519KeyPair, KeyPair as _, UnparsedPublicKey};
use zeroize::{Zeroize as _, Zeroizing};

use crate::encoding;
use crate::error::SecretError;

/// Prefix of a Standard Webhooks symmetric secret (`whsec_<base64>`).
pub(crate) const WHSEC_PREFIX: &str = "whsec_";
/// Prefix of a Standard Webhooks Ed25519 public key (`whpk_<base64>`).
pub(crate) const WHPK_PREFIX: &str = "whpk_";
/// Prefix of a Standard Webhooks Ed25519 signing key (`whsk_<base64>`).
pub(crate) const WHSK_PREFIX: &str = "whsk_";

/// A shared secret for an HMAC scheme.
///
/// The bytes are zeroized when the value is dropped. `Debug` prints
/// `Secret([redacted])`; there is deliberately no `PartialEq`, `Display` or
/// `Serialize`, so a secret cannot leak through a comparison, a log line or a
/// response.
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Uses `bytes` as the key exactly as given, which is what Stripe, GitHub,
    /// Slack, Shopify, Twilio and Mailgun expect (a Stripe `whsec_…` secret
    /// is *not* base64-decoded).
    ///
    /// The vector is moved in, not copied; a `String` or `Vec` the caller
    /// still holds elsewhere is not zeroized by this type.
    ///
    /// # Errors
    ///
    /// [`SecretError::Empty`] for an empty key.
    pub fn from_bytes(bytes: impl Into<Vec<u8>>) -> Result<Self, SecretError> {
        let bytes = Zeroizing::new(bytes.into());
        if bytes.is_empty() {
            return Err(SecretError::Empty);
        }
        Ok(Self(bytes))
    }

    /// Parses a Standard Webhooks secret: `whsec_` followed by standard,
    /// padded base64. The prefix is optional, as in the reference libraries.
    ///
    /// # Errors
    ///
    /// [`SecretError::WrongPrefix`] for a `whpk_`/`whsk_` key,
    /// [`SecretError::Base64`] for anything that is not strict base64, and
    /// [`SecretError::Empty`] when nothing is left.
    pub fn from_standard_webhooks(key: &str) -> Result<Self, SecretError> {
        reject_other_prefixes(key, WHSEC_PREFIX)?;
        let b64 = key.strip_prefix(WHSEC_PREFIX).unwrap_or(key);
        let bytes = encoding::base64_key(b64).map_err(SecretError::Base64)?;
        Self::from_bytes(bytes)
    }

    pub(crate) fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

fn reject_other_prefixes(key: &str, expected: &'static str) -> Result<(), SecretError> {
    for found in [WHSEC_PREFIX, WHPK_PREFIX, WHSK_PREFIX] {
        if found != expected && key.starts_with(found) {
            return Err(SecretError::WrongPrefix { found, expected });
        }
    }
    Ok(())
}

/// An Ed25519 public key, as used by Standard Webhooks `v1a` signatures.
///
/// Public keys are not secret, so this type is `Clone`, comparable and its
/// `Debug` shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey([u8; 32]);

impl Ed25519PublicKey {
    /// Wraps a raw 32-byte public key.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Parses the Standard Webhooks `whpk_<base64>` form (prefix optional).
    ///
    /// # Errors
    ///
    /// [`SecretError`] for another prefix, bad base64, or a length other than 32.
    pub fn from_standard_webhooks(key: &str) -> Result<Self, SecretError> {
        reject_other_prefixes(key, WHPK_PREFIX)?;
        let b64 = key.strip_prefix(WHPK_PREFIX).unwrap_or(key);
        let bytes = encoding::base64_key(b64).map_err(SecretError::Base64)?;
        let array: [u8; 32] =
            bytes
                .as_slice()
                .try_into()
                .map_err(|_| SecretError::WrongLength {
                    expected: "32",
                    actual: bytes.len(),
                })?;
        Ok(Self(array))
    }

    /// The raw 32 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// The `whpk_<base64>` form.
    #[must_use]
    pub fn to_standard_webhooks(&self) -> String {
        format!("{WHPK_PREFIX}{}", encoding::base64(&self.0))
    }

    /// Whether `signature` is this key's Ed25519 signature of `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8]) -> bool {
        UnparsedPublicKey::new(&ED25519, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

impl fmt::Debug for Ed25519PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Ed25519PublicKey({})", self.to_standard_webhooks())
    }
}

/// An Ed25519 signing key (the 32-byte seed), for senders and tests of
/// Standard Webhooks `v1a`. Zeroized on drop, printed as `[redacted]`.
pub struct Ed25519SigningKey {
    seed: Zeroizing<[u8; 32]>,
    public: Ed25519PublicKey,
}

impl Ed25519SigningKey {
    /// Builds a key from its 32-byte seed.
    ///
    /// # Errors
    ///
    /// [`SecretError::Rejected`] if ring refuses the seed.
    pub fn from_seed(seed: [u8; 32]) -> Result<Self, SecretError> {
        let seed = Zeroizing::new(seed);
        let pair = Ed25519KeyPair::from_seed_unchecked(seed.as_slice())
            .map_err(|_| SecretError::Rejected("ed25519"))?;
        let public: [u8; 32] = pair
            .public_key()
            .as_ref()
            .try_into()
            .map_err(|_| SecretError::Rejected("ed25519"))?;
        Ok(Self {
            seed,
            public: Ed25519PublicKey(public),
        })
    }

    /// Parses the Standard Webhooks `whsk_<base64>` form (prefix optional):
    /// either the 32-byte seed, or the 64-byte seed followed by its public key
    /// (which must match).
    ///
    /// # Errors
    ///
    /// [`SecretError`] for another prefix, bad base64, a wrong length, or a
    /// public half that does not belong to the seed.
    pub fn from_standard_webhooks(key: &str) -> Result<Self, SecretError> {
        reject_other_prefixes(key, WHSK_PREFIX)?;
        let b64 = key.strip_prefix(WHSK_PREFIX).unwrap_or(key);
        let mut bytes = Zeroizing::new(encoding::base64_key(b64).map_err(SecretError::Base64)?);
        let (seed, public) = match bytes.len() {
            32 => (&bytes[..], None),
            64 => (&bytes[..32], Some(&bytes[32..])),
            actual => {
                return Err(SecretError::WrongLength {
                    expected: "32 or 64",
                    actual,
                });
            }
        };
        let mut seed_array = [0u8; 32];
        seed_array.copy_from_slice(seed);
        let key = Self::from_seed(seed_array);
        seed_array.zeroize();
        let key = key?;
        if public.is_some_and(|p| p != key.public.as_bytes()) {
            return Err(SecretError::Rejected("ed25519"));
        }
        bytes.zeroize();
        Ok(key)
    }

    /// The matching public key.
    #[must_use]
    pub fn public_key(&self) -> &Ed25519PublicKey {
        &self.public
    }

    /// Signs `message`.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<[u8; 64], SecretError> {
        let pair = Ed25519KeyPair::from_seed_unchecked(self.seed.as_slice())
            .map_err(|_| SecretError::Rejected("ed25519"))?;
        pair.sign(message)
            .as_ref()
            .try_into()
            .map_err(|_| SecretError::Rejected("ed25519"))
    }
}

impl fmt::Debug for Ed25519SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Ed25519SigningKey([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_secret_is_rejected() {
        assert_eq!(Secret::from_bytes("").err(), Some(SecretError::Empty));
        assert_eq!(
            Secret::from_standard_webhooks("whsec_").err(),
            Some(SecretError::Empty)
        );
    }

    #[test]
    fn whsec_prefix_is_optional() {
        let a = Secret::from_standard_webhooks("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        let b = Secret::from_standard_webhooks("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        assert_eq!(
            a.map(|s| s.expose().to_vec()).ok(),
            b.map(|s| s.expose().to_vec()).ok()
        );
    }

    #[test]
    fn garbage_after_whsec_is_rejected_not_shortened() {
        for bad in [
            "whsec_!!!!",
            "whsec_abc",
            "whsec_ab==cd",
            "whsec_MfKQ9r8G KYqr",
        ] {
            assert!(
                matches!(
                    Secret::from_standard_webhooks(bad),
                    Err(SecretError::Base64(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn key_of_another_type_is_rejected_by_prefix() {
        assert_eq!(
            Secret::from_standard_webhooks("whpk_AAAA").err(),
            Some(SecretError::WrongPrefix {
                found: "whpk_",
                expected: "whsec_"
            })
        );
        assert!(Ed25519PublicKey::from_standard_webhooks("whsec_AAAA").is_err());
        assert!(Ed25519SigningKey::from_standard_webhooks("whpk_AAAA").is_err());
    }

    #[test]
    fn public_key_must_be_32_bytes() {
        assert_eq!(
            Ed25519PublicKey::from_standard_webhooks("whpk_AAAA").err(),
            Some(SecretError::WrongLength {
                expected: "32",
                actual: 3
            })
        );
    }

    #[test]
    fn signing_key_with_mismatched_public_half_is_rejected() {
        let mut bytes = [7u8; 64];
        bytes[63] ^= 1;
        let key = format!("whsk_{}", encoding::base64(&bytes));
        assert_eq!(
            Ed25519SigningKey::from_standard_webhooks(&key).err(),
            Some(SecretError::Rejected("ed25519"))
        );
    }

    #[test]
    fn debug_is_redacted() {
        let s = Secret::from_bytes("hunter2").map(|s| format!("{s:?}"));
        assert_eq!(s.as_deref(), Ok("Secret([redacted])"));
    }
}
