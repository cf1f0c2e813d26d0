//! What a job program and the kernel say to each other, defined once for both sides: the
//! environment the pods get, and the lines a program writes among its output.
//!
//! A program ends by writing its result to [`RESULT_DIR`] and one [`RESULT`] line; the kernel
//! then runs the same binary with [`HAND_OVER_ARG`] in the pod (an exec), which writes the
//! result to stdout and lets the program exit. Logs are rotated and termination messages are
//! capped at 4 KiB, so neither carries a result.

/// The pod's index, set by Kubernetes for an Indexed Job.
pub const RANK_ENV: &str = "JOB_COMPLETION_INDEX";
/// How many indexes the job has; set by kubernel on every job pod.
pub const WORLD_ENV: &str = "KUBERNEL_WORLD";
/// How long a finished program waits for the kernel to take its result, in seconds.
pub const HAND_OVER_TIMEOUT_ENV: &str = "KUBERNEL_HAND_OVER_TIMEOUT";
/// Where the result waits (an emptyDir: the root file system is read-only).
pub const RESULT_DIR: &str = "/tmp/kubernel";
/// Another folder for it (for running a job program on this machine, as the tests do).
pub const RESULT_DIR_ENV: &str = "KUBERNEL_RESULT_DIR";

/// Processes per pod (`--procs`); 1 when unset. With more, the program started in the pod is a
/// launcher that runs that many copies of itself.
pub const PROCS_ENV: &str = "KUBERNEL_PROCS";
/// A process's index among its pod's processes, set by the launcher on each copy it starts (and
/// so unset in a launcher or a single-process pod).
pub const LOCAL_RANK_ENV: &str = "KUBERNEL_LOCAL_RANK";
/// "1": the job's processes form one master-worker world for `pmap` (rank 0 is the master).
pub const CONNECTED_ENV: &str = "KUBERNEL_CONNECTED";
/// Where the workers reach rank 0's pmap server, `host:port` (`sq-0.sq:5555` for job `sq`);
/// [`master`] gives the default.
pub const MASTER_ENV: &str = "KUBERNEL_MASTER";
/// The job's name: with it, the pods' host names are `NAME-i.NAME` (a headless Service).
pub const JOB_ENV: &str = "KUBERNEL_JOB";
/// Millicores of the pod's CPU request (downward API, `requests.cpu`, divisor 1m); 0 for none.
pub const CPU_REQUEST_ENV: &str = "KUBERNEL_CPU_REQUEST";
/// Millicores of the pod's CPU limit (`limits.cpu`); without a limit the downward API gives
/// the node's allocatable CPUs.
pub const CPU_LIMIT_ENV: &str = "KUBERNEL_CPU_LIMIT";
/// How long a worker tries to reach its master before it gives up, in seconds (default 120).
pub const CONNECT_TIMEOUT_ENV: &str = "KUBERNEL_CONNECT_TIMEOUT";
/// The port of the pmap server on rank 0.
pub const PMAP_PORT: u16 = 5555;
/// Another port for it (so that tests running side by side on one machine do not collide).
pub const PMAP_PORT_ENV: &str = "KUBERNEL_PMAP_PORT";

/// The pmap port: [`PMAP_PORT_ENV`] or [`PMAP_PORT`].
pub fn pmap_port() -> u16 {
    std::env::var(PMAP_PORT_ENV).ok().and_then(|p| p.trim().parse().ok()).unwrap_or(PMAP_PORT)
}

/// A secret the master and its workers share (from a Secret of the job's): the master takes
/// work and results only from workers that say it. Unset: anyone on the network may join.
pub const PMAP_TOKEN_ENV: &str = "KUBERNEL_PMAP_TOKEN";

pub fn pmap_token() -> String {
    std::env::var(PMAP_TOKEN_ENV).unwrap_or_default().trim().to_string()
}

/// The master's `host:port`: [`MASTER_ENV`], else this machine.
pub fn master() -> String {
    std::env::var(MASTER_ENV).ok().filter(|m| !m.trim().is_empty()).map(|m| m.trim().to_string()).unwrap_or_else(|| format!("127.0.0.1:{}", pmap_port()))
}

pub fn result_dir() -> std::path::PathBuf {
    std::env::var_os(RESULT_DIR_ENV).map(Into::into).unwrap_or_else(|| RESULT_DIR.into())
}
pub const RESULT_FILE: &str = "result.json";
/// Created by the hand-over once the result has been written out.
pub const TAKEN_FILE: &str = "taken";
/// The argument that makes a job program hand over its result instead of running.
pub const HAND_OVER_ARG: &str = "--kubernel-hand-over";

pub const PROGRESS: &str = "KUBERNEL_PROGRESS";
pub const RESULT: &str = "KUBERNEL_RESULT";
pub const ITEMS: &str = "KUBERNEL_ITEMS";
pub const STATE: &str = "KUBERNEL_STATE";
pub const FROM: &str = "KUBERNEL_FROM";
pub const CPU: &str = "KUBERNEL_CPU";

/// `KUBERNEL_PROGRESS 0.25`
pub fn progress_line(fraction: f64) -> String {
    format!("{PROGRESS} {fraction:.4}")
}

pub fn parse_progress(line: &str) -> Option<f64> {
    line.strip_prefix(PROGRESS)?.strip_prefix(' ')?.trim().parse().ok()
}

