//! `email-webhooks send` and `email-webhooks keygen`: post a provider's signed
//! sample delivery (built by the provider's registry entry) to your own
//! endpoint, and make the keys a receiver is configured with.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;

use base64::Engine as _;
use email_webhooks::provider::sendgrid::SendgridSigner;
use ring::rand::SecureRandom as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

/// The certificate URL `send --provider ses` names; the receiver serves the
/// `keygen` certificate for it (it passes the SNS URL checks, and nothing is
/// ever fetched from it).
const SES_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-email-webhooks-test.pem";

/// How long connecting, sending, and each read of the answer may take.
const TIMEOUT: Duration = Duration::from_secs(30);

/// How much of the answer is read: its status line is all `send` uses.
const STATUS_LINE_MAX: u64 = 1024;

/// 24 random hex digits: an event id, or a per-attempt value.
pub(crate) fn random_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// One simulated event: its id and time stay the same across redeliveries.
pub(crate) struct Delivery {
    pub(crate) id: String,
    pub(crate) now: i64,
}

impl Delivery {
    /// A new event, now.
    pub(crate) fn new() -> Self {
        Self {
            id: random_id(),
            now: OffsetDateTime::now_utc().unix_timestamp(),
        }
    }
}

/// Posts `body` with `headers` to `url` (plain `http://`, as a local
/// endpoint is); returns the status code.
pub(crate) fn post(url: &str, headers: &[(String, String)], body: &[u8]) -> Result<u16, String> {
    request("POST", url, headers, body)
}

/// Sends one `method` request to `url` (plain `http://`); returns the
/// status code.
pub(crate) fn request(
    method: &str,
    url: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("`send` posts to plain http:// URLs (your local endpoint); put a TLS proxy in front for https")?;
    // A fragment is never sent; credentials before the host are refused
    // rather than taken for the address (send them with --header).
    let rest = rest.split('#').next().unwrap_or(rest);
    let (authority, path) = rest.split_at(rest.find(['/', '?']).unwrap_or(rest.len()));
    if authority.contains('@') {
        return Err("the URL names credentials before its host: give them as --header 'Authorization: Basic …' instead".into());
    }
    let path = match path {
        "" => "/".to_owned(),
        query if query.starts_with('?') => format!("/{query}"),
        path => path.to_owned(),
    };
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let cannot = |e: std::io::Error| format!("cannot connect to {address}: {e}");
    // Every address the name resolves to, in turn (`localhost` is `::1`
    // first on many systems, and a server may listen on 127.0.0.1 only).
    let mut last = None;
    let mut connected = None;
    for resolved in address.to_socket_addrs().map_err(cannot)? {
        match TcpStream::connect_timeout(&resolved, TIMEOUT) {
            Ok(stream) => {
                connected = Some(stream);
                break;
            }
            Err(error) => last = Some(error),
        }
    }
    let mut stream = connected.ok_or_else(|| {
        last.map_or_else(
            || format!("cannot connect to {address}: no address"),
            cannot,
        )
    })?;
    let _ = stream.set_read_timeout(Some(TIMEOUT));
    let _ = stream.set_write_timeout(Some(TIMEOUT));
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in headers {
        let _ = write!(request, "{k}: {v}\r\n");
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.write_all(body))
        .map_err(|e| format!("cannot send to {address}: {e}"))?;
    // Only the status line is read: an answer that never ends holds no
    // more than this and the timeout.
    let mut response = Vec::new();
    let _ = stream.take(STATUS_LINE_MAX).read_to_end(&mut response);
    let text = String::from_utf8_lossy(&response);
    text.split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("{address} did not answer with HTTP"))
}

/// `keygen --provider sendgrid`: a P-256 key pair.
pub(crate) fn keygen_sendgrid() -> Result<Value, String> {
    let (signer, pkcs8) = SendgridSigner::generate().map_err(|e| e.to_string())?;
    let public = signer.public_key().map_err(|e| e.to_string())?;
    Ok(json!({
        "provider": "sendgrid",
        "public_key": public.to_base64_der(),
        "private_key_pkcs8": base64::engine::general_purpose::STANDARD.encode(pkcs8),
        "receiver": "configure the receiver with public_key (EMAIL_WEBHOOKS_SENDGRID_KEY); sign with `email-webhooks send --provider sendgrid --key <private_key_pkcs8>`",
    }))
}

