//! The cluster operations behind the verbs: connect, use, get, describe, apply, delete. They
//! talk to the API server through kube and hand JSON values to `render`.

use super::args::{Args, Output};
use super::client::{self, Conn, Kind, Target, CONNECT_TIMEOUT};
use super::manifest::{self, Doc};
use super::render;
use crate::registry::{MagicError, MagicOutput};
use crate::sink::{MimeBundle, OutputSink, StreamName};
use chrono::Utc;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, Patch, PatchParams};
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, OnceLock};

pub const FIELD_MANAGER: &str = "kubernel";
pub const MANAGED_BY: (&str, &str) = ("app.kubernetes.io/managed-by", "kubernel");
pub const SESSION_LABEL: &str = "kubernel.io/session";
/// What `rollout history` shows for a revision (kubectl's annotation).
pub const CHANGE_CAUSE: &str = "kubernetes.io/change-cause";

/// The id of this kernel process, put on everything it creates.
pub fn session_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| uuid::Uuid::new_v4().to_string())
}

/// The connection of a kernel session: made on first use, replaced by `connect` and `use`.
#[derive(Default)]
pub struct Session {
    conn: tokio::sync::Mutex<Option<Arc<Conn>>>,
    /// `use namespace` on top of the connection's default.
    namespace: Mutex<Option<String>>,
    /// The `port-forward`s running in the background.
    pub forwards: super::exec::Forwards,
}

impl Session {
    /// The current connection, connecting lazily (KUBECONFIG or in-cluster) on first use.
    pub async fn conn(&self) -> Result<Arc<Conn>, MagicError> {
        let mut guard = self.conn.lock().await;
        if let Some(c) = guard.as_ref() {
            return Ok(c.clone());
        }
        let conn = Arc::new(probe(client::connect(&Target::default()).await?).await?);
        *guard = Some(conn.clone());
        Ok(conn)
    }

    /// The connection if there is one, without connecting (for completion).
    pub async fn existing(&self) -> Option<Arc<Conn>> {
        self.conn.lock().await.clone()
    }

    pub fn namespace(&self, conn: &Conn) -> String {
        self.namespace.lock().unwrap().clone().unwrap_or_else(|| conn.namespace.clone())
    }

    /// The connection for one call: the session's, or a one-off one for --context/--kubeconfig.
    pub(super) async fn for_call(&self, a: &Args) -> Result<(Arc<Conn>, String), MagicError> {
        if a.context.is_some() || a.kubeconfig.is_some() {
            let current = self.existing().await;
            let target = Target {
                context: a.context.clone(),
                kubeconfig: a.kubeconfig.clone().or_else(|| current.as_ref().and_then(|c| c.kubeconfig.clone())),
                namespace: None,
            };
            let conn = Arc::new(probe(client::connect(&target).await?).await?);
            let ns = a.namespace.clone().unwrap_or_else(|| conn.namespace.clone());
            return Ok((conn, ns));
        }
        let conn = self.conn().await?;
        let ns = a.namespace.clone().unwrap_or_else(|| self.namespace(&conn));
        Ok((conn, ns))
    }
}

/// Checks that the server answers (within 10 s) before a connection is used.
async fn probe(conn: Conn) -> Result<Conn, MagicError> {
    let client = conn.client.clone();
    match tokio::time::timeout(CONNECT_TIMEOUT, client.apiserver_version()).await {
        Ok(Ok(_)) => Ok(conn),
        Ok(Err(e)) => Err(conn.explain("connect", e)),
        Err(_) => Err(MagicError::new(
            "Unreachable",
            format!("cannot reach the Kubernetes API server at {} within {} s", conn.server, CONNECT_TIMEOUT.as_secs()),
        )),
    }
}

pub(super) fn api_for(conn: &Conn, kind: &Kind, ns: Option<&str>) -> Api<DynamicObject> {
    let ar = kind.api_resource();
    match (kind.namespaced, ns) {
        (true, Some(ns)) => Api::namespaced_with(conn.client.clone(), ns, &ar),
        _ => Api::all_with(conn.client.clone(), &ar),
    }
}

pub(super) fn to_value(obj: DynamicObject, ar: &ApiResource) -> Value {
    let mut v = serde_json::to_value(obj).unwrap_or(Value::Null);
    if let Some(m) = v.as_object_mut() {
        m.entry("apiVersion").or_insert_with(|| json!(ar.api_version));
        m.entry("kind").or_insert_with(|| json!(ar.kind));
        if m.get("apiVersion").is_some_and(Value::is_null) {
            m.insert("apiVersion".into(), json!(ar.api_version));
        }
        if m.get("kind").is_some_and(Value::is_null) {
            m.insert("kind".into(), json!(ar.kind));
        }
    }
    v
}

pub(super) fn result(bundle: MimeBundle) -> Result<MagicOutput, MagicError> {
    Ok(MagicOutput::Result(bundle))
}

// ---- connect / use ------------------------------------------------------------------------

pub async fn connect(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let target = Target { context: a.context.clone(), kubeconfig: a.kubeconfig.clone(), namespace: a.namespace.clone() };
    let conn = Arc::new(probe(client::connect(&target).await?).await?);
    let bundle = summary(&conn, &conn.namespace).await?;
    *session.conn.lock().await = Some(conn);
    *session.namespace.lock().unwrap() = None;
    result(bundle)
}

