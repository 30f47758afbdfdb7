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
    let mut block_end = BlockEnds::default();
    let mut found: HashMap<&[u8], Option<usize>> = HashMap::new();
    let (mut fields, mut unreadable) = (0usize, false);
    let mut at = 0;
    let mut encoded = EncodedMessages::default();
    while let Some((start, name_end)) = find_field_name(raw, at, b"content-type") {
        at = name_end;
        fields += 1;
        // Reading the field is paid for too: a body of nothing but field
        // names must not cost more than the searches would.
        let Some((field, read)) = field_at(&raw[at..]) else {
            continue;
        };
        spent = spent.saturating_add(read);
        if spent > budget {
            return Err(too_costly());
        }
        let message = names_message(field);
        encoded.digest |= names_digest(field);
        // A field cut at FIELD_MAX may hold its boundary past the cut.
        let searched = names_multipart(field)
            && (find_ignoring_case(field, b"boundary").is_some() || field.len() > FIELD_MAX);
        if !message && !searched {
            // No search: not multipart, or no boundary to look for.
            continue;
        }
        // The parser's search starts after the header block holding it.
        let body = block_end.after(raw, start, at);
        if message {
            encoded.message_at(body);
        }
        if !searched {
            continue;
        }
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
    encoded.check(raw)?;
    let boundaries = (!unreadable).then(|| found.keys().copied().collect::<Vec<_>>());
    if parts_at_most(raw, boundaries.as_deref(), fields) > max_parts {
        return Err(ParseError::new(
            "the message has more MIME parts than the limit",
        ));
    }
    Ok(())
}

/// Where header blocks end, remembered for the last one found: fields of
/// one block find its end once (a block of many fields would otherwise be
/// searched to its end once per field).
#[derive(Default)]
struct BlockEnds(Option<(usize, usize)>);

impl BlockEnds {
    /// The end of the block holding the field that starts at `start` (its
    /// value at `value`).
    fn after(&mut self, raw: &[u8], start: usize, value: usize) -> usize {
        match self.0 {
            Some((from, end)) if from <= start && start < end => end,
            _ => {
                let end = blank_line_after(raw, value);
                self.0 = Some((start, end));
                end
            }
        }
    }
}

/// The most boundaries whose delimiters are counted one by one; past it
/// (or with a boundary not read), every `--` counts as one.
const DISTINCT_MAX: usize = 32;

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

/// Whether a `Content-Type` value names a `multipart` type: it starts with
/// `multipart` (after blanks); one that starts with a comment or a quote,
/// or is cut at [`FIELD_MAX`], counts when `multipart` is anywhere in it
/// (the parser might read it so). `application/pdf; name="multipart.pdf"`
/// does not.
fn names_multipart(field: &[u8]) -> bool {
    names_type(field, b"multipart")
}

/// Whether a `Content-Type` value names a `message` type, as
/// [`names_multipart`] reads it.
fn names_message(field: &[u8]) -> bool {
    // mail-parser parses again only `message/rfc822` and `message/global`.
    names_type(field, b"message")
        && (names_type(field, b"rfc822") || names_type(field, b"global") || field.len() > FIELD_MAX)
}

/// Whether a `Content-Type` value names `multipart/digest`, whose parts
/// without a type are messages.
fn names_digest(field: &[u8]) -> bool {
    names_type(field, b"multipart") && names_type(field, b"digest")
}

fn names_type(field: &[u8], name: &[u8]) -> bool {
    // mail-parser keeps the last token before `/`, split by comments and
    // folds (`x()message/rfc822` is `message`), so anywhere before the
    // parameters counts; a field cut at FIELD_MAX counts wherever.
    let cut = field.len() > FIELD_MAX;
    let end = field.iter().position(|&b| b == b';').unwrap_or(field.len());
    find_ignoring_case(if cut { field } else { &field[..end] }, name).is_some()
}

/// A part whose type is `message/…` and whose transfer encoding is base64
/// or quoted-printable is decoded by mail-parser and parsed again, where
/// this check cannot see (RFC 2046, section 5.2.1, allows neither
/// encoding for a message part): the header blocks that declare each, by
/// where they end, to refuse a block that declares both.
#[derive(Default)]
struct EncodedMessages {
    messages: Vec<usize>,
    /// A `multipart/digest` is declared: its parts without a type are
    /// messages, so any encoded part may be one.
    digest: bool,
}

impl EncodedMessages {
    /// A `message/…` type in the header block ending at `block_end`.
    fn message_at(&mut self, block_end: usize) {
        if self.messages.last() != Some(&block_end) {
            self.messages.push(block_end);
        }
    }

