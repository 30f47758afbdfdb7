//! Source-address allowlists: accept webhooks only from the networks a
//! provider sends from. An extra check, never a replacement for a signature
//! or a secret: even published lists change.
//!
//! The client address is the socket's peer. A forwarded header
//! (`X-Forwarded-For`) is read only when the peer is one of the proxies you
//! configured as trusted ([`SourceAllowlist::with_trusted_proxies`]), never
//! by default: anyone can send the header.
//!
//! Where a provider publishes fixed ranges they ship as data, each naming
//! its source and when it was read: in [`published`], or as the provider
//! module's `published_sources()`; where it
//! publishes only a DNS name (the provider's module says which) or nothing
//! (SendGrid, Mailgun and most others), resolve or supply the ranges
//! yourself. Amazon SNS sends from all of AWS's ranges
//! (<https://ip-ranges.amazonaws.com/ip-ranges.json>): its signature, not an
//! address, is the check.

use std::net::IpAddr;

pub use ipnet::IpNet;

use crate::error::VerifyError;
use crate::headers::{Headers, Name};

static FORWARDED_FOR: Name = Name::from_static("x-forwarded-for");

/// Most `X-Forwarded-For` entries read: proxies chains are short.
const MAX_HOPS: usize = 16;

/// A set of networks deliveries may come from, and the proxies whose
/// `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SourceAllowlist {
    allowed: Vec<IpNet>,
    trusted_proxies: Vec<IpNet>,
}

/// A network that is not `address` or `address/prefix`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an ip network: {0:?}")]
pub struct InvalidNetwork(String);

fn parse_net(text: &str) -> Result<IpNet, InvalidNetwork> {
    let text = text.trim();
    text.parse::<IpNet>()
        .or_else(|_| text.parse::<IpAddr>().map(IpNet::from))
        .map_err(|_| InvalidNetwork(text.to_owned()))
}

/// An `X-Forwarded-For` entry's address: bare (`192.0.2.1`, `2001:db8::1`),
/// or with a port as some proxies write it (`192.0.2.1:5555`,
/// `[2001:db8::1]:443`, or bracketed without one).
fn forwarded_address(entry: &str) -> Option<IpAddr> {
    if let Ok(ip) = entry.parse() {
        return Some(ip);
    }
    if let Some(rest) = entry.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port_ok = after.is_empty()
            || after
                .strip_prefix(':')
                .is_some_and(|port| port.parse::<u16>().is_ok());
        return port_ok
            .then(|| host.parse::<std::net::Ipv6Addr>().ok().map(IpAddr::V6))
            .flatten();
    }
    let (host, port) = entry.split_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

fn canonical(ip: IpAddr) -> IpAddr {
    // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d.
    ip.to_canonical()
}

