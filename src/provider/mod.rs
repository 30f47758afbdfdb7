//! Email providers: the [`EmailProvider`] contract, the registry (the one
//! list of providers, [`Provider::ALL`]), and one module per provider with
//! its authentication, its native payload as typed serde models, and its
//! normalization into [`EmailEvent`]s.
//!
//! A provider is one module, declared below, plus one line in the registry. The
//! registry gives its [`Provider`] id (kebab-case name, [`FromStr`] and
//! [`Display`](fmt::Display)) and its [`ProviderInfo`]; the pipeline, the
//! adapters' `/webhooks/{provider}` route, the CLI, the fuzz target and the
//! data-driven tests iterate over it.
//!
//! Parsing is drift-tolerant: unknown event types become
//! [`EventKind::Unknown`](crate::EventKind::Unknown) with the original JSON
//! kept, unknown fields are ignored, and numbers may arrive as strings.
//!
//! # Adding your own provider
//!
//! Implement [`EmailProvider`]: check the request with one of the crate's
//! mechanisms (here [`BasicAuth`](crate::BasicAuth)), then normalize.
//!
//! ```
//! use email_webhooks::provider::{EmailProvider, Received};
//! use email_webhooks::scheme::Authenticate as _;
//! use email_webhooks::{BasicAuth, EmailEvent, Error, EventKind, ParseError, Provider, Request};
//!
//! #[derive(Debug)]
//! struct Acme {
//!     auth: BasicAuth,
//! }
//!
//! impl EmailProvider for Acme {
//!     fn id(&self) -> Provider {
//!         Provider::Custom("acme")
//!     }
//!
//!     async fn receive(&self, request: &Request<'_>) -> Result<Received, Error> {
//!         self.auth.authenticate(request)?;
//!         let raw: Box<serde_json::value::RawValue> = serde_json::from_slice(request.body())
//!             .map_err(|e| ParseError::json("the body is not JSON", &e))?;
//!         Ok(Received::events(vec![EmailEvent::new(self.id(), EventKind::Delivered, raw)]))
//!     }
//! }
//! ```

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;

use http::StatusCode;
use serde::Serialize;

use crate::error::Error;
use crate::event::EmailEvent;
use crate::request::Request;

pub(crate) mod batch;
pub mod sns;
pub(crate) mod sync;
pub(crate) mod timestamp;

pub use timestamp::Timestamp;

pub mod brevo;
pub mod getresponse;
pub mod mailersend;
pub mod mailgun;
pub mod mailjet;
pub mod mailkite;
pub mod mailpace;
pub mod mailtrap;
pub mod mandrill;
pub mod postal;
pub mod postmark;
pub mod resend;
pub mod sendgrid;
pub mod ses;
pub mod smtp2go;
pub mod sparkpost;
pub mod sweego;
pub mod unisender_go;

/// The registry: one line per provider, `Variant => "kebab-name", module;`
/// (the module's `INFO` holds the rest). Everything that lists providers
/// derives from it. (The modules are declared above, outside the macro, so
/// that `cargo fmt` sees them.)
macro_rules! registry {
    ($( $(#[$doc:meta])* $variant:ident => $name:literal, $module:ident; )*) => {

        /// Which provider sent a delivery: the registry's ids, with their
        /// kebab-case names ([`Provider::as_str`], [`FromStr`], `Display`,
        /// and serde).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
        #[serde(rename_all = "kebab-case")]
        #[non_exhaustive]
        pub enum Provider {
            $( $(#[$doc])* $variant, )*
            /// A provider of your own (see the module docs), by name. Use a
            /// name no registered provider has: it routes deliveries and
            /// prefixes idempotency keys.
            #[serde(untagged)]
            Custom(&'static str),
        }

        impl Provider {
            /// Every registered provider, in the registry's order.
            pub const ALL: &'static [Provider] = &[$( Provider::$variant ),*];

            /// The provider's name as the CLI, the route and the JSON spell
            /// it (kebab-case).
            #[must_use]
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $name, )*
                    Self::Custom(name) => name,
                }
            }

            /// What the registry knows about the provider; `None` for a
            /// custom one.
            #[must_use]
            pub fn info(self) -> Option<&'static ProviderInfo> {
                match self {
                    $( Self::$variant => Some(&$module::INFO), )*
                    Self::Custom(_) => None,
                }
            }
        }

        impl FromStr for Provider {
            type Err = UnknownProvider;

            fn from_str(name: &str) -> Result<Self, Self::Err> {
                match name {
                    $( $name => Ok(Self::$variant), )*
                    _ => Err(UnknownProvider),
                }
            }
        }
    };
}

registry! {
    /// Twilio SendGrid.
    Sendgrid => "sendgrid", sendgrid;
    /// Mailgun.
    Mailgun => "mailgun", mailgun;
    /// Amazon SES (through Amazon SNS).
    Ses => "ses", ses;
    /// Postmark.
    Postmark => "postmark", postmark;
    /// Resend.
    Resend => "resend", resend;
    /// Mailjet.
    Mailjet => "mailjet", mailjet;
    /// GetResponse.
    Getresponse => "getresponse", getresponse;
    /// Mandrill (Mailchimp Transactional).
    Mandrill => "mandrill", mandrill;
    /// SparkPost (Bird).
    Sparkpost => "sparkpost", sparkpost;
    /// MailerSend.
    Mailersend => "mailersend", mailersend;
    /// Mailtrap.
    Mailtrap => "mailtrap", mailtrap;
    /// Brevo (formerly Sendinblue).
    Brevo => "brevo", brevo;
    /// Postal (self-hosted).
    Postal => "postal", postal;
    /// Unisender Go (UniOne).
    UnisenderGo => "unisender-go", unisender_go;
    /// SMTP2GO.
    Smtp2go => "smtp2go", smtp2go;
    /// MailPace.
    Mailpace => "mailpace", mailpace;
    /// Sweego.
    Sweego => "sweego", sweego;
    /// MailKite.
    Mailkite => "mailkite", mailkite;
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A name that is not a registered provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnknownProvider;

impl fmt::Display for UnknownProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not a registered provider name")
    }
}

