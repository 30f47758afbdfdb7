//! Amazon SES event and feedback notifications, delivered through Amazon
//! SNS ([`sns`](super::sns) does the verification).
//!
//! - Authenticated by: the SNS signature (RSA, certificate from an
//!   `sns.<region>.amazonaws.com` URL).
//! - Signed: the whole SNS envelope, so the SES event inside `Message` too.
//! - Event id: the SNS `MessageId`. One SES event can name several
//!   recipients and fans out into one [`EmailEvent`] per recipient, so the
//!   idempotency key adds the recipient.
//! - Both forms are parsed: event publishing (`eventType`, from a
//!   configuration set) and identity notifications (`notificationType`).
//! - A bounce stops the address only when `bounceType` is `Permanent` (the
//!   bounces SES's own suppression list adds); `Transient` and
//!   `Undetermined` are soft bounces. A complaint whose
//!   `complaintFeedbackType` is `not-spam` (a mailbox provider correcting
//!   an earlier report) has the reject reason `other` and keeps the
//!   address.
//! - `Subscription` (SES list management: the recipient used the one-click
//!   unsubscribe header or the preference page) is an
//!   [`EventKind::Unsubscribed`] when the recipient left the list or a
//!   topic they were not opted out of, an [`EventKind::Subscribed`] when
//!   they came back to the list or to a topic, else unknown;
//!   the topics are in the description and the raw JSON. Leaving one
//!   topic stops all mail to the address in
//!   [`EmailEvent::suppression`]: where you send per topic, read the
//!   topics first.
//! - Replay window: the SNS verifier's (2 hours past by default); SNS
//!   retries resend the same signed envelope.
//! - Fan-out: at most [`Limits::max_recipients_per_event`](crate::Limits::max_recipients_per_event) recipients per
//!   event (default 100; SES itself allows 50 per message); the events of
//!   one SES event share its JSON.
//! - Acknowledgement: any 2xx within 15 seconds. SNS retries 5xx and
//!   timeouts (3 times, 20 seconds apart, by default) and discards every
//!   4xx, so a transient failure (a store, a queue, a certificate that
//!   could not be fetched) is answered 503.
//! - Setup: SNS first posts a `SubscriptionConfirmation`, signed like a
//!   notification. It is reported as a
//!   [`Control::SubscriptionConfirmation`](crate::provider::Control::SubscriptionConfirmation)
//!   with the validated URL to visit, never confirmed automatically. The
//!   plain-text notice SES then publishes ("Successfully validated SNS
//!   topic for Amazon SES event publishing.") is acknowledged with no
//!   event.
//!
//! Source: <https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html>
//! and <https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html>.
//!
//! **Inbound mail** (receipt rules): [`parse_inbound`]. A receipt rule's
//! SNS action publishes a `Received` notification with the whole message
//! in `content` (UTF-8, or base64 where the action's encoding says so;
//! SES bounces messages over 150 KB for this action); its S3 action
//! stores the message in a bucket and publishes the notification without
//! `content`, and the message is fetched from `s3://bucket/key` through
//! the caller's [`ContentSource`](crate::inbound::ContentSource). Both are
//! authenticated by the SNS signature and topic allowlist, as the events:
//! give the inbound route an [`SesVerifier`] that fetches certificates by
//! URL ([`InboundProviders::with_verifier`](crate::inbound::InboundProviders::with_verifier));
//! settings (`InboundProviders::with`) pin one certificate, which fails
//! once AWS signs with another, and SNS drops what is refused.
//! The id is the SES `mail.messageId`. One notification covers every
//! recipient of yours (`receipt.recipients`): `envelope_recipient` is the
//! first. The spam verdict is SES's `receipt.spamVerdict` (`FAIL` is
//! spam, `PASS` is not, `GRAY` and `PROCESSING_FAILED` say nothing).
//! An SNS subscription confirmation posted to the inbound URL yields no
//! message: confirm the subscription from the SNS console.
//! Source: <https://docs.aws.amazon.com/ses/latest/dg/receiving-email-notifications-contents.html>,
//! <https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-sns.html>,
//! <https://docs.aws.amazon.com/ses/latest/dg/receiving-email-action-s3.html>.

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::error::{Error, ParseError};
use crate::event::{EmailEvent, EventKind, Provider, RejectReason};
use crate::headers::Headers;
use crate::limits::Limits;
use crate::provider::sns::{
    CertificateSource, SnsCertificate, SnsEnvelope, SnsMessage, SnsVerifier, SubscribeUrl,
};
use crate::provider::timestamp;

/// What a verified SES delivery contains.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum SesOutcome {
    /// SES events, one per recipient.
    Events(Vec<EmailEvent>),
    /// SNS asks to confirm the subscription: visit `subscribe_url` if you
    /// expect it. Never confirmed automatically.
    SubscriptionConfirmation {
        /// The topic.
        topic_arn: String,
        /// The validated confirmation URL.
        subscribe_url: SubscribeUrl,
    },
    /// SNS confirms an unsubscription.
    UnsubscribeConfirmation {
        /// The topic.
        topic_arn: String,
    },
}

/// Verifies SES notifications delivered by SNS and parses them.
#[derive(Debug)]
pub struct SesVerifier<S> {
    sns: SnsVerifier<S>,
}

impl<S: CertificateSource> SesVerifier<S> {
    /// A verifier on top of an [`SnsVerifier`] (configure topics and limits
    /// there).
    #[must_use]
    pub fn new(sns: SnsVerifier<S>) -> Self {
        Self { sns }
    }