/// `keygen --provider ses`: an RSA-2048 key and a self-signed certificate
/// for it, standing in for Amazon SNS's signing certificate. The key is
/// generated with the `rsa` crate (ring cannot generate RSA keys); the
/// certificate is signed with ring.
pub(crate) fn keygen_ses() -> Result<(Value, String), String> {
    use rsa::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    let failed = |what: &str| format!("could not make the SES test key: {what}");
    let key = rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, 2048)
        .map_err(|_| failed("RSA key generation"))?;
    let pkcs8 = key.to_pkcs8_der().map_err(|_| failed("PKCS#8 encoding"))?;
    let spki = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|_| failed("public key encoding"))?;
    let pem = self_signed_certificate(pkcs8.as_bytes(), spki.as_bytes())?;
    let json = json!({
        "provider": "ses",
        "private_key_pkcs8": base64::engine::general_purpose::STANDARD.encode(pkcs8.as_bytes()),
        "certificate_pem": pem,
        "cert_url": SES_CERT_URL,
        "receiver": "serve certificate_pem for SNS certificate URLs (the axum_receiver example: save it to a file and set EMAIL_WEBHOOKS_SNS_CERT, or use --cert-out); sign with `email-webhooks send --provider ses --key <private_key_pkcs8>`",
    });
    Ok((json, pem))
}

/// A self-signed X.509 v1 certificate (CN `sns.amazonaws.com`, valid from an
/// hour ago for ten years) for the RSA key `pkcs8`, whose public key is
/// `spki`, signed with SHA-256.
fn self_signed_certificate(pkcs8: &[u8], spki: &[u8]) -> Result<String, String> {
    use std::str::FromStr as _;
    use x509_cert::der::asn1::{BitString, GeneralizedTime, UtcTime};
    use x509_cert::der::{Any, Decode as _, Encode as _, EncodePem as _, pem::LineEnding};
    use x509_cert::spki::{AlgorithmIdentifierOwned, ObjectIdentifier, SubjectPublicKeyInfoOwned};
    use x509_cert::time::{Time, Validity};

    let failed = |what: &str| format!("could not make the SES test certificate: {what}");
    let time = |unix: i64| -> Result<Time, String> {
        let since = Duration::from_secs(u64::try_from(unix).map_err(|_| failed("time"))?);
        // RFC 5280: UTCTime through 2049, GeneralizedTime after.
        UtcTime::from_unix_duration(since)
            .map(Time::UtcTime)
            .or_else(|_| GeneralizedTime::from_unix_duration(since).map(Time::GeneralTime))
            .map_err(|_| failed("time"))
    };
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let sha256_with_rsa = AlgorithmIdentifierOwned {
        oid: ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11"),
        parameters: Some(Any::null()),
    };
    let name = x509_cert::name::Name::from_str("CN=sns.amazonaws.com,O=email-webhooks test key")
        .map_err(|_| failed("name"))?;
    let mut serial = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut serial)
        .map_err(|_| failed("random serial"))?;
    serial[0] &= 0x7f; // positive
    serial[0] |= 0x01; // and minimal (no leading zero byte)
    let tbs = x509_cert::TbsCertificate {
        version: x509_cert::Version::V1,
        serial_number: x509_cert::serial_number::SerialNumber::new(&serial)
            .map_err(|_| failed("serial"))?,
        signature: sha256_with_rsa.clone(),
        issuer: name.clone(),
        validity: Validity {
            not_before: time(now - 3600)?,
            not_after: time(now + 10 * 365 * 86_400)?,
        },
        subject: name,
        subject_public_key_info: SubjectPublicKeyInfoOwned::from_der(spki)
            .map_err(|_| failed("public key"))?,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    let tbs_der = tbs.to_der().map_err(|_| failed("encoding"))?;
    let pair = ring::signature::RsaKeyPair::from_pkcs8(pkcs8).map_err(|_| failed("key"))?;
    let mut signature = vec![0; pair.public().modulus_len()];
    pair.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        &tbs_der,
        &mut signature,
    )
    .map_err(|_| failed("signing"))?;
    let certificate = x509_cert::Certificate {
        tbs_certificate: tbs,
        signature_algorithm: sha256_with_rsa,
        signature: BitString::from_bytes(&signature).map_err(|_| failed("signature"))?,
    };
    certificate
        .to_pem(LineEnding::LF)
        .map_err(|_| failed("PEM encoding"))
}
