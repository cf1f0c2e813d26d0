//! `run NAME --image IMAGE --restart=Never`: one pod that runs once, as kubectl makes for a
//! one-off command. Its output comes into the cell as it is written (kubectl's attach), and its
//! end is judged by the container's exit code. `--rm` deletes it afterwards; an interrupt
//! deletes it too, since the cell started it and the cell has stopped.

use super::{existing, Options, Restart};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::objects::{api_for, mark_ours, DeleteOnDrop, Deletion, FIELD_MANAGER};
use crate::k8s::cluster::{Conn, Kind};
use crate::k8s::verbs::{logs, Cx};
use crate::k8s::view::{human_duration, note, LiveLine};
use crate::k8s::watch::pod_health::{last_lines, stuck_reason, UNSCHEDULABLE_GRACE};
use crate::k8s::watch::gone::until_name_gone;
use crate::k8s::watch::{Wake, Watch};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{DeleteParams, DynamicObject, PostParams};
use kube::runtime::watcher::Config;
use output::{OutputSink, StreamName};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a one-off pod may take, start to end, unless --timeout says otherwise.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

pub(super) async fn one_off(o: &Options, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let sink = cx.sink;
    let (conn, ns) = cx.session.for_call(&o.scope).await?;
    let name = o.positional[0].clone();
    let kind = conn.kind("pods").await?;
    let api = api_for(&conn, &kind, Some(&ns));
    match existing(&conn, &kind, &ns, &name).await? {
        None => {}
        Some((Some(who), _)) if !o.overwrite => {
            return Err(MagicError::new(
                "AlreadyExists",
                format!("pod/{name} already exists in {ns}, made by {who}; add --overwrite to replace it, or choose another name"),
            ))
        }
        // A pod cannot be changed in place: this cell's earlier run (or, with --overwrite, the
        // other one) goes first, so that running the cell again runs the command again.
        Some(_) => {
            conn.call(&format!("delete pod {name}"), api.delete(&name, &DeleteParams { grace_period_seconds: Some(0), ..Default::default() }))
                .await?;
            until_name_gone(&conn, &kind, &ns, &name, sink)
                .await
                .map_err(|e| MagicError::new("Timeout", format!("{}; try again, or choose another name", MagicError::from(e).message)))?;
        }
    }
    let restart = if o.restart == Restart::OnFailure { "OnFailure" } else { "Never" };
    let mut pod = json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "run": name } },
        "spec": { "restartPolicy": restart, "containers": [o.container(&name)] }
    });
    mark_ours(&mut pod, Some(&ns));
    let object: DynamicObject = serde_json::from_value(pod).map_err(|e| MagicError::new("Internal", e.to_string()))?;
    let pp = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
    conn.call(&format!("create pod {name}"), api.create(&pp, &object)).await?;
    sink.stream(StreamName::Stdout, &format!("pod/{name} created\n"));
    if o.no_wait {
        return Ok(MagicOutput::None);
    }
    let now = DeleteParams { grace_period_seconds: Some(0), ..Default::default() };
    let mut guard = DeleteOnDrop::new(vec![(api.clone(), Deletion::Named(name.clone(), now))]);
    let limit = o.timeout.unwrap_or(DEFAULT_TIMEOUT);
    let outcome = run_to_end(&conn, &kind, &ns, &name, Instant::now() + limit, sink).await;
    guard.armed = false;
    let deleted = if o.rm {
        // Already gone (deleted from outside) is as good; the outcome's cause is what matters.
        match conn.call(&format!("delete pod {name}"), api.delete(&name, &DeleteParams::default())).await {
            Ok(_) => sink.stream(StreamName::Stdout, &format!("pod \"{name}\" deleted\n")),
            Err(e) if e.is_not_found() => {}
            Err(e) => return Err(e.into()),
        }
        true
    } else {
        false
    };
    let stays = if deleted { String::new() } else { format!(" (the pod stays; %k8s delete pod/{name} -n {ns} removes it)") };
    match outcome? {
        End::Succeeded => Ok(MagicOutput::None),
        End::Failed(cause, message) => Err(MagicError::new(&cause, with_note(&message, &stays))),
        End::TimedOut => Err(MagicError::new(
            "Timeout",
            format!("pod/{name} was still running after {}{stays}", human_duration(limit.as_secs() as i64)),
        )),
    }
}

/// How a one-off pod ended.
enum End {
    Succeeded,
    /// The error's name and its message.
    Failed(String, String),
    TimedOut,
}

