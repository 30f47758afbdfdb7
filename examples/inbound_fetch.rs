//! A complete [`ContentSource`] over `reqwest`, for a real receiver of
//! inbound mail: what providers post only a reference to (Resend's received
//! emails, Brevo's attachments by download token) is fetched over HTTPS
//! with your API key, sent to that provider's API host alone; pre-signed
//! download links get no key; no redirects, a timeout, the size limit the
//! crate asks for, and failures reported so that the delivery is answered
//! with a retryable status.
//!
//! SES's S3 objects (`s3://bucket/key`) need your S3 client: this source
//! reports them unavailable (so SNS delivers again), and says where to
//! plug one in.
//!
//! ```sh
//! RESEND_API_KEY=re_… BREVO_API_KEY=xkeysib-… cargo run --example inbound_fetch
//! ```
//!
//! (This example only builds the receiver's configuration; it makes no
//! request. Serve it with `adapters::axum::inbound_router`.)

use std::future::Future;
use std::time::Duration;

use email_webhooks::inbound::{ContentRef, ContentSource, FetchError, InboundProviders};
use email_webhooks::provider::{Provider, Settings};

/// The API hosts, and how each takes its key.
const RESEND_API: &str = "https://api.resend.com/";
const BREVO_API: &str = "https://api.brevo.com/";

/// Fetches referenced content over HTTPS.
#[derive(Debug)]
struct HttpContent {
    client: reqwest::Client,
    resend_key: Option<String>,
    brevo_key: Option<String>,
}

impl HttpContent {
    fn new(resend_key: Option<String>, brevo_key: Option<String>) -> Result<Self, reqwest::Error> {
        let client = reqwest::Client::builder()
            .https_only(true)
            // A redirect could carry the key anywhere.
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(20))
            .build()?;
        Ok(Self {
            client,
            resend_key,
            brevo_key,
        })
    }

    /// The request for `url`, with the key of the API it is on, if any.
    fn request(&self, url: &str) -> Result<reqwest::RequestBuilder, FetchError> {
        let request = self.client.get(url);
        if url.starts_with(RESEND_API) {
            let key = self
                .resend_key
                .as_deref()
                .ok_or_else(|| FetchError::Unavailable("no RESEND_API_KEY".into()))?;
            return Ok(request.bearer_auth(key));
        }
        if url.starts_with(BREVO_API) {
            let key = self
                .brevo_key
                .as_deref()
                .ok_or_else(|| FetchError::Unavailable("no BREVO_API_KEY".into()))?;
            return Ok(request.header("api-key", key));
        }
        // A pre-signed download link: no key.
        Ok(request)
    }
}

impl ContentSource for HttpContent {
    fn fetch(
        &self,
        content: &ContentRef,
    ) -> impl Future<Output = Result<Vec<u8>, FetchError>> + Send {
        let (url, max) = (content.url.clone(), content.max_bytes);
        let request = if url.starts_with("s3://") {
            Err(FetchError::Unavailable(format!(
                "{url}: fetch S3 objects with your S3 client (aws-sdk-s3 GetObject)"
            )))
        } else {
            self.request(&url)
        };
        async move {
            let mut response = request?
                .send()
                .await
                .map_err(|e| FetchError::Unavailable(format!("{url}: {e}")))?;
            if !response.status().is_success() {
                // Answered 5xx-class to the provider either way: it keeps
                // the message and delivers it again.
                return Err(FetchError::Unavailable(format!(
                    "{url}: answered {}",
                    response.status()
                )));
            }
            if response
                .content_length()
                .is_some_and(|len| len > max as u64)
            {
                return Err(FetchError::TooLarge { limit: max });
            }
            // Read in chunks, so a body without a length cannot grow past
            // the limit either.
            let mut bytes = Vec::new();
            while let Some(chunk) = response
                .chunk()
                .await
                .map_err(|e| FetchError::Unavailable(format!("{url}: {e}")))?
            {
                if bytes.len() + chunk.len() > max {
                    return Err(FetchError::TooLarge { limit: max });
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let source = HttpContent::new(
        std::env::var("RESEND_API_KEY").ok(),
        std::env::var("BREVO_API_KEY").ok(),
    )?;
    // The webhooks' own credentials, as the providers' dashboards show
    // them (placeholders here).
    let mut resend = Settings::new();
    resend.secrets.push(
        std::env::var("RESEND_WEBHOOK_SECRET")
            .unwrap_or_else(|_| "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".into()),
    );
    let mut brevo = Settings::new();
    brevo.basic_auth.push(
        std::env::var("BREVO_WEBHOOK_CREDENTIALS").unwrap_or_else(|_| "brevo:change-me".into()),
    );
    let inbound = InboundProviders::new()
        .with(Provider::Resend, &resend)?
        .with(Provider::Brevo, &brevo)?
        .with_content_source(source);
    println!("inbound mail receiver configured: {inbound:?}");
    Ok(())
}
