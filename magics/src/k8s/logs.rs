//! `logs`: the logs of a pod or of every pod of a workload, interleaved by time; `-f` follows
//! them live; `--stats` turns an access log into live request statistics.

use super::access_log::Stats;
use super::args::Args;
use super::client::Conn;
use super::ops::{api_for, kind_ref, to_value, Session};
use super::render;
use super::live::LiveLine;
use crate::registry::{MagicError, MagicOutput};
use crate::sink::{OutputSink, StreamName};
use futures::{AsyncBufReadExt, StreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The pods behind a pod name, a workload (deploy/NAME, job/NAME, sts/, ds/, rs/) or -l.
async fn pods_of(conn: &Conn, ns: &str, a: &Args) -> Result<(Vec<k8s_openapi::api::core::v1::Pod>, String), MagicError> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let by_selector = |sel: String, what: String| async move {
        let list = conn.call("list pods", pods.list(&ListParams::default().labels(&sel))).await?;
        Ok::<_, MagicError>((list.items, what))
    };
    match a.positional.as_slice() {
        [] => {
            let sel = a.selector.clone().unwrap_or_default();
            by_selector(sel.clone(), format!("pods with {sel}")).await
        }
        [name] => {
            let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
            let pod = conn.call(&format!("get pod {name}"), api.get(name)).await?;
            Ok((vec![pod], format!("pod {name}")))
        }
        [kind, name, ..] => {
            let kind = conn.kind(kind).await?;
            if kind.plural == "pods" {
                let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
                let pod = conn.call(&format!("get pod {name}"), api.get(name)).await?;
                return Ok((vec![pod], format!("pod {name}")));
            }
            let obj = conn.call(&format!("get {} {name}", kind.plural), api_for(conn, &kind, Some(ns)).get(name)).await?;
            let obj = to_value(obj, &kind.api_resource());
            let sel = render::labels_text(&obj["spec"]["selector"]["matchLabels"]);
            if sel.is_empty() {
                return Err(MagicError::usage(format!(
                    "%k8s logs: {}/{name} has no pod selector; name a pod or use -l",
                    kind_ref(&kind)
                )));
            }
            by_selector(sel, format!("{}/{name}", kind_ref(&kind))).await
        }
    }
}

/// Logs of one pod or of all the pods of a workload; several pods are interleaved by time, each
/// line prefixed with its pod and container.
pub async fn logs(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let (mut pods, what) = pods_of(&conn, &ns, a).await?;
    if pods.is_empty() {
        return Err(MagicError::new("NotFound", format!("no pods for {what} in namespace {ns}")));
    }
    pods.sort_by(|x, y| x.metadata.name.cmp(&y.metadata.name));
    if a.follow || a.stats {
        return follow(&conn, &ns, &pods, &what, a, sink).await;
    }
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let several = pods.len() > 1 || a.prefix;
    let mut lines: Vec<(String, String)> = Vec::new();
    for pod in &pods {
        let (name, container, lp) = log_request(pod, a, false, several);
        let text = conn.call(&format!("read the logs of pod {name}"), api.logs(&name, &lp)).await?;
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
    lines.sort_by(|x, y| x.0.cmp(&y.0));
    let text: String = lines.into_iter().map(|(_, l)| l).collect();
    sink.stream(StreamName::Stdout, &text);
    Ok(MagicOutput::None)
}


/// The pod's name, the container whose logs are read (-c, or the first), and the request.
fn log_request(pod: &Pod, a: &Args, follow: bool, timestamps: bool) -> (String, Option<String>, LogParams) {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let container = a.container.clone().or_else(|| pod.spec.as_ref().and_then(|s| s.containers.first()).map(|c| c.name.clone()));
    let lp = LogParams {
        follow,
        container: container.clone(),
        tail_lines: a.tail,
        since_seconds: a.since.map(|d| d.as_secs().max(1) as i64),
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
async fn follow(conn: &Conn, ns: &str, pods: &[Pod], what: &str, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
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
                    (true, false) => format!("stopped after {}", render::human_duration(a.timeout.unwrap_or_default().as_secs() as i64)),
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
