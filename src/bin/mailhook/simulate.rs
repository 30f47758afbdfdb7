//! `mailhook send` and `mailhook keygen`: post a realistic, signed sample
//! event of a provider to your own endpoint, and make the keys a receiver is
//! configured with.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::net::TcpStream;
use std::time::Duration;

use base64::Engine as _;
use mailhook::provider::mailgun::MailgunVerifier;
use mailhook::provider::sendgrid::SendgridSigner;
use mailhook::scheme::standard::StandardWebhooksSigner;
use mailhook::{Secret, SecretError};
use ring::rand::SecureRandom as _;
use serde_json::{Value, json};
use time::OffsetDateTime;

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
) -> Result<Signed, String> {
    let now = OffsetDateTime::now_utc().unix_timestamp();
    let id = random_id();
    let need = |what: &str| format!("the {provider} provider needs {what}");
    let key_error = |e: SecretError| format!("the key cannot be used: {e}");
    match provider {
        "sendgrid" => {
            let pkcs8 = keys.key.ok_or_else(|| {
                need("--key (the PKCS#8 private key from `mailhook keygen --provider sendgrid`)")
            })?;
            let der = base64::engine::general_purpose::STANDARD
                .decode(pkcs8.trim())
                .map_err(|_| "--key is not base64 PKCS#8".to_owned())?;
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
            let (record, extra) = match kind {
                "delivered" => (
                    "Delivery",
                    json!({"Recipient": to, "DeliveredAt": "2024-01-01T00:00:00Z", "Details": "250 OK"}),
                ),
                "bounced" => (
                    "Bounce",
                    json!({"Email": to, "Type": "HardBounce", "ID": now, "BouncedAt": "2024-01-01T00:00:00Z"}),
                ),
                "opened" => (
                    "Open",
                    json!({"Recipient": to, "ReceivedAt": "2024-01-01T00:00:00Z"}),
                ),
                "clicked" => (
                    "Click",
                    json!({"Recipient": to, "OriginalLink": "https://example.com/", "ReceivedAt": "2024-01-01T00:00:00Z"}),
                ),
                _ => (
                    "SpamComplaint",
                    json!({"Email": to, "Type": "SpamComplaint", "ID": now, "BouncedAt": "2024-01-01T00:00:00Z"}),
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
            let body =
                json!({"type": format!("email.{kind}"), "created_at": "2024-01-01T00:00:00Z",
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
        other => Err(format!(
            "`send` supports sendgrid, mailgun, postmark and resend, not {other}"
        )),
    }
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
        "receiver": "configure the receiver with public_key (MAILHOOK_SENDGRID_KEY); sign with `mailhook send --provider sendgrid --key <private_key_pkcs8>`",
    }))
}
