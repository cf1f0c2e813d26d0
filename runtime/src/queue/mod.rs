//! A work queue on a Redis list, as in Kubernetes' "Fine Parallel Processing Using a Work
//! Queue", with the reliable-queue pattern so that nothing is lost when a worker dies:
//!
//! - [`queue`] opens `redis://HOST:PORT/NAME`; the notebook [`Queue::push_all`]es items, the
//!   workers of a Job take them with [`Queue::pop`] and hand each result back with
//!   [`Lease::finish`], and the notebook reads the results with [`Queue::wait_results`].
//! - `pop` moves an item atomically (`BLMOVE`) from `NAME` to the worker's own list
//!   `NAME:held:WORKER`. A worker says it is alive every second (`NAME:alive:WORKER`, expiring
//!   after 5 s); whoever pops next puts a dead worker's items back at the front of `NAME`.
//! - `finish` removes the item from the worker's list and adds its result in one step (a Lua
//!   script), and only if the item was still the worker's: an item handed out again after its
//!   worker was presumed dead gives one result, never two.
//! - `pop` returns `None` once `NAME` is empty and no other live worker holds items, so each
//!   worker of the Job exits when the work is done.
//!
//! Without a lease, [`Queue::push`] and [`Queue::take`] are a channel in Julia's sense
//! (`put!`/`take!`) on the same list.

mod resp;

use resp::{Conn, Reply};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long a worker that stopped saying it is alive keeps its items.
pub const LEASE: Duration = Duration::from_secs(5);
/// How long [`queue`] keeps trying to reach Redis (it may still be starting), unless
/// `KUBERNEL_QUEUE_CONNECT_TIMEOUT` (seconds) says otherwise.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(60);

fn connect_timeout() -> Duration {
    std::env::var("KUBERNEL_QUEUE_CONNECT_TIMEOUT").ok().and_then(|v| v.trim().parse().ok()).map(Duration::from_secs).unwrap_or(CONNECT_TIMEOUT)
}

const FINISH: &str = "if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then redis.call('RPUSH', KEYS[2], ARGV[2]) return 1 end return 0";

/// What went wrong with the queue, in words that name the cause.
#[derive(Debug, Clone, PartialEq)]
pub struct QueueError(pub String);

impl std::fmt::Display for QueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for QueueError {}

impl From<String> for QueueError {
    fn from(s: String) -> Self {
        QueueError(s)
    }
}

type Result<T> = std::result::Result<T, QueueError>;

/// A queue of `T` items on Redis; see the module's comment.
pub struct Queue<T> {
    name: String,
    addr: String,
    conn: Mutex<Conn>,
    worker: String,
    beating: Mutex<Option<Arc<AtomicBool>>>,
    _items: PhantomData<fn() -> T>,
}

/// An item taken from the queue, still held by this worker until it is finished.
pub struct Lease<'q, T> {
    pub item: T,
    pub id: u64,
    payload: Vec<u8>,
    queue: &'q Queue<T>,
}

/// Opens the queue at `redis://HOST[:PORT]/NAME` (the port is 6379 if none is given),
/// waiting up to a minute for Redis to answer (it may still be starting).
pub fn queue<T: Serialize + DeserializeOwned>(url: &str) -> Result<Queue<T>> {
    let (addr, name) = parse_url(url)?;
    let started = Instant::now();
    let limit = connect_timeout();
    let mut said = Instant::now() - Duration::from_secs(10);
    let conn = loop {
        match Conn::open(&addr, Duration::from_secs(2)).and_then(|mut c| c.call(&[b"PING"]).map(|_| c)) {
            Ok(c) => break c,
            Err(e) if started.elapsed() < limit => {
                if said.elapsed() >= Duration::from_secs(2) {
                    crate::say_state(&format!("waiting for Redis at {addr} ({} s): {e}", started.elapsed().as_secs()));
                    said = Instant::now();
                }
                std::thread::sleep(Duration::from_millis(300));
            }
            Err(e) => return Err(QueueError(format!("Redis at {addr} did not answer within {} s: {e}", limit.as_secs()))),
        }
    };
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "local".into());
    let worker = format!("{host}-{}", std::process::id());
    Ok(Queue { name, addr, conn: Mutex::new(conn), worker, beating: Mutex::new(None), _items: PhantomData })
}

