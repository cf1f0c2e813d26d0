//! A worker's side of pmap: every rank but 0 of a connected job, and the long-lived workers of
//! `serve`. One background thread per process (its own tokio runtime) keeps a zeromq DEALER
//! connected to the master, beats, and queues the batches that come; the worker's threads take
//! batches from that queue, compute them and send the results back. Results stay on the
//! master: pmap on a worker returns an empty Vec once the master says the call is over.

use super::meter;
use super::server::BEAT;
use super::wire::{self, ToMaster, ToWorker};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::collections::VecDeque;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc as tmpsc;
use zeromq::{DealerSocket, Socket, SocketOptions, SocketRecv, SocketSend, ZmqMessage};

/// A worker that hears nothing from its master for this long gives it up.
const LOST_AFTER: Duration = Duration::from_secs(10);
/// Between two tries to reach the master (its host name may not resolve yet).
const RETRY: Duration = Duration::from_millis(250);
/// A thread waiting this long for a batch asks again (its ask may have been lost).
const ASK_AGAIN: Duration = Duration::from_secs(2);

struct Batch {
    call: u64,
    items: Vec<(u64, Bytes)>,
}

#[derive(Default)]
struct State {
    connected: bool,
    /// Why the master cannot be reached (the connect timed out).
    failed: Option<String>,
    batches: VecDeque<Batch>,
    /// The items of call `holding_call` received and not sent back yet, which every beat
    /// lists: the master hands out again what it does not see there.
    holding: std::collections::BTreeSet<u64>,
    holding_call: u64,
    /// The number of the last batch of call `holding_call` received, which beats carry too.
    seen: u64,
    /// The last call the master said is over.
    over: u64,
    /// Asks sent and not answered yet, and threads waiting for a batch.
    asked: usize,
    idle: usize,
    /// The master said bye, or was lost: nothing more will come.
    bye: bool,
    lost: bool,
    /// The pmap call this process is in now, if any (a bye then ends the process, unless the
    /// master has said that call is over; a serving worker: 0).
    in_call: Option<u64>,
}

pub struct Link {
    state: Mutex<State>,
    changed: Condvar,
    out: tmpsc::UnboundedSender<Vec<Bytes>>,
    master: String,
    /// A long-lived worker: it waits for a new master after a bye or a loss.
    serving: bool,
}

impl Link {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn send(&self, message: &ToMaster, payloads: Vec<Bytes>) {
        let _ = self.out.send(wire::encode(message, payloads));
    }
}

/// The process's link to its master, started on first use.
pub fn link(serving: bool) -> &'static Arc<Link> {
    static LINK: OnceLock<Arc<Link>> = OnceLock::new();
    LINK.get_or_init(|| {
        let master = if crate::pod_index() == 0 && crate::local_rank() != 0 && !serving {
            // A process beside the master, in pod 0.
            format!("127.0.0.1:{}", crate::protocol::pmap_port())
        } else {
            crate::protocol::master()
        };
        let (out, outbox) = tmpsc::unbounded_channel();
        let link = Arc::new(Link { state: Mutex::new(State::default()), changed: Condvar::new(), out, master, serving });
        let io = link.clone();
        std::thread::Builder::new()
            .name("kubernel-pmap-worker".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
                rt.block_on(talk(io, outbox));
            })
            .expect("a thread for the pmap worker");
        link
    })
}

fn connect_timeout() -> Duration {
    let secs = std::env::var(crate::protocol::CONNECT_TIMEOUT_ENV).ok().and_then(|s| s.trim().parse::<f64>().ok());
    Duration::from_secs_f64(secs.filter(|s| s.is_finite() && *s >= 0.0).unwrap_or(120.0))
}

