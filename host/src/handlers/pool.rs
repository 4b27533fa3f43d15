//! A handler version's warm instances, kept for the next calls. Calls on different cores
//! contend little here: idle instances wait in one list per thread, a call takes one from its
//! own thread's list first and returns it there, and no count changes on a call that takes an
//! idle instance and returns it the same size (instances alive, calls waiting and bytes kept
//! change only when an instance is made, grows or is dropped, or a call has to wait). One lock
//! and one semaphore for all calls cost ~19% of an event with two cores calling one handler
//! (BENCHMARKS.md, "threads").
//!
//! Generic over what is kept (a boxed wasmtime instance in iohost) so its rules are tested on
//! their own, below.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crossbeam_utils::CachePadded;
use tokio::sync::Notify;

use crate::stripes::Striped;

/// What a pool may hold.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// Items alive at once (idle or in use); a call past it waits for one.
    pub max_live: usize,
    /// Calls waiting for an item at most, for calls that may be refused.
    pub max_waiting: usize,
    /// Bytes the idle items may hold together; an item put back past it is dropped instead.
    /// An item taken idle stays counted (at its size then) until it comes back: a call that
    /// returns it no larger writes nothing all threads share.
    pub max_bytes: usize,
}

pub struct Pool<T> {
    /// Idle items, one list per thread, each with its size.
    shards: Striped<Shard<T>>,
    bounds: Bounds,
    /// Bytes the idle items hold, and the items taken idle and not yet back; on a cache line
    /// of its own.
    bytes: CachePadded<AtomicUsize>,
    /// Items alive: idle, in use, or being made.
    live: AtomicUsize,
    /// Calls waiting for an item now.
    waiting: AtomicUsize,
    /// Told when an item is put back or dropped while calls wait.
    freed: Notify,
}

/// One thread's idle list.
type Shard<T> = Mutex<Vec<(T, usize)>>;

/// Nothing panics while holding a list's lock; if something ever did, the list is still whole.
fn lock<T>(shard: &Shard<T>) -> std::sync::MutexGuard<'_, Vec<(T, usize)>> {
    shard
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An item out of the pool, in use. Dropped, it is dropped for good and counted out; given
/// back with [`Taken::put_back`], it is kept for the next call if the pool has room.
pub struct Taken<'p, T> {
    pool: &'p Pool<T>,
    item: Option<T>,
    /// Its bytes counted in the pool's `bytes` (its size when taken idle; 0 when made new).
    counted: usize,
}

/// Why a call gets no item: too many wait already. Holds how many waited before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Busy(pub usize);

/// What [`Pool::take`] found: an idle item, or room to make one (made, it is [`Room::fill`]ed).
pub enum Got<'p, T> {
    Idle(Taken<'p, T>),
    Room(Room<'p, T>),
}

/// Room for one more item, counted as alive while it is made; dropped unfilled (making it
/// failed), the room is given up again.
pub struct Room<'p, T> {
    pool: &'p Pool<T>,
    filled: bool,
}

impl<T> Pool<T> {
    pub fn new(bounds: Bounds) -> Self {
        Self {
            shards: Striped::default(),
            bounds,
            bytes: CachePadded::new(AtomicUsize::new(0)),
            live: AtomicUsize::new(0),
            waiting: AtomicUsize::new(0),
            freed: Notify::new(),
        }
    }

