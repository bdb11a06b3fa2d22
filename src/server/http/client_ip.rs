//! The client's address, for rate limits: the socket peer, or, with TRUST_PROXY, the
//! X-Forwarded-For entry written by our own proxy.
//!
//! Every proxy *appends* the address it received the request from, so only the rightmost
//! entries come from proxies we run; anything to their left was written by the client and can
//! be anything. With `hops` trusted proxies in front of the app (TRUSTED_PROXY_HOPS, default 1)
//! the client's address is the `hops`-th entry from the right. When the header has fewer
//! entries than that (the request skipped an outer proxy), the leftmost entry is taken: it was
//! still written by one of our proxies. An entry that is not an IP address means the proxy
//! chain is not what the settings say, so the socket peer is used instead of trusting it.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;

/// How X-Forwarded-For is read: not at all, or trusting this many proxies (1..=10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyTrust {
    None,
    Hops(u8),
}

pub fn client_ip(headers: &HeaderMap, peer: Option<SocketAddr>, trust: ProxyTrust) -> String {
    let forwarded = match trust {
        ProxyTrust::None => None,
        ProxyTrust::Hops(hops) => forwarded_client(headers, usize::from(hops.max(1))),
    };
    forwarded
        .or_else(|| peer.map(|p| p.ip()))
        .map(|ip| ip.to_canonical().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// The entry `hops` from the right of all X-Forwarded-For lines joined in order (or the
/// leftmost when there are fewer), if it is an IP address.
fn forwarded_client(headers: &HeaderMap, hops: usize) -> Option<IpAddr> {
    let mut entries = Vec::new();
    for line in headers.get_all("x-forwarded-for") {
        // A line that is not visible ASCII cannot be trusted to split correctly.
        let line = line.to_str().ok()?;
        entries.extend(line.split(',').map(str::trim));
    }
    let chosen = entries
        .len()
        .checked_sub(hops)
        .map_or(entries.first(), |i| entries.get(i))?;
    parse_entry(chosen)
}

/// `1.2.3.4`, `2001:db8::1`, or the same with a port (`1.2.3.4:80`, `[2001:db8::1]:80`), as
/// some proxies write it.
fn parse_entry(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const PEER: &str = "192.0.2.9:5000";

    fn ip(lines: &[&str], trust: ProxyTrust) -> String {
        let mut h = HeaderMap::new();
        for l in lines {
            h.append("x-forwarded-for", HeaderValue::from_str(l).unwrap());
        }
        client_ip(&h, Some(PEER.parse().unwrap()), trust)
    }

    #[test]
    fn without_trust_the_peer_counts() {
        assert_eq!(ip(&["203.0.113.7"], ProxyTrust::None), "192.0.2.9");
        assert_eq!(client_ip(&HeaderMap::new(), None, ProxyTrust::None), "unknown");
    }

    #[test]
    fn the_rightmost_entry_is_the_one_our_proxy_wrote() {
        let one = ProxyTrust::Hops(1);
        assert_eq!(ip(&["203.0.113.7"], one), "203.0.113.7");
        assert_eq!(ip(&["6.6.6.6, 203.0.113.7"], one), "203.0.113.7", "forged first entry");
        assert_eq!(ip(&["6.6.6.6,203.0.113.7"], one), "203.0.113.7");
        assert_eq!(ip(&[], one), "192.0.2.9", "no header: the peer");
    }

    #[test]
    fn hops_count_from_the_right() {
        let two = ProxyTrust::Hops(2);
        assert_eq!(ip(&["6.6.6.6, 203.0.113.7, 10.0.0.2"], two), "203.0.113.7");
        assert_eq!(ip(&["203.0.113.7, 10.0.0.2"], two), "203.0.113.7");
        // Fewer entries than hops: the leftmost present (written by one of our proxies).
        assert_eq!(ip(&["203.0.113.7"], two), "203.0.113.7");
        assert_eq!(ip(&["203.0.113.7, 10.0.0.2"], ProxyTrust::Hops(10)), "203.0.113.7");
    }

    #[test]
    fn garbage_means_the_peer() {
        let one = ProxyTrust::Hops(1);
        for bad in [
            "not-an-ip",
            "1.2.3.4 5.6.7.8",
            "1.2.3.4, ",
            "",
            "unknown",
            "1.2.3.4.5",
            "<script>",
        ] {
            assert_eq!(ip(&[bad], one), "192.0.2.9", "{bad:?}");
        }
        // Garbage left of the chosen entry is the client's business and does not matter.
        assert_eq!(ip(&["junk, 203.0.113.7"], one), "203.0.113.7");
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_bytes(b"1.2.3.4\xff").unwrap());
        assert_eq!(client_ip(&h, Some(PEER.parse().unwrap()), one), "192.0.2.9");
    }

    #[test]
    fn several_header_lines_are_one_list_in_order() {
        let one = ProxyTrust::Hops(1);
        assert_eq!(ip(&["6.6.6.6", "203.0.113.7"], one), "203.0.113.7");
        assert_eq!(
            ip(&["6.6.6.6, 7.7.7.7", "203.0.113.7, 10.0.0.2"], ProxyTrust::Hops(2)),
            "203.0.113.7"
        );
        assert_eq!(ip(&["203.0.113.7", "10.0.0.2"], ProxyTrust::Hops(2)), "203.0.113.7");
    }

    #[test]
    fn ipv6_and_ports() {
        let one = ProxyTrust::Hops(1);
        assert_eq!(ip(&["6.6.6.6, 2001:db8::1"], one), "2001:db8::1");
        assert_eq!(
            ip(&["2001:0db8:0000::0001"], one),
            "2001:db8::1",
            "one spelling per address"
        );
        assert_eq!(ip(&["[2001:db8::1]:443"], one), "2001:db8::1");
        assert_eq!(ip(&["203.0.113.7:8080"], one), "203.0.113.7");
        assert_eq!(
            ip(&["::ffff:203.0.113.7"], one),
            "203.0.113.7",
            "IPv4-mapped is the IPv4 address"
        );
    }
}
