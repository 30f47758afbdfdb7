//! A linear check, before MIME is parsed, that the parser's search for
//! multipart boundaries stays linear too.
//!
//! mail-parser looks for a multipart part's first boundary from the end of
//! the part's header block onwards; when the boundary never comes, it goes
//! back and reads the part as text. Each such part costs a scan of the
//! rest of the message, so a message of many small parts declaring
//! boundaries that never appear costs its size times their count: a 5 MiB
//! form of 100,000 of them is minutes of CPU, and reaches the parser before
//! any signature is checked where the signature travels inside the form
//! (Mailgun's legacy webhooks). A found boundary costs nothing wasted: the
//! parser goes on from it.
//!
//! [`check`] finds every `Content-Type` field naming `multipart` (anywhere:
//! a part's headers may start mid-line after a boundary), reads its
//! boundary, and adds what the parser's search for it would cost: the
//! distance to the boundary after the header block, or to the end when it
//! is missing. A boundary it cannot read (a continued or encoded
//! parameter, a field longer than [`FIELD_MAX`]) counts as missing. Past
//! [`SCANS`] times the message's size the message is refused. Its own
//! searches are the same distances, made by `memchr`'s substring search,
//! so the check is bounded by the same budget. Ordinary mail declares a
//! few boundaries, each found a few lines later.

use std::collections::HashMap;

use memchr::memmem;

use crate::error::ParseError;

/// How many times its own size the boundary searches of one message may
/// scan, all together.
const SCANS: usize = 4;

/// The longest `Content-Type` field read for its boundary; a longer one
/// counts as one whose boundary is missing.
const FIELD_MAX: usize = 4096;

/// Refuses `raw` when mail-parser's boundary searches on it would scan
/// more than [`SCANS`] times its size (plus 64 KiB, for small messages),
/// or when it may hold more than `max_parts` parts (see [`parts_at_most`]).
pub(crate) fn check(raw: &[u8], max_parts: usize) -> Result<(), ParseError> {
    let budget = raw.len().saturating_mul(SCANS).saturating_add(64 << 10);
    let mut spent = 0usize;
    // Where the last header block searched ends, and where each boundary
    // was last found: both reused while the next declaration lies before
    // them, so searches never repeat over the same bytes for one boundary.
    let mut block_end: Option<(usize, usize)> = None;
    let mut found: HashMap<&[u8], Option<usize>> = HashMap::new();
    let (mut fields, mut unreadable) = (0usize, false);
    let mut at = 0;
    while let Some(offset) = find_ignoring_case(&raw[at..], b"content-type") {
        let start = at + offset;
        at = start + b"content-type".len();
        fields += 1;
        // Reading the field is paid for too: a body of nothing but field
        // names must not cost more than the searches would.
        let Some((field, read)) = field_at(&raw[at..]) else {
            continue;
        };
        spent = spent.saturating_add(read);
        if find_ignoring_case(field, b"multipart").is_none() {
            if spent > budget {
                return Err(too_costly());
            }
            continue;
        }
        // The parser's search starts after the header block holding it.
        let body = match block_end {
            Some((from, end)) if from <= start && start < end => end,
            _ => {
                let end = blank_line_after(raw, at);
                block_end = Some((start, end));
                end
            }
        };
        let cost = if let Some(boundary) = boundary(field) {
            next_delimiter(raw, body, boundary, &mut found)
                .map_or(raw.len() - body, |pos| pos - body)
        } else {
            unreadable = true;
            raw.len() - body
        };
        spent = spent.saturating_add(cost);
        if spent > budget {
            return Err(too_costly());
        }
    }
    let boundaries = (!unreadable).then(|| found.keys().copied().collect::<Vec<_>>());
    if parts_at_most(raw, boundaries.as_deref(), fields) > max_parts {
        return Err(ParseError::new(
            "the message has more MIME parts than the limit",
        ));
    }
    Ok(())
}

/// The most boundaries whose delimiters are counted one by one; past it
/// (or with a boundary not read), every `--` counts as one.
const DISTINCT_MAX: usize = 16;

/// An upper bound on the parts mail-parser makes of `raw`, counted before
/// it builds them (each costs it about a hundred bytes: a body of tiny
/// parts would cost twenty times its size or more). A part starts the
/// message, follows a delimiter (`--` and a boundary declared in it), or
/// starts a message nested in a part, which a `Content-Type` field
/// declares: so the parts are at most one, plus the delimiters of the
/// `boundaries` read (non-overlapping, as the parser moves past each), plus
/// the `fields`. Where a boundary was not read (`None`) or there are more
/// than [`DISTINCT_MAX`], every `--` (not overlapping) counts as one.
fn parts_at_most(raw: &[u8], boundaries: Option<&[&[u8]]>, fields: usize) -> usize {
    let delimiters = match boundaries {
        Some(boundaries) if boundaries.len() <= DISTINCT_MAX => boundaries
            .iter()
            .map(|boundary| {
                let mut delimiter = Vec::with_capacity(boundary.len() + 2);
                delimiter.extend_from_slice(b"--");
                delimiter.extend_from_slice(boundary);
                memmem::find_iter(raw, &delimiter).count()
            })
            .sum(),
        // Matches the parser moves past never overlap, and each holds a
        // `--` of its own: at most as many as non-overlapping `--`.
        _ => memmem::find_iter(raw, b"--").count(),
    };
    delimiters.saturating_add(fields).saturating_add(1)
}

