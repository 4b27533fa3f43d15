//! Order events for the people they concern: a content handler (the `content-handler` world of
//! `iohost:handler@0.1.1`).
//!
//! Strapi's `order:create` and `order:update` content events reach, in each audience that may
//! read orders, only the sockets the order concerns: when the operator lets this handler ask
//! Strapi who the customer is (`[handlers.strapi] allow = ["order-router"]`), the customer's own
//! sockets (`user-<id>`, a room only that user's sockets are in); otherwise the sockets that
//! joined `order-<orderNumber>` (any socket of the audience may join it: fit for audiences that
//! may read every order anyway, such as shop staff). Each gets a `statusLabel` ("Paid", ...)
//! beside the fields it may read. `order:delete` is not sent (the shop tells customers itself).
//! Other content events pass unchanged. Strapi is asked once per audience of each order event.
//!
//! Content handlers run only when the operator grants them (`[handlers.content] allow =
//! ["order-router"]`): they read every audience's events and what they send goes to it. iohost
//! still decides each event's audience first, so a handler can only narrow who receives it.
//!
//! Sidecar `order-router.toml` (optional):
//!
//! ```toml
//! [config]
//! labels = { pending = "Waiting for payment", paid = "Paid", shipped = "On its way" }
//! ```

use std::collections::BTreeMap;

use iohost_guest::{
    Config, ContentEvent, ContentOutcome, Handler, Registration, Settings, log, strapi,
};
use serde::Deserialize;
use serde_json::{Map, Value};

pub struct OrderRouter;

const ORDER: &str = "api::order.order";

#[derive(Deserialize)]
#[serde(default)]
struct Labels {
    labels: BTreeMap<String, String>,
}

impl Default for Labels {
    fn default() -> Self {
        let labels = [
            ("pending", "Waiting for payment"),
            ("paid", "Paid"),
            ("shipped", "On its way"),
        ];
        Self {
            labels: labels
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
        }
    }
}

static LABELS: Settings<Labels> = Settings::new();

/// The entry's fields in either payload shape (`{data: entry}` or v4's `{data: {id,
/// attributes}}`).
fn fields(payload: &mut Value) -> Option<&mut Map<String, Value>> {
    let data = payload.get_mut("data")?;
    if data.get("attributes").is_some() {
        return data.get_mut("attributes")?.as_object_mut();
    }
    data.as_object_mut()
}

/// The customer's user id, asked of Strapi with iohost's token; none without the grant.
fn customer_of(document_id: &str) -> Option<u64> {
    let path = format!(
        "/api/orders/{document_id}?fields[0]=orderNumber&populate[customer][fields][0]=username"
    );
    let answer = match strapi::request("GET", &path, None) {
        Ok(answer) if answer.status == 200 => answer,
        Ok(answer) => {
            log::warn(&format!(
                "Strapi answered {} for order {document_id}",
                answer.status
            ));
            return None;
        }
        Err(strapi::Error::NotAllowed(_)) => return None,
        Err(e) => {
            log::warn(&format!("cannot ask Strapi for order {document_id}: {e:?}"));
            return None;
        }
    };
    let body: Value = serde_json::from_str(&answer.body).ok()?;
    body.pointer("/data/customer/id")?.as_u64()
}

impl Handler for OrderRouter {
    fn init(config: &Config) -> Result<Registration, String> {
        LABELS.init(config)?;
        // Only content events: no client event is registered.
        Ok(Registration::none())
    }

    fn on_content(event: &ContentEvent) -> ContentOutcome {
        if event.uid() != ORDER {
            return ContentOutcome::Pass;
        }
        if event.action() == "delete" {
            return ContentOutcome::Drop;
        }
        let Ok(mut payload) = event.data::<Value>() else {
            return ContentOutcome::Drop;
        };
        let Some(entry) = fields(&mut payload) else {
            return ContentOutcome::Drop;
        };
        let document_id = entry
            .get("documentId")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let within = match document_id.as_deref().and_then(customer_of) {
            Some(customer) => Some(format!("user-{customer}")),
            None => entry
                .get("orderNumber")
                .and_then(Value::as_str)
                .map(|number| format!("order-{number}")),
        };
        if let Some(status) = entry.get("status").and_then(Value::as_str) {
            let labels = &LABELS.get().labels;
            let label = labels
                .get(status)
                .cloned()
                .unwrap_or_else(|| status.to_owned());
            entry.insert("statusLabel".to_owned(), Value::String(label));
        }
        // Nobody it concerns can be named: nobody in this audience gets it.
        let Some(room) = within else {
            return ContentOutcome::Drop;
        };
        ContentOutcome::only_within([room]).with_data(&payload)
    }
}

iohost_guest::export_content_handler!(OrderRouter);
