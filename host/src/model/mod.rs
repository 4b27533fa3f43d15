//! Types every layer shares: event arguments and who a socket belongs to.

mod args;
mod identity;

pub use args::Args;
pub use identity::{Handshake, Identity, User};
