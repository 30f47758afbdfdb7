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

/// The encodings of Ed25519's points of small order (their y coordinate,
/// the sign bit of x cleared), as libsodium's `ge25519_has_small_order`
/// lists them: with such a public key, a signature can be forged for any
/// message without a private key (with the identity, `R` the identity and
/// `s` zero verify everywhere), and ring accepts them.
const SMALL_ORDER_Y: [[u8; 32]; 7] = {
    let mut p_minus_1 = [0xff; 32];
    p_minus_1[0] = 0xec;
    p_minus_1[31] = 0x7f;
    let mut p = p_minus_1;
    p[0] = 0xed;
    let mut p_plus_1 = p_minus_1;
    p_plus_1[0] = 0xee;
    let mut one = [0; 32];
    one[0] = 1;
    [
        // 0 (order 4), 1 (order 1)
        [0; 32],
        one,
        // The two y coordinates of the points of order 8.
        [
            0x26, 0xe8, 0x95, 0x8f, 0xc2, 0xb2, 0x27, 0xb0, 0x45, 0xc3, 0xf4, 0x89, 0xf2, 0xef,
            0x98, 0xf0, 0xd5, 0xdf, 0xac, 0x05, 0xd3, 0xc6, 0x33, 0x39, 0xb1, 0x38, 0x02, 0x88,
            0x6d, 0x53, 0xfc, 0x05,
        ],
        [
            0xc7, 0x17, 0x6a, 0x70, 0x3d, 0x4d, 0xd8, 0x4f, 0xba, 0x3c, 0x0b, 0x76, 0x0d, 0x10,
            0x67, 0x0f, 0x2a, 0x20, 0x53, 0xfa, 0x2c, 0x39, 0xcc, 0xc6, 0x4e, 0xc7, 0xfd, 0x77,
            0x92, 0xac, 0x03, 0x7a,
        ],
        // p - 1 (order 2); p and p + 1, non-canonical 0 and 1.
        p_minus_1,
        p,
        p_plus_1,
    ]
};

/// Whether `key` is an encoding no genuine key has: a point of small order
/// (see [`SMALL_ORDER_Y`]), or a non-canonical y (at least p = 2^255 - 19).
fn weak_ed25519(key: &[u8; 32]) -> bool {
    let mut y = *key;
    y[31] &= 0x7f;
    let non_canonical = y[31] == 0x7f && y[1..31].iter().all(|b| *b == 0xff) && y[0] >= 0xed;
    non_canonical || SMALL_ORDER_Y.contains(&y)
}

/// The DER prefix of an Ed25519 SPKI (RFC 8410): the key follows it.
const SPKI_PREFIX: [u8; 12] = [
    0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
];

/// The form an Ed25519 public key was found in ([`Ed25519PublicKey::parse`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ed25519KeyForm {
    /// Base64 of the raw 32 bytes (how dashboards show a key).
    Raw,
    /// Hex of the raw 32 bytes.
    Hex,
    /// Base64 of an SPKI DER structure.
    Spki,
    /// PEM (`BEGIN PUBLIC KEY`).
    Pem,
}

/// An Ed25519 public key, as used by Standard Webhooks `v1a` signatures.
///
/// Public keys are not secret, so this type is `Clone`, comparable and its
/// `Debug` shows the key.
#[derive(Clone, PartialEq, Eq)]
pub struct Ed25519PublicKey([u8; 32]);

impl Ed25519PublicKey {
    /// Wraps a raw 32-byte public key. A weak one (a point of small order,
    /// or a non-canonical encoding: no genuine key is one, and with one a
    /// signature can be forged) verifies nothing; the parsing constructors
    /// refuse it.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// Reads a key in any form keys are kept in: base64 of the raw 32
    /// bytes, hex, base64 SPKI DER, or PEM; and says which.
    ///
    /// # Errors
    ///
    /// [`SecretError`] when it is none of these, or a weak key.
    pub fn parse(text: &str) -> Result<(Self, Ed25519KeyForm), SecretError> {
        let text = text.trim();
        let (bytes, form) = if text.starts_with("-----BEGIN") {
            let body: String = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.starts_with("-----"))
                .collect();
            (
                encoding::base64_key(&body).map_err(SecretError::Base64)?,
                Ed25519KeyForm::Pem,
            )
        } else if text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut buf = [0u8; encoding::SIGNATURE_BUF];
            let raw = encoding::hex_into(text.as_bytes(), &mut buf)
                .ok_or(SecretError::Rejected("hex"))?;
            (raw.to_vec(), Ed25519KeyForm::Hex)
        } else {
            (
                encoding::base64_key(text).map_err(SecretError::Base64)?,
                Ed25519KeyForm::Raw,
            )
        };
        let (raw, form) = match (bytes.len(), bytes.strip_prefix(&SPKI_PREFIX[..])) {
            (32, _) => (bytes.as_slice(), form),
            (44, Some(key)) => (
                key,
                if form == Ed25519KeyForm::Pem {
                    Ed25519KeyForm::Pem
                } else {
                    Ed25519KeyForm::Spki
                },
            ),
            (actual, _) => {
                return Err(SecretError::WrongLength {
                    expected: "32 bytes, or an Ed25519 SPKI",
                    actual,
                });
            }
        };
        let raw: [u8; 32] = raw
            .try_into()
            .map_err(|_| SecretError::Rejected("ed25519"))?;
        Ok((Self::checked(raw)?, form))
    }

    /// `bytes` as a key, unless weak (see [`from_bytes`](Self::from_bytes)).
    pub(crate) fn checked(bytes: [u8; 32]) -> Result<Self, SecretError> {
        if weak_ed25519(&bytes) {
            return Err(SecretError::Rejected(
                "a weak Ed25519 public key (a point of small order, or not canonical)",
            ));
        }
        Ok(Self(bytes))
    }

    /// Parses the Standard Webhooks `whpk_<base64>` form (prefix optional).
    ///
    /// # Errors
    ///
    /// [`SecretError`] for another prefix, bad base64, a length other than
    /// 32, or a weak key.
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
        Self::checked(array)
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
        if weak_ed25519(&self.0) {
            return false;
        }
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
    fn weak_ed25519_keys_are_refused_and_verify_nothing() {
        // The identity as a key: R = identity and s = 0 verify for any
        // message under plain Ed25519 (ring accepts it).
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let mut forged = [0u8; 64];
        forged[0] = 1;
        let key = Ed25519PublicKey::from_bytes(identity);
        assert!(!key.verifies(b"any body at all", &forged));
        // Every small-order encoding, either sign of x, and the
        // non-canonical ones, are refused when parsed.
        let mut weak: Vec<[u8; 32]> = Vec::new();
        for y in SMALL_ORDER_Y {
            let mut negative = y;
            negative[31] |= 0x80;
            weak.extend([y, negative]);
        }
        let mut high = [0xff; 32];
        high[31] = 0x7f;
        weak.push(high);
        for bytes in weak {
            let text = crate::encoding::base64(&bytes);
            assert!(
                matches!(
                    Ed25519PublicKey::from_standard_webhooks(&text),
                    Err(SecretError::Rejected(_))
                ),
                "{text}"
            );
        }
        // A genuine key is taken (RFC 8032, test 1).
        let genuine = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
        assert!(Ed25519PublicKey::from_standard_webhooks(genuine).is_ok());
    }

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
