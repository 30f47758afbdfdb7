//! A rate limit on refusals for the adapters' route (features `axum` or
//! `actix-web`): [`governor`]'s GCRA limiter, one per provider and source,
//! in a table of bounded size.
//!
//! Set one with [`Providers::with_rate_limit`](crate::provider::Providers::with_rate_limit).
//!
//! **Only refusals are charged.** A delivery that proves itself (its
//! signature or credentials check out) is never throttled: the provider
//! paces its own retries, and a limit on its genuine deliveries would only
//! delay them or, for providers that give up after a few tries (SNS
//! among them), lose them. Providers send from shared egress pools (all of
//! Resend from four addresses, SNS and Postmark from common ranges): were
//! refusals and genuine deliveries charged together, any
//! other customer of the provider could point a webhook at your URL, fail
//! it, and have your own deliveries answered 429. So each request is
//! verified first; one that is refused (not authenticated: forged,
//! unsigned, from outside an allowlist, oversized) is charged to its
//! provider and source, and once that budget is spent further refusals are
//! answered 429 with `Retry-After` (503 for SES, whose SNS drops a 4xx)
//! instead of 401: a prober is told to back off, and your logs and
//! metrics see one `rate_limited` in place of each refusal.
//!
//! **Sources.** The client is the socket's peer, or behind a trusted proxy
//! the address it names; a proxy that names no usable client is charged as
//! itself. An IPv4 address is its own key; an IPv6 address is keyed by its
//! /48, the smallest block a site is commonly given (one attacker holding
//! a /48 has 65,536 /64s, and per-/64 keys would let it walk past the
//! limit and fill the table); IPv4 addresses reported on a dual-stack
//! socket (`::ffff:a.b.c.d`) are IPv4.
//!
//! **Memory.** At most [`with_max_sources`](RateLimit::with_max_sources)
//! keys are tracked (100,000 by default); past it the least recently
//! charged one is forgotten. The limit never fails open: a flood of
//! distinct sources evicts only sources quieter than the ones still
//! sending, and whoever keeps sending keeps its count.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::allowlist::SourceAllowlist;
use crate::headers::Headers;

/// A provider's name and a source's key.
type Key = (Box<str>, IpAddr);

