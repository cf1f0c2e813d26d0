//! `apply`: server-side apply (field manager `kubernel`) of the YAML documents in the cell
//! (`%%k8s apply`) or in files and folders (`-f PATH`), each labelled as this session's.

use super::flags::{Parsed, UsageError};
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::cluster::manifest::{self, Doc};
use crate::k8s::cluster::objects::{api_for, kind_ref, mark_ours, FIELD_MANAGER};
use crate::k8s::cluster::{ClusterError, Conn, Kind, Scope};
use kube::api::{Patch, PatchParams};
use output::StreamName;
use serde_json::Value;

pub struct Apply;

const ABOUT: About = About {
    name: "apply",
    flags: &["--namespace", "--filename", "--context", "--kubeconfig"],
    help: "  %%k8s apply [-n NS]           server-side apply of the YAML documents in the cell
  %k8s apply -f PATH            ... of a file or of the YAML files of a directory",
    body: Some(Body::Manifests),
    takes_command: false,
};

struct Options {
    files: Vec<String>,
    scope: Scope,
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
        plan(Options { files: p.texts("--filename"), scope: p.scope() })
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
        for (i, (doc, kind, ns, name, value)) in objects.iter().enumerate() {
            let api = api_for(&conn, kind, ns.as_deref());
            if let Err(e) = conn.call(&format!("apply {} {name}", kind.plural), api.patch(name, &params, &Patch::Apply(value))).await {
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
            applied.push(format!("{}/{name}", kind_ref(kind)));
            cx.sink.stream(StreamName::Stdout, &format!("{}/{name} serverside-applied\n", kind_ref(kind)));
        }
        Ok(MagicOutput::None)
    }
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
}
