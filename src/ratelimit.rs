//! Per-source rate limits for the adapters' route (features `axum` or
//! `actix-web`), on [`governor`]'s GCRA limiter keyed by the client address.
//!
//! Set one with [`Providers::with_rate_limit`](crate::provider::Providers::with_rate_limit).
//! A delivery over the limit is answered 429 with `Retry-After` through the
//! provider's reply (Amazon SNS drops a delivery answered 4xx, so SES is
//! answered 503 instead; both are retried later). The limiter never drops a
//! delivery by failing: when it tracks more sources than its bound, it lets
//! the delivery through (fails open). A delivery from a trusted proxy that
//! names no usable client (`X-Forwarded-For` absent, repeated, oversized or
//! malformed) counts against the proxy's own address, so breaking the
//! header never escapes the limit.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use ipnet::IpNet;

use crate::allowlist::SourceAllowlist;
use crate::headers::Headers;

/// A per-source limit: a sustained rate and a burst, per client address.
pub struct RateLimit {
    limiter: DefaultKeyedRateLimiter<IpAddr>,
    quota: Quota,
    clock: DefaultClock,
    proxies: SourceAllowlist,
    max_sources: usize,
    /// When idle sources were last forgotten (milliseconds since `epoch`).
    pruned: std::sync::atomic::AtomicU64,
    epoch: std::time::Instant,
}

impl std::fmt::Debug for RateLimit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("sources", &self.limiter.len())
            .field("max_sources", &self.max_sources)
            .finish_non_exhaustive()
    }
}

impl RateLimit {
    /// `rate` deliveries per second per source, with bursts of as many.
    #[must_use]
    pub fn per_second(rate: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_second(rate))
    }

    /// `rate` deliveries per minute per source, with bursts of as many.
    #[must_use]
    pub fn per_minute(rate: NonZeroU32) -> Self {
        Self::with_quota(Quota::per_minute(rate))
    }

    fn with_quota(quota: Quota) -> Self {
        Self {
            limiter: RateLimiter::keyed(quota),
            quota,
            clock: DefaultClock::default(),
            proxies: SourceAllowlist::new([]),
            max_sources: 100_000,
            pruned: std::sync::atomic::AtomicU64::new(0),
            epoch: std::time::Instant::now(),
        }
    }

    /// Replaces the burst: up to `burst` deliveries at once from a source
    /// that was quiet, at the same sustained rate.
    #[must_use]
    pub fn with_burst(mut self, burst: NonZeroU32) -> Self {
        self.quota = self.quota.allow_burst(burst);
        self.limiter = RateLimiter::keyed(self.quota);
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

    /// At most `max` sources are tracked (100,000 by default; an IPv6
    /// client counts as its /64): past it, idle ones are forgotten (at most
    /// once a second), and while all are recent, deliveries pass unlimited
    /// (memory stays bounded, nothing is dropped: the limit fails open).
    #[must_use]
    pub fn with_max_sources(mut self, max: usize) -> Self {
        self.max_sources = max;
        self
    }

    /// Checks a delivery from `peer`: `Err` carries how long to wait.
    pub(crate) fn check<H: Headers + ?Sized>(
        &self,
        peer: IpAddr,
        headers: &H,
    ) -> Result<(), Duration> {
        // A trusted proxy that names no usable client (its header absent,
        // repeated, oversized or malformed): the proxy's own address is the
        // bucket, so a client cannot escape its limit by breaking the
        // header.
        let client = self.proxies.client(peer, headers).unwrap_or(peer);
        // An IPv6 client is its /64: one subscriber holds a whole /64, so
        // per-address keys would let it walk past the limit.
        let client = match client {
            IpAddr::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
                u128::from(v6) & !u128::from(u64::MAX),
            )),
            v4 @ IpAddr::V4(_) => v4,
        };
        if self.limiter.len() >= self.max_sources {
            // Forget idle sources, at most once a second (it walks the map).
            let now = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
            let last = self.pruned.load(std::sync::atomic::Ordering::Relaxed);
            if now.saturating_sub(last) >= 1_000
                && self
                    .pruned
                    .compare_exchange(
                        last,
                        now,
                        std::sync::atomic::Ordering::Relaxed,
                        std::sync::atomic::Ordering::Relaxed,
                    )
                    .is_ok()
            {
                self.limiter.retain_recent();
                self.limiter.shrink_to_fit();
            }
            if self.limiter.len() >= self.max_sources {
                return Ok(());
            }
        }
        self.limiter
            .check_key(&client)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|_| unreachable!())
    }

    #[test]
    fn each_source_has_its_own_budget_and_is_told_how_long_to_wait() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN);
        let none: [(&str, &str); 0] = [];
        assert!(limit.check(ip("192.0.2.1"), &none[..]).is_ok());
        let wait = limit.check(ip("192.0.2.1"), &none[..]).err();
        assert!(wait.is_some_and(|w| w > Duration::from_secs(50) && w <= Duration::from_secs(60)));
        assert!(limit.check(ip("192.0.2.2"), &none[..]).is_ok());
    }

    #[test]
    fn an_ipv6_client_is_limited_by_its_64() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN);
        let none: [(&str, &str); 0] = [];
        assert!(limit.check(ip("2001:db8:1:2::1"), &none[..]).is_ok());
        assert!(limit.check(ip("2001:db8:1:2:ffff::9"), &none[..]).is_err());
        assert!(limit.check(ip("2001:db8:1:3::1"), &none[..]).is_ok());
    }

    #[test]
    fn it_fails_open_past_its_bound() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN).with_max_sources(2);
        let none: [(&str, &str); 0] = [];
        assert!(limit.check(ip("192.0.2.1"), &none[..]).is_ok());
        assert!(limit.check(ip("192.0.2.2"), &none[..]).is_ok());
        // Two recent sources tracked: a third is let through, untracked,
        // as often as it comes (so is everyone while the bound is full).
        for _ in 0..3 {
            assert!(limit.check(ip("192.0.2.3"), &none[..]).is_ok());
        }
        assert_eq!(limit.limiter.len(), 2, "memory stays bounded");
    }

    #[test]
    fn behind_a_trusted_proxy_a_broken_header_counts_against_the_proxy() {
        let limit = RateLimit::per_minute(NonZeroU32::MIN)
            .with_trusted_proxies(["10.0.0.0/8".parse().unwrap_or_else(|_| unreachable!())]);
        let none: [(&str, &str); 0] = [];
        let oversized = format!("{}, 203.0.113.5", "1".repeat(9 * 1024));
        let repeated = [
            ("x-forwarded-for", "198.51.100.1"),
            ("x-forwarded-for", "203.0.113.5"),
        ];
        // The first unusable header takes the proxy's budget; every later
        // one, however it is broken, is over it.
        assert!(limit.check(ip("10.0.0.1"), &none[..]).is_ok());
        assert!(limit.check(ip("10.0.0.1"), &none[..]).is_err());
        assert!(
            limit
                .check(ip("10.0.0.1"), &[("x-forwarded-for", "junk")][..])
                .is_err()
        );
        assert!(
            limit
                .check(
                    ip("10.0.0.1"),
                    &[("x-forwarded-for", oversized.as_str())][..]
                )
                .is_err()
        );
        assert!(limit.check(ip("10.0.0.1"), &repeated[..]).is_err());
        // A client the proxy does name keeps its own budget.
        assert!(
            limit
                .check(ip("10.0.0.1"), &[("x-forwarded-for", "203.0.113.5")][..])
                .is_ok()
        );
    }
}
