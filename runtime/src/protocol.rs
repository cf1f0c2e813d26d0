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
    }
}

/// Where the kernel keeps the results of its last job cell for [`crate::last_results`]: one
/// file per kernel process (a notebook cell's code runs in a child of the kernel).
pub fn last_results_path(kernel_pid: u32) -> std::path::PathBuf {
    let cache = std::env::var_os("KUBERNEL_CACHE").map(std::path::PathBuf::from).unwrap_or_else(|| {
        std::env::var_os("HOME").map(std::path::PathBuf::from).unwrap_or_else(std::env::temp_dir).join(".cache/kubernel")
    });
    cache.join("results").join(format!("{kernel_pid}.json"))
}
