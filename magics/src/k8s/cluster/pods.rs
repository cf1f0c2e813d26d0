//! Finding pods: the pod a command goes to (a pod named, or the best pod of a workload or a
//! service), and every pod behind a pod name, a workload or a label selector.

use super::connection::Conn;
use super::error::ClusterError;
use super::objects::{api_for, kind_ref, labels_text, pod_selector, to_value};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde_json::Value;

/// Why no pod could be picked.
#[derive(Debug)]
pub enum PickError {
    Cluster(ClusterError),
    /// `kind/name` has no pod selector.
    NoSelector(String),
}

impl From<ClusterError> for PickError {
    fn from(e: ClusterError) -> Self {
        PickError::Cluster(e)
    }
}

/// The pod a command goes to: the pod named, or a running pod of a workload or service (ready
/// ones first, then running ones, oldest first, as kubectl takes the first one).
pub async fn pick_pod(conn: &Conn, ns: &str, kind_text: &str, name: &str) -> Result<Pod, PickError> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let kind = conn.kind(kind_text).await?;
    if kind.plural == "pods" {
        return Ok(conn.call(&format!("get pods {name}"), pods.get(name)).await?);
    }
    let obj = conn.call(&format!("get {} {name}", kind.plural), api_for(conn, &kind, Some(ns)).get(name)).await?;
    let obj = serde_json::to_value(obj).unwrap_or(Value::Null);
    let selector = labels_text(&pod_selector(&kind, &obj));
    if selector.is_empty() {
        return Err(PickError::NoSelector(format!("{}/{name}", kind_ref(&kind))));
    }
    let list = conn.call("list pods", pods.list(&ListParams::default().labels(&selector))).await?;
    let mut candidates: Vec<Pod> = list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    let rank = |p: &Pod| {
        let status = p.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
        (!ready, !running, p.metadata.creation_timestamp.clone().map(|t| t.0), p.metadata.name.clone())
    };
    candidates.sort_by_key(rank);
    candidates.into_iter().next().ok_or_else(|| {
        PickError::Cluster(ClusterError::not_found(format!(
            "{}/{name} has no pods in namespace {ns} (selector {selector})",
            kind_ref(&kind)
        )))
    })
}

/// The pods behind `what` (a pod name, or KIND NAME of a workload), or behind a label selector,
/// with how to name them in messages ("pod web-1", "deployment.apps/web", "pods with app=web").
pub async fn pods_of(
    conn: &Conn,
    ns: &str,
    what: &[String],
    selector: Option<&str>,
) -> Result<(Vec<Pod>, String), PickError> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let by_selector = |sel: String, what: String| async move {
        let list = conn.call("list pods", pods.list(&ListParams::default().labels(&sel))).await?;
        Ok::<_, PickError>((list.items, what))
    };
    let one = |name: String| async move {
        let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
        let pod = conn.call(&format!("get pod {name}"), api.get(&name)).await?;
        Ok::<_, PickError>((vec![pod], format!("pod {name}")))
    };
    match what {
        [] => {
            let sel = selector.unwrap_or_default().to_string();
            by_selector(sel.clone(), format!("pods with {sel}")).await
        }
        [name] => one(name.clone()).await,
        [kind, name, ..] => {
            let kind = conn.kind(kind).await?;
            if kind.plural == "pods" {
                return one(name.clone()).await;
            }
            let obj = conn.call(&format!("get {} {name}", kind.plural), api_for(conn, &kind, Some(ns)).get(name)).await?;
            let obj = to_value(obj, &kind.api_resource());
            let sel = labels_text(&obj["spec"]["selector"]["matchLabels"]);
            if sel.is_empty() {
                return Err(PickError::NoSelector(format!("{}/{name}", kind_ref(&kind))));
            }
            by_selector(sel, format!("{}/{name}", kind_ref(&kind))).await
        }
    }
}