impl std::error::Error for UnknownProvider {}

/// What the registry records about a provider: its docs row and its
/// unverified parser (for the CLI's `parse`, the fuzz target and the tests).
#[derive(Debug)]
#[non_exhaustive]
pub struct ProviderInfo {
    /// The provider's display name.
    pub title: &'static str,
    /// How a delivery is authenticated.
    pub authenticated_by: &'static str,
    /// Where the event id comes from.
    pub event_id: &'static str,
    /// What the authentication covers.
    pub signed: &'static str,
    /// The default replay window.
    pub replay_window: &'static str,
    /// Parses a request's events without authenticating it.
    pub parse: fn(&Request<'_>) -> Result<Vec<EmailEvent>, crate::ParseError>,
    /// What [`Settings`] the provider needs, as the CLI's flags name them.
    pub needs: &'static str,
    /// Builds the provider from [`Settings`] (the CLI's `verify`).
    pub build: fn(&Settings) -> Result<Box<dyn DynProvider>, SetupError>,
    /// Makes a delivery as the provider sends it (the CLI's `send`, the
    /// tour, the tests).
    pub simulate: fn(&Simulation<'_>) -> Result<Simulated, SetupError>,
    /// The provider's inbound-mail webhook, where the crate reads it
    /// (`None`: not yet, or the provider posts no received mail).
    pub inbound: Option<&'static InboundInfo>,
}

/// What verifying an inbound delivery gives: its messages, or why it was
/// refused.
pub type InboundResult = Result<Vec<crate::InboundMessage>, Error>;

/// The provider's own check of a delivery: authenticate, then read.
type InboundCheck = Box<dyn Fn(&Request<'_>, &crate::InboundLimits) -> InboundResult + Send + Sync>;

/// A provider's inbound verification, built once from [`Settings`]
/// ([`InboundInfo::build`]): [`verify`](Self::verify) refuses a body over
/// the limit, authenticates the delivery, then reads its messages.
pub struct InboundVerify(InboundCheck);

impl InboundVerify {
    /// The verification `check` does, behind the body limit.
    pub(crate) fn new(
        check: impl Fn(&Request<'_>, &crate::InboundLimits) -> InboundResult + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(check))
    }

    /// Verifies `request`: a body over
    /// [`InboundLimits::max_body_bytes`](crate::InboundLimits::max_body_bytes)
    /// is refused (413, `body_too_large`) before it is authenticated or
    /// read; then the delivery is authenticated and its messages read
    /// within `limits`.
    ///
    /// # Errors
    ///
    /// The delivery's [`Error`]: refused when over the limit or not the
    /// provider's, or when it cannot be read.
    pub fn verify(&self, request: &Request<'_>, limits: &crate::InboundLimits) -> InboundResult {
        crate::Limits::default()
            .with_max_body_bytes(limits.max_body_bytes)
            .check_body(request.body())?;
        (self.0)(request, limits)
    }
}

impl std::fmt::Debug for InboundVerify {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InboundVerify").finish_non_exhaustive()
    }
}

/// The limits an inbound verifier is built with: the event defaults but
/// for the body, which [`InboundVerify::verify`] checks against the
/// inbound limit of each call.
pub(crate) fn inbound_build_limits() -> crate::Limits {
    crate::Limits::default().with_max_body_bytes(usize::MAX)
}

/// An inbound delivery's result once its credentials were `checked`: the
/// refusal, or the messages `parse` reads (never read before the check).
pub(crate) fn inbound_checked<T, E: Into<Error>>(
    checked: Result<T, E>,
    parse: impl FnOnce() -> Result<Vec<crate::InboundMessage>, crate::ParseError>,
) -> InboundResult {
    checked.map_err(Into::into).and_then(|_| Ok(parse()?))
}

/// Reads the control message of an authenticated delivery's body.
pub type ReadControl = fn(&[u8]) -> Option<Control>;

/// Parses an inbound delivery's messages without authenticating it.
pub type InboundParse = fn(
    &Request<'_>,
    &crate::InboundLimits,
) -> Result<Vec<crate::InboundMessage>, crate::ParseError>;

/// A provider's inbound-mail webhook in the registry: how it is
/// authenticated (not always as the provider's event webhooks), and how a
/// delivery is verified, parsed and simulated (the CLI's `--inbound`).
#[derive(Debug)]
#[non_exhaustive]
pub struct InboundInfo {
    /// How an inbound delivery is authenticated.
    pub authenticated_by: &'static str,
    /// What a delivery is: its content type and shape.
    pub shape: &'static str,
    /// Parses a delivery's messages without authenticating it.
    pub parse: InboundParse,
    /// Builds the provider's inbound verification from [`Settings`] (a
    /// [`SetupError`] when a setting is missing or unusable), once for all
    /// deliveries ([`InboundVerify::verify`]).
    pub build: fn(&Settings) -> Result<InboundVerify, SetupError>,
    /// Makes an inbound delivery as the provider sends it (`recipient` is
    /// the envelope recipient, `event_id` the message's id).
    pub simulate: fn(&Simulation<'_>) -> Result<Simulated, SetupError>,
    /// The HTTP answer the provider needs (as its event webhooks': Brevo
    /// retries only 429, SNS only 5xx).
    pub reply: fn(Answer) -> Reply,
    /// Reads what a delivery that authenticated and holds no message says
    /// about the webhook itself (SNS's subscription confirmation, which the
    /// inbound route reports as the events route does); `None` for a
    /// provider that sends no such delivery.
    pub control: Option<ReadControl>,
    /// Whether the provider's event verifier authenticates its inbound
    /// deliveries as they come, so that
    /// [`InboundProviders::with_verifier`](crate::inbound::InboundProviders::with_verifier)
    /// takes one: the same signature or credentials over the whole
    /// request, on a body the event reading accepts, and no single-use
    /// token (SNS's signed envelope is the case that needs it: its
    /// certificates are fetched by URL). Where an inbound shape is refused
    /// by the event verifier (a form without the event fields, a raw
    /// message without the signed time) or carries a token the inbound
    /// reading must spend, it is `false`, and the route is configured from
    /// [`Settings`].
    pub by_event_verifier: bool,
}

impl InboundInfo {
    /// An inbound verification by `verifier` (with the replay choice of
    /// `settings`), reading what authenticates with [`parse`](Self::parse).
    pub(crate) fn verified_by<V>(&self, settings: &Settings, verifier: V) -> InboundVerify
    where
        V: crate::scheme::Authenticate + crate::Configure + Send + Sync + 'static,
    {
        let verifier = settings
            .replay
            .apply(verifier.with_limits(inbound_build_limits()));
        let parse = self.parse;
        InboundVerify::new(move |request, limits| {
            inbound_checked(verifier.authenticate(request), || parse(request, limits))
        })
    }

    /// Builds the inbound verification from `settings` and runs it once on
    /// `request` (the CLI's `verify --inbound`). A receiver builds once
    /// instead ([`InboundProviders`](crate::inbound::InboundProviders)
    /// does).
    ///
    /// # Errors
    ///
    /// [`SetupError`] when a setting is missing or unusable; then the
    /// delivery's result, as [`InboundVerify::verify`] gives it.
    pub fn verify(
        &self,
        settings: &Settings,
        request: &Request<'_>,
        limits: &crate::InboundLimits,
    ) -> Result<InboundResult, SetupError> {
        Ok((self.build)(settings)?.verify(request, limits))
    }
}

/// A provider's configuration in text form, as the CLI's flags carry it.
/// `Debug` shows how many of each there are, never a value.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct Settings {
    /// Shared secrets: signing keys (Mailgun, Resend's `whsec_…`), URL
    /// secrets. Several for rotation.
    pub secrets: Vec<String>,
    /// Keys: public keys or certificates to verify with (SendGrid's
    /// verification key, the SNS certificate PEM), or, to simulate, the
    /// private key (base64 PKCS#8).
    pub keys: Vec<String>,
    /// Basic-auth credentials, `USER:PASS`. Several for rotation.
    pub basic_auth: Vec<String>,
    /// Accepted SNS topic ARNs (SES).
    pub topics: Vec<String>,
    /// The query parameter carrying a URL secret (default `secret`).
    pub url_param: Option<String>,
    /// The webhook URL exactly as configured at the provider, for
    /// providers that sign it (Mandrill); never rebuilt from a request.
    pub url: Option<String>,
    /// The size limits.
    pub limits: crate::Limits,
    /// The replay window.
    pub replay: ReplayChoice,
}

/// Which replay window a provider built from [`Settings`] applies.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReplayChoice {
    /// The provider's default.
    #[default]
    Default,
    /// This window.
    Window(crate::ReplayWindow),
    /// Accept any signed time (replaying captured requests):
    /// [`Configure::dangerous_disable_replay_check`](crate::Configure::dangerous_disable_replay_check).
    DangerousDisabled,
}

impl ReplayChoice {
    /// Applies the choice to `verifier`.
    #[must_use]
    pub fn apply<C: crate::Configure>(self, verifier: C) -> C {
        match self {
            Self::Default => verifier,
            Self::Window(window) => verifier.with_replay_window(window),
            Self::DangerousDisabled => verifier.dangerous_disable_replay_check(),
        }
    }
}

impl fmt::Debug for Settings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Settings")
            .field("secrets", &self.secrets.len())
            .field("keys", &self.keys.len())
            .field("basic_auth", &self.basic_auth.len())
            .field("topics", &self.topics)
            .field("url_param", &self.url_param)
            .field("has_url", &self.url.is_some())
            .field("limits", &self.limits)
            .field("replay", &self.replay)
            .finish()
    }
}