    /// An idle item (this thread's own first, then any other thread's), else room to make one
    /// while fewer than `max_live` are alive, else waits for one. `bounded`: refused as
    /// [`Busy`] instead of waiting when `max_waiting` calls wait already.
    pub async fn take(&self, bounded: bool) -> Result<Got<'_, T>, Busy> {
        // While calls wait, a new one does not take what was freed for them on its way in (it
        // joins them, and the first of them to look takes it: mostly, not strictly, in order).
        if self.waiting.load(Ordering::Relaxed) == 0
            && let Some(got) = self.take_now()
        {
            return Ok(got);
        }
        let waiting = self.waiting.fetch_add(1, Ordering::SeqCst) + 1;
        let _counted = Counted(&self.waiting);
        if bounded && waiting > self.bounds.max_waiting {
            return Err(Busy(waiting - 1));
        }
        loop {
            let freed = self.freed.notified();
            tokio::pin!(freed);
            // Registered before looking again: an item put back after the look wakes it.
            freed.as_mut().enable();
            fence(Ordering::SeqCst);
            if let Some(got) = self.take_now() {
                return Ok(got);
            }
            freed.await;
        }
    }

    /// Keeps `item`, made outside a call (a version's first instance, made to read its
    /// registration), `bytes` large, if the pool has room for it.
    pub fn add(&self, item: T, bytes: usize) {
        if self.reserve() {
            let taken = Taken {
                pool: self,
                item: Some(item),
                counted: 0,
            };
            taken.put_back(bytes, true);
        }
    }

    fn take_now(&self) -> Option<Got<'_, T>> {
        for shard in self.shards.from_mine() {
            let idle = lock(shard).pop();
            if let Some((item, bytes)) = idle {
                return Some(Got::Idle(Taken {
                    pool: self,
                    item: Some(item),
                    counted: bytes,
                }));
            }
        }
        // Made only with room: a `Room` dropped unfilled gives its place back.
        self.reserve().then(|| {
            Got::Room(Room {
                pool: self,
                filled: false,
            })
        })
    }

    /// An item counted at `counted` bytes comes back `bytes` large: counts it so, and says if
    /// that keeps the count within `max_bytes` (if not, its `bytes` are still counted). The
    /// same size, as a call mostly returns it, touches nothing shared.
    fn recount(&self, counted: usize, bytes: usize) -> bool {
        match bytes.cmp(&counted) {
            std::cmp::Ordering::Equal => true,
            std::cmp::Ordering::Less => {
                self.bytes.fetch_sub(counted - bytes, Ordering::AcqRel);
                true
            }
            std::cmp::Ordering::Greater => {
                let more = bytes - counted;
                self.bytes.fetch_add(more, Ordering::AcqRel) + more <= self.bounds.max_bytes
            }
        }
    }

    /// Counts one more item alive, if fewer than `max_live` are.
    fn reserve(&self) -> bool {
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |live| {
                (live < self.bounds.max_live).then_some(live + 1)
            })
            .is_ok()
    }

    /// Idle items, and the bytes they held when put back.
    pub fn idle(&self) -> (usize, usize) {
        self.shards
            .iter()
            .map(lock)
            .fold((0, 0), |(n, bytes), idle| {
                (
                    n + idle.len(),
                    bytes + idle.iter().map(|(_, b)| b).sum::<usize>(),
                )
            })
    }

    /// Drops every idle item (items in use are dropped when they come back, if `keep` says
    /// so then).
    pub fn clear(&self) {
        for shard in self.shards.iter() {
            let idle = std::mem::take(&mut *lock(shard));
            for (item, bytes) in idle {
                drop(item);
                self.bytes.fetch_sub(bytes, Ordering::AcqRel);
                self.gone();
            }
        }
    }

    /// An item is dropped: counted out, and a waiting call may now make one.
    fn gone(&self) {
        self.live.fetch_sub(1, Ordering::AcqRel);
        self.wake();
    }

    /// Wakes a waiting call, if there is one. (Checked first: telling `freed` on every call
    /// would make every call write to one shared place again.)
    fn wake(&self) {
        fence(Ordering::SeqCst);
        if self.waiting.load(Ordering::SeqCst) > 0 {
            self.freed.notify_one();
        }
    }
}

impl<'p, T> Room<'p, T> {
    /// The item made in this room, now in use.
    pub fn fill(mut self, item: T) -> Taken<'p, T> {
        self.filled = true;
        Taken {
            pool: self.pool,
            item: Some(item),
            counted: 0,
        }
    }
}

impl<T> Drop for Room<'_, T> {
    fn drop(&mut self) {
        if !self.filled {
            self.pool.gone();
        }
    }
}

impl<T> Taken<'_, T> {
    /// Keeps the item for the next call, now `bytes` large, unless `keep` is false or the
    /// counted bytes would then pass `max_bytes` (then it is dropped).
    pub fn put_back(mut self, bytes: usize, keep: bool) {
        let Some(item) = self.item.take() else { return };
        let pool = self.pool;
        let counted = std::mem::take(&mut self.counted);
        let kept = keep && pool.recount(counted, bytes);
        if kept {
            lock(pool.shards.mine()).push((item, bytes));
        } else {
            if keep {
                pool.bytes.fetch_sub(bytes, Ordering::AcqRel);
            } else if counted > 0 {
                pool.bytes.fetch_sub(counted, Ordering::AcqRel);
            }
            // Freed before it stops counting: a woken call may make another at once.
            drop(item);
            pool.live.fetch_sub(1, Ordering::AcqRel);
        }
        pool.wake();
    }
}

impl<T> std::ops::Deref for Taken<'_, T> {
    type Target = T;

    fn deref(&self) -> &T {
        self.item
            .as_ref()
            .expect("an item in use until it is put back")
    }
}

impl<T> std::ops::DerefMut for Taken<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        self.item
            .as_mut()
            .expect("an item in use until it is put back")
    }
}

impl<T> Drop for Taken<'_, T> {
    fn drop(&mut self) {
        if let Some(item) = self.item.take() {
            drop(item);
            if self.counted > 0 {
                self.pool.bytes.fetch_sub(self.counted, Ordering::AcqRel);
            }
            self.pool.gone();
        }
    }
}

