//! `GET /handlers`: the loaded handlers with their figures and limits, load errors, and the
//! handlers switched off.

use axum::Json;
use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;

use super::ApiState;
use super::error::ErrorBody;
use crate::handlers::short;

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandlerStats {
    pub name: String,
    /// First 12 hex digits of the file's sha256.
    pub version: String,
    /// Unix milliseconds.
    pub loaded_at: u64,
    /// The code it runs: `baseline` (quickly compiled, while the optimised code is compiled
    /// in the background) or `optimized`.
    pub code: crate::handlers::Tier,
    pub priority: i32,
    pub events: Vec<String>,
    pub calls: u64,
    pub errors: u64,
    pub timeouts: u64,
    pub memory_faults: u64,
    pub traps: u64,
    /// Events refused because `max_waiting` calls were waiting for an instance already.
    pub busy: u64,
    pub instances_created: u64,
    /// Instances kept idle for the next calls, and the linear memory they hold (bytes).
    pub idle_instances: usize,
    pub idle_memory_bytes: usize,
    /// Median call duration in microseconds (within ~19%); none before the first call.
    pub p50_micros: Option<f64>,
    /// 99th percentile call duration in microseconds.
    pub p99_micros: Option<f64>,
    /// The last failed call, e.g. "handler `x` failed: it ran longer than its 100 ms limit".
    pub last_error: Option<String>,
    /// The limits it runs under (keys as in `[handlers.limits]`): the operator's, or lower
    /// where its sidecar asks.
    pub limits: crate::config::HandlerLimits,
    /// What its faults do (`[handlers.failure]`).
    pub failure: crate::config::Policy,
    /// Faults since its last call that returned normally.
    pub consecutive_faults: u64,
    /// Set when this version is switched off after its faults: it is not run, and its events
    /// are refused (`fail_closed`) or passed on (`fail_open`) until it is enabled again
    /// (`PUT /handlers/{name}/enabled`) or a new version is installed.
    pub switched_off: Option<crate::handlers::failure::Faulted>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandlersResponse {
    /// Loaded handlers, in call order.
    pub handlers: Vec<HandlerStats>,
    /// Handlers whose file could not be loaded, with why (a loaded version may keep serving).
    pub load_errors: std::collections::BTreeMap<String, String>,
    /// Handlers switched off in the run-time settings.
    pub disabled: Vec<String>,
}

fn micros(d: Option<std::time::Duration>) -> Option<f64> {
    d.map(|d| d.as_secs_f64() * 1e6)
}

#[utoipa::path(get, path = "/handlers", responses((status = 200, body = HandlersResponse), (status = 401, body = ErrorBody)))]
pub async fn handlers(State(state): State<ApiState>) -> Json<HandlersResponse> {
    Json(collect_handlers(&state))
}

pub fn collect_handlers(state: &ApiState) -> HandlersResponse {
    use std::sync::atomic::Ordering::Relaxed;
    let handlers = state
        .runtime
        .handlers()
        .iter()
        .map(|h| (h, h.idle_usage()))
        .map(|(h, (idle_instances, idle_memory_bytes))| HandlerStats {
            name: h.name.to_string(),
            version: short(&h.sha256).to_owned(),
            loaded_at: crate::model::unix_ms(h.loaded_at),
            code: h.tier,
            priority: h.registration.priority,
            events: h.registration.events.clone(),
            calls: h.stats.calls.get(),
            errors: h.stats.errors.load(Relaxed),
            timeouts: h.stats.timeouts.load(Relaxed),
            memory_faults: h.stats.memory_faults.load(Relaxed),
            traps: h.stats.traps.load(Relaxed),
            instances_created: h.stats.instances_created.load(Relaxed),
            p50_micros: micros(h.stats.durations.quantile(0.5)),
            p99_micros: micros(h.stats.durations.quantile(0.99)),
            last_error: h.stats.last_error.lock().ok().and_then(|e| e.clone()),
            limits: h.limits,
            failure: state.runtime.policy(&h.name),
            consecutive_faults: h.stats.consecutive_faults.load(Relaxed),
            switched_off: h.stats.switched_off(),
            busy: h.stats.busy.load(Relaxed),
            idle_instances,
            idle_memory_bytes,
        })
        .collect();
    HandlersResponse {
        handlers,
        load_errors: state.runtime.load_errors().into_iter().collect(),
        disabled: state
            .settings
            .now()
            .settings
            .disabled_handlers
            .iter()
            .cloned()
            .collect(),
    }
}