impl Settings {
    /// No settings yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies the limits and the replay choice to a verifier.
    pub(crate) fn configure<C: crate::Configure>(&self, verifier: C) -> C {
        self.replay.apply(verifier.with_limits(self.limits))
    }

    /// The first of `values`, or [`SetupError::Missing`] naming `what`.
    pub(crate) fn first<'a>(
        values: &'a [String],
        what: &'static str,
    ) -> Result<&'a str, SetupError> {
        values
            .first()
            .map(String::as_str)
            .ok_or(SetupError::Missing(what))
    }

    /// A [`BasicAuth`](crate::BasicAuth) accepting every pair of
    /// [`basic_auth`](Self::basic_auth).
    pub(crate) fn basic_auth(&self, what: &'static str) -> Result<crate::BasicAuth, SetupError> {
        let mut pairs = self.basic_auth.iter();
        let first = pairs.next().ok_or(SetupError::Missing(what))?;
        let mut auth = crate::BasicAuth::parse(first)?;
        for pair in pairs {
            let (user, pass) = pair
                .split_once(':')
                .ok_or(crate::SecretError::Malformed("USER:PASSWORD, with a colon"))?;
            auth = auth.with_credentials(user, pass)?;
        }
        Ok(auth)
    }
}

impl Settings {
    /// The [`Credentials`](crate::scheme::credentials::Credentials) of an
    /// unsigned provider: the basic-auth pairs when any are given, else the
    /// secrets as bearer tokens.
    pub(crate) fn credentials(
        &self,
        what: &'static str,
    ) -> Result<crate::scheme::credentials::Credentials, SetupError> {
        if !self.basic_auth.is_empty() {
            return Ok(self.basic_auth(what)?.into());
        }
        let mut secrets = self.secrets.iter();
        let first = secrets.next().ok_or(SetupError::Missing(what))?;
        let mut token =
            crate::scheme::bearer::BearerToken::new(&crate::Secret::from_bytes(first.as_str())?);
        for secret in secrets {
            token = token.with_token(&crate::Secret::from_bytes(secret.as_str())?);
        }
        Ok(token.into())
    }

