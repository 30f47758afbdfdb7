//! Whether an event means "stop mailing this address": the first thing most
//! receivers do with bounces, complaints and unsubscribes.
//!
//! ```
//! use email_webhooks::{EmailEvent, Suppression, SoftBouncePolicy};
//!
//! fn on_event(event: &EmailEvent, soft_bounces_in_a_row: u32) -> bool {
//!     // `true`: add the recipient to your suppression list.
//!     match event.suppression() {
//!         Suppression::Stop(_) => true,
//!         Suppression::SoftBounce => SoftBouncePolicy::default().stops_after(soft_bounces_in_a_row + 1),
//!         _ => false,
//!     }
//! }
//! ```

use crate::event::{EmailEvent, EventKind, RejectReason};

/// What an event means for mailing its recipient again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Suppression {
    /// Stop mailing the address, for this reason.
    Stop(StopReason),
    /// A temporary failure (deferred, soft bounce): count it, and stop only
    /// after several in a row ([`SoftBouncePolicy`]). Providers report a
    /// deferral for each attempt they retry (SendGrid's `deferred` with its
    /// `attempt`, Mailgun's temporary `failed`), so count at most one per
    /// message ([`EmailEvent::message_id`]) and start again at a delivery:
    /// one greylisted message retried three times is one soft bounce.
    SoftBounce,
    /// Nothing to change.
    Keep,
}

/// Why an address should not be mailed again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopReason {
    /// The address bounced permanently (or the provider drops mail to an
    /// address that did).
    HardBounce,
    /// The recipient reported the mail as spam.
    Complaint,
    /// The recipient unsubscribed.
    Unsubscribe,
    /// The provider says the address is invalid.
    Invalid,
}

/// How many soft bounces in a row mean "stop mailing".
///
/// Default: 3. A mailbox that is full or a server that defers on three
/// messages in a row (counted once per message, however many attempts the
/// provider reports), each retried by the provider for hours, is unlikely
/// to accept the next one; raise it for transactional mail you must not
/// lose, lower it to protect your sender reputation sooner.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftBouncePolicy {
    /// The number of soft bounces in a row after which to stop.
    pub limit: u32,
}

impl Default for SoftBouncePolicy {
    fn default() -> Self {
        Self { limit: 3 }
    }
}

impl SoftBouncePolicy {
    /// Whether `soft_bounces_in_a_row` (this one included) means stop.
    #[must_use]
    pub fn stops_after(&self, soft_bounces_in_a_row: u32) -> bool {
        soft_bounces_in_a_row >= self.limit.max(1)
    }
}

