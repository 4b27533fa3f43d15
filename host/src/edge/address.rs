//! Who a client is: the peer's address, or, behind a proxy iohost trusts
//! (`server.trusted_proxies`), the address that proxy forwarded in `X-Forwarded-For`.
//! Per-address limits count IPv6 clients by their /64 network: one host can use a whole /64.

use std::net::IpAddr;

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The proxies whose `X-Forwarded-For` iohost believes.
#[derive(Debug, Clone, Default)]
pub struct Proxies(Vec<IpNet>);

impl Proxies {
    /// Trusts the proxies in `networks` (`server.trusted_proxies`, parsed by the config).
    pub fn new(networks: Vec<IpNet>) -> Self {
        Self(networks)
    }

    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client behind a request from `peer`: walking `X-Forwarded-For` from the right
    /// (nearest hop first) while the hop is a trusted proxy, the first address that is not.
    /// A peer iohost does not trust is the client, whatever it claims.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            let Some(ip) = hop_address(hop) else {
                // Not an address: the proxy that added it is the last one we can vouch for.
                return client;
            };
            client = ip.to_canonical();
            if !self.trusts(client) {
                return client;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry's address: `1.2.3.4`, `2001:db8::1`, or with a port as some
/// proxies write it (`1.2.3.4:5678`, `[2001:db8::1]:443`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn forwarded(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert("x-forwarded-for", value.parse().expect("header"));
        headers
    }

    #[test]
    fn only_trusted_proxies_may_name_the_client() {
        let net = |s: &str| s.parse::<IpNet>().expect("network");
        let proxies = Proxies::new(vec![net("10.0.0.0/8"), net("192.168.1.1/32")]);
        let ip = |s: &str| s.parse::<IpAddr>().expect("ip");
        // An untrusted peer is the client, whatever it forwards.
        assert_eq!(
            proxies.client(ip("203.0.113.9"), &forwarded("1.2.3.4")),
            ip("203.0.113.9")
        );
        // Behind a trusted proxy: the first untrusted hop from the right.
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &forwarded("6.6.6.6, 1.2.3.4, 10.0.0.9")),
            ip("1.2.3.4")
        );
        assert_eq!(
            proxies.client(ip("192.168.1.1"), &HeaderMap::new()),
            ip("192.168.1.1"),
            "a trusted proxy without the header is the client"
        );
        assert_eq!(
            proxies.client(ip("10.0.0.2"), &forwarded("1.2.3.4, nonsense")),
            ip("10.0.0.2"),
            "garbage stops the walk at the last trusted hop"
        );
        assert_eq!(
            proxies.client(
                ip("10.0.0.2"),
                &forwarded("1.2.3.4:5678, [2001:db8::1]:443")
            ),
            ip("2001:db8::1"),
            "ports are not part of the address"
        );
        assert_eq!(
            proxies.client(ip("::ffff:10.0.0.2"), &forwarded("1.2.3.4")),
            ip("1.2.3.4"),
            "IPv4-mapped peers count as IPv4"
        );
    }
}
