//! `%%k8s job NAME`: the cell's Rust body, with everything the notebook has defined, run in the
//! cluster as an Indexed Job. One live table follows it (a row per index: pod, node, phase,
//! progress, time, result), the pods' output comes into the cell with an `[index]` prefix, and
//! the value of each pod's last expression comes back by exec (not through logs, which rotate)
//! into a notebook variable with `--into`.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::build::{build_image, cell_of, resources, restricted_pod, CELL_HASH, IMAGE_DIGEST, LOCK_HASH, PROGRAM_PATH};
use crate::k8s::cluster::objects::{api_for, mark_ours, session_id, DeleteOnDrop, Deletion, FIELD_MANAGER, MANAGED_BY, SESSION_LABEL};
use crate::k8s::cluster::{Conn, Kind, Scope};
use crate::k8s::view::{human_duration, name_of};
use crate::k8s::watch::gone::until_name_gone;
use crate::k8s::watch::pod_health::{stuck_reason, UNSCHEDULABLE_GRACE};
use crate::k8s::watch::{Wake, Watch};
use crate::k8s::view::LiveLine;
use futures::AsyncBufReadExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, DeleteParams, DynamicObject, LogParams, PostParams, PropagationPolicy};
use kube::runtime::watcher::Config;
use kubernel::protocol;
use output::markers::{Decoder, Event};
use output::{escape_html, MimeBundle, OutputSink, StreamName};
use serde_json::{json, Value};
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

pub struct Job;

const ABOUT: About = About {
    name: "job",
    flags: &[
        "--namespace",
        "--completions",
        "--parallelism",
        "--cpu",
        "--memory",
        "--into",
        "--timeout",
        "--image",
        "--registry",
        "--context",
        "--kubeconfig",
    ],
    help: "  %%k8s job NAME [--completions N] [--parallelism P] [--cpu REQ[/LIM]] [--memory REQ[/LIM]] [--into VAR] [--timeout 10m]
        the cell's Rust body, with the notebook's items and :deps, compiled here and run as an
        Indexed Job of N pods; kubernel::rank(), world() and partition(range) tell each pod its
        share; the value of the body's last expression is each pod's result, and --into VAR makes
        them the notebook's VAR: Vec<T> in rank order [--image BASE] [--registry HOST[/PATH]]",
    body: Some(Body::Rust),
    takes_command: false,
};

/// How long a job may run unless --timeout says otherwise (its activeDeadlineSeconds).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a finished pod waits to hand over its result.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(300);
/// The container's name in every job pod.
const CONTAINER: &str = "program";
/// The label every pod of one job carries, for finding them.
const JOB_LABEL: &str = "kubernel.io/job";

struct Options {
    name: String,
    completions: i64,
    parallelism: i64,
    cpu: Option<String>,
    memory: Option<String>,
    into: Option<String>,
    timeout: Duration,
    base: Option<String>,
    registry: Option<String>,
    scope: Scope,
}

