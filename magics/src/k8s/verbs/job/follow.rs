//! Following a running job: the pods as the watch sees them, each pod's output streamed (its
//! lines, progress, pmap items, states and displays, per process with `--procs`), results
//! taken by exec as each rank announces one, and one live table over it all.

use super::{Options, CONTAINER, WORKERS_GRACE};
use crate::framework::registry::MagicError;
use crate::k8s::build::PROGRAM_PATH;
use crate::k8s::cluster::objects::api_for;
use crate::k8s::cluster::{Conn, Kind};
use crate::k8s::view::job_table::{items_chart, job_table, RankLine};
use crate::k8s::view::{human_duration, name_of, LiveLine};
use crate::k8s::watch::failed_create::{failed_create_event, Missing};
use crate::k8s::watch::pod_health::{stuck_reason, UNSCHEDULABLE_GRACE};
use crate::k8s::watch::{Wake, Watch};
use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, LogParams};
use kube::runtime::watcher::Config;
use kubernel::protocol;
use output::markers::{Decoder, Event};
use output::{MimeBundle, OutputSink, StreamName};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

/// One rank of the job as the table shows it.
#[derive(Debug, Clone, Default)]
pub(super) struct Row {
    pod: String,
    host: String,
    node: String,
    state: String,
    /// What the program says it is doing (waiting for its master, say).
    doing: Option<String>,
    progress: Option<f64>,
    items: Option<(u64, u64)>,
    /// CPU seconds the rank's process has used.
    cpu: Option<f64>,
    /// pmap items done over time (seconds since the job began), for the chart.
    series: Vec<(f64, u64)>,
    started: Option<Instant>,
    ended: Option<Instant>,
    /// The result, once handed over, and its Rust type as the program named it.
    pub result: Option<(Value, String)>,
    /// A worker of a connected job that ended well: it hands nothing over.
    served: bool,
    /// Why this rank failed for good.
    pub failure: Option<(String, String)>,
    /// The last lines it wrote, for a failure's message.
    pub tail: VecDeque<String>,
    /// Why it was OOM-killed, if it was.
    oom: Option<String>,
}

impl Row {
    /// Whether this rank has ended, one way or the other.
    pub fn over(&self) -> bool {
        self.result.is_some() || self.failure.is_some() || self.served
    }

    /// `worker`: a worker of a connected job, whose value is not the job's (its pmap results
    /// are on the master), so the table shows none.
    fn line(&self, rank: usize, worker: bool, now: Instant) -> RankLine {
        let state = match &self.doing {
            Some(doing) if self.state == "Running" => format!("Running: {doing}"),
            _ => self.state.clone(),
        };
        RankLine {
            rank,
            pod: self.pod.clone(),
            host: self.host.clone(),
            node: self.node.clone(),
            state,
            progress: self.progress,
            items: self.items,
            cpu: self.cpu,
            seconds: self.started.map(|s| self.ended.unwrap_or(now).duration_since(s).as_secs_f64()),
            result: self.result.as_ref().map(|(v, _)| short(v)).filter(|_| !worker).unwrap_or_default(),
        }
    }
}

/// What the pods' log streams and hand-overs report to the loop (by rank).
enum Report {
    Line(usize, String),
    Progress(usize, f64),
    Items(usize, u64, u64),
    Cpu(usize, f64),
    Doing(usize, String),
    Display(MimeBundle, Option<String>, bool),
    Clear,
    /// A pod (by index) has a result ready.
    Ready(usize, String, protocol::ResultReady),
    Result(usize, Result<Value, String>, String),
}

/// The job's ranks in one place: which rows a pod's index stands for.
struct Shape {
    procs: usize,
    connected: bool,
}

impl Shape {
    fn ranks_of(&self, index: usize) -> std::ops::Range<usize> {
        index * self.procs..(index + 1) * self.procs
    }
}

