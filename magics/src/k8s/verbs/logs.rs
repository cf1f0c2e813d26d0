//! `logs`: the logs of a pod or of every pod of a workload, interleaved by time with a prefix per
//! pod; `-f` follows them live; `--stats` turns an access log into live request statistics.

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::api_for;
use crate::k8s::cluster::pods::{pods_of, PickError};
use crate::k8s::cluster::{Conn, Scope};
use crate::k8s::view::access_log::Stats;
use crate::k8s::view::{human_duration, note, LiveLine};
use crate::k8s::watch::pod_health::stuck_reason;
use crate::k8s::watch::rollout::DEFAULT_TIMEOUT;
use crate::k8s::watch::{Wake, Watch};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use kube::runtime::watcher::Config;
use output::{OutputSink, StreamName};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

pub struct Logs;

const ABOUT: About = About {
    name: "logs",
    flags: &[
        "--namespace",
        "--selector",
        "--container",
        "--tail",
        "--since",
        "--prefix",
        "--previous",
        "--follow",
        "--stats",
        "--timeout",
        "--context",
        "--kubeconfig",
    ],
    help: "  %k8s logs POD | deploy/NAME | job/NAME | -l SELECTOR [-c CONTAINER] [--tail N] [--since 5m] [--prefix] [-p]
        the logs; the pods of a workload are interleaved by time, each line with its pod
  %k8s logs ... -f [--timeout 30s]      follow: new lines as they come, until the timeout or an interrupt
  %k8s logs ... --stats [--timeout 30s] live request statistics of a web server's access log
        (requests, requests/s, by status, by path, by client), refreshed in place, as ngxtop does",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    selector: Option<String>,
    container: Option<String>,
    tail: Option<i64>,
    since: Option<Duration>,
    prefix: bool,
    /// `-p`: the previous run of a restarted container.
    previous: bool,
    follow: bool,
    stats: bool,
    timeout: Option<Duration>,
    scope: Scope,
}

impl Verb for Logs {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        plan(Options::read(&mut p)?)
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.first() {
                None if cx.current.contains('/') => cx.workload_names(&[]).await,
                None => {
                    let mut v = cx.names("pods").await;
                    v.extend(["deploy/", "job/", "sts/", "ds/"].iter().map(|s| s.to_string()));
                    v
                }
                Some(_) => Vec::new(),
            }
        })
    }
}

impl Options {
    fn read(p: &mut Parsed) -> Result<Options, UsageError> {
        split_kind_names(p)?;
        let o = Options {
            positional: p.positional.clone(),
            selector: p.text("--selector"),
            container: p.text("--container"),
            tail: p.number("--tail"),
            since: p.duration("--since"),
            prefix: p.has("--prefix"),
            previous: p.has("--previous"),
            follow: p.has("--follow"),
            stats: p.has("--stats"),
            timeout: p.duration("--timeout"),
            scope: p.scope(),
        };
        if o.timeout.is_some() && !o.follow && !o.stats {
            return Err(p.usage("--timeout goes with -f or --stats"));
        }
        match (o.positional.len(), o.selector.is_some()) {
            (0, false) => Err(p.usage("whose logs? POD, deploy/NAME (or job/, sts/, ds/, rs/) or -l SELECTOR")),
            (0, true) | (1, false) | (2, false) => Ok(o),
            (_, true) => Err(p.usage("give a pod or workload, or -l, not both")),
            _ => Err(p.usage("one pod or workload at a time")),
        }
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        logs(self, cx).await
    }
}

