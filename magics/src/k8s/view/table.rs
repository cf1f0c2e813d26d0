//! Tables: HTML with an aligned text/plain twin, and kubectl's columns for the built-in kinds.

use super::fields::*;
use chrono::{DateTime, Utc};
use output::{escape_html, MimeBundle};
use serde_json::Value;

/// A table with a header row; cells are plain text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
    /// `--no-headers`: the rows alone.
    pub no_headers: bool,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new(), no_headers: false }
    }

    /// Columns aligned the way kubectl aligns them: padded to the widest cell, three spaces apart.
    pub fn to_text(&self) -> String {
        let mut widths: Vec<usize> =
            self.headers.iter().map(|h| if self.no_headers { 0 } else { h.chars().count() }).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if i < widths.len() {
                    widths[i] = widths[i].max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        let mut line = |cells: &[String]| {
            let mut text = String::new();
            for (i, cell) in cells.iter().enumerate() {
                if i + 1 == cells.len() {
                    text.push_str(cell);
                } else {
                    text.push_str(cell);
                    text.push_str(&" ".repeat(widths[i] - cell.chars().count() + 3));
                }
            }
            out.push_str(text.trim_end());
            out.push('\n');
        };
        if !self.no_headers {
            line(&self.headers);
        }
        for row in &self.rows {
            line(row);
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut html = String::from("<table class=\"kubernel-k8s\">");
        if !self.no_headers {
            html.push_str("<thead><tr>");
            for h in &self.headers {
                html.push_str(&format!("<th style=\"text-align:left\">{}</th>", escape_html(h)));
            }
            html.push_str("</tr></thead>");
        }
        html.push_str("<tbody>");
        for row in &self.rows {
            html.push_str("<tr>");
            for cell in row {
                html.push_str(&format!("<td style=\"text-align:left\">{}</td>", escape_html(cell)));
            }
            html.push_str("</tr>");
        }
        html.push_str("</tbody></table>");
        html
    }

    pub fn bundle(&self) -> MimeBundle {
        MimeBundle::plain(self.to_text()).with("text/html", self.to_html())
    }
}

/// The kinds with columns of our own; the server prints the others (see [`from_server`]).
pub const OWN_COLUMNS: &[&str] = &[
    "pods",
    "deployments",
    "replicasets",
    "services",
    "nodes",
    "namespaces",
    "configmaps",
    "secrets",
    "events",
    "horizontalpodautoscalers",
];

/// A table the server printed (meta.k8s.io Table), as kubectl shows it: column names in capitals,
/// the priority-0 columns (all with `wide`), a row for each object `keep` accepts.
pub fn from_server(table: &Value, wide: bool, with_namespace: bool, keep: impl Fn(&Value) -> bool) -> Table {
    let columns: Vec<(usize, String)> = arr(&table["columnDefinitions"])
        .iter()
        .enumerate()
        .filter(|(_, c)| wide || c["priority"].as_i64().unwrap_or(0) == 0)
        .map(|(i, c)| (i, s(&c["name"]).to_uppercase()))
        .collect();
    let mut headers: Vec<&str> = columns.iter().map(|(_, name)| name.as_str()).collect();
    if with_namespace {
        headers.insert(0, "NAMESPACE");
    }
    let mut t = Table::new(&headers);
    for row in arr(&table["rows"]).iter().filter(|r| keep(&r["object"])) {
        let cells = arr(&row["cells"]);
        let mut out: Vec<String> = columns
            .iter()
            .map(|(i, _)| match cells.get(*i) {
                None | Some(Value::Null) => "<none>".to_string(),
                Some(v) => or_none(s(v)),
            })
            .collect();
        if with_namespace {
            out.insert(0, s(&row["object"]["metadata"]["namespace"]));
        }
        t.rows.push(out);
    }
    t
}

/// The columns of a `get` table for the resource `plural` (e.g. "pods").
pub fn table(plural: &str, objects: &[Value], wide: bool, with_namespace: bool, now: DateTime<Utc>) -> Table {
    let (mut headers, row_of): (Vec<&str>, Box<dyn Fn(&Value) -> Vec<String>>) = match plural {
        "pods" => {
            let mut h = vec!["NAME", "READY", "STATUS", "RESTARTS", "AGE"];
            if wide {
                h.extend(["IP", "NODE"]);
            }
            (
                h,
                Box::new(move |o| {
                    let mut r = vec![name_of(o), pod_ready(o), pod_status(o), pod_restarts(o, now), age(o, now)];
                    if wide {
                        r.push(or_none(s(&o["status"]["podIP"])));
                        r.push(or_none(s(&o["spec"]["nodeName"])));
                    }
                    r
                }),
            )
        }
        "deployments" => {
            let mut h = vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"];
            if wide {
                h.extend(["CONTAINERS", "IMAGES", "SELECTOR"]);
            }
            (
                h,
                Box::new(move |o| {
                    let st = &o["status"];
                    let desired = o["spec"]["replicas"].as_i64().unwrap_or(1);
                    let mut r = vec![
                        name_of(o),
                        format!("{}/{}", num(&st["readyReplicas"]), desired),
                        num(&st["updatedReplicas"]).to_string(),
                        num(&st["availableReplicas"]).to_string(),
                        age(o, now),
                    ];
                    if wide {
                        let (names, images) = containers(&o["spec"]["template"]["spec"]);
                        r.push(names);
                        r.push(images);
                        r.push(or_none(match_labels(&o["spec"]["selector"])));
                    }
                    r
                }),
            )
        }
        "replicasets" => (
            vec!["NAME", "DESIRED", "CURRENT", "READY", "AGE"],
            Box::new(move |o| {
                vec![
                    name_of(o),
                    num(&o["spec"]["replicas"]).to_string(),
                    num(&o["status"]["replicas"]).to_string(),
                    num(&o["status"]["readyReplicas"]).to_string(),
                    age(o, now),
                ]
            }),
        ),
        "services" => {
            let mut h = vec!["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"];
            if wide {
                h.push("SELECTOR");
            }
            (
                h,
                Box::new(move |o| {
                    let spec = &o["spec"];
                    let mut r = vec![
                        name_of(o),
                        s(&spec["type"]),
                        or_none(s(&spec["clusterIP"])),
                        service_external_ip(o),
                        or_none(service_ports(spec)),
                        age(o, now),
                    ];
                    if wide {
                        r.push(or_none(labels_text(&spec["selector"])));
                    }
                    r
                }),
            )
        }
        "nodes" => {
            let mut h = vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"];
            if wide {
                h.extend(["INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"]);
            }
            (
                h,
                Box::new(move |o| {
                    let info = &o["status"]["nodeInfo"];
                    let mut r = vec![name_of(o), node_status(o), node_roles(o), age(o, now), s(&info["kubeletVersion"])];
                    if wide {
                        r.push(or_none(node_address(o, "InternalIP")));
                        r.push(or_none(node_address(o, "ExternalIP")));
                        r.push(s(&info["osImage"]));
                        r.push(s(&info["kernelVersion"]));
                        r.push(s(&info["containerRuntimeVersion"]));
                    }
                    r
                }),
            )
        }
        "namespaces" => (
            vec!["NAME", "STATUS", "AGE"],
            Box::new(move |o| vec![name_of(o), s(&o["status"]["phase"]), age(o, now)]),
        ),
        "configmaps" => (
            vec!["NAME", "DATA", "AGE"],
            Box::new(move |o| {
                let n = o["data"].as_object().map_or(0, |m| m.len()) + o["binaryData"].as_object().map_or(0, |m| m.len());
                vec![name_of(o), n.to_string(), age(o, now)]
            }),
        ),
        "secrets" => (
            vec!["NAME", "TYPE", "DATA", "AGE"],
            Box::new(move |o| {
                vec![name_of(o), s(&o["type"]), o["data"].as_object().map_or(0, |m| m.len()).to_string(), age(o, now)]
            }),
        ),
        "events" => (
            vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"],
            Box::new(move |o| {
                let when = ["lastTimestamp", "eventTime", "firstTimestamp"]
                    .iter()
                    .find_map(|k| parse_time(&o[*k]))
                    .or_else(|| parse_time(&o["metadata"]["creationTimestamp"]));
                let involved = &o["involvedObject"];
                vec![
                    when.map(|t| human_duration((now - t).num_seconds())).unwrap_or_else(|| "<unknown>".into()),
                    s(&o["type"]),
                    s(&o["reason"]),
                    format!("{}/{}", s(&involved["kind"]).to_ascii_lowercase(), s(&involved["name"])),
                    s(&o["message"]).trim().to_string(),
                ]
            }),
        ),
        "horizontalpodautoscalers" => (
            vec!["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"],
            Box::new(move |o| {
                let target = &o["spec"]["scaleTargetRef"];
                vec![
                    name_of(o),
                    format!("{}/{}", s(&target["kind"]), s(&target["name"])),
                    hpa_targets(o),
                    o["spec"]["minReplicas"].as_i64().unwrap_or(1).to_string(),
                    num(&o["spec"]["maxReplicas"]).to_string(),
                    num(&o["status"]["currentReplicas"]).to_string(),
                    age(o, now),
                ]
            }),
        ),
        _ => (vec!["NAME", "AGE"], Box::new(move |o| vec![name_of(o), age(o, now)])),
    };
    if with_namespace {
        headers.insert(0, "NAMESPACE");
    }
    let mut t = Table::new(&headers);
    for o in objects {
        let mut row = row_of(o);
        if with_namespace {
            row.insert(0, s(&o["metadata"]["namespace"]));
        }
        t.rows.push(row);
    }
    t
}

pub(crate) fn pod_ready(o: &Value) -> String {
    let total = arr(&o["spec"]["containers"]).len();
    let ready = arr(&o["status"]["containerStatuses"]).iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
    format!("{ready}/{total}")
}

/// The STATUS column of kubectl for a pod: the most telling reason among phase, init and app
/// containers, and deletion.
/// kubectl's TARGETS of an autoscaling/v2 HPA: `cpu: 12%/50%` (`<unknown>` before the first
/// measurement).
pub(crate) fn hpa_targets(o: &Value) -> String {
    let current = o["status"]["currentMetrics"].as_array().cloned().unwrap_or_default();
    let parts: Vec<String> = o["spec"]["metrics"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["type"] == "Resource")
        .map(|m| {
            let name = s(&m["resource"]["name"]);
            let want = &m["resource"]["target"];
            let now = current
                .iter()
                .find(|c| c["type"] == "Resource" && c["resource"]["name"] == m["resource"]["name"])
                .map(|c| &c["resource"]["current"]);
            match want["averageUtilization"].as_i64() {
                Some(pct) => {
                    let got = now.and_then(|c| c["averageUtilization"].as_i64()).map_or("<unknown>".to_string(), |v| format!("{v}%"));
                    format!("{name}: {got}/{pct}%")
                }
                None => {
                    let got = now.and_then(|c| c["averageValue"].as_str()).unwrap_or("<unknown>");
                    format!("{name}: {got}/{}", s(&want["averageValue"]))
                }
            }
        })
        .collect();
    if parts.is_empty() {
        "<none>".into()
    } else {
        parts.join(", ")
    }
}

pub fn pod_status(o: &Value) -> String {
    let st = &o["status"];
    let mut reason = s(&st["reason"]);
    if reason.is_empty() {
        reason = s(&st["phase"]);
    }
    let inits = arr(&st["initContainerStatuses"]);
    let init_total = arr(&o["spec"]["initContainers"]).len();
    let mut initializing = false;
    for (i, c) in inits.iter().enumerate() {
        let term = &c["state"]["terminated"];
        let wait = &c["state"]["waiting"];
        if term.is_object() && num(&term["exitCode"]) == 0 {
            continue;
        }
        initializing = true;
        reason = if term.is_object() {
            let r = s(&term["reason"]);
            if r.is_empty() {
                format!("Init:ExitCode:{}", num(&term["exitCode"]))
            } else {
                format!("Init:{r}")
            }
        } else if wait.is_object() && !s(&wait["reason"]).is_empty() && s(&wait["reason"]) != "PodInitializing" {
            format!("Init:{}", s(&wait["reason"]))
        } else {
            format!("Init:{i}/{init_total}")
        };
        break;
    }
    if !initializing {
        let mut has_running = false;
        for c in arr(&st["containerStatuses"]).iter().rev() {
            let state = &c["state"];
            if !s(&state["waiting"]["reason"]).is_empty() {
                reason = s(&state["waiting"]["reason"]);
            } else if state["terminated"].is_object() {
                let r = s(&state["terminated"]["reason"]);
                reason = if !r.is_empty() {
                    r
                } else if !s(&state["terminated"]["signal"]).is_empty() && num(&state["terminated"]["signal"]) != 0 {
                    format!("Signal:{}", num(&state["terminated"]["signal"]))
                } else {
                    format!("ExitCode:{}", num(&state["terminated"]["exitCode"]))
                };
            } else if state["running"].is_object() && c["ready"].as_bool() == Some(true) {
                has_running = true;
            }
        }
        if reason == "Completed" && has_running {
            reason = "Running".into();
        }
    }
    if o["metadata"]["deletionTimestamp"].is_string() {
        reason = if s(&st["reason"]) == "NodeLost" { "Unknown".into() } else { "Terminating".into() };
    }
    reason
}

pub(crate) fn pod_restarts(o: &Value, now: DateTime<Utc>) -> String {
    let mut total = 0;
    let mut last: Option<DateTime<Utc>> = None;
    for c in arr(&o["status"]["containerStatuses"]) {
        total += num(&c["restartCount"]);
        if let Some(t) = parse_time(&c["lastState"]["terminated"]["finishedAt"]) {
            last = Some(last.map_or(t, |l| l.max(t)));
        }
    }
    match last {
        Some(t) if total > 0 => format!("{total} ({} ago)", human_duration((now - t).num_seconds())),
        _ => total.to_string(),
    }
}

pub(crate) fn containers(pod_spec: &Value) -> (String, String) {
    let cs = arr(&pod_spec["containers"]);
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

/// `a=b,c=d` from a map of labels.

pub(crate) fn match_labels(selector: &Value) -> String {
    labels_text(&selector["matchLabels"])
}

pub(crate) fn service_ports(spec: &Value) -> String {
    arr(&spec["ports"])
        .iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64() {
                Some(np) => format!("{}:{np}/{proto}", num(&p["port"])),
                None => format!("{}/{proto}", num(&p["port"])),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub(crate) fn service_external_ip(o: &Value) -> String {
    let spec = &o["spec"];
    let mut ips: Vec<String> = arr(&spec["externalIPs"]).iter().map(s).collect();
    match spec["type"].as_str() {
        Some("ExternalName") => return s(&spec["externalName"]),
        Some("LoadBalancer") => {
            for ing in arr(&o["status"]["loadBalancer"]["ingress"]) {
                let v = if ing["ip"].is_string() { s(&ing["ip"]) } else { s(&ing["hostname"]) };
                if !v.is_empty() {
                    ips.push(v);
                }
            }
            if ips.is_empty() {
                return "<pending>".into();
            }
        }
        _ => {}
    }
    or_none(ips.join(","))
}

pub(crate) fn node_status(o: &Value) -> String {
    let ready = arr(&o["status"]["conditions"]).iter().find(|c| c["type"] == "Ready");
    let mut status = match ready.map(|c| s(&c["status"])) {
        Some(v) if v == "True" => "Ready".to_string(),
        Some(_) => "NotReady".to_string(),
        None => "Unknown".to_string(),
    };
    if o["spec"]["unschedulable"].as_bool() == Some(true) {
        status.push_str(",SchedulingDisabled");
    }
    status
}

pub(crate) fn node_roles(o: &Value) -> String {
    let mut roles: Vec<String> = o["metadata"]["labels"]
        .as_object()
        .map(|m| {
            m.keys()
                .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/").map(str::to_string))
                .filter(|r| !r.is_empty())
                .collect()
        })
        .unwrap_or_default();
    roles.sort();
    or_none(roles.join(","))
}

pub(crate) fn node_address(o: &Value, kind: &str) -> String {
    arr(&o["status"]["addresses"]).iter().find(|a| a["type"] == kind).map(|a| s(&a["address"])).unwrap_or_default()
}