impl Verb for Job {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let [name] = p.positional.as_slice() else {
            return Err(p.usage("write %%k8s job NAME [--completions N], with the Rust code below it in the cell"));
        };
        // The pods are named NAME-INDEX-xxxxx, and Kubernetes names are DNS labels of 63 at most.
        let valid = !name.is_empty()
            && name.len() <= 50
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            return Err(p.usage(format!("'{name}' is not a job name: lower-case letters, digits and '-', at most 50")));
        }
        if !has_body {
            return Err(p.usage("a job runs the Rust code in the cell's body: write %%k8s job NAME, then the code below it"));
        }
        let completions = p.number("--completions").unwrap_or(1);
        plan(Options {
            name: name.clone(),
            completions,
            parallelism: p.number("--parallelism").unwrap_or(completions).min(completions),
            cpu: p.text("--cpu"),
            memory: p.text("--memory"),
            into: p.text("--into"),
            timeout: p.duration("--timeout").unwrap_or(DEFAULT_TIMEOUT),
            base: p.text("--image"),
            registry: p.text("--registry"),
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let sink = cx.sink;
        let cell = cell_of(&cx.notebook.snapshot(), cx.body.unwrap_or_default(), cx.body_line);
        let built = build_image(&conn, sink, &self.name, &cell, programs::Shape::Job, self.base.as_deref(), self.registry.as_deref()).await?;
        let kind = conn.kind("jobs.batch").await?;
        let api = api_for(&conn, &kind, Some(&ns));
        // The same cell run again replaces its earlier job; someone else's is left alone.
        if let Some(existing) = conn.call(&format!("get jobs {}", self.name), api.get_opt(&self.name)).await? {
            let labels = existing.metadata.labels.clone().unwrap_or_default();
            let ours = labels.get(SESSION_LABEL).is_some_and(|s| s == session_id());
            // A finished job of an earlier kernel (the notebook run again) runs nothing: it may go.
            let kubernels = labels.get(MANAGED_BY.0).is_some_and(|m| m == MANAGED_BY.1);
            let finished = existing.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
            if !ours && !(kubernels && finished) {
                let who = if kubernels { "another kubernel session, and it is still running" } else { "someone else" };
                return Err(MagicError::new(
                    "AlreadyExists",
                    format!("job.batch/{} already exists in {ns}, made by {who}; choose another name, or %k8s delete job/{} -n {ns}", self.name, self.name),
                ));
            }
            let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
            conn.call(&format!("delete job {}", self.name), api.delete(&self.name, &dp)).await?;
            until_name_gone(&conn, &kind, &ns, &self.name, sink)
                .await
                .map_err(|e| MagicError::new("Timeout", format!("{}; try again, or choose another name", MagicError::from(e).message)))?;
        }
        let mut job = self.manifest(&built.image, &built.program.hash, &built.program.lock_hash, &built.pushed.digest);
        mark_ours(&mut job, Some(&ns));
        let object: DynamicObject = serde_json::from_value(job).map_err(|e| MagicError::new("Internal", e.to_string()))?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
        let created = conn.call(&format!("create job {}", self.name), api.create(&pp, &object)).await?;
        let uid = created.metadata.uid.clone().unwrap_or_default();
        // From here on, a cell that stops early (an interrupt) takes its pods with it.
        // The job, then its pods at once: not left to the garbage collector's pace.
        let pods_kind = conn.kind("pods").await?;
        let background = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
        let mut guard = DeleteOnDrop::new(vec![
            (api.clone(), Deletion::Named(self.name.clone(), background)),
            (api_for(&conn, &pods_kind, Some(&ns)), Deletion::Labelled(format!("{JOB_LABEL}={}", self.name), now)),
        ]);
        let outcome = follow(&conn, &kind, &ns, self, &uid, sink).await;
        // A job that ended in an error (stuck, timed out) would only wait for its deadline.
        guard.armed = outcome.is_err();
        let rows = outcome?;
        finish(cx, self, &ns, rows, &|location| programs::cell_location(location, built.program.body_start, &cell)).await
    }
}

impl Options {
    fn manifest(&self, image: &str, cell_hash: &str, lock_hash: &str, digest: &str) -> Value {
        let name = &self.name;
        let container = json!({
            "name": CONTAINER,
            "image": image,
            "env": [
                { "name": protocol::WORLD_ENV, "value": self.completions.to_string() },
                { "name": protocol::HAND_OVER_TIMEOUT_ENV, "value": HAND_OVER_TIMEOUT.as_secs().to_string() },
                // Without a CPU limit a pod sees every core: its request is its share.
                { "name": "KUBERNEL_CPU_REQUEST", "valueFrom": { "resourceFieldRef": { "containerName": CONTAINER, "resource": "requests.cpu", "divisor": "1m" } } }
            ],
            "resources": resources(&self.cpu, &self.memory)
        });
        let mut spec = restricted_pod(container);
        spec["restartPolicy"] = json!("Never");
        spec["terminationGracePeriodSeconds"] = json!(2);
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "labels": { JOB_LABEL: name },
                "annotations": { CELL_HASH: cell_hash, LOCK_HASH: lock_hash, IMAGE_DIGEST: digest }
            },
            "spec": {
                "completionMode": "Indexed",
                "completions": self.completions,
                "parallelism": self.parallelism,
                // A failed index is tried once more, alone; a panic is not (it would panic again).
                "backoffLimitPerIndex": 1,
                "maxFailedIndexes": self.completions,
                "podFailurePolicy": { "rules": [
                    { "action": "FailIndex", "onExitCodes": { "containerName": CONTAINER, "operator": "In", "values": [101] } }
                ]},
                // Nothing runs on for ever if the kernel dies.
                "activeDeadlineSeconds": self.timeout.as_secs().max(1),
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": { "labels": { JOB_LABEL: name }, "annotations": { CELL_HASH: cell_hash } },
                    "spec": spec
                }
            }
        })
    }
}

