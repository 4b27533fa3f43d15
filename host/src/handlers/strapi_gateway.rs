//! The `strapi` import: handlers the operator granted it (`[handlers.strapi] allow`) may call
//! Strapi's REST API with iohost's API token. Only `/api/...` paths on `strapi.url`, four
//! methods, bounded time, answer size and pending sends.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;

use crate::config::{HandlerStrapiConfig, StrapiConfig};
use crate::strapi::credentials::LiveCredentials;

/// Why a request was not made (or not answered); maps onto the WIT `strapi.error`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GatewayError {
    #[error(
        "handler `{0}` may not call Strapi (grant it with [handlers.strapi] allow in iohost.toml)"
    )]
    NotAllowed(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unavailable(String),
}

#[derive(Debug)]
pub struct StrapiGateway {
    /// `url` and `api_token` at each request: they may change while iohost runs.
    credentials: LiveCredentials,
    allow: BTreeSet<String>,
    http: reqwest::Client,
    timeout: Duration,
    call_budget: Duration,
    max_response_bytes: usize,
    /// Bounds each handler's `send`s in flight: a full handler is refused more rather than
    /// queueing without end, and cannot use up what other handlers may send.
    pending: std::sync::Mutex<std::collections::HashMap<String, Arc<Semaphore>>>,
    max_pending_sends: usize,
}

/// Largest request body a handler may send Strapi: each is held until it is sent (and a `send`
/// until Strapi answers).
pub const MAX_BODY_BYTES: usize = 1024 * 1024;

/// A checked request.
#[derive(Debug, Clone)]
pub struct Request {
    method: reqwest::Method,
    url: String,
    body: Option<String>,
}

pub struct Response {
    pub status: u16,
    pub body: String,
}