async fn summary(conn: &Conn, namespace: &str) -> Result<MimeBundle, MagicError> {
    let version = conn.call("read the server version", conn.client.apiserver_version()).await?;
    let catalog = conn.catalog().await?;
    let nodes_kind = catalog.resolve("nodes")?;
    let ar = nodes_kind.api_resource();
    let nodes = conn.call("list nodes", api_for(conn, nodes_kind, None).list(&ListParams::default())).await?;
    let info = render::ClusterInfo {
        server: conn.server.clone(),
        version: version.git_version,
        context: conn.context.clone(),
        user: conn.user.clone(),
        namespace: namespace.to_string(),
        nodes: nodes.items.into_iter().map(|o| to_value(o, &ar)).collect(),
        groups: catalog.groups.clone(),
    };
    Ok(render::cluster_bundle(&info, Utc::now()))
}

pub async fn use_(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (what, name) = (a.positional[0].as_str(), a.positional[1].clone());
    match what {
        "namespace" => {
            let conn = session.conn().await?;
            // Say so if it does not exist (kubectl would not), but switch anyway.
            let catalog = conn.catalog().await?;
            let ns_kind = catalog.resolve("namespaces")?;
            let exists = api_for(&conn, ns_kind, None).get_opt(&name).await.ok().flatten().is_some();
            *session.namespace.lock().unwrap() = Some(name.clone());
            let note = if exists { String::new() } else { " (it does not exist yet)".to_string() };
            sink.stream(StreamName::Stdout, &format!("namespace is now {name}{note}\n"));
            Ok(MagicOutput::None)
        }
        _ => {
            let current = session.existing().await;
            let target = Target {
                context: Some(name.clone()),
                kubeconfig: current.as_ref().and_then(|c| c.kubeconfig.clone()),
                namespace: None,
            };
            let conn = Arc::new(probe(client::connect(&target).await?).await?);
            sink.stream(
                StreamName::Stdout,
                &format!("context is now {name}: {} (namespace {})\n", conn.server, conn.namespace),
            );
            *session.conn.lock().await = Some(conn);
            *session.namespace.lock().unwrap() = None;
            Ok(MagicOutput::None)
        }
    }
}

// ---- get / describe -----------------------------------------------------------------------

/// The objects named by kind + names / -l / all, as JSON values.
async fn fetch(conn: &Conn, ns: &str, a: &Args) -> Result<(Kind, Vec<Value>), MagicError> {
    let kind = conn.kind(&a.positional[0]).await?;
    let ar = kind.api_resource();
    let names = &a.positional[1..];
    let mut objects = Vec::new();
    if names.is_empty() {
        let api = api_for(conn, &kind, if a.all_namespaces { None } else { Some(ns) });
        let mut lp = ListParams::default();
        if let Some(sel) = &a.selector {
            lp = lp.labels(sel);
        }
        let list = conn.call(&format!("list {}", kind.plural), api.list(&lp)).await?;
        objects.extend(list.items.into_iter().map(|o| to_value(o, &ar)));
    } else {
        let api = api_for(conn, &kind, Some(ns));
        for name in names {
            let obj = conn.call(&format!("get {} {name}", kind.plural), api.get(name)).await?;
            objects.push(to_value(obj, &ar));
        }
    }
    Ok((kind, objects))
}

fn nothing_found(kind: &Kind, ns: &str, a: &Args) -> MimeBundle {
    let text = if kind.namespaced && !a.all_namespaces {
        format!("No resources found in {ns} namespace.")
    } else {
        "No resources found.".to_string()
    };
    MimeBundle::plain(text.clone()).with("text/html", format!("<i>{}</i>", crate::builtin::escape_html(&text)))
}

pub async fn get(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    if a.watch {
        return watch(&conn, &ns, a, sink).await;
    }
    let kinds: Vec<&str> = a.positional[0].split(',').filter(|k| !k.is_empty()).collect();
    if kinds.len() > 1 {
        return get_several(&conn, &ns, a, &kinds).await;
    }
    let (kind, objects) = fetch(&conn, &ns, a).await?;
    let single = a.positional.len() == 2;
    if objects.is_empty() && matches!(a.output, Output::Table | Output::Wide | Output::Name) {
        return result(nothing_found(&kind, &ns, a));
    }
    let bundle = match a.output {
        Output::Table | Output::Wide => {
            let with_ns = a.all_namespaces && kind.namespaced;
            render::table(&kind.plural, &objects, a.output == Output::Wide, with_ns, Utc::now()).bundle()
        }
        Output::Yaml => render::yaml_bundle(&render::as_document(objects, single)),
        Output::Json => render::json_bundle(&render::as_document(objects, single)),
        Output::Name => render::names_bundle(&kind.kind, &kind.group, &objects),
    };
    result(bundle)
}