/// Counts one waiting call for as long as it lives.
struct Counted<'a>(&'a AtomicUsize);

impl Drop for Counted<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use super::*;

    fn pool(max_live: usize, max_waiting: usize, max_bytes: usize) -> Pool<u32> {
        Pool::new(Bounds {
            max_live,
            max_waiting,
            max_bytes,
        })
    }

    /// An item: an idle one's value, or `made` for a new one.
    async fn take(pool: &Pool<u32>, made: u32) -> Taken<'_, u32> {
        match pool.take(false).await.expect("unbounded") {
            Got::Idle(item) => item,
            Got::Room(room) => room.fill(made),
        }
    }

    /// What a waiting task returned once woken; a failure (not a hang) if it never is.
    async fn woken<R>(task: tokio::task::JoinHandle<R>) -> R {
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("the waiting call was woken")
            .expect("the task ran")
    }

    fn live(pool: &Pool<u32>) -> usize {
        pool.live.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn items_are_made_up_to_the_bound_then_reused() {
        let pool = pool(2, 10, 1 << 20);
        let (a, b) = (take(&pool, 1).await, take(&pool, 2).await);
        assert_eq!((*a, *b, live(&pool)), (1, 2, 2));
        assert!(pool.take_now().is_none(), "two alive: no room for a third");
        a.put_back(10, true);
        assert_eq!(pool.idle(), (1, 10));
        let again = take(&pool, 3).await;
        assert_eq!(*again, 1, "the idle one, not a new one");
        again.put_back(10, true);
        b.put_back(20, true);
        assert_eq!((pool.idle(), live(&pool)), ((2, 30), 2));
    }

    #[tokio::test]
    async fn a_call_past_the_bound_waits_for_an_item_put_back_or_dropped() {
        let pool = Arc::new(pool(1, 10, 1 << 20));
        let held = take(&pool, 1).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move {
                let item = take(&pool, 2).await;
                let value = *item;
                drop(item);
                value
            })
        };
        tokio::task::yield_now().await;
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 1);
        held.put_back(0, true);
        assert_eq!(woken(waiter).await, 1, "it got the item put back");
        assert_eq!(live(&pool), 0, "the waiter dropped it: counted out");

        let held = take(&pool, 3).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { *take(&pool, 4).await })
        };
        tokio::task::yield_now().await;
        drop(held);
        assert_eq!(woken(waiter).await, 4, "room again: it made one");
    }

    #[tokio::test]
    async fn a_waiting_call_given_up_passes_its_turn_on() {
        let pool = Arc::new(pool(1, 10, 1 << 20));
        let held = take(&pool, 1).await;
        let spawn_waiter = |made| {
            let pool = pool.clone();
            tokio::spawn(async move { *take(&pool, made).await })
        };
        let (given_up, second) = (spawn_waiter(2), spawn_waiter(3));
        tokio::task::yield_now().await;
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 2);
        // Told, then cancelled before it ran: the next waiter gets the item.
        held.put_back(0, true);
        given_up.abort();
        assert_eq!(woken(second).await, 1);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn clearing_the_pool_lets_waiting_calls_make_new_items() {
        let pool = Arc::new(pool(1, 10, 1 << 20));
        take(&pool, 1).await.put_back(0, true);
        let held = take(&pool, 2).await;
        let waiter = {
            let pool = pool.clone();
            tokio::spawn(async move { *take(&pool, 3).await })
        };
        tokio::task::yield_now().await;
        pool.clear();
        held.put_back(0, false);
        assert_eq!(
            woken(waiter).await,
            3,
            "a new one: the old one was not kept"
        );
        assert_eq!(live(&pool), 0);
    }

    #[tokio::test]
    async fn bounded_calls_past_max_waiting_are_refused_as_busy() {
        let pool = Arc::new(pool(1, 1, 1 << 20));
        let held = take(&pool, 1).await;
        let first = {
            let pool = pool.clone();
            tokio::spawn(async move { pool.take(true).await.is_ok() })
        };
        tokio::task::yield_now().await;
        assert!(matches!(pool.take(true).await, Err(Busy(1))));
        assert_eq!(
            pool.waiting.load(Ordering::SeqCst),
            1,
            "the refused one left"
        );
        held.put_back(0, true);
        assert!(
            first.await.expect("first"),
            "the one within max_waiting got it"
        );
    }

    #[tokio::test]
    async fn items_past_the_byte_budget_or_not_kept_are_dropped_and_counted_out() {
        let pool = pool(4, 10, 100);
        let (a, b, c) = (
            take(&pool, 1).await,
            take(&pool, 2).await,
            take(&pool, 3).await,
        );
        a.put_back(60, true);
        b.put_back(60, true);
        assert_eq!(
            (pool.idle(), live(&pool)),
            ((1, 60), 2),
            "b took it past 100"
        );
        c.put_back(10, false);
        assert_eq!((pool.idle(), live(&pool)), ((1, 60), 1), "not kept");
        // One taken idle stays counted while in use; one made new counts once put back.
        let a = take(&pool, 4).await;
        assert_eq!(*a, 1);
        assert_eq!(
            pool.bytes.load(Ordering::SeqCst),
            60,
            "counted while in use"
        );
        let d = take(&pool, 5).await;
        d.put_back(50, true);
        assert_eq!(
            (pool.idle(), live(&pool), pool.bytes.load(Ordering::SeqCst)),
            ((0, 0), 1, 60),
            "60 + 50 is past 100: dropped"
        );
        a.put_back(70, true);
        assert_eq!(
            (pool.idle(), pool.bytes.load(Ordering::SeqCst)),
            ((1, 70), 70),
            "grown by 10: counted so"
        );
        // Taken and abandoned (a failed call), or put back smaller, it is counted out or down.
        drop(take(&pool, 6).await);
        assert_eq!((live(&pool), pool.bytes.load(Ordering::SeqCst)), (0, 0));
        take(&pool, 7).await.put_back(80, true);
        take(&pool, 8).await.put_back(30, true);
        assert_eq!(
            (pool.idle(), pool.bytes.load(Ordering::SeqCst)),
            ((1, 30), 30)
        );
        let e = take(&pool, 9).await;
        e.put_back(30, false);
        assert_eq!(
            (live(&pool), pool.bytes.load(Ordering::SeqCst)),
            (0, 0),
            "not kept"
        );
        take(&pool, 10).await.put_back(20, true);
        pool.clear();
        assert_eq!((pool.idle(), live(&pool)), ((0, 0), 0));
        assert_eq!(pool.bytes.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn room_given_up_when_making_an_item_fails() {
        let pool = pool(1, 10, 100);
        match pool.take(false).await {
            Ok(Got::Room(room)) => drop(room),
            _ => panic!("room for the first item"),
        }
        assert_eq!(live(&pool), 0);
        pool.add(7, 10);
        assert_eq!((pool.idle(), live(&pool)), ((1, 10), 1));
        pool.add(8, 10);
        assert_eq!(
            (pool.idle(), live(&pool)),
            ((1, 10), 1),
            "no room for a second"
        );
    }

    #[test]
    fn an_item_put_back_on_one_thread_is_found_from_another() {
        let pool = pool(1, 10, 100);
        std::thread::scope(|scope| {
            scope.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .build()
                    .expect("runtime");
                runtime.block_on(async { take(&pool, 1).await.put_back(10, true) });
            });
        });
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let value = runtime.block_on(async { *take(&pool, 2).await });
        assert_eq!(value, 1);
    }

    /// Many tasks on several threads, each taking, holding across a yield and putting back (at
    /// another size, or not to keep) or dropping: never more alive than the bound, every task
    /// gets its turns (a lost wake-up would leave one waiting for good), and the bytes counted
    /// in the end are the idle items' and within the budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn under_contention_the_bound_holds_and_no_waiter_is_forgotten() {
        let pool = Arc::new(pool(3, 1_000, 6));
        let in_use = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..16u32)
            .map(|n| {
                let (pool, in_use, most) = (pool.clone(), in_use.clone(), most.clone());
                tokio::spawn(async move {
                    for i in 0..300u32 {
                        let item = take(&pool, n).await;
                        let now = in_use.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        tokio::task::yield_now().await;
                        in_use.fetch_sub(1, Ordering::SeqCst);
                        if (n + i) % 7 == 0 {
                            drop(item);
                        } else {
                            item.put_back(((n + i) % 4) as usize, (n + i) % 11 != 0);
                        }
                    }
                })
            })
            .collect();
        let all = async {
            for task in tasks {
                task.await.expect("task");
            }
        };
        tokio::time::timeout(Duration::from_secs(60), all)
            .await
            .expect("every task finished: no waiter was left behind");
        assert!(most.load(Ordering::SeqCst) <= 3, "at most 3 in use");
        assert!(live(&pool) <= 3);
        assert_eq!(pool.waiting.load(Ordering::SeqCst), 0);
        let (idle, idle_bytes) = pool.idle();
        assert_eq!(
            live(&pool),
            idle,
            "all back: the live ones are the idle ones"
        );
        assert_eq!(pool.bytes.load(Ordering::SeqCst), idle_bytes);
        assert!(idle_bytes <= 6);
    }
}
