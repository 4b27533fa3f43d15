//! Types every layer shares: event arguments and who a socket belongs to.

mod args;
mod identity;
mod socket_view;

pub use args::Args;
pub use identity::{Handshake, Identity, TOKEN_ROLE_PREFIX, User, room_of_role};
pub use socket_view::SocketView;
