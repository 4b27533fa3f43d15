//! Strapi's REST API, for handlers the operator granted it in iohost.toml:
//!
//! ```toml
//! [handlers.strapi]
//! allow = ["presence"]
//! ```
//!
//! Requests carry iohost's API token (`strapi.api_token`). Without the grant every call returns
//! [`Error::NotAllowed`], so a handler can treat Strapi as optional.

use serde::Serialize;

use crate::bindings::iohost::handler::strapi;

pub use crate::bindings::iohost::handler::strapi::{Error, Response};

/// Sends `method path` (`path` starts with `/api/`) with an optional JSON body and waits for the
/// answer. The wait does not count against the call's time limit.
pub fn request(method: &str, path: &str, body: Option<&str>) -> Result<Response, Error> {
    strapi::request(method, path, body)
}

/// Sends without waiting: checked now, sent after the call returns; failures are logged by
/// iohost. For updates whose answer the handler does not need (`lastSeen`, say).
pub fn send(method: &str, path: &str, body: Option<&str>) -> Result<(), Error> {
    strapi::send(method, path, body)
}

/// [`send`] with `body` serialised as JSON.
pub fn send_json<T: Serialize + ?Sized>(method: &str, path: &str, body: &T) -> Result<(), Error> {
    let text = serde_json::to_string(body).map_err(|e| Error::BadRequest(e.to_string()))?;
    send(method, path, Some(&text))
}