/// `get -w`: a table shown once and updated in place (update_display_data) as the watch reports
/// changes, until `--timeout` or an interrupt. Updates are sent at most every 250 ms.
async fn watch(conn: &Conn, ns: &str, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    use futures::StreamExt;
    use kube::api::{WatchEvent, WatchParams};
    use std::collections::BTreeMap;
    use std::time::Duration;
    use tokio::time::Instant;

    let kind = conn.kind(&a.positional[0]).await?;
    let ar = kind.api_resource();
    let api = api_for(conn, &kind, if a.all_namespaces { None } else { Some(ns) });
    let mut fields = String::new();
    if let Some(name) = a.positional.get(1) {
        fields = format!("metadata.name={name}");
    }
    let list_params = || {
        let mut lp = ListParams::default();
        if let Some(sel) = &a.selector {
            lp = lp.labels(sel);
        }
        if !fields.is_empty() {
            lp = lp.fields(&fields);
        }
        lp
    };
    let key = |v: &Value| {
        (
            v["metadata"]["namespace"].as_str().unwrap_or_default().to_string(),
            v["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        )
    };
    let with_ns = a.all_namespaces && kind.namespaced;
    let wide = a.output == Output::Wide;
    let where_ = if kind.namespaced && !a.all_namespaces { format!(" in {ns}") } else { String::new() };
    let deadline = a.timeout.map(|t| Instant::now() + t);
    let render = |objects: &BTreeMap<(String, String), Value>, state: &str| {
        let items: Vec<Value> = objects.values().cloned().collect();
        let t = render::table(&kind.plural, &items, wide, with_ns, Utc::now());
        let line = format!(
            "watching {}{where_}: {} {} ({state})",
            kind.plural,
            items.len(),
            if items.len() == 1 { "object" } else { "objects" }
        );
        MimeBundle::plain(format!("{}{line}\n", t.to_text())).with(
            "text/html",
            format!("{}<div><i>{}</i></div>", t.to_html(), crate::builtin::escape_html(&line)),
        )
    };
    let mut live: Option<super::live::LiveLine> = None;
    let mut objects: BTreeMap<(String, String), Value>;
    let mut version = String::new();
    let mut last_update = Instant::now();
    let mut dirty = false;
    'relist: loop {
        let list = conn.call(&format!("list {}", kind.plural), api.list(&list_params())).await?;
        version = list.metadata.resource_version.clone().unwrap_or(version);
        objects = list.items.into_iter().map(|o| to_value(o, &ar)).map(|v| (key(&v), v)).collect();
        let bundle = render(&objects, "live");
        match live.as_mut() {
            Some(l) => l.show(bundle),
            None => live = Some(super::live::LiveLine::new(sink, bundle)),
        }
        loop {
            let mut wp = WatchParams::default().timeout(290);
            if let Some(sel) = &a.selector {
                wp = wp.labels(sel);
            }
            if !fields.is_empty() {
                wp = wp.fields(&fields);
            }
            let stream = conn.call(&format!("watch {}", kind.plural), api.watch(&wp, &version)).await?;
            let mut stream = std::pin::pin!(stream);
            loop {
                // Wake for the next event, the next allowed update, or the deadline.
                let tick = if dirty { last_update + Duration::from_millis(250) } else { Instant::now() + Duration::from_secs(3600) };
                let until = deadline.map_or(tick, |d| d.min(tick));
                let next = tokio::time::timeout_at(until, stream.next()).await;
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    let what = a.timeout.map(|t| format!("stopped after {}", render::human_duration(t.as_secs() as i64))).unwrap_or_default();
                    if let Some(l) = live.as_mut() {
                        l.finish(render(&objects, &what));
                    }
                    return Ok(MagicOutput::None);
                }
                match next {
                    Err(_) => {}
                    Ok(None) => break, // the server ended the watch; start another from `version`
                    Ok(Some(Err(e))) => return Err(conn.explain(&format!("watch {}", kind.plural), e)),
                    Ok(Some(Ok(event))) => match event {
                        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
                            let v = to_value(o, &ar);
                            version = v["metadata"]["resourceVersion"].as_str().unwrap_or(&version).to_string();
                            objects.insert(key(&v), v);
                            dirty = true;
                        }
                        WatchEvent::Deleted(o) => {
                            let v = to_value(o, &ar);
                            version = v["metadata"]["resourceVersion"].as_str().unwrap_or(&version).to_string();
                            objects.remove(&key(&v));
                            dirty = true;
                        }
                        WatchEvent::Bookmark(b) => version = b.metadata.resource_version,
                        WatchEvent::Error(status) if status.code == 410 => continue 'relist,
                        WatchEvent::Error(status) => {
                            return Err(conn.explain(&format!("watch {}", kind.plural), kube::Error::Api(status)))
                        }
                    },
                }
                if dirty && last_update.elapsed() >= Duration::from_millis(250) {
                    if let Some(l) = live.as_mut() {
                        l.show(render(&objects, "live"));
                    }
                    last_update = Instant::now();
                    dirty = false;
                }
            }
        }
    }
}

/// `get deploy,svc,pods`: one table per kind (names as kind/name, as kubectl does), or one List.
async fn get_several(conn: &Conn, ns: &str, a: &Args, kinds: &[&str]) -> Result<MagicOutput, MagicError> {
    if a.positional.len() > 1 {
        return Err(MagicError::usage("%k8s get: names go with one kind; write KIND NAME or KIND/NAME"));
    }
    let now = Utc::now();
    let mut all = Vec::new();
    let mut text = String::new();
    let mut html = String::new();
    for typed in kinds {
        let one = Args { positional: vec![typed.to_string()], ..a.clone() };
        let (kind, objects) = fetch(conn, ns, &one).await?;
        if objects.is_empty() {
            continue;
        }
        match a.output {
            Output::Table | Output::Wide => {
                let with_ns = a.all_namespaces && kind.namespaced;
                let mut t = render::table(&kind.plural, &objects, a.output == Output::Wide, with_ns, now);
                let col = usize::from(with_ns);
                for row in &mut t.rows {
                    row[col] = format!("{}/{}", kind_ref(&kind), row[col]);
                }
                if !text.is_empty() {
                    text.push('\n');
                }
                text.push_str(&t.to_text());
                html.push_str(&t.to_html());
            }
            Output::Name => text.push_str(render::names_bundle(&kind.kind, &kind.group, &objects).text().unwrap_or_default()),
            Output::Yaml | Output::Json => all.extend(objects),
        }
    }
    match a.output {
        Output::Yaml => result(render::yaml_bundle(&render::as_document(all, false))),
        Output::Json => result(render::json_bundle(&render::as_document(all, false))),
        _ if text.is_empty() => {
            let t = if a.all_namespaces { "No resources found.".to_string() } else { format!("No resources found in {ns} namespace.") };
            result(MimeBundle::plain(t))
        }
        Output::Name => result(MimeBundle::plain(text)),
        _ => result(MimeBundle::plain(text).with("text/html", html)),
    }
}