/// Logs of one pod or of all the pods of a workload; several pods are interleaved by time, each
/// line prefixed with its pod and container.
async fn logs(a: &Options, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let sink = cx.sink;
    let (conn, ns) = cx.session.for_call(&a.scope).await?;
    let (mut pods, what) = pods_of(&conn, &ns, &a.positional, a.selector.as_deref()).await.map_err(|e| match e {
        PickError::NoSelector(what) => MagicError::usage(format!("%k8s logs: {what} has no pod selector; name a pod or use -l")),
        PickError::Cluster(e) => e.into(),
    })?;
    if pods.is_empty() {
        return Err(MagicError::new("NotFound", format!("no pods for {what} in namespace {ns}")));
    }
    pods.sort_by(|x, y| x.metadata.name.cmp(&y.metadata.name));
    if a.follow || a.stats {
        let pods = wait_started(&conn, &ns, pods, a, sink).await?;
        return follow(&conn, &ns, &pods, &what, a, sink).await;
    }
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let several = pods.len() > 1 || a.prefix;
    let mut lines: Vec<(String, String)> = Vec::new();
    // Pods with nothing to show, and why, for the one line that says so.
    let mut quiet: Vec<String> = Vec::new();
    for pod in &pods {
        let (name, container, lp) = log_request(pod, a, false, several);
        if let Some(why) = not_started(pod, container.as_deref()).filter(|_| !a.previous) {
            quiet.push(format!("pod {name} has not started yet ({why})"));
            continue;
        }
        let text = conn.call(&format!("read the logs of pod {name}"), api.logs(&name, &lp)).await?;
        if text.is_empty() {
            quiet.push(format!("pod {name} has written nothing yet"));
            continue;
        }
        if !several {
            sink.stream(StreamName::Stdout, &text);
            return Ok(MagicOutput::None);
        }
        let prefix = format!("[pod/{name}/{}]", container.unwrap_or_default());
        for line in text.lines() {
            let (ts, rest) = line.split_once(' ').unwrap_or(("", line));
            lines.push((ts.to_string(), format!("{prefix} {rest}\n")));
        }
    }
    if lines.is_empty() {
        let hint = if quiet.iter().any(|q| q.contains("not started")) { "; logs -f waits for them" } else { "" };
        sink.stream(StreamName::Stdout, &format!("(no logs yet: {}{hint})\n", quiet.join(", ")));
        return Ok(MagicOutput::None);
    }
    lines.sort_by(|x, y| x.0.cmp(&y.0));
    let text: String = lines.into_iter().map(|(_, l)| l).collect();
    sink.stream(StreamName::Stdout, &text);
    Ok(MagicOutput::None)
}

/// Why a pod's container has no logs to read yet (it has never started), if so. A container
/// waiting to restart after a crash still has its last run's logs.
fn not_started(pod: &Pod, container: Option<&str>) -> Option<String> {
    let Some(status) = pod.status.as_ref() else { return Some("Pending".into()) };
    // Init and ephemeral containers have logs too; a name not found is left to the server to refuse.
    let statuses: Vec<_> = status
        .container_statuses
        .iter()
        .flatten()
        .chain(status.init_container_statuses.iter().flatten())
        .chain(status.ephemeral_container_statuses.iter().flatten())
        .collect();
    let cs = match container {
        Some(name) => statuses.iter().find(|c| c.name == name).copied(),
        None => status.container_statuses.iter().flatten().next(),
    };
    let Some(cs) = cs else {
        let phase = status.phase.clone().unwrap_or_else(|| "Pending".into());
        return (phase == "Pending" && statuses.is_empty()).then_some(phase);
    };
    let state = cs.state.as_ref()?;
    let ran_before = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()).is_some();
    match &state.waiting {
        Some(w) if !ran_before => Some(w.reason.clone().unwrap_or_else(|| "waiting".into())),
        _ => None,
    }
}