    /// Verifies a delivery, fetching the certificate if needed, and parses it.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub async fn verify_and_parse_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        now: OffsetDateTime,
    ) -> Result<SesOutcome, Error> {
        let message = self.sns.verify_at(headers, body, now).await?;
        Ok(outcome(
            message,
            &crate::policy::Configure::policy(&self.sns).limits,
        )?)
    }

    /// Verifies with a certificate you already hold, and parses.
    ///
    /// # Errors
    ///
    /// [`Error::Verify`] or [`Error::Parse`].
    pub fn verify_with_certificate_and_parse_at<H: Headers + ?Sized>(
        &self,
        headers: &H,
        body: &[u8],
        certificate: &SnsCertificate,
        now: OffsetDateTime,
    ) -> Result<SesOutcome, Error> {
        let message = self
            .sns
            .verify_with_certificate_at(headers, body, certificate, now)?;
        Ok(outcome(
            message,
            &crate::policy::Configure::policy(&self.sns).limits,
        )?)
    }
}

fn outcome(message: SnsMessage, limits: &Limits) -> Result<SesOutcome, ParseError> {
    Ok(match message {
        SnsMessage::Notification(envelope) => SesOutcome::Events(events_within(&envelope, limits)?),
        SnsMessage::SubscriptionConfirmation {
            envelope,
            subscribe_url,
        } => SesOutcome::SubscriptionConfirmation {
            topic_arn: envelope.topic_arn,
            subscribe_url,
        },
        SnsMessage::UnsubscribeConfirmation { envelope, .. } => {
            SesOutcome::UnsubscribeConfirmation {
                topic_arn: envelope.topic_arn,
            }
        }
    })
}

/// The fields of an SNS envelope that parsing reads: nothing else is
/// required, so a notification without its signature fields (or its topic)
/// still parses.
#[derive(Deserialize)]
struct LooseEnvelope {
    #[serde(rename = "Type")]
    message_type: Option<String>,
    #[serde(rename = "MessageId")]
    message_id: Option<String>,
    #[serde(rename = "Message")]
    message: Option<String>,
    #[serde(rename = "Timestamp")]
    timestamp: Option<String>,
}

/// An SNS envelope read without verifying it, with its `Message`; `None`
/// for a subscription message (it carries no SES event).
fn notification(body: &[u8]) -> Result<Option<(LooseEnvelope, String)>, ParseError> {
    let mut envelope: LooseEnvelope = serde_json::from_slice(body)
        .map_err(|e| ParseError::json("the body is not an SNS envelope", &e))?;
    match envelope.message_type.as_deref() {
        None | Some("Notification") => {}
        Some(_) => return Ok(None),
    }
    let message = envelope
        .message
        .take()
        .ok_or_else(|| ParseError::new("the SNS envelope has no Message"))?;
    Ok(Some((envelope, message)))
}

/// Parses an SNS-delivered SES body without verifying it. It needs only
/// the fields it reads (`Message`, and `MessageId`, `Timestamp` and `Type`
/// where present); subscription messages yield no events.
///
/// # Errors
///
/// [`ParseError`] when the body is not an SNS envelope carrying an SES event,
/// or the event fans out beyond [`Limits::max_recipients_per_event`](crate::Limits::max_recipients_per_event).
pub fn parse(body: &[u8]) -> Result<Vec<EmailEvent>, ParseError> {
    let Some((envelope, message)) = notification(body)? else {
        return Ok(Vec::new());
    };
    events_in(
        &message,
        envelope.message_id.as_deref(),
        envelope.timestamp.as_deref(),
        &Limits::default(),
    )
}

/// The SES events in a verified notification envelope, within the default
/// [`Limits`].
///
/// # Errors
///
/// [`ParseError`] when `Message` is not an SES event, or the event fans out
/// beyond [`Limits::max_recipients_per_event`](crate::Limits::max_recipients_per_event).
pub fn events(envelope: &SnsEnvelope) -> Result<Vec<EmailEvent>, ParseError> {
    events_within(envelope, &Limits::default())
}

/// As [`events`], within `limits`.
///
/// # Errors
///
/// As [`events`].
pub fn events_within(
    envelope: &SnsEnvelope,
    limits: &Limits,
) -> Result<Vec<EmailEvent>, ParseError> {
    events_in(
        &envelope.message,
        Some(&envelope.message_id),
        Some(&envelope.timestamp),
        limits,
    )
}

fn events_in(
    message: &str,
    message_id: Option<&str>,
    timestamp: Option<&str>,
    limits: &Limits,
) -> Result<Vec<EmailEvent>, ParseError> {
    // When a configuration set's event destination is added, SES posts
    // this plain text once to check the topic: a notice, no event.
    if message
        .trim_start()
        .starts_with("Successfully validated SNS topic for Amazon SES event publishing")
    {
        return Ok(Vec::new());
    }
    let raw: &RawValue =
        serde_json::from_str(message).map_err(|e| ParseError::json("Message is not JSON", &e))?;
    let native: SesEvent = serde_json::from_str(raw.get())
        .map_err(|e| ParseError::json("Message is not an SES event", &e))?;
    let sns_time = timestamp.and_then(timestamp::parse_text);
    normalize(&native, raw, message_id, sns_time, limits)
}

