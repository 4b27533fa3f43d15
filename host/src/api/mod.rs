//! The HTTP API for backends under `/api/v1`: what `strapi.$io.*` offered inside Strapi, for a
//! Strapi controller (or any backend) to call with a key. OpenAPI at `/api/v1/openapi.json`.

mod auth;
mod emit;
mod error;
mod handlers;
mod live;
mod relay;
mod settings;
mod sockets;
mod stats;

use crate::cluster::Io;
use axum::extract::{FromRequest, FromRequestParts};
use axum::routing::{delete, get, post, put};
use axum::{Json, Router};
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

pub use error::ApiError;

use std::sync::Arc;

use crate::config::Config;
use crate::handlers::Runtime;
use crate::metrics::WebhookStats;
use crate::node::Node;
use crate::settings::LiveSettings;

/// What the API reads and acts on.
#[derive(Clone)]
pub struct ApiState {
    pub config: Arc<Config>,
    pub settings: Arc<LiveSettings>,
    pub runtime: Arc<Runtime>,
    pub node: Arc<Node>,
    pub webhooks: Arc<WebhookStats>,
    pub io: Io,
    pub relay: Arc<crate::relay::Relay>,
}

/// A JSON body whose errors are API errors (400 with a reason), not axum's plain text.
#[derive(FromRequest)]
#[from_request(via(axum::Json), rejection(ApiError))]
pub struct Body<T>(pub T);

/// Query parameters whose errors are API errors.
#[derive(FromRequestParts)]
#[from_request(via(axum::extract::Query), rejection(ApiError))]
pub struct Params<T>(pub T);

pub const PREFIX: &str = "/api/v1";

pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/emit", post(emit::emit))
        .route("/sockets", get(sockets::list))
        .route("/sockets/{id}", delete(sockets::disconnect))
        .route("/sockets/{id}/rooms", post(sockets::join))
        .route("/sockets/{id}/rooms/{room}", delete(sockets::leave))
        .route("/stats", get(stats::stats))
        .route("/live", get(live::live))
        .route("/relay", get(relay::stream))
        .route("/relay/sockets/{id}", put(relay::register))
        .route("/relay/answers/{id}", post(relay::answer))
        .route("/handlers", get(handlers::handlers))
        .route("/handlers/{name}/enabled", put(settings::set_enabled))
        .route(
            "/settings",
            get(settings::get_settings).put(settings::put_settings),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require_key,
        ))
        .with_state(state);
    let public = Router::new().route("/openapi.json", get(openapi));
    Router::new().nest(PREFIX, protected.merge(public))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "iohost HTTP API", version = "1", description = "Emit to Socket.IO clients and manage their sockets from a backend (a Strapi controller). Authenticate with `Authorization: Bearer <api key>`."),
    paths(
        emit::emit, sockets::list, sockets::disconnect, sockets::join, sockets::leave,
        stats::stats, relay::register, relay::answer, handlers::handlers, settings::get_settings, settings::put_settings, settings::set_enabled
    ),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The OpenAPI document, generated from the handlers' annotations.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.servers = Some(vec![utoipa::openapi::Server::new(PREFIX)]);
    doc
}

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(openapi_document())
}
