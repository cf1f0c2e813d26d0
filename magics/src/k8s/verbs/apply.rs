//! `apply`: server-side apply (field manager `kubernel`) of the YAML documents in the cell
//! (`%%k8s apply`) or in files and folders (`-f PATH`), each labelled as this session's.

use super::flags::{Parsed, UsageError};
use crate::k8s::cluster::objects::without_noise;
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::manifest::{self, Doc};
use crate::k8s::cluster::objects::{api_for, kind_ref, mark_ours, to_value, FIELD_MANAGER};
use crate::k8s::cluster::{ClusterError, Conn, Kind, Scope};
use kube::api::{Patch, PatchParams};
use output::{escape_html, MimeBundle, StreamName};
use serde_json::Value;

pub struct Apply;

const ABOUT: About = About {
    name: "apply",
    flags: &["--namespace", "--filename", "--dry-run", "--output", "--context", "--kubeconfig"],
    help: "  %%k8s apply [-n NS]           server-side apply of the YAML documents in the cell
  %k8s apply -f PATH            ... of a file or of the YAML files of a directory
        --dry-run=server: what it would do (created, configured, unchanged), as the server
        finds it, changing nothing; --dry-run=client: judged here from the live objects, sending
        none; -o yaml|json|name: the objects as applied (or as they would be)",
    body: Some(Body::Manifests),
    takes_command: false,
};

struct Options {
    files: Vec<String>,
    scope: Scope,
    /// "none", "server" or "client" (kubectl's --dry-run).
    dry_run: String,
    /// -o yaml, json or name: the objects instead of a line each.
    output: Option<String>,
}

impl Verb for Apply {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        if let Some(extra) = p.positional.first() {
            return Err(p.usage(format!(
                "unexpected argument '{extra}'; the YAML goes in the cell (%%k8s apply) or in -f PATH"
            )));
        }
        let output = p.text("--output");
        if let Some(o) = output.as_deref().filter(|o| !matches!(*o, "yaml" | "json" | "name")) {
            return Err(p.usage(format!("-o {o}: apply prints yaml, json or name")));
        }
        let dry_run = p.text("--dry-run").unwrap_or_else(|| "none".into());
        plan(Options { files: p.texts("--filename"), scope: p.scope(), dry_run, output })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let docs = manifests("apply", &self.files, cx.body, cx.body_line)?;
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let planned = resolve(&conn, &docs, self.scope.namespace.as_deref(), &ns).await?;
        let objects: Vec<(&Doc, Kind, Option<String>, String, Value)> = docs
            .iter()
            .zip(planned)
            .map(|(doc, (kind, ns))| {
                let mut value = doc.value.clone();
                let name = value["metadata"]["name"].as_str().unwrap_or_default().to_string();
                mark_ours(&mut value, ns.as_deref());
                (doc, kind, ns, name, value)
            })
            .collect();
        match self.dry_run.as_str() {
            "server" => return server_dry_run(&conn, &objects, self.output.as_deref(), cx).await,
            "client" => return client_dry_run(&conn, &objects, self.output.as_deref(), cx).await,
            _ => {}
        }
        // One rule: the server checks every document first (a dry run), and a refusal applies
        // nothing. An object in a namespace that an earlier document makes cannot be checked
        // before that namespace exists; it is checked when it is applied.
        let new_namespaces: Vec<&str> =
            objects.iter().filter(|(_, k, ..)| k.plural == "namespaces" && k.group.is_empty()).map(|(.., n, _)| n.as_str()).collect();
        let dry = PatchParams::apply(FIELD_MANAGER).force().dry_run();
        let mut refused: Vec<(String, MagicError)> = Vec::new();
        for (doc, kind, ns, name, value) in &objects {
            let api = api_for(&conn, kind, ns.as_deref());
            if let Err(e) = conn.call(&format!("apply {} {name}", kind.plural), api.patch(name, &dry, &Patch::Apply(value))).await {
                // Only an object the server finds wrong in itself stops the apply here; what may
                // depend on an earlier document (its namespace, a service account, a priority
                // class, RBAC) is left for the apply to find, in order.
                let wrong = matches!(e, ClusterError::Invalid { .. } | ClusterError::Api { code: Some(400), .. });
                let later = e.is_not_found() && ns.as_deref().is_some_and(|n| new_namespaces.contains(&n));
                if wrong && !later {
                    refused.push((doc.place(), e.into()));
                }
            }
        }
        if let Some((_, first)) = refused.first() {
            let why: Vec<String> = refused.iter().map(|(place, e)| format!("{place}: {}", e.message)).collect();
            return Err(MagicError::new(&first.ename, format!("{}; nothing was applied", why.join("; "))));
        }
        let params = PatchParams::apply(FIELD_MANAGER).force();
        let mut applied: Vec<String> = Vec::new();
        let mut shown: Vec<(String, Value)> = Vec::new();
        for (i, (doc, kind, ns, name, value)) in objects.iter().enumerate() {
            let api = api_for(&conn, kind, ns.as_deref());
            let done = conn.call(&format!("apply {} {name}", kind.plural), api.patch(name, &params, &Patch::Apply(value))).await;
            let done = match done {
                Ok(obj) => obj,
                Err(e) => {
                    let e = MagicError::from(e);
                    let left: Vec<String> = objects[i + 1..].iter().map(|(_, k, _, n, _)| format!("{}/{n}", kind_ref(k))).collect();
                    let mut message = format!("{}: {}", doc.place(), e.message);
                    if !applied.is_empty() {
                        message.push_str(&format!("; applied before it: {}", applied.join(", ")));
                    }
                    if !left.is_empty() {
                        message.push_str(&format!("; not applied: {}", left.join(", ")));
                    }
                    return Err(MagicError::new(&e.ename, message));
                }
            };
            applied.push(format!("{}/{name}", kind_ref(kind)));
            match &self.output {
                Some(_) => shown.push((kind_ref(kind), to_value(done, &kind.api_resource()))),
                None => cx.sink.stream(StreamName::Stdout, &format!("{}/{name} serverside-applied\n", kind_ref(kind))),
            }
        }
        match &self.output {
            Some(o) => super::result(objects_bundle(o, &shown)),
            None => Ok(MagicOutput::None),
        }
    }
}

