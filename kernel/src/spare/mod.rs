//! Spare kernels: the first Rust cell answered in well under the seconds evcxr takes to start.
//!
//! Starting evcxr (rust-analyzer loading the sysroot, the compile and run of `42`) takes 5 to
//! 10 s on a small machine, and no part of it can be skipped. So each user keeps one spare: a
//! `kubernel spare` process that has started its evaluator and warmed it ahead, at idle
//! priority, and waits on a socket in a directory only that user can enter.
//!
//! A kernel that starts (the launcher) hands its session to the spare: the connection file,
//! its working directory, its environment and its stdout and stderr. The spare takes them on
//! (its evcxr child too), binds the session's sockets and serves it; the launcher stays as a
//! stand-in for the process Jupyter started, passing signals on, and ends when the spare does.
//! The spare in turn ends when its launcher does. A new spare is started behind each hand-over.
//!
//! A spare serves one session and has run nothing of anyone's before it, so nothing of one
//! notebook reaches another. It is refused, and ends, when it is older than the binary or the
//! toolchain, or was started with another build environment; it ends by itself after
//! [`IDLE`] unused. `KUBERNEL_SPARE=0` turns spares off; then every kernel starts its own
//! evaluator, as before.

pub mod handover;
mod launcher;
mod priority;
mod waiting;

pub use launcher::{proxy, take};
pub use waiting::run;

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

/// How long a spare waits for a kernel to take it before it ends.
pub const IDLE: Duration = Duration::from_secs(20 * 60);
/// A spare's socket and lock are named for what it was warmed with ([`kind`]): kernels of
/// another binary or other build settings (another kernelspec, a virtualenv) keep spares of
/// their own instead of refusing each other's.
fn socket_name(kind: &str) -> String {
    format!("spare-{kind}.sock")
}

fn lock_name(kind: &str) -> String {
    format!("spare-{kind}.lock")
}

/// The kind of spare for `binary` ([`binary_identity`]) and `build_env` ([`build_env`]): a hash
/// of both (the same binary computes it on both sides).
pub fn kind(binary: &str, build_env: &[(OsString, OsString)]) -> String {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    binary.hash(&mut hasher);
    build_env.hash(&mut hasher);
    format!("{:016x}", hasher.finish())
}

pub fn enabled() -> bool {
    std::env::var_os("KUBERNEL_SPARE").is_none_or(|v| v != "0")
}

/// The user's own directory for the spare's socket: `$KUBERNEL_SPARE_DIR`, or
/// `$XDG_RUNTIME_DIR/kubernel`, or `/tmp/kubernel-<uid>`. It must be a directory of this user
/// that nobody else may enter (it is made so); otherwise there are no spares.
pub fn dir() -> Option<PathBuf> {
    let uid = handover::my_uid();
    let dir = match (std::env::var_os("KUBERNEL_SPARE_DIR"), std::env::var_os("XDG_RUNTIME_DIR")) {
        // Absolute only: the launcher and the spare work in different directories.
        (Some(dir), _) if !dir.is_empty() => Some(PathBuf::from(dir)).filter(|d| d.is_absolute())?,
        (_, Some(run)) if !run.is_empty() && std::path::Path::new(&run).is_dir() => PathBuf::from(run).join("kubernel"),
        _ => std::env::temp_dir().join(format!("kubernel-{uid}")),
    };
    let _ = std::fs::DirBuilder::new().mode(0o700).create(&dir);
    let meta = std::fs::symlink_metadata(&dir).ok()?;
    (meta.is_dir() && meta.uid() == uid && meta.mode() & 0o077 == 0).then_some(dir)
}

/// The binary this process runs ([`file_identity`]): a rebuilt or upgraded binary is another.
pub fn binary_identity() -> String {
    file_identity(std::path::Path::new("/proc/self/exe"))
}

/// A file as its real path, size and modification time (empty if it cannot be read): a
/// replaced file is another one, and telling so costs microseconds.
pub fn file_identity(path: &std::path::Path) -> String {
    let Ok(path) = std::fs::canonicalize(path) else { return String::new() };
    match std::fs::metadata(&path) {
        Ok(meta) => format!("{} {} {}.{}", path.display(), meta.len(), meta.mtime(), meta.mtime_nsec()),
        Err(_) => String::new(),
    }
}

