//! The imports a handler may call (`sockets`, `kv`, `log`, `clock`, `config`, and `strapi` when
//! granted), implemented on the per-instance state. Nothing else is granted: WASI gets an empty context (no files,
//! network, environment or arguments).

use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::cluster::Io;
use wasmtime::component::ResourceTable;
use wasmtime::{StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::actions::Action;
use super::bindings::iohost::handler::types::{Payload, SocketInfo};
use super::bindings::iohost::handler::{clock, config, kv, log, sockets, strapi, types};
use super::socket_info::socket_info;
use super::strapi_gateway::{GatewayError, StrapiGateway};
use crate::store::{KvError, KvStore};

/// What handlers' imports reach outside their instance.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The Socket.IO server; none when a handler runs on its own (benchmarks, tools).
    pub io: Option<Io>,
    /// Strapi's REST API, for granted handlers.
    pub strapi: Option<Arc<StrapiGateway>>,
}

/// Everything a handler instance's store holds.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: StoreLimits,
    handler: Arc<str>,
    kv: Arc<dyn KvStore>,
    kv_prefix: String,
    config: Arc<serde_json::Map<String, serde_json::Value>>,
    links: Links,
    /// Actions requested during the current call.
    pub(super) outbox: Vec<Action>,
    /// Time this call spent waiting for Strapi: the call's deadline moves by as much.
    pub(super) waited: Duration,
}

impl InstanceState {
    pub fn new(
        handler: Arc<str>,
        memory_limit: usize,
        kv: Arc<dyn KvStore>,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
        links: Links,
    ) -> Self {
        Self {
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new()
                .memory_size(memory_limit)
                .trap_on_grow_failure(true)
                .build(),
            kv_prefix: format!("h:{handler}:"),
            handler,
            kv,
            config,
            links,
            outbox: Vec::new(),
            waited: Duration::ZERO,
        }
    }

    fn args(&self, payload: Payload) -> Option<crate::model::Args> {
        match payload.into_args() {
            Ok(args) => Some(args),
            Err(e) => {
                tracing::warn!(handler = %self.handler, "handler emitted a bad payload, dropped: {e}");
                None
            }
        }
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.kv_prefix)
    }
}

impl WasiView for InstanceState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl types::Host for InstanceState {}

impl sockets::Host for InstanceState {
    async fn emit_to_socket(&mut self, ns: String, sid: String, event: String, args: Payload) {
        if let Some(args) = self.args(args) {
            self.outbox.push(Action::EmitToSocket {
                ns,
                sid,
                event,
                args,
            });
        }
    }

    async fn emit_to_room(
        &mut self,
        ns: String,
        room: String,
        event: String,
        args: Payload,
        except: Option<String>,
    ) {
        if let Some(args) = self.args(args) {
            self.outbox.push(Action::EmitToRoom {
                ns,
                room,
                event,
                args,
                except,
            });
        }
    }

    async fn emit_to_namespace(
        &mut self,
        ns: String,
        event: String,
        args: Payload,
        except: Option<String>,
    ) {
        if let Some(args) = self.args(args) {
            self.outbox.push(Action::EmitToNamespace {
                ns,
                event,
                args,
                except,
            });
        }
    }

    async fn join_room(&mut self, ns: String, sid: String, room: String) {
        self.outbox.push(Action::Join { ns, sid, room });
    }

    async fn leave_room(&mut self, ns: String, sid: String, room: String) {
        self.outbox.push(Action::Leave { ns, sid, room });
    }

    async fn disconnect(&mut self, ns: String, sid: String) {
        self.outbox.push(Action::Disconnect { ns, sid });
    }

    async fn sockets_in_room(&mut self, ns: String, room: String) -> Vec<SocketInfo> {
        let Some(ns) = self.links.io.as_ref().and_then(|io| io.of(&ns)) else {
            return Vec::new();
        };
        ns.within(room).sockets().iter().map(socket_info).collect()
    }
}

fn kv_error(e: KvError) -> kv::Error {
    match e {
        KvError::NotANumber => kv::Error::NotANumber,
        KvError::Unavailable(reason) => kv::Error::Unavailable(reason),
    }
}

