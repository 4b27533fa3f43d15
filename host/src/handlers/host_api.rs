//! The imports a handler may call (`sockets`, `kv`, `log`, `clock`, `config`, and `strapi` when
//! granted), implemented on the per-instance state. Nothing else is granted: WASI gets an empty context (no files,
//! network, environment or arguments).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use crate::cluster::Io;
use wasmtime::component::{Resource, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::actions::{Action, target_rooms};
use super::bindings::iohost::handler::types::{Ack, Acks, Payload, SocketInfo, Target};
use super::bindings::iohost::handler::{clock, config, kv, log, sockets, strapi, types};
use super::socket_info::{CallSocket, member_info};
use super::strapi_gateway::{GatewayError, StrapiGateway};
use crate::store::{Kv, KvError, Quota, Space};

/// How long a call has run, against its limit: the time inside its future's polls, and the
/// time it waits between them, except for the waits iohost excuses: after a yield at an epoch
/// tick (queued behind other tasks under load), for acks, Strapi and KV on Redis, which have
/// budgets of their own (`ack_wait_ms`, `call_budget_ms`, `kv_wait_ms`), and for
/// `sockets-in-room` (a few per call, each bounded). What else a call waits for counts: WASI's
/// clocks and polls, which a guest could otherwise block on without end
/// (`std::thread::sleep` is `pollable.block`).
///
/// A call that never waits reads the clock twice: when it begins (its first poll reuses that
/// reading) and when it ends. The clock is `quanta`'s: the CPU's time-stamp counter where it
/// is invariant (a few ns a read, against ~20-35 for the vDSO's `clock_gettime` here), the OS
/// monotonic clock elsewhere.
#[derive(Debug)]
pub struct CallMeter {
    base: quanta::Instant,
    /// When the current call began (nanoseconds after `base`).
    started: AtomicU64,
    /// How long the current call may run, in nanoseconds.
    limit: AtomicU64,
    /// Nanoseconds counted up to `resumed` (or `paused_at`, while paused).
    ran: AtomicU64,
    /// When the current poll began (nanoseconds after `base`).
    resumed: AtomicU64,
    /// When the last poll ended with the call still waiting.
    paused_at: AtomicU64,
    /// Between polls: the call waits.
    paused: AtomicBool,
    /// That wait is excused (see above): it does not count.
    pause_excused: AtomicBool,
    /// An import is waiting for acks or Strapi.
    excused_wait: AtomicBool,
    /// The epoch callback has just asked to yield.
    yielding: AtomicBool,
    /// The call has just begun: its first poll starts at `resumed` as `reset` set it. Reading
    /// the clock again there would add nothing but its cost (a clock read is ~20 ns, a no-op
    /// call under 1 us); the moments between count as run time, never the other way round.
    fresh: AtomicBool,
}

impl CallMeter {
    fn new() -> Self {
        Self {
            base: quanta::Instant::now(),
            started: AtomicU64::new(0),
            limit: AtomicU64::new(0),
            ran: AtomicU64::new(0),
            resumed: AtomicU64::new(0),
            paused_at: AtomicU64::new(0),
            paused: AtomicBool::new(false),
            pause_excused: AtomicBool::new(false),
            excused_wait: AtomicBool::new(false),
            yielding: AtomicBool::new(false),
            fresh: AtomicBool::new(false),
        }
    }

    fn now(&self) -> u64 {
        let elapsed = quanta::Instant::now().saturating_duration_since(self.base);
        elapsed.as_nanos() as u64
    }

    fn reset(&self, limit: Duration) {
        let now = self.now();
        self.started.store(now, Ordering::Relaxed);
        let limit = u64::try_from(limit.as_nanos()).unwrap_or(u64::MAX);
        self.limit.store(limit, Ordering::Relaxed);
        self.ran.store(0, Ordering::Relaxed);
        self.resumed.store(now, Ordering::Relaxed);
        self.paused.store(false, Ordering::Relaxed);
        self.excused_wait.store(false, Ordering::Relaxed);
        self.yielding.store(false, Ordering::Relaxed);
        self.fresh.store(true, Ordering::Relaxed);
    }

    /// A poll of the call begins.
    pub(super) fn resumed(&self) {
        if self.fresh.swap(false, Ordering::Relaxed) {
            return;
        }
        let now = self.now();
        if self.paused.swap(false, Ordering::Relaxed) {
            self.yielding.store(false, Ordering::Relaxed);
            if !self.pause_excused.load(Ordering::Relaxed) {
                let waited = now.saturating_sub(self.paused_at.load(Ordering::Relaxed));
                self.ran.fetch_add(waited, Ordering::Relaxed);
            }
        }
        self.resumed.store(now, Ordering::Relaxed);
    }

    /// A poll of the call ended with the call still waiting. Returns whether the wait is
    /// excused (does not count against the call's limit).
    pub(super) fn paused(&self) -> bool {
        let now = self.now();
        let slice = now.saturating_sub(self.resumed.load(Ordering::Relaxed));
        self.ran.fetch_add(slice, Ordering::Relaxed);
        let excused =
            self.excused_wait.load(Ordering::Relaxed) || self.yielding.load(Ordering::Relaxed);
        self.paused_at.store(now, Ordering::Relaxed);
        self.pause_excused.store(excused, Ordering::Relaxed);
        self.paused.store(true, Ordering::Relaxed);
        excused
    }

    /// The epoch callback yields: the time until the next poll is not the call's.
    pub(super) fn yield_now(&self) {
        self.yielding.store(true, Ordering::Relaxed);
    }

    /// Marks a wait for acks or Strapi until the guard is dropped.
    pub(super) fn excuse_wait(self: &Arc<Self>) -> ExcusedWait {
        self.excused_wait.store(true, Ordering::Relaxed);
        ExcusedWait(self.clone())
    }

    /// Time counted so far, the current poll or wait included.
    pub(super) fn ran(&self) -> Duration {
        let now = self.now();
        let counted = self.ran.load(Ordering::Relaxed);
        let current = if !self.paused.load(Ordering::Relaxed) {
            now.saturating_sub(self.resumed.load(Ordering::Relaxed))
        } else if self.pause_excused.load(Ordering::Relaxed) {
            0
        } else {
            now.saturating_sub(self.paused_at.load(Ordering::Relaxed))
        };
        Duration::from_nanos(counted.saturating_add(current))
    }

    /// How much of the call's limit is left.
    pub(super) fn left(&self) -> Duration {
        Duration::from_nanos(self.limit.load(Ordering::Relaxed)).saturating_sub(self.ran())
    }

    /// Wall-clock time since the call began, waits included.
    pub(super) fn since_start(&self) -> Duration {
        Duration::from_nanos(
            self.now()
                .saturating_sub(self.started.load(Ordering::Relaxed)),
        )
    }
}

/// A wait that does not count against the call's limit, while it lasts.
pub(super) struct ExcusedWait(Arc<CallMeter>);

impl Drop for ExcusedWait {
    fn drop(&mut self) {
        self.0.excused_wait.store(false, Ordering::Relaxed);
    }
}

/// What handlers' imports reach outside their instance.
#[derive(Debug, Clone, Default)]
pub struct Links {
    /// The Socket.IO server; none when a handler runs on its own (benchmarks, tools).
    pub io: Option<Io>,
    /// Every node's sockets (`sockets-in-room`); none when a handler runs on its own.
    pub directory: Option<Arc<crate::sockets::Directory>>,
    /// Strapi's REST API, for granted handlers.
    pub strapi: Option<Arc<StrapiGateway>>,
    /// The reserved rooms the operator granted this handler (`[handlers.reserved_rooms]`).
    pub room_grant: Option<globset::GlobSet>,
}

/// Everything a handler instance's store holds.
pub struct InstanceState {
    wasi: WasiCtx,
    table: ResourceTable,
    pub(super) limits: super::limits::InstanceLimits,
    handler: Arc<str>,
    kv: Kv,
    kv_space: Space,
    config: Arc<serde_json::Map<String, serde_json::Value>>,
    links: Links,
    /// Actions requested during the current call, within `budget`.
    pub(super) outbox: Vec<Action>,
    pub(super) budget: super::limits::ActionBudget,
    /// How long the current call has run, and may run.
    pub(super) meter: Arc<CallMeter>,
    /// Time the current call spent waiting for Strapi, bounded by `[handlers.strapi]
    /// call_budget_ms`.
    waited: Duration,
    /// `sockets-in-room` questions the current call asked, at most [`ROOM_QUERIES_PER_CALL`].
    room_queries: usize,
    /// The user of the socket the current call is for: its own `user-<id>` room is not
    /// reserved for this call.
    pub(super) acting_user: Option<u64>,
    /// The socket the current `on-socket-event` call is for, which its `socket` handle reads.
    pub(super) call_socket: Option<Arc<CallSocket>>,
    /// The current call is `init` (instantiation): nothing reaches a client from it.
    initializing: bool,
    /// A bad payload was logged in this call already (once a call is enough).
    bad_payload_logged: bool,
}

/// `sockets-in-room` calls one handler call may make: in a cluster each asks every node, so a
/// handler looping on it would keep them all busy. Past it the import answers an empty list.
pub const ROOM_QUERIES_PER_CALL: usize = 16;

/// WASI handles (streams, pollables) one instance may hold at once. Each is host memory that
/// `memory_mb` does not see, kept while the instance is idle if the guest never drops it;
/// Rust's std holds a few. One more fails the WASI call, which traps the guest.
pub const MAX_WASI_HANDLES: usize = 1024;

/// Bytes one `wasi:random` call may ask for (wasmtime's own bound is 64 MiB, made in iohost's
/// memory before the guest's); std and the usual crates ask for 8 to 32.
pub const MAX_RANDOM_BYTES: u64 = 64 * 1024;

impl InstanceState {
    pub fn new(
        handler: Arc<str>,
        limits: super::limits::InstanceLimits,
        budget: super::limits::ActionBudget,
        kv: Kv,
        kv_quota: Quota,
        config: Arc<serde_json::Map<String, serde_json::Value>>,
        links: Links,
    ) -> Self {
        let mut table = ResourceTable::new();
        table.set_max_capacity(MAX_WASI_HANDLES);
        Self {
            wasi: WasiCtx::builder().max_random_size(MAX_RANDOM_BYTES).build(),
            table,
            limits,
            kv_space: Space::of_handler(&handler, kv_quota),
            handler,
            kv,
            config,
            links,
            outbox: Vec::new(),
            budget,
            meter: Arc::new(CallMeter::new()),
            waited: Duration::ZERO,
            room_queries: 0,
            acting_user: None,
            call_socket: None,
            initializing: false,
            bad_payload_logged: false,
        }
    }

    /// `init` begins, which may run for `limit`.
    pub(super) fn start_init(&mut self, limit: Duration) {
        self.start_call(limit);
        self.initializing = true;
    }

    /// A call begins that may run for `limit`.
    pub(super) fn start_call(&mut self, limit: Duration) {
        self.meter.reset(limit);
        self.budget.reset();
        self.waited = Duration::ZERO;
        self.room_queries = 0;
        self.acting_user = None;
        self.call_socket = None;
        self.initializing = false;
        self.bad_payload_logged = false;
    }

    /// Has the current call run for its whole limit?
    pub(super) fn call_over(&self) -> bool {
        self.meter.left().is_zero()
    }

    /// Refuses `room` when it is one of iohost's reserved rooms the operator did not grant this
    /// handler (the acting socket's own user room is not reserved for it); logged and counted.
    pub(super) fn check_room(&self, room: &str, what: &'static str) -> Result<(), String> {
        if may_use_room(self.links.room_grant.as_ref(), room, self.acting_user) {
            return Ok(());
        }
        refused_room(&self.handler, room, what);
        Err(format!(
            "room `{room}` is reserved for iohost (grant it with [handlers.reserved_rooms])"
        ))
    }

    /// Counts one more action of `bytes` (its names and arguments, as the guest sent them)
    /// against the call's [`ActionBudget`], before anything of it is converted or checked: true
    /// if it fits. Past the budget nothing more is kept (nor what was) and the call will fail.
    ///
    /// [`ActionBudget`]: super::limits::ActionBudget
    fn admit(&mut self, bytes: usize) -> bool {
        let fits = self.budget.spend(bytes);
        if !fits {
            self.outbox.clear();
        }
        fits
    }

    fn args(&mut self, payload: Payload) -> Option<crate::model::Args> {
        match self.read_args(payload) {
            Ok(args) => Some(args),
            Err(ReadArgs::OverBudget) => None,
            Err(ReadArgs::Bad(e)) => {
                if !std::mem::replace(&mut self.bad_payload_logged, true) {
                    tracing::warn!(handler = %self.handler, "handler emitted a bad payload, dropped: {e}");
                }
                None
            }
        }
    }

    /// An admitted action's payload read into values; what the values hold beyond its text and
    /// attachments (already admitted) counts against `action_mb_per_call` too, and reading
    /// stops once they would pass it.
    fn read_args(&mut self, payload: Payload) -> Result<crate::model::Args, ReadArgs> {
        let carried = payload_bytes(&payload);
        let within = carried.saturating_add(self.budget.bytes_left());
        let (args, held) = match payload.into_args_within(within) {
            Ok(read) => read,
            Err(super::payload::PayloadError::TooLarge { .. }) => (Default::default(), usize::MAX),
            Err(e) => return Err(ReadArgs::Bad(e)),
        };
        if !self.budget.spend_bytes(held.saturating_sub(carried)) {
            self.outbox.clear();
            return Err(ReadArgs::OverBudget);
        }
        Ok(args)
    }

    /// `e` for the handler; a write over its quota is also logged and counted.
    fn kv_error(&self, e: KvError) -> kv::Error {
        match e {
            KvError::NotANumber => kv::Error::NotANumber,
            KvError::Unavailable(reason) => kv::Error::Unavailable(reason),
            over @ KvError::OverQuota { .. } => {
                tracing::warn!(handler = %self.handler, "refused a handler's KV write: {over}");
                metrics::counter!(crate::metrics::HANDLER_ACTIONS_REFUSED, "handler" => self.handler.to_string(), "action" => "kv")
                    .increment(1);
                // The WIT's kv error has no quota case: a new one would break built handlers.
                kv::Error::Unavailable(over.to_string())
            }
        }
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

/// The `socket` resource: iohost lends a handler one handle, for the socket of the current
/// `on-socket-event` call, and the component model ends the borrow with the call. The handle's
/// number is not used: there is only ever the current call's socket to read.
impl types::HostSocket for InstanceState {
    fn id(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<String> {
        Ok(self.call_socket()?.id().to_owned())
    }

    fn namespace(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<String> {
        Ok(self.call_socket()?.namespace().to_owned())
    }

    fn rooms(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<Vec<String>> {
        Ok(self.call_socket()?.rooms().to_vec())
    }

    fn in_room(&mut self, _: Resource<types::Socket>, room: String) -> wasmtime::Result<bool> {
        Ok(self.call_socket()?.rooms().contains(&room))
    }

    fn role(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<String> {
        Ok(self.call_socket()?.role().to_owned())
    }

    fn user(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<Option<types::User>> {
        Ok(self.call_socket()?.user())
    }

    fn address(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<String> {
        Ok(self.call_socket()?.address().to_owned())
    }

    fn query(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self.call_socket()?.query().to_vec())
    }

    fn auth(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<String> {
        Ok(self.call_socket()?.auth().to_owned())
    }

    fn drop(&mut self, _: Resource<types::Socket>) -> wasmtime::Result<()> {
        // Only borrowed handles are ever lent: there is nothing of the guest's to free.
        Ok(())
    }
}

impl InstanceState {
    fn call_socket(&self) -> wasmtime::Result<&CallSocket> {
        self.call_socket
            .as_deref()
            .ok_or_else(|| wasmtime::format_err!("a `socket` handle is good only during its call"))
    }
}

/// May a handler with `grant` act in `room` for a call on behalf of user `owner`? Not in
/// iohost's reserved rooms (`[handlers.reserved_rooms]` grants some), except the user's own.
pub(super) fn may_use_room(
    grant: Option<&globset::GlobSet>,
    room: &str,
    owner: Option<u64>,
) -> bool {
    !crate::rooms::reserved_for(room, owner) || grant.is_some_and(|g| g.is_match(room))
}

/// Logs and counts a handler's `what` (emit, join, leave) refused in `room`.
pub(super) fn refused_room(handler: &str, room: &str, what: &'static str) {
    tracing::warn!(
        handler,
        "refused a handler's {what} in room `{room}`: reserved for iohost (grant it with [handlers.reserved_rooms])"
    );
    metrics::counter!(crate::metrics::HANDLER_ACTIONS_REFUSED, "handler" => handler.to_owned(), "action" => what)
        .increment(1);
}

/// Bytes of ack arguments one `emit-with-ack` keeps at most: clients choose what they answer,
/// and it all goes into the handler's memory.
pub const MAX_ACK_BYTES: usize = 1024 * 1024;
/// Sockets one `emit-with-ack` names at most (answered and timed out together).
pub const MAX_ACK_SOCKETS: usize = 10_000;

/// `acks` (kept within [`MAX_ACK_BYTES`] and [`MAX_ACK_SOCKETS`]) for the guest.
fn bounded_acks(acks: crate::sockets::Acks) -> Acks {
    Acks {
        answered: acks
            .answered
            .into_iter()
            .map(|(socket_id, args)| Ack {
                socket_id,
                args: Payload::from_args(&args),
            })
            .collect(),
        timed_out: acks.silent,
        left_out: u32::try_from(acks.left_out).unwrap_or(u32::MAX),
    }
}

/// The longest ack wait one `emit-with-ack` may ask for.
pub const MAX_ACK_TIMEOUT_MS: u32 = 10_000;

fn target_bytes(target: &Target) -> usize {
    match target {
        Target::Socket(name) | Target::Room(name) => name.len(),
        Target::Namespace => 0,
    }
}

/// Why an action's payload was not read into values.
enum ReadArgs {
    /// The values would pass the call's `action_mb_per_call` (the call fails).
    OverBudget,
    Bad(super::payload::PayloadError),
}

/// Bytes a payload brings from the guest: its JSON text and attachments.
fn payload_bytes(payload: &Payload) -> usize {
    payload.json.len() + payload.attachments.iter().map(Vec::len).sum::<usize>()
}

impl sockets::Host for InstanceState {
    async fn emit_to_socket(&mut self, ns: String, sid: String, event: String, args: Payload) {
        let bytes = ns.len() + sid.len() + event.len() + payload_bytes(&args);
        if self.admit(bytes)
            && let Some(args) = self.args(args)
        {
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
        let bytes = ns.len() + room.len() + event.len() + payload_bytes(&args);
        let bytes = bytes + except.as_ref().map_or(0, String::len);
        if self.admit(bytes)
            && let Some(args) = self.args(args)
        {
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
        let bytes = ns.len() + event.len() + payload_bytes(&args);
        let bytes = bytes + except.as_ref().map_or(0, String::len);
        if self.admit(bytes)
            && let Some(args) = self.args(args)
        {
            self.outbox.push(Action::EmitToNamespace {
                ns,
                event,
                args,
                except,
            });
        }
    }

    async fn join_room(&mut self, ns: String, sid: String, room: String) {
        if self.admit(ns.len() + sid.len() + room.len()) {
            self.outbox.push(Action::Join { ns, sid, room });
        }
    }

    async fn leave_room(&mut self, ns: String, sid: String, room: String) {
        if self.admit(ns.len() + sid.len() + room.len()) {
            self.outbox.push(Action::Leave { ns, sid, room });
        }
    }

    async fn disconnect(&mut self, ns: String, sid: String) {
        if self.admit(ns.len() + sid.len()) {
            self.outbox.push(Action::Disconnect { ns, sid });
        }
    }

    async fn emit_volatile(
        &mut self,
        ns: String,
        target: Target,
        event: String,
        args: Payload,
        except: Option<String>,
    ) {
        let bytes = ns.len() + target_bytes(&target) + event.len() + payload_bytes(&args);
        let bytes = bytes + except.as_ref().map_or(0, String::len);
        if self.admit(bytes)
            && let Some(args) = self.args(args)
        {
            self.outbox.push(Action::Volatile {
                ns,
                target,
                event,
                args,
                except,
            });
        }
    }

    async fn emit_with_ack(
        &mut self,
        ns: String,
        target: Target,
        event: String,
        args: Payload,
        timeout_ms: u32,
    ) -> Result<Acks, String> {
        // Counted first, refused or not: a loop of refused asks ends at the actions budget.
        let bytes = ns.len() + target_bytes(&target) + event.len() + payload_bytes(&args);
        if !self.admit(bytes) {
            return Err("this call asked for more actions than it may".to_owned());
        }
        if self.initializing {
            return Err("not in init: no client is asked while a handler loads".to_owned());
        }
        if !(1..=MAX_ACK_TIMEOUT_MS).contains(&timeout_ms) {
            return Err(format!(
                "timeout-ms must be 1 to {MAX_ACK_TIMEOUT_MS}, not {timeout_ms}"
            ));
        }
        let left = self.budget.acks.left();
        if left.is_zero() {
            return Err(format!(
                "this call waited {} ms for acks already, the most [handlers.limits] ack_wait_ms allows",
                self.budget.acks.max().as_millis()
            ));
        }
        if let Target::Room(room) = &target {
            self.check_room(room, "emit")?;
        }
        let Some(io) = self.links.io.clone() else {
            return Err("no Socket.IO server: the handler runs on its own".to_owned());
        };
        let args = self.read_args(args).map_err(|e| match e {
            ReadArgs::OverBudget => "this call asked for more actions than it may".to_owned(),
            ReadArgs::Bad(e) => format!("bad arguments: {e}"),
        })?;
        let wait = left.min(Duration::from_millis(u64::from(timeout_ms)));
        let targets = crate::sockets::targets(&io, &ns, target_rooms(target), &[])
            .map_err(|e| e.to_string())?;
        let started = Instant::now();
        let caps = crate::sockets::AckCaps {
            bytes: MAX_ACK_BYTES,
            sockets: MAX_ACK_SOCKETS,
        };
        let excused = self.meter.excuse_wait();
        let acks = crate::sockets::emit_with_ack(targets, &event, &args, wait, caps).await;
        drop(excused);
        self.budget.acks.waited(started.elapsed());
        Ok(bounded_acks(acks?))
    }

    async fn sockets_in_room(&mut self, ns: String, room: String) -> Vec<SocketInfo> {
        let (Some(io), Some(directory)) = (&self.links.io, &self.links.directory) else {
            return Vec::new();
        };
        self.room_queries += 1;
        if self.room_queries > ROOM_QUERIES_PER_CALL {
            if self.room_queries == ROOM_QUERIES_PER_CALL + 1 {
                tracing::warn!(
                    handler = %self.handler,
                    "sockets-in-room called more than {ROOM_QUERIES_PER_CALL} times in one call: answering empty lists"
                );
            }
            return Vec::new();
        }
        // Other sockets' `auth` objects are theirs: a handler sees its own caller's, never
        // these (they may hold credentials iohost does not verify).
        // Bounded by ROOM_QUERIES_PER_CALL x `cluster.request_timeout_ms`: not the guest's
        // time (a slow node would otherwise time handlers out and switch them off).
        let excused = self.meter.excuse_wait();
        let listed = directory.list(io, Some(&ns), Some(&room)).await;
        drop(excused);
        listed.members.into_iter().map(member_info).collect()
    }
}

impl kv::Host for InstanceState {
    async fn get(&mut self, key: String) -> Result<Option<String>, kv::Error> {
        let Some(wait) = self.kv_wait()? else {
            // The in-process store answers at once: nothing to time.
            let got = self.kv.get(&self.kv_space, &key).await;
            return got.map_err(|e| self.kv_error(e));
        };
        let got = Self::waited(wait, self.kv.get(&self.kv_space, &key)).await;
        self.kv_answer(got)
    }

    async fn set(
        &mut self,
        key: String,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<(), kv::Error> {
        let ttl = crate::store::ttl(ttl_ms);
        let Some(wait) = self.kv_wait()? else {
            let set = self.kv.set(&self.kv_space, &key, value, ttl).await;
            return set.map_err(|e| self.kv_error(e));
        };
        let set = Self::waited(wait, self.kv.set(&self.kv_space, &key, value, ttl)).await;
        self.kv_answer(set)
    }

    async fn delete(&mut self, key: String) -> Result<bool, kv::Error> {
        let Some(wait) = self.kv_wait()? else {
            let deleted = self.kv.delete(&self.kv_space, &key).await;
            return deleted.map_err(|e| self.kv_error(e));
        };
        let deleted = Self::waited(wait, self.kv.delete(&self.kv_space, &key)).await;
        self.kv_answer(deleted)
    }

    async fn incr(
        &mut self,
        key: String,
        delta: i64,
        ttl_ms: Option<u64>,
    ) -> Result<i64, kv::Error> {
        let ttl = crate::store::ttl(ttl_ms);
        let Some(wait) = self.kv_wait()? else {
            let value = self.kv.incr(&self.kv_space, &key, delta, ttl).await;
            return value.map_err(|e| self.kv_error(e));
        };
        let value = Self::waited(wait, self.kv.incr(&self.kv_space, &key, delta, ttl)).await;
        self.kv_answer(value)
    }

    async fn compare_and_set(
        &mut self,
        key: String,
        expected: Option<String>,
        value: String,
        ttl_ms: Option<u64>,
    ) -> Result<bool, kv::Error> {
        let ttl = crate::store::ttl(ttl_ms);
        let Some(wait) = self.kv_wait()? else {
            let set = self
                .kv
                .compare_and_set(&self.kv_space, &key, expected.as_deref(), value, ttl)
                .await;
            return set.map_err(|e| self.kv_error(e));
        };
        let set = Self::waited(
            wait,
            self.kv
                .compare_and_set(&self.kv_space, &key, expected.as_deref(), value, ttl),
        )
        .await;
        self.kv_answer(set)
    }

    async fn keys(&mut self, prefix: String) -> Result<Vec<String>, kv::Error> {
        let Some(wait) = self.kv_wait()? else {
            let keys = self.kv.keys(&self.kv_space, &prefix).await;
            return keys.map_err(|e| self.kv_error(e));
        };
        let keys = Self::waited(wait, self.kv.keys(&self.kv_space, &prefix)).await;
        self.kv_answer(keys)
    }
}

/// A KV operation on Redis under way: its wait is excused from the call's time and counted
/// against `kv_wait_ms` instead.
struct KvWait {
    _excused: ExcusedWait,
    started: Instant,
    left: Duration,
}

/// How a waited KV operation ended.
enum KvWaited<T> {
    Done(Result<T, KvError>, Duration),
    /// `kv_wait_ms` ran out during it.
    OutOfTime(Duration),
}

impl InstanceState {
    /// Starts timing a KV operation when the store is Redis; refused once the call has
    /// waited `kv_wait_ms` for it.
    fn kv_wait(&mut self) -> Result<Option<KvWait>, kv::Error> {
        if matches!(self.kv, Kv::Memory(_)) {
            return Ok(None);
        }
        let left = self.budget.kv.left();
        if left.is_zero() {
            return Err(self.kv_out_of_time());
        }
        Ok(Some(KvWait {
            _excused: self.meter.excuse_wait(),
            started: Instant::now(),
            left,
        }))
    }

    fn kv_out_of_time(&self) -> kv::Error {
        kv::Error::Unavailable(format!(
            "this call waited {} ms for the KV store in all, the most [handlers.limits] kv_wait_ms allows",
            self.budget.kv.max().as_millis()
        ))
    }

    async fn waited<T>(
        wait: KvWait,
        op: impl std::future::Future<Output = Result<T, KvError>>,
    ) -> KvWaited<T> {
        let done = tokio::time::timeout(wait.left, op).await;
        let took = wait.started.elapsed();
        match done {
            Ok(result) => KvWaited::Done(result, took),
            Err(_) => KvWaited::OutOfTime(took),
        }
    }

    fn kv_answer<T>(&mut self, waited: KvWaited<T>) -> Result<T, kv::Error> {
        let result = match waited {
            KvWaited::Done(result, took) => {
                self.budget.kv.waited(took);
                result
            }
            KvWaited::OutOfTime(took) => {
                self.budget.kv.waited(took);
                return Err(self.kv_out_of_time());
            }
        };
        result.map_err(|e| self.kv_error(e))
    }
}

/// Bytes of one handler log line that reach the log; the rest is cut (a line is written while
/// the call waits, and a slow log pipe would hold its thread for a huge one).
pub const MAX_LOG_LINE_BYTES: usize = 8 * 1024;

/// `message`, cut to [`MAX_LOG_LINE_BYTES`] at a character boundary, saying how much was cut.
fn log_line(mut message: String) -> String {
    if message.len() > MAX_LOG_LINE_BYTES {
        let cut = message.floor_char_boundary(MAX_LOG_LINE_BYTES);
        let more = message.len() - cut;
        message.truncate(cut);
        message.push_str(&format!("... ({more} more bytes cut)"));
    }
    message
}

impl log::Host for InstanceState {
    async fn log(&mut self, level: log::Level, message: String) {
        let handler = &*self.handler;
        let message = log_line(message);
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
        crate::model::now_ms()
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
        // Chained requests cannot stretch one call without end: they share one budget.
        let budget = gateway.call_budget();
        let over = || {
            strapi::Error::Unavailable(format!(
                "this call waited {} ms for Strapi in all, the most [handlers.strapi] call_budget_ms allows",
                budget.as_millis()
            ))
        };
        let Some(left) = budget.checked_sub(self.waited).filter(|d| !d.is_zero()) else {
            return Err(over());
        };
        let started = Instant::now();
        let excused = self.meter.excuse_wait();
        let answer = tokio::time::timeout(left, gateway.request(request)).await;
        drop(excused);
        let took = started.elapsed();
        self.waited += took;
        let answer = answer.map_err(|_| over())?.map_err(strapi_error)?;
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_line_is_cut_at_a_character_boundary() {
        assert_eq!(log_line("short".into()), "short");
        let long = "é".repeat(MAX_LOG_LINE_BYTES);
        let line = log_line(long);
        assert!(line.ends_with(&format!("... ({} more bytes cut)", MAX_LOG_LINE_BYTES)));
        assert!(line.len() < MAX_LOG_LINE_BYTES + 40);
    }

    #[test]
    fn the_meter_counts_polls_and_waits_but_not_excused_waits() {
        let ms = Duration::from_millis;
        let meter = Arc::new(CallMeter::new());
        meter.reset(ms(1000));
        let started = meter.started.load(Ordering::Relaxed);
        // The first poll begins where the call began: no second reading.
        meter.resumed();
        assert_eq!(meter.resumed.load(Ordering::Relaxed), started);
        std::thread::sleep(ms(5));
        // A wait for something iohost does not excuse (a WASI clock, KV on Redis) counts.
        assert!(!meter.paused());
        std::thread::sleep(ms(20));
        assert!(meter.ran() >= ms(25), "{:?}", meter.ran());
        meter.resumed();
        let counted = meter.ran();
        assert!(counted >= ms(25), "{counted:?}");
        // A wait for acks or Strapi does not, nor the time queued after a yield.
        let excused = meter.excuse_wait();
        assert!(meter.paused());
        std::thread::sleep(ms(40));
        assert!(meter.ran() < counted + ms(20), "{:?}", meter.ran());
        meter.resumed();
        drop(excused);
        meter.yield_now();
        assert!(meter.paused());
        std::thread::sleep(ms(40));
        meter.resumed();
        // The yield is over: the next wait counts again.
        assert!(!meter.paused());
        meter.resumed();
        let ran = meter.ran();
        let wall = meter.since_start();
        assert!(ran >= counted, "{ran:?} < {counted:?}");
        assert!(ran + ms(80) <= wall, "{ran:?} + 80 ms > {wall:?}");
        // A new call starts from nothing.
        meter.reset(ms(1000));
        assert!(meter.ran() < ms(25), "{:?}", meter.ran());
    }
}