/// The I/O thread: connects, then relays, for as long as the process needs it.
async fn talk(link: Arc<Link>, mut outbox: tmpsc::UnboundedReceiver<Vec<Bytes>>) {
    loop {
        let Some(socket) = reach(&link).await else { return };
        let (mut tx, mut rx) = socket.split();
        {
            let mut st = link.lock();
            (st.connected, st.bye, st.lost, st.asked) = (true, false, false, 0);
        }
        link.changed.notify_all();
        let hello = || {
            let (call, holding, seen) = {
                let st = link.lock();
                (st.holding_call, wire::ranges(st.holding.iter().copied()), st.seen)
            };
            let token = crate::protocol::pmap_token();
            let me = ToMaster::Hello { rank: crate::rank(), host: crate::hostname(), threads: crate::threads(), serving: link.serving, token, call, holding, seen };
            wire::encode(&me, vec![])
        };
        let _ = tx.send(ZmqMessage::try_from(hello()).expect("frames")).await;
        let mut heard = Instant::now();
        let mut beat = tokio::time::interval(BEAT);
        let ended = loop {
            tokio::select! {
                message = rx.recv() => {
                    let Ok(message) = message else { continue };
                    heard = Instant::now();
                    let Ok((message, payloads)) = wire::decode::<ToWorker>(message.into_vec()) else { continue };
                    if let Some(ended) = take(&link, message, payloads) {
                        break ended;
                    }
                }
                frames = outbox.recv() => match frames {
                    Some(frames) => {
                        let _ = tx.send(ZmqMessage::try_from(frames).expect("frames")).await;
                    }
                    None => return,
                },
                _ = beat.tick() => {
                    if heard.elapsed() > LOST_AFTER {
                        break Ended::Lost;
                    }
                    let _ = tx.send(ZmqMessage::try_from(hello()).expect("frames")).await;
                }
            }
        };
        let waiting = {
            let mut st = link.lock();
            st.connected = false;
            st.batches.clear();
            st.holding.clear();
            st.seen = 0;
            match ended {
                Ended::Bye => st.bye = true,
                Ended::Lost => st.lost = true,
            }
            st.in_call.is_some_and(|call| st.over < call)
        };
        link.changed.notify_all();
        if !link.serving {
            if waiting {
                match ended {
                    // Told to go while waiting for work: this worker is done.
                    Ended::Bye => std::process::exit(0),
                    Ended::Lost => {
                        eprintln!("kubernel: lost the master {}", link.master);
                        std::process::exit(1);
                    }
                }
            }
            // Not in a call: the next call ends the process (see `run`); keep nothing open.
            return;
        }
        if let Ended::Lost = ended {
            println!("{}", crate::protocol::state_line(&format!("lost the master {}", link.master)));
        }
        // A master that said bye goes on answering bye for a while: let it go first.
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

enum Ended {
    Bye,
    Lost,
}

/// What a message from the master changes; `Some` when the master is leaving.
fn take(link: &Link, message: ToWorker, payloads: Vec<Bytes>) -> Option<Ended> {
    match message {
        ToWorker::Batch { call, seq, indexes } => {
            if lose_this_batch() {
                eprintln!("kubernel: (fault injection) lost a batch of {} items", indexes.len());
                return None;
            }
            if wire::payloads_fit(&indexes, &payloads) {
                let mut st = link.lock();
                st.asked = st.asked.saturating_sub(1);
                if st.holding_call != call {
                    st.holding.clear();
                    st.holding_call = call;
                    st.seen = 0;
                }
                st.seen = st.seen.max(seq);
                st.holding.extend(indexes.iter().copied());
                st.batches.push_back(Batch { call, items: indexes.into_iter().zip(payloads).collect() });
                drop(st);
                link.changed.notify_one();
            }
        }
        ToWorker::Over { call } => {
            let mut st = link.lock();
            st.over = st.over.max(call);
            if st.holding_call <= call {
                st.holding.clear();
            }
            // Outstanding asks died with that call.
            st.asked = 0;
            drop(st);
            link.changed.notify_all();
        }
        ToWorker::Bye => return Some(Ended::Bye),
        ToWorker::Beat => {}
    }
    None
}

/// Fault injection for the tests: with `KUBERNEL_PMAP_LOSE_FIRST_BATCH=1` the first batch that
/// arrives is dropped, as if lost on the way; the master must find out and hand it out again.
fn lose_this_batch() -> bool {
    static LOST: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    std::env::var_os("KUBERNEL_PMAP_LOSE_FIRST_BATCH").is_some_and(|v| v == "1") && !LOST.swap(true, std::sync::atomic::Ordering::Relaxed)
}

/// Connects to the master, trying again every [`RETRY`]; None if it cannot be reached in time
/// (a job's worker; a long-lived one tries forever).
async fn reach(link: &Link) -> Option<DealerSocket> {
    let started = Instant::now();
    let limit = connect_timeout();
    let mut told: Option<Duration> = None;
    loop {
        let mut options = SocketOptions::default();
        options.connect_timeout(Duration::from_secs(1));
        let mut socket = DealerSocket::with_options(options);
        if socket.connect(&format!("tcp://{}", link.master)).await.is_ok() {
            return Some(socket);
        }
        let waited = started.elapsed();
        if !link.serving && waited >= limit {
            let mut st = link.lock();
            st.failed = Some(format!("no master at {} after {} s", link.master, limit.as_secs_f64().round()));
            drop(st);
            link.changed.notify_all();
            return None;
        }
        // Every few seconds (a long-lived worker: every minute after the first).
        let every = if link.serving && waited > Duration::from_secs(60) { 60 } else { 5 };
        if told.is_none_or(|t| waited >= t + Duration::from_secs(every)) {
            told = Some(waited);
            println!("{}", crate::protocol::state_line(&format!("waiting for master {} ({} s)", link.master, waited.as_secs())));
        }
        tokio::time::sleep(RETRY).await;
    }
}

/// Waits for the link to be up; panics with the reason if the master cannot be reached.
fn connected(link: &Link) {
    let mut st = link.lock();
    loop {
        if let Some(why) = &st.failed {
            panic!("{why}");
        }
        if st.connected {
            return;
        }
        st = link.changed.wait(st).unwrap_or_else(|e| e.into_inner());
    }
}

/// pmap call `call` on a worker: computes what the master hands out, until it says the call is
/// over. The items are the master's; the results stay there.
pub fn run<T, R, F>(call: u64, f: &F) -> Vec<R>
where
    T: DeserializeOwned,
    R: Serialize,
    F: Fn(T) -> R + Sync,
{
    let link = link(false);
    {
        let st = link.lock();
        if st.bye {
            // The master has shut down; there is no call to join.
            std::process::exit(0);
        }
        if st.lost {
            eprintln!("kubernel: lost the master {}", link.master);
            std::process::exit(1);
        }
    }
    connected(link);
    link.lock().in_call = Some(call);
    meter::begin(0);
    std::thread::scope(|s| {
        for _ in 0..crate::threads() {
            s.spawn(|| while let Some(batch) = next(link, Some(call)) {
                compute(link, batch, f);
            });
        }
    });
    link.lock().in_call = None;
    meter::end();
    Vec::new()
}

/// A long-lived worker: serves the calls of any master at [`crate::protocol::MASTER_ENV`],
/// one master after another, forever.
pub fn serve<T, R, F>(f: &F) -> !
where
    T: DeserializeOwned,
    R: Serialize,
    F: Fn(T) -> R + Sync,
{
    let link = link(true);
    link.lock().in_call = Some(0);
    std::thread::scope(|s| {
        for _ in 0..crate::threads() {
            s.spawn(|| loop {
                if let Some(batch) = next(link, None) {
                    compute(link, batch, f);
                }
            });
        }
    });
    unreachable!("serving threads do not end")
}

/// The next batch for this thread, asking the master for one if needed; None when call `call`
/// is over (a serving worker, with `call` None, takes a batch of any call and never ends).
fn next(link: &Link, call: Option<u64>) -> Option<Batch> {
    let mut st = link.lock();
    loop {
        if let Some(call) = call {
            if st.over >= call {
                return None;
            }
            if st.bye {
                // The master is gone without ending this call: it needs nothing more.
                std::process::exit(0);
            }
        }
        while let Some(batch) = st.batches.pop_front() {
            // A batch of a call that is over is late: another worker did it, or will.
            if call.is_none_or(|c| batch.call == c) {
                return Some(batch);
            }
        }
        if st.connected && st.asked <= st.idle {
            st.asked += 1;
            link.send(&ToMaster::Ask { call: call.unwrap_or(0), free: 1 }, vec![]);
        }
        st.idle += 1;
        let (g, waited) = link.changed.wait_timeout(st, ASK_AGAIN).unwrap_or_else(|e| e.into_inner());
        st = g;
        st.idle -= 1;
        if waited.timed_out() {
            // Our ask may have been lost (the master took us for dead, or restarted).
            st.asked = st.asked.saturating_sub(1);
        }
    }
}

fn compute<T, R, F>(link: &Link, batch: Batch, f: &F)
where
    T: DeserializeOwned,
    R: Serialize,
    F: Fn(T) -> R,
{
    meter::hold(batch.items.len());
    let held = batch.items.len();
    let (mut indexes, mut payloads) = (Vec::with_capacity(held), Vec::with_capacity(held));
    let mut panicked = None;
    for (index, payload) in batch.items {
        let result = wire::unpack::<T>(&payload)
            .map_err(|e| format!("the item does not fit the type of this worker's pmap items: {e}"))
            .and_then(|item| catch_unwind(AssertUnwindSafe(|| f(item))).map_err(|p| super::panic_message(&p)))
            .and_then(|r| wire::pack(&r).map_err(|e| format!("the result cannot be sent to the master: {e}")));
        match result {
            Ok(packed) => {
                indexes.push(index);
                payloads.push(packed);
                meter::done_one();
            }
            Err(message) => {
                panicked = Some((index, message));
                break;
            }
        }
    }
    meter::drop_held(held - indexes.len());
    if !indexes.is_empty() {
        {
            // Sent: from now on a loss on the way shows as a gap in the beats.
            let mut st = link.lock();
            if st.holding_call == batch.call {
                for i in &indexes {
                    st.holding.remove(i);
                }
            }
        }
        link.send(&ToMaster::Results { call: batch.call, indexes }, payloads);
    }
    if let Some((index, message)) = panicked {
        link.send(&ToMaster::Panicked { call: batch.call, index, message }, vec![]);
    }
}