/// An SES event (event publishing) or notification (identity feedback).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesEvent {
    /// Event publishing: `Bounce`, `Complaint`, `Delivery`, `Send`,
    /// `Reject`, `Open`, `Click`, `Rendering Failure`, `DeliveryDelay`,
    /// `Subscription`, …
    pub event_type: Option<String>,
    /// Identity notifications: `Bounce`, `Complaint`, `Delivery`.
    pub notification_type: Option<String>,
    /// The message.
    #[serde(default)]
    pub mail: SesMail,
    /// Bounce details.
    pub bounce: Option<SesBounce>,
    /// Complaint details.
    pub complaint: Option<SesComplaint>,
    /// Delivery details.
    pub delivery: Option<SesDelivery>,
    /// Reject details.
    pub reject: Option<SesReject>,
    /// Open details.
    pub open: Option<SesOpenClick>,
    /// Click details.
    pub click: Option<SesOpenClick>,
    /// Rendering failure details.
    pub failure: Option<SesFailure>,
    /// Delivery delay details.
    pub delivery_delay: Option<SesDeliveryDelay>,
    /// Subscription details (SES list management): the recipient's topic
    /// preferences before and after the change (another shape is read as
    /// none; it stays in the raw JSON).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub subscription: Option<SesSubscription>,
}

/// `mail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesMail {
    /// SES's message id.
    pub message_id: Option<String>,
    /// Every recipient.
    #[serde(default)]
    pub destination: Vec<String>,
    /// Tags: name → values.
    pub tags: Option<Map<String, Value>>,
}

/// A recipient in a bounce, complaint or delay.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesRecipient {
    /// The address.
    pub email_address: String,
    /// The receiving server's diagnostic.
    pub diagnostic_code: Option<String>,
}

/// `bounce`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesBounce {
    /// `Permanent`, `Transient`, `Undetermined`.
    pub bounce_type: Option<String>,
    /// `General`, `NoEmail`, `Suppressed`, …
    pub bounce_sub_type: Option<String>,
    /// The bounced recipients.
    #[serde(default)]
    pub bounced_recipients: Vec<SesRecipient>,
}

/// `complaint`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesComplaint {
    /// The complaining recipients.
    #[serde(default)]
    pub complained_recipients: Vec<SesRecipient>,
    /// `abuse`, `fraud`, …
    pub complaint_feedback_type: Option<String>,
    /// The user agent of the feedback report (the reporting ISP's
    /// feedback loop), where the report names one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// SES's id for the feedback report.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub feedback_id: Option<String>,
}

/// `delivery`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesDelivery {
    /// The delivered recipients.
    #[serde(default)]
    pub recipients: Vec<String>,
    /// The receiving server's response.
    pub smtp_response: Option<String>,
}

/// `reject`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SesReject {
    /// Why SES rejected the message.
    pub reason: Option<String>,
}

/// `open` and `click`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesOpenClick {
    /// The browser.
    pub user_agent: Option<String>,
    /// The clicked link (clicks).
    pub link: Option<String>,
}

/// `failure` (rendering failures).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesFailure {
    /// What went wrong.
    pub error_message: Option<String>,
}

/// `deliveryDelay`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesDeliveryDelay {
    /// Why delivery is delayed.
    pub delay_type: Option<String>,
    /// The delayed recipients.
    #[serde(default)]
    pub delayed_recipients: Vec<SesRecipient>,
}

/// `subscription`, for `Subscription` events: a contact's preferences on
/// one of your SES contact lists, changed by the recipient (the
/// one-click unsubscribe header, the preference page).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesSubscription {
    /// The contact list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub contact_list: Option<String>,
    /// What made the change (`UnsubscribeHeader`, `PreferencePage`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The preferences after the change.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub new_topic_preferences: Option<SesTopicPreferences>,
    /// The preferences before it.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub old_topic_preferences: Option<SesTopicPreferences>,
}

/// A contact's topic preferences.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesTopicPreferences {
    /// Whether the contact left the whole list.
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub unsubscribe_all: Option<bool>,
    /// Each topic's status (anything but a list of them is none).
    #[serde(
        default,
        deserialize_with = "crate::provider::lenient_object",
        skip_serializing_if = "Option::is_none"
    )]
    pub topic_subscription_status: Option<Vec<SesTopicStatus>>,
}

/// One topic's status.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesTopicStatus {
    /// The topic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic_name: Option<String>,
    /// `OptIn` or `OptOut`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription_status: Option<String>,
}

impl SesSubscription {
    /// What the change is: `Some(true)` when the contact is now off the
    /// whole list or left a topic they were not opted out of before,
    /// `Some(false)` when they came back (to the list, or to a topic they
    /// were opted out of), `None` when the preferences do not say (odd
    /// shapes are read as nothing, never as a subscription).
    fn opts_out(&self) -> Option<bool> {
        let (new, old) = (
            self.new_topic_preferences.as_ref(),
            self.old_topic_preferences.as_ref(),
        );
        let is = |status: &SesTopicStatus, wanted: &str| {
            status.subscription_status.as_deref() == Some(wanted)
        };
        let was = |topic: &SesTopicStatus, wanted: &str| {
            topics(old)
                .iter()
                .any(|b| b.topic_name == topic.topic_name && is(b, wanted))
        };
        let (all_now, all_before) = (
            new.and_then(|p| p.unsubscribe_all),
            old.and_then(|p| p.unsubscribe_all),
        );
        if all_now == Some(true)
            || topics(new)
                .iter()
                .any(|t| is(t, "OptOut") && !was(t, "OptOut"))
        {
            return Some(true);
        }
        let back_to_list = all_before == Some(true) && all_now == Some(false);
        let back_to_topic = topics(new)
            .iter()
            .any(|t| is(t, "OptIn") && was(t, "OptOut"));
        (back_to_list || back_to_topic).then_some(false)
    }

    /// The event: an unsubscribe or a subscription (left unknown when the
    /// preferences do not say which).
    fn plan(&self, plan: &mut Plan) {
        let Some(out) = self.opts_out() else {
            return;
        };
        plan.kind = if out {
            EventKind::Unsubscribed
        } else {
            EventKind::Subscribed
        };
        plan.reason = out.then_some(RejectReason::Unsubscribed);
        plan.description = Some(self.describe(out));
        // The change is the contact's: with several destinations, which
        // one made it is not said.
        if plan.recipients.len() > 1 {
            plan.recipients.clear();
        }
    }

