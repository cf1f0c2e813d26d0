//! A Deployment rolling out, waited for visibly: one live line with the replica counts and a
//! table of the new revision's pods, ending "successfully rolled out" or with the cause that
//! stops it (a stuck pod, the controller giving up, a timeout). The Deployment, its ReplicaSets
//! and its pods are watched together on [`Watch`].

use super::failed_create::{replica_failure, Missing};
use super::pod_health::{first_failure, last_lines, restart_count, Failure, StuckSince};
use super::{WaitError, Wake, Watch};
use crate::k8s::cluster::objects::{api_for, kind_ref, labels_text, to_value};
use crate::k8s::cluster::Conn;
use crate::k8s::view::{human_duration, name_of, pod_status, table, LiveLine};
use chrono::Utc;
use kube::runtime::watcher::Config;
use output::{escape_html, MimeBundle, OutputSink};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// How long a wait lasts when no `--timeout` is given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);
/// How often the pods are judged when nothing changes (grace times run out between events).
const POD_CHECK: Duration = Duration::from_millis(700);
/// How long new pods are watched after they become available, to catch a container that
/// starts and exits at once.
const SETTLE: Duration = Duration::from_millis(1000);
const REVISION: &str = "deployment.kubernetes.io/revision";

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
    /// Why pods cannot be created (a used-up quota, say), while that lasts.
    pub replica_failure: Option<String>,
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
            replica_failure: replica_failure(deploy).filter(|_| observed),
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

/// A pod (and its container) that restarted since the rollout looked done.
fn restarted<'a>(pods: &'a [Value], before: &std::collections::HashMap<String, i64>) -> Option<(&'a Value, String)> {
    pods.iter().find(|p| restart_count(p) > before.get(&name_of(p)).copied().unwrap_or(0)).map(|p| {
        let container = p["status"]["containerStatuses"]
            .as_array()
            .and_then(|cs| cs.iter().max_by_key(|c| c["restartCount"].as_i64().unwrap_or(0)))
            .and_then(|c| c["name"].as_str())
            .unwrap_or_default()
            .to_string();
        (p, container)
    })
}

async fn crashed_again(conn: &Conn, ns: &str, pod: &Value, container: &str) -> Failure {
    let code = pod["status"]["containerStatuses"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["lastState"]["terminated"]["exitCode"].as_i64())
        .map(|c| format!(" with code {c}"))
        .unwrap_or_default();
    let mut message = format!("pod {}: container {container} exited{code} and is being restarted", name_of(pod));
    message.push_str(&last_lines(conn, ns, pod, container, true).await);
    Failure { cause: "CrashLoopBackOff".to_string(), message }
}

fn view_line(line: &str, pods: &[Value]) -> MimeBundle {
    let html_line = format!("<div><b>{}</b></div>", escape_html(line));
    if pods.is_empty() {
        return MimeBundle::plain(line.to_string()).with("text/html", html_line);
    }
    let t = table("pods", pods, false, false, Utc::now());
    MimeBundle::plain(format!("{line}\n{}", t.to_text())).with("text/html", format!("{html_line}{}", t.to_html()))
}

fn rolled_out(title: &str, progress: &Progress, took: Duration) -> String {
    format!("{title} successfully rolled out: {}/{} available in {:.1} s", progress.available, progress.desired, took.as_secs_f64())
}

fn view(title: &str, progress: &Progress, pods: &[Value], note: &str) -> MimeBundle {
    view_line(&format!("{title}: {}{note}", progress.line()), pods)
}

