//! One loaded handler version: its compiled component, its pool of warm instances, and the
//! calls into it under a deadline and a memory cap. A failed instance is never reused.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use wasmtime::Store;
use wasmtime::component::{ComponentExportIndex, Func, Resource, TypedFunc};

use super::CallError;
use super::actions::Action;
use super::bindings::iohost::handler::types::{
    ConnectResult, ContentEvent, ContentResult, Event, EventResult, Registration, Socket,
    SocketInfo,
};
use super::bindings::{Handler as Bindings, HandlerPre};
use super::engine::{Prepared, Tier};
use super::failure::Faulted;
use super::host_api::{CallMeter, InstanceState, Links};
use super::pool::{self, Pool, Taken};
use super::socket_info::CallSocket;
use crate::config::HandlerLimits;
use crate::store::Kv;

/// Counters for monitoring; all monotonic.
#[derive(Debug, Default)]
pub struct Stats {
    pub calls: crate::stripes::Counter,
    pub errors: AtomicU64,
    pub timeouts: AtomicU64,
    pub memory_faults: AtomicU64,
    pub traps: AtomicU64,
    /// Events refused because too many were waiting for an instance already.
    pub busy: AtomicU64,
    pub instances_created: AtomicU64,
    /// Durations of calls that returned normally.
    pub durations: crate::metrics::Durations,
    /// The last failure, for the admin page.
    pub last_error: Mutex<Option<String>>,
    /// Faults since the last call that returned normally (`handlers.failure.disable_after`).
    pub consecutive_faults: AtomicU64,
    /// Set when this version is switched off after its faults (`off` is the quick check).
    off: AtomicBool,
    switched_off: Mutex<Option<Faulted>>,
}

impl Stats {
    /// Why this version is switched off, if it is.
    pub fn switched_off(&self) -> Option<Faulted> {
        if !self.off.load(Ordering::Relaxed) {
            return None;
        }
        self.switched_off.lock().ok().and_then(|f| f.clone())
    }

    /// A call's answer was accepted: the run of consecutive faults ends. (Not at the call's
    /// return: an answer iohost cannot use counts as a fault.)
    pub fn answered(&self) {
        // Written only when there was a fault: a store on every call would make the cores
        // that call this version take the counter's cache line from each other.
        if self.consecutive_faults.load(Ordering::Relaxed) != 0 {
            self.consecutive_faults.store(0, Ordering::Relaxed);
        }
    }

    /// Switches this version off (`Some`) or on again (`None`).
    pub fn set_switched_off(&self, faulted: Option<Faulted>) {
        if let Ok(mut off) = self.switched_off.lock() {
            self.off.store(faulted.is_some(), Ordering::Relaxed);
            *off = faulted;
        }
    }
}

pub struct Handler {
    pub name: Arc<str>,
    /// sha256 of the `.wasm` file, hex.
    pub sha256: String,
    /// The sidecar file's text plus any run-time config overrides, to notice when only they
    /// changed.
    pub sidecar: String,
    pub registration: Registration,
    pub limits: HandlerLimits,
    pub loaded_at: SystemTime,
    /// Which compiler made the code this version runs.
    pub tier: Tier,
    /// Shared with the same version's optimised successor.
    pub stats: Arc<Stats>,
    /// `iohost_handler_call_seconds` for this handler, looked up once: a lookup per call
    /// (a label string, a key hash, the registry's lock) was work every call repeated.
    call_seconds: Arc<crate::metrics::CallSeconds>,
    config_json: String,
    config: Arc<serde_json::Map<String, serde_json::Value>>,
    /// The engine that compiled `pre` (stores must come from it).
    engine: wasmtime::Engine,
    pre: HandlerPre<InstanceState>,
    /// Where the component exports `on-content`, if it does.
    content_export: Option<ComponentExportIndex>,
    /// Where the component exports `on-socket-event` (0.1.2), if it does.
    socket_event_export: Option<ComponentExportIndex>,
    kv: Kv,
    links: Links,
    /// Warm instances. Boxed: an instance (its store handle and every export's index) moves
    /// from the pool to a lease and back on every call; a box moves as one pointer.
    pool: Pool<Box<Instance>>,
    /// Set when a newer version replaced this one or it was unloaded: no instance goes back to
    /// the pool and its ticker stops. Calls already running finish normally.
    retired: AtomicBool,
}

