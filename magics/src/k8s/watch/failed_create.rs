//! Pods that a controller cannot create: a ResourceQuota that is used up, a LimitRange, Pod
//! Security admission. No pod ever appears to be judged, so a wait would last until its
//! timeout. The controller says why: a Job in a `FailedCreate` event, a ReplicaSet in its
//! `ReplicaFailure` condition, which the Deployment copies.

use crate::k8s::cluster::{ClusterError, Conn};
use k8s_openapi::api::core::v1::Event;
use kube::api::{Api, ListParams};
use serde_json::Value;
use std::time::Duration;
use tokio::time::Instant;

/// How long pods may stay uncreated after the controller first said why: a quota can free up
/// as the last run's pods go away, and the controllers try again after 1, 2, 4 and 8 s.
pub const FAILED_CREATE_GRACE: Duration = Duration::from_secs(15);

/// The newest `FailedCreate` event about the object with `uid`, as a sentence.
pub async fn failed_create_event(conn: &Conn, ns: &str, uid: &str) -> Result<Option<String>, ClusterError> {
    let api: Api<Event> = Api::namespaced(conn.client.clone(), ns);
    let params = ListParams::default().fields(&format!("involvedObject.uid={uid},reason=FailedCreate"));
    let list = conn.call("list events", api.list(&params)).await?;
    let newest = list.items.into_iter().max_by_key(|e| e.last_timestamp.clone().map(|t| t.0));
    Ok(newest.and_then(|e| e.message).map(|m| tidy(&m)))
}

/// The `ReplicaFailure` condition of a Deployment or ReplicaSet, when it is true.
pub fn replica_failure(object: &Value) -> Option<String> {
    object["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "ReplicaFailure" && c["status"] == "True")
        .map(|c| tidy(c["message"].as_str().unwrap_or("the controller cannot create pods")))
}

/// "Error creating: pods \"x\" is forbidden: ..." says the same without its first words.
fn tidy(message: &str) -> String {
    message.trim().trim_start_matches("Error creating: ").to_string()
}

/// Since when pods have been missing with a cause, to give up after [`FAILED_CREATE_GRACE`].
#[derive(Debug, Default)]
pub struct Missing {
    since: Option<Instant>,
}

impl Missing {
    /// `why`: the controller's reason at `now` (None: the pods are there, or no reason is
    /// given). Returns the reason once it has lasted the grace.
    pub fn judge(&mut self, why: Option<String>, now: Instant) -> Option<String> {
        let Some(why) = why else {
            self.since = None;
            return None;
        };
        let since = *self.since.get_or_insert(now);
        (now.duration_since(since) >= FAILED_CREATE_GRACE).then_some(why)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_replica_failure_is_read_from_the_conditions() {
        let d = json!({"status": {"conditions": [
            {"type": "Available", "status": "False"},
            {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate",
             "message": "pods \"w-1\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0"}
        ]}});
        assert_eq!(replica_failure(&d).unwrap(), "pods \"w-1\" is forbidden: exceeded quota: q, requested: pods=1, used: pods=0, limited: pods=0");
        assert_eq!(replica_failure(&json!({"status": {"conditions": [{"type": "ReplicaFailure", "status": "False"}]}})), None);
        assert_eq!(tidy("Error creating: pods \"x\" is forbidden"), "pods \"x\" is forbidden");
    }

    #[test]
    fn a_cause_counts_once_it_has_lasted() {
        let mut m = Missing::default();
        let t = Instant::now();
        assert_eq!(m.judge(Some("quota".into()), t), None);
        assert_eq!(m.judge(Some("quota".into()), t + FAILED_CREATE_GRACE).as_deref(), Some("quota"));
        // Pods came: the clock starts again.
        assert_eq!(m.judge(None, t + FAILED_CREATE_GRACE), None);
        assert_eq!(m.judge(Some("quota".into()), t + FAILED_CREATE_GRACE * 2), None);
    }
}