    /// A verifier made by `new` from the first of `values` and given each
    /// of the others by `add` (rotation), every value read by `read`; or
    /// [`SetupError::Missing`] naming `what` when there is none.
    pub(crate) fn rotating<K, E, V>(
        values: &[String],
        what: &'static str,
        read: impl Fn(&str) -> Result<K, E>,
        new: impl FnOnce(K) -> V,
        add: impl Fn(V, K) -> V,
    ) -> Result<V, SetupError>
    where
        SetupError: From<E>,
    {
        let (head, rest) = values.split_first().ok_or(SetupError::Missing(what))?;
        rest.iter().try_fold(new(read(head)?), |built, value| {
            Ok(add(built, read(value)?))
        })
    }

    /// `verifier` with these settings' limits and replay choice, as the
    /// registry holds it.
    pub(crate) fn boxed<V: crate::Configure + EmailProvider + 'static>(
        &self,
        verifier: V,
    ) -> Box<dyn DynProvider> {
        Box::new(self.configure(verifier))
    }

    /// The `Authorization` header an unsigned provider sends with the
    /// credentials of [`credentials`](Self::credentials) (a wrong password
    /// or token when `wrong`).
    pub(crate) fn credentials_header(
        &self,
        what: &'static str,
        wrong: bool,
    ) -> Result<(String, String), SetupError> {
        if let Some(pair) = self.basic_auth.first() {
            return Ok(basic_header_for(pair, wrong));
        }
        let token = Self::first(&self.secrets, what)?;
        let token = if wrong { "not-the-token" } else { token };
        Ok(("Authorization".to_owned(), format!("Bearer {token}")))
    }
}

/// Why a provider could not be set up or simulated from [`Settings`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// A setting the provider needs is missing; the text names it as the
    /// CLI's flags do.
    #[error("missing {0}")]
    Missing(&'static str),
    /// A key or secret is malformed.
    #[error(transparent)]
    Secret(#[from] crate::SecretError),
    /// A key or certificate could not be used.
    #[error(transparent)]
    Verify(#[from] crate::VerifyError),
    /// The provider sends no such event.
    #[error("this provider sends no {0} event")]
    Unsupported(crate::EventKind),
    /// The provider's inbound deliveries are not authenticated as its
    /// events are ([`InboundInfo::by_event_verifier`]): configure its
    /// inbound route from [`Settings`]
    /// ([`InboundProviders::with`](crate::inbound::InboundProviders::with)),
    /// not with an event verifier.
    #[error(
        "{0}'s inbound mail is not authenticated as its events: configure it from settings (InboundProviders::with)"
    )]
    InboundNeedsSettings(&'static str),
}

/// What to simulate: one event of `kind`, as the provider would deliver it.
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Simulation<'a> {
    /// The event kind (the CLI's `--event`).
    pub kind: crate::EventKind,
    /// The recipient address in the event.
    pub recipient: &'a str,
    /// The event's id (the same across redeliveries).
    pub event_id: &'a str,
    /// When the event happened and the delivery is signed, Unix seconds.
    pub now: i64,
    /// A value unique to this delivery attempt (Mailgun signs a fresh
    /// token per attempt).
    pub attempt: &'a str,
    /// What to sign with: the first secret, key or credentials.
    pub settings: &'a Settings,
    /// Alter the delivery after signing, as an attacker would: a receiver
    /// must refuse it.
    pub tamper: bool,
    /// A body to sign instead of the sample (a captured or edited
    /// delivery, the CLI's `sign --scheme PROVIDER` and `send --body`):
    /// `kind` and `recipient` are then unused. Providers that sign inside
    /// the body (Mailgun's `signature` object, Amazon SNS's envelope,
    /// Unisender Go's `auth`) replace their signature in it.
    pub body: Option<&'a [u8]>,
}

