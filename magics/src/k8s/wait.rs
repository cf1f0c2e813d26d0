//! Visible waits: a Deployment rolling out, shown as one live line and a table of its new pods,
//! ending either "successfully rolled out" or with the cause that stops it (an image that cannot
//! be pulled, a pod the scheduler cannot place, a container that keeps crashing, a timeout).

use super::client::Conn;
use super::ops::{api_for, kind_ref, to_value};
use super::live::LiveLine;
use super::render;
use crate::registry::MagicError;
use crate::sink::{MimeBundle, OutputSink};
use chrono::Utc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, LogParams, WatchEvent, WatchParams};
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a wait lasts when no `--timeout` is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);
/// How long a pod may stay unschedulable before the wait gives up (it may be transient while old
/// pods go away during a rolling update).
const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(3);
/// How often the pods are looked at between deployment events.
const POD_CHECK: Duration = Duration::from_millis(700);
/// How long new pods are watched after they become available, to catch a container that
/// starts and exits at once.
const SETTLE: Duration = Duration::from_millis(1000);

/// The replica counts of a Deployment's status, and whether the rollout is done.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Progress {
    pub desired: i64,
    pub updated: i64,
    pub ready: i64,
    pub available: i64,
    /// Replicas of older revisions still present.
    pub old: i64,
    pub observed: bool,
    /// Set when the deployment controller itself gave up (ProgressDeadlineExceeded).
    pub failed: Option<String>,
}

impl Progress {
    pub fn of(deploy: &Value) -> Progress {
        let n = |v: &Value| v.as_i64().unwrap_or(0);
        let status = &deploy["status"];
        let generation = n(&deploy["metadata"]["generation"]);
        let observed = n(&status["observedGeneration"]) >= generation;
        // A condition of an older generation says nothing about this one.
        let failed = status["conditions"].as_array().filter(|_| observed).and_then(|cs| {
            cs.iter()
                .find(|c| c["type"] == "Progressing" && c["reason"] == "ProgressDeadlineExceeded")
                .map(|c| c["message"].as_str().unwrap_or("progress deadline exceeded").to_string())
        });
        let replicas = n(&status["replicas"]);
        let updated = n(&status["updatedReplicas"]);
        Progress {
            desired: deploy["spec"]["replicas"].as_i64().unwrap_or(1),
            updated,
            ready: n(&status["readyReplicas"]),
            available: n(&status["availableReplicas"]),
            old: (replicas - updated).max(0),
            observed,
            failed,
        }
    }

    /// kubectl's rule: the newest generation is observed, every replica is updated and available,
    /// and no old replica is left.
    pub fn done(&self) -> bool {
        self.observed && self.updated >= self.desired && self.old == 0 && self.available >= self.updated
    }

    pub fn line(&self) -> String {
        let mut s = format!(
            "{}/{} updated, {}/{} ready, {}/{} available",
            self.updated, self.desired, self.ready, self.desired, self.available, self.desired
        );
        if self.old > 0 {
            s.push_str(&format!(", {} old {} terminating", self.old, if self.old == 1 { "replica" } else { "replicas" }));
        }
        s
    }
}

/// Why a pod will not become ready by itself.
#[derive(Debug, Clone, PartialEq)]
pub struct Stuck {
    /// kubelet's or the scheduler's word for it: ImagePullBackOff, Unschedulable, ...
    pub cause: String,
    pub message: String,
    /// How long it must last before the wait gives up (some causes clear by themselves).
    pub grace: Duration,
    /// The container whose output explains it, and whether that is its previous run.
    pub logs_of: Option<(String, bool)>,
}