pub async fn describe(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let (kind, objects) = fetch(&conn, &ns, a).await?;
    if objects.is_empty() {
        return result(nothing_found(&kind, &ns, a));
    }
    let catalog = conn.catalog().await?;
    let events_kind = catalog.resolve("events").ok().filter(|k| k.group.is_empty()).cloned();
    let now = Utc::now();
    let mut text = String::new();
    let mut html = String::new();
    for obj in &objects {
        let events = match &events_kind {
            Some(ek) => object_events(&conn, ek, obj).await,
            None => Vec::new(),
        };
        let d = render::describe(&kind.kind, obj, &events, now);
        if !text.is_empty() {
            text.push_str("\n\n");
        }
        text.push_str(&d.to_text());
        html.push_str(&d.to_html());
    }
    result(MimeBundle::plain(text).with("text/html", html))
}

/// Recent events about one object, oldest first; none if they cannot be read.
async fn object_events(conn: &Conn, ek: &Kind, obj: &Value) -> Vec<Value> {
    let uid = obj["metadata"]["uid"].as_str().unwrap_or_default();
    let name = obj["metadata"]["name"].as_str().unwrap_or_default();
    let ns = obj["metadata"]["namespace"].as_str().unwrap_or("default");
    let api = api_for(conn, ek, Some(ns));
    let mut fields = format!("involvedObject.name={name}");
    if !uid.is_empty() {
        fields.push_str(&format!(",involvedObject.uid={uid}"));
    }
    let ar = ek.api_resource();
    let Ok(list) = conn.call("list events", api.list(&ListParams::default().fields(&fields))).await else {
        return Vec::new();
    };
    let mut events: Vec<Value> = list.items.into_iter().map(|o| to_value(o, &ar)).collect();
    let when = |e: &Value| -> String {
        ["lastTimestamp", "eventTime", "firstTimestamp"]
            .iter()
            .find_map(|k| e[*k].as_str().map(str::to_string))
            .or_else(|| e["metadata"]["creationTimestamp"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    events.sort_by_key(|e| when(e));
    events
}

// ---- apply / delete -----------------------------------------------------------------------

/// The manifests of a call: the cell body and every -f PATH (a file, or the YAML/JSON files of a
/// directory).
fn manifests(a: &Args, body: Option<&str>, body_line: usize) -> Result<Vec<Doc>, MagicError> {
    let verb = a.verb.name();
    let mut docs = Vec::new();
    if let Some(body) = body.filter(|b| !b.trim().is_empty()) {
        docs.extend(manifest::parse_from(body, "the cell", body_line)?);
    }
    for path in &a.files {
        let p = std::path::Path::new(path);
        let files: Vec<std::path::PathBuf> = if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| MagicError::usage(format!("%k8s {verb}: cannot read {path}: {e}")))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|f| matches!(f.extension().and_then(|x| x.to_str()), Some("yaml" | "yml" | "json")))
                .collect();
            v.sort();
            v
        } else {
            vec![p.to_path_buf()]
        };
        for f in files {
            let text = std::fs::read_to_string(&f).map_err(|e| {
                MagicError::usage(format!("%k8s {verb}: cannot read {}: {}", f.display(), e.kind().to_string().to_lowercase()))
            })?;
            docs.extend(manifest::parse(&text, &f.display().to_string())?);
        }
    }
    if docs.is_empty() {
        return Err(MagicError::usage(format!(
            "%k8s {verb}: nothing to {verb}; put YAML in the cell (%%k8s {verb}) or give -f PATH"
        )));
    }
    Ok(docs)
}

/// Kind and namespace of every document, checked before anything is sent.
async fn plan(conn: &Conn, docs: &[Doc], a: &Args, default_ns: &str) -> Result<Vec<(Kind, Option<String>)>, MagicError> {
    let mut out = Vec::new();
    for d in docs {
        let api_version = d.value["apiVersion"].as_str().unwrap_or_default();
        let kind_name = d.value["kind"].as_str().unwrap_or_default();
        let Some(kind) = conn.kind_of(api_version, kind_name).await? else {
            let hint = conn
                .catalog()
                .await?
                .resolve(kind_name)
                .map(|k| format!(" (it has {} in {})", k.kind, k.api_resource().api_version))
                .unwrap_or_default();
            return Err(MagicError::new(
                "UnknownKind",
                format!("{}: no kind {kind_name} in {api_version} on this cluster{hint}", d.place()),
            ));
        };
        let ns = if kind.namespaced {
            let own = d.value["metadata"]["namespace"].as_str();
            match (own, &a.namespace) {
                (Some(own), Some(flag)) if own != flag => {
                    return Err(MagicError::usage(format!(
                        "{}: the namespace of {} {} is {own}, which does not match -n {flag}",
                        d.place(),
                        kind.kind,
                        d.value["metadata"]["name"].as_str().unwrap_or_default()
                    )))
                }
                (Some(own), _) => Some(own.to_string()),
                (None, _) => Some(default_ns.to_string()),
            }
        } else {
            None
        };
        out.push((kind, ns));
    }
    Ok(out)
}

pub(super) fn kind_ref(kind: &Kind) -> String {
    if kind.group.is_empty() {
        kind.kind.to_ascii_lowercase()
    } else {
        format!("{}.{}", kind.kind.to_ascii_lowercase(), kind.group)
    }
}