/// Follows the job until every rank has its result or has failed for good (for a connected
/// job: the master has, and its workers have ended or had their grace), or the timeout.
pub(super) async fn follow(conn: &Arc<Conn>, kind: &Kind, ns: &str, o: &Options, uid: &str, sink: &Arc<dyn OutputSink>) -> Result<Vec<Row>, MagicError> {
    let n = o.completions as usize;
    let shape = Shape { procs: o.procs as usize, connected: o.connected };
    let started = Instant::now();
    let pods_kind = conn.kind("pods").await?;
    let mut watch = Watch::new(conn.clone()).until(Some(started + o.timeout + Duration::from_secs(30))).tick(Duration::from_millis(500));
    let pods = watch.add(
        "pods",
        api_for(conn, &pods_kind, Some(ns)),
        pods_kind.api_resource(),
        Config::default().labels(&format!("batch.kubernetes.io/controller-uid={uid}")),
    );
    let jobs = watch.add("jobs", api_for(conn, kind, Some(ns)), kind.api_resource(), Config::default().fields(&format!("metadata.name={}", o.name)));
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Report>();
    let mut tasks = Tasks(Vec::new());
    let mut followed: HashSet<String> = Default::default();
    let mut taken: HashSet<String> = Default::default();
    let mut rows = vec![Row::default(); o.ranks()];
    let mut stuck_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut master_done: Option<Instant> = None;
    // Pods the Job controller cannot create (a used-up quota): why, and since when.
    let (mut missing, mut why_missing, mut asked) = (Missing::default(), None, started);
    let mut live = LiveLine::new(sink, render(&o.name, &rows, "starting"));
    let mut out = Batch::default();
    let mut ctx = Handling { conn, ns, tx: tx.clone(), started, shape: &shape };
    loop {
        let wake = tokio::select! {
            wake = watch.next() => Some(wake?),
            Some(report) = rx.recv() => {
                ctx.handle(report, &mut rows, &mut out, sink, &mut tasks, &mut taken);
                None
            }
        };
        out.flush(sink);
        let Some(wake) = wake else { continue };
        // The pods as they are: the newest pod of each index is its rows'.
        let mut newest: BTreeMap<usize, &Value> = BTreeMap::new();
        for pod in watch.objects(pods) {
            let Some(index) = pod["metadata"]["annotations"]["batch.kubernetes.io/job-completion-index"].as_str().and_then(|s| s.parse().ok()) else { continue };
            if index >= n {
                continue;
            }
            let newer = newest.get(&index).is_none_or(|p| p["metadata"]["creationTimestamp"].as_str() <= pod["metadata"]["creationTimestamp"].as_str());
            if newer {
                newest.insert(index, pod);
            }
        }
        for (&index, pod) in &newest {
            let name = name_of(pod);
            let cs = &pod["status"]["containerStatuses"][0];
            let running = cs["state"]["running"].is_object();
            let terminated = &cs["state"]["terminated"];
            if (running || terminated.is_object()) && followed.insert(name.clone()) {
                tasks.0.push(tokio::spawn(stream_logs(conn.clone(), ns.to_string(), name.clone(), index, shape.procs, tx.clone())));
            }
            let phase = pod["status"]["phase"].as_str().unwrap_or("Pending");
            let stuck = stuck_reason(pod);
            for rank in shape.ranks_of(index) {
                let row = &mut rows[rank];
                if row.pod != name {
                    // A retry (or a replacement for a deleted pod): the row starts over.
                    let keep = row.result.take();
                    *row = Row { pod: name.clone(), result: keep, ..Row::default() };
                }
                row.node = pod["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
                if shape.connected {
                    row.host = format!("{}.{}", pod["spec"]["hostname"].as_str().unwrap_or_default(), o.name);
                }
                if (running || terminated.is_object()) && row.started.is_none() {
                    row.started = Some(Instant::now());
                }
                row.state = match (phase, cs["state"]["waiting"]["reason"].as_str()) {
                    (_, _) if row.result.is_some() || row.served => "Succeeded".to_string(),
                    ("Failed", _) => {
                        let reason = terminated["reason"].as_str().unwrap_or("Error");
                        match terminated["exitCode"].as_i64() {
                            Some(101) => "Failed: panicked".to_string(),
                            Some(code) => format!("Failed: {reason}, exit code {code}"),
                            None => format!("Failed: {reason}"),
                        }
                    }
                    ("Pending", Some(why)) => format!("Pending: {why}"),
                    (phase, _) => phase.to_string(),
                };
                if phase == "Failed" && row.ended.is_none() {
                    row.ended = Some(Instant::now());
                }
                if let Some(oom) = stuck.as_ref().filter(|s| s.cause == "OOMKilled") {
                    // Killed for its memory: the index may be retried; the Job says when it failed for good.
                    row.state = "Failed: OOMKilled".to_string();
                    row.oom = Some(oom.message.clone());
                }
                // A worker of a connected job ends well and hands nothing over.
                let hands_over = !shape.connected || index == 0;
                if phase == "Succeeded" && !row.over() {
                    if hands_over && !taken.contains(&name) {
                        // Ended well but never announced a result (the body called process::exit, say).
                        row.failure = Some(("ResultLost".to_string(), format!("pod {name} ended without handing over its result (did the body call std::process::exit?)")));
                    } else if !hands_over {
                        row.served = true;
                        row.state = "Succeeded".to_string();
                        row.ended = Some(Instant::now());
                    }
                }
            }
            // A pod that cannot start stops the job at once: it would only wait for the deadline.
            if let Some(stuck) = stuck.filter(|s| !matches!(s.cause.as_str(), "CrashLoopBackOff" | "OOMKilled")) {
                let since = *stuck_since.entry(format!("{name}/{}", stuck.cause)).or_insert_with(Instant::now);
                let grace = if stuck.cause == "Unschedulable" { UNSCHEDULABLE_GRACE * 3 } else { stuck.grace };
                if since.elapsed() >= grace {
                    live.finish(render(&o.name, &rows, &format!("stopped: {}", stuck.cause)));
                    return Err(MagicError::new(&stuck.cause, format!("job {}: {}", o.name, stuck.message)));
                }
                for rank in shape.ranks_of(index) {
                    rows[rank].state = format!("Pending: {}", stuck.cause);
                }
            }
        }
        // No pod at all for some index the Job should be running: the controller's events say why.
        if newest.len() < (o.parallelism as usize).min(n) {
            if started.elapsed() >= Duration::from_secs(2) && asked.elapsed() >= Duration::from_secs(2) {
                asked = Instant::now();
                why_missing = failed_create_event(conn, ns, uid).await.ok().flatten();
            }
        } else {
            why_missing = None;
        }
        if let Some(why) = missing.judge(why_missing.clone(), Instant::now()) {
            live.finish(render(&o.name, &rows, "stopped: FailedCreate"));
            return Err(MagicError::new("FailedCreate", format!("job {} cannot create its pods: {why}", o.name)));
        }
        // The Job's own word: indexes failed for good, or the whole job over its deadline.
        if let Some(job) = watch.objects(jobs).first() {
            for index in parse_indexes(job["status"]["failedIndexes"].as_str().unwrap_or_default()) {
                if index >= n {
                    continue;
                }
                let ranks = shape.ranks_of(index);
                // With --procs, the rank that panicked is the cause; the others were stopped with it.
                let panicked = ranks.clone().find(|&r| rows[r].tail.iter().any(|l| l.contains("panicked at ")));
                for rank in ranks {
                    let row = &mut rows[rank];
                    if row.failure.is_none() && row.result.is_none() {
                        // The detail is read from the pod's last lines at the end, once they are in.
                        row.failure = Some(match row.oom.clone() {
                            Some(message) => ("OOMKilled".to_string(), message),
                            None if panicked.is_some_and(|p| p != rank) => ("Stopped".to_string(), format!("rank {} of the same pod panicked", panicked.unwrap_or_default())),
                            None if row.state.contains("panicked") => ("Panicked".to_string(), String::new()),
                            None => ("Failed".to_string(), String::new()),
                        });
                    }
                }
            }
            let failed = job["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Failed" && c["status"] == "True");
            if let Some(c) = failed.filter(|c| c["reason"] == "DeadlineExceeded") {
                live.finish(render(&o.name, &rows, "stopped: deadline exceeded"));
                return Err(MagicError::new(
                    "DeadlineExceeded",
                    format!("job {} ran past its {} ({}); raise --timeout", o.name, human_duration(o.timeout.as_secs() as i64), c["message"].as_str().unwrap_or_default()),
                ));
            }
        }
        let done = if shape.connected {
            // The master's value is the job's; its workers get a moment to end by themselves.
            if rows[0].over() && master_done.is_none() {
                master_done = Some(Instant::now());
            }
            rows[0].failure.is_some() || rows.iter().all(Row::over) || master_done.is_some_and(|t| t.elapsed() >= WORKERS_GRACE)
        } else {
            rows.iter().all(Row::over)
        };
        let secs = started.elapsed().as_secs_f64();
        if done {
            // The failed pods' last lines may still be on their way: take what comes in a moment.
            if rows.iter().any(|r| r.failure.is_some()) {
                // At most 2 s in all: a worker that keeps printing does not hold the cell.
                let until = Instant::now() + Duration::from_secs(2);
                while let Ok(Some(report)) = tokio::time::timeout(Duration::from_millis(500).min(until.saturating_duration_since(Instant::now())), rx.recv()).await {
                    ctx.handle(report, &mut rows, &mut out, sink, &mut tasks, &mut taken);
                }
                out.flush(sink);
                for row in rows.iter_mut() {
                    if let Some((_, detail)) = row.failure.as_mut().filter(|(_, d)| d.is_empty()) {
                        *detail = row.tail.iter().cloned().collect::<Vec<_>>().join("\n");
                    }
                }
            }
            let now = Instant::now();
            for row in rows.iter_mut().filter(|r| !r.over()) {
                row.state = "Stopped: the master is done".to_string();
                row.ended.get_or_insert(now);
            }
            let ok = rows.iter().filter(|r| r.result.is_some() || r.served).count();
            let total = rows.len();
            live.finish(render(&o.name, &rows, &format!("{ok} of {total} succeeded in {secs:.1} s")));
            let series: Vec<(usize, Vec<(f64, u64)>)> = rows.iter().enumerate().filter(|(_, r)| !r.series.is_empty()).map(|(i, r)| (i, r.series.clone())).collect();
            if !series.is_empty() {
                sink.display(items_chart(&o.name, &series), None);
            }
            return Ok(rows);
        }
        if wake == Wake::Deadline {
            live.finish(render(&o.name, &rows, "timed out"));
            return Err(MagicError::new("Timeout", format!("job {} did not finish within {}", o.name, human_duration(o.timeout.as_secs() as i64))));
        }
        let ok = rows.iter().filter(|r| r.result.is_some() || r.served).count();
        live.update(render(&o.name, &rows, &format!("running, {ok} of {} done, {secs:.0} s", rows.len())));
    }
}

fn render(name: &str, rows: &[Row], state: &str) -> MimeBundle {
    let now = Instant::now();
    // Rows with a host name are a connected job's.
    let lines: Vec<RankLine> = rows.iter().enumerate().map(|(i, r)| r.line(i, i > 0 && !r.host.is_empty(), now)).collect();
    job_table(name, &lines, state)
}

/// Lines written out together, every loop turn, instead of one message per line.
#[derive(Default)]
struct Batch {
    stdout: String,
}

impl Batch {
    fn flush(&mut self, sink: &Arc<dyn OutputSink>) {
        if !self.stdout.is_empty() {
            sink.stream(StreamName::Stdout, &std::mem::take(&mut self.stdout));
        }
    }
}

/// What handling a report needs besides the rows.
struct Handling<'a> {
    conn: &'a Arc<Conn>,
    ns: &'a str,
    tx: UnboundedSender<Report>,
    started: Instant,
    shape: &'a Shape,
}

