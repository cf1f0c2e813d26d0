//! `%k8s` (alias `%kubectl`): Kubernetes from notebook cells, with kubectl's verbs and flags.
//!
//! Layers, each readable and testable on its own; imports point down only:
//! - [`verbs`]: one file per verb (options, checks, completion, help, run) and the flag table;
//! - [`build`]: a cell made into a program and its image on the cluster's registry;
//! - [`watch`]: waiting and live updates on kube's runtime watcher, and the causes of stuck pods;
//! - [`cluster`]: connection, session, discovery, objects, manifests, typed errors (on kube);
//! - [`view`]: tables, documents, describe, access-log statistics, live displays (pure).
//!
//! This file is the magic: it finds the verb, hands it the cell, and completes what is typed.

pub mod build;
pub mod cluster;
pub mod verbs;
pub mod view;
pub mod watch;

use crate::framework::parse::{MagicCall, MagicKind};
use crate::framework::registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
use crate::framework::spelling::closest;
use cluster::Session;
use std::sync::Arc;
use std::time::Duration;
use verbs::flags::{self, parse, usage, Parsed, UsageError};
use verbs::{Body, Completing, Cx, State, Verb, ALL};

/// Registers `%k8s` / `%%k8s` (and `%kubectl`).
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(K8s::default()));
}

#[derive(Default)]
pub struct K8s {
    session: Session,
    state: State,
}

const HEAD: &str = "\
%k8s VERB [ARGS] [FLAGS]        (also %kubectl; %%k8s apply with YAML in the cell)

Drives the Kubernetes cluster of your kubeconfig (KUBECONFIG, or ~/.kube/config, or the pod's
service account inside a cluster) with kubectl's verbs and flags. It connects on first use.
";

const FOOT: &str = "\
Everything applied gets the labels app.kubernetes.io/managed-by=kubernel and
kubernel.io/session=<this kernel's id>; the field manager is \"kubernel\".
--context C and --kubeconfig PATH on any verb use that cluster for that one command.
Tab completes verbs, flags, kinds and the names of live objects.";

/// kubectl's verbs that kubernel does not have: said so, rather than "did you mean" another.
const NOT_YET: &[&str] = &[
    "edit", "replace", "attach",
    "drain", "cordon", "uncordon", "taint", "certificate", "kustomize", "plugin", "debug", "events",
    "completion", "alpha", "options",
];

fn verb_list() -> String {
    ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
}

/// The verb and its arguments as the flag table read them. kubectl's `config use-context C`
/// and `config set-context --current --namespace N` are spellings of `use`.
pub fn read(args: &[String], has_body: bool) -> Result<(&'static dyn Verb, Parsed), UsageError> {
    let Some(first) = args.first() else {
        return Err(UsageError(format!("%k8s: a verb is needed: {}", verb_list())));
    };
    let mut rest: Vec<String> = args[1..].to_vec();
    let name = match first.as_str() {
        "config" => match rest.first().map(String::as_str) {
            Some("use-context") => {
                rest[0] = "context".into();
                "use"
            }
            Some("set-context") => {
                rest.remove(0);
                rest.retain(|a| a != "--current");
                let given = parse("use", &["--namespace", "--context", "--kubeconfig"], false, &rest)?;
                let Some(ns) = given.text("--namespace") else {
                    return Err(usage("use", "config set-context needs --current --namespace NS"));
                };
                rest = vec!["namespace".into(), ns];
                "use"
            }
            _ => "config",
        },
        name => name,
    };
    if NOT_YET.contains(&name) {
        return Err(UsageError(format!("%k8s: kubectl's {name} is not in kubernel yet; the verbs are {}", verb_list())));
    }
    let Some(verb) = verbs::find(name) else {
        let hint = closest(name, ALL.iter().map(|v| v.name()))
            .map(|v| format!("; did you mean {v}?"))
            .unwrap_or_else(|| format!("; the verbs are {}", verb_list()));
        return Err(UsageError(format!("%k8s: unknown verb '{name}'{hint}")));
    };
    let parsed = parse(verb.name(), verb.flags(), verb.takes_command(), &rest)?;
    if has_body && verb.body().is_none() {
        return Err(UsageError(format!("%%k8s {} takes no cell body; {}", verb.name(), body_takers())));
    }
    Ok((verb, parsed))
}

