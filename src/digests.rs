//! Shared secrets kept as SHA-256 digests (zeroized on drop) and compared in
//! constant time: basic-auth credentials, bearer tokens, URL secrets, secret
//! headers. Comparing digests hides the secret's length as well as its
//! content, and every configured digest is compared (rotation) without
//! stopping at a match.

use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq as _};
use zeroize::Zeroizing;

/// One or more accepted secrets, as digests.
pub(crate) struct SecretDigests(Vec<Zeroizing<[u8; 32]>>);

/// The digest of `parts`, concatenated.
fn digest(parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut hash = Sha256::new();
    for part in parts {
        hash.update(part);
    }
    Zeroizing::new(hash.finalize().into())
}

impl SecretDigests {
    /// Accepts the concatenation of `parts`.
    pub(crate) fn new(parts: &[&[u8]]) -> Self {
        Self(vec![digest(parts)])
    }

    /// Also accepts the concatenation of `parts` (rotation).
    pub(crate) fn push(&mut self, parts: &[&[u8]]) {
        self.0.push(digest(parts));
    }

    /// How many secrets are accepted.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// Which accepted secret `presented` is (0 for the first), compared in
    /// constant time against every one.
    pub(crate) fn position(&self, presented: &[u8]) -> Option<usize> {
        let presented = digest(&[presented]);
        let mut matched = None;
        let mut any = Choice::from(0);
        for (index, stored) in self.0.iter().enumerate() {
            let equal = stored.ct_eq(&*presented);
            if bool::from(equal & !any) {
                matched = Some(index);
            }
            any |= equal;
        }
        matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_each_secret_and_only_those() {
        let mut set = SecretDigests::new(&[b"user", b":", b"pass"]);
        set.push(&[b"other"]);
        assert_eq!(set.position(b"user:pass"), Some(0));
        assert_eq!(set.position(b"other"), Some(1));
        assert_eq!(set.position(b"user:pas"), None);
        assert_eq!(set.position(b""), None);
        assert_eq!(set.len(), 2);
    }
}