impl Handling<'_> {
    fn handle(&mut self, report: Report, rows: &mut [Row], out: &mut Batch, sink: &Arc<dyn OutputSink>, tasks: &mut Tasks, taken: &mut HashSet<String>) {
        match report {
            Report::Line(rank, line) => {
                out.stdout.push_str(&format!("[{rank}] {line}\n"));
                let tail = &mut rows[rank].tail;
                tail.push_back(line);
                if tail.len() > 12 {
                    tail.pop_front();
                }
            }
            Report::Progress(rank, f) => rows[rank].progress = Some(f),
            Report::Items(rank, done, in_flight) => {
                let row = &mut rows[rank];
                row.items = Some((done, in_flight));
                row.doing = None;
                let at = self.started.elapsed().as_secs_f64();
                if row.series.last().is_none_or(|&(_, d)| d != done) {
                    row.series.push((at, done));
                }
            }
            Report::Cpu(rank, seconds) => rows[rank].cpu = Some(seconds),
            Report::Doing(rank, text) => rows[rank].doing = Some(text),
            Report::Display(bundle, id, update) => {
                out.flush(sink);
                match (id, update) {
                    (Some(id), true) => sink.update_display(bundle, &id),
                    (id, _) => sink.display(bundle, id.as_deref()),
                }
            }
            Report::Clear => out.flush(sink),
            Report::Ready(index, pod, ready) => {
                if taken.insert(pod.clone()) {
                    tasks.0.push(tokio::spawn(take_result(self.conn.clone(), self.ns.to_string(), pod, index, ready, self.tx.clone())));
                }
            }
            Report::Result(index, Ok(value), type_name) => {
                // With --procs the pod hands over its processes' values in local-rank order.
                let values: Vec<Value> = match value {
                    Value::Array(values) if self.shape.procs > 1 && values.len() == self.shape.procs => values,
                    other if self.shape.procs > 1 => {
                        let why = format!("the pod handed over {} instead of {} values", short(&other), self.shape.procs);
                        for rank in self.shape.ranks_of(index) {
                            rows[rank].failure = Some(("ResultLost".to_string(), why.clone()));
                        }
                        return;
                    }
                    one => vec![one],
                };
                for (rank, value) in self.shape.ranks_of(index).zip(values) {
                    let row = &mut rows[rank];
                    row.result = Some((value, type_name.clone()));
                    row.ended = Some(Instant::now());
                    row.state = "Succeeded".to_string();
                    row.progress = Some(1.0);
                }
            }
            Report::Result(index, Err(why), _) => {
                for rank in self.shape.ranks_of(index) {
                    rows[rank].failure = Some(("ResultLost".to_string(), why.clone()));
                }
            }
        }
    }
}