/// The pods of the deployment's newest ReplicaSet (the ones the rollout waits for), not being
/// deleted, by name.
fn new_pods(deploy: &Value, replicasets: &[&Value], pods: &[&Value]) -> Vec<Value> {
    let revision = deploy["metadata"]["annotations"][REVISION].as_str().unwrap_or_default();
    let uid = deploy["metadata"]["uid"].as_str().unwrap_or_default();
    let hash = replicasets
        .iter()
        .filter(|rs| rs["metadata"]["ownerReferences"].as_array().is_some_and(|os| os.iter().any(|o| o["uid"] == uid)))
        .find(|rs| rs["metadata"]["annotations"][REVISION].as_str() == Some(revision))
        .and_then(|rs| rs["metadata"]["labels"]["pod-template-hash"].as_str());
    let Some(hash) = hash else { return Vec::new() };
    let mut v: Vec<Value> = pods
        .iter()
        .filter(|p| p["metadata"]["labels"]["pod-template-hash"].as_str() == Some(hash))
        .filter(|p| !p["metadata"]["deletionTimestamp"].is_string())
        .map(|p| (*p).clone())
        .collect();
    v.sort_by_key(name_of);
    v
}

/// Follows `deployments/NAME` until the rollout is done, showing its progress live; fails with
/// the cause when a new pod is stuck, the controller gives up, or `timeout` passes.
pub async fn rollout(
    conn: &Arc<Conn>,
    ns: &str,
    name: &str,
    timeout: Duration,
    sink: &Arc<dyn OutputSink>,
) -> Result<Duration, WaitError> {
    let kind = conn.kind("deployments.apps").await?;
    let ar = kind.api_resource();
    let api = api_for(conn, &kind, Some(ns));
    let title = format!("{}/{name}", kind_ref(&kind));
    let started = Instant::now();
    let obj = conn.call(&format!("get deployments {name}"), api.get(name)).await?;
    let first = to_value(obj, &ar);
    let selector = labels_text(&first["spec"]["selector"]["matchLabels"]);
    let (rs_kind, pods_kind) = (conn.kind("replicasets.apps").await?, conn.kind("pods").await?);
    let mut watch = Watch::new(conn.clone()).until(Some(started + timeout)).tick(POD_CHECK);
    let d = watch.add("deployments", api, ar, Config::default().fields(&format!("metadata.name={name}")));
    let r = watch.add_soft("replicasets", api_for(conn, &rs_kind, Some(ns)), rs_kind.api_resource(), Config::default().labels(&selector));
    let p = watch.add_soft("pods", api_for(conn, &pods_kind, Some(ns)), pods_kind.api_resource(), Config::default().labels(&selector));
    let mut progress = Progress::of(&first);
    let mut pods: Vec<Value> = Vec::new();
    let mut live = LiveLine::new(sink, view(&title, &progress, &pods, " (waiting)"));
    let mut stuck_since = StuckSince::default();
    let mut missing = Missing::default();
    // Once every replica is available: until when the new pods are watched, and their restarts then.
    let mut settling: Option<(Instant, Duration, HashMap<String, i64>)> = None;
    loop {
        let wake = watch.next().await?;
        if wake == Wake::Deadline && settling.is_none() {
            live.finish(view(&title, &progress, &pods, " (timed out)"));
            let waiting = pods
                .iter()
                .filter(|p| pod_status(p) != "Running")
                .map(|p| format!("{} is {}", name_of(p), pod_status(p)))
                .collect::<Vec<_>>();
            let detail = if waiting.is_empty() { String::new() } else { format!("; {}", waiting.join(", ")) };
            return Err(WaitError::failed(
                "Timeout",
                format!("{title} did not roll out within {}: {}{detail}", human_duration(timeout.as_secs() as i64), progress.line()),
            ));
        }
        let Some(deploy) = watch.objects(d).first().map(|v| (*v).clone()) else {
            live.finish(view(&title, &progress, &pods, " (deleted)"));
            return Err(WaitError::Cluster(crate::k8s::cluster::ClusterError::not_found(format!(
                "{title} was deleted while waiting for it"
            ))));
        };
        progress = Progress::of(&deploy);
        pods = new_pods(&deploy, &watch.objects(r), &watch.objects(p));
        if let Some((until, took, restarts_when_available)) = &settling {
            // Available is not the same as staying up: a container that exits at once is
            // available for a moment.
            let failed = match restarted(&pods, restarts_when_available) {
                Some((pod, container)) => Some(crashed_again(conn, ns, pod, &container).await),
                None => first_failure(conn, ns, &pods.iter().collect::<Vec<_>>(), false, &mut stuck_since).await,
            };
            if let Some(f) = failed {
                live.finish(view(&title, &progress, &pods, &format!(" (stopped: {})", f.cause)));
                return Err(f.into());
            }
            // The pods' watch may not have listed them yet (a busy machine): wait for them a
            // little longer, as none seen is not the same as none crashed.
            if Instant::now() >= *until && (!pods.is_empty() || Instant::now() >= *until + 4 * SETTLE) {
                live.finish(view_line(&rolled_out(&title, &progress, *took), &pods));
                return Ok(*took);
            }
            continue;
        }
        if progress.done() {
            let took = started.elapsed();
            let line = format!(
                "{title}: {}/{} available in {:.1} s; checking that they stay up",
                progress.available,
                progress.desired,
                took.as_secs_f64()
            );
            live.show(view_line(&line, &pods));
            let restarts: HashMap<String, i64> = pods.iter().map(|p| (name_of(p), restart_count(p))).collect();
            // Pods up for a while already have nothing more to show.
            if !pods.is_empty() && pods.iter().all(up_for_a_while) {
                live.finish(view_line(&rolled_out(&title, &progress, took), &pods));
                return Ok(took);
            }
            watch.set_tick(SETTLE / 4);
            settling = Some((Instant::now() + SETTLE, took, restarts));
            continue;
        }
        if let Some(why) = &progress.failed {
            live.finish(view(&title, &progress, &pods, " (failed)"));
            return Err(WaitError::failed("ProgressDeadlineExceeded", format!("{title}: {why}")));
        }
        if let Some(why) = missing.judge(progress.replica_failure.clone(), Instant::now()) {
            live.finish(view(&title, &progress, &pods, " (stopped: FailedCreate)"));
            return Err(WaitError::failed("FailedCreate", format!("{title} cannot create its pods: {why}")));
        }
        // Until the controller has seen the newest spec (right after an undo, say), the pods of
        // the revision it names may be the ones being replaced: judge none of them yet.
        let judged: Vec<&Value> = if progress.observed { pods.iter().collect() } else { Vec::new() };
        if let Some(f) = first_failure(conn, ns, &judged, progress.old > 0, &mut stuck_since).await {
            live.finish(view(&title, &progress, &pods, &format!(" (stopped: {})", f.cause)));
            return Err(f.into());
        }
        let elapsed = format!(" ({:.1} s)", started.elapsed().as_secs_f64());
        match wake {
            Wake::Changed => live.update(view(&title, &progress, &pods, &elapsed)),
            _ => {
                live.update(view(&title, &progress, &pods, &elapsed));
                live.flush();
            }
        }
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
    fn new_pods_are_those_of_the_current_revision() {
        let deploy = json!({"metadata": {"uid": "d1", "annotations": {REVISION: "2"}}});
        let rs = |rev: &str, hash: &str| json!({"metadata": {"annotations": {REVISION: rev},
            "labels": {"pod-template-hash": hash}, "ownerReferences": [{"uid": "d1"}]}});
        let pod = |name: &str, hash: &str| json!({"metadata": {"name": name, "labels": {"pod-template-hash": hash}}});
        let (old, new) = (rs("1", "aaa"), rs("2", "bbb"));
        let (p1, p2, p3) = (pod("web-aaa-1", "aaa"), pod("web-bbb-2", "bbb"), pod("web-bbb-1", "bbb"));
        let found = new_pods(&deploy, &[&old, &new], &[&p1, &p2, &p3]);
        assert_eq!(found.iter().map(name_of).collect::<Vec<_>>(), ["web-bbb-1", "web-bbb-2"], "the old revision's pod is not judged");
    }
}
