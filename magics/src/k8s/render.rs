//! Rendering Kubernetes objects as MIME bundles: HTML tables with an aligned text/plain twin
//! (kubectl's columns), `-o yaml|json|name`, and the readable `describe` summary.
//! Pure: works on JSON values and a "now", so it is tested without a cluster.

use crate::builtin::escape_html;
use crate::sink::MimeBundle;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// A table with a header row; cells are plain text.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub headers: Vec<String>,
    pub rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&str]) -> Self {
        Self { headers: headers.iter().map(|h| h.to_string()).collect(), rows: Vec::new() }
    }

    /// Columns aligned the way kubectl aligns them: padded to the widest cell, three spaces apart.
    pub fn to_text(&self) -> String {
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
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
        line(&self.headers);
        for row in &self.rows {
            line(row);
        }
        out
    }

    pub fn to_html(&self) -> String {
        let mut html = String::from("<table class=\"kubernel-k8s\"><thead><tr>");
        for h in &self.headers {
            html.push_str(&format!("<th style=\"text-align:left\">{}</th>", escape_html(h)));
        }
        html.push_str("</tr></thead><tbody>");
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

/// kubectl's short human durations: 45s, 3m20s, 42m, 5h3m, 20h, 3d4h, 40d, 2y30d, 9y.
pub fn human_duration(seconds: i64) -> String {
    let s = seconds.max(0);
    let m = s / 60;
    let h = s / 3600;
    let d = h / 24;
    let y = d / 365;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        if s % 60 == 0 {
            format!("{m}m")
        } else {
            format!("{m}m{}s", s % 60)
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        if m % 60 == 0 {
            format!("{h}h")
        } else {
            format!("{h}h{}m", m % 60)
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 192 {
        if h % 24 == 0 {
            format!("{d}d")
        } else {
            format!("{d}d{}h", h % 24)
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if y < 8 {
        let rest = d % 365;
        if rest == 0 {
            format!("{y}y")
        } else {
            format!("{y}y{rest}d")
        }
    } else {
        format!("{y}y")
    }
}

fn parse_time(v: &Value) -> Option<DateTime<Utc>> {
    v.as_str().and_then(|t| DateTime::parse_from_rfc3339(t).ok()).map(|t| t.with_timezone(&Utc))
}

/// Age of an object from its creationTimestamp, `<unknown>` without one.
pub fn age(obj: &Value, now: DateTime<Utc>) -> String {
    match parse_time(&obj["metadata"]["creationTimestamp"]) {
        Some(t) => human_duration((now - t).num_seconds()),
        None => "<unknown>".to_string(),
    }
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn or_none(text: String) -> String {
    if text.is_empty() {
        "<none>".to_string()
    } else {
        text
    }
}

fn num(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

fn arr(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or(&[])
}

pub fn name_of(obj: &Value) -> String {
    s(&obj["metadata"]["name"])
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

fn pod_ready(o: &Value) -> String {
    let total = arr(&o["spec"]["containers"]).len();
    let ready = arr(&o["status"]["containerStatuses"]).iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
    format!("{ready}/{total}")
}

/// The STATUS column of kubectl for a pod: the most telling reason among phase, init and app
/// containers, and deletion.
/// kubectl's TARGETS of an autoscaling/v2 HPA: `cpu: 12%/50%` (`<unknown>` before the first
/// measurement).
fn hpa_targets(o: &Value) -> String {
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

fn pod_restarts(o: &Value, now: DateTime<Utc>) -> String {
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

fn containers(pod_spec: &Value) -> (String, String) {
    let cs = arr(&pod_spec["containers"]);
    let names: Vec<String> = cs.iter().map(|c| s(&c["name"])).collect();
    let images: Vec<String> = cs.iter().map(|c| s(&c["image"])).collect();
    (names.join(","), images.join(","))
}

/// `a=b,c=d` from a map of labels.
pub fn labels_text(map: &Value) -> String {
    map.as_object()
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", s(v))).collect::<Vec<_>>().join(","))
        .unwrap_or_default()
}

fn match_labels(selector: &Value) -> String {
    labels_text(&selector["matchLabels"])
}

fn service_ports(spec: &Value) -> String {
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

fn service_external_ip(o: &Value) -> String {
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

fn node_status(o: &Value) -> String {
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

fn node_roles(o: &Value) -> String {
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

fn node_address(o: &Value, kind: &str) -> String {
    arr(&o["status"]["addresses"]).iter().find(|a| a["type"] == kind).map(|a| s(&a["address"])).unwrap_or_default()
}

/// Strips what kubectl hides by default (managedFields) before -o yaml|json.
pub fn for_output(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// One object as itself, several as a `List`, as kubectl prints them.
pub fn as_document(objects: Vec<Value>, single: bool) -> Value {
    let mut objects: Vec<Value> = objects.into_iter().map(for_output).collect();
    if single && objects.len() == 1 {
        objects.remove(0)
    } else {
        json!({ "apiVersion": "v1", "kind": "List", "items": objects, "metadata": { "resourceVersion": "" } })
    }
}

pub fn json_bundle(doc: &Value) -> MimeBundle {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    MimeBundle::plain(text).with("application/json", doc.clone())
}

pub fn yaml_bundle(doc: &Value) -> MimeBundle {
    let text = serde_saphyr::to_string(doc).unwrap_or_else(|e| format!("# could not write YAML: {e}"));
    let html = format!("<pre>{}</pre>", escape_html(&text));
    MimeBundle::plain(text).with("text/html", html)
}

/// `-o name`: `kind.group/name`, as kubectl prints it.
pub fn names_bundle(kind: &str, group: &str, objects: &[Value]) -> MimeBundle {
    let prefix = if group.is_empty() { kind.to_ascii_lowercase() } else { format!("{}.{group}", kind.to_ascii_lowercase()) };
    let mut text = String::new();
    for o in objects {
        text.push_str(&format!("{prefix}/{}\n", name_of(o)));
    }
    MimeBundle::plain(text)
}

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
                        format!("{} bytes (base64)", text.len())
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

fn labels_lines(map: &Value) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-01-01T12:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn pod(name: &str, ready: bool, waiting: Option<&str>, restarts: i64) -> Value {
        let state = match waiting {
            Some(r) => json!({ "waiting": { "reason": r } }),
            None => json!({ "running": { "startedAt": "2026-01-01T11:00:00Z" } }),
        };
        json!({
            "metadata": { "name": name, "namespace": "demo", "creationTimestamp": "2026-01-01T11:55:00Z" },
            "spec": { "nodeName": "kubernel", "containers": [{ "name": "web", "image": "nginx" }] },
            "status": {
                "phase": if waiting.is_some() { "Pending" } else { "Running" },
                "podIP": "10.0.0.7",
                "containerStatuses": [{ "name": "web", "ready": ready, "restartCount": restarts, "state": state,
                    "lastState": if restarts > 0 { json!({ "terminated": { "finishedAt": "2026-01-01T11:58:00Z" } }) } else { json!({}) } }]
            }
        })
    }

    #[test]
    fn durations_like_kubectl() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(119), "119s");
        assert_eq!(human_duration(200), "3m20s");
        assert_eq!(human_duration(42 * 60), "42m");
        assert_eq!(human_duration(5 * 3600 + 180), "5h3m");
        assert_eq!(human_duration(20 * 3600), "20h");
        assert_eq!(human_duration(3 * 86400 + 4 * 3600), "3d4h");
        assert_eq!(human_duration(40 * 86400), "40d");
    }

    #[test]
    fn pod_table_text_and_html() {
        let pods = vec![pod("web-1", true, None, 0), pod("web-2-long-name", false, Some("ImagePullBackOff"), 3)];
        let t = table("pods", &pods, false, false, now());
        let text = t.to_text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "NAME              READY   STATUS             RESTARTS     AGE");
        assert_eq!(lines[1], "web-1             1/1     Running            0            5m");
        assert_eq!(lines[2], "web-2-long-name   0/1     ImagePullBackOff   3 (2m ago)   5m");
        let html = t.to_html();
        assert!(html.contains("<th style=\"text-align:left\">RESTARTS</th>"));
        assert!(html.contains("<td style=\"text-align:left\">ImagePullBackOff</td>"));
        let wide = table("pods", &pods, true, true, now());
        assert_eq!(wide.headers, vec!["NAMESPACE", "NAME", "READY", "STATUS", "RESTARTS", "AGE", "IP", "NODE"]);
        assert_eq!(wide.rows[0][0], "demo");
        assert_eq!(wide.rows[0][6], "10.0.0.7");
        assert_eq!(wide.rows[0][7], "kubernel");
    }

    #[test]
    fn deployment_service_node_namespace_columns() {
        let dep = json!({ "metadata": { "name": "web", "creationTimestamp": "2026-01-01T10:00:00Z" },
            "spec": { "replicas": 3, "selector": { "matchLabels": { "app": "web" } },
                      "template": { "spec": { "containers": [{ "name": "nginx", "image": "nginx" }] } } },
            "status": { "readyReplicas": 2, "updatedReplicas": 3, "availableReplicas": 2 } });
        let t = table("deployments", &[dep.clone()], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]);
        assert_eq!(t.rows[0], vec!["web", "2/3", "3", "2", "120m"]);
        let t = table("deployments", &[dep], true, false, now());
        assert_eq!(&t.rows[0][5..], &["nginx", "nginx", "app=web"]);

        let svc = json!({ "metadata": { "name": "web", "creationTimestamp": "2026-01-01T11:59:30Z" },
            "spec": { "type": "NodePort", "clusterIP": "10.96.0.12",
                      "ports": [{ "port": 80, "nodePort": 30080, "protocol": "TCP" }, { "port": 443 }] } });
        let t = table("services", &[svc], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]);
        assert_eq!(t.rows[0], vec!["web", "NodePort", "10.96.0.12", "<none>", "80:30080/TCP,443/TCP", "30s"]);

        let node = json!({ "metadata": { "name": "kubernel", "creationTimestamp": "2026-01-01T11:00:00Z",
                "labels": { "node-role.kubernetes.io/control-plane": "" } },
            "status": { "conditions": [{ "type": "Ready", "status": "True" }], "nodeInfo": { "kubeletVersion": "v1.36.3" } } });
        let t = table("nodes", &[node], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "STATUS", "ROLES", "AGE", "VERSION"]);
        assert_eq!(t.rows[0], vec!["kubernel", "Ready", "control-plane", "60m", "v1.36.3"]);

        let ns = json!({ "metadata": { "name": "default", "creationTimestamp": "2025-12-01T12:00:00Z" }, "status": { "phase": "Active" } });
        let t = table("namespaces", &[ns], false, false, now());
        assert_eq!(t.rows[0], vec!["default", "Active", "31d"]);

        let other = json!({ "metadata": { "name": "x" } });
        let t = table("widgets", &[other], false, false, now());
        assert_eq!(t.headers, vec!["NAME", "AGE"]);
        assert_eq!(t.rows[0], vec!["x", "<unknown>"]);
    }

    #[test]
    fn event_columns() {
        let e = json!({ "metadata": { "name": "web.1" }, "type": "Warning", "reason": "BackOff",
            "lastTimestamp": "2026-01-01T11:59:00Z", "message": "Back-off pulling image\n",
            "involvedObject": { "kind": "Pod", "name": "web-1" } });
        let t = table("events", &[e], false, false, now());
        assert_eq!(t.headers, vec!["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]);
        assert_eq!(t.rows[0], vec!["60s", "Warning", "BackOff", "pod/web-1", "Back-off pulling image"]);
    }

    #[test]
    fn pod_status_reasons() {
        let mut p = pod("a", false, None, 0);
        p["status"]["containerStatuses"][0]["state"] = json!({ "terminated": { "exitCode": 1, "reason": "Error" } });
        assert_eq!(pod_status(&p), "Error");
        p["metadata"]["deletionTimestamp"] = json!("2026-01-01T11:59:00Z");
        assert_eq!(pod_status(&p), "Terminating");
        let mut p = pod("b", false, None, 0);
        p["spec"]["initContainers"] = json!([{ "name": "init" }]);
        p["status"]["initContainerStatuses"] = json!([{ "name": "init", "state": { "running": {} } }]);
        assert_eq!(pod_status(&p), "Init:0/1");
    }

    #[test]
    fn output_formats() {
        let mut p = pod("a", true, None, 0);
        p["metadata"]["managedFields"] = json!([{ "manager": "kubernel" }]);
        let doc = as_document(vec![p.clone()], true);
        assert!(doc["metadata"].get("managedFields").is_none());
        let y = yaml_bundle(&doc);
        assert!(y.text().unwrap().contains("name: a"), "{}", y.text().unwrap());
        let list = as_document(vec![p.clone(), p.clone()], false);
        assert_eq!(list["kind"], "List");
        let j = json_bundle(&list);
        assert!(j.text().unwrap().contains("\"kind\": \"List\""));
        assert_eq!(names_bundle("Pod", "", &[p.clone()]).text().unwrap(), "pod/a\n");
        assert_eq!(names_bundle("Deployment", "apps", &[p]).text().unwrap(), "deployment.apps/a\n");
    }

    #[test]
    fn describe_a_pod() {
        let mut p = pod("web-1", true, None, 0);
        p["metadata"]["labels"] = json!({ "app": "web" });
        p["status"]["conditions"] = json!([{ "type": "Ready", "status": "True", "lastTransitionTime": "2026-01-01T11:56:00Z" }]);
        let events = vec![json!({ "type": "Normal", "reason": "Pulled", "message": "Image pulled",
            "lastTimestamp": "2026-01-01T11:56:00Z", "source": { "component": "kubelet" } })];
        let d = describe("Pod", &p, &events, now());
        let text = d.to_text();
        assert!(text.contains("Name:"), "{text}");
        assert!(text.contains("app=web"), "{text}");
        assert!(text.contains("CONTAINER"), "{text}");
        assert!(text.contains("Conditions:"), "{text}");
        assert!(text.contains("Pulled"), "{text}");
        assert!(text.contains("4m"), "{text}");
        let html = d.to_html();
        assert!(html.contains("<h5>Events</h5>"));
        assert!(!html.contains("<script"));
    }

    #[test]
    fn html_is_escaped() {
        let o = json!({ "metadata": { "name": "<b>x</b>" } });
        let html = table("widgets", &[o], false, false, now()).to_html();
        assert!(html.contains("&lt;b&gt;x&lt;/b&gt;"));
    }

    #[test]
    fn cluster_summary() {
        let node = json!({ "metadata": { "name": "kubernel", "creationTimestamp": "2026-01-01T11:00:00Z" },
            "status": { "capacity": { "cpu": "2", "memory": "4000Mi", "pods": "110" },
                        "conditions": [{ "type": "Ready", "status": "True" }], "nodeInfo": { "kubeletVersion": "v1.36.3" } } });
        let info = ClusterInfo {
            server: "https://10.0.0.1:6443".into(),
            version: "v1.36.3".into(),
            context: Some("kubernel".into()),
            user: None,
            namespace: "default".into(),
            nodes: vec![node],
            groups: vec![("apps".into(), vec!["v1".into()]), ("".into(), vec!["v1".into()]), ("autoscaling".into(), vec!["v2".into(), "v1".into()])],
        };
        let b = cluster_bundle(&info, now());
        let text = b.text().unwrap();
        assert!(text.contains("Server:    https://10.0.0.1:6443"), "{text}");
        assert!(text.contains("kubernel   Ready    <none>   v1.36.3   2     4000Mi   110    60m"), "{text}");
        assert!(text.contains("autoscaling   v2                  v1"), "{text}");
        assert!(text.contains("(core)"), "{text}");
        assert!(b.data["text/html"].as_str().unwrap().contains("<h5>Nodes (1)</h5>"));
    }
}
