//! The master's side of the network: one background thread per process, with its own tokio
//! runtime, that binds a zeromq ROUTER on `0.0.0.0:PMAP_PORT` and lives across pmap calls. It
//! knows the workers (who they are, when each was last heard from), beats to them, answers
//! asks for calls that are over or not begun, and hands the rest to the pmap call being run
//! (see `master`), whose types it does not know: items and results stay bytes here.

use super::schedule::{route, Id, Route};
use super::wire::{self, ToMaster, ToWorker};
use bytes::Bytes;
use std::collections::HashMap;
use std::sync::mpsc;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};
use tokio::sync::mpsc as tmpsc;
use zeromq::{RouterSocket, Socket, SocketRecv, SocketSend, ZmqMessage};

/// How often each side beats.
pub const BEAT: Duration = Duration::from_millis(500);
/// A worker not heard from for this long is presumed dead.
pub const DEAD_AFTER: Duration = Duration::from_secs(3);
/// After shutting down, the master keeps answering `bye` this long.
pub const BYE_FOR: Duration = Duration::from_secs(5);

/// What the server tells the pmap call being run.
pub enum Event {
    /// A worker is known (at the start of a call, or when it comes), with its threads.
    Joined { worker: Id, threads: usize },
    Ask { worker: Id, free: usize },
    /// A worker's beat: the items of this call it holds, and the last batch of it it got;
    /// `at` when it came (the master may read it much later).
    Holding { worker: Id, indexes: Vec<u64>, seen: u64, at: std::time::Instant },
    Results { indexes: Vec<u64>, payloads: Vec<Bytes> },
    /// `who`: "rank 2 (sq-2.sq)", or "worker HOST" for a long-lived one.
    Panicked { index: u64, message: String, who: String },
    Gone { worker: Id },
    /// The master's own threads have finished the last item.
    Wake,
}

enum Command {
    Start { call: u64, events: mpsc::Sender<Event> },
    Send { worker: Id, message: ToWorker, payloads: Vec<Bytes> },
    Over { call: u64 },
    Bye,
}

pub struct Server {
    commands: tmpsc::UnboundedSender<Command>,
    bye_at: Mutex<Option<Instant>>,
    /// The workers known now and their threads, so that a call's first batches are sized for
    /// all of them (the `Joined` events come a little later).
    known: Arc<Mutex<HashMap<Id, usize>>>,
    /// How many workers have been told `bye`.
    told: Arc<std::sync::atomic::AtomicUsize>,
}

/// The process's server, started (and bound) on first use. Panics if the port cannot be bound:
/// there is no pmap master without it.
pub fn get() -> &'static Server {
    static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
    SERVER.get_or_init(start).as_ref().unwrap_or_else(|e| panic!("{e}"))
}

fn start() -> Result<Server, String> {
    let port = crate::protocol::pmap_port();
    let (commands, inbox) = tmpsc::unbounded_channel();
    let (bound, is_bound) = mpsc::channel();
    let known = Arc::new(Mutex::new(HashMap::new()));
    let shared = known.clone();
    let told = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = told.clone();
    std::thread::Builder::new()
        .name("kubernel-pmap-master".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
            rt.block_on(serve(port, inbox, bound, shared, counted));
        })
        .map_err(|e| format!("cannot start the pmap server: {e}"))?;
    match is_bound.recv() {
        Ok(Ok(())) => Ok(Server { commands, bye_at: Mutex::new(None), known, told }),
        Ok(Err(e)) => Err(format!("the pmap master cannot listen on port {port}: {e}")),
        Err(_) => Err("the pmap server stopped at its start".into()),
    }
}

impl Server {
    /// Call `call` begins; its events go to `events`.
    pub fn start(&self, call: u64, events: mpsc::Sender<Event>) {
        let _ = self.commands.send(Command::Start { call, events });
    }

    pub fn send(&self, worker: Id, message: ToWorker, payloads: Vec<Bytes>) {
        let _ = self.commands.send(Command::Send { worker, message, payloads });
    }

    /// The workers known now, with their threads.
    pub fn known(&self) -> Vec<(Id, usize)> {
        self.known.lock().unwrap_or_else(|e| e.into_inner()).iter().map(|(&id, &t)| (id, t)).collect()
    }

    /// Call `call` is complete: workers in it are told.
    pub fn over(&self, call: u64) {
        let _ = self.commands.send(Command::Over { call });
    }

    /// Tells every worker `bye`, now and to anyone who asks later (once).
    pub fn bye(&self) {
        let mut at = self.bye_at.lock().unwrap_or_else(|e| e.into_inner());
        if at.is_none() {
            *at = Some(Instant::now());
            let _ = self.commands.send(Command::Bye);
        }
    }