    /// One line: the list, and what the recipient left or joined.
    fn describe(&self, out: bool) -> String {
        let new = self.new_topic_preferences.as_ref();
        let list = self.contact_list.as_deref().unwrap_or("a contact list");
        if out && new.and_then(|p| p.unsubscribe_all) == Some(true) {
            return format!("unsubscribed from all of {list}");
        }
        let wanted = if out { "OptOut" } else { "OptIn" };
        let topics: Vec<&str> = topics(new)
            .iter()
            .filter(|t| t.subscription_status.as_deref() == Some(wanted))
            .filter_map(|t| t.topic_name.as_deref())
            .collect();
        let verb = if out { "opted out of" } else { "opted in to" };
        if topics.is_empty() {
            format!("{verb} {list}")
        } else {
            format!("{verb} {} in {list}", topics.join(", "))
        }
    }
}

/// The topics' statuses of `preferences`, none where it has none.
fn topics(preferences: Option<&SesTopicPreferences>) -> &[SesTopicStatus] {
    preferences
        .and_then(|p| p.topic_subscription_status.as_deref())
        .unwrap_or_default()
}

/// What one SES event becomes, before it is split per recipient.
struct Plan {
    kind: EventKind,
    reason: Option<RejectReason>,
    /// A bounce SES does not call `Permanent` (`Transient`, `Undetermined`):
    /// the address may be fine.
    soft_bounce: bool,
    description: Option<String>,
    click_url: Option<String>,
    user_agent: Option<String>,
    /// Each recipient with its receiving server's response.
    recipients: Vec<(String, Option<String>)>,
}

/// A complaint's reject reason by its feedback type: `not-spam` is a
/// mailbox provider correcting an earlier report ("does not consider the
/// message to be spam"), a complaint whose reason is not spam, which keeps
/// the address; any other is spam.
fn complaint_reason(feedback_type: Option<&str>) -> RejectReason {
    if feedback_type.is_some_and(|t| t.trim().eq_ignore_ascii_case("not-spam")) {
        RejectReason::Other
    } else {
        RejectReason::Spam
    }
}

fn plan(native: &SesEvent) -> Plan {
    let event_type = native
        .event_type
        .as_deref()
        .or(native.notification_type.as_deref())
        .unwrap_or_default();
    let destination = || {
        native
            .mail
            .destination
            .iter()
            .map(|r| (r.clone(), None))
            .collect()
    };
    let listed = |list: &[SesRecipient]| {
        list.iter()
            .map(|r| (r.email_address.clone(), r.diagnostic_code.clone()))
            .collect()
    };
    let mut plan = Plan {
        kind: EventKind::Unknown,
        reason: None,
        soft_bounce: false,
        description: None,
        click_url: None,
        user_agent: None,
        recipients: Vec::new(),
    };
    match event_type {
        "Bounce" => {
            let bounce = native.bounce.clone().unwrap_or_default();
            plan.kind = EventKind::Bounced;
            plan.reason = Some(RejectReason::Bounced);
            // Only a `Permanent` bounce stops the address (what SES's own
            // suppression list adds); `Transient` and `Undetermined` (SES
            // could not tell why) count as soft bounces.
            plan.soft_bounce = bounce.bounce_type.as_deref() != Some("Permanent");
            plan.description = Some(format!(
                "{}: {}",
                bounce.bounce_type.as_deref().unwrap_or("Undetermined"),
                bounce.bounce_sub_type.as_deref().unwrap_or("Undetermined")
            ));
            plan.recipients = listed(&bounce.bounced_recipients);
        }
        "Complaint" => {
            let complaint = native.complaint.clone().unwrap_or_default();
            plan.kind = EventKind::Complained;
            plan.reason = Some(complaint_reason(
                complaint.complaint_feedback_type.as_deref(),
            ));
            plan.description = complaint.complaint_feedback_type;
            plan.user_agent = complaint.user_agent;
            plan.recipients = listed(&complaint.complained_recipients);
        }
        "Delivery" => {
            let delivery = native.delivery.clone().unwrap_or_default();
            plan.kind = EventKind::Delivered;
            plan.recipients = delivery
                .recipients
                .into_iter()
                .map(|r| (r, delivery.smtp_response.clone()))
                .collect();
        }
        "DeliveryDelay" => {
            let delay = native.delivery_delay.clone().unwrap_or_default();
            plan.kind = EventKind::Deferred;
            plan.description = delay.delay_type;
            plan.recipients = listed(&delay.delayed_recipients);
        }
        other => {
            plan.recipients = destination();
            match other {
                "Send" => plan.kind = EventKind::Sent,
                "Reject" => {
                    plan.kind = EventKind::Rejected;
                    plan.reason = Some(RejectReason::Blocked);
                    plan.description = native.reject.as_ref().and_then(|r| r.reason.clone());
                }
                "Open" => {
                    plan.kind = EventKind::Opened;
                    plan.user_agent = native.open.as_ref().and_then(|o| o.user_agent.clone());
                }
                "Click" => {
                    plan.kind = EventKind::Clicked;
                    plan.user_agent = native.click.as_ref().and_then(|c| c.user_agent.clone());
                    plan.click_url = native.click.as_ref().and_then(|c| c.link.clone());
                }
                "Subscription" => native
                    .subscription
                    .clone()
                    .unwrap_or_default()
                    .plan(&mut plan),
                "Rendering Failure" => {
                    plan.kind = EventKind::Failed;
                    plan.description = native
                        .failure
                        .as_ref()
                        .and_then(|f| f.error_message.clone());
                }
                _ => {}
            }
        }
    }
    plan
}