impl EmailEvent {
    /// Whether this event means "stop mailing the recipient": hard bounces,
    /// spam complaints (not a report whose reason is
    /// [`RejectReason::Other`]: SES's `not-spam` correction) and
    /// unsubscribes stop at once (as do the provider's
    /// refusals for those reasons or an invalid address); deferrals, and
    /// bounces the provider classifies as temporary
    /// ([`soft_bounce`](EmailEvent::soft_bounce)), are soft bounces, to count
    /// ([`SoftBouncePolicy`]); everything else keeps the address.
    #[must_use]
    pub fn suppression(&self) -> Suppression {
        match (self.kind, self.reject_reason) {
            // The provider says this bounce is temporary.
            (EventKind::Bounced, _) if self.soft_bounce => Suppression::SoftBounce,
            (EventKind::Bounced, Some(RejectReason::Invalid)) => {
                Suppression::Stop(StopReason::Invalid)
            }
            // Not sent because the address is on the provider's complaint
            // or unsubscribe list (Mailgun's `suppress-complaint`,
            // `suppress-unsubscribe` failures): stop for that reason.
            (EventKind::Bounced, Some(RejectReason::Spam)) => {
                Suppression::Stop(StopReason::Complaint)
            }
            (EventKind::Bounced, Some(RejectReason::Unsubscribed)) => {
                Suppression::Stop(StopReason::Unsubscribe)
            }
            (EventKind::Bounced, _) => Suppression::Stop(StopReason::HardBounce),
            // A report that says the mail is not spam (SES's `not-spam`
            // feedback type) corrects an earlier one: keep the address.
            (EventKind::Complained, Some(RejectReason::Other)) => Suppression::Keep,
            (EventKind::Complained, _) => Suppression::Stop(StopReason::Complaint),
            (EventKind::Unsubscribed, _) => Suppression::Stop(StopReason::Unsubscribe),
            (EventKind::Rejected, Some(reason)) => match reason {
                RejectReason::Bounced => Suppression::Stop(StopReason::HardBounce),
                RejectReason::Invalid => Suppression::Stop(StopReason::Invalid),
                RejectReason::Spam => Suppression::Stop(StopReason::Complaint),
                RejectReason::Unsubscribed => Suppression::Stop(StopReason::Unsubscribe),
                _ => Suppression::Keep,
            },
            (EventKind::Deferred, _) => Suppression::SoftBounce,
            _ => Suppression::Keep,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::Provider;

    fn event(kind: EventKind, reason: Option<RejectReason>) -> EmailEvent {
        let raw = serde_json::value::RawValue::from_string("{}".to_owned())
            .unwrap_or_else(|_| unreachable!("valid JSON"));
        let mut e = EmailEvent::new(Provider::Postmark, kind, raw);
        e.reject_reason = reason;
        e
    }

    #[test]
    fn stops_for_hard_bounces_complaints_unsubscribes_and_invalid_addresses() {
        use RejectReason as R;
        let cases = [
            (
                EventKind::Bounced,
                Some(R::Bounced),
                Suppression::Stop(StopReason::HardBounce),
            ),
            (
                EventKind::Bounced,
                None,
                Suppression::Stop(StopReason::HardBounce),
            ),
            (
                EventKind::Bounced,
                Some(R::Invalid),
                Suppression::Stop(StopReason::Invalid),
            ),
            (
                EventKind::Bounced,
                Some(R::Spam),
                Suppression::Stop(StopReason::Complaint),
            ),
            (
                EventKind::Bounced,
                Some(R::Unsubscribed),
                Suppression::Stop(StopReason::Unsubscribe),
            ),
            (
                EventKind::Complained,
                Some(R::Spam),
                Suppression::Stop(StopReason::Complaint),
            ),
            (
                EventKind::Unsubscribed,
                None,
                Suppression::Stop(StopReason::Unsubscribe),
            ),
            (
                EventKind::Rejected,
                Some(R::Bounced),
                Suppression::Stop(StopReason::HardBounce),
            ),
            (
                EventKind::Rejected,
                Some(R::Invalid),
                Suppression::Stop(StopReason::Invalid),
            ),
            (
                EventKind::Rejected,
                Some(R::Spam),
                Suppression::Stop(StopReason::Complaint),
            ),
            (
                EventKind::Rejected,
                Some(R::Unsubscribed),
                Suppression::Stop(StopReason::Unsubscribe),
            ),
            (EventKind::Rejected, Some(R::Blocked), Suppression::Keep),
            (EventKind::Rejected, None, Suppression::Keep),
            (EventKind::Deferred, Some(R::Other), Suppression::SoftBounce),
            (
                EventKind::Complained,
                None,
                Suppression::Stop(StopReason::Complaint),
            ),
            (EventKind::Complained, Some(R::Other), Suppression::Keep),
            (EventKind::Delivered, None, Suppression::Keep),
            (EventKind::Opened, None, Suppression::Keep),
            (EventKind::Subscribed, None, Suppression::Keep),
            (EventKind::Failed, None, Suppression::Keep),
            (EventKind::Unknown, None, Suppression::Keep),
        ];
        for (kind, reason, expected) in cases {
            assert_eq!(
                event(kind, reason).suppression(),
                expected,
                "{kind} {reason:?}"
            );
        }
    }

    #[test]
    fn soft_bounces_stop_at_the_limit() {
        let policy = SoftBouncePolicy::default();
        assert!(!policy.stops_after(1) && !policy.stops_after(2));
        assert!(policy.stops_after(3) && policy.stops_after(4));
        // A limit of 0 is read as 1: the first soft bounce stops.
        assert!(SoftBouncePolicy { limit: 0 }.stops_after(1));
    }
}