/// Where the delimiter of `boundary` next starts at or after `body`, from
/// what `found` remembers of earlier searches for it where it can (searches
/// for one boundary never cover the same bytes twice).
fn next_delimiter<'r>(
    raw: &'r [u8],
    body: usize,
    boundary: &'r [u8],
    found: &mut HashMap<&'r [u8], Option<usize>>,
) -> Option<usize> {
    match found.get(boundary) {
        Some(Some(pos)) if *pos >= body => return Some(*pos),
        // Not after an earlier body, so not after this one.
        Some(None) => return None,
        _ => {}
    }
    let mut delimiter = Vec::with_capacity(boundary.len() + 2);
    delimiter.extend_from_slice(b"--");
    delimiter.extend_from_slice(boundary);
    let pos = memmem::find(&raw[body..], &delimiter).map(|p| body + p);
    found.insert(boundary, pos);
    pos
}

fn too_costly() -> ParseError {
    ParseError::new(
        "the message's multipart structure is too costly to parse: many parts declare boundaries that never come",
    )
}

/// The value of a field whose name ends just before `rest` (optional
/// blanks, then `:`), up to [`FIELD_MAX`] + 1 bytes, and how many bytes
/// were read to find it.
fn field_at(rest: &[u8]) -> Option<(&[u8], usize)> {
    let colon = rest.iter().position(|&b| b != b' ' && b != b'\t')?;
    if rest[colon] != b':' {
        return None;
    }
    let value = &rest[colon + 1..];
    let limit = value.len().min(FIELD_MAX + 1);
    // The field ends at a line break not followed by a blank (folding).
    let end = (0..limit)
        .find(|&i| value[i] == b'\n' && !matches!(value.get(i + 1), Some(b' ' | b'\t')))
        .unwrap_or(limit);
    Some((&value[..end], colon + 1 + end))
}

/// The boundary parameter of `field`, when it is given once, plainly: a
/// token or a quoted string without escapes, in a field of at most
/// [`FIELD_MAX`] bytes.
fn boundary(field: &[u8]) -> Option<&[u8]> {
    if field.len() > FIELD_MAX {
        return None;
    }
    let name = find_ignoring_case(field, b"boundary")?;
    let after = name + b"boundary".len();
    if find_ignoring_case(&field[after..], b"boundary").is_some() {
        return None;
    }
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | b'\n');
    let rest = &field[after..];
    let eq = rest.iter().position(|b| !blank(b))?;
    if rest[eq] != b'=' {
        // `boundary*` (RFC 2231) or another parameter's name.
        return None;
    }
    let rest = &rest[eq + 1..];
    let value = &rest[rest.iter().position(|b| !blank(b))?..];
    // What the parser reads must be this value or a prefix of it, so that
    // finding its delimiter means the parser finds its own: no escapes,
    // comments, encoded words or folding inside it.
    let value = if let Some(quoted) = value.strip_prefix(b"\"") {
        let inner = &quoted[..quoted.iter().position(|&b| b == b'"')?];
        let plain = |b: &u8| !matches!(b, b'\\' | b'\r' | b'\n');
        if inner.first().is_some_and(blank) || !inner.iter().all(plain) {
            return None;
        }
        inner
    } else {
        let end = value
            .iter()
            .position(|b| *b == b';' || blank(b))
            .unwrap_or(value.len());
        let token = &value[..end];
        if token
            .iter()
            .any(|b| matches!(b, b'(' | b')' | b'"' | b'\\'))
        {
            return None;
        }
        token
    };
    let encoded = value.windows(2).any(|w| w == b"=?");
    (!value.is_empty() && !encoded).then_some(value)
}

/// Where the header block holding `from` ends: just after the first empty
/// line (`LF LF` or `LF CR LF`) at or after it, or the end of `raw`.
fn blank_line_after(raw: &[u8], from: usize) -> usize {
    let mut at = from;
    while let Some(offset) = memchr::memchr(b'\n', &raw[at..]) {
        let lf = at + offset;
        match raw.get(lf + 1..) {
            Some([b'\n', ..]) => return lf + 2,
            Some([b'\r', b'\n', ..]) => return lf + 3,
            _ => at = lf + 1,
        }
    }
    raw.len()
}