struct Instance {
    store: Store<InstanceState>,
    bindings: Bindings,
    /// `on-content`, when the component exports it.
    on_content: Option<OnContent>,
    /// `on-socket-event`, when the component exports it, type-checked.
    on_socket_event: Option<Func>,
}

/// The `on-content` export of the `content-handler` world.
type OnContent = TypedFunc<(ContentEvent,), (ContentResult,)>;

impl Instance {
    /// Bytes of linear memory it holds.
    fn memory(&self) -> usize {
        self.store.data().limits.memory()
    }
}

/// What [`Handler::new`] needs besides the component.
pub struct HandlerParts {
    pub name: Arc<str>,
    pub sha256: String,
    pub sidecar: String,
    pub limits: HandlerLimits,
    pub config: serde_json::Map<String, serde_json::Value>,
    pub code: Prepared,
    pub kv: Kv,
    pub links: Links,
}

impl Handler {
    /// Builds the handler and its first instance, whose `init` gives the registration.
    pub async fn new(parts: HandlerParts) -> Result<Self, CallError> {
        Self::build(parts, SystemTime::now(), Arc::default()).await
    }

    /// This version and its settings on other code (optimised after baseline): same counters
    /// and load time; `init` runs again on the new code's first instance.
    pub async fn recompiled(&self, code: Prepared) -> Result<Self, CallError> {
        let parts = HandlerParts {
            name: self.name.clone(),
            sha256: self.sha256.clone(),
            sidecar: self.sidecar.clone(),
            limits: self.limits,
            config: (*self.config).clone(),
            code,
            kv: self.kv.clone(),
            links: self.links.clone(),
        };
        Self::build(parts, self.loaded_at, self.stats.clone()).await
    }

    async fn build(
        parts: HandlerParts,
        loaded_at: SystemTime,
        stats: Arc<Stats>,
    ) -> Result<Self, CallError> {
        let config_json = serde_json::Value::Object(parts.config.clone()).to_string();
        let call_seconds = crate::metrics::call_seconds(&parts.name);
        let mut handler = Self {
            name: parts.name,
            sha256: parts.sha256,
            sidecar: parts.sidecar,
            registration: Registration {
                events: vec![],
                namespaces: vec![],
                priority: 0,
                on_connect: false,
                on_disconnect: false,
                tick_ms: None,
            },
            limits: parts.limits,
            loaded_at,
            tier: parts.code.tier,
            stats,
            call_seconds,
            config_json,
            config: Arc::new(parts.config),
            engine: parts.code.engine,
            content_export: parts
                .code
                .pre
                .instance_pre()
                .component()
                .get_export_index(None, "on-content"),
            socket_event_export: parts
                .code
                .pre
                .instance_pre()
                .component()
                .get_export_index(None, "on-socket-event"),
            pre: parts.code.pre,
            kv: parts.kv,
            links: parts.links,
            pool: Pool::new(pool::Bounds {
                max_live: parts.limits.max_instances,
                max_waiting: parts.limits.max_waiting,
                max_bytes: parts.limits.idle_memory_mb.saturating_mul(1024 * 1024) as usize,
            }),
            retired: AtomicBool::new(false),
        };
        let (instance, registration) = handler.instantiate().await?;
        handler.registration = registration;
        let memory = instance.memory();
        handler.pool.add(instance, memory);
        Ok(handler)
    }

    pub fn retire(&self) {
        self.retired.store(true, Ordering::Release);
        self.pool.clear();
    }

    pub fn is_retired(&self) -> bool {
        self.retired.load(Ordering::Acquire)
    }