impl<'a> Simulation<'a> {
    /// A simulation of `kind` for `recipient`, signed with `settings`.
    #[must_use]
    pub fn new(
        kind: crate::EventKind,
        recipient: &'a str,
        event_id: &'a str,
        now: i64,
        settings: &'a Settings,
    ) -> Self {
        Self {
            kind,
            recipient,
            event_id,
            now,
            attempt: event_id,
            settings,
            tamper: false,
            body: None,
        }
    }

    /// Signs `body` instead of a sample delivery.
    #[must_use]
    pub fn with_body(mut self, body: &'a [u8]) -> Self {
        self.body = Some(body);
        self
    }

    /// The body to sign: the one given, or the sample `make` builds (the
    /// sample alone depends on `kind`).
    pub(crate) fn body_or(
        &self,
        make: impl FnOnce(&Self) -> Result<Vec<u8>, SetupError>,
    ) -> Result<Vec<u8>, SetupError> {
        match self.body {
            Some(body) => Ok(body.to_vec()),
            None => make(self),
        }
    }

    /// The JSON delivery of an unsigned provider: the body to send (see
    /// [`body_or`](Self::body_or)) with the `Authorization` header of the
    /// configured credentials (wrong ones when tampered).
    pub(crate) fn with_credentials(
        &self,
        make: impl FnOnce(&Self) -> Result<Vec<u8>, SetupError>,
        needs: &'static str,
    ) -> Result<Simulated, SetupError> {
        let body = self.body_or(make)?;
        let auth = self.settings.credentials_header(needs, self.tamper)?;
        Ok(Simulated::json(body, vec![auth]))
    }

    /// Sets the per-attempt value.
    #[must_use]
    pub fn attempt(mut self, attempt: &'a str) -> Self {
        self.attempt = attempt;
        self
    }

    /// Alters the delivery after signing.
    #[must_use]
    pub fn tampered(mut self) -> Self {
        self.tamper = true;
        self
    }

    /// The event time as RFC 3339.
    pub(crate) fn rfc3339(&self) -> String {
        time::OffsetDateTime::from_unix_timestamp(self.now)
            .ok()
            .and_then(|t| {
                t.format(&time::format_description::well_known::Rfc3339)
                    .ok()
            })
            .unwrap_or_else(|| "2024-01-01T00:00:00Z".into())
    }
}

/// A simulated delivery: headers, body, and the query to append to the
/// endpoint's URL (a URL secret).
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Simulated {
    /// The request headers.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
    /// The query string to append to the endpoint URL, without `?`.
    pub query: Option<String>,
}

impl fmt::Debug for Simulated {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Headers and query may carry credentials.
        f.debug_struct("Simulated")
            .field(
                "header_names",
                &self.headers.iter().map(|(k, _)| k).collect::<Vec<_>>(),
            )
            .field("body_len", &self.body.len())
            .field("has_query", &self.query.is_some())
            .finish()
    }
}

impl Simulated {
    /// A JSON delivery with `headers` besides `Content-Type`.
    pub(crate) fn json(body: Vec<u8>, headers: Vec<(String, String)>) -> Self {
        let mut all = vec![("Content-Type".to_owned(), "application/json".to_owned())];
        all.extend(headers);
        Self {
            headers: all,
            body,
            query: None,
        }
    }

    /// The delivery, with a letter of the recipient changed when the
    /// simulation asks for a tampered one (after signing: a receiver must
    /// refuse it).
    pub(crate) fn tampered_if(mut self, sim: &Simulation<'_>) -> Self {
        if sim.tamper {
            self.alter_body(sim.recipient.as_bytes(), 0);
        }
        self
    }

    /// Changes one letter of the first `needle` in the body (`offset` bytes
    /// into it); `false` when absent.
    pub(crate) fn alter_body(&mut self, needle: &[u8], offset: usize) -> bool {
        if needle.is_empty() {
            return false;
        }
        let Some(at) = self.body.windows(needle.len()).position(|w| w == needle) else {
            return false;
        };
        match self.body.get_mut(at + offset) {
            Some(byte) => {
                *byte = if *byte == b'x' { b'y' } else { b'x' };
                true
            }
            None => false,
        }
    }
}

