//! Types every layer shares: event arguments and who a socket belongs to.

mod args;
mod identity;
mod socket_view;

pub use args::Args;
pub use identity::{ClientAddress, Handshake, Identity, TOKEN_ROLE_PREFIX, User, room_of_role};
pub use socket_view::SocketView;

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
    fn shorten_cuts_at_a_character_boundary() {
        assert_eq!(super::shorten("short", 10), "short");
        assert_eq!(super::shorten("abcdef", 3), "abc…");
        assert_eq!(super::shorten("ééé", 3), "é…", "é is 2 bytes");
    }
}
