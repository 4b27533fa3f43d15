//! What a handler's faults do (`[handlers.failure]`): whether the event they hit goes on
//! (`fail_open`) or is refused (`fail_closed`), and switching a handler off after
//! `disable_after` consecutive faults.
//!
//! A switched-off handler stays in the chain but is not run: under `fail_closed` its events
//! are refused (a client that makes a rate limiter fault cannot switch the limit off), under
//! `fail_open` they go on down the chain. It stays off, on every node and across restarts (a
//! run-time setting, `faultedHandlers`), until it is enabled by hand or a new version of its
//! file is installed.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A handler switched off after its faults: the version that faulted, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Faulted {
    /// sha256 of the `.wasm` file that faulted (hex): another file version is loaded again.
    pub version: String,
    /// Consecutive faults when it was switched off.
    pub faults: u64,
    /// The last fault, e.g. "handler `x` failed: it ran longer than its 100 ms limit".
    pub error: String,
    /// Unix milliseconds.
    pub at: u64,
}

/// What the runtime tells the settings (which keep `faultedHandlers` for every node).
#[derive(Debug, Clone, PartialEq)]
pub enum FaultNotice {
    /// This node switched handler `.0` off.
    SwitchedOff(String, Faulted),
    /// A new version of handler `.0` was loaded: the old version's faults no longer count.
    NewVersion(String),
}

/// Notices waiting for the settings at most; more are dropped (the handler is off on this
/// node anyway, and the next fault sends the notice again).
pub const NOTICES: usize = 64;

/// Faults are what the handler's own code did: a trap, its time, memory or resource limits, a
/// bad answer. `busy` (too many events waiting) is load, and a version switched off did not
/// run: neither counts, and neither passes under `fail_open` (a flood must not open a
/// limiter).
pub fn is_fault(error: &super::CallError) -> bool {
    use super::CallError::*;
    !matches!(error, Busy { .. } | SwitchedOff { .. })
}