type Object<'a> = (&'a Doc, Kind, Option<String>, String, Value);

/// `--dry-run=server`: the server applies each document without keeping it, and the line says
/// what that would be, as kubectl says it (`deployment.apps/web configured (server dry run)`).
/// As kubectl, a document the server refuses does not stop the others; the refusals end the cell.
async fn server_dry_run(conn: &Conn, objects: &[Object<'_>], output: Option<&str>, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let new_namespaces: Vec<&str> =
        objects.iter().filter(|(_, k, ..)| k.plural == "namespaces" && k.group.is_empty()).map(|(.., n, _)| n.as_str()).collect();
    let dry = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let mut shown: Vec<(String, Value)> = Vec::new();
    let mut refused: Vec<(String, MagicError)> = Vec::new();
    for (doc, kind, ns, name, value) in objects {
        let api = api_for(conn, kind, ns.as_deref());
        let ar = kind.api_resource();
        let outcome = async {
            let live = conn.call(&format!("get {} {name}", kind.plural), api.get_opt(name)).await?;
            let merged = conn.call(&format!("apply {} {name}", kind.plural), api.patch(name, &dry, &Patch::Apply(value))).await?;
            Ok::<_, ClusterError>((live.map(|o| to_value(o, &ar)), to_value(merged, &ar)))
        };
        match outcome.await {
            Ok((live, merged)) => {
                let verb = match live {
                    None => "created",
                    Some(live) if without_noise(live.clone()) == without_noise(merged.clone()) => "unchanged",
                    Some(_) => "configured",
                };
                if output.is_none() {
                    cx.sink.stream(StreamName::Stdout, &format!("{}/{name} {verb} (server dry run)\n", kind_ref(kind)));
                }
                shown.push((kind_ref(kind), merged));
            }
            Err(e) => {
                // A dry run makes nothing, so what lives in a namespace made by an earlier
                // document cannot be checked.
                let later = e.is_not_found() && ns.as_deref().is_some_and(|n| new_namespaces.contains(&n));
                let mut e = MagicError::from(e);
                if later {
                    e.message.push_str(" (an earlier document makes that namespace, and a dry run makes nothing)");
                }
                refused.push((doc.place(), e));
            }
        }
    }
    if let Some((_, first)) = refused.first() {
        let why: Vec<String> = refused.iter().map(|(place, e)| format!("{place}: {}", e.message)).collect();
        if let Some(o) = output {
            cx.sink.display(objects_bundle(o, &shown), None);
        }
        return Err(MagicError::new(&first.ename, why.join("; ")));
    }
    match output {
        Some(o) => super::result(objects_bundle(o, &shown)),
        None => Ok(MagicOutput::None),
    }
}

/// `--dry-run=client`: nothing is sent; the live objects are read to say whether each would be
/// created, left as it is (it has every field as given) or configured. The server's defaults and
/// checks are not applied, as with kubectl's client dry run.
async fn client_dry_run(conn: &Conn, objects: &[Object<'_>], output: Option<&str>, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let mut shown: Vec<(String, Value)> = Vec::new();
    for (doc, kind, ns, name, value) in objects {
        let api = api_for(conn, kind, ns.as_deref());
        let live = conn.call(&format!("get {} {name}", kind.plural), api.get_opt(name)).await.map_err(|e| {
            let e = MagicError::from(e);
            MagicError::new(&e.ename, format!("{}: {}", doc.place(), e.message))
        })?;
        let (verb, object) = match live.map(|o| to_value(o, &kind.api_resource())) {
            None => ("created", value.clone()),
            Some(live) if has_all(&live, value) => ("unchanged", live),
            Some(mut live) => {
                json_patch::merge(&mut live, value);
                ("configured", live)
            }
        };
        if output.is_none() {
            cx.sink.stream(StreamName::Stdout, &format!("{}/{name} {verb} (dry run)\n", kind_ref(kind)));
        }
        shown.push((kind_ref(kind), object));
    }
    match output {
        Some(o) => super::result(objects_bundle(o, &shown)),
        None => Ok(MagicOutput::None),
    }
}

/// Whether `live` already has every field of `wanted` with the same value (lists item by item).
fn has_all(live: &Value, wanted: &Value) -> bool {
    match (live, wanted) {
        (Value::Object(l), Value::Object(w)) => w.iter().all(|(k, v)| l.get(k).is_some_and(|lv| has_all(lv, v))),
        (Value::Array(l), Value::Array(w)) => l.len() == w.len() && l.iter().zip(w).all(|(a, b)| has_all(a, b)),
        _ => live == wanted,
    }
}

/// `-o yaml|json|name` of applied objects, as kubectl apply prints them: YAML documents
/// separated by `---`, JSON objects one after another, `kind/name` lines.
fn objects_bundle(output: &str, objects: &[(String, Value)]) -> MimeBundle {
    let objects: Vec<(&String, Value)> =
        objects.iter().map(|(k, v)| (k, crate::k8s::view::documents::for_output(v.clone()))).collect();
    let text = match output {
        "name" => objects.iter().map(|(k, v)| format!("{k}/{}\n", v["metadata"]["name"].as_str().unwrap_or_default())).collect(),
        "json" => objects.iter().map(|(_, v)| serde_json::to_string_pretty(v).unwrap_or_default() + "\n").collect::<String>(),
        _ => objects
            .iter()
            .map(|(_, v)| serde_saphyr::to_string(v).unwrap_or_else(|e| format!("# could not write YAML: {e}\n")))
            .collect::<Vec<_>>()
            .join("---\n"),
    };
    let html = format!("<pre>{}</pre>", escape_html(&text));
    MimeBundle::plain(text).with("text/html", html)
}

/// Why a file could not be read, in a person's words (Rust's own say "entity not found").
fn io_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "no such file or folder".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        std::io::ErrorKind::IsADirectory => "it is a folder".to_string(),
        _ => e.to_string(),
    }
}