    pub fn wants_event(&self, namespace: &str, event: &str) -> bool {
        self.serves(namespace)
            && self
                .registration
                .events
                .iter()
                .any(|e| e == "*" || e == event)
    }

    pub fn serves(&self, namespace: &str) -> bool {
        let namespaces = &self.registration.namespaces;
        namespaces.is_empty() || namespaces.iter().any(|n| n == namespace)
    }

    pub fn call_timeout(&self) -> Duration {
        Duration::from_millis(self.limits.call_timeout_ms)
    }

    /// One client event. A 0.1.2 component that exports `on-socket-event` gets a handle to
    /// the socket and reads only what it needs; others get all of `socket` in `on-event`.
    pub async fn on_event(
        &self,
        socket: &Arc<CallSocket>,
        event: &Event,
    ) -> Result<(EventResult, Vec<Action>), CallError> {
        let mut lease = self.lease(Waits::Bounded).await?;
        let on_socket_event = lease.instance.on_socket_event;
        let (store, bindings, meter) = lease.parts();
        store.data_mut().acting_user = socket.acting().user;
        let result = match on_socket_event {
            Some(func) => {
                store.data_mut().call_socket = Some(socket.clone());
                let typed = typed_socket_event(func);
                let call = typed.call_async(&mut *store, (Resource::new_borrow(0), event));
                let result = Metered::new(call, meter).await.map(|(result,)| result);
                // Not kept while the instance waits idle for its next call.
                store.data_mut().call_socket = None;
                result
            }
            None => Metered::new(bindings.call_on_event(store, socket.info(), event), meter).await,
        };
        lease.finish(result)
    }

    pub async fn on_connect(
        &self,
        socket: &SocketInfo,
    ) -> Result<(ConnectResult, Vec<Action>), CallError> {
        let mut lease = self.lease(Waits::Always).await?;
        let (store, bindings, meter) = lease.parts();
        store.data_mut().acting_user = socket.user.as_ref().map(|u| u.id);
        let result = Metered::new(bindings.call_on_connect(store, socket), meter).await;
        lease.finish(result)
    }

    pub async fn on_disconnect(
        &self,
        socket: &SocketInfo,
        reason: &str,
    ) -> Result<((), Vec<Action>), CallError> {
        let mut lease = self.lease(Waits::Always).await?;
        let (store, bindings, meter) = lease.parts();
        store.data_mut().acting_user = socket.user.as_ref().map(|u| u.id);
        let result = Metered::new(bindings.call_on_disconnect(store, socket, reason), meter).await;
        lease.finish(result)
    }

    pub async fn on_tick(&self) -> Result<((), Vec<Action>), CallError> {
        let mut lease = self.lease(Waits::Bounded).await?;
        let (store, bindings, meter) = lease.parts();
        let result = Metered::new(bindings.call_on_tick(store), meter).await;
        lease.finish(result)
    }

    /// Does this version export `on-socket-event` (0.1.2): do its events read their socket
    /// through a handle?
    pub fn reads_sockets_lazily(&self) -> bool {
        self.socket_event_export.is_some()
    }

    /// Does this version export `on-content` (the `content-handler` world, 0.1.1)?
    pub fn takes_content(&self) -> bool {
        self.content_export.is_some()
    }

    /// One audience's content event; [`ContentResult::Pass`] when the version has no
    /// `on-content`. Content events wait for an instance, as connects do: they are never
    /// refused as busy.
    pub async fn on_content(
        &self,
        event: &ContentEvent,
    ) -> Result<(ContentResult, Vec<Action>), CallError> {
        if !self.takes_content() {
            return Ok((ContentResult::Pass, Vec::new()));
        }
        let mut lease = self.lease(Waits::Always).await?;
        let Some(on_content) = lease.instance.on_content else {
            return lease.finish(Ok(ContentResult::Pass));
        };
        let (store, _, meter) = lease.parts();
        let call = on_content.call_async(&mut *store, (event.clone(),));
        let result = Metered::new(call, meter).await.map(|(result,)| result);
        lease.finish(result)
    }