/// A result is ready: its size in bytes and its Rust type, as `std::any::type_name` says it.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultReady {
    pub bytes: usize,
    pub type_name: String,
}

/// `KUBERNEL_RESULT 1234 alloc::vec::Vec<u64>`
pub fn result_line(bytes: usize, type_name: &str) -> String {
    format!("{RESULT} {bytes} {type_name}")
}

pub fn parse_result(line: &str) -> Option<ResultReady> {
    let rest = line.strip_prefix(RESULT)?.strip_prefix(' ')?;
    let (bytes, type_name) = rest.split_once(' ')?;
    Some(ResultReady { bytes: bytes.parse().ok()?, type_name: type_name.trim().to_string() })
}

/// This process's pmap items: done so far (over all its pmap calls), and held right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Items {
    pub done: u64,
    pub in_flight: u64,
}

/// `KUBERNEL_ITEMS 1200 16`: written at most about 4 times a second while in pmap, and once at
/// the end of each pmap call.
pub fn items_line(done: u64, in_flight: u64) -> String {
    format!("{ITEMS} {done} {in_flight}")
}

pub fn parse_items(line: &str) -> Option<Items> {
    let (done, in_flight) = line.strip_prefix(ITEMS)?.strip_prefix(' ')?.trim().split_once(' ')?;
    Some(Items { done: done.parse().ok()?, in_flight: in_flight.trim().parse().ok()? })
}

/// `KUBERNEL_CPU 12.34`: the CPU seconds this process has used (all its threads), written
/// every second and once when the body returns, so the job's table can say how many cores a
/// rank kept busy.
pub fn cpu_line(seconds: f64) -> String {
    format!("{CPU} {seconds:.2}")
}

pub fn parse_cpu(line: &str) -> Option<f64> {
    line.strip_prefix(CPU)?.strip_prefix(' ')?.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s >= 0.0)
}

/// `KUBERNEL_STATE waiting for master sq-0.sq:5555 (12 s)`: what a process is doing, when it is
/// not computing (one line of text; a newline in it is replaced by a space).
pub fn state_line(text: &str) -> String {
    format!("{STATE} {}", text.replace(['\n', '\r'], " "))
}

pub fn parse_state(line: &str) -> Option<&str> {
    Some(line.strip_prefix(STATE)?.strip_prefix(' ')?.trim_end())
}

/// `KUBERNEL_FROM 2 <line>`: a line of the pod's process with local rank 2, relayed by the
/// launcher (on stdout for its stdout, on stderr for its stderr).
pub fn from_line(local_rank: usize, line: &str) -> String {
    format!("{FROM} {local_rank} {line}")
}

/// The local rank and the line it wrote (which may itself be a marker line).
pub fn parse_from(line: &str) -> Option<(usize, &str)> {
    let rest = line.strip_prefix(FROM)?.strip_prefix(' ')?;
    let (rank, line) = rest.split_once(' ').unwrap_or((rest, ""));
    Some((rank.parse().ok()?, line))
}

/// Where the kernel keeps the results of its last job cell for [`crate::last_results`]: one
/// file per kernel process (a notebook cell's code runs in a child of the kernel).
pub fn last_results_path(kernel_pid: u32) -> std::path::PathBuf {
    let cache = std::env::var_os("KUBERNEL_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".cache/kubernel")
    });
    cache.join("results").join(format!("{kernel_pid}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_read_back() {
        assert_eq!(parse_progress(&progress_line(0.25)), Some(0.25));
        assert_eq!(parse_progress("KUBERNEL_PROGRESSIVE 1"), None);
        let r = parse_result(&result_line(12, "alloc::vec::Vec<(u8, f64)>")).unwrap();
        assert_eq!((r.bytes, r.type_name.as_str()), (12, "alloc::vec::Vec<(u8, f64)>"));
        assert_eq!(parse_result("KUBERNEL_RESULT x y"), None);
        assert_eq!(parse_cpu(&cpu_line(12.345)), Some(12.35));
        assert_eq!(parse_cpu("KUBERNEL_CPU -1"), None);
        assert_eq!(parse_cpu("KUBERNEL_CPUS 1"), None);
    }

    #[test]
    fn pmap_lines_read_back() {
        assert_eq!(parse_items(&items_line(1200, 16)), Some(Items { done: 1200, in_flight: 16 }));
        assert_eq!(parse_items("KUBERNEL_ITEMS 3"), None);
        assert_eq!(parse_items("KUBERNEL_ITEMSX 3 4"), None);
        let state = state_line("waiting for master sq-0.sq:5555 (12 s)");
        assert_eq!(state, "KUBERNEL_STATE waiting for master sq-0.sq:5555 (12 s)");
        assert_eq!(parse_state(&state), Some("waiting for master sq-0.sq:5555 (12 s)"));
        assert_eq!(parse_state(&state_line("two\nlines")), Some("two lines"));
        let inner = items_line(5, 1);
        assert_eq!(parse_from(&from_line(2, &inner)), Some((2, inner.as_str())));
        assert_eq!(parse_from(&from_line(0, "")), Some((0, "")));
        assert_eq!(parse_from("KUBERNEL_FROM x hello"), None);
        assert_eq!(parse_progress(parse_from(&from_line(1, &progress_line(0.5))).unwrap().1), Some(0.5));
    }
}
