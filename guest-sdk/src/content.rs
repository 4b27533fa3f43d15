//! Content events from Strapi, as a content handler sees them ([`Handler::on_content`]).
//!
//! [`Handler::on_content`]: crate::Handler::on_content

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::bindings::iohost::handler::types as wit;

/// One audience's content event, before it is delivered. Its data is what that audience may
/// read; the audience is iohost's decision, so a handler can narrow who receives it, never
/// widen it.
#[derive(Debug, Clone, PartialEq)]
pub struct ContentEvent {
    inner: wit::ContentEvent,
}

impl From<wit::ContentEvent> for ContentEvent {
    fn from(inner: wit::ContentEvent) -> Self {
        Self { inner }
    }
}

impl ContentEvent {
    /// The event clients receive, `<model>:<action>` (e.g. `order:update`).
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The content type, e.g. `api::order.order`.
    pub fn uid(&self) -> &str {
        &self.inner.uid
    }

    /// `create`, `update`, `delete`, `publish` or `unpublish`.
    pub fn action(&self) -> &str {
        &self.inner.action
    }

    /// A lower-case role (`authenticated`, `public`...) or `token:<name>`.
    pub fn audience(&self) -> &str {
        &self.inner.audience
    }

    /// The room iohost sends it to.
    pub fn room(&self) -> &str {
        &self.inner.room
    }

    /// The event's argument as JSON text.
    pub fn json(&self) -> &str {
        &self.inner.data
    }

    /// The event's argument, read as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(&self.inner.data)
    }
}

/// What to do with one audience's content event.
#[derive(Debug, Clone, PartialEq)]
pub enum ContentOutcome {
    /// Deliver it as it is (after the handlers after this one).
    Pass,
    /// Nobody in this audience gets it.
    Drop,
    /// Deliver it changed: only to the room's sockets that are also in one of `within`, and/or
    /// with `data` (JSON text) instead.
    Deliver {
        within: Option<Vec<String>>,
        data: Option<String>,
    },
}

impl ContentOutcome {
    /// Deliver only to the sockets that are also in one of `rooms` (e.g. `user-42`).
    pub fn only_within<S: Into<String>>(rooms: impl IntoIterator<Item = S>) -> Self {
        Self::Deliver {
            within: Some(rooms.into_iter().map(Into::into).collect()),
            data: None,
        }
    }

    /// Deliver with `data` as the argument instead; keeps any narrowing. A value that does not
    /// serialise leaves the data as it was.
    pub fn with_data<T: Serialize + ?Sized>(self, data: &T) -> Self {
        let data = serde_json::to_string(data).ok();
        match self {
            Self::Deliver { within, data: old } => Self::Deliver {
                within,
                data: data.or(old),
            },
            Self::Pass | Self::Drop => Self::Deliver { within: None, data },
        }
    }
}

impl From<ContentOutcome> for wit::ContentResult {
    fn from(outcome: ContentOutcome) -> Self {
        match outcome {
            ContentOutcome::Pass => Self::Pass,
            ContentOutcome::Drop => Self::Drop,
            ContentOutcome::Deliver { within, data } => {
                Self::Deliver(wit::ContentDelivery { within, data })
            }
        }
    }
}