/// One index of the job as the table shows it.
#[derive(Debug, Clone, Default)]
struct Row {
    pod: String,
    node: String,
    state: String,
    progress: Option<f64>,
    started: Option<Instant>,
    ended: Option<Instant>,
    /// The result, once handed over, and its Rust type as the program named it.
    result: Option<(Value, String)>,
    /// Why this index failed for good.
    failure: Option<(String, String)>,
    /// The last lines it wrote, for a failure's message.
    tail: VecDeque<String>,
    /// Why it was OOM-killed, if it was.
    oom: Option<String>,
}

/// What the pods' log streams and hand-overs report to the loop.
enum Report {
    Line(usize, String),
    Progress(usize, f64),
    Display(MimeBundle, Option<String>, bool),
    Clear,
    Ready(usize, String, protocol::ResultReady),
    Result(usize, Result<Value, String>, String),
}

/// Follows the job until every index has its result or has failed for good, or the timeout.
async fn follow(conn: &Arc<Conn>, kind: &Kind, ns: &str, o: &Options, uid: &str, sink: &Arc<dyn OutputSink>) -> Result<Vec<Row>, MagicError> {
    let n = o.completions as usize;
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
    let mut followed: std::collections::HashSet<String> = Default::default();
    let mut taken: std::collections::HashSet<String> = Default::default();
    let mut rows = vec![Row::default(); n];
    let mut stuck_since: BTreeMap<String, Instant> = BTreeMap::new();
    let mut live = LiveLine::new(sink, table(&o.name, &rows, "starting"));
    let mut out = Batch::default();
    loop {
        let wake = tokio::select! {
            wake = watch.next() => Some(wake?),
            Some(report) = rx.recv() => {
                handle(report, &mut rows, &mut out, sink, &mut tasks, conn, ns, &tx, &mut taken);
                None
            }
        };
        out.flush(sink);
        let Some(wake) = wake else { continue };
        // The pods as they are: the newest pod of each index is its row.
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
            let row = &mut rows[index];
            let name = name_of(pod);
            if row.pod != name {
                // A retry: the row starts over with the new pod.
                let keep = row.result.take();
                *row = Row { pod: name.clone(), result: keep, ..Row::default() };
            }
            row.node = pod["spec"]["nodeName"].as_str().unwrap_or_default().to_string();
            let cs = &pod["status"]["containerStatuses"][0];
            let running = cs["state"]["running"].is_object();
            let terminated = &cs["state"]["terminated"];
            if (running || terminated.is_object()) && row.started.is_none() {
                row.started = Some(Instant::now());
            }
            if (running || terminated.is_object()) && followed.insert(name.clone()) {
                tasks.0.push(tokio::spawn(stream_logs(conn.clone(), ns.to_string(), name.clone(), index, tx.clone())));
            }
            row.state = match (pod["status"]["phase"].as_str().unwrap_or("Pending"), cs["state"]["waiting"]["reason"].as_str()) {
                (_, _) if row.result.is_some() => "Succeeded".to_string(),
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
            if pod["status"]["phase"] == "Failed" && row.ended.is_none() {
                row.ended = Some(Instant::now());
            }
            // A pod that cannot start stops the job at once: it would only wait for the deadline.
            if let Some(stuck) = stuck_reason(pod).filter(|s| !matches!(s.cause.as_str(), "CrashLoopBackOff" | "OOMKilled")) {
                let since = *stuck_since.entry(format!("{name}/{}", stuck.cause)).or_insert_with(Instant::now);
                let grace = if stuck.cause == "Unschedulable" { UNSCHEDULABLE_GRACE * 3 } else { stuck.grace };
                if since.elapsed() >= grace {
                    live.finish(table(&o.name, &rows, &format!("stopped: {}", stuck.cause)));
                    return Err(MagicError::new(&stuck.cause, format!("job {}: {}", o.name, stuck.message)));
                }
                row.state = format!("Pending: {}", stuck.cause);
            }
            // Killed for its memory: the index may be retried; the Job says when it failed for good.
            if let Some(oom) = stuck_reason(pod).filter(|s| s.cause == "OOMKilled") {
                row.state = "Failed: OOMKilled".to_string();
                row.oom = Some(oom.message);
            }
            // Ended well but never announced a result (the body called process::exit, say).
            if pod["status"]["phase"] == "Succeeded" && row.result.is_none() && row.failure.is_none() && !taken.contains(&name) {
                row.failure = Some(("ResultLost".to_string(), format!("pod {name} ended without handing over its result (did the body call std::process::exit?)")));
            }
        }
        // The Job's own word: indexes failed for good, or the whole job over its deadline.
        if let Some(job) = watch.objects(jobs).first() {
            for index in parse_indexes(job["status"]["failedIndexes"].as_str().unwrap_or_default()) {
                if let Some(row) = rows.get_mut(index) {
                    if row.failure.is_none() {
                        // The detail is read from the pod's last lines at the end, once they are in.
                        row.failure = Some(match row.oom.clone() {
                            Some(message) => ("OOMKilled".to_string(), message),
                            None if row.state.contains("panicked") => ("Panicked".to_string(), String::new()),
                            None => ("Failed".to_string(), String::new()),
                        });
                    }
                }
            }
            let failed = job["status"]["conditions"].as_array().into_iter().flatten().find(|c| c["type"] == "Failed" && c["status"] == "True");
            if let Some(c) = failed.filter(|c| c["reason"] == "DeadlineExceeded") {
                live.finish(table(&o.name, &rows, "stopped: deadline exceeded"));
                return Err(MagicError::new(
                    "DeadlineExceeded",
                    format!("job {} ran past its {} ({}); raise --timeout", o.name, human_duration(o.timeout.as_secs() as i64), c["message"].as_str().unwrap_or_default()),
                ));
            }
        }
        let done = rows.iter().all(|r| r.result.is_some() || r.failure.is_some());
        let secs = started.elapsed().as_secs_f64();
        if done {
            // The failed pods' last lines may still be on their way: take what comes in a moment.
            if rows.iter().any(|r| r.failure.is_some()) {
                while let Ok(Some(report)) = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await {
                    handle(report, &mut rows, &mut out, sink, &mut tasks, conn, ns, &tx, &mut taken);
                }
                out.flush(sink);
                for row in rows.iter_mut() {
                    if let Some((_, detail)) = row.failure.as_mut().filter(|(_, d)| d.is_empty()) {
                        *detail = row.tail.iter().cloned().collect::<Vec<_>>().join("\n");
                    }
                }
            }
            let ok = rows.iter().filter(|r| r.result.is_some()).count();
            live.finish(table(&o.name, &rows, &format!("{ok} of {n} succeeded in {secs:.1} s")));
            return Ok(rows);
        }
        if wake == Wake::Deadline {
            live.finish(table(&o.name, &rows, "timed out"));
            return Err(MagicError::new("Timeout", format!("job {} did not finish within {}", o.name, human_duration(o.timeout.as_secs() as i64))));
        }
        let ok = rows.iter().filter(|r| r.result.is_some()).count();
        live.update(table(&o.name, &rows, &format!("running, {ok} of {n} done, {secs:.0} s")));
    }
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

#[allow(clippy::too_many_arguments)]
fn handle(
    report: Report,
    rows: &mut [Row],
    out: &mut Batch,
    sink: &Arc<dyn OutputSink>,
    tasks: &mut Tasks,
    conn: &Arc<Conn>,
    ns: &str,
    tx: &UnboundedSender<Report>,
    taken: &mut std::collections::HashSet<String>,
) {
    match report {
        Report::Line(index, line) => {
            out.stdout.push_str(&format!("[{index}] {line}\n"));
            let tail = &mut rows[index].tail;
            tail.push_back(line);
            if tail.len() > 12 {
                tail.pop_front();
            }
        }
        Report::Progress(index, f) => rows[index].progress = Some(f),
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
                tasks.0.push(tokio::spawn(take_result(conn.clone(), ns.to_string(), pod, index, ready, tx.clone())));
            }
        }
        Report::Result(index, Ok(value), type_name) => {
            let row = &mut rows[index];
            row.result = Some((value, type_name));
            row.ended = Some(Instant::now());
            row.state = "Succeeded".to_string();
            row.progress = Some(1.0);
        }
        Report::Result(index, Err(why), _) => {
            rows[index].failure = Some(("ResultLost".to_string(), why));
        }
    }
}

