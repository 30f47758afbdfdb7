//! Strict decoders for signatures and keys, written once for every scheme.
//!
//! Signatures are decoded into caller-provided stack buffers so that
//! verification allocates nothing.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Large enough for any signature we compare: SHA-512 MACs and Ed25519
/// signatures are 64 bytes; base64's length estimate needs a little slack.
pub(crate) const SIGNATURE_BUF: usize = 96;

/// Decodes standard, padded base64 into `buf`; `None` for anything that is
/// not exactly that or does not fit.
pub(crate) fn base64_into<'b>(input: &[u8], buf: &'b mut [u8; SIGNATURE_BUF]) -> Option<&'b [u8]> {
    // Reject early so that hostile lengths cost nothing.
    if input.len() > SIGNATURE_BUF / 3 * 4 {
        return None;
    }
    let len = STANDARD.decode_slice(input, buf).ok()?;
    Some(&buf[..len])
}

/// Decodes hex (either case) into `buf`; `None` for odd lengths, other
/// characters, or values that do not fit.
pub(crate) fn hex_into<'b>(input: &[u8], buf: &'b mut [u8; SIGNATURE_BUF]) -> Option<&'b [u8]> {
    if input.len() % 2 != 0 || input.len() / 2 > buf.len() {
        return None;
    }
    for (out, pair) in buf.iter_mut().zip(input.chunks_exact(2)) {
        *out = (hex_digit(pair[0])? << 4) | hex_digit(pair[1])?;
    }
    Some(&buf[..input.len() / 2])
}

pub(crate) fn hex_digit(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

/// Lowercase hex, for signers.
pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

/// Standard padded base64, for signers.
pub(crate) fn base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Strict base64 for key material: standard alphabet, canonical padding and
/// trailing bits. A lenient decoder that turns garbage into a short key would
/// be a security bug.
pub(crate) fn base64_key(input: &str) -> Result<Vec<u8>, base64::DecodeError> {
    STANDARD.decode(input)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_both_cases() {
        let mut buf = [0; SIGNATURE_BUF];
        assert_eq!(hex_into(b"00fFa1", &mut buf), Some(&[0x00, 0xff, 0xa1][..]));
        assert_eq!(hex(&[0x00, 0xff, 0xa1]), "00ffa1");
    }

    #[test]
    fn hex_rejects_odd_length_and_foreign_characters() {
        let mut buf = [0; SIGNATURE_BUF];
        assert_eq!(hex_into(b"abc", &mut buf), None);
        assert_eq!(hex_into(b"zz", &mut buf), None);
        assert_eq!(hex_into(&[b'a'; 2 * SIGNATURE_BUF + 2], &mut buf), None);
    }

    #[test]
    fn base64_rejects_unpadded_and_oversized_input() {
        let mut buf = [0; SIGNATURE_BUF];
        assert_eq!(base64_into(b"AAE=", &mut buf), Some(&[0, 1][..]));
        assert_eq!(base64_into(b"AAE", &mut buf), None);
        assert_eq!(base64_into(&[b'A'; 200], &mut buf), None);
    }

    #[test]
    fn key_base64_rejects_non_canonical_trailing_bits() {
        assert!(base64_key("AAE=").is_ok());
        assert!(base64_key("AAF=").is_err());
        assert!(base64_key("AA E=").is_err());
    }
}