/// A number a provider sends as a JSON number or as a string of one, read
/// as `T` from its exact text (never through a float, so integer ids above
/// 2^53 keep every digit); anything else, or a value `T` does not parse
/// (a fraction for an integer), is `None`, so that one odd field never
/// makes the whole event unreadable. For `deserialize_with`.
pub(crate) fn lenient<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: FromStr,
{
    use serde::Deserialize as _;
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Number(n) => n.to_string().parse().ok(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// One string or a list of them, read leniently: a lone string is a list
/// of one, items that are not strings are skipped, and anything else is an
/// empty list. For `deserialize_with`.
pub(crate) fn strings<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(s) => vec![s],
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|item| match item {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    })
}

/// A string, or any other value (a list, a number) as its JSON text;
/// `null` is none. For a field that is documented as text but comes as
/// JSON too (Brevo's `tag`, a list in some deliveries). For
/// `deserialize_with`.
pub(crate) fn text_or_json<'de, D>(deserializer: D) -> Result<Option<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s),
        other => Some(other.to_string()),
    })
}

/// An object read leniently: anything else (`null`, a string, a list) is
/// an empty map, so that one odd field never makes the whole event
/// unreadable (the value stays in the event's raw JSON). For
/// `deserialize_with`.
pub(crate) fn object<'de, D>(
    deserializer: D,
) -> Result<serde_json::Map<String, serde_json::Value>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::Deserialize as _;
    // Not through `lenient_object`: that reads a `Value` and then builds
    // the map again from it, a second pass on the batch parsing path.
    Ok(match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    })
}

/// A field of type `T` read leniently: `None` when the value is not one
/// (another shape, another type), so that one odd field never makes the
/// whole event unreadable. For `deserialize_with`.
pub(crate) fn lenient_object<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::de::DeserializeOwned,
{
    use serde::Deserialize as _;
    Ok(serde_json::from_value(serde_json::Value::deserialize(deserializer)?).ok())
}

/// `fields` (an object) added to `object`, for the fields a simulated
/// event of one kind carries.
pub(crate) fn with_fields(
    mut object: serde_json::Value,
    fields: serde_json::Value,
) -> serde_json::Value {
    if let (Some(object), serde_json::Value::Object(fields)) = (object.as_object_mut(), fields) {
        object.extend(fields);
    }
    object
}

/// `Authorization: Basic …` for `pair` (`USER:PASS`), or, when `wrong`, for
/// the same user with another password (a simulated tampered delivery).
pub(crate) fn basic_header_for(pair: &str, wrong: bool) -> (String, String) {
    if wrong {
        let user = pair.split_once(':').map_or(pair, |(user, _)| user);
        basic_header(&format!("{user}:not-the-password"))
    } else {
        basic_header(pair)
    }
}

/// `Authorization: Basic …` for a `USER:PASS` pair.
pub(crate) fn basic_header(pair: &str) -> (String, String) {
    use base64::Engine as _;
    (
        "Authorization".to_owned(),
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(pair)
        ),
    )
}

/// What a verified delivery contained: one type for every provider.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct Received {
    /// The delivery's events, in order.
    pub events: Vec<EmailEvent>,
    /// A single-use token to remember (Mailgun signs a token and a
    /// timestamp, not the events): the pipeline refuses a second delivery
    /// with the same token, so a captured signature cannot carry other
    /// events.
    pub token: Option<SingleUseToken>,
    /// A control message instead of (or besides) events.
    pub control: Option<Control>,
    /// What the authentication proved, where the provider reports it.
    pub proof: Option<Proof>,
}

/// What a delivery's authentication proved: an owned
/// [`Verified`](crate::Verified).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Proof {
    /// Which configured key or credential matched (0 for the first).
    pub key_index: usize,
    /// The signed timestamp, Unix seconds, where one is signed.
    pub unix_timestamp: Option<i64>,
    /// The signed delivery id, where one is signed.
    pub id: Option<String>,
}

impl From<crate::Verified<'_>> for Proof {
    fn from(v: crate::Verified<'_>) -> Self {
        Self {
            key_index: v.key_index(),
            unix_timestamp: v.unix_timestamp(),
            id: v.id().map(str::to_owned),
        }
    }
}

impl Received {
    /// A delivery of `events`.
    #[must_use]
    pub fn events(events: Vec<EmailEvent>) -> Self {
        Self {
            events,
            ..Self::default()
        }
    }

    /// A delivery carrying only a control message.
    #[must_use]
    pub fn control(control: Control) -> Self {
        Self {
            control: Some(control),
            ..Self::default()
        }
    }

    /// Adds what the authentication proved.
    #[must_use]
    pub fn with_proof(mut self, proof: impl Into<Proof>) -> Self {
        self.proof = Some(proof.into());
        self
    }

    /// Adds the single-use token to remember.
    #[must_use]
    pub fn with_token(mut self, token: SingleUseToken) -> Self {
        self.token = Some(token);
        self
    }
}

/// A signed single-use value the pipeline remembers in its store.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SingleUseToken {
    /// The store key, named after the provider (`mailgun-token:…`), apart
    /// from events' keys.
    pub key: String,
    /// How long to remember it: the replay window's span.
    pub remember: std::time::Duration,
}