    /// Idle instances kept for the next calls, and the linear memory they hold together.
    pub fn idle_usage(&self) -> (usize, usize) {
        self.pool.idle()
    }

    /// An instance for one call: an idle one, or a new one while under `max_instances`;
    /// otherwise waits until one is free, unless `max_waiting` calls wait already and the call
    /// is an event or a tick (then it is refused as busy rather than queued without end).
    async fn lease(&self, waits: Waits) -> Result<Lease<'_>, CallError> {
        let mut instance = match self.pool.take(waits == Waits::Bounded).await {
            Ok(pool::Got::Idle(instance)) => instance,
            Ok(pool::Got::Room(room)) => room.fill(self.instantiate().await?.0),
            Err(pool::Busy(waiting)) => {
                self.stats.busy.fetch_add(1, Ordering::Relaxed);
                metrics::counter!(crate::metrics::HANDLER_FAULTS, "handler" => self.name.to_string(), "kind" => "busy")
                    .increment(1);
                return Err(CallError::Busy {
                    handler: self.name.to_string(),
                    waiting,
                });
            }
        };
        instance.store.data_mut().start_call(self.call_timeout());
        instance.store.set_epoch_deadline(1);
        self.stats.calls.add(1);
        Ok(Lease {
            handler: self,
            instance,
        })
    }

    async fn instantiate(&self) -> Result<(Box<Instance>, Registration), CallError> {
        let state = InstanceState::new(
            self.name.clone(),
            super::limits::InstanceLimits::new(
                self.limits.memory_mb.saturating_mul(1024 * 1024) as usize,
                self.limits.table_elements as usize,
            ),
            super::limits::ActionBudget::new(
                self.limits.actions_per_call as usize,
                self.limits.action_mb_per_call.saturating_mul(1024 * 1024) as usize,
                Duration::from_millis(self.limits.ack_wait_ms),
                Duration::from_millis(self.limits.kv_wait_ms),
            ),
            self.kv.clone(),
            kv_quota(&self.limits),
            self.config.clone(),
            self.links.clone(),
        );
        let mut store = Store::new(&self.engine, state);
        store.limiter(|state| &mut state.limits);
        // Every epoch tick (10 ms) of a call that is still running: stop it past its limit
        // (what counts: `CallMeter`), else let the executor run other
        // tasks before it goes on. A guest that computes for its whole limit then holds a
        // runtime thread for one tick at a time, not the whole limit.
        store.epoch_deadline_callback(|ctx| {
            if let Some(exceeded) = ctx.data().budget.exceeded() {
                Err(exceeded.clone().into())
            } else if ctx.data().call_over() {
                Err(wasmtime::Trap::Interrupt.into())
            } else {
                ctx.data().meter.yield_now();
                Ok(wasmtime::UpdateDeadline::Yield(1))
            }
        });
        let init_limit = Duration::from_millis(self.limits.init_timeout_ms);
        store.data_mut().start_init(init_limit);
        store.set_epoch_deadline(1);
        let meter = store.data().meter.clone();
        let instance = Metered::new(
            self.pre.instance_pre().instantiate_async(&mut store),
            meter.clone(),
        )
        .await
        .map_err(|e| self.fault(e, init_limit))?;
        let bindings =
            Bindings::new(&mut store, &instance).map_err(|e| self.fault(e, init_limit))?;
        let on_content = match &self.content_export {
            Some(export) => Some(instance.get_typed_func(&mut store, export).map_err(|e| {
                CallError::InitRefused {
                    handler: self.name.to_string(),
                    reason: format!(
                        "its on-content export is not the content-handler world's: {e:#}"
                    ),
                }
            })?),
            None => None,
        };
        let on_socket_event = match &self.socket_event_export {
            Some(export) => Some(socket_event_func(&mut store, &instance, export).map_err(
                |e| CallError::InitRefused {
                    handler: self.name.to_string(),
                    reason: format!(
                        "its on-socket-event export is not the socket-handler world's: {e:#}"
                    ),
                },
            )?),
            None => None,
        };
        let registration = Metered::new(bindings.call_init(&mut store, &self.config_json), meter)
            .await
            .map_err(|e| self.fault(e, init_limit))?
            .and_then(bounded_registration)
            .map_err(|reason| CallError::InitRefused {
                handler: self.name.to_string(),
                reason,
            })?;
        // Actions requested by `init` have no socket to act for; they are dropped.
        store.data_mut().outbox.clear();
        self.stats.instances_created.fetch_add(1, Ordering::Relaxed);
        Ok((
            Box::new(Instance {
                store,
                bindings,
                on_content,
                on_socket_event,
            }),
            registration,
        ))
    }

    /// A call that returned an answer iohost cannot use (an ack that is not a payload, content
    /// data that is not JSON): counted and logged as a fault, as a trap is. The instance was
    /// healthy and stays in the pool.
    pub fn bad_answer(&self, reason: String) -> CallError {
        let fault = CallError::BadPayload {
            handler: self.name.to_string(),
            reason,
        };
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.stats
            .consecutive_faults
            .fetch_add(1, Ordering::Relaxed);
        if let Ok(mut last) = self.stats.last_error.lock() {
            *last = Some(fault.to_string());
        }
        metrics::counter!(crate::metrics::HANDLER_FAULTS, "handler" => self.name.to_string(), "kind" => "bad_payload")
            .increment(1);
        tracing::error!(handler = %self.name, version = %short(&self.sha256), "{fault}");
        fault
    }

    /// Classifies a failed call, counts it and logs it with the handler's name.
    fn fault(&self, error: wasmtime::Error, limit: Duration) -> CallError {
        let handler = self.name.to_string();
        self.stats.errors.fetch_add(1, Ordering::Relaxed);
        self.stats
            .consecutive_faults
            .fetch_add(1, Ordering::Relaxed);
        let detail = format!("{error:#}");
        let fault = if matches!(
            error.downcast_ref::<wasmtime::Trap>(),
            Some(wasmtime::Trap::Interrupt)
        ) {
            self.stats.timeouts.fetch_add(1, Ordering::Relaxed);
            CallError::Timeout {
                handler,
                ms: limit.as_millis() as u64,
            }
        } else if let Some(exceeded) = error
            .chain()
            .find_map(|e| e.downcast_ref::<super::limits::Exceeded>())
        {
            self.stats.memory_faults.fetch_add(1, Ordering::Relaxed);
            match exceeded {
                super::limits::Exceeded::Memory { .. } => CallError::MemoryLimit {
                    handler,
                    mb: self.limits.memory_mb,
                },
                other => CallError::ResourceLimit {
                    handler,
                    what: other.to_string(),
                },
            }
        } else {
            self.stats.traps.fetch_add(1, Ordering::Relaxed);
            let message = match error.downcast_ref::<wasmtime::Trap>() {
                Some(trap) => trap.to_string(),
                None => error.root_cause().to_string(),
            };
            CallError::Trap { handler, message }
        };
        let kind = match &fault {
            CallError::Timeout { .. } => "timeout",
            CallError::MemoryLimit { .. } | CallError::ResourceLimit { .. } => "memory",
            _ => "trap",
        };
        if let Ok(mut last) = self.stats.last_error.lock() {
            *last = Some(fault.to_string());
        }
        metrics::counter!(crate::metrics::HANDLER_FAULTS, "handler" => self.name.to_string(), "kind" => kind)
            .increment(1);
        tracing::error!(handler = %self.name, version = %short(&self.sha256), "{fault}; instance retired ({detail})");
        fault
    }
}