/// One event per recipient (or one without a recipient when none is
/// listed, so nothing is lost). The events share one copy of the SES
/// event's JSON (`raw`); the fan-out is bounded by
/// [`Limits::max_recipients_per_event`](crate::Limits::max_recipients_per_event) before any event is built.
fn normalize(
    native: &SesEvent,
    raw: &RawValue,
    sns_message_id: Option<&str>,
    sns_time: Option<OffsetDateTime>,
    limits: &Limits,
) -> Result<Vec<EmailEvent>, ParseError> {
    let plan = plan(native);
    if plan.recipients.len() > limits.max_recipients_per_event {
        return Err(ParseError::new(
            "the SES event names more recipients than Limits::max_recipients_per_event",
        ));
    }
    let metadata = native.mail.tags.clone().unwrap_or_default();
    // What every event copies besides its recipient; with the recipients
    // bounded, the copies must stay within a small multiple of the message,
    // so hostile tags cannot multiply memory by the fan-out.
    let copied = [
        plan.description.as_deref(),
        plan.click_url.as_deref(),
        plan.user_agent.as_deref(),
        native.mail.message_id.as_deref(),
        sns_message_id,
    ]
    .iter()
    .flatten()
    .map(|s| s.len())
    .sum::<usize>()
        + serde_json::to_string(&metadata).map_or(0, |t| t.len());
    let budget = raw.get().len().saturating_mul(4).saturating_add(1 << 20);
    if copied.saturating_mul(plan.recipients.len()) > budget {
        return Err(ParseError::new(
            "the SES event's fan-out would copy more than four times its size",
        ));
    }
    let raw: Arc<RawValue> = Arc::from(raw.to_owned());
    let build = |recipient: Option<String>, mta_response: Option<String>| {
        let mut e = EmailEvent::new(Provider::Ses, plan.kind, Arc::clone(&raw));
        e.event_id = sns_message_id.map(str::to_owned);
        e.message_id.clone_from(&native.mail.message_id);
        e.timestamp = sns_time;
        e.recipient = recipient;
        e.mta_response = mta_response;
        e.reject_reason = plan.reason;
        e.soft_bounce = plan.soft_bounce;
        e.description.clone_from(&plan.description);
        e.click_url.clone_from(&plan.click_url);
        e.user_agent.clone_from(&plan.user_agent);
        e.metadata.clone_from(&metadata);
        e
    };
    if plan.recipients.is_empty() {
        return Ok(vec![build(None, None)]);
    }
    Ok(plan
        .recipients
        .into_iter()
        .map(|(r, mta)| build(Some(r), mta))
        .collect())
}

impl<S: CertificateSource> crate::provider::EmailProvider for SesVerifier<S> {
    fn id(&self) -> crate::Provider {
        crate::Provider::Ses
    }

    /// Amazon SNS retries only 5xx answers (a 4xx drops the delivery), so a
    /// rate-limited delivery is answered 503.
    fn reply(&self, answer: crate::provider::Answer) -> crate::provider::Reply {
        reply(answer)
    }

    async fn receive(
        &self,
        request: &crate::Request<'_>,
    ) -> Result<crate::provider::Received, Error> {
        use crate::provider::{Control, Proof, Received};
        let message = self
            .sns
            .verify_at(request.headers(), request.body(), request.now())
            .await?;
        // What the signature covers: the message id and the publish time.
        let proof = Proof {
            key_index: 0,
            unix_timestamp: message.unix_timestamp(),
            id: Some(message.envelope().message_id.clone()),
        };
        let limits = &crate::policy::Configure::policy(&self.sns).limits;
        Ok(match outcome(message, limits)? {
            SesOutcome::Events(events) => Received::events(events),
            SesOutcome::SubscriptionConfirmation {
                topic_arn,
                subscribe_url,
            } => Received::control(Control::SubscriptionConfirmation {
                topic_arn,
                subscribe_url,
            }),
            SesOutcome::UnsubscribeConfirmation { topic_arn } => {
                Received::control(Control::UnsubscribeConfirmation { topic_arn })
            }
        }
        .with_proof(proof))
    }
}

const NEEDS: &str = "--key K (the SNS signing certificate PEM; to send, the PKCS#8 private key from `keygen`) and --topic ARN";

/// The certificate URL simulated deliveries name: it passes the SNS URL
/// checks, and the receiver serves the test certificate for it.
pub(crate) const SIMULATED_CERT_URL: &str =
    "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-email-webhooks-test.pem";
/// The topic simulated deliveries are published to, unless
/// [`Settings::topics`](crate::provider::Settings::topics) names one.
pub(crate) const SIMULATED_TOPIC: &str = "arn:aws:sns:us-east-1:123456789012:email-webhooks-test";

fn build(
    settings: &crate::provider::Settings,
) -> Result<Box<dyn crate::provider::DynProvider>, crate::provider::SetupError> {
    use crate::provider::{Settings, SetupError};
    Settings::first(&settings.keys, NEEDS)?;
    // Fail at setup, not per request, on a certificate that is no PEM.
    for pem in &settings.keys {
        crate::provider::sns::SnsCertificate::parse(pem.as_bytes())?;
    }
    if settings.topics.is_empty() {
        return Err(SetupError::Missing(
            "--topic ARN (repeat for each accepted topic): AWS signs every account's topics \
             with the same certificates, so only the topic ties a delivery to you",
        ));
    }
    let pinned = settings
        .keys
        .iter()
        .map(|pem| {
            let sns = SnsVerifier::new(
                crate::provider::sns::FixedCertificate::new(pem.as_bytes()),
                settings.topics.clone(),
            );
            SesVerifier::new(settings.configure(sns))
        })
        .collect();
    Ok(Box::new(Pinned(pinned)))
}