/// Follows one pod's output: lines, progress, displays and the result's announcement.
async fn stream_logs(conn: Arc<Conn>, ns: String, pod: String, index: usize, tx: UnboundedSender<Report>) {
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
    let mut decoder = Decoder::new();
    let mut raw = Vec::new();
    loop {
        raw.clear();
        // Bytes, not text: a program may write anything, and one bad byte must not end the stream.
        match reader.read_until(b'\n', &mut raw).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let line = String::from_utf8_lossy(&raw).trim_end_matches(['\n', '\r']).to_string();
        let mut reports = Vec::new();
        match decoder.line(&line) {
            None => continue,
            Some(Event::Text(text)) => {
                // Output without a final newline ends up on the result's line: split it off.
                let (before, marker) = match text.find(protocol::RESULT) {
                    Some(at) if at > 0 => (text[..at].to_string(), text[at..].to_string()),
                    _ => (String::new(), text),
                };
                if !before.is_empty() {
                    reports.push(Report::Line(index, before));
                }
                reports.push(if let Some(f) = protocol::parse_progress(&marker) {
                    Report::Progress(index, f)
                } else if let Some(ready) = protocol::parse_result(&marker) {
                    Report::Ready(index, pod.clone(), ready)
                } else {
                    Report::Line(index, marker)
                });
            }
            // Each pod's displays are its own: their ids are kept apart by index.
            Some(Event::Display { mime, display_id, update, body }) => {
                let bundle = MimeBundle::plain(if mime == "text/plain" { body.clone() } else { format!("[{index}] ({mime})") })
                    .with(&mime, output::markers::content_value(&mime, body));
                reports.push(Report::Display(bundle, display_id.map(|id| format!("{pod}-{id}")), update));
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

/// After the job: the results into the notebook, or the failures named.
async fn finish(
    cx: &Cx<'_>,
    o: &Options,
    ns: &str,
    rows: Vec<Row>,
    on_cell: &(dyn Fn(&str) -> Option<(usize, usize)> + Sync),
) -> Result<MagicOutput, MagicError> {
    let type_name = rows.iter().find_map(|r| r.result.as_ref().map(|(_, t)| notebook_type(t)));
    let values: Vec<Value> = rows.iter().map(|r| r.result.as_ref().map(|(v, _)| v.clone()).unwrap_or(Value::Null)).collect();
    // Kept for kubernel::last_results() in a later cell, failed indexes as null.
    let kept = protocol::last_results_path(std::process::id());
    if let Some(dir) = kept.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(&kept, Value::Array(values.clone()).to_string());
    let failed: Vec<(usize, &(String, String))> = rows.iter().enumerate().filter_map(|(i, r)| r.failure.as_ref().map(|f| (i, f))).collect();
    if !failed.is_empty() {
        let cause = failed[0].1 .0.clone();
        let mut message = format!(
            "job {}: {} of {} indexes failed ({})",
            o.name,
            failed.len(),
            rows.len(),
            failed.iter().map(|(i, _)| i.to_string()).collect::<Vec<_>>().join(", ")
        );
        for (i, (why, detail)) in &failed {
            let line = match panic_message(detail) {
                Some((location, text)) => {
                    let at = match on_cell(&location) {
                        Some((line, column)) => format!("cell line {line}, column {column}"),
                        None => location,
                    };
                    format!("panic at {at}: {}", text.replace('\n', "\n    "))
                }
                None => format!("{why}: {}", detail.trim().replace('\n', "\n    ")),
            };
            message.push_str(&format!("\n  index {i}: {line}"));
        }
        let ok = rows.len() - failed.len();
        if ok > 0 {
            message.push_str(&format!("\nthe {ok} other results are in the table above and in kubernel::last_results()"));
        }
        message.push_str(&format!("\n(%k8s logs job/{} -n {ns} shows all; %k8s delete job/{} removes it)", o.name, o.name));
        return Err(MagicError::new(&cause, message));
    }
    let Some(var) = &o.into else { return Ok(MagicOutput::None) };
    let item = type_name.unwrap_or_else(|| "serde_json::Value".to_string());
    let json = Value::Array(values).to_string();
    let typed = format!("Vec<{item}>");
    let bound = match cx.notebook.bind(var, &typed, json.clone()).await {
        Ok(()) => typed,
        // A type the notebook cannot name (from a crate it lacks): still the values.
        Err(why) if item != "serde_json::Value" => {
            cx.sink.stream(StreamName::Stderr, &format!("note: {why}; {var} holds them as serde_json::Value instead\n"));
            let fallback = "Vec<serde_json::Value>".to_string();
            cx.notebook.bind(var, &fallback, json).await.map_err(|e| MagicError::new("BindError", e))?;
            fallback
        }
        Err(why) => return Err(MagicError::new("BindError", why)),
    };
    let line = format!("{var}: {bound} = {} results of job {}", rows.len(), o.name);
    Ok(MagicOutput::Result(MimeBundle::plain(line.clone()).with("text/html", format!("<code>{}</code>", escape_html(&line)))))
}

/// A panic's location and message from the last lines a pod wrote:
/// `thread 'main' panicked at src/main.rs:9:1:` then the message, then the backtrace note.
fn panic_message(tail: &str) -> Option<(String, String)> {
    let at = tail.find("panicked at ")?;
    let mut lines = tail[at + "panicked at ".len()..].lines();
    let location = lines.next()?.trim_end_matches(':').to_string();
    let text: Vec<&str> = lines.take_while(|l| !l.starts_with("note: run with `RUST_BACKTRACE")).take(4).collect();
    Some((location, text.join("\n")))
}

/// `std::any::type_name` as the notebook writes the type: the program's own items by their
/// names, std's types by their public paths.
pub fn notebook_type(type_name: &str) -> String {
    const PUBLIC: &[(&str, &str)] = &[
        ("alloc::string::String", "String"),
        ("alloc::vec::Vec", "Vec"),
        ("alloc::boxed::Box", "Box"),
        ("core::option::Option", "Option"),
        ("core::result::Result", "Result"),
        ("std::collections::hash::map::HashMap", "std::collections::HashMap"),
        ("std::collections::hash::set::HashSet", "std::collections::HashSet"),
        ("alloc::collections::btree::map::BTreeMap", "std::collections::BTreeMap"),
        ("alloc::collections::btree::set::BTreeSet", "std::collections::BTreeSet"),
        ("alloc::collections::vec_deque::VecDeque", "std::collections::VecDeque"),
        ("serde_json::value::Value", "serde_json::Value"),
    ];
    let mut out = String::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        let w = word.strip_prefix(&format!("{}::", programs::CRATE)).unwrap_or(word);
        out.push_str(PUBLIC.iter().find(|(from, _)| *from == w).map_or(w, |(_, to)| to));
        word.clear();
    };
    for c in type_name.chars() {
        if c.is_alphanumeric() || c == '_' || c == ':' {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    // A borrowed str comes back owned.
    out.replace("&'static str", "String").replace("&str", "String")
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

/// The live table: one row per index.
fn table(name: &str, rows: &[Row], state: &str) -> MimeBundle {
    let now = Instant::now();
    let cells: Vec<[String; 6]> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let elapsed = r.started.map(|s| format!("{:.1} s", r.ended.unwrap_or(now).duration_since(s).as_secs_f64())).unwrap_or_default();
            let progress = r.progress.map(|p| format!("{:.0}%", p * 100.0)).unwrap_or_default();
            let result = r.result.as_ref().map(|(v, _)| short(v)).unwrap_or_default();
            let state = if r.pod.is_empty() { "Pending".to_string() } else { r.state.clone() };
            [i.to_string(), r.pod.clone(), state, progress, elapsed, result]
        })
        .collect();
    let headers = ["INDEX", "POD", "STATE", "PROGRESS", "TIME", "RESULT"];
    let widths: Vec<usize> = (0..6).map(|c| cells.iter().map(|r| r[c].chars().count()).chain([headers[c].len()]).max().unwrap_or(0)).collect();
    let line = |r: &[String]| r.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect::<Vec<_>>().join("   ").trim_end().to_string();
    let mut text = line(&headers.map(String::from));
    for r in &cells {
        text.push('\n');
        text.push_str(&line(r));
    }
    text.push_str(&format!("\njob {name}: {state}\n"));
    let mut html = String::from("<table><thead><tr>");
    for h in headers {
        html.push_str(&format!("<th style=\"text-align:left\">{h}</th>"));
    }
    html.push_str("</tr></thead><tbody>");
    for (r, row) in cells.iter().zip(rows) {
        html.push_str("<tr>");
        for (c, cell) in r.iter().enumerate() {
            let shown = if c == 3 {
                row.progress.map(|p| format!("<progress value=\"{p:.3}\" max=\"1\"></progress> {}", escape_html(cell))).unwrap_or_default()
            } else {
                escape_html(cell)
            };
            html.push_str(&format!("<td style=\"text-align:left\">{shown}</td>"));
        }
        html.push_str("</tr>");
    }
    html.push_str(&format!("</tbody></table><div><i>job {}: {}</i></div>", escape_html(name), escape_html(state)));
    MimeBundle::plain(text).with("text/html", html)
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
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn job_lines() {
        assert_eq!(refused(&Job, "squares --completions 4", true), "");
        assert!(refused(&Job, "squares", false).contains("the Rust code in the cell's body"));
        assert!(refused(&Job, "Bad_Name", true).contains("is not a job name"));
        assert!(refused(&Job, "a b", true).contains("write %%k8s job NAME"));
    }

    #[test]
    fn type_names_as_the_notebook_writes_them() {
        assert_eq!(notebook_type("u64"), "u64");
        assert_eq!(notebook_type("alloc::vec::Vec<(u32, alloc::string::String)>"), "Vec<(u32, String)>");
        assert_eq!(notebook_type("kubernel_job::Point"), "Point");
        assert_eq!(notebook_type("core::option::Option<kubernel_job::Stats>"), "Option<Stats>");
        assert_eq!(notebook_type("std::collections::hash::map::HashMap<alloc::string::String, f64>"), "std::collections::HashMap<String, f64>");
        assert_eq!(notebook_type("&str"), "String");
        assert_eq!(notebook_type("()"), "()");
    }

    #[test]
    fn failed_indexes_and_panics() {
        assert_eq!(parse_indexes("1,3-5"), vec![1, 3, 4, 5]);
        assert_eq!(parse_indexes(""), Vec::<usize>::new());
        let tail = "working\nthread 'main' panicked at src/main.rs:9:1:\nboom\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace";
        assert_eq!(panic_message(tail).unwrap(), ("src/main.rs:9:1".to_string(), "boom".to_string()));
    }
}
