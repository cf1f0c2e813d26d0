//! `kubernel`: what code from a notebook uses to know its place and to show things, the same in
//! a notebook cell and in a pod of the cluster.
//!
//! - [`rank`] and [`world`]: this process's index in its job and how many there are (0 and 1
//!   in a notebook cell, so code can be tried there first); [`threads`]: the CPUs it may use;
//! - [`pmap()`]: a parallel map over a list, on threads, or over all the processes of a connected
//!   job (rank 0 the master, the others its workers);
//! - [`partition`]: this rank's contiguous share of a range;
//! - [`progress`]: how far this rank has got, shown in the job's live table (in a cell: a bar);
//! - [`display`]: HTML, Markdown, SVG and PNG output, updated in place by id, and clearing;
//! - [`queue()`]: a work queue on Redis; [`load`]: steady traffic to a web service, charted live;
//!   [`shutdown`]: SIGTERM as a flag, for a service that leaves gracefully.
//!
//! A job cell's program calls [`job::main`] (written by kubernel, not by hand), which hands the
//! value of the cell's last expression back to the notebook.

pub mod display;
#[doc(hidden)]
pub mod job;
mod hand_over;
mod launch;
pub mod load;
pub mod pmap;
#[cfg(feature = "metrics")]
pub mod metrics;
pub mod protocol;
pub mod queue;
pub mod shutdown;

pub use pmap::{pmap, serve};
pub use queue::{queue, Lease, Queue, QueueError};

use std::ops::Range;

/// This process's index in its job: its pod's index (`JOB_COMPLETION_INDEX`) times the
/// processes per pod, plus its [`local_rank`]; 0 in a notebook cell.
pub fn rank() -> usize {
    Place::here().rank()
}

/// How many processes the job has: its pods (completions) times [`procs`]; 1 in a notebook cell.
pub fn world() -> usize {
    Place::here().world()
}

/// This process's index among its pod's processes (`KUBERNEL_LOCAL_RANK`); 0 when alone.
pub fn local_rank() -> usize {
    Place::here().local
}

/// How many processes each pod of the job runs (`--procs`, `KUBERNEL_PROCS`); 1 by default.
pub fn procs() -> usize {
    Place::here().procs
}

/// The pod's index in its Indexed Job.
pub(crate) fn pod_index() -> usize {
    Place::here().pod
}

/// How many pods the job has.
pub(crate) fn pods() -> usize {
    Place::here().pods
}

/// Where a process stands, as its environment says.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Place {
    pod: usize,
    pods: usize,
    procs: usize,
    local: usize,
}

impl Place {
    fn here() -> Place {
        Place::from(|name| std::env::var(name).ok())
    }

    fn from(env: impl Fn(&str) -> Option<String>) -> Place {
        let number = |name: &str| env(name).and_then(|v| v.trim().parse::<usize>().ok());
        Place {
            pod: number(protocol::RANK_ENV).unwrap_or(0),
            pods: number(protocol::WORLD_ENV).unwrap_or(1).max(1),
            procs: number(protocol::PROCS_ENV).unwrap_or(1).max(1),
            local: number(protocol::LOCAL_RANK_ENV).unwrap_or(0),
        }
    }

    fn rank(&self) -> usize {
        self.pod * self.procs + self.local
    }

    fn world(&self) -> usize {
        self.pods * self.procs
    }
}

/// Whether the job's processes are one master-worker world for [`pmap()`] (`--connected`).
pub fn connected() -> bool {
    std::env::var(protocol::CONNECTED_ENV).is_ok_and(|v| v.trim() == "1")
}

/// How many threads this process should use: its pod's CPUs (the request, else the limit,
/// capped by the limit, rounded up to whole CPUs) shared among the pod's processes, at least 1.
/// In a notebook cell (no such environment): the machine's parallelism. A pod without a CPU
/// limit sees every core of its node, so the count the system gives would be too many.
pub fn threads() -> usize {
    let millis = |name| env_number(name).map(|m| m as u64);
    let machine = || std::thread::available_parallelism().map_or(1, |n| n.get());
    threads_from(millis(protocol::CPU_REQUEST_ENV), millis(protocol::CPU_LIMIT_ENV), procs(), machine)
}