/// SES with certificates given rather than fetched (the CLI, tests), one
/// verifier each: a delivery names its certificate by URL, which a PEM does
/// not carry, so each is tried in turn (rotation) and the proof names the
/// one that verified.
struct Pinned(Vec<SesVerifier<crate::provider::sns::FixedCertificate>>);

impl crate::provider::EmailProvider for Pinned {
    fn id(&self) -> crate::Provider {
        crate::Provider::Ses
    }

    fn reply(&self, answer: crate::provider::Answer) -> crate::provider::Reply {
        reply(answer)
    }

    async fn receive(
        &self,
        request: &crate::Request<'_>,
    ) -> Result<crate::provider::Received, Error> {
        use crate::error::VerifyError;
        let mut first = None;
        for (index, verifier) in self.0.iter().enumerate() {
            match verifier.receive(request).await {
                Ok(mut received) => {
                    if let Some(proof) = &mut received.proof {
                        proof.key_index = index;
                    }
                    return Ok(received);
                }
                // Another certificate may be the one that signed it: this
                // one does not match, or is expired or not valid yet (an
                // old one kept beside the new during a rotation).
                Err(Error::Verify(
                    error @ (VerifyError::InvalidSignature
                    | VerifyError::InvalidCertificate
                    | VerifyError::CertificateUnavailable),
                )) => {
                    first.get_or_insert(error);
                }
                Err(other) => return Err(other),
            }
        }
        Err(first.unwrap_or(VerifyError::InvalidSignature).into())
    }
}

/// An SES event of `kind` in a signed SNS notification; tampered: a letter
/// of the recipient.
/// The sample SES event (the SNS message) for `sim.kind`.
fn sample(sim: &crate::provider::Simulation<'_>) -> Result<Vec<u8>, crate::provider::SetupError> {
    use crate::provider::SetupError;
    use serde_json::json;
    let (to, at) = (sim.recipient, sim.rfc3339());
    let (event_type, detail_key, detail) = match sim.kind {
        EventKind::Delivered => (
            "Delivery",
            "delivery",
            json!({"timestamp": at, "recipients": [to], "smtpResponse": "250 2.6.0 Message received"}),
        ),
        EventKind::Bounced => (
            "Bounce",
            "bounce",
            json!({"bounceType": "Permanent", "bounceSubType": "General", "timestamp": at,
                   "bouncedRecipients": [{"emailAddress": to, "diagnosticCode": "smtp; 550 5.1.1 user unknown"}]}),
        ),
        EventKind::Opened => (
            "Open",
            "open",
            json!({"timestamp": at, "ipAddress": "192.0.2.1", "userAgent": "Mozilla/5.0"}),
        ),
        EventKind::Clicked => (
            "Click",
            "click",
            json!({"timestamp": at, "ipAddress": "192.0.2.1", "link": "https://example.com/", "userAgent": "Mozilla/5.0"}),
        ),
        EventKind::Complained => (
            "Complaint",
            "complaint",
            json!({"timestamp": at, "complaintFeedbackType": "abuse", "complainedRecipients": [{"emailAddress": to}]}),
        ),
        other => return Err(SetupError::Unsupported(other)),
    };
    let message = json!({
        "eventType": event_type,
        "mail": {"timestamp": at, "messageId": format!("{}-000000", sim.event_id), "source": "sender@example.com", "destination": [to]},
        detail_key: detail,
    });
    Ok(message.to_string().into_bytes())
}

fn simulate(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use crate::provider::{Settings, SetupError, Simulated};
    use base64::Engine as _;
    use serde_json::json;
    // A given body is a whole SNS envelope (a captured delivery, signed
    // again with its fields kept) or an SES event to publish.
    let given: Value = serde_json::from_slice(&sim.body_or(sample)?).map_err(|_| {
        crate::VerifyError::InvalidPayload {
            detail: "an SES delivery is a JSON object",
        }
    })?;
    let key = Settings::first(&sim.settings.keys, NEEDS)?;
    let der = base64::engine::general_purpose::STANDARD
        .decode(key.trim())
        .map_err(|_| {
            SetupError::Secret(crate::SecretError::Rejected("base64 PKCS#8 private key"))
        })?;
    let url = crate::provider::sns::SigningCertUrl::parse(SIMULATED_CERT_URL)?;
    let signer = crate::provider::sns::SnsSigner::from_pkcs8(&der, url)?;
    let topic = sim
        .settings
        .topics
        .first()
        .map_or(SIMULATED_TOPIC, String::as_str);
    let envelope = if given.get("Type").is_some() && given.get("Message").is_some() {
        given
    } else {
        json!({
            "Type": "Notification",
            "MessageId": format!("sns-{}", sim.event_id),
            "TopicArn": topic,
            "Message": given.to_string(),
            "Timestamp": sim.rfc3339(),
            "UnsubscribeURL": "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe",
        })
    };
    let field = |name: &str| {
        envelope
            .get(name)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    };
    let (message_type, message_id, topic) = (field("Type"), field("MessageId"), field("TopicArn"));
    let body = signer.sign(envelope)?;
    let mut delivery = Simulated {
        headers: vec![
            ("x-amz-sns-message-type".into(), message_type),
            ("x-amz-sns-message-id".into(), message_id),
            ("x-amz-sns-topic-arn".into(), topic),
            ("Content-Type".into(), "text/plain; charset=UTF-8".into()),
        ],
        body,
        query: None,
    };
    if sim.tamper {
        delivery.alter_body(sim.recipient.as_bytes(), 0);
    }
    Ok(delivery)
}

