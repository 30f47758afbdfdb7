//! Reusable signature schemes, independent of email.
//!
//! - [`standard`]: Standard Webhooks `v1` (HMAC) and `v1a` (Ed25519), with the
//!   `svix-*` aliases.
//! - [`hmac`]: a configurable HMAC scheme, and the presets built on it:
//!   [`github`], [`slack`], [`shopify`].
//! - [`stripe`] and [`twilio`]: HMAC schemes with their own header grammar or
//!   signed content.

pub mod github;
pub mod hmac;
pub mod shopify;
pub mod slack;
pub mod standard;
pub mod stripe;
pub mod twilio;
