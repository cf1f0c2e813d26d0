//! One mechanism for everything that waits on the cluster or shows it live: sets of objects kept
//! up to date by kube's runtime watcher (it lists, watches, resumes, and lists again after 410
//! Gone), woken by a change, a tick, or a deadline. `get -w`, the rollout waits and the cleanup
//! wait are loops over [`Watch::next`]; what they judge (a rollout's progress, a stuck pod, what
//! is left) lives beside this in [`rollout`], [`pod_health`] and [`gone`].

pub mod condition;
pub mod failed_create;
pub mod gone;
pub mod pod_health;
pub mod rollout;

use crate::k8s::cluster::objects::to_value;
use crate::k8s::cluster::{ClusterError, Conn};
use futures::stream::{BoxStream, SelectAll};
use futures::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::watcher::{self, watcher, Event};
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How a wait ends when it does not succeed: the cluster failed us, or what we waited for
/// cannot happen (the cause is the error's name: ImagePullBackOff, Timeout, ...).
#[derive(Debug)]
pub enum WaitError {
    Cluster(ClusterError),
    Failed(pod_health::Failure),
}

impl From<ClusterError> for WaitError {
    fn from(e: ClusterError) -> Self {
        WaitError::Cluster(e)
    }
}

impl From<pod_health::Failure> for WaitError {
    fn from(f: pod_health::Failure) -> Self {
        WaitError::Failed(f)
    }
}

impl WaitError {
    pub fn failed(cause: &str, message: impl Into<String>) -> Self {
        WaitError::Failed(pod_health::Failure { cause: cause.to_string(), message: message.into() })
    }

    pub fn cause(&self) -> &str {
        match self {
            WaitError::Cluster(e) => e.ename(),
            WaitError::Failed(f) => &f.cause,
        }
    }
}

/// Why [`Watch::next`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A set changed (or every set has just been listed for the first time).
    Changed,
    /// The tick passed with nothing new.
    Tick,
    /// The deadline passed.
    Deadline,
}

/// One watched set of objects, by (namespace, name).
struct Set {
    what: String,
    ar: ApiResource,
    objects: BTreeMap<(String, String), Value>,
    /// Objects of a list in progress (the watcher relists after 410 Gone).
    listing: Option<BTreeMap<(String, String), Value>>,
    listed: bool,
    /// A set whose errors only empty it (what is left after a cleanup, a rollout's pods): the
    /// wait goes on judging the others.
    soft: bool,
}

type Events = BoxStream<'static, (usize, Result<Event<DynamicObject>, watcher::Error>)>;

pub struct Watch {
    conn: Arc<Conn>,
    streams: SelectAll<Events>,
    sets: Vec<Set>,
    deadline: Option<Instant>,
    tick: Option<Duration>,
    next_tick: Instant,
}

/// The objects of one set, in (namespace, name) order.
pub type Objects<'a> = Vec<&'a Value>;