pub fn stuck_reason(pod: &Value) -> Option<Stuck> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let stuck = |cause: &str, message: String, grace: Duration| Stuck { cause: cause.to_string(), message, grace, logs_of: None };
    for cs in pod["status"]["containerStatuses"].as_array().into_iter().flatten() {
        let container = cs["name"].as_str().unwrap_or_default();
        let waiting = &cs["state"]["waiting"];
        let reason = waiting["reason"].as_str().unwrap_or_default();
        let message = waiting["message"].as_str().unwrap_or_default();
        let image = cs["image"].as_str().unwrap_or_default();
        match reason {
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" | "ErrImageNeverPull" => {
                let (detail, definite) = short_pull_message(message);
                // A pull that failed for a reason that may pass (a timeout) gets a few seconds.
                let grace = if definite || reason != "ErrImagePull" { Duration::ZERO } else { Duration::from_secs(5) };
                return Some(stuck(reason, format!("pod {name}: the image \"{image}\" cannot be pulled{detail}"), grace));
            }
            "CrashLoopBackOff" => {
                let last = &cs["lastState"]["terminated"];
                let code = last["exitCode"].as_i64().map(|c| format!(" (exit code {c})")).unwrap_or_default();
                let mut s = stuck(reason, format!("pod {name}: container {container} keeps crashing{code}"), Duration::ZERO);
                s.logs_of = Some((container.to_string(), true));
                return Some(s);
            }
            "CreateContainerConfigError" | "CreateContainerError" | "RunContainerError" => {
                return Some(stuck(reason, format!("pod {name}: {message}"), Duration::ZERO));
            }
            _ => {}
        }
        // Exited with an error and about to be restarted: the start of a crash loop. (A container
        // running again after one failed start is given its chance.)
        if cs["state"]["running"].is_object() {
            continue;
        }
        let terminated = &cs["state"]["terminated"];
        let last = &cs["lastState"]["terminated"];
        let (exited, previous) = if terminated.is_object() { (terminated, false) } else { (last, true) };
        if let Some(code) = exited["exitCode"].as_i64().filter(|c| *c != 0) {
            let mut s = stuck(
                "CrashLoopBackOff",
                format!("pod {name}: container {container} exited with code {code} and is being restarted"),
                Duration::ZERO,
            );
            s.logs_of = Some((container.to_string(), previous));
            return Some(s);
        }
    }
    for c in pod["status"]["conditions"].as_array().into_iter().flatten() {
        if c["type"] == "PodScheduled" && c["status"] == "False" && c["reason"] == "Unschedulable" {
            let message = c["message"].as_str().unwrap_or("no node fits");
            return Some(stuck("Unschedulable", format!("pod {name} cannot be scheduled: {message}"), UNSCHEDULABLE_GRACE));
        }
    }
    None
}

/// containerd's pull errors are long; keep the part that says what went wrong, and whether
/// retrying cannot help.
fn short_pull_message(message: &str) -> (String, bool) {
    if message.is_empty() {
        return (String::new(), false);
    }
    let lower = message.to_ascii_lowercase();
    for (hint, definite) in [
        ("not found", true),
        ("unauthorized", true),
        ("denied", true),
        ("connection refused", false),
        ("no such host", false),
        ("i/o timeout", false),
    ] {
        if lower.contains(hint) {
            return (format!(" ({hint})"), definite);
        }
    }
    let tail = message.rsplit(": ").next().unwrap_or(message);
    (format!(" ({})", tail.chars().take(160).collect::<String>()), false)
}

/// Whether every container of the pod has been running for longer than the settle time (so
/// there is nothing more to learn by watching it).
fn up_for_a_while(pod: &Value) -> bool {
    let statuses = pod["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
    !statuses.is_empty()
        && statuses.iter().all(|c| {
            c["state"]["running"]["startedAt"]
                .as_str()
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .is_some_and(|t| (Utc::now() - t.with_timezone(&Utc)).num_milliseconds() > 2 * SETTLE.as_millis() as i64)
        })
}

/// The first stuck pod whose cause has lasted past its grace, as the error to end the wait with.
async fn failure(
    conn: &Conn,
    ns: &str,
    pods: &[Value],
    old_left: bool,
    stuck_since: &mut std::collections::HashMap<(String, String), Instant>,
) -> Option<MagicError> {
    let mut seen = Vec::new();
    let mut found = None;
    for pod in pods {
        let Some(stuck) = stuck_reason(pod) else { continue };
        // Room on the node may come when the old pods have gone.
        if stuck.cause == "Unschedulable" && old_left {
            continue;
        }
        let key = (render::name_of(pod), stuck.cause.clone());
        let first = *stuck_since.entry(key.clone()).or_insert_with(Instant::now);
        seen.push(key);
        if found.is_none() && first.elapsed() >= stuck.grace {
            let mut message = stuck.message.clone();
            if let Some((container, previous)) = &stuck.logs_of {
                message.push_str(&last_lines(conn, ns, pod, container, *previous).await);
            }
            found = Some(MagicError::new(&stuck.cause, message));
        }
    }
    stuck_since.retain(|k, _| seen.contains(k));
    found
}

fn restart_count(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"].as_array().into_iter().flatten().filter_map(|c| c["restartCount"].as_i64()).sum()
}

/// A pod (and its container) that restarted since the rollout looked done.
fn restarted<'a>(pods: &'a [Value], before: &std::collections::HashMap<String, i64>) -> Option<(&'a Value, String)> {
    pods.iter().find(|p| restart_count(p) > before.get(&render::name_of(p)).copied().unwrap_or(0)).map(|p| {
        let container = p["status"]["containerStatuses"]
            .as_array()
            .and_then(|cs| cs.iter().max_by_key(|c| c["restartCount"].as_i64().unwrap_or(0)))
            .and_then(|c| c["name"].as_str())
            .unwrap_or_default()
            .to_string();
        (p, container)
    })
}