    /// Refuses `raw` when a header block declaring a message type also
    /// declares a base64 or quoted-printable transfer encoding.
    fn check(&self, raw: &[u8]) -> Result<(), ParseError> {
        if self.messages.is_empty() && !self.digest {
            return Ok(());
        }
        let mut blocks = BlockEnds::default();
        let mut at = 0;
        while let Some((start, name_end)) = find_field_name(raw, at, b"content-transfer-encoding") {
            at = name_end;
            let Some((field, read)) = field_at(&raw[at..]) else {
                continue;
            };
            // Past the field: fields never overlap, so reading them stays
            // linear.
            at += read;
            // An encoded word (`=?…?b?YmFzZTY0?=`) may say base64 too.
            let encoded = find_ignoring_case(field, b"base64").is_some()
                || find_ignoring_case(field, b"quoted-printable").is_some()
                || find_ignoring_case(field, b"=?").is_some()
                || field.len() > FIELD_MAX;
            if encoded
                && (self.digest
                    || self
                        .messages
                        .binary_search(&blocks.after(raw, start, name_end))
                        .is_ok())
            {
                return Err(ParseError::new(
                    "a message part is (or may be, in a digest) base64 or quoted-printable encoded (RFC 2046 allows neither)",
                ));
            }
        }
        Ok(())
    }
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
        // The parser reads an unquoted value up to `;`, blanks and all:
        // one with a blank inside is not read here.
        let through = value.iter().position(|b| *b == b';').unwrap_or(value.len());
        let token = &value[..end];
        if value[..through].trim_ascii() != token
            || token
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

/// Where the header block holding `from` ends, as mail-parser ends it:
/// just after a line that does not continue the field before it (it does
/// not start with a space or a tab) and holds nothing but CR, form feeds
/// and blanks; or the end of `raw`.
fn blank_line_after(raw: &[u8], from: usize) -> usize {
    let blank = |b: &u8| matches!(b, b' ' | b'\t' | b'\r' | 0x0c);
    let mut at = from;
    // Whether the line just read was neither a field nor a fold: mail-parser
    // passes such a line over, then skips every blank at the next line's
    // start, so a line of blanks after it ends the block too.
    let mut colonless = false;
    let mut line_start = from;
    while let Some(offset) = memchr::memchr(b'\n', &raw[at..]) {
        let lf = at + offset;
        if line_start != from {
            let line = &raw[line_start..lf];
            colonless = !matches!(line.first(), Some(b' ' | b'\t')) && !line.contains(&b':');
        }
        let next = lf + 1;
        if colonless || !matches!(raw.get(next), Some(b' ' | b'\t')) {
            let mut i = next;
            while raw.get(i).is_some_and(blank) {
                i += 1;
            }
            if raw.get(i) == Some(&b'\n') {
                return i + 1;
            }
        }
        at = next;
        line_start = next;
    }
    raw.len()
}

/// The next field named `name` (ASCII lowercase) at or after `from`, as
/// mail-parser reads field names: the letters in any case, with blanks,
/// CR and form feeds between them, then (after more of those) a colon. Its
/// start, and the colon's position. A superset of where the
/// parser finds the field: a name inside a body counts too.
fn find_field_name(raw: &[u8], from: usize, name: &[u8]) -> Option<(usize, usize)> {
    let blank = |b: u8| matches!(b, b' ' | b'\t' | b'\r' | 0x0c);
    let mut at = from;
    while let Some(offset) = find_ignoring_case(&raw[at..], &name[..1]) {
        let start = at + offset;
        let mut i = start;
        let mut matched = true;
        for (n, &want) in name.iter().enumerate() {
            if n > 0 {
                while raw.get(i).is_some_and(|&b| blank(b)) {
                    i += 1;
                }
            }
            if raw.get(i).is_some_and(|b| b.eq_ignore_ascii_case(&want)) {
                i += 1;
            } else {
                matched = false;
                break;
            }
        }
        if matched {
            while raw.get(i).is_some_and(|&b| blank(b)) {
                i += 1;
            }
            if raw.get(i) == Some(&b':') {
                return Some((start, i));
            }
        }
        at = start + 1;
    }
    None
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

    /// `n` parts declaring boundary `Z`, which never comes, each opened by
    /// `--B` and its header block closed by `end`, under `name`.
    fn bomb(name: &str, value_suffix: &str, end: &str, n: usize) -> Vec<u8> {
        let mut raw = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n".to_vec();
        for _ in 0..n {
            raw.extend_from_slice(
                format!("--B\r\n{name}: multipart/mixed; boundary=Z{value_suffix}{end}").as_bytes(),
            );
        }
        raw.extend_from_slice(b"--B--\r\n");
        raw
    }

    /// What a reviewer found past the first version of the check: each is
    /// read as mail-parser reads it now.
    #[test]
    fn the_parser_s_own_readings_are_followed() {
        // Blanks, CR and form feeds inside a field name (mail-parser drops
        // them), and a colon after blanks.
        for name in [
            "Content -Type",
            "Content-\tType",
            "Content-\rType",
            "content-type ",
            "CONTENT-TYPE",
        ] {
            assert!(
                check(&bomb(name, "", "\r\n\r\n", 20_000), 1_000_000).is_err(),
                "{name:?}"
            );
        }
        // A header block ended by a line of CR or form feeds alone.
        for end in ["\r\n\r\r\n", "\n\x0c\n", "\r\n \r\n\r\n"] {
            assert!(
                check(&bomb("Content-Type", "", end, 20_000), 1_000_000).is_err(),
                "{end:?}"
            );
        }
        // A folded line of blanks continues the field: the block goes on.
        let folded = b"A: x\r\n\t\r\nX: y\r\n\r\nbody";
        assert_eq!(blank_line_after(folded, 0), folded.len() - 4);
        // An unquoted value with a blank: the parser reads `Z W`, never found.
        assert!(
            check(
                &bomb("Content-Type", " W", "\r\n\r\n--Z\r\n", 20_000),
                1_000_000
            )
            .is_err()
        );
        assert_eq!(boundary(b" multipart/mixed; boundary=Z W; x=1"), None);
        // A message part the parser would decode and parse again.
        let encoded = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: message/rfc822\r\nContent-Transfer-Encoding: base64\r\n\r\nU3ViamVjdDogaGkNCg0KYm9keQ==\r\n--B--\r\n";
        assert!(check(encoded, 1_000).is_err());
        let plain = b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: message/rfc822\r\n\r\nSubject: hi\r\n\r\nbody\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--B--\r\n";
        assert!(check(plain, 1_000).is_ok());
    }

    /// What a second review found: the parser's type token, digests, an
    /// encoded transfer encoding, a block ended after a colonless line.
    #[test]
    fn the_parser_s_readings_found_by_the_second_review_are_followed() {
        // The last token before `/` is the type.
        for value in [
            " x()multipart/mixed; boundary=Z",
            " x\r\n multipart/mixed; boundary=Z",
        ] {
            assert!(names_multipart(value.as_bytes()), "{value:?}");
        }
        assert!(names_message(b" message /rfc822"));
        assert!(!names_message(b" message/delivery-status"));
        // A digest's untyped part may be an encoded message.
        let digest = b"Content-Type: multipart/digest; boundary=B\r\n\r\n--B\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--B--\r\n";
        assert!(check(digest, 1_000).is_err());
        // An encoded word naming the encoding.
        let worded = b"Content-Type: message/rfc822\r\nContent-Transfer-Encoding: =?us-ascii?b?YmFzZTY0?=\r\n\r\naGk=\r\n";
        assert!(check(worded, 1_000).is_err());
        // After a line with no colon, a line of blanks ends the block.
        let colonless = b"Content-Type: multipart/mixed; boundary=Z\r\nx\r\n \r\nbody";
        assert_eq!(blank_line_after(colonless, 12), colonless.len() - 4);
        assert!(
            check(
                &bomb("Content-Type", "", "\r\nx\r\n \r\n", 20_000),
                1_000_000
            )
            .is_err()
        );
    }

    /// Ordinary mail is not refused for what it merely mentions.
    #[test]
    fn names_mentioned_elsewhere_are_not_declarations() {
        assert!(!names_multipart(
            b" application/pdf; name=\"multipart-guide.pdf\""
        ));
        assert!(names_multipart(b" Multipart/Mixed; boundary=x"));
        assert!(names_multipart(b" (a comment) multipart/mixed; boundary=x"));
        // HTML comments and separators do not count as delimiters while the
        // boundaries are known.
        let mut html = b"Content-Type: multipart/alternative; boundary=A\r\n\r\n--A\r\nContent-Type: text/html\r\n\r\n".to_vec();
        for _ in 0..2_000 {
            html.extend_from_slice(b"<!--[if mso]><p>----</p><![endif]-->\r\n");
        }
        html.extend_from_slice(
            b"--A\r\nContent-Type: application/pdf; name=\"multipart.pdf\"\r\n\r\nx\r\n--A--\r\n",
        );
        assert!(check(&html, 1_000).is_ok());
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