impl SingleUseToken {
    /// A token remembered under `key` for `remember`.
    #[must_use]
    pub fn new(key: String, remember: std::time::Duration) -> Self {
        Self { key, remember }
    }
}

/// A control message: something the provider says about the webhook itself.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Control {
    /// SNS asks to confirm a subscription: visit the URL if you expect it.
    /// Never confirmed automatically.
    SubscriptionConfirmation {
        /// The topic.
        topic_arn: String,
        /// The validated confirmation URL.
        subscribe_url: sns::SubscribeUrl,
    },
    /// SNS confirms an unsubscription.
    UnsubscribeConfirmation {
        /// The topic.
        topic_arn: String,
    },
    /// A test or validation delivery with no events (acknowledge it).
    Ping,
}

/// What the receiver decided about a delivery, before the provider turns
/// it into its answer ([`EmailProvider::reply`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Answer {
    /// Every event was handled now or before: acknowledge.
    Accepted,
    /// A transient failure (store, queue, certificate fetch, handler, an
    /// event held elsewhere): the provider must send again.
    RetryLater(StatusCode),
    /// Refused for good: not from the provider, malformed, or too large.
    Refused {
        /// The status the error maps to ([`Error::http_status`]).
        status: StatusCode,
        /// The error's stable code.
        code: &'static str,
        /// Whether the delivery was authenticated before it was refused (its
        /// body is not the provider's payload): the provider really sent
        /// something that will never be accepted.
        authenticated: bool,
    },
}

impl Answer {
    /// The answer for an error: [`Answer::RetryLater`] for a transient one
    /// ([`Error::is_retryable`]), else [`Answer::Refused`].
    #[must_use]
    pub fn from_error(error: &Error) -> Self {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        if error.is_retryable() {
            Self::RetryLater(status)
        } else {
            Self::Refused {
                status,
                code: error.code(),
                authenticated: matches!(error, Error::Parse(_)),
            }
        }
    }
}

/// An HTTP answer as a provider requires it: a status and, where the
/// provider reads one, a body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The body's content type, when there is a body.
    pub content_type: Option<&'static str>,
    /// The body (empty for most providers).
    pub body: &'static str,
    /// Seconds for a `Retry-After` header (a rate-limited delivery).
    pub retry_after: Option<u64>,
}

impl Reply {
    /// A bare status with no body.
    #[must_use]
    pub const fn status(status: StatusCode) -> Self {
        Self {
            status,
            content_type: None,
            body: "",
            retry_after: None,
        }
    }

    /// A status with a JSON body.
    #[must_use]
    pub const fn json(status: StatusCode, body: &'static str) -> Self {
        Self {
            status,
            content_type: Some("application/json"),
            body,
            retry_after: None,
        }
    }

    /// 200 with the JSON `body` a provider reads as its acknowledgement (a
    /// bare 2xx is retried) for [`Answer::Accepted`], else the
    /// [`standard`](Self::standard) answer: a refusal never has a body.
    #[must_use]
    pub fn acknowledged(answer: Answer, body: &'static str) -> Self {
        match answer {
            Answer::Accepted => Self::json(StatusCode::OK, body),
            other => Self::standard(other),
        }
    }

    /// The usual answer: 200 for [`Answer::Accepted`], else the answer's
    /// status, never with a body (a refusal says nothing that would help an
    /// attacker).
    #[must_use]
    pub fn standard(answer: Answer) -> Self {
        match answer {
            Answer::Accepted => Self::status(StatusCode::OK),
            Answer::RetryLater(status) | Answer::Refused { status, .. } => Self::status(status),
        }
    }
}

/// An email provider: its authentication (chosen when it is built, never
/// none), its native payload, its normalization into [`EmailEvent`]s, and
/// the answers it requires.
pub trait EmailProvider: Send + Sync {
    /// Which provider this is.
    fn id(&self) -> Provider;

    /// Authenticates `request`, then parses what it carries.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] (refuse), [`Error::Parse`] (an authenticated body
    /// that is not the provider's payload), or a transient error such as a
    /// certificate that could not be fetched.
    fn receive<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a;

    /// The HTTP answer the provider needs for `answer`. Default:
    /// [`Reply::standard`].
    fn reply(&self, answer: Answer) -> Reply {
        Reply::standard(answer)
    }

    /// The answer to a `HEAD` or `GET` on the webhook URL, for providers
    /// that probe it when it is configured; `None` (the default) answers
    /// 405.
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        let _ = method;
        None
    }

    /// Whether processing this provider's deliveries safely needs an
    /// idempotency store (Mailgun's single-use tokens). Default `false`.
    fn needs_store(&self) -> bool {
        false
    }
}

/// A future boxed for dynamic dispatch.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// [`EmailProvider`] for trait objects: every provider implements it, so a
/// set of different providers can be held and dispatched by name
/// ([`Providers`]).
pub trait DynProvider: Send + Sync {
    /// [`EmailProvider::id`].
    fn id(&self) -> Provider;
    /// [`EmailProvider::receive`], boxed.
    fn receive_boxed<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Received, Error>>;
    /// [`EmailProvider::reply`].
    fn reply(&self, answer: Answer) -> Reply;
    /// [`EmailProvider::probe`].
    fn probe(&self, method: &http::Method) -> Option<Reply>;
    /// [`EmailProvider::needs_store`].
    fn needs_store(&self) -> bool;
}