/// The first position of `needle` (ASCII lowercase) in `haystack`, ignoring
/// ASCII case. Linear: candidates are found by their first byte.
fn find_ignoring_case(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let first = *needle.first()?;
    let mut at = 0;
    while let Some(offset) = memchr::memchr2(first, first.to_ascii_uppercase(), &haystack[at..]) {
        let i = at + offset;
        if haystack.len() - i >= needle.len()
            && haystack[i..i + needle.len()].eq_ignore_ascii_case(needle)
        {
            return Some(i);
        }
        at = i + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries_are_read_plainly_or_not_at_all() {
        assert_eq!(
            boundary(b" multipart/mixed; boundary=abc"),
            Some(&b"abc"[..])
        );
        assert_eq!(
            boundary(b" multipart/mixed; BOUNDARY = \"a b\"; x=1"),
            Some(&b"a b"[..])
        );
        assert_eq!(
            boundary(b" multipart/mixed;\r\n\tboundary=abc;"),
            Some(&b"abc"[..])
        );
        assert_eq!(
            boundary(b" multipart/mixed; boundary*0=a; boundary*1=b"),
            None
        );
        assert_eq!(boundary(b" multipart/mixed; boundary=\"a\\\"b\""), None);
        assert_eq!(boundary(b" multipart/mixed; boundary=a; boundary=b"), None);
        assert_eq!(boundary(b" multipart/mixed"), None);
    }

    #[test]
    fn fields_follow_a_colon_and_end_at_an_unfolded_line() {
        let (field, read) =
            field_at(b": Multipart/Mixed; boundary=x\r\n\tq=1\r\nSubject: multipart").unwrap();
        assert_eq!(field, &b" Multipart/Mixed; boundary=x\r\n\tq=1\r"[..]);
        assert_eq!(read, 1 + field.len());
        assert!(field_at(b"-Transfer-Encoding: multipart").is_none());
        assert!(field_at(b" \t: x").is_some_and(|(f, _)| f == b" x"));
    }

    #[test]
    fn header_blocks_end_at_an_empty_line_of_either_ending() {
        assert_eq!(blank_line_after(b"a\r\nb\r\n\r\nbody", 0), 8);
        assert_eq!(blank_line_after(b"a\nb\n\nbody", 0), 5);
        assert_eq!(blank_line_after(b"a\r\nb", 0), 4);
    }

    #[test]
    fn parts_are_counted_by_their_delimiters_before_they_are_built() {
        let mut many = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
        for _ in 0..2_000 {
            many.extend_from_slice(b"--B\r\n\r\n");
        }
        assert_eq!(parts_at_most(&many, Some(&[b"B"]), 1), 2_002);
        assert!(check(&many, 1_000).is_err());
        assert!(check(&many, 2_002).is_ok());
        // A body of dashes with a boundary not read: every `--` counts.
        assert_eq!(parts_at_most(b"a-----b", None, 0), 3);
        // Text mentioning dashes counts only when no boundary is known.
        let text = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\n\r\n-- \r\n<!-- x -->\r\n--B--\r\n";
        assert_eq!(parts_at_most(text, Some(&[b"B"]), 1), 4);
    }

    #[test]
    fn values_the_parser_might_read_otherwise_are_not_read() {
        for field in [
            &b" multipart/mixed; boundary=\"=?utf-8?q?Z?=\""[..],
            b" multipart/mixed; boundary=Z(comment)W",
            b" multipart/mixed; boundary=\" Z\"",
            b" multipart/mixed; boundary=\"Z\r\n W\"",
        ] {
            assert_eq!(boundary(field), None, "{}", String::from_utf8_lossy(field));
        }
    }

    #[test]
    fn ordinary_nesting_passes_and_missing_boundaries_past_the_budget_do_not() {
        let mail = b"Content-Type: multipart/mixed; boundary=a\r\n\r\n--a\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n--b--\r\n--a--\r\n";
        assert!(check(mail, 1_000).is_ok());
        let mut bomb = b"Content-Type: multipart/form-data; boundary=B\r\n\r\n".to_vec();
        for _ in 0..20_000 {
            bomb.extend_from_slice(b"--B\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n");
        }
        bomb.extend_from_slice(b"--B--\r\n");
        assert!(check(&bomb, 1_000_000).is_err());
        // The same parts, each boundary present: each search is short.
        let mut fine = b"Content-Type: multipart/form-data; boundary=B\r\n\r\n".to_vec();
        for _ in 0..20_000 {
            fine.extend_from_slice(
                b"--B\r\nContent-Type: multipart/mixed; boundary=Z\r\n\r\n--Z--\r\n",
            );
        }
        fine.extend_from_slice(b"--B--\r\n");
        assert!(check(&fine, 1_000_000).is_ok());
    }
}
