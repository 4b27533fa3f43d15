//! Writing to iohost's log; lines are tagged with the handler's name.

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