/// `body_line`: the cell line the body starts on.
pub async fn apply(
    session: &Session,
    a: &Args,
    body: Option<&str>,
    body_line: usize,
    sink: &Arc<dyn OutputSink>,
) -> Result<MagicOutput, MagicError> {
    let docs = manifests(a, body, body_line)?;
    let (conn, ns) = session.for_call(a).await?;
    let planned = plan(&conn, &docs, a, &ns).await?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    for (doc, (kind, ns)) in docs.iter().zip(planned) {
        let mut value = doc.value.clone();
        let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
        mark_ours(&mut value, ns.as_deref());
        let api = api_for(&conn, &kind, ns.as_deref());
        conn.call(&format!("apply {} {name}", kind.plural), api.patch(&name, &params, &Patch::Apply(&value)))
            .await
            .map_err(|e| MagicError::new(&e.ename, format!("{}: {}", doc.place(), e.message)))?;
        sink.stream(StreamName::Stdout, &format!("{}/{name} serverside-applied\n", kind_ref(&kind)));
    }
    Ok(MagicOutput::None)
}

pub async fn delete(
    session: &Session,
    a: &Args,
    body: Option<&str>,
    body_line: usize,
    sink: &Arc<dyn OutputSink>,
) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let mut targets: Vec<(Kind, Option<String>, String)> = Vec::new();
    if !a.files.is_empty() || body.is_some_and(|b| !b.trim().is_empty()) {
        let docs = manifests(a, body, body_line)?;
        for (doc, (kind, ns)) in docs.iter().zip(plan(&conn, &docs, a, &ns).await?) {
            targets.push((kind, ns, doc.value["metadata"]["name"].as_str().unwrap_or_default().to_string()));
        }
    } else {
        let kind = conn.kind(&a.positional[0]).await?;
        let ns = kind.namespaced.then(|| ns.clone());
        if a.positional.len() > 1 {
            for name in &a.positional[1..] {
                targets.push((kind.clone(), ns.clone(), name.clone()));
            }
        } else {
            let mut lp = ListParams::default();
            if let Some(sel) = &a.selector {
                lp = lp.labels(sel);
            }
            let api = api_for(&conn, &kind, ns.as_deref());
            let list = conn.call(&format!("list {}", kind.plural), api.list(&lp)).await?;
            if list.items.is_empty() {
                sink.stream(StreamName::Stdout, "No resources found\n");
                return Ok(MagicOutput::None);
            }
            for o in list.items {
                let name = o.metadata.name.clone().unwrap_or_default();
                targets.push((kind.clone(), ns.clone(), name));
            }
        }
    }
    let mut first_error: Option<MagicError> = None;
    let several = targets.len() > 1;
    for (kind, ns, name) in targets {
        let api = api_for(&conn, &kind, ns.as_deref());
        match conn.call(&format!("delete {} {name}", kind.plural), api.delete(&name, &DeleteParams::background())).await {
            Ok(_) => sink.stream(StreamName::Stdout, &format!("{} \"{name}\" deleted\n", kind_ref(&kind))),
            Err(e) if e.ename == "NotFound" && a.ignore_not_found => {}
            Err(e) => {
                // With several objects, say which failed and go on; the first failure is the error.
                if several {
                    sink.stream(StreamName::Stderr, &format!("{}: {}\n", e.ename, e.message));
                }
                if first_error.is_none() {
                    first_error = Some(e);
                }
            }
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(MagicOutput::None),
    }
}

/// A plain (not server-side apply) patch, made in the name of our field manager.
pub(super) fn patch_params() -> PatchParams {
    PatchParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PatchParams::default() }
}

// ---- scale -------------------------------------------------------------------------------

pub async fn scale(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let kind = conn.kind(&a.positional[0]).await?;
    if !matches!(kind.plural.as_str(), "deployments" | "statefulsets" | "replicasets" | "replicationcontrollers") {
        return Err(MagicError::usage(format!(
            "%k8s scale: {} cannot be scaled; deployments, statefulsets and replicasets can",
            kind.plural
        )));
    }
    let name = &a.positional[1];
    let replicas = a.replicas.unwrap_or_default();
    let params = patch_params();
    let api = api_for(&conn, &kind, Some(&ns));
    conn.call(
        &format!("scale {} {name}", kind.plural),
        api.patch(name, &params, &Patch::Merge(json!({ "spec": { "replicas": replicas } }))),
    )
    .await?;
    sink.stream(StreamName::Stdout, &format!("{}/{name} scaled to {replicas}\n", kind_ref(&kind)));
    Ok(MagicOutput::None)
}

// ---- run / expose / endpoints / http ------------------------------------------------------

/// Puts the namespace and our labels on an object. Not on its pod template: the session's label
/// there would make a re-apply from another session restart every pod of an unchanged workload.
pub fn mark_ours(value: &mut Value, ns: Option<&str>) {
    if let Some(ns) = ns {
        value["metadata"]["namespace"] = json!(ns);
    }
    if !value["metadata"]["labels"].is_object() {
        value["metadata"]["labels"] = json!({});
    }
    value["metadata"]["labels"][MANAGED_BY.0] = json!(MANAGED_BY.1);
    value["metadata"]["labels"][SESSION_LABEL] = json!(session_id());
}

/// Server-side apply of one object built here, with the labels of everything we create.
pub(super) async fn apply_one(conn: &Conn, kind: &Kind, ns: Option<&str>, mut value: Value) -> Result<(), MagicError> {
    let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
    mark_ours(&mut value, ns);
    let params = PatchParams::apply(FIELD_MANAGER).force();
    conn.call(&format!("apply {} {name}", kind.plural), api_for(conn, kind, ns).patch(&name, &params, &Patch::Apply(&value)))
        .await
        .map(|_| ())
}