/// Source allowlists by provider name: what the events' and the inbound
/// routes' configurations hold.
#[derive(Debug, Clone, Default)]
pub(crate) struct ByProvider(Vec<(&'static str, SourceAllowlist)>);

impl ByProvider {
    /// Sets provider `name`'s list, replacing any earlier one.
    pub(crate) fn set(&mut self, name: &'static str, list: SourceAllowlist) {
        self.remove(name);
        self.0.push((name, list));
    }

    /// Forgets provider `name`'s list.
    pub(crate) fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| *n != name);
    }

    /// Provider `name`'s list, if it has one.
    pub(crate) fn get(&self, name: &str) -> Option<&SourceAllowlist> {
        self.0
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, list)| list)
    }

    /// How many providers have a list.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl SourceAllowlist {
    /// Accepts deliveries from `networks`.
    #[must_use]
    pub fn new(networks: impl IntoIterator<Item = IpNet>) -> Self {
        Self {
            allowed: networks.into_iter().collect(),
            trusted_proxies: Vec::new(),
        }
    }

    /// Accepts deliveries from `networks`, each `address/prefix` or a bare
    /// address.
    ///
    /// # Errors
    ///
    /// [`InvalidNetwork`] for anything else.
    pub fn parse<'a>(networks: impl IntoIterator<Item = &'a str>) -> Result<Self, InvalidNetwork> {
        Ok(Self::new(
            networks
                .into_iter()
                .map(parse_net)
                .collect::<Result<Vec<_>, _>>()?,
        ))
    }

    /// Also accepts deliveries from `networks` (a provider's ranges, plus
    /// another's).
    #[must_use]
    pub fn with(mut self, networks: impl IntoIterator<Item = IpNet>) -> Self {
        self.allowed.extend(networks);
        self
    }

    /// Believes `X-Forwarded-For` from these proxies (your load balancer):
    /// the client is then the rightmost address in the header that is not
    /// itself a trusted proxy. Without trusted proxies the header is
    /// ignored.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: impl IntoIterator<Item = IpNet>) -> Self {
        self.trusted_proxies.extend(proxies);
        self
    }

    /// The allowed networks.
    #[must_use]
    pub fn networks(&self) -> Vec<IpNet> {
        self.allowed.clone()
    }

    /// Whether `ip` is in an allowed network.
    #[must_use]
    pub fn allows(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.allowed.iter().any(|net| net.contains(&ip))
    }

    fn trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: `peer`, or, when `peer` is a trusted proxy,
    /// the rightmost `X-Forwarded-For` address that is not a trusted proxy.
    ///
    /// # Errors
    ///
    /// [`VerifyError::NoPeerAddress`] when a trusted proxy sent no usable
    /// header (absent, malformed right of the client, or only proxies; the
    /// values of several lines are read as one list): the client
    /// cannot be known. That is the proxy's configuration to fix, answered
    /// 500 so that the provider retries meanwhile, not a refusal of the
    /// provider (SNS and others give up on a 403).
    pub fn client<H: Headers + ?Sized>(
        &self,
        peer: IpAddr,
        headers: &H,
    ) -> Result<IpAddr, VerifyError> {
        let peer = canonical(peer);
        if !self.trusted(peer) {
            return Ok(peer);
        }
        // Every line of the header as one list, read from the right: each
        // trusted proxy appended its peer there, while everything further
        // left came from the client. So reading stops at the first address
        // that is not a trusted proxy, and nothing left of it (its size,
        // its encoding, a line the client sent of its own) is ever looked
        // at.
        let lines = headers
            .lookup_all(FORWARDED_FOR.as_str())
            .ok_or(VerifyError::NoPeerAddress)?;
        let entries = lines
            .iter()
            .rev()
            .flat_map(|line| line.rsplit(|byte| *byte == b','));
        for entry in entries.take(MAX_HOPS) {
            let ip = std::str::from_utf8(entry.trim_ascii())
                .ok()
                .and_then(forwarded_address)
                .ok_or(VerifyError::NoPeerAddress)?;
            let ip = canonical(ip);
            if !self.trusted(ip) {
                return Ok(ip);
            }
        }
        Err(VerifyError::NoPeerAddress)
    }

    /// Checks a delivery's source: its client address ([`client`](Self::client))
    /// must be in an allowed network.
    ///
    /// # Errors
    ///
    /// [`VerifyError::SourceNotAllowed`] (answered 403).
    pub fn check<H: Headers + ?Sized>(
        &self,
        peer: IpAddr,
        headers: &H,
    ) -> Result<IpAddr, VerifyError> {
        let client = self.client(peer, headers)?;
        if self.allows(client) {
            Ok(client)
        } else {
            Err(VerifyError::SourceNotAllowed)
        }
    }
}

/// Ranges providers publish for their webhooks, each with its source and
/// the date it was read. They change: check the source when you deploy.
pub mod published {
    use super::{SourceAllowlist, parse_net};

    /// The networks of `networks` (each known good) as an allowlist.
    pub(crate) fn list(networks: &[&str]) -> SourceAllowlist {
        SourceAllowlist::new(networks.iter().filter_map(|n| parse_net(n).ok()))
    }

