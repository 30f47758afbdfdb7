//! `application/x-www-form-urlencoded` bodies, as Twilio and Mailgun's
//! legacy webhooks send them.

use std::borrow::Cow;

use crate::encoding;
use crate::error::VerifyError;

/// Whether a `Content-Type` value is form encoding (parameters ignored).
pub(crate) fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|ct| {
        let essence = ct.split(';').next().unwrap_or_default().trim();
        essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
    })
}

/// One decoded `name=value` pair.
pub(crate) type Param<'a> = (Cow<'a, [u8]>, Cow<'a, [u8]>);

/// Decodes `application/x-www-form-urlencoded`: `&`-separated `name=value`,
/// `+` for space, `%XX` escapes. A malformed escape is an error, not a
/// guess.
pub(crate) fn parse(body: &[u8]) -> Result<Vec<Param<'_>>, VerifyError> {
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            Ok((percent_decode(name)?, percent_decode(value)?))
        })
        .collect()
}

fn percent_decode(input: &[u8]) -> Result<Cow<'_, [u8]>, VerifyError> {
    if !input.iter().any(|&b| b == b'%' || b == b'+') {
        return Ok(Cow::Borrowed(input));
    }
    let bad = || VerifyError::InvalidPayload {
        detail: "malformed percent-encoding in the form body",
    };
    let mut out = Vec::with_capacity(input.len());
    let mut rest = input;
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'+' => {
                out.push(b' ');
                rest = tail;
            }
            b'%' => {
                let mut buf = [0u8; encoding::SIGNATURE_BUF];
                let digits = tail.get(..2).ok_or_else(bad)?;
                let byte = encoding::hex_into(digits, &mut buf).ok_or_else(bad)?;
                out.extend_from_slice(byte);
                rest = &tail[2..];
            }
            _ => {
                out.push(b);
                rest = tail;
            }
        }
    }
    Ok(Cow::Owned(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_decoding_handles_plus_and_escapes() -> Result<(), VerifyError> {
        let params = parse(b"From=%2B1415+x&Empty=&Flag")?;
        let expected: Vec<(&[u8], &[u8])> =
            vec![(b"From", b"+1415 x"), (b"Empty", b""), (b"Flag", b"")];
        let got: Vec<(&[u8], &[u8])> = params.iter().map(|(k, v)| (&**k, &**v)).collect();
        assert_eq!(got, expected);
        Ok(())
    }

    #[test]
    fn malformed_escape_is_an_error() {
        for bad in [&b"a=%"[..], b"a=%2", b"a=%zz"] {
            assert_eq!(parse(bad).err().map(|e| e.code()), Some("invalid_payload"));
        }
    }
}
