//! Test fixture for the `strapi` import: `strapi:get (path)` acks `{status, body}` of
//! `GET <path>` on Strapi, or is rejected with the import's error; `strapi:send (path)` sends a
//! `GET` without waiting and acks `{sent: true}`.

use iohost_guest::{Config, Event, Handler, Outcome, Registration, Socket, strapi};
use serde_json::{Value, json};

struct StrapiProbe;

impl Handler for StrapiProbe {
    fn init(_config: &Config) -> Result<Registration, String> {
        Ok(Registration::events(["strapi:get", "strapi:send"]))
    }

    fn on_event(_socket: &Socket, event: &Event) -> Outcome {
        let path = event.json(0).and_then(Value::as_str).unwrap_or_default();
        let answer = match event.name() {
            "strapi:get" => strapi::request("GET", path, None)
                .map(|r| json!({ "status": r.status, "body": r.body })),
            _ => strapi::send("GET", path, None).map(|()| json!({ "sent": true })),
        };
        match answer {
            Ok(value) => Outcome::ack(&value),
            Err(strapi::Error::NotAllowed(m)) => Outcome::reject(format!("not-allowed: {m}")),
            Err(strapi::Error::BadRequest(m)) => Outcome::reject(format!("bad-request: {m}")),
            Err(strapi::Error::Unavailable(m)) => Outcome::reject(format!("unavailable: {m}")),
        }
    }
}

iohost_guest::export_handler!(StrapiProbe);