/// Waits, visibly, for the pod to start, follows its output until it ends, and says how it ended.
async fn run_to_end(conn: &Arc<Conn>, kind: &Kind, ns: &str, name: &str, deadline: Instant, sink: &Arc<dyn OutputSink>) -> Result<End, MagicError> {
    let started = Instant::now();
    let mut watch = Watch::new(conn.clone()).until(Some(deadline)).tick(Duration::from_millis(500));
    let set = watch.add("pods", api_for(conn, kind, Some(ns)), kind.api_resource(), Config::default().fields(&format!("metadata.name={name}")));
    let mut live: Option<LiveLine> = None;
    // Restarts seen so far (OnFailure): each run's output is followed once.
    let mut followed_runs = 0;
    let mut stuck_since: Option<(String, Instant)> = None;
    loop {
        let wake = watch.next().await?;
        let Some(pod) = watch.objects(set).first().map(|v| (*v).clone()) else {
            if wake == Wake::Deadline {
                return Ok(End::TimedOut);
            }
            if watch.listed() && started.elapsed() > Duration::from_secs(2) {
                return Err(MagicError::new("NotFound", format!("pod/{name} was deleted while it ran")));
            }
            continue;
        };
        let phase = pod["status"]["phase"].as_str().unwrap_or("Pending").to_string();
        let container = &pod["status"]["containerStatuses"][0];
        let runs = container["restartCount"].as_i64().unwrap_or(0) + 1;
        let running = container["state"]["running"].is_object();
        let terminated = container["state"]["terminated"].is_object();
        if let Some(l) = live.as_mut().filter(|_| running || terminated) {
            l.finish(note(&format!("started after {:.1} s", started.elapsed().as_secs_f64())));
            live = None;
        }
        // Output first: a container that has run, even briefly, has something to show.
        if (running || terminated) && followed_runs < runs {
            followed_runs = runs;
            let typed: Pod = serde_json::from_value(pod.clone()).map_err(|e| MagicError::new("Internal", e.to_string()))?;
            let left = deadline.saturating_duration_since(Instant::now());
            logs::follow_pod(conn, ns, &typed, left, sink).await?;
            continue;
        }
        match phase.as_str() {
            "Succeeded" => return Ok(End::Succeeded),
            "Failed" => return Ok(failed(conn, ns, name, &pod).await),
            _ => {}
        }
        if wake == Wake::Deadline {
            return Ok(End::TimedOut);
        }
        // Causes that stop it from ever starting (an exit is judged above, by the phase).
        if let Some(stuck) = stuck_reason(&pod).filter(|s| !matches!(s.cause.as_str(), "CrashLoopBackOff" | "OOMKilled")) {
            let grace = if stuck.cause == "Unschedulable" { UNSCHEDULABLE_GRACE } else { stuck.grace };
            let since = match &stuck_since {
                Some((cause, at)) if *cause == stuck.cause => *at,
                _ => {
                    stuck_since = Some((stuck.cause.clone(), Instant::now()));
                    Instant::now()
                }
            };
            if since.elapsed() >= grace {
                if let Some(l) = live.as_mut() {
                    l.finish(note(&format!("stopped: {}", stuck.cause)));
                }
                return Ok(End::Failed(stuck.cause, stuck.message));
            }
        }
        if !running && !terminated {
            let why = container["state"]["waiting"]["reason"].as_str().map(|r| format!(" ({r})")).unwrap_or_default();
            let line = note(&format!("pod/{name}: {phase}{why}, {:.0} s", started.elapsed().as_secs_f64()));
            match live.as_mut() {
                Some(l) => l.update(line),
                None => live = Some(LiveLine::new(sink, line)),
            }
        }
    }
}

/// A pod that ended in failure: the container's exit code and reason, or kubelet's word for
/// it (an OOM kill names the limit).
async fn failed(conn: &Conn, ns: &str, name: &str, pod: &Value) -> End {
    let container = &pod["status"]["containerStatuses"][0];
    let ended = &container["state"]["terminated"];
    let reason = ended["reason"].as_str().unwrap_or("Error").to_string();
    if let Some(oom) = stuck_reason(pod).filter(|s| s.cause == "OOMKilled") {
        let lines = last_lines(conn, ns, pod, container["name"].as_str().unwrap_or_default(), false).await;
        return End::Failed(oom.cause, format!("{}{lines}", oom.message));
    }
    let message = match ended["exitCode"].as_i64() {
        Some(code) => format!("pod/{name} failed: its command exited with code {code} ({reason})"),
        None => format!(
            "pod/{name} failed: {}",
            pod["status"]["message"].as_str().or(pod["status"]["reason"].as_str()).unwrap_or("the pod ended without running")
        ),
    };
    End::Failed(reason, message)
}

/// The note after the first line of a message (the rest may be the lines the container wrote).
fn with_note(message: &str, note: &str) -> String {
    match message.split_once('\n') {
        Some((first, rest)) => format!("{first}{note}\n{rest}"),
        None => format!("{message}{note}"),
    }
}

