//! `email-webhooks send` and `email-webhooks keygen`: post a realistic, signed sample
//! event of a provider to your own endpoint, and make the keys a receiver is
//! configured with.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use email_webhooks::provider::mailgun::MailgunVerifier;
use email_webhooks::provider::sendgrid::SendgridSigner;
use email_webhooks::provider::sns::{SigningCertUrl, SnsSigner};
use email_webhooks::scheme::standard::StandardWebhooksSigner;
use email_webhooks::{Secret, SecretError};
use ring::rand::SecureRandom as _;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// The certificate URL `send --provider ses` names; the receiver serves the
/// `keygen` certificate for it (it passes the SNS URL checks, and nothing is
/// ever fetched from it).
const SES_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-email-webhooks-test.pem";
const SES_TOPIC_ARN: &str = "arn:aws:sns:us-east-1:123456789012:email-webhooks-test";

/// The event kinds `send` can simulate, by their normalized names.
pub(crate) const KINDS: [&str; 5] = ["delivered", "bounced", "opened", "clicked", "complained"];

fn random_id() -> String {
    let mut bytes = [0u8; 12];
    let _ = ring::rand::SystemRandom::new().fill(&mut bytes);
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// A signed request: headers and body.
pub(crate) struct Signed {
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
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

/// What `send` needs to sign as the provider does.
pub(crate) struct Keys<'a> {
    pub(crate) secret: Option<&'a str>,
    pub(crate) key: Option<&'a str>,
    pub(crate) basic_auth: Option<&'a str>,
}

/// Builds a signed sample of `kind` for `provider`. Errors are messages for
/// a usage error (exit 2): they say what to fix.
// One arm per provider, each building its documented payload shape.
#[allow(clippy::too_many_lines)]
pub(crate) fn sample(
    provider: &str,
    kind: &str,
    to: &str,
    keys: &Keys<'_>,
    delivery: &Delivery,
) -> Result<Signed, String> {
    let Delivery { id, now } = delivery;
    let (id, now) = (id.as_str(), *now);
    let at = OffsetDateTime::from_unix_timestamp(now)
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "2024-01-01T00:00:00Z".into());
    let need = |what: &str| format!("the {provider} provider needs {what}");
    let key_error = |e: SecretError| format!("the key cannot be used: {e}");
    // SendGrid and SES: the base64 PKCS#8 private key from `keygen`.
    let private_key = || -> Result<Vec<u8>, String> {
        let pkcs8 = keys.key.ok_or_else(|| {
            need(&format!(
                "--key (the PKCS#8 private key from `email-webhooks keygen --provider {provider}`)"
            ))
        })?;
        base64::engine::general_purpose::STANDARD
            .decode(pkcs8.trim())
            .map_err(|_| "--key is not base64 PKCS#8".to_owned())
    };
    match provider {
        "sendgrid" => {
            let der = private_key()?;
            let signer = SendgridSigner::from_pkcs8(&der).map_err(key_error)?;
            let event = match kind {
                "bounced" => "bounce",
                "opened" => "open",
                "clicked" => "click",
                "complained" => "spamreport",
                other => other,
            };
            let body = format!(
                "{}\r\n",
                json!([{ "email": to, "timestamp": now, "event": event, "sg_event_id": id, "sg_message_id": format!("{id}.filter0001"),
                         "url": "https://example.com/", "useragent": "Mozilla/5.0", "reason": "550 5.1.1 user unknown", "type": "bounce" }])
            )
            .into_bytes();
            let headers = signer.headers(now, &body).map_err(key_error)?;
            Ok(Signed { headers, body })
        }
        "mailgun" => {
            let secret = keys
                .secret
                .ok_or_else(|| need("--secret (the webhook signing key)"))?;
            let verifier = MailgunVerifier::new(Secret::from_bytes(secret).map_err(key_error)?);
            let (event, extra) = match kind {
                "bounced" => (
                    "failed",
                    json!({"severity": "permanent", "reason": "bounce"}),
                ),
                other => (other, json!({})),
            };
            let mut data = json!({"event": event, "id": id, "timestamp": now, "recipient": to,
                "message": {"headers": {"message-id": format!("{id}@example.com")}}, "url": "https://example.com/"});
            if let (Some(d), Value::Object(extra)) = (data.as_object_mut(), extra) {
                d.extend(extra);
            }
            let body = verifier
                .sign(now, &random_id(), &data)
                .map_err(key_error)?
                .to_string()
                .into_bytes();
            Ok(Signed {
                headers: vec![("Content-Type".into(), "application/json".into())],
                body,
            })
        }
        "postmark" => {
            let pair = keys
                .basic_auth
                .ok_or_else(|| need("--basic-auth USER:PASS (as in the webhook URL)"))?;
            // Postmark numbers each bounce and complaint: one per event.
            let bounce_id = u64::from_str_radix(&id[..12], 16).unwrap_or(1);
            let (record, extra) = match kind {
                "delivered" => (
                    "Delivery",
                    json!({"Recipient": to, "DeliveredAt": at, "Details": "250 OK"}),
                ),
                "bounced" => (
                    "Bounce",
                    json!({"Email": to, "Type": "HardBounce", "ID": bounce_id, "BouncedAt": at}),
                ),
                "opened" => ("Open", json!({"Recipient": to, "ReceivedAt": at})),
                "clicked" => (
                    "Click",
                    json!({"Recipient": to, "OriginalLink": "https://example.com/", "ReceivedAt": at}),
                ),
                _ => (
                    "SpamComplaint",
                    json!({"Email": to, "Type": "SpamComplaint", "ID": bounce_id, "BouncedAt": at}),
                ),
            };
            let mut body = json!({"RecordType": record, "MessageID": id});
            if let (Some(b), Value::Object(extra)) = (body.as_object_mut(), extra) {
                b.extend(extra);
            }
            let auth = base64::engine::general_purpose::STANDARD.encode(pair);
            Ok(Signed {
                headers: vec![
                    ("Authorization".into(), format!("Basic {auth}")),
                    ("Content-Type".into(), "application/json".into()),
                ],
                body: body.to_string().into_bytes(),
            })
        }
        "resend" => {
            let secret = keys
                .secret
                .ok_or_else(|| need("--secret (the endpoint's whsec_ signing secret)"))?;
            let signer = StandardWebhooksSigner::new(
                Secret::from_standard_webhooks(secret).map_err(key_error)?,
            );
            let body = json!({"type": format!("email.{kind}"), "created_at": at,
                "data": {"email_id": id, "to": [to], "click": {"link": "https://example.com/"}}})
            .to_string()
            .into_bytes();
            let headers = signer
                .headers(&format!("msg_{id}"), now, &body)
                .map_err(key_error)?
                .into_iter()
                .map(|(k, v)| (k.replacen("webhook-", "svix-", 1), v))
                .collect();
            Ok(Signed { headers, body })
        }
        "ses" => {
            let der = private_key()?;
            let url = SigningCertUrl::parse(SES_CERT_URL).map_err(|e| e.to_string())?;
            let signer = SnsSigner::from_pkcs8(&der, url).map_err(key_error)?;
            let (event_type, detail_key, detail) = match kind {
                "delivered" => (
                    "Delivery",
                    "delivery",
                    json!({"timestamp": at, "recipients": [to], "smtpResponse": "250 2.6.0 Message received"}),
                ),
                "bounced" => (
                    "Bounce",
                    "bounce",
                    json!({"bounceType": "Permanent", "bounceSubType": "General", "timestamp": at,
                           "bouncedRecipients": [{"emailAddress": to, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}),
                ),
                "opened" => (
                    "Open",
                    "open",
                    json!({"timestamp": at, "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"}),
                ),
                "clicked" => (
                    "Click",
                    "click",
                    json!({"timestamp": at, "ipAddress": "192.0.2.1", "link": "https://example.com/", "userAgent": "Mozilla/5.0"}),
                ),
                _ => (
                    "Complaint",
                    "complaint",
                    json!({"timestamp": at, "complaintFeedbackType": "abuse", "complainedRecipients": [{"emailAddress": to}]}),
                ),
            };
            let message = json!({
                "eventType": event_type,
                "mail": {"timestamp": at, "messageId": format!("{id}-000000"), "source": "sender@example.com", "destination": [to]},
                detail_key: detail,
            });
            let message_id = format!(
                "{}-{}-{}-{}-{}",
                &id[..8],
                &id[8..12],
                &id[12..16],
                &id[16..20],
                &id[12..24]
            );
            let body = signer
                .sign(json!({
                    "Type": "Notification",
                    "MessageId": message_id,
                    "TopicArn": SES_TOPIC_ARN,
                    "Message": message.to_string(),
                    "Timestamp": at,
                    "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
                }))
                .map_err(|e| e.to_string())?;
            Ok(Signed {
                headers: vec![
                    ("x-amz-sns-message-type".into(), "Notification".into()),
                    ("x-amz-sns-message-id".into(), message_id),
                    ("x-amz-sns-topic-arn".into(), SES_TOPIC_ARN.into()),
                    ("Content-Type".into(), "text/plain; charset=UTF-8".into()),
                ],
                body,
            })
        }
        other => Err(format!(
            "`send` supports sendgrid, mailgun, ses, postmark and resend, not {other}"
        )),
    }
}

/// Changes the request after signing, as an attacker would: one letter of
/// the recipient address in the body (the JSON stays valid, so only the
/// signature can catch it). Postmark signs nothing: its password is changed
/// instead. Mailgun signs only its timestamp and token, so its token is
/// changed (a changed event is caught only as a reused token, which `send`
/// cannot show: each of its requests has a fresh one).
pub(crate) fn tamper(signed: &mut Signed, provider: &str, recipient: &str) -> Result<(), String> {
    match provider {
        "postmark" => {
            let wrong =
                base64::engine::general_purpose::STANDARD.encode("postmark:not-the-password");
            for (k, v) in &mut signed.headers {
                if k.eq_ignore_ascii_case("authorization") {
                    *v = format!("Basic {wrong}");
                }
            }
            Ok(())
        }
        "mailgun" => {
            let marker = b"\"token\":\"";
            alter(&mut signed.body, marker, marker.len())
                .ok_or_else(|| "no token in the Mailgun body".to_owned())
        }
        _ => alter(&mut signed.body, recipient.as_bytes(), 0)
            .ok_or_else(|| "--tamper needs a --recipient that appears in the body".to_owned()),
    }
}

/// Changes the byte `offset` bytes into the first occurrence of `needle` in
/// `body` to another letter; `None` when `needle` is empty or absent.
fn alter(body: &mut [u8], needle: &[u8], offset: usize) -> Option<()> {
    if needle.is_empty() {
        return None;
    }
    let at = body.windows(needle.len()).position(|w| w == needle)? + offset;
    let byte = body.get_mut(at)?;
    *byte = if *byte == b'x' { b'y' } else { b'x' };
    Some(())
}

/// Posts `signed` to `url` (plain `http://`, as a local endpoint is); returns
/// the status code.
pub(crate) fn post(url: &str, signed: &Signed) -> Result<u16, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or("`send` posts to plain http:// URLs (your local endpoint); put a TLS proxy in front for https")?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let path = if path.is_empty() { "/" } else { path };
    let address = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:80")
    };
    let mut stream =
        TcpStream::connect(&address).map_err(|e| format!("cannot connect to {address}: {e}"))?;
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Length: {}\r\nConnection: close\r\n",
        signed.body.len()
    );
    for (k, v) in &signed.headers {
        let _ = write!(request, "{k}: {v}\r\n");
    }
    request.push_str("\r\n");
    stream
        .write_all(request.as_bytes())
        .and_then(|()| stream.write_all(&signed.body))
        .map_err(|e| format!("cannot send to {address}: {e}"))?;
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
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