    /// Waits until [`BYE_FOR`] has passed since [`Server::bye`], or less: once every other
    /// rank of the world and every worker known has been told, nobody is left to ask (a
    /// worker that comes back later waits for its next master; a job's result is not held up).
    pub fn linger(&self) {
        let at = *self.bye_at.lock().unwrap_or_else(|e| e.into_inner());
        let Some(at) = at else { return };
        // The job's other ranks, or the workers that came (a ReplicaSet's): once all have
        // been told, a pod that lingered would only hold its CPU.
        let others = crate::world().saturating_sub(1);
        while at.elapsed() < BYE_FOR {
            let known = self.known.lock().unwrap_or_else(|e| e.into_inner()).len();
            if self.told.load(std::sync::atomic::Ordering::Relaxed) >= others.max(known) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

struct Worker {
    id: Id,
    rank: usize,
    host: String,
    threads: usize,
    serving: bool,
    heard: Instant,
}

impl Worker {
    /// How messages name it: a job's rank, or a long-lived worker by its host.
    fn who(&self) -> String {
        if self.serving {
            format!("worker {}", self.host)
        } else {
            format!("rank {} ({})", self.rank, self.host)
        }
    }
}

#[derive(Default)]
struct State {
    workers: HashMap<Bytes, Worker>,
    by_id: HashMap<Id, Bytes>,
    next_id: Id,
    current: Option<(u64, mpsc::Sender<Event>)>,
    finished: u64,
    /// Asks for a call not begun: (who, call, threads asking).
    parked: Vec<(Id, u64, usize)>,
    bye: bool,
    known: Arc<Mutex<HashMap<Id, usize>>>,
    /// The job's shared secret; empty: anyone may join.
    token: String,
    /// Who was refused for the token, told once.
    refused: std::collections::HashSet<Bytes>,
}

async fn serve(
    port: u16,
    mut inbox: tmpsc::UnboundedReceiver<Command>,
    bound: mpsc::Sender<Result<(), String>>,
    known: Arc<Mutex<HashMap<Id, usize>>>,
    told: Arc<std::sync::atomic::AtomicUsize>,
) {
    let mut socket = RouterSocket::new();
    if let Err(e) = socket.bind(&format!("tcp://0.0.0.0:{port}")).await {
        let _ = bound.send(Err(e.to_string()));
        return;
    }
    let _ = bound.send(Ok(()));
    let (mut tx, mut rx) = socket.split();
    let mut st = State { next_id: 1, known, token: crate::protocol::pmap_token(), ..State::default() };
    let mut beat = tokio::time::interval(BEAT);
    let mut told_bye: std::collections::HashSet<Bytes> = Default::default();
    loop {
        let mut out: Vec<(Bytes, ToWorker, Vec<Bytes>)> = Vec::new();
        tokio::select! {
            message = rx.recv() => match message {
                Ok(message) => st.incoming(message, &mut out),
                Err(_) => continue,
            },
            command = inbox.recv() => match command {
                Some(command) => st.command(command, &mut out),
                None => return,
            },
            _ = beat.tick() => st.beat(&mut out),
        }
        for (to, message, payloads) in out {
            if matches!(message, ToWorker::Bye) && told_bye.insert(to.clone()) {
                told.store(told_bye.len(), std::sync::atomic::Ordering::Relaxed);
            }
            let mut frames = vec![to];
            frames.extend(wire::encode(&message, payloads));
            let message = ZmqMessage::try_from(frames).expect("frames are not empty");
            // A worker that does not read is not waited for long.
            let _ = tokio::time::timeout(Duration::from_secs(1), tx.send(message)).await;
        }
    }
}

type Out = Vec<(Bytes, ToWorker, Vec<Bytes>)>;

impl State {
    fn incoming(&mut self, message: ZmqMessage, out: &mut Out) {
        let mut frames = message.into_vec();
        if frames.len() < 2 {
            return;
        }
        let who = frames.remove(0);
        let Ok((message, payloads)) = wire::decode::<ToMaster>(frames) else { return };
        // Only a worker that said the job's secret in its hello is heard at all.
        if !self.token.is_empty() {
            let says_it = matches!(&message, ToMaster::Hello { token, .. } if *token == self.token);
            if !says_it && !self.workers.contains_key(&who) {
                if let ToMaster::Hello { host, .. } = &message {
                    if self.refused.insert(who.clone()) {
                        println!("kubernel: {host} asked to join without this job's token (made by another run? %k8s cleanup makes a new one); not heard");
                    }
                }
                return;
            }
        }
        if self.bye {
            out.push((who, ToWorker::Bye, vec![]));
            return;
        }
        let id = self.know(&who, &message);
        match message {
            ToMaster::Hello { call, holding, seen, .. } => {
                // A beat about another call (the worker has not had a batch of this one yet)
                // holds nothing of this call: a first batch lost on the way shows too.
                if let Some(current) = self.current.as_ref().map(|c| c.0) {
                    let (indexes, seen) = if call == current { (holding.into_iter().flat_map(|(a, b)| a..b.min(a + (1 << 24))).collect(), seen) } else { (Vec::new(), 0) };
                    self.tell(Event::Holding { worker: id, indexes, seen, at: std::time::Instant::now() });
                }
            }
            ToMaster::Ask { call, free } => match route(call, self.current.as_ref().map(|c| c.0), self.finished) {
                Route::Over => out.push((who, ToWorker::Over { call }, vec![])),
                Route::Forward => self.tell(Event::Ask { worker: id, free }),
                Route::Park => {
                    // Asks add up, to one per thread of the worker (it asks again when one
                    // seems lost).
                    let threads = self.workers.get(&who).map_or(1, |w| w.threads);
                    match self.parked.iter_mut().find(|p| p.0 == id && p.1 == call) {
                        Some(p) => p.2 = (p.2 + free).min(threads),
                        None => self.parked.push((id, call, free.min(threads))),
                    }
                }
            },
            ToMaster::Results { call, indexes } => {
                let for_current = self.current.as_ref().is_some_and(|c| c.0 == call);
                if for_current && wire::payloads_fit(&indexes, &payloads) {
                    self.tell(Event::Results { indexes, payloads });
                }
            }
            ToMaster::Panicked { call, index, message } => {
                if self.current.as_ref().is_some_and(|c| c.0 == call) {
                    let who = self.workers[&who].who();
                    self.tell(Event::Panicked { index, message, who });
                }
            }
        }
    }

    /// The worker behind identity `who`, known from now on; a hello says who it is.
    fn know(&mut self, who: &Bytes, message: &ToMaster) -> Id {
        let now = Instant::now();
        let (rank, host, threads, serving) = match message {
            ToMaster::Hello { rank, host, threads, serving, .. } => (*rank, host.clone(), (*threads).max(1), *serving),
            _ => (usize::MAX, "?".to_string(), 1, false),
        };
        if let Some(w) = self.workers.get_mut(who) {
            w.heard = now;
            if matches!(message, ToMaster::Hello { .. }) {
                let changed = w.threads != threads;
                (w.rank, w.host, w.threads, w.serving) = (rank, host, threads, serving);
                let (id, threads) = (w.id, w.threads);
                if changed {
                    self.known_now(id, Some(threads));
                    self.tell(Event::Joined { worker: id, threads });
                }
            }
            return self.workers[who].id;
        }
        let id = self.next_id;
        self.next_id += 1;
        self.workers.insert(who.clone(), Worker { id, rank, host, threads, serving, heard: now });
        self.by_id.insert(id, who.clone());
        self.known_now(id, Some(threads));
        self.tell(Event::Joined { worker: id, threads });
        id
    }

    fn known_now(&self, id: Id, threads: Option<usize>) {
        let mut known = self.known.lock().unwrap_or_else(|e| e.into_inner());
        match threads {
            Some(t) => known.insert(id, t),
            None => known.remove(&id),
        };
    }

    fn tell(&mut self, event: Event) {
        if let Some((_, events)) = &self.current {
            let _ = events.send(event);
        }
    }

    fn command(&mut self, command: Command, out: &mut Out) {
        match command {
            Command::Start { call, events } => {
                self.current = Some((call, events));
                for w in self.workers.values() {
                    let _ = self.current.as_ref().unwrap().1.send(Event::Joined { worker: w.id, threads: w.threads });
                }
                // Workers that were ahead now have their call.
                for (id, asked, free) in std::mem::take(&mut self.parked) {
                    match route(asked, Some(call), self.finished) {
                        Route::Forward => self.tell(Event::Ask { worker: id, free }),
                        Route::Park => self.parked.push((id, asked, free)),
                        Route::Over => {
                            if let Some(who) = self.by_id.get(&id) {
                                out.push((who.clone(), ToWorker::Over { call: asked }, vec![]));
                            }
                        }
                    }
                }
            }
            Command::Send { worker, message, payloads } => {
                if let Some(who) = self.by_id.get(&worker) {
                    out.push((who.clone(), message, payloads));
                }
            }
            Command::Over { call } => {
                self.current = None;
                self.finished = self.finished.max(call);
                for who in self.workers.keys() {
                    out.push((who.clone(), ToWorker::Over { call }, vec![]));
                }
            }
            Command::Bye => {
                self.bye = true;
                for who in self.workers.keys() {
                    out.push((who.clone(), ToWorker::Bye, vec![]));
                }
            }
        }
    }

    fn beat(&mut self, out: &mut Out) {
        let dead: Vec<Bytes> = self.workers.iter().filter(|(_, w)| w.heard.elapsed() > DEAD_AFTER).map(|(who, _)| who.clone()).collect();
        for who in dead {
            if let Some(w) = self.workers.remove(&who) {
                // Said where the class sees it: the job's output, from the master.
                if !self.bye {
                    println!("kubernel: {} went silent for {:.1} s; its items go to the others", w.who(), w.heard.elapsed().as_secs_f64());
                }
                self.by_id.remove(&w.id);
                self.parked.retain(|p| p.0 != w.id);
                self.known_now(w.id, None);
                self.tell(Event::Gone { worker: w.id });
            }
        }
        if !self.bye {
            for who in self.workers.keys() {
                out.push((who.clone(), ToWorker::Beat, vec![]));
            }
        }
    }
}