impl<P: EmailProvider> DynProvider for P {
    fn id(&self) -> Provider {
        EmailProvider::id(self)
    }
    fn receive_boxed<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> BoxFuture<'a, Result<Received, Error>> {
        Box::pin(self.receive(request))
    }
    fn reply(&self, answer: Answer) -> Reply {
        EmailProvider::reply(self, answer)
    }
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        EmailProvider::probe(self, method)
    }
    fn needs_store(&self) -> bool {
        EmailProvider::needs_store(self)
    }
}

impl EmailProvider for dyn DynProvider + '_ {
    fn id(&self) -> Provider {
        DynProvider::id(self)
    }
    fn receive<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        self.receive_boxed(request)
    }
    fn reply(&self, answer: Answer) -> Reply {
        DynProvider::reply(self, answer)
    }
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        DynProvider::probe(self, method)
    }
    fn needs_store(&self) -> bool {
        DynProvider::needs_store(self)
    }
}

impl EmailProvider for Box<dyn DynProvider> {
    fn id(&self) -> Provider {
        (**self).id()
    }
    fn receive<'a>(
        &'a self,
        request: &'a Request<'a>,
    ) -> impl Future<Output = Result<Received, Error>> + Send + 'a {
        (**self).receive_boxed(request)
    }
    fn reply(&self, answer: Answer) -> Reply {
        (**self).reply(answer)
    }
    fn probe(&self, method: &http::Method) -> Option<Reply> {
        (**self).probe(method)
    }
    fn needs_store(&self) -> bool {
        (**self).needs_store()
    }
}

/// The providers an endpoint serves, found by name: what the adapters'
/// `/webhooks/{provider}` route dispatches on.
#[derive(Default)]
#[allow(clippy::struct_field_names)] // `providers` is what the set is made of.
pub struct Providers {
    providers: Vec<Box<dyn DynProvider>>,
    /// Source allowlists by provider name.
    sources: crate::allowlist::ByProvider,
    /// The route's per-source rate limit.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    rate_limit: Option<crate::ratelimit::RateLimit>,
}

impl fmt::Debug for Providers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.providers.iter().map(|p| DynProvider::id(&**p)))
            .finish()
    }
}

impl Providers {
    /// No providers yet.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `provider`; a later provider with the same name replaces an
    /// earlier one.
    #[must_use]
    pub fn with(mut self, provider: impl EmailProvider + 'static) -> Self {
        let name = EmailProvider::id(&provider).as_str();
        self.providers
            .retain(|p| DynProvider::id(&**p).as_str() != name);
        self.sources.remove(name);
        self.providers.push(Box::new(provider));
        self
    }

    /// Adds `provider`, accepting its deliveries only from `sources` (see
    /// [`allowlist`](crate::allowlist)); the adapters refuse others with
    /// `source_not_allowed`, answered as the provider needs.
    #[must_use]
    pub fn with_sources(
        mut self,
        provider: impl EmailProvider + 'static,
        sources: crate::allowlist::SourceAllowlist,
    ) -> Self {
        let name = EmailProvider::id(&provider).as_str();
        self = self.with(provider);
        self.sources.set(name, sources);
        self
    }

    /// The source allowlist of the provider named `name`, if it has one.
    #[must_use]
    pub fn sources(&self, name: &str) -> Option<&crate::allowlist::SourceAllowlist> {
        self.sources.get(name)
    }

    /// Limits refused requests per provider and source on the adapters'
    /// route (see [`RateLimit`](crate::ratelimit::RateLimit): deliveries
    /// that authenticate are never charged): over it, a refusal is answered
    /// 429 with `Retry-After` (503 for SES, whose SNS drops a 4xx). Like a
    /// source allowlist it needs the client's address: serve axum with
    /// `into_make_service_with_connect_info::<SocketAddr>()`; without it
    /// every delivery is answered 500 `no_peer_address`.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
    #[must_use]
    pub fn with_rate_limit(mut self, limit: crate::ratelimit::RateLimit) -> Self {
        self.rate_limit = Some(limit);
        self
    }

    /// The route's rate limit, if set.
    #[cfg(any(feature = "axum", feature = "actix-web"))]
    #[cfg_attr(docsrs, doc(cfg(any(feature = "axum", feature = "actix-web"))))]
    #[must_use]
    pub fn rate_limit(&self) -> Option<&crate::ratelimit::RateLimit> {
        self.rate_limit.as_ref()
    }

    /// The provider named `name` (its kebab-case name), if configured.
    #[must_use]
    pub fn get(&self, name: &str) -> Option<&dyn DynProvider> {
        self.providers
            .iter()
            .find(|p| DynProvider::id(&**p).as_str() == name)
            .map(AsRef::as_ref)
    }

    /// The configured providers, in the order added.
    pub fn iter(&self) -> impl Iterator<Item = &dyn DynProvider> {
        self.providers.iter().map(AsRef::as_ref)
    }
}