/// The `on-socket-event` export, checked to take a `borrow<socket>` and an event.
fn socket_event_func(
    store: &mut Store<InstanceState>,
    instance: &wasmtime::component::Instance,
    export: &ComponentExportIndex,
) -> wasmtime::Result<Func> {
    let func = instance
        .get_func(&mut *store, export)
        .ok_or_else(|| wasmtime::format_err!("it is not a function"))?;
    // The form `typed_socket_event` calls it with; `Resource` would also pass an `own<socket>`,
    // which could never be called with a lent handle: refused here, not on every event.
    let _checked: TypedFunc<(Resource<Socket>, &Event), (EventResult,)> = func.typed(&*store)?;
    let lent = func.ty(&*store).params().next().map(|(_, ty)| ty);
    if !matches!(lent, Some(wasmtime::component::types::Type::Borrow(_))) {
        return Err(wasmtime::format_err!(
            "its socket parameter is not a `borrow<socket>`"
        ));
    }
    Ok(func)
}

/// `on-socket-event` taking the event by reference, as the generated bindings pass theirs: no
/// copy of the event for each handler of the chain.
#[allow(unsafe_code)]
fn typed_socket_event<'a>(func: Func) -> TypedFunc<(Resource<Socket>, &'a Event), (EventResult,)> {
    // SAFETY: `socket_event_func` checked `func` against exactly these types.
    unsafe { TypedFunc::new_unchecked(func) }
}

