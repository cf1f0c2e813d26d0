//! pmap across real processes on loopback: the example `pmap_world` run as a connected job's
//! master and workers (and as the `--procs` launcher), with the environment the pods get.
#![cfg(feature = "net")]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn example() -> PathBuf {
    // target/<profile>/deps/pmap-HASH -> target/<profile>/examples/pmap_world
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join("examples/pmap_world");
    assert!(path.exists(), "{} is missing: `cargo test --features net` builds it", path.display());
    path
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kubernel-pmap-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

struct Proc {
    child: Child,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
}

fn collect(mut from: impl Read + Send + 'static) -> Arc<Mutex<String>> {
    let text = Arc::new(Mutex::new(String::new()));
    let to = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            to.lock().unwrap().push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

/// The environment of a connected job of `pods` pods, for pod `index`.
fn pod(port: u16, index: usize, pods: usize, dir: &std::path::Path, extra: &[(&str, &str)]) -> Proc {
    let mut cmd = Command::new(example());
    cmd.env("KUBERNEL_CONNECTED", "1")
        .env("JOB_COMPLETION_INDEX", index.to_string())
        .env("KUBERNEL_WORLD", pods.to_string())
        .env("KUBERNEL_MASTER", format!("127.0.0.1:{port}"))
        .env("KUBERNEL_PMAP_PORT", port.to_string())
        .env("KUBERNEL_CPU_REQUEST", "2000")
        .env("KUBERNEL_CPU_LIMIT", "2000")
        .env("KUBERNEL_RESULT_DIR", dir.join(format!("pod-{index}")))
        .env("KUBERNEL_HAND_OVER_TIMEOUT", "1")
        .env_remove("KUBERNEL_PROCS")
        .env_remove("KUBERNEL_LOCAL_RANK");
    for (k, v) in extra {
        cmd.env(k, v);
    }
    start(cmd)
}

fn start(mut cmd: Command) -> Proc {
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let out = collect(child.stdout.take().unwrap());
    let err = collect(child.stderr.take().unwrap());
    Proc { child, out, err }
}

impl Proc {
    fn wait(mut self, limit: Duration) -> (ExitStatus, String, String) {
        let started = Instant::now();
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if started.elapsed() > limit {
                let _ = self.child.kill();
                panic!("still running after {limit:?}\nstdout:\n{}\nstderr:\n{}", self.out.lock().unwrap(), self.err.lock().unwrap());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Let the readers reach the end of the pipes.
        std::thread::sleep(Duration::from_millis(100));
        let (out, err) = (self.out.lock().unwrap().clone(), self.err.lock().unwrap().clone());
        (status, out, err)
    }
}

fn squares(n: u64) -> Vec<u64> {
    (0..n).map(|x| x * x).collect()
}

/// The results the master printed for `call`.
fn results(out: &str, call: u64) -> Vec<u64> {
    let prefix = format!("PMAP_RESULTS call={call} ");
    let line = out.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no results of call {call} in:\n{out}"));
    serde_json::from_str(line).unwrap()
}

/// The items done by a process, from its last KUBERNEL_ITEMS line.
fn items_done(out: &str) -> u64 {
    out.lines().filter_map(kubernel::protocol::parse_items).next_back().map_or(0, |i| i.done)
}

fn ok(what: &str, (status, out, err): &(ExitStatus, String, String)) {
    assert_ne!(status.code(), Some(3), "{err}(`cargo test --features net` rebuilds the example)");
    assert!(status.success(), "{what} failed: {status}\nstdout:\n{out}\nstderr:\n{err}");
}

#[test]
fn a_master_and_two_workers_give_every_result_once_in_order() {
    let (port, dir) = (free_port(), temp_dir("three"));
    let env = [("PMAP_ITEMS", "1000"), ("PMAP_CALLS", "2"), ("PMAP_SLEEP_MS", "1")];
    let master = pod(port, 0, 3, &dir, &env);
    let workers: Vec<Proc> = (1..3).map(|i| pod(port, i, 3, &dir, &env)).collect();
    let master = master.wait(Duration::from_secs(60));
    let workers: Vec<_> = workers.into_iter().map(|w| w.wait(Duration::from_secs(30))).collect();
    ok("the master", &master);
    for w in &workers {
        ok("a worker", w);
        // Results stay on the master.
        assert!(w.1.contains("results=0 "), "{}", w.1);
    }
    assert_eq!(results(&master.1, 1), squares(1000));
    assert_eq!(results(&master.1, 2), squares(1000));
    // Without faults every item was computed exactly once, somewhere.
    let done: Vec<u64> = std::iter::once(&master).chain(&workers).map(|p| items_done(&p.1)).collect();
    assert_eq!(done.iter().sum::<u64>(), 2000, "items done per process: {done:?}");
    assert!(done[1] > 0 && done[2] > 0, "the workers did nothing: {done:?}");
    // The master's value is handed over as usual.
    let value: (usize, usize, usize) = serde_json::from_slice(&std::fs::read(dir.join("pod-0/result.json")).unwrap()).unwrap();
    assert_eq!(value, (0, 3, 1000));
    assert!(!dir.join("pod-1/result.json").exists(), "a worker's pod handed something over");
}

#[test]
fn a_killed_worker_s_items_are_done_by_the_others() {
    let (port, dir) = (free_port(), temp_dir("kill"));
    let env = [("PMAP_ITEMS", "3000"), ("PMAP_SLEEP_MS", "2")];
    let master = pod(port, 0, 3, &dir, &env);
    let mut doomed = pod(port, 1, 3, &dir, &env);
    let survivor = pod(port, 2, 3, &dir, &env);
    // Killed once it has done some items and holds more.
    let started = Instant::now();
    let busy = |out: &str| out.lines().filter_map(kubernel::protocol::parse_items).next_back().is_some_and(|i| i.done > 0 && i.in_flight > 0);
    while !busy(&doomed.out.lock().unwrap()) {
        assert!(started.elapsed() < Duration::from_secs(30), "worker 1 never got items");
        std::thread::sleep(Duration::from_millis(5));
    }
    doomed.child.kill().unwrap();
    let _ = doomed.child.wait();
    let master = master.wait(Duration::from_secs(60));
    ok("the master", &master);
    ok("the surviving worker", &survivor.wait(Duration::from_secs(30)));
    assert_eq!(results(&master.1, 1), squares(3000));
    // The items it held came back once it was presumed dead (3 s of silence): the call took that.
    let line = master.1.lines().find(|l| l.starts_with("PMAP call=1 ")).unwrap();
    let secs: f64 = line.split_whitespace().find_map(|w| w.strip_prefix("secs=")).unwrap().parse().unwrap();
    assert!(secs >= 2.5, "the call did not wait for the dead worker's items: {line}");
}

#[test]
fn a_batch_lost_on_the_way_is_handed_out_again() {
    let (port, dir) = (free_port(), temp_dir("lost"));
    let env = [("PMAP_ITEMS", "3000"), ("PMAP_SLEEP_MS", "2"), ("PMAP_START_AFTER_MS", "0")];
    let master = pod(port, 0, 2, &dir, &env);
    // One thread: its only batch is lost, and no other thread of it asks for more.
    let worker = pod(port, 1, 2, &dir, &[env[0], env[1], env[2], ("KUBERNEL_PMAP_LOSE_FIRST_BATCH", "1"), ("KUBERNEL_CPU_REQUEST", "1000"), ("KUBERNEL_CPU_LIMIT", "1000")]);
    let master = master.wait(Duration::from_secs(60));
    ok("the master", &master);
    let worker = worker.wait(Duration::from_secs(30));
    ok("the worker", &worker);
    assert!(worker.2.contains("(fault injection) lost a batch"), "no batch was lost: {}", worker.2);
    // Every result, though the worker never saw its first batch and kept beating.
    assert_eq!(results(&master.1, 1), squares(3000));
}

#[test]
fn only_workers_that_know_the_jobs_secret_are_heard() {
    let (port, dir) = (free_port(), temp_dir("token"));
    let env = [("PMAP_ITEMS", "1000"), ("PMAP_SLEEP_MS", "2"), ("PMAP_START_AFTER_MS", "1000")];
    let with = |token: &'static str| [env[0], env[1], env[2], ("KUBERNEL_PMAP_TOKEN", token)];
    let master = pod(port, 0, 3, &dir, &with("right"));
    let member = pod(port, 1, 3, &dir, &with("right"));
    let stranger = pod(port, 2, 3, &dir, &with("wrong"));
    let master = master.wait(Duration::from_secs(60));
    ok("the master", &master);
    assert_eq!(results(&master.1, 1), squares(1000));
    let member = member.wait(Duration::from_secs(30));
    ok("the worker with the secret", &member);
    assert!(items_done(&member.1) > 0, "{}", member.1);
    // Never answered: it did nothing and gives the master up.
    let stranger = stranger.wait(Duration::from_secs(30));
    assert_eq!(items_done(&stranger.1), 0, "{}", stranger.1);
    assert!(!stranger.0.success() && stranger.2.contains("lost the master"), "{:?} {}", stranger.0, stranger.2);
}

#[test]
fn an_item_that_cannot_be_sent_fails_the_call_without_hanging() {
    let (port, dir) = (free_port(), temp_dir("unsendable"));
    let env = [("PMAP_UNSENDABLE", "1"), ("PMAP_START_AFTER_MS", "1500")];
    let master = pod(port, 0, 2, &dir, &env);
    let worker = pod(port, 1, 2, &dir, &env);
    let (status, _, err) = master.wait(Duration::from_secs(60));
    assert!(!status.success(), "{err}");
    assert!(err.contains("cannot be sent to a worker"), "{err}");
    let _ = worker.wait(Duration::from_secs(30));
}

#[test]
fn nan_and_infinities_come_back_from_workers_as_they_went() {
    let (port, dir) = (free_port(), temp_dir("floats"));
    let env = [("PMAP_FLOATS", "1"), ("PMAP_START_AFTER_MS", "1000")];
    let master = pod(port, 0, 2, &dir, &env);
    let worker = pod(port, 1, 2, &dir, &env);
    let master = master.wait(Duration::from_secs(60));
    ok("the master", &master);
    let line = master.1.lines().find(|l| l.starts_with("PMAP_FLOATS")).unwrap_or_else(|| panic!("no PMAP_FLOATS line:\n{}", master.1));
    assert!(line.contains("wrong=0 ") && line.ends_with("of=400"), "{line}");
    assert!(!line.contains("from_workers=0 "), "the worker computed nothing, so nothing crossed the network: {line}");
    ok("the worker", &worker.wait(Duration::from_secs(30)));
}

#[test]
fn workers_started_before_the_master_join_it() {
    let (port, dir) = (free_port(), temp_dir("early"));
    let env = [("PMAP_ITEMS", "1000"), ("PMAP_SLEEP_MS", "1")];
    let workers: Vec<Proc> = (1..3).map(|i| pod(port, i, 3, &dir, &env)).collect();
    std::thread::sleep(Duration::from_secs(1));
    let master = pod(port, 0, 3, &dir, &env).wait(Duration::from_secs(60));
    let workers: Vec<_> = workers.into_iter().map(|w| w.wait(Duration::from_secs(30))).collect();
    ok("the master", &master);
    assert_eq!(results(&master.1, 1), squares(1000));
    for w in &workers {
        ok("a worker", w);
        assert!(w.1.contains(&format!("KUBERNEL_STATE waiting for master 127.0.0.1:{port} (")), "{}", w.1);
        assert!(items_done(&w.1) > 0, "a worker that came early did nothing:\n{}", w.1);
    }
}

#[test]
fn a_worker_without_a_master_fails_clearly() {
    let (port, dir) = (free_port(), temp_dir("alone"));
    let started = Instant::now();
    let (status, out, err) = pod(port, 1, 2, &dir, &[("KUBERNEL_CONNECT_TIMEOUT", "2")]).wait(Duration::from_secs(30));
    assert_eq!(status.code(), Some(101), "a panic\nstdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains(&format!("no master at 127.0.0.1:{port} after 2 s")), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10));
}

#[test]
fn a_panic_on_a_worker_fails_the_master_with_its_message() {
    let (port, dir) = (free_port(), temp_dir("panic"));
    let env = [("PMAP_ITEMS", "1000"), ("PMAP_SLEEP_MS", "2"), ("PMAP_PANIC_ON_WORKERS", "1")];
    let master = pod(port, 0, 2, &dir, &env);
    let worker = pod(port, 1, 2, &dir, &env);
    let (status, out, err) = master.wait(Duration::from_secs(60));
    assert_eq!(status.code(), Some(101), "the master should fail\nstdout:\n{out}\nstderr:\n{err}");
    assert!(err.contains("failed on rank 1 (") && err.contains("): boom on item "), "{err}");
    // The worker was told to go.
    ok("the worker", &worker.wait(Duration::from_secs(30)));
}

#[test]
fn the_launcher_hands_over_one_array_in_local_rank_order() {
    let dir = temp_dir("procs");
    let mut cmd = Command::new(example());
    cmd.env("JOB_COMPLETION_INDEX", "0")
        .env("KUBERNEL_WORLD", "1")
        .env("KUBERNEL_PROCS", "3")
        .env("KUBERNEL_CPU_REQUEST", "3000")
        .env("KUBERNEL_RESULT_DIR", &dir)
        .env("KUBERNEL_HAND_OVER_TIMEOUT", "1")
        .env("PMAP_ITEMS", "10")
        .env_remove("KUBERNEL_CONNECTED")
        .env_remove("KUBERNEL_LOCAL_RANK");
    let run = start(cmd).wait(Duration::from_secs(30));
    ok("the launcher", &run);
    let value: Vec<(usize, usize, usize)> = serde_json::from_slice(&std::fs::read(dir.join("result.json")).unwrap()).unwrap();
    assert_eq!(value, vec![(0, 3, 10), (1, 3, 10), (2, 3, 10)]);
    let out = &run.1;
    for i in 0..3 {
        assert!(out.contains(&format!("KUBERNEL_FROM {i} PMAP call=1 rank={i} results=10 ")), "{out}");
    }
    let result = out.lines().find_map(kubernel::protocol::parse_result).expect("the launcher's RESULT line");
    assert_eq!(result.type_name, "(usize, usize, usize)");
}

#[test]
fn processes_beside_the_master_reach_it_on_loopback() {
    // Two pods of two processes: rank 1 is in pod 0 beside the master, ranks 2 and 3 in pod 1.
    let (port, dir) = (free_port(), temp_dir("procs-connected"));
    let env = [("PMAP_ITEMS", "1000"), ("PMAP_SLEEP_MS", "1"), ("KUBERNEL_PROCS", "2"), ("KUBERNEL_CPU_REQUEST", "2000")];
    let pod0 = pod(port, 0, 2, &dir, &env);
    let pod1 = pod(port, 1, 2, &dir, &env);
    let pod0 = pod0.wait(Duration::from_secs(60));
    let pod1 = pod1.wait(Duration::from_secs(30));
    ok("pod 0", &pod0);
    ok("pod 1", &pod1);
    let value: Vec<(usize, usize, usize)> = serde_json::from_slice(&std::fs::read(dir.join("pod-0/result.json")).unwrap()).unwrap();
    assert_eq!(value, vec![(0, 4, 1000), (1, 4, 0)]);
    assert!(!dir.join("pod-1/result.json").exists());
    let master_out: String = pod0.1.lines().filter_map(|l| l.strip_prefix("KUBERNEL_FROM 0 ")).collect::<Vec<_>>().join("\n");
    assert_eq!(results(&master_out, 1), squares(1000));
    for out in [&pod0.1, &pod1.1] {
        let worker: String = out.lines().filter_map(|l| l.strip_prefix("KUBERNEL_FROM 1 ")).collect::<Vec<_>>().join("\n");
        assert!(items_done(&worker) > 0, "{out}");
    }
}

#[test]
fn a_long_lived_worker_serves_one_master_after_another() {
    let (port, dir) = (free_port(), temp_dir("serve"));
    let mut cmd = Command::new(example());
    cmd.env("KUBERNEL_CONNECTED", "1")
        .env("KUBERNEL_MASTER", format!("127.0.0.1:{port}"))
        .env("KUBERNEL_CPU_REQUEST", "2000")
        .env("PMAP_SERVE", "1")
        .env("PMAP_SLEEP_MS", "2")
        .env_remove("JOB_COMPLETION_INDEX")
        .env_remove("KUBERNEL_WORLD");
    let mut server = start(cmd);
    let env = [("PMAP_ITEMS", "500"), ("PMAP_SLEEP_MS", "2"), ("PMAP_CALLS", "2"), ("PMAP_START_AFTER_MS", "500")];
    for round in 1..=2u64 {
        let master = pod(port, 0, 1, &dir, &env).wait(Duration::from_secs(60));
        ok("a master", &master);
        assert_eq!(results(&master.1, 1), squares(500));
        assert_eq!(results(&master.1, 2), squares(500));
        // The worker did a share of every master's items: its count goes on growing.
        let started = Instant::now();
        while items_done(&server.out.lock().unwrap()) < 100 * round {
            assert!(started.elapsed() < Duration::from_secs(10), "the long-lived worker did too little:\n{}", server.out.lock().unwrap());
            std::thread::sleep(Duration::from_millis(20));
        }
        assert!(server.child.try_wait().unwrap().is_none(), "the long-lived worker ended");
    }
    server.child.kill().unwrap();
    let _ = server.child.wait();
}
