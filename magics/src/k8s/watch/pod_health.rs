//! Why a pod will not get where it should by itself, judged the same way for the pods of any
//! owner (a Deployment's rollout, a Job's indexes): an image that cannot be pulled, a pod the
//! scheduler cannot place, a container that keeps crashing or was killed for its memory, with
//! the last lines the container wrote.

use crate::k8s::cluster::Conn;
use crate::k8s::view::name_of;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, LogParams};
use serde_json::Value;
use std::collections::HashMap;
use std::time::Duration;
use tokio::time::Instant;

/// How long a pod may stay unschedulable before a wait gives up on it (it may be transient
/// while old pods go away during a rolling update).
pub const UNSCHEDULABLE_GRACE: Duration = Duration::from_secs(3);

/// A stuck pod as a wait ends with it: the cause is the error's name.
#[derive(Debug, Clone, PartialEq)]
pub struct Failure {
    pub cause: String,
    pub message: String,
}

/// Since when each (pod, cause) has been seen, for the causes that get a grace time.
pub type StuckSince = HashMap<(String, String), Instant>;

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
        // Killed for its memory and not running again (one that came back gets its chance).
        if let Some(s) = oom_killed(name, container, cs, pod).filter(|_| !cs["state"]["running"].is_object()) {
            return Some(s);
        }
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

/// A container ended by the kernel's OOM killer, now or in its previous run.
fn oom_killed(pod_name: &str, container: &str, cs: &Value, pod: &Value) -> Option<Stuck> {
    let ended = [&cs["state"]["terminated"], &cs["lastState"]["terminated"]]
        .into_iter()
        .position(|t| t["reason"] == "OOMKilled")?;
    let limit = pod["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container))
        .and_then(|c| c["resources"]["limits"]["memory"].as_str())
        .map(|l| format!(" of {l}"))
        .unwrap_or_default();
    Some(Stuck {
        cause: "OOMKilled".to_string(),
        message: format!("pod {pod_name}: container {container} was killed for using more memory than its limit{limit}"),
        grace: Duration::ZERO,
        logs_of: Some((container.to_string(), ended == 1)),
    })
}

/// The first stuck pod whose cause has lasted past its grace, as the failure to end a wait with.
/// With `hold_unschedulable`, an unschedulable pod is given time (room may come when old pods
/// have gone).
pub async fn first_failure(
    conn: &Conn,
    ns: &str,
    pods: &[&Value],
    hold_unschedulable: bool,
    stuck_since: &mut StuckSince,
) -> Option<Failure> {
    let mut seen = Vec::new();
    let mut found = None;
    for pod in pods {
        let Some(stuck) = stuck_reason(pod) else { continue };
        // Room on the node may come when the old pods have gone.
        if stuck.cause == "Unschedulable" && hold_unschedulable {
            continue;
        }
        let key = (name_of(pod), stuck.cause.clone());
        let first = *stuck_since.entry(key.clone()).or_insert_with(Instant::now);
        seen.push(key);
        if found.is_none() && first.elapsed() >= stuck.grace {
            let mut message = stuck.message.clone();
            if let Some((container, previous)) = &stuck.logs_of {
                message.push_str(&last_lines(conn, ns, pod, container, *previous).await);
            }
            found = Some(Failure { cause: stuck.cause.clone(), message });
        }
    }
    stuck_since.retain(|k, _| seen.contains(k));
    found
}

pub fn restart_count(pod: &Value) -> i64 {
    pod["status"]["containerStatuses"].as_array().into_iter().flatten().filter_map(|c| c["restartCount"].as_i64()).sum()
}

/// The last lines a crashed container wrote, for the error message.
pub async fn last_lines(conn: &Conn, ns: &str, pod: &Value, container: &str, previous: bool) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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

    #[test]
    fn oom_killed_is_named_with_the_limit() {
        let pod = json!({"metadata": {"name": "big-0"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"memory": "32Mi"}}}]},
            "status": {"containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]}});
        let s = stuck_reason(&pod).unwrap();
        assert_eq!(s.cause, "OOMKilled");
        assert_eq!(s.message, "pod big-0: container c was killed for using more memory than its limit of 32Mi");
        assert_eq!(s.logs_of, Some(("c".to_string(), true)));
    }
}
