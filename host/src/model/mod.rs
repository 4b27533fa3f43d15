//! Types every layer shares: event arguments and who a socket belongs to.

mod args;
mod identity;
mod socket_view;

pub use args::Args;
pub use identity::{
    AUTHENTICATED_ROLE, ClientAddress, Handshake, Identity, PUBLIC_ROLE, SessionOpening,
    TOKEN_ROLE_PREFIX, UNKNOWN_ROLE, User,
};
pub use socket_view::SocketView;

/// The key per-address limits count under: the address, or an IPv6 address's /64 network.
pub fn limit_key(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip.to_canonical() {
        std::net::IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            std::net::IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

/// Unix time in milliseconds.
pub fn now_ms() -> u64 {
    unix_ms(std::time::SystemTime::now())
}

/// `time` as Unix milliseconds (0 before 1970).
pub fn unix_ms(time: std::time::SystemTime) -> u64 {
    time.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or_default()
}

/// `text` cut to at most `bytes` bytes (at a character boundary), with `…` when cut: for
/// client-chosen strings that are echoed or logged.
pub fn shorten(text: &str, bytes: usize) -> String {
    if text.len() <= bytes {
        return text.to_owned();
    }
    let mut end = bytes;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        let ip = |s: &str| s.parse::<std::net::IpAddr>().expect("ip");
        assert_eq!(
            super::limit_key(ip("2001:db8:1:2:aaaa::1")),
            super::limit_key(ip("2001:db8:1:2:bbbb::9"))
        );
        assert_ne!(
            super::limit_key(ip("2001:db8:1:2::1")),
            super::limit_key(ip("2001:db8:1:3::1"))
        );
        assert_eq!(super::limit_key(ip("127.0.0.1")), ip("127.0.0.1"));
    }

    #[test]
    fn shorten_cuts_at_a_character_boundary() {
        assert_eq!(super::shorten("short", 10), "short");
        assert_eq!(super::shorten("abcdef", 3), "abc…");
        assert_eq!(super::shorten("ééé", 3), "é…", "é is 2 bytes");
    }
}