fn key(v: &Value) -> (String, String) {
    (
        v["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
        v["metadata"]["name"].as_str().unwrap_or_default().to_string(),
    )
}

impl Watch {
    pub fn new(conn: Arc<Conn>) -> Self {
        Self { conn, streams: SelectAll::new(), sets: Vec::new(), deadline: None, tick: None, next_tick: Instant::now() }
    }

    /// Watches the objects `api` and `config` select; `what` names them in errors ("pods").
    /// Returns the set's number for [`Watch::objects`].
    pub fn add(&mut self, what: &str, api: Api<DynamicObject>, ar: ApiResource, config: watcher::Config) -> usize {
        let set = self.sets.len();
        self.sets.push(Set { what: what.to_string(), ar, objects: BTreeMap::new(), listing: None, listed: false, soft: false });
        self.streams.push(watcher(api, config).map(move |e| (set, e)).boxed());
        set
    }

    /// As [`Watch::add`], for a set whose errors (forbidden, its kind gone, a dropped watch) do
    /// not end the wait: the set is taken as empty until the watcher recovers.
    pub fn add_soft(&mut self, what: &str, api: Api<DynamicObject>, ar: ApiResource, config: watcher::Config) -> usize {
        let set = self.add(what, api, ar, config);
        self.sets[set].soft = true;
        set
    }

    /// Wakes with [`Wake::Deadline`] at `at` (once; the caller decides what it means).
    pub fn until(mut self, at: Option<Instant>) -> Self {
        self.deadline = at;
        self
    }

    /// Wakes with [`Wake::Tick`] after `every` without a change (for judging how long a state
    /// has lasted, or sending an update that was held back).
    pub fn tick(mut self, every: Duration) -> Self {
        self.set_tick(every);
        self
    }

    pub fn set_tick(&mut self, every: Duration) {
        self.tick = Some(every);
        self.next_tick = Instant::now() + every;
    }

    pub fn objects(&self, set: usize) -> Objects<'_> {
        self.sets[set].objects.values().collect()
    }

    /// Whether every set has been listed once.
    pub fn listed(&self) -> bool {
        self.sets.iter().all(|s| s.listed)
    }

    /// Waits for the next change, tick or the deadline. Changes and ticks come only once every
    /// set has been listed, so what the caller looks at is whole.
    pub async fn next(&mut self) -> Result<Wake, ClusterError> {
        loop {
            let far = Instant::now() + Duration::from_secs(3600);
            let tick_at = if self.tick.is_some() { self.next_tick } else { far };
            let until = self.deadline.map_or(tick_at, |d| d.min(tick_at));
            let event = match tokio::time::timeout_at(until, self.streams.next()).await {
                Ok(Some(e)) => Some(e),
                // Watcher streams do not end; with no set at all there is only time to wait for.
                Ok(None) => {
                    tokio::time::sleep_until(until).await;
                    None
                }
                Err(_) => None,
            };
            if self.deadline.is_some_and(|d| Instant::now() >= d) {
                self.deadline = None;
                return Ok(Wake::Deadline);
            }
            let Some((set, event)) = event else {
                if let Some(every) = self.tick {
                    self.next_tick = Instant::now() + every;
                }
                // Until every set is listed there is nothing whole to judge.
                if !self.listed() {
                    continue;
                }
                return Ok(Wake::Tick);
            };
            let changed = match event {
                Ok(event) => self.apply(set, event),
                Err(watcher::Error::WatchError(status)) if status.code == 410 => false, // it lists again
                Err(_) if self.sets[set].soft => {
                    let s = &mut self.sets[set];
                    let changed = !s.listed || !s.objects.is_empty();
                    s.objects.clear();
                    s.listing = None;
                    s.listed = true;
                    // The watcher retries at once; don't spin on a set that keeps failing.
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    changed
                }
                Err(e) => return Err(self.explain(set, e)),
            };
            if changed && self.listed() {
                if let Some(every) = self.tick {
                    self.next_tick = Instant::now() + every;
                }
                return Ok(Wake::Changed);
            }
        }
    }

    fn apply(&mut self, set: usize, event: Event<DynamicObject>) -> bool {
        let s = &mut self.sets[set];
        match event {
            Event::Init => {
                s.listing = Some(BTreeMap::new());
                false
            }
            Event::InitApply(o) => {
                let v = to_value(o, &s.ar);
                s.listing.get_or_insert_with(BTreeMap::new).insert(key(&v), v);
                false
            }
            Event::InitDone => {
                s.objects = s.listing.take().unwrap_or_default();
                s.listed = true;
                true
            }
            Event::Apply(o) => {
                let v = to_value(o, &s.ar);
                s.objects.insert(key(&v), v);
                true
            }
            Event::Delete(o) => {
                let v = to_value(o, &s.ar);
                s.objects.remove(&key(&v)).is_some()
            }
        }
    }

    fn explain(&self, set: usize, e: watcher::Error) -> ClusterError {
        let what = format!("watch {}", self.sets[set].what);
        match e {
            watcher::Error::InitialListFailed(e) => self.conn.explain(&format!("list {}", self.sets[set].what), e),
            watcher::Error::WatchStartFailed(e) | watcher::Error::WatchFailed(e) => self.conn.explain(&what, e),
            watcher::Error::WatchError(status) => self.conn.explain(&what, kube::Error::Api(status)),
            other => ClusterError::Api { message: format!("{what}: {other}"), code: None, source: None },
        }
    }
}
