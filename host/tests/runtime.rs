//! The handler runtime on its own, without a Socket.IO server (as Spin's factors-test tests a
//! capability without the whole host): real example handlers from `target/handlers/` (built
//! by `scripts/build-handlers.sh`, which `scripts/test.sh` runs first) in a real wasmtime.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use iohost::config::HandlersConfig;
use iohost::handlers::bindings::iohost::handler::types::{SocketInfo, User};
use iohost::handlers::{CallSocket, Outcome, Runtime};
use iohost::model::Args;
use iohost::store::{Kv, MemoryStore};

fn built(name: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../target/handlers")
        .join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing: run scripts/build-handlers.sh first",
        path.display()
    );
    path
}

/// A runtime with `handlers` (name, sidecar) loaded from a folder of its own.
async fn runtime(handlers: &[(&str, &str)]) -> (Arc<Runtime>, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let folder = dir.path().join("handlers");
    std::fs::create_dir(&folder).expect("folder");
    for (name, sidecar) in handlers {
        std::fs::copy(built(name), folder.join(format!("{name}.wasm"))).expect("copy");
        std::fs::write(folder.join(format!("{name}.toml")), sidecar).expect("sidecar");
    }
    let mut config = HandlersConfig {
        dir: folder,
        // The tests' shared compile cache: each example compiles once per run.
        cache_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/runtime-test-cache"),
        baseline_first: false,
        watch: false,
        ..HandlersConfig::default()
    };
    // A debug build runs guests many times slower than release.
    config.limits.call_timeout_ms = 2_000;
    let runtime = Runtime::new(config, Kv::Memory(Arc::new(MemoryStore::new()))).expect("runtime");
    runtime.load_all().await;
    let names: Vec<String> = runtime
        .handlers()
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    assert_eq!(
        names.len(),
        handlers.len(),
        "all loaded: {names:?}, errors {:?}",
        runtime.load_errors()
    );
    (runtime, dir)
}

fn socket(id: &str) -> Arc<CallSocket> {
    Arc::new(info(id).into())
}

fn info(id: &str) -> SocketInfo {
    SocketInfo {
        id: id.into(),
        namespace: "/".into(),
        rooms: vec!["io-role-public".into()],
        role: "public".into(),
        user: None,
        address: "127.0.0.1:40000".into(),
        query: vec![],
        auth: "{}".into(),
    }
}

fn args(json: serde_json::Value) -> Args {
    serde_json::from_value(json).expect("args")
}

