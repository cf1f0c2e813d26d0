//! The spare process: warms an evaluator, waits for a launcher, takes its session and serves it.

use super::handover::{my_uid, peer_uid, read_signal, receive_fds, Ask, Reply, Request};
use super::{binary_identity, build_env, priority, IDLE, LOCK, SOCKET};
use crate::evaluate::RustInterpreter;
use crate::startup;
use std::ffi::OsString;
use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long warming up may take before the spare gives up (a machine that busy has no idle
/// time to give it).
const WARM_UP: Duration = Duration::from_secs(600);

/// `kubernel spare [--detached | --stop]`.
pub fn run(args: &[String]) -> anyhow::Result<()> {
    match args {
        [] => {
            // Detach: a session of its own, nothing of the caller's open, so that neither the
            // kernel that started it nor Jupyter ends it with themselves.
            let exe = std::env::current_exe()?;
            let mut command = Command::new(exe);
            command.args(["spare", "--detached"]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
            // SAFETY: setsid(2) is async-signal-safe.
            unsafe {
                command.pre_exec(|| {
                    libc::setsid();
                    Ok(())
                });
            }
            command.spawn()?;
            Ok(())
        }
        [flag] if flag == "--detached" => {
            let ended = wait();
            // A spare that ends without serving leaves nothing behind (its evcxr child).
            crate::process_tree::kill_descendants();
            ended
        }
        [flag] if flag == "--stop" => {
            println!("{}", if super::stop() { "the spare was asked to end" } else { "no spare is waiting" });
            Ok(())
        }
        _ => anyhow::bail!("usage: kubernel spare [--stop]"),
    }
}

/// What a spare was warmed with; a launcher with anything else is refused.
struct Warmed {
    binary: String,
    build_env: Vec<(OsString, OsString)>,
    toolchain: String,
}

fn toolchain() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    Command::new(rustc).arg("-vV").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
}

impl Warmed {
    fn now() -> Warmed {
        Warmed { binary: binary_identity(), build_env: build_env(std::env::vars_os()), toolchain: toolchain() }
    }

    /// Why this spare cannot serve `request`, if it cannot.
    fn refuses(&self, request: &Request) -> Option<String> {
        if request.binary != self.binary || self.binary.is_empty() {
            return Some("the kubernel binary changed since the spare started".into());
        }
        let theirs = build_env(request.env.iter().cloned());
        if theirs != self.build_env {
            let differ: Vec<String> = theirs
                .iter()
                .chain(&self.build_env)
                .filter(|pair| !(theirs.contains(pair) && self.build_env.contains(pair)))
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect();
            return Some(format!("it was started with other build settings ({})", differ.join(", ")));
        }
        if toolchain() != self.toolchain {
            return Some("the Rust toolchain changed since the spare started".into());
        }
        None
    }
}

fn wait() -> anyhow::Result<()> {
    let Some(dir) = super::dir() else { return Ok(()) };
    // One spare per user: the lock is held until the spare serves or ends.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(LOCK))?;
    // SAFETY: flock(2) on a file this process holds open.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(());
    }
    // Who holds it, for `--stop` while the spare still warms up.
    let _ = lock.set_len(0);
    let _ = (&lock).write_all(std::process::id().to_string().as_bytes());
    let idle = priority::idle();
    crate::prepare_process();
    let warmed = Warmed::now();
    let interpreter = RustInterpreter::new(magics::registry());
    if !interpreter.wait_warm(WARM_UP) {
        return Ok(());
    }
    if idle {
        priority::normal()?;
    }
    let socket = dir.join(SOCKET);
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket)?;
    let deadline = Instant::now() + IDLE;
    let (stream, request, fds) = loop {
        let Some(stream) = accept_before(&listener, &socket, deadline) else {
            let _ = std::fs::remove_file(&socket);
            return Ok(());
        };
        // Anyone else who reached the socket is not served (the directory should stop them).
        if peer_uid(&stream).ok() != Some(my_uid()) {
            continue;
        }
        let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
        let fds = receive_fds(&stream, 2).unwrap_or_default();
        match Ask::read(&mut &stream) {
            Ok(Ask::Take(request)) => {
                if let Some(why) = warmed.refuses(&request) {
                    let _ = std::fs::remove_file(&socket);
                    let _ = Reply::Refused(why).write(&mut &stream);
                    return Ok(());
                }
                break (stream, request, fds);
            }
            Ok(Ask::Stop) => {
                let _ = std::fs::remove_file(&socket);
                return Ok(());
            }
            Err(_) => continue,
        }
    };
    // Gone from the socket before saying yes: the next launcher starts its own or a new spare.
    let _ = std::fs::remove_file(&socket);
    drop(listener);
    drop(lock);
    adopt(&request, fds);
    if (Reply::Taken { pid: std::process::id() }).write(&mut &stream).is_err() {
        return Ok(());
    }
    startup::mark("spare took the session");
    end_with_launcher(stream);
    // First in line, before any cell of the session: the evcxr child takes the environment too.
    interpreter.adopt_environment(&request.cwd, &request.env);
    crate::serve(&request.connection_file, interpreter)
}

