use super::*;
use serde_json::json;

fn relay(timeout_ms: u64, queue: usize) -> Arc<Relay> {
    Relay::new(RelayConfig {
        answer_timeout_ms: timeout_ms,
        queue_size: queue,
        max_streams: 2,
    })
}

fn view(id: &str) -> SocketView {
    SocketView {
        id: id.to_owned(),
        namespace: "/".to_owned(),
        rooms: vec![],
        role: "public".to_owned(),
        user: None,
        address: String::new(),
        transport: "websocket".to_owned(),
        node: "n".to_owned(),
        connected_at: 0,
        query: vec![],
        auth: String::new(),
    }
}

fn args(value: serde_json::Value) -> Args {
    Args(vec![rmpv::ext::to_value(value).expect("msgpack")])
}

fn listeners(events: &[&str], middleware: bool) -> Listeners {
    Listeners {
        events: events.iter().map(|e| (*e).to_owned()).collect(),
        middleware,
    }
}

#[tokio::test]
async fn without_a_stream_nothing_is_relayed() {
    let relay = relay(50, 8);
    assert!(!relay.admit("a", "/"));
    assert_eq!(
        relay.on_event("a", "/", "x", &Args::default(), true).await,
        Relayed::NotListened
    );
    let other = relay.subscribe(vec!["/admin".into()]).expect("stream");
    assert!(
        !relay.admit("a", "/"),
        "a stream for /admin does not take /"
    );
    drop(other);
}

#[tokio::test]
async fn listened_events_go_to_strapi_and_others_do_not() {
    let relay = relay(1000, 8);
    let mut stream = relay.subscribe(vec!["/".into()]).expect("stream");
    assert!(relay.admit("a", "/"));
    relay.announce(view("a"));
    assert!(matches!(
        stream.messages.recv().await,
        Some(Message::Connection { socket }) if socket.id == "a"
    ));
    relay
        .register("a", listeners(&["hi"], false))
        .expect("registered");

    assert_eq!(
        relay
            .on_event("a", "/", "other", &Args::default(), false)
            .await,
        Relayed::NotListened
    );
    assert_eq!(
        relay
            .on_event("a", "/", "hi", &args(json!({"n": 1})), false)
            .await,
        Relayed::Listened
    );
    let Some(Message::Event {
        args, answer, ack, ..
    }) = stream.messages.recv().await
    else {
        panic!("the event went to Strapi");
    };
    assert_eq!(args, json!([{"n": 1}]));
    assert!(!answer && !ack, "nobody waits for an event without an ack");
}

#[tokio::test]
async fn an_ack_comes_back_and_middleware_can_refuse() {
    let relay = relay(1000, 8);
    let mut stream = relay.subscribe(vec!["/".into()]).expect("stream");
    relay.admit("a", "/");
    relay
        .register("a", listeners(&["hi"], true))
        .expect("registered");

    let asked = {
        let relay = relay.clone();
        tokio::spawn(async move { relay.on_event("a", "/", "hi", &Args::default(), true).await })
    };
    let Some(Message::Event {
        id,
        ack: true,
        answer: true,
        ..
    }) = stream.messages.recv().await
    else {
        panic!("the event waits for its ack");
    };
    relay
        .answer(
            id,
            Answer {
                error: None,
                ack: Some(vec![json!("ok"), json!(2)]),
            },
        )
        .expect("answered");
    assert_eq!(
        asked.await.expect("task"),
        Relayed::Acked(Args(vec![rmpv::Value::from("ok"), rmpv::Value::from(2)]))
    );
    assert!(matches!(
        relay.answer(id, Answer::default()),
        Err(RelayError::NoQuestion(_))
    ));

    let refused = {
        let relay = relay.clone();
        tokio::spawn(async move {
            relay
                .on_event("a", "/", "join-room", &Args::default(), false)
                .await
        })
    };
    let Some(Message::Event {
        id,
        answer: true,
        ack: false,
        ..
    }) = stream.messages.recv().await
    else {
        panic!("middleware sees every event");
    };
    relay
        .answer(
            id,
            Answer {
                error: Some("Rate limit exceeded".into()),
                ack: None,
            },
        )
        .expect("answered");
    assert_eq!(
        refused.await.expect("task"),
        Relayed::Refused(Refusal::ByStrapi("Rate limit exceeded".into()))
    );
}

#[tokio::test]
async fn waits_are_bounded() {
    let relay = relay(30, 1);
    let stream = relay.subscribe(vec!["/".into()]).expect("stream");
    relay.admit("a", "/");
    // Listeners never registered: the event skips Strapi after the wait.
    assert_eq!(
        relay.on_event("a", "/", "hi", &Args::default(), true).await,
        Relayed::NotListened
    );
    relay
        .register("a", listeners(&[], true))
        .expect("registered");
    // Middleware that never answers: refused after the wait, and the question is forgotten.
    assert_eq!(
        relay
            .on_event("a", "/", "hi", &Args::default(), false)
            .await,
        Relayed::Refused(Refusal::TimedOut(30))
    );
    // The queue (of one) is now full: the next event is refused at once.
    assert_eq!(
        relay
            .on_event("a", "/", "hi", &Args::default(), false)
            .await,
        Relayed::Refused(Refusal::QueueFull)
    );
    assert!(relay.inner().questions.is_empty());
    drop(stream);
    assert!(!relay.is_active());
    assert!(matches!(
        relay.register("a", Listeners::default()),
        Err(RelayError::NoSocket(_))
    ));
}

#[tokio::test]
async fn streams_and_listened_events_are_bounded() {
    let relay = relay(30, 1);
    let _one = relay.subscribe(vec!["/".into()]).expect("stream");
    let _two = relay.subscribe(vec!["/".into()]).expect("stream");
    assert!(matches!(
        relay.subscribe(vec!["/".into()]),
        Err(RelayError::TooManyStreams(2))
    ));
    relay.admit("a", "/");
    let many: Vec<String> = (0..=MAX_LISTENED_EVENTS).map(|i| format!("e{i}")).collect();
    assert!(matches!(
        relay.register(
            "a",
            Listeners {
                events: many,
                middleware: false
            }
        ),
        Err(RelayError::TooManyEvents)
    ));
}