fn acked(outcome: &Outcome) -> serde_json::Value {
    match outcome {
        Outcome::Handled(Some(args)) => serde_json::to_value(args).expect("json"),
        other => panic!("not handled with an ack: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chain_runs_by_priority_and_stops_at_the_first_answer() {
    // rate-limit (priority 100) passes the first event, rejects the second; echo answers what
    // reaches it; an event nobody registered passes through.
    let (runtime, _dir) = runtime(&[
        ("rate-limit", "[config]\nevents_per_minute = 1\nburst = 1\n"),
        ("echo", ""),
    ])
    .await;
    let names: Vec<String> = runtime
        .handlers()
        .iter()
        .map(|h| h.name.to_string())
        .collect();
    assert_eq!(names, ["rate-limit", "echo"], "highest priority first");
    let me = socket("socketA000000001");
    let first = runtime
        .run_chain(
            &me,
            "message-with-ack",
            &args(serde_json::json!([1, "two"])),
        )
        .await;
    assert_eq!(
        acked(&first),
        serde_json::json!([1, "two"]),
        "echo answered"
    );
    let second = runtime
        .run_chain(&me, "message-with-ack", &args(serde_json::json!([3])))
        .await;
    assert!(
        matches!(&second, Outcome::Rejected(reason) if reason.starts_with("Rate limit exceeded")),
        "{second:?}"
    );
    let other = socket("socketB000000002");
    assert!(
        matches!(
            runtime
                .run_chain(&other, "nobody-knows", &args(serde_json::json!([])))
                .await,
            Outcome::Pass
        ),
        "another socket's first event passes rate-limit; nothing answers it"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_a_timeout_or_the_memory_cap_fails_one_call_and_the_next_one_runs() {
    let (runtime, _dir) =
        runtime(&[("faults", "[limits]\ncall_timeout_ms = 300\nmemory_mb = 8\n")]).await;
    let me = socket("socketC000000003");
    let none = args(serde_json::json!([]));
    let failed = |outcome: Outcome| match outcome {
        Outcome::Failed(message) => message,
        other => panic!("did not fail: {other:?}"),
    };
    let trap = failed(runtime.run_chain(&me, "trap", &none).await);
    assert!(trap.starts_with("handler `faults` failed: "), "{trap}");
    let spin = failed(runtime.run_chain(&me, "spin", &none).await);
    assert_eq!(
        spin,
        "handler `faults` failed: it ran longer than its 300 ms limit"
    );
    let hog = failed(runtime.run_chain(&me, "hog", &none).await);
    assert_eq!(
        hog,
        "handler `faults` failed: it used more than its 8 MB memory limit"
    );
    let stats = &runtime.handlers()[0].stats;
    use std::sync::atomic::Ordering::Relaxed;
    assert_eq!(
        (
            stats.traps.load(Relaxed),
            stats.timeouts.load(Relaxed),
            stats.memory_faults.load(Relaxed)
        ),
        (1, 1, 1)
    );
    // Each failed instance was thrown away and a fresh one made for the next call.
    assert!(stats.instances_created.load(Relaxed) >= 3);
    let again = failed(runtime.run_chain(&me, "trap", &none).await);
    assert_eq!(again, trap, "a fresh instance, the same answer");
}

/// A 0.1.2 handler reads its socket through a handle, field by field: what the SDK reads that
/// way is the socket iohost described, each field of it, for sockets with and without a user.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_handle_reads_every_field_of_the_calls_socket() {
    let (runtime, _dir) = runtime(&[("faults", "")]).await;
    assert!(
        runtime.handlers()[0].reads_sockets_lazily(),
        "the SDK exports on-socket-event"
    );
    let mut ada = info("socketD000000004");
    ada.rooms.push("chat-room-1".into());
    ada.role = "authenticated".into();
    ada.user = Some(User {
        id: 7,
        username: "ada".into(),
    });
    ada.query = vec![("room".into(), "lobby".into()), ("x".into(), "y".into())];
    ada.auth = r#"{"name":"not used: a user has a name"}"#.into();
    let guest = info("socketE000000005");
    let whoami = |info: SocketInfo| {
        let runtime = runtime.clone();
        async move {
            acked(
                &runtime
                    .run_chain(
                        &Arc::new(info.into()),
                        "whoami",
                        &args(serde_json::json!([])),
                    )
                    .await,
            )
        }
    };
    assert_eq!(
        whoami(ada.clone()).await,
        serde_json::json!([{
            "inRoom": [true, false],
            "id": "socketD000000004",
            "namespace": "/",
            "rooms": ["io-role-public", "chat-room-1"],
            "role": "authenticated",
            "user": {"id": 7, "username": "ada"},
            "address": "127.0.0.1:40000",
            "query": ["lobby", null],
            "auth": r#"{"name":"not used: a user has a name"}"#,
            "displayName": "ada",
        }])
    );
    assert_eq!(
        whoami(guest.clone()).await,
        serde_json::json!([{
            "inRoom": [true, false],
            "id": "socketE000000005",
            "namespace": "/",
            "rooms": ["io-role-public"],
            "role": "public",
            "user": null,
            "address": "127.0.0.1:40000",
            "query": [null, null],
            "auth": "{}",
            "displayName": "guest-socket",
        }]),
        "the next call on the same instance reads its own socket, nothing of the one before"
    );
    // A clone kept past its call is the socket it was, not the one a later call is for
    // (whose handle may have the same number).
    let call = |info: &Arc<CallSocket>, event: &'static str| {
        let (runtime, info) = (runtime.clone(), info.clone());
        async move {
            acked(
                &runtime
                    .run_chain(&info, event, &args(serde_json::json!([])))
                    .await,
            )
        }
    };
    let (ada, guest) = (Arc::new(ada.into()), Arc::new(guest.into()));
    assert_eq!(call(&ada, "keep").await, serde_json::json!(["kept"]));
    assert_eq!(
        call(&guest, "kept").await,
        serde_json::json!([["socketD000000004", "authenticated"]])
    );
    assert_eq!(
        runtime.handlers()[0]
            .stats
            .instances_created
            .load(std::sync::atomic::Ordering::Relaxed),
        1,
        "one instance served both calls"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_busy_handler_refuses_events_past_max_waiting() {
    let (runtime, _dir) =
        runtime(&[("hostile", "[limits]\nmax_instances = 1\nmax_waiting = 1\n")]).await;
    let runtime = &runtime;
    let hold = |id: &'static str| async move {
        runtime
            .run_chain(&socket(id), "hostile:hold", &args(serde_json::json!([400])))
            .await
    };
    let outcomes = futures_util::future::join_all([
        hold("socketD000000004"),
        hold("socketE000000005"),
        hold("socketF000000006"),
    ])
    .await;
    let busy = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Failed(m) if m.contains("is busy")))
        .count();
    let held = outcomes
        .iter()
        .filter(|o| matches!(o, Outcome::Handled(_)))
        .count();
    assert_eq!((held, busy), (2, 1), "{outcomes:?}");
}