/// The next connection, or None once `deadline` passes or the socket's file is gone (its
/// directory was removed: nobody can reach this spare any more).
fn accept_before(listener: &UnixListener, socket: &std::path::Path, deadline: Instant) -> Option<UnixStream> {
    loop {
        let left = deadline.checked_duration_since(Instant::now())?;
        std::fs::symlink_metadata(socket).ok()?;
        let mut poll = libc::pollfd { fd: listener.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        let ms = left.as_millis().min(10_000) as libc::c_int;
        // SAFETY: poll(2) on one descriptor this process holds.
        if unsafe { libc::poll(&mut poll, 1, ms) } > 0 {
            if let Ok((stream, _)) = listener.accept() {
                return Some(stream);
            }
        }
    }
}

/// Takes on the launcher's stdout and stderr, working directory and environment.
fn adopt(request: &Request, fds: Vec<OwnedFd>) {
    startup::set_origin(request.launched);
    for (fd, target) in fds.iter().zip([1, 2]) {
        // SAFETY: dup2(2) onto stdout and stderr, from descriptors received just now.
        unsafe {
            libc::dup2(fd.as_raw_fd(), target);
        }
    }
    let _ = std::env::set_current_dir(&request.cwd);
    // Other threads (rust-analyzer's) are idle now, and std's own readers take its lock.
    let keep: std::collections::HashSet<&OsString> = request.env.iter().map(|(k, _)| k).collect();
    for (key, _) in std::env::vars_os() {
        if !keep.contains(&key) {
            std::env::remove_var(&key);
        }
    }
    for (key, value) in &request.env {
        std::env::set_var(key, value);
    }
}

/// Ends this process (and what it started) when the launcher ends or passes on a signal.
fn end_with_launcher(stream: UnixStream) {
    let _ = stream.set_read_timeout(None);
    std::thread::spawn(move || {
        let code = match read_signal(&mut &stream) {
            Ok(signal) => 128 + signal,
            Err(_) => 0,
        };
        crate::process_tree::kill_descendants();
        std::process::exit(code);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(binary: &str, env: &[(&str, &str)]) -> Request {
        Request {
            launched: 0,
            connection_file: "/c.json".into(),
            cwd: "/".into(),
            binary: binary.into(),
            env: env.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect(),
        }
    }

    #[test]
    fn a_spare_refuses_another_binary_or_other_build_settings_and_takes_any_other_difference() {
        let warmed = Warmed {
            binary: "/bin/kubernel 10 1.0".into(),
            build_env: build_env([("PATH".into(), "/bin".into()), ("CARGO_HOME".into(), "/c".into())]),
            toolchain: toolchain(),
        };
        let same = [("PATH", "/bin"), ("CARGO_HOME", "/c"), ("KUBECONFIG", "/mine"), ("PWD", "/x")];
        assert_eq!(warmed.refuses(&request("/bin/kubernel 10 1.0", &same)), None);
        assert!(warmed.refuses(&request("/bin/kubernel 11 2.0", &same)).unwrap().contains("binary changed"));
        let why = warmed.refuses(&request("/bin/kubernel 10 1.0", &[("PATH", "/bin"), ("CARGO_HOME", "/other"), ("RUSTFLAGS", "-g")])).unwrap();
        assert_eq!(why, "it was started with other build settings (CARGO_HOME, RUSTFLAGS)");
        let changed = Warmed { toolchain: "rustc 0.0.0".into(), ..warmed };
        assert!(changed.refuses(&request("/bin/kubernel 10 1.0", &same)).unwrap().contains("toolchain"));
    }
}