/// `100m` → requests only; `100m/500m` → request and limit.
fn request_and_limit(text: &Option<String>) -> (Option<String>, Option<String>) {
    match text.as_deref() {
        None => (None, None),
        Some(t) => match t.split_once('/') {
            Some((r, l)) => (Some(r.to_string()).filter(|s| !s.is_empty()), Some(l.to_string()).filter(|s| !s.is_empty())),
            None => (Some(t.to_string()), None),
        },
    }
}

/// `run NAME --image IMAGE ...`: a Deployment whose pods are labelled app=NAME.
pub async fn run(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let name = &a.positional[0];
    let kind = conn.kind("deployments.apps").await?;
    let mut container = json!({ "name": name, "image": a.image.clone().unwrap_or_default() });
    if let Some(port) = a.port {
        container["ports"] = json!([{ "containerPort": port }]);
    }
    if !a.env.is_empty() {
        container["env"] = Value::Array(a.env.iter().map(|(k, v)| json!({ "name": k, "value": v })).collect());
    }
    if !a.command.is_empty() {
        container["command"] = json!(a.command);
    }
    let (cpu_req, cpu_lim) = request_and_limit(&a.cpu);
    let (mem_req, mem_lim) = request_and_limit(&a.memory);
    let mut requests = serde_json::Map::new();
    let mut limits = serde_json::Map::new();
    for (key, v) in [("cpu", cpu_req), ("memory", mem_req)] {
        if let Some(v) = v {
            requests.insert(key.to_string(), json!(v));
        }
    }
    for (key, v) in [("cpu", cpu_lim), ("memory", mem_lim)] {
        if let Some(v) = v {
            limits.insert(key.to_string(), json!(v));
        }
    }
    if !requests.is_empty() || !limits.is_empty() {
        container["resources"] = json!({});
        if !requests.is_empty() {
            container["resources"]["requests"] = Value::Object(requests);
        }
        if !limits.is_empty() {
            container["resources"]["limits"] = Value::Object(limits);
        }
    }
    let labels = json!({ "app": name, MANAGED_BY.0: MANAGED_BY.1, SESSION_LABEL: session_id() });
    let deployment = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "labels": { "app": name },
            "annotations": { CHANGE_CAUSE: format!("run {name} --image {}", a.image.clone().unwrap_or_default()) }
        },
        "spec": {
            "replicas": a.replicas.unwrap_or(1),
            "selector": { "matchLabels": { "app": name } },
            "template": { "metadata": { "labels": labels }, "spec": { "containers": [container] } }
        }
    });
    apply_one(&conn, &kind, Some(&ns), deployment).await?;
    sink.stream(StreamName::Stdout, &format!("deployment.apps/{name} created or updated in {ns}\n"));
    if !a.no_wait {
        super::wait::rollout(&conn, &ns, name, a.timeout.unwrap_or(super::wait::DEFAULT_TIMEOUT), sink).await?;
    }
    Ok(MagicOutput::None)
}

/// `expose deploy/NAME --port P`: a Service selecting the workload's pods.
pub async fn expose(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let kind = conn.kind(&a.positional[0]).await?;
    let target = &a.positional[1];
    let obj = conn.call(&format!("get {} {target}", kind.plural), api_for(&conn, &kind, Some(&ns)).get(target)).await?;
    let obj = to_value(obj, &kind.api_resource());
    let selector = if kind.plural == "services" { obj["spec"]["selector"].clone() } else { obj["spec"]["selector"]["matchLabels"].clone() };
    if !selector.as_object().is_some_and(|m| !m.is_empty()) {
        return Err(MagicError::usage(format!("%k8s expose: {}/{target} has no pod selector to expose", kind_ref(&kind))));
    }
    let port = a.port.unwrap_or_default();
    let target_port: Value = match &a.target_port {
        Some(t) => t.parse::<i64>().map(Value::from).unwrap_or_else(|_| json!(t)),
        None => json!(port),
    };
    let name = a.name.clone().unwrap_or_else(|| target.clone());
    let svc_kind = conn.kind("services").await?;
    let service = json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": name },
        "spec": {
            "type": a.service_type.clone().unwrap_or_else(|| "ClusterIP".into()),
            "selector": selector,
            "ports": [{ "port": port, "targetPort": target_port, "protocol": "TCP" }]
        }
    });
    apply_one(&conn, &svc_kind, Some(&ns), service).await?;
    sink.stream(StreamName::Stdout, &format!("service/{name} exposes {}/{target} on port {port}\n", kind_ref(&kind)));
    Ok(MagicOutput::None)
}

