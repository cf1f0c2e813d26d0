//! A pmap call on the master (rank 0 of a connected job): the master computes items itself on
//! its own threads, as the threaded pmap does, and hands batches to the workers that ask; it
//! returns when every item has one result. The schedule (see `schedule`) is shared by the
//! master's threads and this call's coordinator, which speaks to the workers through the
//! process's server.

use super::schedule::{Id, Schedule, LOCAL};
use super::server::{self, Event};
use super::wire::{self, ToWorker};
use super::meter;
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// A batch a worker's beats have not said it got for this long is taken as lost on the way (its
/// items then go back after a few more beats; a worker beats every 500 ms).
const OVERDUE: Duration = Duration::from_secs(2);

struct Shared<T, R> {
    schedule: Schedule,
    items: Vec<Option<T>>,
    results: Vec<Option<R>>,
    /// Why the call failed, if it did: then everyone stops.
    failed: Option<String>,
    /// The batches sent to each worker that its beats have not said it got: number, when sent.
    unseen: HashMap<Id, VecDeque<(u64, Instant)>>,
}

struct Call<T, R> {
    shared: Mutex<Shared<T, R>>,
    /// Rung when items go back to the queue, and at the end.
    changed: Condvar,
}

impl<T, R> Call<T, R> {
    fn lock(&self) -> MutexGuard<'_, Shared<T, R>> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub fn run<T, R, F>(call: u64, items: Vec<T>, f: &F) -> Vec<R>
where
    T: Serialize + Send,
    R: DeserializeOwned + Send,
    F: Fn(T) -> R + Sync,
{
    let server = server::get();
    let n = items.len();
    let threads = crate::threads();
    let (events_to, events) = mpsc::channel();
    let mut schedule = Schedule::new(n, threads);
    // Every rank of the job serves the call; the ranks are alike, so they have as many threads.
    schedule.expect(crate::world() * threads);
    for (worker, threads) in server.known() {
        schedule.join(worker, threads);
    }
    let c = Call {
        shared: Mutex::new(Shared {
            schedule,
            items: items.into_iter().map(Some).collect(),
            results: std::iter::repeat_with(|| None).take(n).collect(),
            failed: None,
            unseen: HashMap::new(),
        }),
        changed: Condvar::new(),
    };
    server.start(call, events_to.clone());
    meter::begin(n);
    std::thread::scope(|s| {
        for _ in 0..threads.min(n) {
            let events_to = events_to.clone();
            let c = &c;
            s.spawn(move || compute(c, f, &events_to));
        }
        coordinate(&c, call, server, &events);
        c.changed.notify_all();
    });
    meter::end();
    server.over(call);
    let shared = c.shared.into_inner().unwrap_or_else(|e| e.into_inner());
    if let Some(why) = shared.failed {
        // The workers are let go at once; the job's master fails with the reason.
        server.bye();
        panic!("{why}");
    }
    shared.results.into_iter().map(|r| r.expect("every item has a result")).collect()
}

/// One of the master's own threads: takes batches as a worker would, until nothing is left.
fn compute<T, R, F: Fn(T) -> R>(c: &Call<T, R>, f: &F, events: &mpsc::Sender<Event>) {
    loop {
        let batch: Vec<(usize, T)> = {
            let mut g = c.lock();
            loop {
                if g.failed.is_some() || g.schedule.is_done() {
                    return;
                }
                let batch = g.schedule.take(LOCAL, 1);
                if !batch.is_empty() {
                    break batch.into_iter().map(|i| (i, g.items[i].take().expect("the master's own items are taken once"))).collect();
                }
                // Others hold the rest; some may come back if a worker dies.
                g = c.changed.wait_timeout(g, Duration::from_millis(200)).unwrap_or_else(|e| e.into_inner()).0;
            }
        };
        meter::hold(batch.len());
        let held = batch.len();
        let mut out = Vec::with_capacity(held);
        let mut failed = None;
        for (i, item) in batch {
            match catch_unwind(AssertUnwindSafe(|| f(item))) {
                Ok(r) => out.push((i, r)),
                Err(panic) => {
                    failed = Some(format!("item {i} failed on rank 0 ({}): {}", crate::hostname(), super::panic_message(&panic)));
                    break;
                }
            }
            meter::done_one();
        }
        meter::drop_held(held - out.len());
        let mut g = c.lock();
        for (i, r) in out {
            if g.schedule.finish(i) {
                g.results[i] = Some(r);
            }
        }
        if failed.is_some() && g.failed.is_none() {
            g.failed = failed;
        }
        if g.schedule.is_done() || g.failed.is_some() {
            drop(g);
            c.changed.notify_all();
            let _ = events.send(Event::Wake);
        }
    }
}

/// This call's side of the conversation with the workers, until every item is done.
fn coordinate<T: Serialize, R: DeserializeOwned>(c: &Call<T, R>, call: u64, server: &server::Server, events: &mpsc::Receiver<Event>) {
    // Threads of workers that found the queue empty: answered if items come back.
    let mut parked: HashMap<Id, usize> = HashMap::new();
    let mut known: HashMap<Id, usize> = server.known().into_iter().collect();
    loop {
        {
            let g = c.lock();
            if g.schedule.is_done() || g.failed.is_some() {
                return;
            }
        }
        let event = match events.recv_timeout(Duration::from_millis(250)) {
            Ok(event) => event,
            Err(mpsc::RecvTimeoutError::Timeout) => continue,
            Err(mpsc::RecvTimeoutError::Disconnected) => return,
        };
        match event {
            Event::Joined { worker, threads } => {
                c.lock().schedule.join(worker, threads);
                known.insert(worker, threads);
            }
            Event::Ask { worker, free } => {
                let left = hand_out(c, call, server, worker, free);
                if left > 0 {
                    // One ask per thread at most: a worker asks again when one seems lost.
                    let most = known.get(&worker).copied().unwrap_or(1);
                    let asking = parked.entry(worker).or_insert(0);
                    *asking = (*asking + left).min(most);
                }
            }
            Event::Holding { worker, indexes, seen, at } => {
                let holding = indexes.into_iter().map(|i| i as usize).collect();
                let mut g = c.lock();
                let unseen = g.unseen.entry(worker).or_default();
                unseen.retain(|&(seq, _)| seq > seen);
                // Overdue as of the beat's coming, not of its reading: a master that was slow to
                // read must not take batches still on their way for lost.
                let overdue = unseen.iter().take_while(|(_, sent)| at.saturating_duration_since(*sent) > OVERDUE).map(|&(seq, _)| seq).last();
                let lost = g.schedule.beat(worker, &holding, overdue.unwrap_or(0).max(seen));
                drop(g);
                if lost > 0 {
                    requeued(c, call, server, &mut parked);
                }
            }
            Event::Results { indexes, payloads } => {
                let mut results = Vec::with_capacity(indexes.len());
                for (i, payload) in indexes.into_iter().zip(payloads) {
                    match wire::unpack::<R>(&payload) {
                        Ok(r) => results.push((i as usize, r)),
                        Err(e) => {
                            c.lock().failed = Some(format!("a worker's result for item {i} does not fit the type of pmap's results: {e}"));
                            break;
                        }
                    }
                }
                let mut g = c.lock();
                // From any worker the master hears (they all know the job's token): a worker
                // heard again after it was presumed dead has a new id, and its work still counts.
                for (i, r) in results {
                    if g.schedule.finish(i) {
                        g.results[i] = Some(r);
                    }
                }
            }
            Event::Panicked { index, message, who } => {
                c.lock().failed.get_or_insert(format!("item {index} failed on {who}: {message}"));
            }
            Event::Gone { worker } => {
                parked.remove(&worker);
                known.remove(&worker);
                let mut g = c.lock();
                g.unseen.remove(&worker);
                let back = g.schedule.gone(worker);
                drop(g);
                if back > 0 {
                    requeued(c, call, server, &mut parked);
                }
            }
            Event::Wake => {}
        }
    }
}

/// Items went back to the queue: the master's threads and the workers waiting are told.
fn requeued<T: Serialize, R>(c: &Call<T, R>, call: u64, server: &server::Server, parked: &mut HashMap<Id, usize>) {
    c.changed.notify_all();
    for (&w, asking) in parked.iter_mut() {
        *asking = hand_out(c, call, server, w, *asking);
    }
    parked.retain(|_, asking| *asking > 0);
}

/// Sends `worker` a batch for each of its `free` threads while items are queued; gives how many
/// threads are left without one. An item that cannot be turned into JSON fails the call.
fn hand_out<T: Serialize, R>(c: &Call<T, R>, call: u64, server: &server::Server, worker: Id, free: usize) -> usize {
    for served in 0..free {
        let mut g = c.lock();
        let indexes = g.schedule.take(worker, 1);
        if indexes.is_empty() {
            return free - served;
        }
        let payloads: Result<Vec<Bytes>, String> = indexes
            .iter()
            .map(|&i| {
                let item = g.items[i].as_ref().expect("an item handed to a worker is still here");
                wire::pack(item).map_err(|e| format!("pmap's item {i} cannot be sent to a worker: {e}"))
            })
            .collect();
        let payloads = match payloads {
            Ok(p) => p,
            Err(why) => {
                g.failed.get_or_insert(why);
                drop(g);
                c.changed.notify_all();
                return 0;
            }
        };
        let seq = g.schedule.last_batch(worker);
        g.unseen.entry(worker).or_default().push_back((seq, Instant::now()));
        drop(g);
        server.send(worker, ToWorker::Batch { call, seq, indexes: indexes.into_iter().map(|i| i as u64).collect() }, payloads);
    }
    0
}
