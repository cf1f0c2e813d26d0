//! The spare process: warms an evaluator, waits for a launcher, takes its session and serves it.

use super::handover::{my_uid, peer_uid, read_signal, receive_fds, Ask, Reply, Request};
use super::{binary_identity, build_env, file_identity, kind, lock_name, priority, socket_name, IDLE};
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
            match super::stop() {
                0 => println!("no spare is waiting"),
                n => println!("{n} spare{} asked to end", if n == 1 { " was" } else { "s were" }),
            }
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

/// The compiler evcxr will run: the first `rustc` on PATH (or `$RUSTC`), as path, size and
/// modification time. A toolchain update replaces the binary; reading its metadata costs
/// microseconds, where running `rustc -vV` would cost a tenth of a second of every start.
fn toolchain() -> String {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let found = if std::path::Path::new(&rustc).components().count() > 1 {
        Some(std::path::PathBuf::from(&rustc))
    } else {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(&rustc)).find(|p| p.is_file())
    };
    found.map(|path| file_identity(&path)).unwrap_or_default()
}

impl Warmed {
    fn now() -> Warmed {
        Warmed { binary: binary_identity(), build_env: build_env(std::env::vars_os()), toolchain: toolchain() }
    }

    /// Why this spare cannot serve `request`, if it cannot; `Some((why, true))` when it can
    /// serve nobody any more (it is older than the binary or the toolchain).
    fn refuses(&self, request: &Request) -> Option<(String, bool)> {
        if request.binary != self.binary || self.binary.is_empty() {
            return Some(("the kubernel binary changed since the spare started".into(), true));
        }
        // evcxr reads ./evcxr.toml (optimisation level, offline mode, ...) as it starts, and
        // the spare started elsewhere.
        if request.cwd.join("evcxr.toml").exists() {
            return Some(("the notebook's folder has an evcxr.toml, read as an evaluator starts".into(), false));
        }
        let theirs = build_env(request.env.iter().cloned());
        if theirs != self.build_env {
            let differ: std::collections::BTreeSet<String> = theirs
                .iter()
                .chain(&self.build_env)
                .filter(|pair| !(theirs.contains(pair) && self.build_env.contains(pair)))
                .map(|(k, _)| k.to_string_lossy().into_owned())
                .collect();
            let differ: Vec<String> = differ.into_iter().collect();
            return Some((format!("it was started with other build settings ({})", differ.join(", ")), false));
        }
        if toolchain() != self.toolchain {
            return Some(("the Rust toolchain changed since the spare started".into(), true));
        }
        None
    }
}

fn wait() -> anyhow::Result<()> {
    let Some(dir) = super::dir() else { return Ok(()) };
    crate::prepare_process();
    let warmed = Warmed::now();
    let kind = kind(&warmed.binary, &warmed.build_env);
    // One spare per user and kind: the lock is held until the spare serves or ends.
    let lock = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(dir.join(lock_name(&kind)))?;
    // SAFETY: flock(2) on a file this process holds open.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Ok(());
    }
    // Who holds it, for `--stop` while the spare still warms up.
    let _ = lock.set_len(0);
    let _ = (&lock).write_all(std::process::id().to_string().as_bytes());
    let idle = priority::idle();
    if !idle {
        // At normal priority it would slow the first cells of the kernel that started it.
        std::thread::sleep(Duration::from_secs(15));
    }
    // Not the folder of the notebook that started it: evcxr reads ./evcxr.toml as it starts.
    std::env::set_current_dir(&dir)?;
    let interpreter = RustInterpreter::new(magics::registry());
    if !interpreter.clone_worker().wait_warm(WARM_UP) {
        return Ok(());
    }
    if idle {
        priority::normal()?;
    }
    let socket = dir.join(socket_name(&kind));
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
            Ok(Ask::Take(request)) => match warmed.refuses(&request) {
                Some((why, stale)) => {
                    if stale {
                        let _ = std::fs::remove_file(&socket);
                    }
                    let _ = Reply::Refused(why).write(&mut &stream);
                    if stale {
                        return Ok(());
                    }
                }
                None => break (stream, request, fds),
            },
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
    // Emptied first: `--stop` must not take this process for a spare still waiting.
    let _ = lock.set_len(0);
    drop(lock);
    adopt(&request, fds);
    if (Reply::Taken { pid: std::process::id() }).write(&mut &stream).is_err() {
        return Ok(());
    }
    startup::mark("spare took the session");
    end_with_launcher(stream);
    // First in line, before any cell of the session: the evcxr child takes the environment too.
    interpreter.adopt_environment(&dir, &request.cwd, &request.env);
    crate::serve(&crate::transport::ConnectionInfo::from_file(&request.connection_file)?, interpreter)
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
        let (why, stale) = warmed.refuses(&request("/bin/kubernel 11 2.0", &same)).unwrap();
        assert!(why.contains("binary changed") && stale);
        let (why, stale) = warmed.refuses(&request("/bin/kubernel 10 1.0", &[("PATH", "/bin"), ("CARGO_HOME", "/other"), ("RUSTFLAGS", "-g")])).unwrap();
        assert_eq!((why.as_str(), stale), ("it was started with other build settings (CARGO_HOME, RUSTFLAGS)", false));
        let changed = Warmed { toolchain: "rustc 0.0.0".into(), ..warmed };
        let (why, stale) = changed.refuses(&request("/bin/kubernel 10 1.0", &same)).unwrap();
        assert!(why.contains("toolchain") && stale);
    }
}
