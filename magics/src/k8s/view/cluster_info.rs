//! What `connect` shows: where we are, the nodes with their capacity, the API groups.

use super::fields::*;
use super::table::*;
use chrono::{DateTime, Utc};
use output::{escape_html, MimeBundle};
use serde_json::Value;

/// What `connect` learned about a cluster.
#[derive(Debug, Clone, Default)]
pub struct ClusterInfo {
    pub server: String,
    pub version: String,
    pub context: Option<String>,
    pub user: Option<String>,
    pub namespace: String,
    pub nodes: Vec<Value>,
    /// API groups ("" is core), preferred version first.
    pub groups: Vec<(String, Vec<String>)>,
}

/// The `connect` summary: where we are, the nodes with their capacity, the API groups.
pub fn cluster_bundle(info: &ClusterInfo, now: DateTime<Utc>) -> MimeBundle {
    let mut head = Vec::new();
    head.push(("Server", info.server.clone()));
    head.push(("Version", info.version.clone()));
    if let Some(c) = &info.context {
        head.push(("Context", c.clone()));
    }
    if let Some(u) = &info.user {
        head.push(("User", u.clone()));
    }
    head.push(("Namespace", info.namespace.clone()));
    let mut nodes = Table::new(&["NODE", "STATUS", "ROLES", "VERSION", "CPU", "MEMORY", "PODS", "AGE"]);
    for n in &info.nodes {
        let cap = &n["status"]["capacity"];
        nodes.rows.push(vec![
            name_of(n),
            node_status(n),
            node_roles(n),
            s(&n["status"]["nodeInfo"]["kubeletVersion"]),
            s(&cap["cpu"]),
            s(&cap["memory"]),
            s(&cap["pods"]),
            age(n, now),
        ]);
    }
    let mut groups = Table::new(&["API GROUP", "PREFERRED VERSION", "OTHER VERSIONS"]);
    let mut sorted = info.groups.clone();
    sorted.sort();
    for (g, versions) in &sorted {
        let name = if g.is_empty() { "(core)".to_string() } else { g.clone() };
        let preferred = versions.first().cloned().unwrap_or_default();
        let others = versions.iter().skip(1).cloned().collect::<Vec<_>>().join(",");
        groups.rows.push(vec![name, preferred, others]);
    }
    let width = head.iter().map(|(k, _)| k.len()).max().unwrap_or(0) + 2;
    let mut text = String::new();
    let mut html = String::from("<div class=\"kubernel-connect\"><table>");
    for (k, v) in &head {
        text.push_str(&format!("{:<width$}{v}\n", format!("{k}:")));
        html.push_str(&format!(
            "<tr><th style=\"text-align:left\">{k}</th><td style=\"text-align:left\">{}</td></tr>",
            escape_html(v)
        ));
    }
    html.push_str("</table>");
    text.push_str(&format!("\nNodes ({}):\n", info.nodes.len()));
    text.push_str(&nodes.to_text());
    text.push_str(&format!("\nAPI groups ({}):\n", sorted.len()));
    text.push_str(&groups.to_text());
    html.push_str(&format!("<h5>Nodes ({})</h5>{}", info.nodes.len(), nodes.to_html()));
    html.push_str(&format!(
        "<details><summary>API groups ({})</summary>{}</details></div>",
        sorted.len(),
        groups.to_html()
    ));
    MimeBundle::plain(text).with("text/html", html)
}
