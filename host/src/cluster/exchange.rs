//! Questions to the other nodes, and their answers: what one node cannot know alone (which
//! sockets the others hold, in which rooms) or cannot do alone (act on a socket another node
//! holds). A question goes to one channel every node listens on; each node answers on the
//! asker's own channel. The asker knows how many nodes listen (`PUBSUB NUMSUB`), waits for that
//! many answers or [`ClusterConfig::request_timeout_ms`](crate::config::ClusterConfig), and says
//! which it got: an answer that misses a node is marked partial, never passed off as complete.
//!
//! The questions and answers are the caller's types (the sockets layer's); this module only
//! carries them. On a single node there is nobody to ask: every question gets no answers,
//! complete.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use socketioxide_redis::drivers::Driver;
use tokio::sync::mpsc;

use super::Backplane;

/// Answers one node may have pending for the asker at once; more are dropped (and the
/// question counts as partial).
const ANSWER_QUEUE: usize = 1024;

#[derive(Debug, Serialize, Deserialize)]
struct Envelope<T> {
    /// Which question this is, or answers.
    id: u64,
    /// The node that sent it.
    from: String,
    body: T,
}

/// What the other nodes said.
#[derive(Debug)]
pub struct Gathered<A> {
    /// (node id, its answer), in arrival order.
    pub answers: Vec<(String, A)>,
    /// Nodes other than this one that should have answered; `None` while Redis is unreachable
    /// (nobody could be asked).
    pub expected: Option<usize>,
}

impl<A> Gathered<A> {
    /// Nothing to ask: this node runs alone.
    pub fn alone() -> Self {
        Self {
            answers: Vec::new(),
            expected: Some(0),
        }
    }

    /// Did every node answer?
    pub fn complete(&self) -> bool {
        self.expected.is_some_and(|n| self.answers.len() >= n)
    }

    /// Nodes asked, this one included (as far as this node knows).
    pub fn nodes(&self) -> usize {
        1 + self.expected.unwrap_or(0).max(self.answers.len())
    }

    /// Nodes that answered, this one included.
    pub fn answered(&self) -> usize {
        1 + self.answers.len()
    }
}

/// This node's end of the question channel: asks the others, and answers them with a
/// responder the layer above installs ([`Exchange::serve`]).
pub struct Exchange<Q, A> {
    backplane: Backplane,
    node: String,
    questions: String,
    channels: String,
    deadline: Duration,
    next_id: AtomicU64,
    waiting: Mutex<HashMap<u64, mpsc::Sender<(String, A)>>>,
    _question: std::marker::PhantomData<fn(Q)>,
}

