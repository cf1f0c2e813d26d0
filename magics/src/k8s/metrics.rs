//! `top pods|nodes`: CPU and memory in use, from the metrics API (metrics.k8s.io, served by
//! metrics-server), with a clear message where it is missing or has no figures yet.

use super::args::Args;
use super::client::Conn;
use super::ops::{api_for, result, to_value, Session};
use super::render;
use crate::registry::{MagicError, MagicOutput};
use crate::sink::MimeBundle;
use kube::api::ListParams;
use serde_json::Value;

/// A Kubernetes quantity ("250m", "1.5", "128974848", "129e6", "123Mi", "1G") in base units
/// (cores or bytes).
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let split = q.find(|c: char| c.is_ascii_alphabetic() && c != 'e' && c != 'E').unwrap_or(q.len());
    let (number, suffix) = q.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "Ki" => 1024.0,
        "Mi" => 1024.0 * 1024.0,
        "Gi" => 1024.0 * 1024.0 * 1024.0,
        "Ti" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n * scale)
}

/// kubectl's way: CPU in millicores rounded up, memory in MiB rounded down.
pub fn cpu_text(cores: f64) -> String {
    format!("{}m", (cores * 1000.0 - 1e-9).ceil().max(0.0) as i64)
}

pub fn memory_text(bytes: f64) -> String {
    format!("{}Mi", (bytes / (1024.0 * 1024.0)).floor() as i64)
}

fn unavailable(message: impl Into<String>) -> MagicError {
    MagicError::new("MetricsUnavailable", message)
}

async fn metrics_kind(conn: &Conn, plural: &str) -> Result<super::client::Kind, MagicError> {
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

fn not_ready(e: MagicError) -> MagicError {
    if e.ename == "ServiceUnavailable" || e.message.contains("503") || e.message.to_lowercase().contains("unavailable") {
        unavailable("the metrics API is not answering yet; metrics-server needs about a minute after it starts")
    } else {
        e
    }
}

pub async fn top(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let what = a.positional[0].as_str();
    let kind = metrics_kind(&conn, what).await?;
    let ar = kind.api_resource();
    let scope = if what == "pods" && !a.all_namespaces { Some(ns.as_str()) } else { None };
    let api = api_for(&conn, &kind, scope);
    let mut items: Vec<Value> = match a.positional.get(1) {
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
    items.sort_by_key(|v| (v["metadata"]["namespace"].as_str().unwrap_or_default().to_string(), render::name_of(v)));
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
    if with_ns {
        headers.insert(0, "NAMESPACE");
    }
    let mut t = render::Table::new(&headers);
    for pod in &items {
        let (mut cpu, mut mem) = (0.0, 0.0);
        for c in pod["containers"].as_array().into_iter().flatten() {
            cpu += c["usage"]["cpu"].as_str().and_then(parse_quantity).unwrap_or(0.0);
            mem += c["usage"]["memory"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        }
        let mut row = vec![render::name_of(pod), cpu_text(cpu), memory_text(mem)];
        if with_ns {
            row.insert(0, pod["metadata"]["namespace"].as_str().unwrap_or_default().to_string());
        }
        t.rows.push(row);
    }
    result(t.bundle())
}

async fn nodes(conn: &Conn, items: Vec<Value>) -> Result<MagicOutput, MagicError> {
    if items.is_empty() {
        return Err(unavailable("metrics-server has no figures for the nodes yet; it needs about a minute after it starts"));
    }
    let nodes_kind = conn.kind("nodes").await?;
    let ar = nodes_kind.api_resource();
    let list = conn.call("list nodes", api_for(conn, &nodes_kind, None).list(&ListParams::default())).await?;
    let nodes: Vec<Value> = list.items.into_iter().map(|o| to_value(o, &ar)).collect();
    let mut t = render::Table::new(&["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]);
    for m in &items {
        let name = render::name_of(m);
        let cpu = m["usage"]["cpu"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        let mem = m["usage"]["memory"].as_str().and_then(parse_quantity).unwrap_or(0.0);
        let node = nodes.iter().find(|n| render::name_of(n) == name);
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
    use super::*;

    #[test]
    fn quantities_in_base_units() {
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("1500000n"), Some(0.0015));
        assert_eq!(parse_quantity("128Mi"), Some(134217728.0));
        assert_eq!(parse_quantity("129e6"), Some(129e6));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("12x"), None);
        assert_eq!(cpu_text(0.0015), "2m");
        assert_eq!(cpu_text(0.0012), "2m", "rounded up, as kubectl does");
        assert_eq!(cpu_text(0.25), "250m");
        assert_eq!(memory_text(134217728.0 + 900_000.0), "128Mi", "rounded down");
        assert_eq!(memory_text(134217728.0), "128Mi");
    }
}