/// `redis://host:port/name` → (`host:port`, `name`).
fn parse_url(url: &str) -> Result<(String, String)> {
    let bad = |why: &str| QueueError(format!("{url:?} is not a queue's address ({why}); write redis://HOST:PORT/NAME, for example redis://redis:6379/tasks"));
    let rest = url.strip_prefix("redis://").ok_or_else(|| bad("it does not start with redis://"))?;
    let (host, name) = rest.split_once('/').ok_or_else(|| bad("it names no queue"))?;
    if host.is_empty() || host.contains('@') {
        return Err(bad(if host.is_empty() { "it names no host" } else { "passwords are not supported" }));
    }
    if name.is_empty() || name.contains(['/', ' ']) {
        return Err(bad("the queue's name must be one word"));
    }
    let addr = if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) { host.to_string() } else { format!("{host}:6379") };
    Ok((addr, name.to_string()))
}

/// An item or result on Redis: `[id, value]` in JSON (ids keep equal items apart, and give
/// the results their items' order).
type Entry<V> = (u64, V);

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn key(&self, part: &str) -> String {
        format!("{}:{part}", self.name)
    }

    fn call(&self, args: &[&[u8]]) -> Result<Reply> {
        Ok(self.conn.lock().unwrap_or_else(|p| p.into_inner()).call(args)?)
    }

    /// Adds one item at the back; returns its id.
    pub fn push(&self, item: &T) -> Result<u64> {
        let id = self.call(&[b"INCR", self.key("ids").as_bytes()])?.int() as u64;
        let payload = to_json(&(id, item))?;
        self.call(&[b"LPUSH", self.name.as_bytes(), &payload])?;
        Ok(id)
    }

    /// Adds many items, in order, in a few round trips; returns how many.
    pub fn push_all(&self, items: impl IntoIterator<Item = T>) -> Result<usize> {
        let items: Vec<T> = items.into_iter().collect();
        if items.is_empty() {
            return Ok(0);
        }
        let last = self.call(&[b"INCRBY", self.key("ids").as_bytes(), items.len().to_string().as_bytes()])?.int() as u64;
        let first = last + 1 - items.len() as u64;
        for (n, chunk) in items.chunks(1000).enumerate() {
            let mut cmd: Vec<Vec<u8>> = vec![b"LPUSH".to_vec(), self.name.as_bytes().to_vec()];
            for (i, item) in chunk.iter().enumerate() {
                cmd.push(to_json(&(first + (n * 1000 + i) as u64, item))?);
            }
            self.conn.lock().unwrap_or_else(|p| p.into_inner()).pipeline(&[cmd])?;
        }
        Ok(items.len())
    }

    /// Items waiting (not taken by a worker).
    pub fn len(&self) -> Result<u64> {
        Ok(self.call(&[b"LLEN", self.name.as_bytes()])?.int() as u64)
    }

    /// Items taken by workers and not finished yet.
    pub fn in_flight(&self) -> Result<u64> {
        let mut n = 0;
        for w in self.workers()? {
            n += self.call(&[b"LLEN", self.key(&format!("held:{w}")).as_bytes()])?.int() as u64;
        }
        Ok(n)
    }

    /// Results handed back so far.
    pub fn results_len(&self) -> Result<u64> {
        Ok(self.call(&[b"LLEN", self.key("results").as_bytes()])?.int() as u64)
    }

    /// Removes the queue's items, results and what workers hold: a fresh start. Workers that
    /// are running stay listed (they list themselves again every second).
    pub fn clear(&self) -> Result<()> {
        let mut keys = vec![self.name.clone(), self.key("ids"), self.key("results"), self.key("workers")];
        for w in self.workers()? {
            keys.push(self.key(&format!("held:{w}")));
            keys.push(self.key(&format!("alive:{w}")));
        }
        let mut args: Vec<&[u8]> = vec![b"DEL"];
        args.extend(keys.iter().map(|k| k.as_bytes()));
        self.call(&args)?;
        Ok(())
    }

    /// Takes an item without a lease: a channel's `take!`. Waits up to `timeout` for one.
    pub fn take(&self, timeout: Duration) -> Result<Option<T>> {
        let secs = format!("{:.3}", timeout.as_secs_f64().max(0.001));
        let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        c.set_read_timeout(Some(timeout + Duration::from_secs(5)))?;
        let got = c.call(&[b"BRPOP", self.name.as_bytes(), secs.as_bytes()]);
        c.set_read_timeout(Some(Duration::from_secs(10)))?;
        match got?.array().into_iter().nth(1).and_then(Reply::bulk) {
            Some(payload) => Ok(Some(from_json::<Entry<T>>(&payload)?.1)),
            None => Ok(None),
        }
    }

    /// Takes the next item for this worker, held until [`Lease::finish`]. Waits while other
    /// live workers still hold items (one of them may die and its items come back); `None`
    /// when all the work is done.
    pub fn pop(&self) -> Result<Option<Lease<'_, T>>> {
        self.start_beating()?;
        let held = self.key(&format!("held:{}", self.worker));
        loop {
            let got = {
                let mut c = self.conn.lock().unwrap_or_else(|p| p.into_inner());
                c.set_read_timeout(Some(Duration::from_secs(6)))?;
                let got = c.call(&[b"BLMOVE", self.name.as_bytes(), held.as_bytes(), b"RIGHT", b"LEFT", b"0.5"]);
                c.set_read_timeout(Some(Duration::from_secs(10)))?;
                got?
            };
            if let Some(payload) = got.bulk() {
                let (id, item): Entry<T> = from_json(&payload)?;
                if crate::in_cluster() {
                    crate::pmap::meter::hold(1);
                }
                return Ok(Some(Lease { item, id, payload, queue: self }));
            }
            let others_hold = self.reap()?;
            if others_hold == 0 && self.len()? == 0 {
                return Ok(None);
            }
        }
    }

    /// Pops every item, maps it with `f` and hands the result back, until the work is done;
    /// returns how many items this worker did. A worker's whole body can be this one call.
    pub fn for_each<R: Serialize>(&self, f: impl Fn(T) -> R) -> Result<u64> {
        let mut done = 0;
        while let Some(Lease { item, id, payload, .. }) = self.pop()? {
            if self.finish_raw(id, &payload, &f(item))? {
                done += 1;
            }
        }
        if crate::in_cluster() {
            crate::pmap::meter::end();
        }
        Ok(done)
    }

    /// Waits for `n` results (all the items pushed, usually) and returns them in the order the
    /// items were pushed. Shows a progress bar in a notebook; fails after `timeout`, saying how
    /// many came.
    pub fn wait_results<R: DeserializeOwned>(&self, n: u64, timeout: Duration) -> Result<Vec<R>> {
        let started = Instant::now();
        let bar = |got: u64| {
            let f = if n == 0 { 1.0 } else { (got as f64 / n as f64).min(1.0) };
            format!("<div style=\"font-family:monospace\"><progress value=\"{f:.4}\" max=\"1\" style=\"width:20em\"></progress> {got} of {n} results</div>")
        };
        let shown = (!crate::in_cluster()).then(|| crate::display::Display::html(bar(0)));
        loop {
            let got = self.results_len()?;
            if let Some(d) = &shown {
                d.update_html(bar(got));
            }
            if got >= n {
                break;
            }
            if started.elapsed() >= timeout {
                return Err(QueueError(format!(
                    "{got} of {n} results after {} s ({} items waiting, {} held by workers): are the workers running?",
                    timeout.as_secs(),
                    self.len()?,
                    self.in_flight()?
                )));
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.results()
    }

    /// The results handed back so far, in the order their items were pushed.
    pub fn results<R: DeserializeOwned>(&self) -> Result<Vec<R>> {
        let all = self.call(&[b"LRANGE", self.key("results").as_bytes(), b"0", b"-1"])?.array();
        let mut entries: Vec<Entry<R>> = all.into_iter().filter_map(Reply::bulk).map(|p| from_json(&p)).collect::<Result<_>>()?;
        entries.sort_by_key(|e| e.0);
        Ok(entries.into_iter().map(|e| e.1).collect())
    }

    fn workers(&self) -> Result<Vec<String>> {
        let members = self.call(&[b"SMEMBERS", self.key("workers").as_bytes()])?.array();
        Ok(members.into_iter().filter_map(Reply::bulk).map(|b| String::from_utf8_lossy(&b).into_owned()).collect())
    }

    /// Puts the items of workers that stopped beating back at the front of the queue; returns
    /// how many items live workers other than this one hold.
    fn reap(&self) -> Result<u64> {
        let mut others_hold = 0;
        for w in self.workers()? {
            if w == self.worker {
                continue;
            }
            let held = self.key(&format!("held:{w}"));
            let alive = self.call(&[b"EXISTS", self.key(&format!("alive:{w}")).as_bytes()])?.int() == 1;
            if alive {
                others_hold += self.call(&[b"LLEN", held.as_bytes()])?.int() as u64;
                continue;
            }
            let mut back = 0;
            while self.call(&[b"LMOVE", held.as_bytes(), self.name.as_bytes(), b"RIGHT", b"RIGHT"])? != Reply::Nil {
                back += 1;
            }
            self.call(&[b"SREM", self.key("workers").as_bytes(), w.as_bytes()])?;
            if back > 0 {
                eprintln!("kubernel: worker {w} stopped answering: its {back} item(s) are back in the queue");
            }
        }
        Ok(others_hold)
    }

    /// Says this worker is alive now and every second from now on, on a connection of its own.
    fn start_beating(&self) -> Result<()> {
        let mut beating = self.beating.lock().unwrap_or_else(|p| p.into_inner());
        if beating.is_some() {
            return Ok(());
        }
        let alive = self.key(&format!("alive:{}", self.worker));
        let ms = LEASE.as_millis().to_string();
        let mut conn = Conn::open(&self.addr, Duration::from_secs(5))?;
        // Alive first, then listed: a reaper never sees a listed worker that has not beaten.
        conn.call(&[b"SET", alive.as_bytes(), b"1", b"PX", ms.as_bytes()])?;
        conn.call(&[b"SADD", self.key("workers").as_bytes(), self.worker.as_bytes()])?;
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = stop.clone();
        let (workers, me) = (self.key("workers"), self.worker.clone());
        std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                std::thread::sleep(Duration::from_secs(1));
                // Listed again each time: a `clear` from the notebook empties the list of
                // workers, and a worker missing from it would lose its items if it died.
                let beat = vec![
                    vec![b"SET".to_vec(), alive.as_bytes().to_vec(), b"1".to_vec(), b"PX".to_vec(), ms.as_bytes().to_vec()],
                    vec![b"SADD".to_vec(), workers.as_bytes().to_vec(), me.as_bytes().to_vec()],
                ];
                if conn.pipeline(&beat).is_err() {
                    // Reconnect quietly: a missed beat or two is within the lease.
                    if let Ok(c) = Conn::open(&conn.addr.clone(), Duration::from_secs(2)) {
                        conn = c;
                    }
                }
            }
        });
        *beating = Some(stop);
        Ok(())
    }
}