pub fn short(sha256: &str) -> &str {
    &sha256[..sha256.len().min(12)]
}

/// A handler's KV quota, from its limits.
pub fn kv_quota(limits: &HandlerLimits) -> crate::store::Quota {
    crate::store::Quota {
        keys: limits.kv_keys,
        bytes: limits.kv_mb.saturating_mul(1024 * 1024),
    }
}

/// Event names one handler may register: every client event is matched against them (and a
/// name a client sends becomes a metric label), so a version's list stays short.
pub const MAX_REGISTERED_EVENTS: usize = 256;
/// Namespaces one handler may name.
pub const MAX_REGISTERED_NAMESPACES: usize = 64;
/// Bytes of one registered event or namespace name.
pub const MAX_REGISTERED_NAME_BYTES: usize = 256;

/// `init`'s registration, refused when its lists pass the bounds above.
fn bounded_registration(registration: Registration) -> Result<Registration, String> {
    for (what, names, max) in [
        ("events", &registration.events, MAX_REGISTERED_EVENTS),
        (
            "namespaces",
            &registration.namespaces,
            MAX_REGISTERED_NAMESPACES,
        ),
    ] {
        if names.len() > max {
            return Err(format!(
                "it registers {} {what}, more than {max}",
                names.len()
            ));
        }
        if let Some(long) = names.iter().find(|n| n.len() > MAX_REGISTERED_NAME_BYTES) {
            return Err(format!(
                "it registers a name of {} bytes in {what}, more than {MAX_REGISTERED_NAME_BYTES}",
                long.len()
            ));
        }
    }
    Ok(registration)
}

/// May a call be refused when `max_waiting` calls wait for an instance already? Events and
/// ticks may (their sender gets "busy"); connects and disconnects always wait their turn, so
/// a handler's view of who is connected never misses one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Waits {
    Bounded,
    Always,
}

pin_project_lite::pin_project! {
    /// A guest call, metered by its [`CallMeter`], and stopped once the meter passes the
    /// call's limit: at an epoch tick while the guest runs (the store's deadline callback), or
    /// by a timer while it waits for something whose wait counts. The timer is made only when
    /// a call first waits so; a call that never waits pays nothing for it.
    struct Metered<F> {
        #[pin]
        call: F,
        meter: Arc<CallMeter>,
        timer: Option<Pin<Box<tokio::time::Sleep>>>,
    }
}

impl<F> Metered<F> {
    fn new(call: F, meter: Arc<CallMeter>) -> Self {
        Self {
            call,
            meter,
            timer: None,
        }
    }
}