/// `-f` on pods that have not started: waits for them, visibly, until they run (or cannot,
/// with the cause), then gives their current state back for following.
async fn wait_started(conn: &Arc<Conn>, ns: &str, pods: Vec<Pod>, a: &Options, sink: &Arc<dyn OutputSink>) -> Result<Vec<Pod>, MagicError> {
    let waiting: Vec<String> =
        pods.iter().filter(|p| not_started(p, a.container.as_deref()).is_some()).filter_map(|p| p.metadata.name.clone()).collect();
    if waiting.is_empty() {
        return Ok(pods);
    }
    let kind = conn.kind("pods").await?;
    let limit = a.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let started = Instant::now();
    let mut watch = Watch::new(conn.clone()).until(Some(started + limit)).tick(Duration::from_millis(500));
    let sets: Vec<usize> = waiting
        .iter()
        .map(|name| watch.add("pods", api_for(conn, &kind, Some(ns)), kind.api_resource(), Config::default().fields(&format!("metadata.name={name}"))))
        .collect();
    let mut live: Option<LiveLine> = None;
    loop {
        let wake = watch.next().await?;
        let now: Vec<Value> = sets.iter().filter_map(|s| watch.objects(*s).first().map(|v| (*v).clone())).collect();
        let current: Vec<Pod> = now.iter().filter_map(|v| serde_json::from_value(v.clone()).ok()).collect();
        if let Some(stuck) = now.iter().find_map(stuck_reason) {
            if let Some(l) = live.as_mut() {
                l.finish(note(&format!("stopped: {}", stuck.cause)));
            }
            return Err(MagicError::new(&stuck.cause, stuck.message));
        }
        let still: Vec<String> = current
            .iter()
            .filter_map(|p| not_started(p, a.container.as_deref()).map(|why| format!("{} ({why})", p.metadata.name.clone().unwrap_or_default())))
            .collect();
        // A pod deleted while we wait (replaced by a rollout) is no longer waited for.
        if still.is_empty() {
            if let Some(l) = live.as_mut() {
                l.finish(note(&format!("started after {:.1} s", started.elapsed().as_secs_f64())));
            }
            // The pods as they are now, the started ones in place of the waiting ones.
            return Ok(pods
                .into_iter()
                .map(|p| current.iter().find(|c| c.metadata.name == p.metadata.name).cloned().unwrap_or(p))
                .collect());
        }
        if wake == Wake::Deadline {
            if let Some(l) = live.as_mut() {
                l.finish(note("(timed out)"));
            }
            return Err(MagicError::new(
                "Timeout",
                format!("{} did not start within {}", if still.is_empty() { "the pods".to_string() } else { still.join(", ") }, human_duration(limit.as_secs() as i64)),
            ));
        }
        let line = note(&format!("waiting for {} to start ({:.0} s)", still.join(", "), started.elapsed().as_secs_f64()));
        match live.as_mut() {
            Some(l) => l.update(line),
            None => live = Some(LiveLine::new(sink, line)),
        }
    }
}

/// Follows one pod's output into the cell until its stream ends (the container exited) or
/// `limit` passes; for `run --restart=Never`.
pub(super) async fn follow_pod(conn: &Conn, ns: &str, pod: &Pod, limit: Duration, sink: &Arc<dyn OutputSink>) -> Result<(), MagicError> {
    let a = Options {
        positional: Vec::new(),
        selector: None,
        container: None,
        tail: None,
        since: None,
        prefix: false,
        previous: false,
        follow: true,
        stats: false,
        timeout: Some(limit),
        scope: Scope::default(),
    };
    let name = pod.metadata.name.clone().unwrap_or_default();
    follow(conn, ns, std::slice::from_ref(pod), &format!("pod/{name}"), &a, sink).await.map(|_| ())
}

/// The pod's name, the container whose logs are read (-c, or the first), and the request.
fn log_request(pod: &Pod, a: &Options, follow: bool, timestamps: bool) -> (String, Option<String>, LogParams) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let container = a.container.clone().or_else(|| pod.spec.as_ref().and_then(|s| s.containers.first()).map(|c| c.name.clone()));
    let lp = LogParams {
        follow,
        container: container.clone(),
        tail_lines: a.tail,
        since_seconds: a.since.map(|d| d.as_secs().max(1) as i64),
        previous: a.previous,
        timestamps,
        ..LogParams::default()
    };
    (name, container, lp)
}

/// How often followed lines are written out (and sorted by time within the batch).
const BATCH: Duration = Duration::from_millis(150);
/// How often the statistics are redrawn.
const REDRAW: Duration = Duration::from_millis(500);