impl kv::Host for InstanceState {
    async fn get(&mut self, key: String) -> Result<Option<String>, kv::Error> {
        self.kv.get(&self.key(&key)).await.map_err(kv_error)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<(), kv::Error> {
        let ttl = ttl_ms.map(Duration::from_millis);
        self.kv
            .set(&self.key(&key), value, ttl)
            .await
            .map_err(kv_error)
    }

    async fn delete(&mut self, key: String) -> Result<bool, kv::Error> {
        self.kv.delete(&self.key(&key)).await.map_err(kv_error)
    }

    async fn incr(
        &mut self,
        key: String,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> Result<i64, kv::Error> {
        let ttl = ttl_ms.map(Duration::from_millis);
        self.kv
            .incr(&self.key(&key), delta, ttl)
            .await
            .map_err(kv_error)
    }

    async fn compare_and_set(
        &mut self,
        key: String,
        expected: Option<String>,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<bool, kv::Error> {
        let ttl = ttl_ms.map(Duration::from_millis);
        self.kv
            .compare_and_set(&self.key(&key), expected.as_deref(), value, ttl)
            .await
            .map_err(kv_error)
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, kv::Error> {
        let keys = self.kv.keys(&self.key(&prefix)).await.map_err(kv_error)?;
        let strip = self.kv_prefix.len();
        Ok(keys.into_iter().map(|k| k[strip..].to_owned()).collect())
    }
}

impl log::Host for InstanceState {
    async fn log(&mut self, level: log::Level, message: String) {
        let handler = &*self.handler;
        match level {
            log::Level::Trace => tracing::trace!(handler, "{message}"),
            log::Level::Debug => tracing::debug!(handler, "{message}"),
            log::Level::Info => tracing::info!(handler, "{message}"),
            log::Level::Warn => tracing::warn!(handler, "{message}"),
            log::Level::Error => tracing::error!(handler, "{message}"),
        }
    }
}

impl clock::Host for InstanceState {
    async fn now_ms(&mut self) -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or_default()
    }

    async fn monotonic_ns(&mut self) -> u64 {
        // One clock for the whole process, so durations measured across instances agree.
        static START: OnceLock<Instant> = OnceLock::new();
        START.get_or_init(Instant::now).elapsed().as_nanos() as u64
    }
}

impl config::Host for InstanceState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.config.get(&key).map(|v| v.to_string())
    }
}

fn strapi_error(e: GatewayError) -> strapi::Error {
    match e {
        GatewayError::NotAllowed(_) => strapi::Error::NotAllowed(e.to_string()),
        GatewayError::BadRequest(reason) => strapi::Error::BadRequest(reason),
        GatewayError::Unavailable(reason) => strapi::Error::Unavailable(reason),
    }
}

impl InstanceState {
    fn strapi_request(
        &self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Result<(Arc<StrapiGateway>, super::strapi_gateway::Request), strapi::Error> {
        let Some(gateway) = self.links.strapi.clone() else {
            return Err(strapi::Error::NotAllowed(
                "Strapi access is not available on this server".into(),
            ));
        };
        let request = gateway
            .check(&self.handler, method, path, body)
            .map_err(strapi_error)?;
        Ok((gateway, request))
    }
}

impl strapi::Host for InstanceState {
    async fn request(
        &mut self,
        method: String,
        path: String,
        body: Option<String>,
    ) -> Result<strapi::Response, strapi::Error> {
        let (gateway, request) = self.strapi_request(&method, &path, body)?;
        let started = Instant::now();
        let answer = gateway.request(request).await;
        self.waited += started.elapsed();
        let answer = answer.map_err(strapi_error)?;
        Ok(strapi::Response {
            status: answer.status,
            body: answer.body,
        })
    }

    async fn send(
        &mut self,
        method: String,
        path: String,
        body: Option<String>,
    ) -> Result<(), strapi::Error> {
        let (gateway, request) = self.strapi_request(&method, &path, body)?;
        gateway.send(&self.handler, request).map_err(strapi_error)
    }
}