/// A limit on refused requests per provider and source: a sustained rate
/// and a burst. See the [module docs](self).
pub struct RateLimit {
    quota: Quota,
    clock: DefaultClock,
    proxies: SourceAllowlist,
    max_sources: usize,
    table: Mutex<hashlink::LruCache<Key, DefaultDirectRateLimiter>>,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("sources", &self.sources())
            .field("max_sources", &self.max_sources)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `rate` refusals per second per provider and source, with bursts of
    /// as many.
    #[must_use]
    pub fn per_second(rate: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_second(rate))
    }

    /// `rate` refusals per minute per provider and source, with bursts of
    /// as many.
    #[must_use]
    pub fn per_minute(rate: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(rate))
    }

    fn with_quota(quota: Quota) -> Self {
        let max_sources = 100_000;
        Self {
            quota,
            clock: DefaultClock::default(),
            proxies: SourceAllowlist::new([]),
            max_sources,
            table: Mutex::new(hashlink::LruCache::new(max_sources)),
        }
    }

    /// Replaces the burst: up to `burst` refusals at once from a source
    /// that was quiet, at the same sustained rate.
    #[must_use]
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.quota = self.quota.allow_burst(burst);
        self.table = Mutex::new(hashlink::LruCache::new(self.max_sources));
        self
    }

    /// The client is the socket's peer unless the peer is one of
    /// `proxies`; then it is the rightmost `X-Forwarded-For` address that
    /// is not one (as [`SourceAllowlist::client`]). Never by default.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.proxies = self.proxies.with_trusted_proxies(proxies);
        self
    }

    /// At most `max` provider and source keys are tracked (100,000 by
    /// default, at least 1): past it, the least recently charged one is
    /// forgotten.
    #[must_use]
    pub fn with_max_sources(mut self, max: usize) -> Self {
        self.max_sources = max.max(1);
        self.table = Mutex::new(hashlink::LruCache::new(self.max_sources));
        self
    }

    /// How many keys are tracked now.
    fn sources(&self) -> usize {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    /// The key a request from `peer` is charged to.
    fn key<H: Headers + ?Sized>(&self, provider: &str, peer: IpAddr, headers: &H) -> Key {
        // A trusted proxy that names no usable client (its header absent,
        // repeated, oversized or malformed) is charged as itself, so a
        // client cannot escape its limit by breaking the header.
        let client = self
            .proxies
            .client(peer, headers)
            .unwrap_or(peer)
            .to_canonical();
        let client = match client {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !(u128::MAX >> 48),
            )),
            v4 @ IpAddr::V4(_) => v4,
        };
        (provider.into(), client)
    }

    /// Charges a refused request to `provider` from `peer`: `Err` once the
    /// budget is spent, with how long to wait.
    pub(crate) fn refused<H: Headers + ?Sized>(
        &self,
        provider: &str,
        peer: IpAddr,
        headers: &H,
    ) -> Result<(), Duration> {
        let key = self.key(provider, peer, headers);
        let mut table = self.table.lock().unwrap_or_else(PoisonError::into_inner);
        let decision = if let Some(limiter) = table.get(&key) {
            limiter.check()
        } else {
            let limiter = RateLimiter::direct(self.quota);
            let decision = limiter.check();
            // Past the bound, the least recently charged key goes.
            table.insert(key, limiter);
            decision
        };
        decision.map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    const NONE: [(&str, &str); 0] = [];

    #[test]
    fn each_provider_and_source_has_its_own_budget_and_is_told_how_long_to_wait() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN);
        assert!(
            limit
                .refused("postmark", ip("192.0.2.1"), &NONE[..])
                .is_ok()
        );
        let wait = limit.refused("postmark", ip("192.0.2.1"), &NONE[..]).err();
        assert!(wait.is_some_and(|w| w > Duration::from_secs(50) && w <= Duration::from_secs(60)));
        assert!(
            limit
                .refused("postmark", ip("192.0.2.2"), &NONE[..])
                .is_ok()
        );
        // Another provider from the same address: its own budget.
        assert!(limit.refused("resend", ip("192.0.2.1"), &NONE[..]).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_48() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN);
        assert!(limit.refused("p", ip("2001:db8:1:2::1"), &NONE[..]).is_ok());
        // Another /64 of the same /48: the same budget.
        assert!(
            limit
                .refused("p", ip("2001:db8:1:ffff::9"), &NONE[..])
                .is_err()
        );
        assert!(limit.refused("p", ip("2001:db8:2::1"), &NONE[..]).is_ok());
    }

    #[test]
    fn past_its_bound_it_forgets_the_quietest_and_keeps_limiting() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN).with_max_sources(3);
        let tracked = ip("192.0.2.1");
        assert!(limit.refused("p", tracked, &NONE[..]).is_ok());
        // A flood of distinct sources, the tracked one still sending: it
        // stays over its budget, and memory stays bounded.
        for n in 0..200u8 {
            let stranger = IpAddr::from([198, 51, 100, n]);
            assert!(limit.refused("p", stranger, &NONE[..]).is_ok());
            assert!(limit.refused("p", tracked, &NONE[..]).is_err(), "after {n}");
            assert!(limit.sources() <= 3);
        }
    }

    #[test]
    fn behind_a_trusted_proxy_a_broken_header_counts_against_the_proxy() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN)
            .with_trusted_proxies(["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]);
        // The first unusable header takes the proxy's budget; every later
        // one, however it is broken, is over it.
        assert!(limit.refused("p", ip("10.0.0.1"), &NONE[..]).is_ok());
        assert!(limit.refused("p", ip("10.0.0.1"), &NONE[..]).is_err());
        for broken in ["junk", "203.0.113.5, junk", "10.0.0.9"] {
            let headers = [("x-forwarded-for", broken)];
            assert!(
                limit.refused("p", ip("10.0.0.1"), &headers[..]).is_err(),
                "{broken}"
            );
        }
        // A client the proxy does name keeps its own budget.
        assert!(
            limit
                .refused(
                    "p",
                    ip("10.0.0.1"),
                    &[("x-forwarded-for", "203.0.113.5")][..]
                )
                .is_ok()
        );
    }

    /// Regression (review): what the client writes left of its own address
    /// (an oversized prefix, a line of its own before the proxy's) once
    /// made the header unusable, so a stranger could leave its own budget
    /// for the proxy's, shared by every source behind it.
    #[test]
    fn a_client_cannot_move_its_refusals_to_the_proxys_budget() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN)
            .with_trusted_proxies(["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]);
        let oversized = format!("{}, 203.0.113.5", "1".repeat(9 * 1024));
        let prefixed = [("x-forwarded-for", oversized.as_str())];
        let repeated = [
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.5"),
        ];
        assert!(limit.refused("p", ip("10.0.0.1"), &prefixed[..]).is_ok());
        assert!(limit.refused("p", ip("10.0.0.1"), &repeated[..]).is_err());
        assert!(limit.refused("p", ip("10.0.0.1"), &prefixed[..]).is_err());
        // The proxy's own budget was never touched.
        assert!(limit.refused("p", ip("10.0.0.1"), &NONE[..]).is_ok());
    }

    /// Regression: on a dual-stack socket IPv4 proxies are reported as
    /// `::ffff:a.b.c.d`, whose /64 was `::`: every proxy with an unusable
    /// header shared one budget.
    #[test]
    fn ipv4_proxies_on_a_dual_stack_socket_keep_their_own_budgets() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN)
            .with_trusted_proxies(["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]);
        assert!(limit.refused("p", ip("::ffff:10.0.0.1"), &NONE[..]).is_ok());
        assert!(limit.refused("p", ip("::ffff:10.0.0.2"), &NONE[..]).is_ok());
        assert!(
            limit
                .refused("p", ip("::ffff:10.0.0.1"), &NONE[..])
                .is_err()
        );
        // The same proxy reported either way is one source.
        assert!(limit.refused("p", ip("10.0.0.2"), &NONE[..]).is_err());
    }
}
