//! Where the app may send requests to addresses an admin typed in (the host app's webhook
//! endpoints). Without a guard, anyone holding an admin session could register
//! `http://169.254.169.254/…` or `http://10.0.0.5:5432/` and make the server probe the network it
//! sits in (server-side request forgery), reading the answers' status codes in the delivery log.
//!
//! Two checks, because either alone can be dodged: a URL whose host is an address literal (or
//! `localhost`) is refused when it is registered and again when it is sent; a host name is
//! resolved by our own resolver when the request is made, which drops every non-public address,
//! so a name that resolves (or later rebinds) to an internal address never gets a connection.
//! `HOST_WEBHOOKS_ALLOW_PRIVATE=true` turns both off, for a host app on the same private network
//! and for local development and tests.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

/// Which addresses outgoing webhooks may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Destinations {
    /// Public internet addresses only (the default).
    #[default]
    PublicOnly,
    /// Anything, private and loopback included (`HOST_WEBHOOKS_ALLOW_PRIVATE=true`).
    Any,
}

impl Destinations {
    /// Why a URL's host may not be used, when it is an address literal or a local name this
    /// policy refuses; `None` for a name (checked when it is resolved) or an allowed address.
    pub fn refuses_host(self, url: &reqwest::Url) -> Option<&'static str> {
        if self == Destinations::Any {
            return None;
        }
        let host = url.host_str()?;
        // The URL parser has already normalised address literals (`0x7f.1` is `127.0.0.1`);
        // IPv6 ones keep their brackets.
        let literal = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
        if let Ok(ip) = literal.parse::<IpAddr>() {
            return (!is_public(ip)).then_some(PRIVATE);
        }
        let name = host.trim_end_matches('.').to_ascii_lowercase();
        (name == "localhost" || name.ends_with(".localhost")).then_some(PRIVATE)
    }

    /// A client builder whose name resolution follows this policy.
    pub fn client_builder(self) -> reqwest::ClientBuilder {
        let builder = reqwest::Client::builder();
        match self {
            Destinations::Any => builder,
            Destinations::PublicOnly => builder.dns_resolver(Arc::new(PublicOnlyResolver)),
        }
    }
}

/// The one message for every refusal: the address itself is not repeated into logs or pages.
pub const PRIVATE: &str = "the address is private, loopback or reserved";

/// Whether a request failed because `PublicOnlyResolver` refused every address of its host.
pub fn refused_by_resolver(error: &reqwest::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = source {
        if e.to_string() == PRIVATE {
            return true;
        }
        source = e.source();
    }
    false
}

/// Resolves with the system resolver, then keeps only public addresses.
struct PublicOnlyResolver;

impl reqwest::dns::Resolve for PublicOnlyResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let public: Vec<SocketAddr> = all.into_iter().filter(|a| is_public(a.ip())).collect();
            if public.is_empty() {
                return Err(PRIVATE.into());
            }
            Ok(Box::new(public.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// An address on the public internet: not loopback, private, link-local, shared (CGNAT),
/// multicast, documentation, benchmarking or reserved, and for IPv6 the same of any IPv4 address
/// it embeds (mapped, NAT64, 6to4).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let special = ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_unspecified()
        || ip.is_multicast()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier-grade NAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved
    !special
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let s = ip.segments();
    let embedded = |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s[0] {
        // NAT64 (64:ff9b::/96): the IPv4 address it reaches.
        0x0064 if s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] => is_public_v4(embedded(s[6], s[7])),
        // 6to4 (2002::/16): the IPv4 address of the relay's far end.
        0x2002 => is_public_v4(embedded(s[1], s[2])),
        _ => {
            let special = ip.is_loopback()
                || ip.is_unspecified()
                || ip.is_multicast()
                || s[0] & 0xfe00 == 0xfc00 // unique local
                || s[0] & 0xffc0 == 0xfe80 // link-local
                || s[0] & 0xffc0 == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || (s[0] == 0x2001 && s[1] == 0) // Teredo
                || (s[0] == 0x0100 && s[1..4] == [0, 0, 0]) // discard
                || s[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated) and ::/96
            !special
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        for public in [
            "1.1.1.1",
            "8.8.8.8",
            "100.128.0.1",
            "198.20.0.1",
            "2606:4700::1111",
            "::ffff:1.1.1.1",
            "64:ff9b::808:808",
            "2002:0101:0101::1",
        ] {
            assert!(is_public(public.parse().unwrap()), "{public}");
        }
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "0.1.2.3",
            "192.0.0.8",
            "198.18.0.1",
            "224.0.0.1",
            "240.0.0.1",
            "255.255.255.255",
            "192.0.2.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "2001:db8::1",
            "2001::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::127.0.0.1",
            "64:ff9b::a00:1",
            "2002:0a00:0001::1",
            "100::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private}");
        }
    }

    #[test]
    fn hosts() {
        let p = Destinations::PublicOnly;
        let refused = |u: &str| p.refuses_host(&reqwest::Url::parse(u).unwrap()).is_some();
        for bad in [
            "http://127.0.0.1:8080/x",
            "http://[::1]/",
            "http://10.0.0.5:5432/",
            "http://169.254.169.254/latest/meta-data",
            "http://localhost/",
            "http://LOCALHOST./",
            "http://api.localhost/",
            "http://2130706433/", // 127.0.0.1 as one number: the URL parser normalises it
            "http://0x7f.1/",
            "http://[::ffff:7f00:1]/",
        ] {
            assert!(refused(bad), "{bad}");
        }
        for ok in [
            "https://atlas.example.com/hooks",
            "http://1.1.1.1/",
            "https://[2606:4700::1111]/",
        ] {
            assert!(!refused(ok), "{ok}");
        }
        assert!(Destinations::Any
            .refuses_host(&reqwest::Url::parse("http://127.0.0.1/").unwrap())
            .is_none());
    }
}