pub(super) fn manifests(verb: &str, files: &[String], body: Option<&str>, body_line: usize) -> Result<Vec<Doc>, MagicError> {
    let mut docs = Vec::new();
    if let Some(body) = body.filter(|b| !b.trim().is_empty()) {
        docs.extend(manifest::parse_from(body, "the cell", body_line)?);
    }
    for path in files {
        let p = std::path::Path::new(path);
        let files: Vec<std::path::PathBuf> = if p.is_dir() {
            let mut v: Vec<_> = std::fs::read_dir(p)
                .map_err(|e| MagicError::usage(format!("%k8s {verb}: cannot read {path}: {}", io_reason(&e))))?
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
                MagicError::usage(format!("%k8s {verb}: cannot read {}: {}", f.display(), io_reason(&e)))
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
pub(super) async fn resolve(conn: &Conn, docs: &[Doc], flag_ns: Option<&str>, default_ns: &str) -> Result<Vec<(Kind, Option<String>)>, MagicError> {
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
            match (own, flag_ns) {
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

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn yaml_from_the_cell_or_files() {
        assert_eq!(refused(&Apply, "-n demo", true), "");
        assert_eq!(refused(&Apply, "-f a.yaml -f b.yaml", false), "");
        assert!(refused(&Apply, "pods", false).contains("the YAML goes in the cell"));
        assert_eq!(refused(&Apply, "-f", false), "%k8s apply: -f needs a file name");
    }

    #[test]
    fn dry_run_and_output() {
        assert_eq!(refused(&Apply, "-f a.yaml --dry-run=server", false), "");
        assert_eq!(refused(&Apply, "-f a.yaml --dry-run client -o yaml", false), "");
        assert_eq!(refused(&Apply, "-f a.yaml --dry-run=Server", false), "", "kubectl's values in any case");
        assert_eq!(refused(&Apply, "-f a.yaml --dry-run=maybe", false), "%k8s apply: --dry-run 'maybe': use none, server or client");
        assert_eq!(refused(&Apply, "-f a.yaml --dry-run", false), "%k8s apply: --dry-run needs none, server or client");
        assert_eq!(refused(&Apply, "-f a.yaml -o wide", false), "%k8s apply: -o wide: apply prints yaml, json or name");
    }

    #[test]
    fn client_dry_run_compares_the_fields_given() {
        let live = serde_json::json!({"metadata": {"name": "a", "uid": "1"}, "data": {"k": "v", "other": "x"},
            "spec": {"ports": [{"port": 80, "protocol": "TCP"}]}});
        assert!(has_all(&live, &serde_json::json!({"metadata": {"name": "a"}, "data": {"k": "v"}})));
        assert!(has_all(&live, &serde_json::json!({"spec": {"ports": [{"port": 80}]}})), "defaults the server added");
        assert!(!has_all(&live, &serde_json::json!({"data": {"k": "w"}})));
        assert!(!has_all(&live, &serde_json::json!({"data": {"new": "v"}})));
        assert!(!has_all(&live, &serde_json::json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}})));
    }

    #[test]
    fn objects_print_as_kubectl_apply_prints_them() {
        let a = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "managedFields": [{}]}});
        let b = serde_json::json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "b"}});
        let objects = [("configmap".to_string(), a), ("configmap".to_string(), b)];
        assert_eq!(objects_bundle("name", &objects).text().unwrap(), "configmap/a\nconfigmap/b\n");
        let yaml = objects_bundle("yaml", &objects).text().unwrap().to_string();
        assert_eq!(yaml.matches("---\n").count(), 1, "{yaml}");
        assert!(yaml.contains("name: a") && yaml.contains("name: b") && !yaml.contains("managedFields"), "{yaml}");
    }
}