impl StrapiGateway {
    pub fn new(
        strapi: &StrapiConfig,
        credentials: LiveCredentials,
        grants: &HandlerStrapiConfig,
    ) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(grants.timeout_ms);
        Ok(Self {
            credentials,
            allow: grants.allow.iter().cloned().collect(),
            http: crate::strapi::client::client(timeout, Some(&strapi.ca_file))?,
            timeout,
            call_budget: Duration::from_millis(grants.call_budget_ms),
            max_response_bytes: grants.max_response_bytes,
            pending: Default::default(),
            max_pending_sends: grants.max_pending_sends,
        })
    }

    /// Checks that `handler` may send this request, and that it is one iohost sends.
    pub fn check(
        &self,
        handler: &str,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<Request, GatewayError> {
        if !self.allow.contains(handler) {
            return Err(GatewayError::NotAllowed(handler.to_owned()));
        }
        let method = match method.to_ascii_uppercase().as_str() {
            "GET" => reqwest::Method::GET,
            "POST" => reqwest::Method::POST,
            "PUT" => reqwest::Method::PUT,
            "DELETE" => reqwest::Method::DELETE,
            other => {
                return Err(GatewayError::BadRequest(format!(
                    "method `{other}` is not one of GET, POST, PUT, DELETE"
                )));
            }
        };
        let url = self
            .api_url(path)
            .map_err(|why| GatewayError::BadRequest(format!("path `{path}` is refused: {why}")))?;
        if let Some(text) = &body {
            if text.len() > MAX_BODY_BYTES {
                return Err(GatewayError::BadRequest(format!(
                    "body is {} bytes, more than {MAX_BODY_BYTES}",
                    text.len()
                )));
            }
            if serde_json::from_str::<serde::de::IgnoredAny>(text).is_err() {
                return Err(GatewayError::BadRequest("body must be JSON text".into()));
            }
        }
        Ok(Request { method, url, body })
    }

    /// The URL for `path`, parsed and normalised once: it must stay under `<strapi.url>/api/`
    /// whatever it encodes. Each segment is percent-decoded to look for the ways out (`..`,
    /// `%2e%2e`, an encoded `/` or `\\`); the URL is then built and checked again after the
    /// URL parser's own normalisation.
    fn api_url(&self, path: &str) -> Result<String, &'static str> {
        let route = path.split_once('?').map_or(path, |(route, _query)| route);
        let Some(rest) = route.strip_prefix("/api/") else {
            return Err("it must start with /api/");
        };
        if path
            .chars()
            .any(|c| c.is_control() || c == ' ' || c == '\\' || c == '#')
        {
            return Err("no spaces, control characters, backslashes or fragments");
        }
        let segments: Vec<&str> = rest.split('/').collect();
        for (i, segment) in segments.iter().enumerate() {
            let decoded = percent_decode(segment).ok_or("a `%` not followed by two hex digits")?;
            if segment.is_empty() && i + 1 < segments.len() {
                return Err("no empty segments (`//`)");
            }
            if decoded == b"." || decoded == b".." {
                return Err("no `.` or `..` segments, encoded or not");
            }
            if decoded
                .iter()
                .any(|b| matches!(b, b'/' | b'\\' | b'%') || b.is_ascii_control())
            {
                return Err("no encoded `/`, `\\`, `%` or control characters in a segment");
            }
        }
        let base_url = &self.credentials.now().url;
        let url =
            reqwest::Url::parse(&format!("{base_url}{path}")).map_err(|_| "not a valid URL")?;
        let base = reqwest::Url::parse(base_url).map_err(|_| "strapi.url is not a URL")?;
        let under = format!("{}/api/", base.path().trim_end_matches('/'));
        if url.origin() != base.origin() || !url.path().starts_with(&under) {
            return Err("it leaves /api/");
        }
        Ok(url.into())
    }

    /// Sends and waits for the answer.
    pub async fn request(&self, request: Request) -> Result<Response, GatewayError> {
        let credentials = self.credentials.now();
        // Checked against one strapi.url; the token must be for the same one (the URL may
        // have changed since, with the config file).
        if !request.url.starts_with(&format!("{}/", credentials.url)) {
            return Err(GatewayError::Unavailable(
                "strapi.url changed while the request was made; try again".to_owned(),
            ));
        }
        let mut builder = self.http.request(request.method, &request.url);
        if !credentials.api_token.is_empty() {
            builder = builder.bearer_auth(&credentials.api_token);
        }
        if let Some(body) = request.body {
            builder = builder
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body);
        }
        let unavailable = |e: reqwest::Error| {
            let reason = if e.is_timeout() {
                format!(
                    "Strapi did not answer within {} ms",
                    self.timeout.as_millis()
                )
            } else {
                format!(
                    "cannot reach Strapi: {}",
                    crate::strapi::client::describe(&e)
                )
            };
            GatewayError::Unavailable(reason)
        };
        let mut response = builder.send().await.map_err(unavailable)?;
        let status = response.status().as_u16();
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(unavailable)? {
            if body.len() + chunk.len() > self.max_response_bytes {
                return Err(GatewayError::Unavailable(format!(
                    "Strapi's answer is larger than {} bytes ([handlers.strapi] max_response_bytes)",
                    self.max_response_bytes
                )));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Response {
            status,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    }

    /// Sends in the background; the answer is only logged.
    pub fn send(self: &Arc<Self>, handler: &str, request: Request) -> Result<(), GatewayError> {
        let pending = self
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(handler.to_owned())
            .or_insert_with(|| Arc::new(Semaphore::new(self.max_pending_sends)))
            .clone();
        let Ok(permit) = pending.try_acquire_owned() else {
            return Err(GatewayError::Unavailable(
                "too many of this handler's Strapi requests are pending ([handlers.strapi] max_pending_sends)".into(),
            ));
        };
        let gateway = self.clone();
        let handler = handler.to_owned();
        tokio::spawn(async move {
            let _permit = permit;
            let what = format!("{} {}", request.method, request.url);
            match gateway.request(request).await {
                Ok(r) if r.status < 400 => {
                    tracing::debug!(handler, status = r.status, "{what}");
                }
                Ok(r) => tracing::warn!(handler, status = r.status, "Strapi refused {what}"),
                Err(e) => tracing::warn!(handler, "{what} failed: {e}"),
            }
        });
        Ok(())
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The most one call may wait for Strapi, all its requests together.
    pub fn call_budget(&self) -> Duration {
        self.call_budget
    }
}

/// `%XX` escapes decoded; `None` for a malformed escape.
fn percent_decode(segment: &str) -> Option<Vec<u8>> {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let text = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(text, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gateway() -> StrapiGateway {
        let grants = HandlerStrapiConfig {
            allow: vec!["presence".into()],
            ..HandlerStrapiConfig::default()
        };
        StrapiGateway::new(
            &StrapiConfig::default(),
            LiveCredentials::of(&StrapiConfig::default()),
            &grants,
        )
        .expect("gateway")
    }

    #[test]
    fn only_granted_handlers_and_api_paths() {
        let g = gateway();
        assert!(
            g.check("presence", "put", "/api/users/1", Some("{}".into()))
                .is_ok()
        );
        assert_eq!(
            g.check("echo", "GET", "/api/articles", None).map(|_| ()),
            Err(GatewayError::NotAllowed("echo".into()))
        );
        for ok in [
            "/api/articles?populate=*&filters[title][$eq]=a%20b",
            "/api/users/1",
            "/api/articles/",
            "/api/caf%C3%A9",
        ] {
            assert!(g.check("presence", "GET", ok, None).is_ok(), "{ok}");
        }
        for path in [
            "/admin/users",
            "/api/../admin",
            "/api/%2e%2e/admin/leak",
            "/api/%2E%2e/admin",
            "/api/.%2e/admin",
            "/api/%2e/x",
            "/api/./x",
            "/api/x/../../admin",
            "/api/x%2f..%2f..%2fadmin",
            "/api/x%5c..",
            "/api//admin",
            "/api/%zz",
            "/api/%",
            "/api%2fx",
            "/API/x",
            "api/x",
            "/api/a b",
            "/api/x#y",
            "/api/x\\..\\admin",
            "/api/x\u{0}",
            "/api/%00",
        ] {
            assert!(
                matches!(
                    g.check("presence", "GET", path, None),
                    Err(GatewayError::BadRequest(_))
                ),
                "{path}"
            );
        }
        assert!(matches!(
            g.check("presence", "PATCH", "/api/x", None),
            Err(GatewayError::BadRequest(_))
        ));
        assert!(matches!(
            g.check("presence", "POST", "/api/x", Some("{oops".into())),
            Err(GatewayError::BadRequest(_))
        ));
        let largest = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES - 2));
        assert!(g.check("presence", "POST", "/api/x", Some(largest)).is_ok());
        let over = format!("\"{}\"", "x".repeat(MAX_BODY_BYTES - 1));
        assert_eq!(
            g.check("presence", "POST", "/api/x", Some(over))
                .map(|_| ()),
            Err(GatewayError::BadRequest(format!(
                "body is {} bytes, more than {MAX_BODY_BYTES}",
                MAX_BODY_BYTES + 1
            )))
        );
    }

    #[tokio::test]
    async fn each_handler_has_its_own_pending_sends() {
        let grants = HandlerStrapiConfig {
            allow: vec!["a".into(), "b".into()],
            max_pending_sends: 2,
            ..HandlerStrapiConfig::default()
        };
        // A Strapi that takes connections and never answers: sends stay pending.
        let silent = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let strapi = StrapiConfig {
            url: format!("http://{}", silent.local_addr().expect("address")),
            ..StrapiConfig::default()
        };
        let g = Arc::new(
            StrapiGateway::new(&strapi, LiveCredentials::of(&strapi), &grants).expect("gateway"),
        );
        let send = |handler: &str| {
            let request = g.check(handler, "GET", "/api/x", None).expect("checked");
            g.send(handler, request)
        };
        assert!(send("a").is_ok() && send("a").is_ok());
        assert!(matches!(send("a"), Err(GatewayError::Unavailable(_))));
        // `a` holding all of its own leaves `b` its own.
        assert!(send("b").is_ok() && send("b").is_ok());
        assert!(matches!(send("b"), Err(GatewayError::Unavailable(_))));
    }

    #[tokio::test]
    async fn an_unreachable_strapi_is_a_clear_error() {
        let grants = HandlerStrapiConfig {
            allow: vec!["presence".into()],
            timeout_ms: 500,
            ..HandlerStrapiConfig::default()
        };
        let strapi = StrapiConfig {
            url: "http://127.0.0.1:9".into(),
            ..StrapiConfig::default()
        };
        let g =
            StrapiGateway::new(&strapi, LiveCredentials::of(&strapi), &grants).expect("gateway");
        let request = g.check("presence", "GET", "/api/x", None).expect("valid");
        assert!(matches!(
            g.request(request).await,
            Err(GatewayError::Unavailable(_))
        ));
    }
}
