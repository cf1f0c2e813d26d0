//! APIs that the API server hands on to another service (the aggregation layer): metrics.k8s.io
//! from metrics-server, custom.metrics.k8s.io and external.metrics.k8s.io from an adapter such
//! as prometheus-adapter. When that service is down, an autoscaler on them silently does
//! nothing; this says which service and why, from the APIService's own conditions.

use super::objects::api_for;
use super::{ClusterError, Conn};
use kube::api::ListParams;
use serde_json::Value;

/// Why `group` is not served here, or None when an APIService of it is available or when
/// this user may not read APIServices (cluster-wide; a class's namespaced user cannot): not
/// knowing is not a reason to stop what asked.
pub async fn unavailable(conn: &Conn, group: &str) -> Option<String> {
    let services = list(conn).await.ok()?;
    problem(group, &services)
}

async fn list(conn: &Conn) -> Result<Vec<Value>, ClusterError> {
    let kind = conn.kind("apiservices.apiregistration.k8s.io").await?;
    let ar = kind.api_resource();
    let list = conn.call("list apiservices", api_for(conn, &kind, None).list(&ListParams::default())).await?;
    Ok(list.items.into_iter().map(|o| super::objects::to_value(o, &ar)).collect())
}

/// The reading of `unavailable`, from the listed APIServices.
pub fn problem(group: &str, services: &[Value]) -> Option<String> {
    let of_group: Vec<&Value> = services.iter().filter(|s| s["spec"]["group"].as_str() == Some(group)).collect();
    if of_group.is_empty() {
        return Some(format!("{group} is not served in this cluster (no APIService for it; install its adapter)"));
    }
    if of_group.iter().any(|s| available(s).0) {
        return None;
    }
    let s = of_group[0];
    let name = s["metadata"]["name"].as_str().unwrap_or(group);
    let by = match (s["spec"]["service"]["namespace"].as_str(), s["spec"]["service"]["name"].as_str()) {
        (Some(ns), Some(svc)) => format!(" (served by service {ns}/{svc})"),
        _ => String::new(),
    };
    let why = available(s).1;
    Some(format!("{group} is not available: APIService {name}{by}: {why}"))
}

/// Whether the APIService says Available, and otherwise its reason and message.
fn available(s: &Value) -> (bool, String) {
    let conditions = s["status"]["conditions"].as_array().cloned().unwrap_or_default();
    match conditions.iter().find(|c| c["type"] == "Available") {
        Some(c) if c["status"] == "True" => (true, String::new()),
        Some(c) => {
            let reason = c["reason"].as_str().unwrap_or("Unavailable");
            match c["message"].as_str().filter(|m| !m.is_empty()) {
                Some(m) => (false, format!("{reason}: {m}")),
                None => (false, reason.to_string()),
            }
        }
        None => (false, "not checked by the API server yet".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service(group: &str, status: &str, reason: &str, message: &str) -> Value {
        json!({
            "metadata": {"name": format!("v1beta1.{group}")},
            "spec": {"group": group, "service": {"namespace": "monitoring", "name": "prometheus-adapter"}},
            "status": {"conditions": [{"type": "Available", "status": status, "reason": reason, "message": message}]}
        })
    }

    #[test]
    fn a_down_adapter_is_named_with_the_api_servers_reason() {
        let down = [service("custom.metrics.k8s.io", "False", "MissingEndpoints", "endpoints for service/prometheus-adapter in \"monitoring\" have no addresses with port name \"https\"")];
        assert_eq!(
            problem("custom.metrics.k8s.io", &down).unwrap(),
            "custom.metrics.k8s.io is not available: APIService v1beta1.custom.metrics.k8s.io (served by service monitoring/prometheus-adapter): MissingEndpoints: endpoints for service/prometheus-adapter in \"monitoring\" have no addresses with port name \"https\""
        );
        let up = [service("custom.metrics.k8s.io", "True", "Passed", "all checks passed")];
        assert_eq!(problem("custom.metrics.k8s.io", &up), None);
        assert!(problem("external.metrics.k8s.io", &up).unwrap().contains("not served in this cluster"));
    }
}