/// "apply and delete read YAML from the cell, exec sends it as stdin"
fn body_takers() -> String {
    let names = |body: Body| ALL.iter().filter(|v| v.body() == Some(body)).map(|v| v.name()).collect::<Vec<_>>();
    let (yaml, stdin, rust, query) = (names(Body::Manifests), names(Body::Stdin), names(Body::Rust), names(Body::Query));
    // "apply, diff and delete"
    let and = |names: &[&str]| match names.split_last() {
        Some((last, init)) if !init.is_empty() => format!("{} and {last}", init.join(", ")),
        _ => names.join(""),
    };
    let says = |names: &[&str], one: &str, many: &str| format!("{} {}", and(names), if names.len() == 1 { one } else { many });
    let mut parts = vec![
        says(&yaml, "reads YAML from the cell", "read YAML from the cell"),
        says(&stdin, "sends it as stdin", "send it as stdin"),
    ];
    if !rust.is_empty() {
        parts.push(says(&rust, "takes Rust code", "take Rust code"));
    }
    if !query.is_empty() {
        parts.push(says(&query, "takes its query", "take their query"));
    }
    parts.join(", ")
}

impl Magic for K8s {
    fn name(&self) -> &'static str {
        "k8s"
    }
    fn aliases(&self) -> &'static [&'static str] {
        &["kubectl"]
    }
    fn kinds(&self) -> &'static [MagicKind] {
        &[MagicKind::Line, MagicKind::Cell]
    }
    fn summary(&self) -> &'static str {
        "Kubernetes from cells: connect, get, describe, apply, diff, delete, run, expose, endpoints, http, exec, cp, port-forward, logs, scale, set image, rollout, autoscale, top, owned, cleanup, explain, patch, wait, auth can-i; the notebook's own Rust in the cluster: job, deploy, images, image"
    }
    fn help(&self) -> String {
        let verbs: Vec<&str> = ALL.iter().map(|v| v.help()).collect();
        format!("{HEAD}\n{}\n\n{FOOT}", verbs.join("\n"))
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            let body = call.body.as_deref().filter(|b| !b.trim().is_empty());
            let (verb, parsed) = read(&call.args, body.is_some())?;
            let plan = verb.plan(parsed, body.is_some())?;
            let cx = Cx {
                session: &self.session,
                state: &self.state,
                sink: &ctx.sink,
                input: &ctx.input,
                notebook: &ctx.notebook,
                body,
                body_line: call.line + 1,
            };
            plan.run(&cx).await
        })
    }
    fn complete<'a>(&'a self, text: &'a str) -> MagicFuture<'a, (usize, Vec<String>)> {
        Box::pin(async move {
            let start = text.rfind(char::is_whitespace).map(|i| i + 1).unwrap_or(0);
            let current = &text[start..];
            let before: Vec<&str> = text[..start].split_whitespace().collect();
            let found = tokio::time::timeout(Duration::from_secs(4), self.candidates(&before, current))
                .await
                .unwrap_or_default();
            let mut matches: Vec<String> = found.into_iter().filter(|c| c.starts_with(current)).collect();
            matches.sort();
            matches.dedup();
            (start, matches)
        })
    }
}

/// The values a flag of `verb` takes, if it takes one of a fixed set (--dry-run, --type ...).
fn choices(verb: &dyn Verb, flag: &str) -> &'static [&'static str] {
    match flags::resolve(verb.flags(), flag).map(|f| f.value) {
        Some(flags::ValueKind::Choice(values)) => values,
        _ => &[],
    }
}

fn takes_value(verb: &dyn Verb, flag: &str) -> bool {
    !flag.contains('=') && flags::resolve(verb.flags(), flag).is_some_and(|f| f.value != flags::ValueKind::Switch)
}