    /// Resend's webhooks (delivered by Svix, US region), read 2026-12-03
    /// from <https://resend.com/docs/webhooks/introduction> ("What IPs do
    /// webhooks POST from?"). Svix's own page
    /// (<https://docs.svix.com/receiving/source-ips>) lists the IPv6 block
    /// as a /56 inside this /52.
    #[must_use]
    pub fn resend() -> SourceAllowlist {
        list(&[
            "44.228.126.217/32",
            "50.112.21.217/32",
            "52.24.126.164/32",
            "54.148.139.208/32",
            "2600:1f24:64:8000::/52",
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse()
            .unwrap_or_else(|_| unreachable!("test address"))
    }

    fn xff(value: &str) -> [(&'static str, String); 1] {
        [("X-Forwarded-For", value.to_owned())]
    }

    #[test]
    fn allows_only_listed_networks_in_either_family() -> Result<(), InvalidNetwork> {
        let list = SourceAllowlist::parse(["192.0.2.0/24", "2001:db8::/32", "198.51.100.7"])?;
        for ok in [
            "192.0.2.1",
            "192.0.2.255",
            "198.51.100.7",
            "2001:db8::1",
            "::ffff:192.0.2.9",
        ] {
            assert!(list.allows(ip(ok)), "{ok}");
        }
        for no in [
            "192.0.3.1",
            "198.51.100.8",
            "2001:db9::1",
            "10.0.0.1",
            "::1",
        ] {
            assert!(!list.allows(ip(no)), "{no}");
        }
        assert!(SourceAllowlist::parse(["192.0.2.0/33"]).is_err());
        assert!(SourceAllowlist::parse(["example.com"]).is_err());
        Ok(())
    }

    #[test]
    fn a_forwarded_header_is_ignored_unless_the_peer_is_a_trusted_proxy()
    -> Result<(), InvalidNetwork> {
        let list = SourceAllowlist::parse(["192.0.2.0/24"])?;
        // Spoofed: the attacker's own socket, a forged header naming an
        // allowed address.
        let spoofed = xff("192.0.2.10");
        assert_eq!(
            list.check(ip("203.0.113.5"), &spoofed),
            Err(VerifyError::SourceNotAllowed)
        );
        // The same header from a configured proxy is believed.
        let behind = list
            .clone()
            .with_trusted_proxies([parse_net("10.0.0.0/8")?]);
        assert_eq!(behind.check(ip("10.1.2.3"), &spoofed), Ok(ip("192.0.2.10")));
        // The rightmost address not a proxy is the client; entries further
        // left were written by the client and prove nothing.
        let chain = xff("192.0.2.10, 203.0.113.5, 10.9.9.9");
        assert_eq!(
            behind.check(ip("10.1.2.3"), &chain),
            Err(VerifyError::SourceNotAllowed)
        );
        let chain = xff("203.0.113.5, 192.0.2.10, 10.9.9.9");
        assert_eq!(behind.check(ip("10.1.2.3"), &chain), Ok(ip("192.0.2.10")));
        let none: [(&str, &str); 0] = [];
        // A trusted proxy with no usable header: the client is unknown, a
        // configuration to fix (500), not a refusal of the provider (403).
        for headers in [xff(""), xff("not-an-ip"), xff("10.0.0.1, 10.0.0.2")] {
            assert_eq!(
                behind.check(ip("10.1.2.3"), &headers),
                Err(VerifyError::NoPeerAddress)
            );
        }
        assert_eq!(
            behind.check(ip("10.1.2.3"), &none),
            Err(VerifyError::NoPeerAddress)
        );
        Ok(())
    }

    #[test]
    fn what_the_client_wrote_left_of_its_address_never_hides_it() -> Result<(), InvalidNetwork> {
        let behind = SourceAllowlist::parse(["192.0.2.0/24"])?
            .with_trusted_proxies([parse_net("10.0.0.0/8")?]);
        let proxy = ip("10.1.2.3");
        // An appending proxy passes on what the client sent, then adds the
        // client's address: bytes that are not UTF-8, an oversized prefix,
        // garbage entries. Only what lies right of the client is read.
        let mut junk = b"\xff\xfe, not-an-ip, ".to_vec();
        junk.extend(std::iter::repeat_n(b'x', 20_000));
        junk.extend_from_slice(b", 192.0.2.10");
        let headers = vec![("X-Forwarded-For", junk)];
        assert_eq!(behind.check(proxy, &headers), Ok(ip("192.0.2.10")));
        // A proxy that adds a line of its own instead of appending: the
        // lines are one list, the last line's entries rightmost.
        let lines = [
            ("X-Forwarded-For", "192.0.2.99, forged"),
            ("X-Forwarded-For", "203.0.113.5, 10.9.9.9"),
        ];
        assert_eq!(
            behind.check(proxy, &lines),
            Err(VerifyError::SourceNotAllowed)
        );
        let lines = [
            ("X-Forwarded-For", "203.0.113.5"),
            ("X-Forwarded-For", "192.0.2.10"),
        ];
        assert_eq!(behind.check(proxy, &lines), Ok(ip("192.0.2.10")));
        // The same through `http::HeaderMap`, as the adapters pass it.
        let mut map = http::HeaderMap::new();
        map.append(
            "x-forwarded-for",
            http::HeaderValue::from_static("198.51.100.1"),
        );
        map.append(
            "x-forwarded-for",
            http::HeaderValue::from_static("192.0.2.10, 10.0.0.7"),
        );
        assert_eq!(behind.check(proxy, &map), Ok(ip("192.0.2.10")));
        // Garbage right of the client is still no client.
        let headers = [("X-Forwarded-For", "192.0.2.10, not-an-ip")];
        assert_eq!(
            behind.check(proxy, &headers),
            Err(VerifyError::NoPeerAddress)
        );
        Ok(())
    }

    #[test]
    fn forwarded_entries_with_ports_and_brackets_name_their_address() {
        for (entry, expected) in [
            ("192.0.2.10", Some("192.0.2.10")),
            ("192.0.2.10:5555", Some("192.0.2.10")),
            ("2001:db8::1", Some("2001:db8::1")),
            ("[2001:db8::1]", Some("2001:db8::1")),
            ("[2001:db8::1]:443", Some("2001:db8::1")),
            ("::ffff:192.0.2.10", Some("::ffff:192.0.2.10")),
            ("192.0.2.10:", None),
            ("192.0.2.10:99999", None),
            ("[2001:db8::1]:x", None),
            ("[192.0.2.10]", None),
            ("[2001:db8::1", None),
            ("host.example:80", None),
            ("unknown", None),
            ("", None),
        ] {
            assert_eq!(forwarded_address(entry), expected.map(ip), "{entry}");
        }
        let behind = SourceAllowlist::parse(["192.0.2.0/24", "2001:db8::/32"])
            .unwrap_or_else(|_| unreachable!())
            .with_trusted_proxies([parse_net("10.0.0.0/8").unwrap_or_else(|_| unreachable!())]);
        assert_eq!(
            behind.check(ip("10.1.2.3"), &xff("203.0.113.5, 192.0.2.10:5555")),
            Ok(ip("192.0.2.10"))
        );
        assert_eq!(
            behind.check(ip("10.1.2.3"), &xff("[2001:db8::1]:443, 10.9.9.9:80")),
            Ok(ip("2001:db8::1"))
        );
    }

    #[test]
    fn published_lists_parse_completely() {
        assert_eq!(published::resend().networks().len(), 5);
        assert!(published::resend().allows(ip("44.228.126.217")));
        assert!(published::resend().allows(ip("2600:1f24:64:8000::1")));
    }
}