fn threads_from(request: Option<u64>, limit: Option<u64>, procs: usize, machine: impl Fn() -> usize) -> usize {
    let (request, limit) = (request.filter(|&r| r > 0), limit.filter(|&l| l > 0));
    let pod = match (request, limit) {
        (Some(r), Some(l)) => r.min(l).div_ceil(1000) as usize,
        (Some(m), None) | (None, Some(m)) => m.div_ceil(1000) as usize,
        (None, None) => machine(),
    };
    (pod / procs.max(1)).max(1)
}

/// The host names of the job's pods, in pod order (`NAME-i.NAME`, resolved by the job's
/// headless Service), when the job is connected; none in a job that is not. Outside the
/// cluster (a notebook cell): `["localhost"]`.
pub fn peers() -> Vec<String> {
    if !in_cluster() {
        return vec!["localhost".to_string()];
    }
    match std::env::var(protocol::JOB_ENV) {
        Ok(name) if connected() && !name.trim().is_empty() => peers_of(name.trim(), pods()),
        _ => Vec::new(),
    }
}

fn peers_of(job: &str, pods: usize) -> Vec<String> {
    (0..pods).map(|i| format!("{job}-{i}.{job}")).collect()
}

/// This machine's (the pod's) host name: `/etc/hostname`, else `HOSTNAME`, else "localhost".
pub fn hostname() -> String {
    let file = std::fs::read_to_string("/etc/hostname").ok().map(|h| h.trim().to_string());
    file.filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().map(|h| h.trim().to_string()).filter(|h| !h.is_empty()))
        .unwrap_or_else(|| "localhost".to_string())
}

/// Whether this code runs in a pod that kubernel made (a job), not in a notebook cell.
/// Says what this process is waiting for: a line the job's table shows in a pod, a note on
/// stderr in a notebook cell.
pub(crate) fn say_state(text: &str) {
    if in_cluster() {
        println!("{}", protocol::state_line(text));
    } else {
        eprintln!("kubernel: {text}");
    }
}

pub fn in_cluster() -> bool {
    std::env::var_os(protocol::WORLD_ENV).is_some()
}

fn env_number(name: &str) -> Option<usize> {
    std::env::var(name).ok()?.trim().parse().ok()
}

/// This rank's contiguous share of `range`: the shares of all ranks cover it once, in rank
/// order, and differ in length by at most one.
pub fn partition<T: Share>(range: Range<T>) -> Range<T> {
    partition_of(range, rank(), world())
}

/// The share of `rank` among `world` (what [`partition`] gives in that pod).
pub fn partition_of<T: Share>(range: Range<T>, rank: usize, world: usize) -> Range<T> {
    let (start, end) = (range.start.to_i128(), range.end.to_i128());
    let len = (end - start).max(0);
    let (world, rank) = (world.max(1) as i128, (rank as i128).min(world.max(1) as i128));
    let at = |r: i128| start + len / world * r + (len % world).min(r);
    T::from_i128(at(rank))..T::from_i128(at((rank + 1).min(world)))
}

/// The integer types a range of work can be counted in.
pub trait Share: Copy {
    fn to_i128(self) -> i128;
    fn from_i128(v: i128) -> Self;
}

macro_rules! share {
    ($($t:ty),*) => {$(
        impl Share for $t {
            fn to_i128(self) -> i128 { self as i128 }
            fn from_i128(v: i128) -> Self { v as $t }
        }
    )*};
}
share!(u8, u16, u32, u64, usize, i8, i16, i32, i64, isize);

/// Says how far this rank has got, from 0.0 to 1.0. In a pod it goes to the job's live table;
/// in a notebook cell it is a progress bar, updated in place.
pub fn progress(fraction: f64) {
    let fraction = if fraction.is_finite() { fraction.clamp(0.0, 1.0) } else { 0.0 };
    if in_cluster() {
        println!("{}", protocol::progress_line(fraction));
    } else {
        display::progress_bar(fraction);
    }
}

