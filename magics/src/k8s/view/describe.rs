//! `describe`: a readable summary of one object, in titled sections, with its recent events.

use super::fields::*;
use super::table::*;
use chrono::{DateTime, Utc};
use output::escape_html;
use serde_json::Value;

/// A readable summary: titled sections of key/value lines, some with a table.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Description {
    pub title: String,
    pub sections: Vec<Section>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Section {
    pub heading: String,
    pub fields: Vec<(String, String)>,
    pub table: Option<Table>,
}

impl Section {
    fn new(heading: &str) -> Self {
        Self { heading: heading.to_string(), ..Default::default() }
    }
    fn field(&mut self, key: &str, value: impl Into<String>) {
        let value = value.into();
        self.fields.push((key.to_string(), if value.is_empty() { "<none>".into() } else { value }));
    }
}

/// The `describe` summary of one object: metadata and labels, the highlights of its spec by
/// kind, status and conditions, and recent events (already fetched, oldest first).
pub fn describe(kind: &str, obj: &Value, events: &[Value], now: DateTime<Utc>) -> Description {
    let meta = &obj["metadata"];
    let mut d = Description { title: format!("{kind} {}", name_of(obj)), sections: Vec::new() };
    let mut m = Section::new("");
    m.field("Name", name_of(obj));
    if meta["namespace"].is_string() {
        m.field("Namespace", s(&meta["namespace"]));
    }
    m.field("Kind", kind);
    let created = s(&meta["creationTimestamp"]);
    m.field("Created", if created.is_empty() { String::new() } else { format!("{created} ({} ago)", age(obj, now)) });
    m.field("Labels", labels_lines(&meta["labels"]));
    let annotations: serde_json::Map<String, Value> = meta["annotations"]
        .as_object()
        .map(|a| a.iter().filter(|(k, _)| !k.ends_with("last-applied-configuration")).map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default();
    m.field("Annotations", labels_lines(&Value::Object(annotations)));
    if let Some(owner) = arr(&meta["ownerReferences"]).first() {
        m.field("Controlled By", format!("{}/{}", s(&owner["kind"]), s(&owner["name"])));
    }
    d.sections.push(m);

    let spec = &obj["spec"];
    let status = &obj["status"];
    match kind {
        "Pod" => {
            let mut sec = Section::new("Pod");
            sec.field("Node", s(&spec["nodeName"]));
            sec.field("Status", pod_status(obj));
            sec.field("IP", s(&status["podIP"]));
            sec.field("QoS Class", s(&status["qosClass"]));
            d.sections.push(sec);
            let mut t = Table::new(&["CONTAINER", "IMAGE", "STATE", "READY", "RESTARTS", "PORTS", "REQUESTS", "LIMITS"]);
            let statuses = arr(&status["containerStatuses"]);
            for c in arr(&spec["containers"]) {
                let st = statuses.iter().find(|x| x["name"] == c["name"]);
                let state = st
                    .and_then(|x| x["state"].as_object())
                    .and_then(|m| m.iter().next())
                    .map(|(k, v)| {
                        let reason = s(&v["reason"]);
                        if reason.is_empty() {
                            k.clone()
                        } else {
                            format!("{k} ({reason})")
                        }
                    })
                    .unwrap_or_default();
                let ports = arr(&c["ports"])
                    .iter()
                    .map(|p| format!("{}/{}", num(&p["containerPort"]), p["protocol"].as_str().unwrap_or("TCP")))
                    .collect::<Vec<_>>()
                    .join(",");
                t.rows.push(vec![
                    s(&c["name"]),
                    s(&c["image"]),
                    or_none(state),
                    st.map(|x| s(&x["ready"])).unwrap_or_default(),
                    st.map(|x| num(&x["restartCount"]).to_string()).unwrap_or_default(),
                    or_none(ports),
                    or_none(labels_text(&c["resources"]["requests"])),
                    or_none(labels_text(&c["resources"]["limits"])),
                ]);
            }
            d.sections.push(Section { heading: "Containers".into(), fields: vec![], table: Some(t) });
        }
        "Deployment" | "StatefulSet" | "ReplicaSet" | "DaemonSet" => {
            let mut sec = Section::new(kind);
            if spec["replicas"].is_number() {
                sec.field(
                    "Replicas",
                    format!(
                        "{} desired | {} updated | {} total | {} ready | {} available",
                        num(&spec["replicas"]),
                        num(&status["updatedReplicas"]),
                        num(&status["replicas"]),
                        num(&status["readyReplicas"]),
                        num(&status["availableReplicas"])
                    ),
                );
            }
            sec.field("Selector", match_labels(&spec["selector"]));
            if spec["strategy"]["type"].is_string() {
                sec.field("Strategy", s(&spec["strategy"]["type"]));
            }
            let (names, images) = containers(&spec["template"]["spec"]);
            sec.field("Containers", names);
            sec.field("Images", images);
            d.sections.push(sec);
        }
        "Service" => {
            let mut sec = Section::new("Service");
            sec.field("Type", s(&spec["type"]));
            sec.field("Cluster IP", s(&spec["clusterIP"]));
            sec.field("External IP", service_external_ip(obj));
            sec.field("Ports", service_ports(spec));
            sec.field("Selector", labels_text(&spec["selector"]));
            d.sections.push(sec);
        }
        "Node" => {
            let mut sec = Section::new("Node");
            sec.field("Status", node_status(obj));
            sec.field("Roles", node_roles(obj));
            sec.field("Internal IP", node_address(obj, "InternalIP"));
            let info = &status["nodeInfo"];
            sec.field("Kubelet", s(&info["kubeletVersion"]));
            sec.field("OS", format!("{} ({})", s(&info["osImage"]), s(&info["kernelVersion"])));
            sec.field("Runtime", s(&info["containerRuntimeVersion"]));
            sec.field("Capacity", labels_text(&status["capacity"]).replace(',', ", "));
            sec.field("Allocatable", labels_text(&status["allocatable"]).replace(',', ", "));
            d.sections.push(sec);
        }
        "ConfigMap" | "Secret" => {
            let mut sec = Section::new("Data");
            if let Some(data) = obj["data"].as_object() {
                for (k, v) in data {
                    let text = s(v);
                    let shown = if kind == "Secret" {
                        // The value's own size, as kubectl shows it, not its base64 text's.
                        format!("{} bytes", base64_decoded_len(&text))
                    } else if text.chars().count() > 200 {
                        format!("{}... ({} bytes)", text.chars().take(200).collect::<String>(), text.len())
                    } else {
                        text
                    };
                    sec.field(k, shown);
                }
            }
            if sec.fields.is_empty() {
                sec.field("(no data)", "");
            }
            d.sections.push(sec);
        }
        _ => {
            if let Some(spec) = spec.as_object() {
                let mut sec = Section::new("Spec");
                for (k, v) in spec {
                    let text = match v {
                        Value::Object(_) | Value::Array(_) => {
                            let t = v.to_string();
                            if t.chars().count() > 120 {
                                format!("{}...", t.chars().take(120).collect::<String>())
                            } else {
                                t
                            }
                        }
                        other => s(other),
                    };
                    sec.field(k, text);
                }
                d.sections.push(sec);
            }
        }
    }

    // Status: phase and conditions.
    let conditions = arr(&status["conditions"]);
    if !conditions.is_empty() {
        let mut t = Table::new(&["TYPE", "STATUS", "REASON", "MESSAGE", "LAST CHANGE"]);
        for c in conditions {
            let when = parse_time(&c["lastTransitionTime"]).map(|t| format!("{} ago", human_duration((now - t).num_seconds())));
            t.rows.push(vec![s(&c["type"]), s(&c["status"]), s(&c["reason"]), s(&c["message"]), when.unwrap_or_default()]);
        }
        d.sections.push(Section { heading: "Conditions".into(), fields: vec![], table: Some(t) });
    }

    let mut t = Table::new(&["TYPE", "REASON", "AGE", "FROM", "MESSAGE"]);
    for e in events.iter().rev().take(10).collect::<Vec<_>>().into_iter().rev() {
        let when = ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| parse_time(&e[*k]))
            .or_else(|| parse_time(&e["metadata"]["creationTimestamp"]));
        let count = num(&e["count"]);
        let age = when.map(|t| human_duration((now - t).num_seconds())).unwrap_or_default();
        let age = if count > 1 { format!("{age} (x{count})") } else { age };
        let from = if e["source"]["component"].is_string() { s(&e["source"]["component"]) } else { s(&e["reportingComponent"]) };
        t.rows.push(vec![s(&e["type"]), s(&e["reason"]), age, from, s(&e["message"]).trim().to_string()]);
    }
    if t.rows.is_empty() {
        let mut sec = Section::new("Events");
        sec.fields.push(("(none)".into(), String::new()));
        d.sections.push(sec);
    } else {
        d.sections.push(Section { heading: "Events".into(), fields: vec![], table: Some(t) });
    }
    d
}

