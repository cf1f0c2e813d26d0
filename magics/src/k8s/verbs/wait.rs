//! `wait KIND/NAME... | KIND -l SELECTOR | KIND --all --for=...`: waits, on the watch and
//! visibly, until objects meet a condition, as kubectl wait does (its default timeout is 30 s).

use super::flags::{split_kind_names, Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::Scope;
use crate::k8s::watch::condition::{until_met, For, Wanted};
use std::time::Duration;

pub struct Wait;

const ABOUT: About = About {
    name: "wait",
    flags: &[
        "--namespace",
        "--all-namespaces",
        "--selector",
        "--all",
        "--field-selector",
        "--for",
        "--timeout",
        "--context",
        "--kubeconfig",
    ],
    help: "  %k8s wait KIND/NAME... | KIND -l SELECTOR | KIND --all  --for=condition=NAME[=VALUE] | --for=delete
        | --for=create | --for=jsonpath='{.status.phase}'=VALUE  [--timeout 30s]
        waits, showing what each object is now, until every one meets the condition",
    body: None,
    takes_command: false,
};

/// kubectl's default.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

struct Options {
    kind: String,
    names: Vec<String>,
    selector: Option<String>,
    fields: Option<String>,
    all_namespaces: bool,
    conditions: Vec<For>,
    timeout: Duration,
    scope: Scope,
}

/// The `--for` values in the order they are waited for: kubectl waits for `create` first,
/// then the others in the order given.
fn read_conditions(texts: &[String]) -> Result<Vec<For>, String> {
    let mut conditions = texts.iter().map(|t| For::parse(t)).collect::<Result<Vec<_>, _>>()?;
    conditions.sort_by_key(|c| *c != For::Create);
    Ok(conditions)
}

impl Verb for Wait {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        split_kind_names(&mut p)?;
        let Some(kind) = p.positional.first().cloned() else {
            return Err(p.usage("write wait KIND/NAME --for=condition=Available (or KIND -l SELECTOR, or KIND --all)"));
        };
        let names = p.positional[1..].to_vec();
        let selector = p.text("--selector");
        let fields = p.text("--field-selector");
        let any = selector.is_some() || fields.is_some() || p.has("--all");
        if !names.is_empty() && any {
            return Err(p.usage("names and -l, --field-selector or --all do not go together"));
        }
        if names.is_empty() && !any {
            return Err(p.usage(format!("which {kind}? give a name ({kind}/NAME), -l SELECTOR or --all")));
        }
        if !names.is_empty() && p.has("--all-namespaces") {
            return Err(p.usage("-A takes -l SELECTOR or --all, not names (a name is in one namespace)"));
        }
        let texts = p.texts("--for");
        if texts.is_empty() {
            return Err(p.usage("--for is needed: condition=NAME[=VALUE], delete, create or jsonpath='{.status.phase}'=VALUE"));
        }
        let conditions = read_conditions(&texts).map_err(|m| p.usage(m))?;
        plan(Options {
            kind,
            names,
            selector,
            fields,
            all_namespaces: p.has("--all-namespaces"),
            conditions,
            timeout: p.duration("--timeout").unwrap_or(DEFAULT_TIMEOUT),
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
        let kind = conn.kind(&self.kind).await?;
        let namespace = (kind.namespaced && !self.all_namespaces).then_some(ns.as_str());
        let wanted = Wanted {
            kind: &kind,
            namespace,
            names: &self.names,
            selector: self.selector.as_deref(),
            fields: self.fields.as_deref(),
            conditions: &self.conditions,
            timeout: self.timeout,
        };
        until_met(&conn, wanted, cx.sink).await?;
        Ok(MagicOutput::None)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{parsed, refused};
    use super::*;

    #[test]
    fn what_and_for_what() {
        assert_eq!(refused(&Wait, "deploy/web --for=condition=Available", false), "");
        assert_eq!(refused(&Wait, "deploy web api --for condition=Available --timeout 2m", false), "");
        assert_eq!(refused(&Wait, "pods -l app=web --for=jsonpath={.status.phase}=Running", false), "");
        assert_eq!(refused(&Wait, "pods --all -A --for=delete", false), "");
        assert!(refused(&Wait, "deploy/web", false).contains("--for is needed"));
        assert!(refused(&Wait, "deploy --for=delete", false).contains("which deploy?"));
        assert!(refused(&Wait, "deploy/web -l app=web --for=delete", false).contains("do not go together"));
        assert!(refused(&Wait, "deploy/web -A --for=delete", false).contains("-A takes"));
        assert!(refused(&Wait, "deploy/web --for=frob", false).contains("'frob' is not a condition"));
        assert!(refused(&Wait, "deploy/web --for=delete --timeout soon", false).contains("is not a duration"));
        assert_eq!(refused(&Wait, "deploy/web --for=delete --frob", false), "%k8s wait: unknown flag --frob");
    }

    #[test]
    fn create_comes_first() {
        let p = parsed(&Wait, "pod/x --for=condition=Ready --for=delete --for=create").unwrap();
        let ready = For::Condition { name: "Ready".into(), status: "true".into() };
        assert_eq!(read_conditions(&p.texts("--for")).unwrap(), [For::Create, ready, For::Delete]);
    }
}