impl K8s {
    /// Everything that may be typed at the cursor; the caller filters by the typed prefix.
    async fn candidates(&self, before: &[&str], current: &str) -> Vec<String> {
        let Some(verb_word) = before.first() else {
            return ALL.iter().map(|v| v.name().to_string()).collect();
        };
        let Some(verb) = verbs::find(verb_word) else { return Vec::new() };
        // Positionals so far (flag values left out), and the -n given, if any.
        let mut positional = Vec::new();
        let mut namespace = None;
        let mut i = 1;
        while i < before.len() {
            let t = before[i];
            if t.starts_with('-') {
                if takes_value(verb, t) {
                    if matches!(t, "-n" | "--namespace") {
                        namespace = before.get(i + 1).map(|s| s.to_string());
                    }
                    i += 1;
                }
            } else {
                positional.push(t);
            }
            i += 1;
        }
        let cx = Completing { session: &self.session, positional, namespace, current };
        if let Some(prev) = before.last().filter(|p| p.starts_with('-') && takes_value(verb, p)) {
            return match *prev {
                "-n" | "--namespace" => cx.names("namespaces").await,
                "-o" | "--output" => flags::OUTPUTS.iter().map(|s| s.to_string()).collect(),
                "--context" => cx.contexts(),
                flag => choices(verb, flag).iter().map(|s| s.to_string()).collect(),
            };
        }
        // `--dry-run=se`: the values of a flag that has a fixed set of them.
        if let Some((flag, _)) = current.split_once('=').filter(|(f, _)| f.starts_with("--")) {
            return choices(verb, flag).iter().map(|v| format!("{flag}={v}")).collect();
        }
        if current.starts_with('-') {
            let mut found = Vec::new();
            for long in verb.flags() {
                found.push(long.to_string());
                if let Some(short) = flags::resolve(verb.flags(), long).and_then(|f| f.short) {
                    found.push(short.to_string());
                }
            }
            return found;
        }
        verb.complete(&cx).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn complete(text: &str) -> (usize, Vec<String>) {
        let k = K8s::default();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(k.complete(text))
    }

    #[test]
    fn completes_verbs_flags_kinds_offline() {
        let (start, m) = complete(" ge");
        assert_eq!(start, 1);
        assert_eq!(m, vec!["get"]);
        let (_, m) = complete(" get pods --nam");
        assert_eq!(m, vec!["--namespace"]);
        let (_, m) = complete(" get pods -o ");
        assert_eq!(m, vec!["json", "name", "wide", "yaml"]);
        let (start, m) = complete(" get deplo");
        assert_eq!(start, 5);
        assert!(m.contains(&"deployments".to_string()) && m.contains(&"deploy".to_string()), "{m:?}");
        let (_, m) = complete(" use ");
        assert_eq!(m, vec!["context", "namespace"]);
        let (_, m) = complete(" rollout ");
        assert_eq!(m, vec!["history", "restart", "status", "undo"]);
        let (_, m) = complete(" logs -f --ti");
        assert_eq!(m, vec!["--timeout"], "-f takes no value in logs");
        let (_, m) = complete(" apply --dry-run=s");
        assert_eq!(m, vec!["--dry-run=server"]);
        let (_, m) = complete(" apply -f x --dry-run ");
        assert_eq!(m, vec!["client", "none", "server"]);
        let (_, m) = complete(" top pods --conta");
        assert_eq!(m, vec!["--containers"]);
        let (_, m) = complete(" di");
        assert_eq!(m, vec!["diff"]);
        let (_, m) = complete(" exec -");
        assert!(m.contains(&"-i".to_string()) && m.contains(&"--container".to_string()), "{m:?}");
    }

    #[test]
    fn verbs_and_bodies() {
        let args = |line: &str| line.split_whitespace().map(str::to_string).collect::<Vec<_>>();
        let err = |line: &str, body: bool| read(&args(line), body).err().map(|e| e.0).unwrap_or_default();
        assert_eq!(err("gte pods", false), "%k8s: unknown verb 'gte'; did you mean get?");
        assert!(err("edit a b", false).starts_with("%k8s: kubectl's edit is not in kubernel yet"), "not 'did you mean exec?'");
        assert!(err("", false).contains("a verb is needed"));
        assert_eq!(
            err("get pods", true),
            "%%k8s get takes no cell body; apply, diff and delete read YAML from the cell, exec sends it as stdin, job, workers, deploy and image take Rust code, promql takes its query"
        );
        let (verb, p) = read(&args("config use-context kind"), false).unwrap();
        assert_eq!((verb.name(), p.positional.as_slice()), ("use", &["context".to_string(), "kind".to_string()][..]));
        let (_, p) = read(&args("config set-context --current --namespace=demo"), false).unwrap();
        assert_eq!(p.positional, ["namespace", "demo"]);
        assert!(K8s::default().help().contains("%k8s port-forward svc/NAME"), "every verb brings its help");
    }
}