async fn crashed_again(conn: &Conn, ns: &str, pod: &Value, container: &str) -> MagicError {
    let code = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["lastState"]["terminated"]["exitCode"].as_i64())
        .map(|c| format!(" with code {c}"))
        .unwrap_or_default();
    let mut message = format!("pod {}: container {container} exited{code} and is being restarted", render::name_of(pod));
    message.push_str(&last_lines(conn, ns, pod, container, true).await);
    MagicError::new("CrashLoopBackOff", message)
}

fn view_line(line: &str, pods: &[Value]) -> MimeBundle {
    let html_line = format!("<div><b>{}</b></div>", crate::builtin::escape_html(line));
    if pods.is_empty() {
        return MimeBundle::plain(line.to_string()).with("text/html", html_line);
    }
    let t = render::table("pods", pods, false, false, Utc::now());
    MimeBundle::plain(format!("{line}\n{}", t.to_text())).with("text/html", format!("{html_line}{}", t.to_html()))
}

fn view(title: &str, progress: &Progress, pods: &[Value], note: &str) -> MimeBundle {
    view_line(&format!("{title}: {}{note}", progress.line()), pods)
}

/// The pods of the deployment's newest ReplicaSet (the ones the rollout waits for), not being
/// deleted.
async fn new_pods(conn: &Conn, ns: &str, deploy: &Value) -> Vec<Value> {
    let selector = render::labels_text(&deploy["spec"]["selector"]["matchLabels"]);
    if selector.is_empty() {
        return Vec::new();
    }
    let revision = deploy["metadata"]["annotations"]["deployment.kubernetes.io/revision"].as_str().unwrap_or_default();
    let uid = deploy["metadata"]["uid"].as_str().unwrap_or_default();
    let lp = ListParams::default().labels(&selector);
    let rs_api: Api<k8s_openapi::api::apps::v1::ReplicaSet> = Api::namespaced(conn.client.clone(), ns);
    let hash = match conn.call_within("list replicasets", Duration::from_secs(5), rs_api.list(&lp)).await {
        Ok(list) => list
            .items
            .into_iter()
            .filter(|rs| rs.metadata.owner_references.iter().flatten().any(|o| o.uid == uid))
            .find(|rs| {
                rs.metadata.annotations.as_ref().and_then(|a| a.get("deployment.kubernetes.io/revision")).map(String::as_str)
                    == Some(revision)
            })
            .and_then(|rs| rs.metadata.labels.and_then(|l| l.get("pod-template-hash").cloned())),
        Err(_) => None,
    };
    let Some(hash) = hash else { return Vec::new() };
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let lp = ListParams::default().labels(&format!("{selector},pod-template-hash={hash}"));
    match conn.call_within("list pods", Duration::from_secs(5), pods.list(&lp)).await {
        Ok(list) => {
            let mut v: Vec<Value> = list
                .items
                .into_iter()
                .filter(|p| p.metadata.deletion_timestamp.is_none())
                .map(|p| serde_json::to_value(p).unwrap_or(Value::Null))
                .collect();
            v.sort_by_key(render::name_of);
            v
        }
        Err(_) => Vec::new(),
    }
}

/// The last lines a crashed container wrote, for the error message.
async fn last_lines(conn: &Conn, ns: &str, pod: &Value, container: &str, previous: bool) -> String {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let lp = LogParams { container: Some(container.to_string()), previous, tail_lines: Some(10), ..LogParams::default() };
    match conn.call_within("read logs", Duration::from_secs(5), api.logs(name, &lp)).await {
        Ok(text) if !text.trim().is_empty() => {
            let lines: Vec<String> = text.lines().map(|l| format!("  | {l}")).collect();
            format!("; its last output:\n{}", lines.join("\n"))
        }
        _ => "; it wrote nothing before it stopped".to_string(),
    }
}