/// Amazon SES's registry entry.
pub(crate) static INFO: crate::provider::ProviderInfo = crate::provider::ProviderInfo {
    title: "Amazon SES",
    authenticated_by: "RSA signature of the SNS envelope from **a listed topic**, certificate from a checked `sns.<region>.amazonaws.com` URL",
    event_id: "SNS `MessageId` + recipient",
    signed: "the whole envelope",
    replay_window: "2 h past, 5 min ahead (SNS retries end within an hour)",
    parse: |request| parse(request.body()),
    needs: NEEDS,
    build,
    simulate,
    inbound: Some(&INBOUND),
};

/// A `Received` notification (email receiving), as SES publishes it.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesReceived {
    /// `Received`.
    pub notification_type: Option<String>,
    /// The message.
    #[serde(default)]
    pub mail: SesReceivedMail,
    /// The delivery: recipients, verdicts, the action.
    #[serde(default)]
    pub receipt: SesReceipt,
    /// The raw message (SNS action only).
    pub content: Option<String>,
}

/// `mail` of a `Received` notification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesReceivedMail {
    /// When SES received it.
    pub timestamp: Option<String>,
    /// The envelope sender (`MAIL FROM`).
    pub source: Option<String>,
    /// SES's id for the message (the S3 object's key, too).
    pub message_id: Option<String>,
    /// Whether `headers` was cut short (over 10 KB).
    #[serde(default)]
    pub headers_truncated: bool,
    /// The header fields, in order.
    #[serde(default)]
    pub headers: Vec<SesHeader>,
}

/// One header field.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SesHeader {
    /// The name.
    pub name: String,
    /// The value.
    pub value: String,
}

/// `receipt` of a `Received` notification.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesReceipt {
    /// The recipients of yours the message was for (`RCPT TO`).
    #[serde(default)]
    pub recipients: Vec<String>,
    /// SES's spam scan.
    pub spam_verdict: Option<SesVerdict>,
    /// The receipt rule's action that published this.
    #[serde(default)]
    pub action: SesAction,
}

/// A verdict: `PASS`, `FAIL`, `GRAY` or `PROCESSING_FAILED`.
#[derive(Debug, Clone, Default, Deserialize)]
#[non_exhaustive]
pub struct SesVerdict {
    /// The status.
    pub status: Option<String>,
}

/// The receipt rule's action.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct SesAction {
    /// `SNS` or `S3` (the others publish no message).
    #[serde(rename = "type")]
    pub action_type: Option<String>,
    /// The SNS action's encoding of `content`: `UTF-8` or `BASE64`.
    pub encoding: Option<String>,
    /// The S3 action's bucket.
    pub bucket_name: Option<String>,
    /// The S3 action's object key.
    pub object_key: Option<String>,
}

/// Parses an SNS-delivered `Received` notification without verifying it,
/// within `limits`: the message from `content`, or, for an S3 action, the
/// headers SES lists and the S3 object to fetch
/// ([`InboundMessage::pending`](crate::InboundMessage::pending)). A
/// subscription message yields none.
///
/// # Errors
///
/// [`ParseError`] when the body is not an SNS envelope carrying a
/// `Received` notification, or the message is over a limit.
pub fn parse_inbound(
    body: &[u8],
    limits: &crate::InboundLimits,
) -> Result<Vec<crate::InboundMessage>, ParseError> {
    crate::inbound::check_json_body(body, limits)?;
    let Some((_, message)) = notification(body)? else {
        return Ok(Vec::new());
    };
    Ok(vec![received(&message, limits)?])
}

/// The message in a `Received` notification's JSON.
fn received(
    message: &str,
    limits: &crate::InboundLimits,
) -> Result<crate::InboundMessage, ParseError> {
    use crate::inbound::{ContentKind, ContentRef, InboundMessage};
    use base64::Engine as _;
    crate::inbound::check_json_values(message.as_bytes())?;
    let SesReceived {
        notification_type,
        mail,
        receipt,
        content,
    } = serde_json::from_str(message)
        .map_err(|e| ParseError::json("Message is not an SES notification", &e))?;
    if notification_type.as_deref() != Some("Received") {
        return Err(ParseError::new(
            "Message is not an SES Received notification (an event notification on the inbound URL?)",
        ));
    }
    let mut inbound = if let Some(content) = content {
        let base64 = receipt
            .action
            .encoding
            .as_deref()
            .is_some_and(|e| e.eq_ignore_ascii_case("base64"));
        let raw = if base64 {
            limits.check_body(content.as_bytes())?;
            let compact: Vec<u8> = content
                .bytes()
                .filter(|b| !b.is_ascii_whitespace())
                .collect();
            base64::engine::general_purpose::STANDARD
                .decode(compact)
                .map_err(|_| ParseError::new("content is not base64"))?
        } else {
            content.into_bytes()
        };
        InboundMessage::from_mime_owned(Provider::Ses, raw, limits)?
    } else {
        let mut inbound = InboundMessage::new(Provider::Ses);
        limits.check_headers(mail.headers.len())?;
        let mut block = String::new();
        for header in &mail.headers {
            block.push_str(&header.name);
            block.push_str(": ");
            block.push_str(&header.value);
            block.push_str("\r\n");
        }
        inbound.fill_headers(&block, limits)?;
        let action = &receipt.action;
        if mail.message_id.as_deref().is_none_or(str::is_empty) {
            // The key must not depend on what is fetched.
            return Err(ParseError::new(
                "the Received notification has no mail.messageId",
            ));
        }
        match (&action.bucket_name, &action.object_key) {
            (Some(bucket), Some(key)) if !bucket.is_empty() && !key.is_empty() => {
                inbound.needs(
                    ContentRef {
                        provider: Provider::Ses,
                        url: format!("s3://{bucket}/{key}"),
                        kind: ContentKind::Message,
                        max_bytes: limits.max_body_bytes,
                    },
                    crate::inbound::fetch::read_raw_message,
                );
            }
            _ => {
                return Err(ParseError::new(
                    "the Received notification has neither content nor an S3 object",
                ));
            }
        }
        inbound
    };
    inbound.timestamp = mail.timestamp.as_deref().and_then(timestamp::parse_text);
    inbound.event_id = mail.message_id;
    inbound.envelope_sender = mail.source;
    inbound.set_envelope_recipients(receipt.recipients);
    inbound.spam_detected = receipt
        .spam_verdict
        .as_ref()
        .and_then(|v| match v.status.as_deref() {
            Some("FAIL") => Some(true),
            Some("PASS") => Some(false),
            _ => None,
        });
    Ok(inbound)
}

