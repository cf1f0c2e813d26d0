//! `top pods|nodes`: CPU and memory in use, from the metrics API (metrics.k8s.io, served by
//! metrics-server), with a clear message where it is missing or has no figures yet.

use super::flags::{Parsed, UsageError};
use super::{plan, result, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, to_value};
use crate::k8s::cluster::{ClusterError, Conn, Kind, Scope};
use crate::k8s::view::quantity::{cpu_text, memory_text, parse_quantity};
use crate::k8s::view::{name_of, Table};
use kube::api::ListParams;
use output::MimeBundle;
use serde_json::Value;

pub struct Top;

const ABOUT: About = About {
    name: "top",
    flags: &["--namespace", "--all-namespaces", "--selector", "--containers", "--context", "--kubeconfig"],
    help: "  %k8s top pods [NAME] [-n NS | -A] [-l SELECTOR] [--containers] | top nodes   CPU and memory in use
        (metrics-server); --containers: a line for each container",
    body: None,
    takes_command: false,
};

struct Options {
    /// "pods" or "nodes"
    what: String,
    name: Option<String>,
    all_namespaces: bool,
    selector: Option<String>,
    /// A row for each container (POD, NAME), as kubectl top pod --containers.
    containers: bool,
    scope: Scope,
}

impl Verb for Top {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let what = match p.positional.first().map(String::as_str) {
            Some("pods" | "pod" | "po") if p.positional.len() <= 2 => "pods",
            Some("nodes" | "node" | "no") if p.positional.len() <= 2 => {
                if p.has("--namespace") || p.has("--all-namespaces") {
                    return Err(p.usage("nodes have no namespace"));
                }
                if p.has("--containers") {
                    return Err(p.usage("--containers is for pods: top pods --containers"));
                }
                "nodes"
            }
            _ => return Err(p.usage("write top pods [NAME] or top nodes [NAME]")),
        };
        plan(Options {
            what: what.to_string(),
            name: p.positional.get(1).cloned(),
            all_namespaces: p.has("--all-namespaces"),
            selector: p.text("--selector"),
            containers: p.has("--containers"),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(async move {
            match cx.positional.as_slice() {
                [] => vec!["pods".into(), "nodes".into()],
                [kind] => cx.names(kind).await,
                _ => Vec::new(),
            }
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        top(self, cx).await
    }
}

fn unavailable(message: impl Into<String>) -> MagicError {
    MagicError::new("MetricsUnavailable", message)
}

async fn metrics_kind(conn: &Conn, plural: &str) -> Result<Kind, MagicError> {
    let catalog = conn.catalog().await?;
    catalog
        .kinds
        .iter()
        .find(|k| k.group == "metrics.k8s.io" && k.plural == plural)
        .cloned()
        .ok_or_else(|| {
            unavailable("this cluster has no metrics API (metrics.k8s.io); install metrics-server to use top and CPU autoscaling")
        })
}

fn not_ready(e: ClusterError) -> MagicError {
    let text = e.to_string();
    if text.contains("503") || text.to_lowercase().contains("unavailable") {
        unavailable("the metrics API is not answering yet; metrics-server needs about a minute after it starts")
    } else {
        e.into()
    }
}

async fn top(a: &Options, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = cx.session.for_call(&a.scope).await?;
    let what = a.what.as_str();
    let kind = metrics_kind(&conn, what).await?;
    let ar = kind.api_resource();
    let scope = if what == "pods" && !a.all_namespaces { Some(ns.as_str()) } else { None };
    let api = api_for(&conn, &kind, scope);
    let mut items: Vec<Value> = match a.name.as_ref() {
        Some(name) => vec![to_value(conn.call(&format!("get {what} metrics {name}"), api.get(name)).await.map_err(not_ready)?, &ar)],
        None => {
            let mut lp = ListParams::default();
            if let Some(sel) = &a.selector {
                lp = lp.labels(sel);
            }
            let list = conn.call(&format!("list {what} metrics"), api.list(&lp)).await.map_err(not_ready)?;
            list.items.into_iter().map(|o| to_value(o, &ar)).collect()
        }
    };
    items.sort_by_key(|v| (v["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), name_of(v)));
    if what == "nodes" {
        return nodes(&conn, items).await;
    }
    if items.is_empty() {
        // No figures: are there no pods, or has metrics-server not seen them yet?
        let pods_kind = conn.kind("pods").await?;
        let mut lp = ListParams::default().limit(1);
        if let Some(sel) = &a.selector {
            lp = lp.labels(sel);
        }
        let pods = conn.call("list pods", api_for(&conn, &pods_kind, scope).list_metadata(&lp)).await?;
        if pods.items.is_empty() {
            let place = scope.map(|n| format!(" in {n} namespace")).unwrap_or_default();
            return result(MimeBundle::plain(format!("No resources found{place}.")));
        }
        return Err(unavailable("metrics-server has no figures for these pods yet; it reports a pod about a minute after it starts"));
    }
    let with_ns = a.all_namespaces;
    let mut headers = vec!["NAME", "CPU(cores)", "MEMORY(bytes)"];
    if a.containers {
        headers.insert(0, "POD");
    }
    if with_ns {
        headers.insert(0, "NAMESPACE");
    }
    let mut t = Table::new(&headers);
    if a.containers {
        t.rows = container_rows(&items, with_ns);
        return result(t.bundle());
    }
    for pod in &items {
        let (mut cpu, mut mem) = (0.0, 0.0);
        for c in pod["containers"].as_array().into_iter().flatten() {
            cpu += c["usage"]["cpu"].as_str().and_then(parse_quantity).unwrap_or(0.0);
            mem += c["usage"]["memory"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        }
        let mut row = vec![name_of(pod), cpu_text(cpu), memory_text(mem)];
        if with_ns {
            row.insert(0, pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string());
        }
        t.rows.push(row);
    }
    result(t.bundle())
}

/// `top pods --containers`: a row for each container of each pod, in the order the metrics give.
fn container_rows(pods: &[Value], with_ns: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    for pod in pods {
        for c in pod["containers"].as_array().into_iter().flatten() {
            let cpu = c["usage"]["cpu"].as_str().and_then(parse_quantity).unwrap_or(0.0);
            let mem = c["usage"]["memory"].as_str().and_then(parse_quantity).unwrap_or(0.0);
            let mut row = vec![name_of(pod), c["name"].as_str().unwrap_or_default().to_string(), cpu_text(cpu), memory_text(mem)];
            if with_ns {
                row.insert(0, pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string());
            }
            rows.push(row);
        }
    }
    rows
}

async fn nodes(conn: &Conn, items: Vec<Value>) -> Result<MagicOutput, MagicError> {
    if items.is_empty() {
        return Err(unavailable("metrics-server has no figures for the nodes yet; it needs about a minute after it starts"));
    }
    let nodes_kind = conn.kind("nodes").await?;
    let ar = nodes_kind.api_resource();
    let list = conn.call("list nodes", api_for(conn, &nodes_kind, None).list(&ListParams::default())).await?;
    let nodes: Vec<Value> = list.items.into_iter().map(|o| to_value(o, &ar)).collect();
    let mut t = Table::new(&["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]);
    for m in &items {
        let name = name_of(m);
        let cpu = m["usage"]["cpu"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        let mem = m["usage"]["memory"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        let node = nodes.iter().find(|n| name_of(n) == name);
        let of = |key: &str, used: f64| {
            node.and_then(|n| n["status"]["allocatable"][key].as_str())
                .and_then(parse_quantity)
                .filter(|total| *total > 0.0)
                .map(|total| format!("{}%", (100.0 * used / total).floor() as i64))
                .unwrap_or_else(|| "<unknown>".into())
        };
        t.rows.push(vec![name.clone(), cpu_text(cpu), of("cpu", cpu), memory_text(mem), of("memory", mem)]);
    }
    result(t.bundle())
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn pods_or_nodes() {
        assert_eq!(refused(&Top, "po", false), "");
        assert_eq!(refused(&Top, "nodes -n x", false), "%k8s top: nodes have no namespace");
        assert!(refused(&Top, "services", false).contains("write top pods"));
        assert_eq!(refused(&Top, "pods web-1 --containers", false), "");
        assert_eq!(refused(&Top, "nodes --containers", false), "%k8s top: --containers is for pods: top pods --containers");
    }

    #[test]
    fn a_row_for_each_container() {
        let pod = serde_json::json!({"metadata": {"name": "web-1", "namespace": "demo"}, "containers": [
            {"name": "nginx", "usage": {"cpu": "1500000n", "memory": "3145728"}},
            {"name": "sidecar", "usage": {"cpu": "0", "memory": "1Mi"}}]});
        let rows = container_rows(&[pod.clone()], false);
        assert_eq!(rows, [["web-1", "nginx", "2m", "3Mi"], ["web-1", "sidecar", "0m", "1Mi"]]);
        assert_eq!(container_rows(&[pod], true)[0][..2], ["demo", "web-1"]);
    }
}