/// The variables that change what evcxr and cargo build, or with what: a spare warmed with
/// others would build differently from the kernel that takes it.
fn builds_with(key: &std::ffi::OsStr) -> bool {
    let key = key.to_string_lossy();
    matches!(key.as_ref(), "PATH" | "HOME" | "XDG_CONFIG_HOME" | "TMPDIR" | "LD_LIBRARY_PATH" | "CC" | "CXX" | "RUSTFLAGS" | "RUSTDOCFLAGS")
        || ["CARGO", "RUSTUP_", "RUSTC", "EVCXR_"].iter().any(|p| key.starts_with(p))
}

/// The build-relevant part of an environment, sorted.
pub fn build_env(env: impl IntoIterator<Item = (OsString, OsString)>) -> Vec<(OsString, OsString)> {
    let mut kept: Vec<_> = env.into_iter().filter(|(k, _)| builds_with(k)).collect();
    kept.sort();
    kept
}

/// Starts a spare in the background, if spares are on and there is none (a second one sees
/// the first's lock and ends at once). It is detached: nothing ends it with this process.
pub fn start() {
    if !enabled() {
        return;
    }
    std::thread::spawn(|| {
        let Ok(exe) = std::env::current_exe() else { return };
        // `spare` starts `spare --detached` in a session of its own and returns.
        let _ = Command::new(exe).arg("spare").stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null()).status();
    });
}

/// Ends the user's spares (`kubernel spare --stop`): one that waits is asked on its socket, one
/// still warming up is killed with what it started. How many there were.
pub fn stop() -> usize {
    let Some(dir) = dir() else { return 0 };
    let Ok(entries) = std::fs::read_dir(&dir) else { return 0 };
    let kinds: Vec<String> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.strip_prefix("spare-")?.strip_suffix(".lock").map(str::to_string))
        .collect();
    kinds.iter().filter(|kind| stop_one(&dir, kind)).count()
}

fn stop_one(dir: &std::path::Path, kind: &str) -> bool {
    use std::io::{Read, Write};
    use std::os::fd::AsRawFd;
    if let Ok(stream) = std::os::unix::net::UnixStream::connect(dir.join(socket_name(kind))) {
        let mut bytes = Vec::new();
        handover::stop_request(&mut bytes);
        return (&stream).write_all(&bytes).is_ok();
    }
    let Ok(mut lock) = std::fs::File::open(dir.join(lock_name(kind))) else { return false };
    // SAFETY: flock(2) on a file this process holds open; taken, nobody holds it: no spare.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_SH | libc::LOCK_NB) } == 0 {
        return false;
    }
    let mut pid = String::new();
    let _ = lock.read_to_string(&mut pid);
    let Ok(pid) = pid.trim().parse::<libc::pid_t>() else { return false };
    // Only a spare still waiting: one that took a session has emptied the file, but a new
    // holder may not have written its own yet.
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    // SAFETY: getpgid(2) of a pid.
    let leads_its_group = unsafe { libc::getpgid(pid) } == pid;
    if pid <= 1 || !cmdline.ends_with(b"spare\0--detached\0") || !leads_its_group {
        return false;
    }
    // With its evcxr child and compilers: they share its process group.
    // SAFETY: kill(2) of that group.
    unsafe { libc::kill(-pid, libc::SIGKILL) == 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_what_changes_a_build_is_compared() {
        let env = [("KUBECONFIG", "/a"), ("PATH", "/bin"), ("CARGO_HOME", "/c"), ("EVCXR_TMPDIR", "/t"), ("JPY_PARENT_PID", "1"), ("RUSTUP_TOOLCHAIN", "stable")]
            .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let kept: Vec<String> = build_env(env).into_iter().map(|(k, _)| k.to_string_lossy().into_owned()).collect();
        assert_eq!(kept, ["CARGO_HOME", "EVCXR_TMPDIR", "PATH", "RUSTUP_TOOLCHAIN"]);
    }

    #[test]
    fn the_directory_is_the_users_alone() {
        let base = std::env::temp_dir().join(format!("kubernel-spare-test-{}", std::process::id()));
        std::fs::create_dir_all(&base).unwrap();
        let private = base.join("mine");
        std::env::set_var("KUBERNEL_SPARE_DIR", &private);
        let got = dir();
        use std::os::unix::fs::PermissionsExt;
        let open = base.join("open");
        std::fs::create_dir_all(&open).unwrap();
        std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
        std::env::set_var("KUBERNEL_SPARE_DIR", &open);
        let refused = dir();
        std::env::remove_var("KUBERNEL_SPARE_DIR");
        assert_eq!(got, Some(private.clone()));
        assert_eq!(std::fs::metadata(&private).unwrap().mode() & 0o777, 0o700);
        assert_eq!(refused, None, "a directory others may enter holds no spare");
        std::fs::remove_dir_all(&base).unwrap();
    }
}
