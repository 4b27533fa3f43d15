//! Run-time settings: read them, replace them, switch a handler off or on. Changes are
//! validated, saved (atomically) and applied without a restart.

use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::error::{ApiError, ErrorBody};
use super::{ApiState, Body};
use crate::config::valid_handler_name as valid_name;
use crate::settings::{LIVE, Settings};

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SettingsResponse {
    pub settings: Settings,
    /// The settings that apply at once; every other key of iohost.toml needs a restart.
    pub applies_without_restart: Vec<&'static str>,
    /// The permission matrix in force: the settings' `permissions`, else the config file's
    /// `[strapi.permissions]` (role -> content type -> permissions).
    #[schema(value_type = Object)]
    pub permissions_in_force: crate::strapi::content::Permissions,
}

fn response(state: &ApiState) -> Json<SettingsResponse> {
    let now = state.settings.now();
    Json(SettingsResponse {
        settings: now.settings.clone(),
        applies_without_restart: LIVE.to_vec(),
        permissions_in_force: (*now.permissions).clone(),
    })
}

#[utoipa::path(get, path = "/settings", responses((status = 200, body = SettingsResponse), (status = 401, body = ErrorBody)))]
pub async fn get_settings(State(state): State<ApiState>) -> Json<SettingsResponse> {
    response(&state)
}

#[utoipa::path(
    put,
    path = "/settings",
    request_body = Settings,
    responses(
        (status = 200, description = "Saved and applied", body = SettingsResponse),
        (status = 400, description = "Invalid; nothing changed", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 500, description = "Could not be saved; nothing changed", body = ErrorBody),
    )
)]
pub async fn put_settings(
    State(state): State<ApiState>,
    Body(settings): Body<Settings>,
) -> Result<Json<SettingsResponse>, ApiError> {
    // `faultedHandlers` is iohost's record (PUT /handlers/{name}/enabled ends one): a page
    // sending back what it read earlier neither clears nor brings back a switch-off.
    state
        .settings
        .modify(|current| {
            let faulted = std::mem::take(&mut current.faulted_handlers);
            *current = settings;
            current.faulted_handlers = faulted;
        })
        .await?;
    Ok(response(&state))
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnabledRequest {
    pub enabled: bool,
}

#[utoipa::path(
    put,
    path = "/handlers/{name}/enabled",
    params(("name" = String, Path, description = "Handler name (its file name without .wasm)")),
    request_body = EnabledRequest,
    responses(
        (status = 200, description = "Saved and applied: the handler is unloaded or loaded again; enabling also switches on a version iohost switched off after its faults", body = SettingsResponse),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 500, body = ErrorBody),
    )
)]
pub async fn set_enabled(
    State(state): State<ApiState>,
    Path(name): Path<String>,
    Body(request): Body<EnabledRequest>,
) -> Result<Json<SettingsResponse>, ApiError> {
    if !valid_name(&name) {
        return Err(ApiError::BadRequest(format!(
            "`{name}` is not a handler name"
        )));
    }
    state
        .settings
        .modify(|settings| {
            if request.enabled {
                settings.disabled_handlers.remove(&name);
                settings.faulted_handlers.remove(&name);
            } else {
                settings.disabled_handlers.insert(name);
            }
        })
        .await?;
    Ok(response(&state))
}