impl<Q, A> Exchange<Q, A>
where
    Q: Serialize + DeserializeOwned + Send + 'static,
    A: Serialize + DeserializeOwned + Send + 'static,
{
    /// Questions go to `<channels>:ask`, answers to `<channels>:answer:<node id>`.
    pub fn new(backplane: Backplane, channels: &str, node: &str, deadline: Duration) -> Self {
        Self {
            backplane,
            node: node.to_owned(),
            questions: format!("{channels}:ask"),
            channels: channels.to_owned(),
            deadline,
            next_id: AtomicU64::new(1),
            waiting: Mutex::new(HashMap::new()),
            _question: std::marker::PhantomData,
        }
    }

    fn answers_channel(&self, node: &str) -> String {
        format!("{}:answer:{node}", self.channels)
    }

    /// How long a question waits for the slowest node.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Asks every other node `question`; returns when all have answered or at the deadline
    /// (counted from the call, so a Redis that hangs cannot hold it longer).
    pub async fn ask(&self, question: &Q) -> Gathered<A> {
        let Backplane::Redis(redis) = &self.backplane else {
            return Gathered::alone();
        };
        let unknown = || Gathered {
            answers: Vec::new(),
            expected: None,
        };
        if !redis.is_up() {
            return unknown();
        }
        let until = tokio::time::Instant::now() + self.deadline;
        let listening = tokio::time::timeout_at(until, self.backplane.num_serv(&self.questions));
        let Ok(Ok(listening)) = listening.await else {
            return unknown();
        };
        if !redis.is_up() {
            return unknown();
        }
        // This node listens too; it answers itself in the caller, not over Redis.
        let expected = usize::from(listening).saturating_sub(1);
        if expected == 0 {
            return Gathered::alone();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (sender, mut receiver) = mpsc::channel(expected.min(ANSWER_QUEUE));
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.insert(id, sender);
        }
        let _forget = Forget { exchange: self, id };
        let envelope = Envelope {
            id,
            from: self.node.clone(),
            body: question,
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) => {
                let _ = self.backplane.publish(self.questions.clone(), bytes).await;
            }
            Err(e) => tracing::error!("cannot encode a cluster question: {e}"),
        }
        let mut answers = Vec::with_capacity(expected);
        while answers.len() < expected {
            match tokio::time::timeout_at(until, receiver.recv()).await {
                Ok(Some(answer)) => answers.push(answer),
                Ok(None) | Err(_) => break,
            }
        }
        if answers.len() < expected {
            metrics::counter!(crate::metrics::CLUSTER_PARTIAL_ANSWERS).increment(1);
            tracing::warn!(
                answered = answers.len(),
                expected,
                "a cluster question got no answer from every node within {} ms",
                self.deadline.as_millis()
            );
        }
        Gathered {
            answers,
            expected: Some(expected),
        }
    }

    /// Answers the other nodes' questions with `respond`, and routes their answers to the
    /// questions waiting for them, until the backplane closes. Does nothing on a single node.
    pub async fn serve<F, Fut>(self: Arc<Self>, respond: F) -> Result<(), redis::RedisError>
    where
        F: Fn(Q) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = A> + Send + 'static,
    {
        let Backplane::Redis(redis) = &self.backplane else {
            return Ok(());
        };
        let mut answers = redis
            .listen(&self.answers_channel(&self.node), ANSWER_QUEUE)
            .await?;
        let mut questions = redis.listen(&self.questions, ANSWER_QUEUE).await?;
        let exchange = self.clone();
        tokio::spawn(async move {
            while let Some((_, bytes)) = answers.recv().await {
                exchange.route_answer(&bytes);
            }
        });
        let respond = Arc::new(respond);
        tokio::spawn(async move {
            while let Some((_, bytes)) = questions.recv().await {
                let Ok(question) = serde_json::from_slice::<Envelope<Q>>(&bytes) else {
                    tracing::warn!("a cluster question could not be read: ignored");
                    continue;
                };
                if question.from == self.node {
                    continue;
                }
                let exchange = self.clone();
                let respond = respond.clone();
                tokio::spawn(async move {
                    let body = respond(question.body).await;
                    exchange.reply(&question.from, question.id, body).await;
                });
            }
        });
        Ok(())
    }

    async fn reply(&self, to: &str, id: u64, body: A) {
        let envelope = Envelope {
            id,
            from: self.node.clone(),
            body,
        };
        match serde_json::to_vec(&envelope) {
            Ok(bytes) => {
                let _ = self
                    .backplane
                    .publish(self.answers_channel(to), bytes)
                    .await;
            }
            Err(e) => tracing::error!("cannot encode a cluster answer: {e}"),
        }
    }

    fn route_answer(&self, bytes: &[u8]) {
        let Ok(answer) = serde_json::from_slice::<Envelope<A>>(bytes) else {
            tracing::warn!("a cluster answer could not be read: ignored");
            return;
        };
        let sender = self
            .waiting
            .lock()
            .ok()
            .and_then(|waiting| waiting.get(&answer.id).cloned());
        // No sender: the question's deadline passed; the late answer is dropped.
        if let Some(sender) = sender {
            let _ = sender.try_send((answer.from, answer.body));
        }
    }
}

/// Forgets a question when its asker stops waiting (answered, timed out or cancelled).
struct Forget<'a, Q, A> {
    exchange: &'a Exchange<Q, A>,
    id: u64,
}

impl<Q, A> Drop for Forget<'_, Q, A> {
    fn drop(&mut self) {
        if let Ok(mut waiting) = self.exchange.waiting.lock() {
            waiting.remove(&self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_single_node_asks_nobody_and_is_complete() {
        let exchange: Exchange<String, String> =
            Exchange::new(Backplane::Local, "t", "n1", Duration::from_millis(10));
        let gathered = exchange.ask(&"anyone?".to_owned()).await;
        assert!(gathered.answers.is_empty());
        assert!(gathered.complete());
        assert_eq!((gathered.nodes(), gathered.answered()), (1, 1));
    }

    #[test]
    fn partial_when_fewer_answered_than_expected() {
        let gathered = Gathered {
            answers: vec![("n2".to_owned(), 1)],
            expected: Some(2),
        };
        assert!(!gathered.complete());
        assert_eq!((gathered.nodes(), gathered.answered()), (3, 2));
        let unknown: Gathered<u8> = Gathered {
            answers: Vec::new(),
            expected: None,
        };
        assert!(!unknown.complete());
    }
}