pub(crate) fn labels_lines(map: &Value) -> String {
    map.as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect::<Vec<_>>().join("\n"))
        .unwrap_or_default()
}

impl Description {
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for sec in &self.sections {
            let indent = if sec.heading.is_empty() { "" } else { "  " };
            if !sec.heading.is_empty() {
                out.push_str(&format!("{}:\n", sec.heading));
            }
            let width = sec.fields.iter().map(|(k, _)| k.chars().count()).max().unwrap_or(0) + 2;
            for (k, v) in &sec.fields {
                if v.is_empty() {
                    out.push_str(&format!("{indent}{k}\n"));
                    continue;
                }
                let mut lines = v.lines();
                let first = lines.next().unwrap_or_default();
                out.push_str(&format!("{indent}{:<width$}{first}\n", format!("{k}:")));
                for more in lines {
                    out.push_str(&format!("{indent}{:<width$}{more}\n", ""));
                }
            }
            if let Some(t) = &sec.table {
                for line in t.to_text().lines() {
                    out.push_str(&format!("  {line}\n"));
                }
            }
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut html = format!("<div class=\"kubernel-describe\"><h4>{}</h4>", escape_html(&self.title));
        for sec in &self.sections {
            if !sec.heading.is_empty() {
                html.push_str(&format!("<h5>{}</h5>", escape_html(&sec.heading)));
            }
            if !sec.fields.is_empty() {
                html.push_str("<table>");
                for (k, v) in &sec.fields {
                    html.push_str(&format!(
                        "<tr><th style=\"text-align:left;vertical-align:top\">{}</th><td style=\"text-align:left\">{}</td></tr>",
                        escape_html(k),
                        escape_html(v).replace('\n', "<br>")
                    ));
                }
                html.push_str("</table>");
            }
            if let Some(t) = &sec.table {
                html.push_str(&t.to_html());
            }
        }
        html.push_str("</div>");
        html
    }
}

/// How many bytes a base64 text holds.
fn base64_decoded_len(text: &str) -> usize {
    let digits = text.bytes().filter(|b| b.is_ascii_alphanumeric() || *b == b'+' || *b == b'/').count();
    digits * 3 / 4
}