impl<F, T> std::future::Future for Metered<F>
where
    F: std::future::Future<Output = wasmtime::Result<T>>,
{
    type Output = F::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<F::Output> {
        use std::task::Poll;
        let this = self.project();
        this.meter.resumed();
        if let Poll::Ready(result) = this.call.poll(cx) {
            return Poll::Ready(result);
        }
        if this.meter.paused() {
            // Excused waits end on bounds of their own (see `CallMeter`); a yield is over soon.
            return Poll::Pending;
        }
        let left = this.meter.left();
        let deadline = tokio::time::Instant::now() + left;
        let timer = match this.timer {
            Some(timer) => {
                timer.as_mut().reset(deadline);
                timer
            }
            None => this
                .timer
                .insert(Box::pin(tokio::time::sleep_until(deadline))),
        };
        if left.is_zero() || timer.as_mut().poll(cx).is_ready() {
            // Dropping the call's future unwinds the guest; its instance is never reused.
            return Poll::Ready(Err(wasmtime::Trap::Interrupt.into()));
        }
        Poll::Pending
    }
}

/// One instance taken from the pool for one call. `finish` returns it to the pool when the
/// call ended normally; if the call failed, or was abandoned half-way (the lease is dropped),
/// the instance is dropped with it and never reused.
struct Lease<'h> {
    handler: &'h Handler,
    instance: Taken<'h, Box<Instance>>,
}

impl Lease<'_> {
    fn parts(&mut self) -> (&mut Store<InstanceState>, &Bindings, Arc<CallMeter>) {
        let instance: &mut Instance = &mut self.instance;
        let meter = instance.store.data().meter.clone();
        (&mut instance.store, &instance.bindings, meter)
    }

    fn finish<R>(self, result: wasmtime::Result<R>) -> Result<(R, Vec<Action>), CallError> {
        let Lease {
            handler,
            mut instance,
            ..
        } = self;
        // A call that asked for more actions than it may fails, even if it returned first.
        let result = match instance.store.data().budget.exceeded() {
            Some(exceeded) => result.and(Err(exceeded.clone().into())),
            None => result,
        };
        match result {
            Ok(value) => {
                let actions = std::mem::take(&mut instance.store.data_mut().outbox);
                let took = instance.store.data().meter.since_start();
                handler.stats.durations.record(took);
                handler.call_seconds.record(took);
                tracing::trace!(handler = %handler.name, ?took, "call done");
                // Kept unless this version is retired, or the pool would hold more than
                // `idle_memory_mb` of linear memory with it (then a later call makes a fresh one).
                let memory = instance.memory();
                instance.put_back(memory, !handler.is_retired());
                Ok((value, actions))
            }
            Err(error) => Err(handler.fault(error, handler.call_timeout())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registering(events: Vec<String>, namespaces: Vec<String>) -> Registration {
        Registration {
            events,
            namespaces,
            priority: 0,
            on_connect: false,
            on_disconnect: false,
            tick_ms: None,
        }
    }

    #[test]
    fn a_registration_past_its_bounds_is_refused() {
        let names = |n: usize, len: usize| -> Vec<String> {
            (0..n).map(|i| format!("{i:0>len$}")).collect()
        };
        let fits = registering(
            names(MAX_REGISTERED_EVENTS, MAX_REGISTERED_NAME_BYTES),
            names(MAX_REGISTERED_NAMESPACES, 8),
        );
        assert!(bounded_registration(fits).is_ok());
        let cases = [
            (
                registering(names(MAX_REGISTERED_EVENTS + 1, 4), vec![]),
                "it registers 257 events, more than 256",
            ),
            (
                registering(vec![], names(MAX_REGISTERED_NAMESPACES + 1, 4)),
                "it registers 65 namespaces, more than 64",
            ),
            (
                registering(names(1, MAX_REGISTERED_NAME_BYTES + 1), vec![]),
                "it registers a name of 257 bytes in events, more than 256",
            ),
        ];
        for (registration, reason) in cases {
            assert_eq!(
                bounded_registration(registration).err().as_deref(),
                Some(reason)
            );
        }
    }
}