/// Follows `deployments/NAME` until the rollout is done, showing its progress live; fails with
/// the cause when a new pod is stuck, the controller gives up, or `timeout` passes.
pub async fn rollout(
    conn: &Conn,
    ns: &str,
    name: &str,
    timeout: Duration,
    sink: &Arc<dyn OutputSink>,
) -> Result<Duration, MagicError> {
    let kind = conn.kind("deployments.apps").await?;
    let ar = kind.api_resource();
    let api = api_for(conn, &kind, Some(ns));
    let title = format!("{}/{name}", kind_ref(&kind));
    let started = Instant::now();
    let deadline = started + timeout;
    let obj = conn.call(&format!("get deployments {name}"), api.get(name)).await?;
    let mut deploy = to_value(obj, &ar);
    let mut version = deploy["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
    let mut progress = Progress::of(&deploy);
    let mut pods: Vec<Value> = Vec::new();
    let mut live = LiveLine::new(sink, view(&title, &progress, &pods, " (waiting)"));
    let mut stuck_since: std::collections::HashMap<(String, String), Instant> = Default::default();
    let mut next_pod_check = Instant::now();
    let elapsed = |since: Instant| format!(" ({:.1} s)", since.elapsed().as_secs_f64());
    loop {
        if progress.done() {
            let took = started.elapsed();
            // Available is not the same as staying up: a container that exits at once is
            // available for a moment. Watch the new pods briefly before calling it a success.
            let line = format!("{title}: {}/{} available in {:.1} s; checking that they stay up", progress.available, progress.desired, took.as_secs_f64());
            pods = new_pods(conn, ns, &deploy).await;
            live.show(view_line(&line, &pods));
            let restarts_when_available: std::collections::HashMap<String, i64> =
                pods.iter().map(|p| (render::name_of(p), restart_count(p))).collect();
            let settle_until = if pods.iter().all(up_for_a_while) { Instant::now() } else { Instant::now() + SETTLE };
            while Instant::now() < settle_until {
                tokio::time::sleep(SETTLE / 4).await;
                pods = new_pods(conn, ns, &deploy).await;
                let failed = match restarted(&pods, &restarts_when_available) {
                    Some((pod, container)) => Some(crashed_again(conn, ns, pod, &container).await),
                    None => failure(conn, ns, &pods, false, &mut stuck_since).await,
                };
                if let Some(err) = failed {
                    live.finish(view(&title, &progress, &pods, &format!(" (stopped: {})", err.ename)));
                    return Err(err);
                }
            }
            let line = format!(
                "{title} successfully rolled out: {}/{} available in {:.1} s",
                progress.available,
                progress.desired,
                took.as_secs_f64()
            );
            live.finish(view_line(&line, &pods));
            return Ok(took);
        }
        if let Some(why) = &progress.failed {
            live.finish(view(&title, &progress, &pods, " (failed)"));
            return Err(MagicError::new("ProgressDeadlineExceeded", format!("{title}: {why}")));
        }
        // Watch the deployment from `version` until something changes or it is time to look at
        // the pods.
        let wp = WatchParams::default().fields(&format!("metadata.name={name}")).timeout(60);
        let stream = conn.call(&format!("watch deployments {name}"), api.watch(&wp, &version)).await?;
        let mut stream = std::pin::pin!(stream);
        loop {
            let until = next_pod_check.min(deadline);
            match tokio::time::timeout_at(until, stream.next()).await {
                Ok(Some(Ok(WatchEvent::Added(o) | WatchEvent::Modified(o)))) => {
                    deploy = to_value(o, &ar);
                    version = deploy["metadata"]["resourceVersion"].as_str().unwrap_or(&version).to_string();
                    progress = Progress::of(&deploy);
                    pods = new_pods(conn, ns, &deploy).await;
                    live.update(view(&title, &progress, &pods, &elapsed(started)));
                    if progress.done() || progress.failed.is_some() {
                        break;
                    }
                }
                Ok(Some(Ok(WatchEvent::Deleted(_)))) => {
                    live.finish(view(&title, &progress, &pods, " (deleted)"));
                    return Err(MagicError::new("NotFound", format!("{title} was deleted while waiting for it")));
                }
                Ok(Some(Ok(WatchEvent::Bookmark(b)))) => version = b.metadata.resource_version,
                Ok(Some(Ok(WatchEvent::Error(status)))) if status.code == 410 => {
                    let obj = conn.call(&format!("get deployments {name}"), api.get(name)).await?;
                    deploy = to_value(obj, &ar);
                    version = deploy["metadata"]["resourceVersion"].as_str().unwrap_or_default().to_string();
                    progress = Progress::of(&deploy);
                    break;
                }
                Ok(Some(Ok(WatchEvent::Error(status)))) => {
                    return Err(conn.explain(&format!("watch deployments {name}"), kube::Error::Api(status)))
                }
                Ok(Some(Err(e))) => return Err(conn.explain(&format!("watch deployments {name}"), e)),
                Ok(None) => break,
                Err(_) => {
                    if Instant::now() >= deadline {
                        live.finish(view(&title, &progress, &pods, " (timed out)"));
                        let waiting = pods
                            .iter()
                            .filter(|p| render::pod_status(p) != "Running")
                            .map(|p| format!("{} is {}", render::name_of(p), render::pod_status(p)))
                            .collect::<Vec<_>>();
                        let detail = if waiting.is_empty() { String::new() } else { format!("; {}", waiting.join(", ")) };
                        return Err(MagicError::new(
                            "Timeout",
                            format!(
                                "{title} did not roll out within {}: {}{detail}",
                                render::human_duration(timeout.as_secs() as i64),
                                progress.line()
                            ),
                        ));
                    }
                    // Time to look at the new pods: are any of them stuck?
                    next_pod_check = Instant::now() + POD_CHECK;
                    pods = new_pods(conn, ns, &deploy).await;
                    if let Some(err) = failure(conn, ns, &pods, progress.old > 0, &mut stuck_since).await {
                        live.finish(view(&title, &progress, &pods, &format!(" (stopped: {})", err.ename)));
                        return Err(err);
                    }
                    live.update(view(&title, &progress, &pods, &elapsed(started)));
                }
            }
        }
        live.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn progress_follows_kubectls_rule() {
        let d = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
        });
        let p = Progress::of(&d);
        assert!(!p.done(), "an old replica is still there");
        assert!(p.line().contains("1 old replica terminating"), "{}", p.line());
        let d = json!({
            "metadata": {"generation": 2},
            "spec": {"replicas": 2},
            "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "readyReplicas": 2, "availableReplicas": 2}
        });
        assert!(Progress::of(&d).done());
        let d = json!({"metadata": {"generation": 3}, "spec": {"replicas": 1},
            "status": {"observedGeneration": 2, "replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}});
        assert!(!Progress::of(&d).done(), "the new generation is not observed yet");
    }

    #[test]
    fn stuck_pods_are_named_with_their_cause() {
        let pull = json!({"metadata": {"name": "web-1"}, "status": {"containerStatuses": [{
            "name": "web", "image": "nginx:nope",
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"nginx:nope\": ErrImagePull: failed to resolve reference: not found"}}}]}});
        let s = stuck_reason(&pull).unwrap();
        assert_eq!((s.cause.as_str(), s.grace), ("ImagePullBackOff", Duration::ZERO));
        assert!(s.message.contains("\"nginx:nope\" cannot be pulled (not found)"), "{}", s.message);
        let unsched = json!({"metadata": {"name": "big-1"}, "status": {"conditions": [{
            "type": "PodScheduled", "status": "False", "reason": "Unschedulable",
            "message": "0/1 nodes are available: 1 Insufficient cpu."}]}});
        let s = stuck_reason(&unsched).unwrap();
        assert_eq!((s.cause.as_str(), s.grace), ("Unschedulable", UNSCHEDULABLE_GRACE));
        assert!(s.message.contains("Insufficient cpu"), "{}", s.message);
        let crash = json!({"metadata": {"name": "c-1"}, "status": {"containerStatuses": [{
            "name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}, "lastState": {"terminated": {"exitCode": 1}}}]}});
        let s = stuck_reason(&crash).unwrap();
        assert_eq!(s.message, "pod c-1: container c keeps crashing (exit code 1)");
        assert_eq!(s.logs_of, Some(("c".to_string(), true)));
        let exited = json!({"metadata": {"name": "c-2"}, "status": {"containerStatuses": [{
            "name": "c", "restartCount": 0, "state": {"terminated": {"exitCode": 2, "reason": "Error"}}}]}});
        let s = stuck_reason(&exited).unwrap();
        assert_eq!((s.cause.as_str(), s.logs_of), ("CrashLoopBackOff", Some(("c".to_string(), false))));
        let slow_pull = json!({"metadata": {"name": "p"}, "status": {"containerStatuses": [{
            "name": "c", "image": "x", "state": {"waiting": {"reason": "ErrImagePull", "message": "dial tcp: i/o timeout"}}}]}});
        assert_eq!(stuck_reason(&slow_pull).unwrap().grace, Duration::from_secs(5));
        let fine = json!({"metadata": {"name": "ok"}, "status": {"containerStatuses": [{"state": {"running": {}}}]}});
        let came_back = json!({"metadata": {"name": "ok"}, "status": {"containerStatuses": [{
            "name": "c", "restartCount": 1, "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 1}}}]}});
        assert!(stuck_reason(&came_back).is_none(), "running again after one failed start");
        assert!(stuck_reason(&fine).is_none());
    }
}