/// Follows one pod's output: lines, progress, items, states, displays and the result's
/// announcement. With --procs each process's lines come relayed as `KUBERNEL_FROM i …`.
async fn stream_logs(conn: Arc<Conn>, ns: String, pod: String, index: usize, procs: usize, tx: UnboundedSender<Report>) {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let lp = LogParams { follow: true, container: Some(CONTAINER.to_string()), ..LogParams::default() };
    // A stream that cannot be opened at once (the container just started) is tried again.
    let mut stream = None;
    for _ in 0..10 {
        match api.log_stream(&pod, &lp).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
    let Some(stream) = stream else { return };
    let mut reader = std::pin::pin!(stream);
    // Each process has its own display markers in flight.
    let mut decoders: HashMap<usize, Decoder> = HashMap::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        // Bytes, not text: a program may write anything, and one bad byte must not end the stream.
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let whole = String::from_utf8_lossy(&raw).trim_end_matches(['\n', '\r']).to_string();
        let (local, line) = match protocol::parse_from(&whole) {
            Some((local, line)) if local < procs => (local, line.to_string()),
            _ => (0, whole),
        };
        let rank = index * procs + local;
        let mut reports = Vec::new();
        match decoders.entry(local).or_insert_with(Decoder::new).line(&line) {
            None => continue,
            Some(Event::Text(text)) => {
                // Output without a final newline ends up on a marker's line: split it off.
                let (before, marker) = match text.find("KUBERNEL_") {
                    Some(at) if at > 0 && protocol_line(&text[at..]) => (text[..at].to_string(), text[at..].to_string()),
                    _ => (String::new(), text),
                };
                if !before.is_empty() {
                    reports.push(Report::Line(rank, before));
                }
                reports.push(if let Some(f) = protocol::parse_progress(&marker) {
                    Report::Progress(rank, f)
                } else if let Some(items) = protocol::parse_items(&marker) {
                    Report::Items(rank, items.done, items.in_flight)
                } else if let Some(seconds) = protocol::parse_cpu(&marker) {
                    Report::Cpu(rank, seconds)
                } else if let Some(doing) = protocol::parse_state(&marker) {
                    Report::Doing(rank, doing.to_string())
                } else if let Some(ready) = protocol::parse_result(&marker) {
                    Report::Ready(index, pod.clone(), ready)
                } else {
                    Report::Line(rank, marker)
                });
            }
            // Each rank's displays are its own: their ids are kept apart by pod and rank.
            Some(Event::Display { mime, display_id, update, body }) => {
                let bundle = MimeBundle::of_content(&mime, body);
                reports.push(Report::Display(bundle, display_id.map(|id| format!("{pod}-{local}-{id}")), update));
            }
            Some(Event::Clear { .. }) => reports.push(Report::Clear),
        }
        for report in reports {
            if tx.send(report).is_err() {
                return;
            }
        }
    }
}

