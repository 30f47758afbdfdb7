//! What every verifier shares: how old or new a signed timestamp may be, and
//! how much work a request may cause.
//!
//! Every verifier and provider holds one [`Policy`]; the builder methods
//! that change it are written once, in [`Configure`], and work the same on
//! all of them:
//!
//! ```
//! use std::time::Duration;
//! use email_webhooks::scheme::stripe::StripeVerifier;
//! use email_webhooks::{Configure as _, Limits, ReplayWindow, Secret};
//!
//! # fn main() -> Result<(), email_webhooks::SecretError> {
//! let verifier = StripeVerifier::new(Secret::from_bytes(b"whsec_test".to_vec())?)
//!     .with_replay_window(ReplayWindow::new(Duration::from_secs(600), Duration::from_secs(60)))
//!     .with_limits(Limits::new().with_max_body_bytes(1024 * 1024));
//! # drop(verifier); Ok(()) }
//! ```

use time::OffsetDateTime;

use crate::error::VerifyError;
use crate::limits::Limits;
use crate::replay::ReplayWindow;

/// Whether and how signed timestamps are checked, and the size limits.
///
/// Defaults ([`Policy::default`]): a [`ReplayWindow`] of five minutes each
/// way (what Standard Webhooks, Stripe and Slack recommend), and
/// [`Limits::default`]. Providers that retry with their original signed
/// time start from a wider window, documented on each provider
/// (SendGrid's and SNS's `DEFAULT_REPLAY_WINDOW`). Where a mechanism signs
/// no timestamp (basic auth, GitHub, Twilio) the window has nothing to
/// check and only the limits apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    replay: Option<ReplayWindow>,
    pub(crate) limits: Limits,
}

impl Default for Policy {
    fn default() -> Self {
        Self::with_window(ReplayWindow::default())
    }
}

impl Policy {
    /// A policy checking signed timestamps against `window`, with the
    /// default limits.
    #[must_use]
    pub fn with_window(window: ReplayWindow) -> Self {
        Self {
            replay: Some(window),
            limits: Limits::default(),
        }
    }

    /// The replay window, or `None` when the check was turned off with
    /// [`Configure::dangerous_disable_replay_check`].
    #[must_use]
    pub fn replay_window(&self) -> Option<ReplayWindow> {
        self.replay
    }

    /// The size limits.
    #[must_use]
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Checks a signed timestamp (Unix seconds) against the window.
    pub(crate) fn check_timestamp(
        &self,
        timestamp: i64,
        now: OffsetDateTime,
    ) -> Result<(), VerifyError> {
        match self.replay {
            Some(window) => window.check(timestamp, now),
            None => Ok(()),
        }
    }
}

/// The builder methods every verifier and provider shares, written once
/// over its [`Policy`].
///
/// Import it (`use email_webhooks::Configure as _;`) to call them.
pub trait Configure: Sized {
    /// The policy this verifier applies.
    fn policy(&self) -> &Policy;

    /// The policy, to change. The builder methods below are the usual way.
    fn policy_mut(&mut self) -> &mut Policy;

    /// Replaces the whole policy.
    #[must_use]
    fn with_policy(mut self, policy: Policy) -> Self {
        *self.policy_mut() = policy;
        self
    }

    /// Checks signed timestamps against `window` instead of the default.
    /// Where a provider retries with its original signed time (SendGrid,
    /// SNS), keep the window at least as long as its retries and below your
    /// idempotency store's retention, so a captured delivery is either
    /// refused or a duplicate.
    #[must_use]
    fn with_replay_window(mut self, window: ReplayWindow) -> Self {
        self.policy_mut().replay = Some(window);
        self
    }

    /// Accepts any signed timestamp, however old or new. Only for replaying
    /// captured requests: a captured delivery then verifies forever (with
    /// Mailgun, one captured signature vouches for any event data), and is
    /// processed again once your store forgets its keys.
    #[must_use]
    fn dangerous_disable_replay_check(mut self) -> Self {
        self.policy_mut().replay = None;
        self
    }

    /// Sets the size limits (default: [`Limits::default`]).
    #[must_use]
    fn with_limits(mut self, limits: Limits) -> Self {
        self.policy_mut().limits = limits;
        self
    }
}

/// Implements [`Configure`] for a type whose policy is the field `policy`.
macro_rules! configure_via_field {
    ($($ty:ty),* $(,)?) => {$(
        impl $crate::policy::Configure for $ty {
            fn policy(&self) -> &$crate::policy::Policy {
                &self.policy
            }
            fn policy_mut(&mut self) -> &mut $crate::policy::Policy {
                &mut self.policy
            }
        }
    )*};
}
pub(crate) use configure_via_field;