/// `endpoints svc/NAME`: the addresses behind a service, from its EndpointSlices.
pub async fn endpoints(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let kind = conn.kind(&a.positional[0]).await?;
    if kind.plural != "services" {
        return Err(MagicError::usage("%k8s endpoints: give a service, e.g. endpoints svc/web"));
    }
    let name = &a.positional[1];
    // The service must exist (a clear NotFound otherwise).
    conn.call(&format!("get services {name}"), api_for(&conn, &kind, Some(&ns)).get(name)).await?;
    let slices_kind = conn.kind("endpointslices.discovery.k8s.io").await?;
    let lp = ListParams::default().labels(&format!("kubernetes.io/service-name={name}"));
    let slices = conn.call("list endpointslices", api_for(&conn, &slices_kind, Some(&ns)).list(&lp)).await?;
    let mut t = render::Table::new(&["ADDRESS", "PORTS", "READY", "NODE", "POD"]);
    for slice in slices.items {
        let v = to_value(slice, &slices_kind.api_resource());
        let ports = v["ports"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .map(|p| format!("{}/{}", p["port"].as_i64().unwrap_or(0), p["protocol"].as_str().unwrap_or("TCP")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        for ep in v["endpoints"].as_array().cloned().unwrap_or_default() {
            let ready = ep["conditions"]["ready"].as_bool().map_or("unknown".to_string(), |r| r.to_string());
            for addr in ep["addresses"].as_array().cloned().unwrap_or_default() {
                t.rows.push(vec![
                    addr.as_str().unwrap_or_default().to_string(),
                    ports.clone(),
                    ready.clone(),
                    ep["nodeName"].as_str().unwrap_or("<none>").to_string(),
                    ep["targetRef"]["name"].as_str().unwrap_or("<none>").to_string(),
                ]);
            }
        }
    }
    t.rows.sort();
    if t.rows.is_empty() {
        return result(MimeBundle::plain(format!("service/{name} has no endpoints (no ready pods match its selector)")));
    }
    result(t.bundle())
}

/// `http svc/NAME[:PORT][/PATH]`: a GET through the API server's proxy, shown as the page.
pub async fn http(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let spec = &a.positional[0];
    let (kind_text, rest) = spec.split_once('/').unwrap_or_default();
    let kind = conn.kind(kind_text).await?;
    let resource = match kind.plural.as_str() {
        "services" | "pods" => kind.plural.clone(),
        _ => return Err(MagicError::usage("%k8s http: give svc/NAME[:PORT][/PATH] or pod/NAME[:PORT][/PATH]")),
    };
    let (target, path) = match rest.split_once('/') {
        Some((t, p)) => (t, p),
        None => (rest, ""),
    };
    let uri = format!("/api/v1/namespaces/{ns}/{resource}/{target}/proxy/{path}");
    let request = http::Request::get(&uri)
        .body(kube::client::Body::from(Vec::new()))
        .map_err(|e| MagicError::usage(format!("%k8s http: {spec} does not make a URL: {e}")))?;
    let what = format!("GET {spec}");
    let response = conn.call(&what, conn.client.send(request)).await?;
    let status = response.status();
    let content_type = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = conn.call(&what, response.into_body().collect_bytes()).await?;
    let text = String::from_utf8_lossy(&body).to_string();
    let head = format!("HTTP {} from {}/{target}/{path} ({}, {} bytes)", status.as_u16(), kind_ref(&kind), if content_type.is_empty() { "no content type" } else { &content_type }, body.len());
    if !status.is_success() {
        let first = text.lines().next().unwrap_or_default().chars().take(200).collect::<String>();
        return Err(MagicError::new("HTTPError", format!("{head}: {first}")));
    }
    let mut bundle = MimeBundle::plain(format!("{head}\n{text}"));
    if content_type.starts_with("text/html") {
        bundle = bundle.with("text/html", text);
    } else if content_type.starts_with("application/json") {
        if let Ok(v) = serde_json::from_str::<Value>(&text) {
            bundle = bundle.with("application/json", v);
        }
    }
    result(bundle)
}

// ---- owned / cleanup ----------------------------------------------------------------------

/// Everything labelled as created by this session (or, with `all`, by any kubernel session), in
/// every namespace, across every kind that can be listed and deleted.
async fn owned_objects(conn: &Conn, all: bool) -> Result<Vec<(Kind, Value)>, MagicError> {
    let selector = if all {
        format!("{}={}", MANAGED_BY.0, MANAGED_BY.1)
    } else {
        format!("{SESSION_LABEL}={}", session_id())
    };
    let catalog = conn.catalog().await?;
    let kinds: Vec<Kind> = catalog
        .kinds
        .iter()
        .filter(|k| k.verbs.iter().any(|v| v == "list") && k.verbs.iter().any(|v| v == "delete"))
        .filter(|k| k.plural != "events" && k.group != "metrics.k8s.io")
        .cloned()
        .collect();
    let lp = ListParams::default().labels(&selector);
    let lists = futures::future::join_all(kinds.iter().map(|k| {
        let api = api_for(conn, k, None);
        let lp = lp.clone();
        async move { (k, conn.call(&format!("list {}", k.plural), api.list(&lp)).await) }
    }))
    .await;
    let mut out = Vec::new();
    for (kind, list) in lists {
        match list {
            Ok(list) => {
                let ar = kind.api_resource();
                out.extend(list.items.into_iter().map(|o| (kind.clone(), to_value(o, &ar))));
            }
            // Kinds this user may not list are not ours to report or delete.
            Err(e) if e.ename == "Forbidden" || e.ename == "NotFound" || e.ename == "ApiError" => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

pub async fn owned(session: &Session, a: &Args) -> Result<MagicOutput, MagicError> {
    let (conn, _) = session.for_call(a).await?;
    let (objects, going): (Vec<_>, Vec<_>) = owned_objects(&conn, a.all).await?.into_iter().partition(|(_, o)| !being_deleted(o));
    let whose = if a.all { "any kubernel session".to_string() } else { format!("this session ({})", session_id()) };
    let going_note = match going.len() {
        0 => String::new(),
        n => format!(" ({n} more {} being deleted)", if n == 1 { "is" } else { "are" }),
    };
    if objects.is_empty() {
        return result(MimeBundle::plain(format!("Nothing created by {whose}{going_note}.")));
    }
    let now = Utc::now();
    let mut t = render::Table::new(&["KIND", "NAMESPACE", "NAME", "AGE"]);
    for (kind, o) in &objects {
        t.rows.push(vec![
            kind_ref(kind),
            o["metadata"]["namespace"].as_str().unwrap_or("").to_string(),
            render::name_of(o),
            render::age(o, now),
        ]);
    }
    let title = format!("{} objects created by {whose}{going_note}:\n", objects.len());
    result(
        MimeBundle::plain(format!("{title}{}", t.to_text()))
            .with("text/html", format!("<div>{}</div>{}", crate::builtin::escape_html(&title), t.to_html())),
    )
}

pub async fn cleanup(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let (conn, _) = session.for_call(a).await?;
    let mut objects = owned_objects(&conn, a.all).await?;
    if objects.is_empty() {
        sink.stream(StreamName::Stdout, "Nothing to clean up.\n");
        return Ok(MagicOutput::None);
    }
    // Namespaces last: deleting one takes what is in it along, and the lines above say what.
    objects.sort_by_key(|(k, _)| !k.namespaced);
    let mut first_error = None;
    // Objects a controller owns go with their owner (and would be made again if deleted first).
    let controlled = |o: &Value| o["metadata"]["ownerReferences"].as_array().is_some_and(|os| os.iter().any(|r| r["controller"] == true));
    for (kind, o) in objects.iter().filter(|(_, o)| !being_deleted(o) && !controlled(o)) {
        let (kind, o) = (kind.clone(), o.clone());
        let name = render::name_of(&o);
        let ns = o["metadata"]["namespace"].as_str().map(str::to_string);
        let api = api_for(&conn, &kind, ns.as_deref());
        match conn.call(&format!("delete {} {name}", kind.plural), api.delete(&name, &DeleteParams::background())).await {
            Ok(_) => {
                let place = ns.map(|n| format!(" in {n}")).unwrap_or_default();
                sink.stream(StreamName::Stdout, &format!("{} \"{name}\" deleted{place}\n", kind_ref(&kind)));
            }
            Err(e) if e.ename == "NotFound" => {}
            Err(e) => {
                sink.stream(StreamName::Stderr, &format!("{}: {}\n", e.ename, e.message));
                first_error.get_or_insert(e);
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    wait_until_gone(&conn, a.all, objects.len(), sink).await
}

fn being_deleted(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

/// How long `cleanup` waits for what it deleted to be gone (namespaces take longest).
const CLEANUP_WAIT: std::time::Duration = std::time::Duration::from_secs(90);

/// Waits, visibly, until nothing labelled is left, as `kubectl delete` waits; a timeout is a note,
/// not an error (the deletions go on in the cluster).
async fn wait_until_gone(conn: &Conn, all: bool, deleted: usize, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let started = tokio::time::Instant::now();
    let line = |left: &[(Kind, Value)], note: &str| {
        let names: Vec<String> = left.iter().take(6).map(|(k, o)| format!("{}/{}", kind_ref(k), render::name_of(o))).collect();
        let more = if left.len() > 6 { format!(" and {} more", left.len() - 6) } else { String::new() };
        let text = format!("waiting for {} of {deleted} to be gone: {}{more}{note}", left.len(), names.join(", "));
        MimeBundle::plain(text.clone()).with("text/html", format!("<i>{}</i>", crate::builtin::escape_html(&text)))
    };
    let mut live: Option<super::live::LiveLine> = None;
    loop {
        let left = owned_objects(conn, all).await?;
        let secs = started.elapsed().as_secs_f64();
        if left.is_empty() {
            let done = format!("all {deleted} gone in {secs:.1} s");
            match live.as_mut() {
                Some(l) => l.finish(MimeBundle::plain(done.clone()).with("text/html", format!("<i>{done}</i>"))),
                None => sink.stream(StreamName::Stdout, &format!("{done}\n")),
            }
            return Ok(MagicOutput::None);
        }
        if started.elapsed() >= CLEANUP_WAIT {
            if let Some(l) = live.as_mut() {
                l.finish(line(&left, " (still going; the cluster finishes it)"));
            }
            sink.stream(
                StreamName::Stderr,
                &format!("note: {} objects were still being deleted after {} s; %k8s owned shows them\n", left.len(), CLEANUP_WAIT.as_secs()),
            );
            return Ok(MagicOutput::None);
        }
        let view = line(&left, &format!(" ({secs:.0} s)"));
        match live.as_mut() {
            Some(l) => l.update(view),
            None => live = Some(super::live::LiveLine::new(sink, view)),
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

// ---- completion ---------------------------------------------------------------------------

/// Names of live objects of a kind in the session's namespace (for completion).
pub async fn live_names(conn: &Conn, ns: &str, typed_kind: &str) -> Vec<String> {
    let Ok(catalog) = conn.catalog().await else { return Vec::new() };
    let Ok(kind) = catalog.resolve(typed_kind) else { return Vec::new() };
    let api = api_for(conn, kind, Some(ns));
    match conn.call_within("list", std::time::Duration::from_secs(3), api.list_metadata(&ListParams::default().limit(500))).await {
        Ok(list) => list.items.into_iter().filter_map(|o| o.metadata.name).collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ours_is_marked_but_pod_templates_are_left_alone() {
        let mut deploy = json!({"kind": "Deployment", "metadata": {"name": "web"},
            "spec": {"template": {"metadata": {"labels": {"app": "web"}}, "spec": {}}}});
        let template = deploy["spec"]["template"].clone();
        mark_ours(&mut deploy, Some("demo"));
        assert_eq!(deploy["metadata"]["namespace"], "demo");
        assert_eq!(deploy["metadata"]["labels"][SESSION_LABEL], session_id());
        assert_eq!(deploy["metadata"]["labels"][MANAGED_BY.0], MANAGED_BY.1);
        assert_eq!(deploy["spec"]["template"], template, "a changed template would restart the pods");
    }
}