/// `-f` and `--stats`: follows the logs of `pods` until `--timeout`, an interrupt, or every
/// stream ends.
async fn follow(conn: &Conn, ns: &str, pods: &[Pod], what: &str, a: &Options, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let several = pods.len() > 1 || a.prefix;
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(String, String)>();
    // Stop the streams when this cell ends, however it ends (an error opening a later one too).
    struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.iter().for_each(|t| t.abort());
        }
    }
    let mut tasks = AbortOnDrop(Vec::new());
    for pod in pods {
        let (name, container, lp) = log_request(pod, a, true, true);
        let stream = conn.call(&format!("follow the logs of pod {name}"), api.log_stream(&name, &lp)).await?;
        let prefix = if several { format!("[pod/{name}/{}] ", container.unwrap_or_default()) } else { String::new() };
        let tx = tx.clone();
        tasks.0.push(tokio::spawn(async move {
            let mut lines = std::pin::pin!(stream.lines());
            while let Some(Ok(line)) = lines.next().await {
                let (ts, rest) = line.split_once(' ').unwrap_or(("", &line));
                if tx.send((ts.to_string(), format!("{prefix}{rest}"))).is_err() {
                    break;
                }
            }
        }));
    }
    drop(tx);
    let deadline = a.timeout.map(|t| Instant::now() + t);
    let opened = Instant::now();
    let mut first_batch = true;
    let mut stats = a.stats.then(Stats::default);
    let title = format!("requests to {what}");
    let mut live = stats.as_mut().map(|s| LiveLine::new(sink, s.bundle(&title, 0.0, "following")));
    let mut batch: Vec<(String, String)> = Vec::new();
    let mut next_flush = Instant::now() + if stats.is_some() { REDRAW } else { BATCH };
    let mut ended = false;
    let mut shown = None;
    loop {
        let until = deadline.map_or(next_flush, |d| d.min(next_flush));
        match tokio::time::timeout_at(until, rx.recv()).await {
            Ok(Some(line)) => {
                batch.push(line);
                continue;
            }
            Ok(None) => ended = true,
            Err(_) => {}
        }
        let now = opened.elapsed().as_secs_f64();
        let over = ended || deadline.is_some_and(|d| Instant::now() >= d);
        // kubelet's times have varying fractions (…:00Z, …:00.1Z): compare them as times.
        batch.sort_by_cached_key(|(ts, _)| chrono::DateTime::parse_from_rfc3339(ts).ok());
        match (&mut stats, &mut live) {
            (Some(stats), Some(live)) => {
                for (_, line) in batch.drain(..) {
                    // The prefix is ours; the statistics read the server's line.
                    let line = if several { line.split_once("] ").map_or(line.as_str(), |(_, l)| l).to_string() } else { line };
                    // The first batch is the log so far; what comes after is live.
                    stats.add(&line, now, !first_batch);
                }
                let state = match (over, ended) {
                    (true, true) => "the logs ended".to_string(),
                    (true, false) => format!("stopped after {}", human_duration(a.timeout.unwrap_or_default().as_secs() as i64)),
                    _ => "following, refreshed every 0.5 s".to_string(),
                };
                let view = stats.bundle(&title, now, &state);
                // Redraw only what changed (the rate falls as time passes, so it does change).
                if over {
                    live.finish(view);
                } else if Some(&view) != shown.as_ref() {
                    live.show(view.clone());
                    shown = Some(view);
                }
            }
            _ => {
                if !batch.is_empty() {
                    let text: String = batch.drain(..).map(|(_, l)| l + "\n").collect();
                    sink.stream(StreamName::Stdout, &text);
                }
            }
        }
        if over {
            return Ok(MagicOutput::None);
        }
        next_flush = Instant::now() + if stats.is_some() { REDRAW } else { BATCH };
        first_batch = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Options, UsageError> {
        Options::read(&mut super::super::tests::parsed(&Logs, line)?)
    }

    #[test]
    fn logs_follow_and_stats() {
        let a = p("deploy/web -f --timeout 5s").unwrap();
        assert!(a.follow);
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(5)));
        assert!(p("deploy/web --stats").unwrap().stats);
        assert_eq!(p("deploy/web --timeout 5s").err().unwrap().0, "%k8s logs: --timeout goes with -f or --stats");
    }

    #[test]
    fn logs_flags() {
        let a = p("deploy/web -c nginx --tail 20 --since 5m --prefix").unwrap();
        assert_eq!(a.positional, vec!["deploy", "web"]);
        assert_eq!(a.container.as_deref(), Some("nginx"));
        assert_eq!(a.tail, Some(20));
        assert_eq!(a.since, Some(std::time::Duration::from_secs(300)));
        assert!(a.prefix);
        assert_eq!(p("web-1").unwrap().positional, vec!["web-1"]);
        assert!(p("-l app=web").is_ok());
        assert!(p("").err().unwrap().0.contains("whose logs?"));
        assert_eq!(p("web --tail x").err().unwrap().0, "%k8s logs: --tail 'x' is not a number of lines");
        assert_eq!(p("web -c").err().unwrap().0, "%k8s logs: -c needs a container name");
    }
}
