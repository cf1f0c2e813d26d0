//! `delete`: objects by name, by label selector, all of a kind, or those of manifests (`-f PATH`
//! or `%%k8s delete` with YAML in the cell).

use crate::k8s::watch::gone::until_name_gone;
use super::apply::{manifests, resolve};
use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Body, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::{api_for, kind_ref};
use crate::k8s::cluster::{Kind, Scope};
use kube::api::{DeleteParams, ListParams};
use output::StreamName;

pub struct Delete;

const ABOUT: About = About {
    name: "delete",
    flags: &["--namespace", "--selector", "--filename", "--all", "--ignore-not-found", "--context", "--kubeconfig"],
    help: "  %k8s delete KIND NAME... | KIND -l SELECTOR | KIND --all | -f PATH  [--ignore-not-found]",
    body: Some(Body::Manifests),
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    files: Vec<String>,
    selector: Option<String>,
    ignore_not_found: bool,
    scope: Scope,
}

impl Verb for Delete {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        let files = p.texts("--filename");
        let selector = p.text("--selector");
        if !files.is_empty() || has_body {
            if !p.positional.is_empty() || selector.is_some() {
                return Err(p.usage("-f does not go with a kind, names or -l"));
            }
        } else {
            match p.positional.len() {
                0 => return Err(p.usage("what to delete? KIND NAME, KIND -l SELECTOR or -f PATH")),
                1 if selector.is_none() && !p.has("--all") => {
                    return Err(p.usage(format!("which {}? give a name, -l SELECTOR or --all", p.positional[0])))
                }
                _ => {}
            }
            if selector.is_some() && p.positional.len() > 1 {
                return Err(p.usage("give names or -l, not both"));
            }
        }
        plan(Options {
            positional: p.positional.clone(),
            files,
            selector,
            ignore_not_found: p.has("--ignore-not-found"),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(cx.kind_then_names())
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let mut targets: Vec<(Kind, Option<String>, String)> = Vec::new();
        if !self.files.is_empty() || cx.body.is_some_and(|b| !b.trim().is_empty()) {
            let docs = manifests("delete", &self.files, cx.body, cx.body_line)?;
            for (doc, (kind, ns)) in docs.iter().zip(resolve(&conn, &docs, self.scope.namespace.as_deref(), &ns).await?) {
                targets.push((kind, ns, doc.value["metadata"]["name"].as_str().unwrap_or_default().to_string()));
            }
        } else {
            let kind = conn.kind(&self.positional[0]).await?;
            let ns = kind.namespaced.then(|| ns.clone());
            if self.positional.len() > 1 {
                for name in &self.positional[1..] {
                    targets.push((kind.clone(), ns.clone(), name.clone()));
                }
            } else {
                let mut lp = ListParams::default();
                if let Some(sel) = &self.selector {
                    lp = lp.labels(sel);
                }
                let api = api_for(&conn, &kind, ns.as_deref());
                let list = conn.call(&format!("list {}", kind.plural), api.list(&lp)).await?;
                if list.items.is_empty() {
                    cx.sink.stream(StreamName::Stdout, "No resources found\n");
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
        let mut deleted = Vec::new();
        for (kind, ns, name) in targets {
            let api = api_for(&conn, &kind, ns.as_deref());
            match conn.call(&format!("delete {} {name}", kind.plural), api.delete(&name, &DeleteParams::background())).await {
                Ok(_) => {
                    cx.sink.stream(StreamName::Stdout, &format!("{} \"{name}\" deleted\n", kind_ref(&kind)));
                    deleted.push((kind, ns, name));
                }
                Err(e) if e.is_not_found() && self.ignore_not_found => {}
                Err(e) => {
                    let e = MagicError::from(e);
                    // With several objects, say which failed and go on; the first failure is the error.
                    if several {
                        cx.sink.stream(StreamName::Stderr, &format!("{}: {}\n", e.ename, e.message));
                    }
                    first_error.get_or_insert(e);
                }
            }
        }
        // As kubectl does (--wait): the cell ends when what it deleted is gone, so that the next
        // cell can make it again (a namespace takes a few seconds to empty).
        for (kind, ns, name) in &deleted {
            // Slow to go (a volume in use, a namespace emptying): a note, as the cluster finishes it.
            if let Err(e) = until_name_gone(&conn, kind, ns.as_deref().unwrap_or_default(), name, cx.sink).await {
                let e = MagicError::from(e);
                cx.sink.stream(StreamName::Stderr, &format!("note: {} \"{name}\" is still going away ({})\n", kind_ref(kind), e.message));
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(MagicOutput::None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn what_to_delete() {
        assert_eq!(refused(&Delete, "cm web -n demo", false), "");
        assert_eq!(refused(&Delete, "deploy -l app=web", false), "");
        assert_eq!(refused(&Delete, "-f x.yaml", false), "");
        assert_eq!(refused(&Delete, "", true), "", "%%k8s delete reads the cell");
        assert_eq!(refused(&Delete, "pods", false), "%k8s delete: which pods? give a name, -l SELECTOR or --all");
        assert_ne!(refused(&Delete, "pods x -l a=b", false), "");
        assert_ne!(refused(&Delete, "-f x.yaml pods", false), "");
        assert_ne!(refused(&Delete, "pod/a svc/b", false), "");
    }
}
