//! Writing to iohost's log; lines are tagged with the handler's name. The macros format like
//! `format!`: `iohost_guest::info!("{} joined {room}", user)`.

use crate::bindings::iohost::handler::log::{self, Level};

pub fn debug(message: &str) {
    log::log(Level::Debug, message);
}

pub fn info(message: &str) {
    log::log(Level::Info, message);
}

pub fn warn(message: &str) {
    log::log(Level::Warn, message);
}

pub fn error(message: &str) {
    log::log(Level::Error, message);
}

/// Logs at debug level, formatted like `format!`.
#[macro_export]
macro_rules! debug {
    ($($arg:tt)*) => { $crate::log::debug(&::std::format!($($arg)*)) };
}

/// Logs at info level, formatted like `format!`.
#[macro_export]
macro_rules! info {
    ($($arg:tt)*) => { $crate::log::info(&::std::format!($($arg)*)) };
}

/// Logs at warn level, formatted like `format!`.
#[macro_export]
macro_rules! warn {
    ($($arg:tt)*) => { $crate::log::warn(&::std::format!($($arg)*)) };
}

/// Logs at error level, formatted like `format!`.
#[macro_export]
macro_rules! error {
    ($($arg:tt)*) => { $crate::log::error(&::std::format!($($arg)*)) };
}