impl<T> Drop for Queue<T> {
    fn drop(&mut self) {
        if let Some(stop) = self.beating.lock().unwrap_or_else(|p| p.into_inner()).take() {
            stop.store(true, Ordering::Relaxed);
        }
    }
}

impl<T: Serialize + DeserializeOwned> Lease<'_, T> {
    /// Hands the item's result back and lets the item go. `false` if the item was no longer
    /// this worker's (it was presumed dead and the item handed out again): the result is
    /// dropped, so every item has exactly one result.
    pub fn finish<R: Serialize>(self, result: &R) -> Result<bool> {
        self.queue.finish_raw(self.id, &self.payload, result)
    }
}

impl<T: Serialize + DeserializeOwned> Queue<T> {
    fn finish_raw<R: Serialize>(&self, id: u64, payload: &[u8], result: &R) -> Result<bool> {
        let held = self.key(&format!("held:{}", self.worker));
        let out = to_json(&(id, result))?;
        let kept = self.call(&[b"EVAL", FINISH.as_bytes(), b"2", held.as_bytes(), self.key("results").as_bytes(), payload, &out])?.int() == 1;
        if crate::in_cluster() {
            crate::pmap::meter::done_one();
        }
        Ok(kept)
    }
}

fn to_json<V: Serialize>(v: &V) -> Result<Vec<u8>> {
    serde_json::to_vec(v).map_err(|e| QueueError(format!("a queue item or result cannot be written as JSON: {e}")))
}

fn from_json<V: DeserializeOwned>(b: &[u8]) -> Result<V> {
    serde_json::from_slice(b).map_err(|e| QueueError(format!("a queue entry does not fit this type: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_read_as_host_port_and_name() {
        assert_eq!(parse_url("redis://redis:6379/tasks").unwrap(), ("redis:6379".into(), "tasks".into()));
        assert_eq!(parse_url("redis://redis/tasks").unwrap(), ("redis:6379".into(), "tasks".into()));
        assert!(parse_url("http://redis/tasks").unwrap_err().0.contains("redis://"));
        assert!(parse_url("redis://redis:6379").unwrap_err().0.contains("names no queue"));
        assert!(parse_url("redis://:pw@redis/tasks").unwrap_err().0.contains("passwords"));
    }
}