/// SES's inbound mail in the registry.
static INBOUND: crate::provider::InboundInfo = crate::provider::InboundInfo {
    authenticated_by: "the SNS signature from a listed topic, as the events (the receipt rule's SNS or S3 action)",
    shape: "an SNS envelope whose Message is a Received notification: the message in `content`, or an S3 object to fetch",
    parse: |request, limits| parse_inbound(request.body(), limits),
    build: |settings| {
        use futures_util::FutureExt as _;
        let mut settings = settings.clone();
        settings.limits = crate::provider::inbound_build_limits();
        let built = build(&settings)?;
        Ok(crate::provider::InboundVerify::new(
            move |request, limits| {
                match built.receive_boxed(request).now_or_never() {
                    Some(Ok(_)) => parse_inbound(request.body(), limits).map_err(Error::from),
                    Some(Err(error)) => Err(error),
                    // A fixed certificate is never waited for.
                    None => Err(crate::VerifyError::CertificateUnavailable.into()),
                }
            },
        ))
    },
    simulate: simulate_inbound,
    reply,
    control: Some(inbound_control),
    by_event_verifier: true,
};

/// What an inbound delivery without a message says about the
/// subscription, read once its signature checked out: SNS asks to confirm
/// the receipt rule's topic subscription on the inbound URL too.
fn inbound_control(body: &[u8]) -> Option<crate::provider::Control> {
    use crate::provider::Control;
    let envelope = crate::provider::sns::SnsEnvelope::parse(body).ok()?;
    match envelope.message_type.as_str() {
        "SubscriptionConfirmation" => Some(Control::SubscriptionConfirmation {
            subscribe_url: crate::provider::sns::SubscribeUrl::parse(
                envelope.subscribe_url.as_deref().unwrap_or_default(),
            )
            .ok()?,
            topic_arn: envelope.topic_arn,
        }),
        "UnsubscribeConfirmation" => Some(Control::UnsubscribeConfirmation {
            topic_arn: envelope.topic_arn,
        }),
        _ => None,
    }
}

/// A receipt rule's SNS action publishing a reply to `sim.recipient`
/// (UTF-8 content, an attachment), signed as SNS signs; tampered: a letter
/// of the recipient changed.
fn simulate_inbound(
    sim: &crate::provider::Simulation<'_>,
) -> Result<crate::provider::Simulated, crate::provider::SetupError> {
    use serde_json::json;
    if sim.body.is_some() {
        return simulate(sim);
    }
    let at = sim.rfc3339();
    let mime = format!(
        "Return-Path: <customer@example.net>\r\nFrom: A Customer <customer@example.net>\r\nTo: {to}\r\nSubject: Re: your order\r\nDate: Sun, 6 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{id}@example.net>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThanks!\r\n--b1\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename=\"receipt.txt\"\r\n\r\norder 42\r\n--b1--\r\n",
        to = sim.recipient,
        id = sim.event_id,
    );
    let topic = sim
        .settings
        .topics
        .first()
        .map_or(SIMULATED_TOPIC, String::as_str);
    let notification = json!({
        "notificationType": "Received",
        "mail": {
            "timestamp": at, "source": "customer@example.net", "messageId": sim.event_id,
            "destination": [sim.recipient], "headersTruncated": false,
            "headers": [
                {"name": "From", "value": "A Customer <customer@example.net>"},
                {"name": "To", "value": sim.recipient},
                {"name": "Subject", "value": "Re: your order"},
            ],
            "commonHeaders": {"from": ["A Customer <customer@example.net>"], "to": [sim.recipient], "subject": "Re: your order"},
        },
        "receipt": {
            "timestamp": at, "processingTimeMillis": 420, "recipients": [sim.recipient],
            "spamVerdict": {"status": "PASS"}, "virusVerdict": {"status": "PASS"},
            "spfVerdict": {"status": "PASS"}, "dkimVerdict": {"status": "GRAY"},
            "action": {"type": "SNS", "topicArn": topic, "encoding": "UTF-8"},
        },
        "content": mime,
    })
    .to_string();
    simulate(&crate::provider::Simulation {
        body: Some(notification.as_bytes()),
        ..*sim
    })
}

/// SNS's answers, for events and inbound alike: a retry is 5xx.
fn reply(answer: crate::provider::Answer) -> crate::provider::Reply {
    use crate::provider::{Answer, Reply};
    match answer {
        Answer::RetryLater(status) if status.is_client_error() => {
            Reply::status(http::StatusCode::SERVICE_UNAVAILABLE)
        }
        other => Reply::standard(other),
    }
}