/// The results of the notebook's last job cell, in rank order (`None` for an index that
/// failed), as the kernel kept them. Call it in a notebook cell, with the type of the job's
/// value: `let squares: Vec<Option<u64>> = kubernel::last_results()?;`.
pub fn last_results<T: serde::de::DeserializeOwned>() -> Result<Vec<Option<T>>, String> {
    let path = protocol::last_results_path(std::os::unix::process::parent_id());
    let text = std::fs::read_to_string(&path).map_err(|e| format!("no job results kept in {}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("the last job's results do not fit this type: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_cover_the_range_once_in_order() {
        for (len, world) in [(10u64, 3usize), (3, 5), (0, 2), (100, 1), (7, 7)] {
            let shares: Vec<Range<u64>> = (0..world).map(|r| partition_of(5..5 + len, r, world)).collect();
            assert_eq!(shares.first().unwrap().start, 5);
            assert_eq!(shares.last().unwrap().end, 5 + len);
            for pair in shares.windows(2) {
                assert_eq!(pair[0].end, pair[1].start);
            }
            let sizes: Vec<u64> = shares.iter().map(|s| s.end - s.start).collect();
            assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1, "{sizes:?}");
        }
        assert_eq!(partition_of(-10i32..10, 1, 2), 0..10);
    }

    #[test]
    fn a_notebook_cell_is_rank_0_of_1() {
        // The tests run outside any job.
        assert_eq!((rank(), world(), in_cluster()), (0, 1, false));
        assert_eq!(partition(0..10usize), 0..10);
        assert_eq!((local_rank(), procs(), connected(), peers()), (0, 1, false, vec!["localhost".to_string()]));
        assert!(threads() >= 1 && !hostname().is_empty());
    }

    #[test]
    fn threads_follow_the_pods_cpus() {
        let machine = || 64;
        // A request of 1.5 CPUs gives 2; the limit caps the request; no request: the limit.
        assert_eq!(threads_from(Some(1500), Some(8000), 1, machine), 2);
        assert_eq!(threads_from(Some(4000), Some(2000), 1, machine), 2);
        assert_eq!(threads_from(Some(0), Some(3000), 1, machine), 3);
        assert_eq!(threads_from(None, Some(250), 1, machine), 1);
        // Shared among the pod's processes, at least one each.
        assert_eq!(threads_from(Some(8000), Some(8000), 3, machine), 2);
        assert_eq!(threads_from(Some(1000), None, 4, machine), 1);
        // No environment (a notebook cell): the machine.
        assert_eq!(threads_from(None, None, 1, machine), 64);
        assert_eq!(threads_from(Some(0), Some(0), 2, machine), 32);
    }

    #[test]
    fn rank_and_world_count_processes() {
        let place = |pairs: &[(&str, &str)]| {
            let pairs: Vec<(String, String)> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
            Place::from(move |name| pairs.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
        };
        let notebook = place(&[]);
        assert_eq!((notebook.rank(), notebook.world()), (0, 1));
        let single = place(&[("JOB_COMPLETION_INDEX", "2"), ("KUBERNEL_WORLD", "3")]);
        assert_eq!((single.rank(), single.world()), (2, 3));
        // Pod 2 of 3 with 4 processes each: local rank 1 there is rank 9 of 12.
        let child = place(&[("JOB_COMPLETION_INDEX", "2"), ("KUBERNEL_WORLD", "3"), ("KUBERNEL_PROCS", "4"), ("KUBERNEL_LOCAL_RANK", "1")]);
        assert_eq!((child.rank(), child.world()), (9, 12));
        // Every process of such a job has its own rank.
        let mut ranks: Vec<usize> = Vec::new();
        for pod in 0..3 {
            for local in 0..4 {
                let (pod, local) = (pod.to_string(), local.to_string());
                ranks.push(place(&[("JOB_COMPLETION_INDEX", &pod), ("KUBERNEL_WORLD", "3"), ("KUBERNEL_PROCS", "4"), ("KUBERNEL_LOCAL_RANK", &local)]).rank());
            }
        }
        assert_eq!(ranks, (0..12).collect::<Vec<_>>());
        assert_eq!(peers_of("sq", 2), vec!["sq-0.sq".to_string(), "sq-1.sq".to_string()]);
    }
}