/// Whether a line is one of the runtime's marker lines.
fn protocol_line(line: &str) -> bool {
    protocol::parse_progress(line).is_some() || protocol::parse_result(line).is_some() || protocol::parse_items(line).is_some()
        || protocol::parse_state(line).is_some()
        || protocol::parse_cpu(line).is_some()
}

/// Asks the finished pod for its result (the program itself writes it out, by exec).
async fn take_result(conn: Arc<Conn>, ns: String, pod: String, index: usize, ready: protocol::ResultReady, tx: UnboundedSender<Report>) {
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    // Large reads: a result may be megabytes.
    let ap = AttachParams::default().container(CONTAINER).stdin(false).stdout(true).stderr(false).max_stdout_buf_size(64 * 1024);
    let taken = async {
        let mut process = api.exec(&pod, vec![PROGRAM_PATH, protocol::HAND_OVER_ARG], &ap).await.map_err(|e| format!("cannot reach pod {pod}: {e}"))?;
        // The announced size comes from the pod's output: not trusted for an allocation.
        let mut bytes = Vec::with_capacity(ready.bytes.min(1 << 20));
        if let Some(mut out) = process.stdout() {
            out.read_to_end(&mut bytes).await.map_err(|e| format!("the result of pod {pod} was cut off: {e}"))?;
        }
        let _ = process.join().await;
        if bytes.len() != ready.bytes {
            return Err(format!("pod {pod} handed over {} of its result's {} bytes", bytes.len(), ready.bytes));
        }
        serde_json::from_slice::<Value>(&bytes).map_err(|e| format!("pod {pod}'s result is not JSON: {e}"))
    };
    let result = tokio::time::timeout(Duration::from_secs(120), taken).await.unwrap_or_else(|_| Err(format!("pod {pod} did not hand over its result within 2 minutes")));
    let _ = tx.send(Report::Result(index, result, ready.type_name));
}

/// `1,3-5` → 1, 3, 4, 5 (the Job's failedIndexes).
fn parse_indexes(text: &str) -> Vec<usize> {
    text.split(',')
        .filter_map(|part| match part.split_once('-') {
            Some((a, b)) => Some((a.trim().parse().ok()?..=b.trim().parse().ok()?).collect::<Vec<usize>>()),
            None => part.trim().parse().ok().map(|i| vec![i]),
        })
        .flatten()
        .collect()
}

/// A result in a table cell: its JSON, cut at 60 characters.
fn short(v: &Value) -> String {
    let text = v.to_string();
    if text.chars().count() > 60 { format!("{}…", text.chars().take(59).collect::<String>()) } else { text }
}

/// The tasks following pods end with the cell, however it ends.
struct Tasks(Vec<tokio::task::JoinHandle<()>>);

impl Drop for Tasks {
    fn drop(&mut self) {
        self.0.iter().for_each(|t| t.abort());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failed_indexes_as_the_job_writes_them() {
        assert_eq!(parse_indexes("1,3-5"), vec![1, 3, 4, 5]);
        assert_eq!(parse_indexes(""), Vec::<usize>::new());
    }
}
