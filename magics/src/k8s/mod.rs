//! `%k8s` (alias `%kubectl`): Kubernetes from notebook cells, with kubectl's verbs and flags.
//!
//! Layers, each readable and testable on its own:
//! - [`args`]: kubectl-compatible argument parsing (no cluster),
//! - [`manifest`]: YAML documents with their lines (no cluster),
//! - [`client`] and [`ops`]: the connection, discovery and the verbs, on kube; [`logs`],
//!   [`exec`] (exec, port-forward), [`rollout`] (set image, rollout, autoscale), [`metrics`]
//!   (top), [`live`] (displays updated in place) and [`wait`] (live progress that ends with the
//!   cause of a failure) beside them,
//! - [`render`] and [`access_log`]: MIME bundles, HTML tables with aligned text twins (no cluster).

pub mod access_log;
pub mod args;
pub mod client;
pub mod exec;
pub mod live;
pub mod logs;
pub mod manifest;
pub mod metrics;
pub mod ops;
pub mod render;
pub mod rollout;
pub mod wait;

use crate::parse::{MagicCall, MagicKind};
use crate::registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
use args::{Verb, FLAGS};
use std::sync::Arc;
use std::time::Duration;

/// Registers `%k8s` / `%%k8s` (and `%kubectl`).
pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(K8s::default()));
}

#[derive(Default)]
pub struct K8s {
    session: ops::Session,
}

const HELP: &str = "\
%k8s VERB [ARGS] [FLAGS]        (also %kubectl; %%k8s apply with YAML in the cell)

Drives the Kubernetes cluster of your kubeconfig (KUBECONFIG, or ~/.kube/config, or the pod's
service account inside a cluster) with kubectl's verbs and flags. It connects on first use.

  %k8s connect [--context C] [--namespace N] [--kubeconfig PATH]
        connect (again) and show the server, its version, the nodes and their capacity, and the
        API groups with their preferred versions
  %k8s use namespace N          make N the namespace of later commands (kubectl: config set-context --current --namespace N)
  %k8s use context C            switch to context C of the kubeconfig (kubectl: config use-context C)
  %k8s get KIND [NAME...] [-n NS | -A] [-l SELECTOR] [-o wide|yaml|json|name]
        a table with kubectl's columns; KIND is a name, a short name (po, deploy, svc, rs, ns,
        no, cm, sa, ing, job, ds, sts, ...) or a custom resource; KIND/NAME and KIND,KIND work too
  %k8s get KIND [NAME] -w [--timeout 5m]
        the table, updated in place as things change, until interrupted or the timeout
  %k8s describe KIND [NAME...] [-n NS] [-l SELECTOR]
        metadata, labels, the highlights of the spec, status and conditions, recent events
  %%k8s apply [-n NS]           server-side apply of the YAML documents in the cell
  %k8s apply -f PATH            ... of a file or of the YAML files of a directory
  %k8s delete KIND NAME... | KIND -l SELECTOR | KIND --all | -f PATH  [--ignore-not-found]
  %k8s logs POD | deploy/NAME | job/NAME | -l SELECTOR [-c CONTAINER] [--tail N] [--since 5m] [--prefix]
        the logs; the pods of a workload are interleaved by time, each line with its pod
  %k8s logs ... -f [--timeout 30s]      follow: new lines as they come, until the timeout or an interrupt
  %k8s logs ... --stats [--timeout 30s] live request statistics of a web server's access log
        (requests, requests/s, by status, by path, by client), refreshed in place, as ngxtop does
  %k8s exec POD | deploy/NAME [-c CONTAINER] [-i] [--timeout T] -- COMMAND ARGS
        runs a command in a container: its stdout and stderr as the cell's, a non-zero exit code
        as an error; -i sends lines typed in the input box to its stdin (an empty line ends it);
        %%k8s exec ... -- COMMAND sends the cell's text to its stdin
  %k8s port-forward svc/NAME | pod/NAME | deploy/NAME [LOCAL:]REMOTE
        127.0.0.1:LOCAL reaches the pod's port, in the background (:REMOTE picks a free port)
  %k8s port-forward             the running forwards;  %k8s port-forward --stop [svc/NAME]: stop them
  %k8s scale deploy/NAME --replicas N   (also sts/, rs/)
  %k8s run NAME --image IMAGE [--port P] [--replicas N] [--env K=V]... [--cpu REQ[/LIM]] [--memory REQ[/LIM]] [-- COMMAND ARGS]
        a Deployment whose pods are labelled app=NAME; shows its progress live until every replica
        is available, or stops with the cause (ImagePullBackOff, Unschedulable, CrashLoopBackOff
        with the last lines it wrote) [--timeout 3m] [--no-wait]
  %k8s set image deploy/NAME CONTAINER=IMAGE [...]   (*=IMAGE: every container)
  %k8s rollout status deploy/NAME [--timeout 3m]     live progress of the rollout, or why it is stuck
  %k8s rollout history | undo [--to-revision N] | restart  deploy/NAME
  %k8s autoscale deploy/NAME --max M [--min N] [--cpu-percent P]   a HorizontalPodAutoscaler
  %k8s top pods [NAME] [-n NS | -A] [-l SELECTOR] | top nodes   CPU and memory in use (metrics-server)
  %k8s expose deploy/NAME --port P [--target-port T] [--type ClusterIP|NodePort|LoadBalancer] [--name N]
  %k8s endpoints svc/NAME       the pod addresses behind a service
  %k8s http svc/NAME[:PORT][/PATH]   GET through the API server's proxy; HTML is shown as a page
  %k8s owned [--all]            what this session created (--all: any kubernel session), everywhere
  %k8s cleanup [--all]          delete it (namespaces last)

Everything applied gets the labels app.kubernetes.io/managed-by=kubernel and
kubernel.io/session=<this kernel's id>; the field manager is \"kubernel\".
--context C and --kubeconfig PATH on any verb use that cluster for that one command.
Tab completes verbs, flags, kinds and the names of live objects.";

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
        "Kubernetes from cells: connect, get, describe, apply, delete, run, expose, endpoints, http, exec, port-forward, logs, scale, set image, rollout, autoscale, top, owned, cleanup"
    }
    fn help(&self) -> String {
        HELP.to_string()
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            let body = call.body.as_deref().filter(|b| !b.trim().is_empty());
            let a = args::parse_with_body(&call.args, body.is_some()).map_err(|e| MagicError::usage(e.0))?;
            if body.is_some() && !matches!(a.verb, Verb::Apply | Verb::Delete | Verb::Exec) {
                return Err(MagicError::usage(format!(
                    "%%k8s {} takes no cell body; apply and delete read YAML from the cell, exec sends it as stdin",
                    a.verb.name()
                )));
            }
            let s = &self.session;
            let body_line = call.line + 1;
            match a.verb {
                Verb::Connect => ops::connect(s, &a).await,
                Verb::Use => ops::use_(s, &a, &ctx.sink).await,
                Verb::Get => ops::get(s, &a, &ctx.sink).await,
                Verb::Describe => ops::describe(s, &a).await,
                Verb::Apply => ops::apply(s, &a, body, body_line, &ctx.sink).await,
                Verb::Delete => ops::delete(s, &a, body, body_line, &ctx.sink).await,
                Verb::Logs => logs::logs(s, &a, &ctx.sink).await,
                Verb::Exec => exec::exec(s, &a, body, &ctx.sink, &ctx.input).await,
                Verb::PortForward => exec::port_forward(s, &a, &ctx.sink).await,
                Verb::Set => rollout::set_image(s, &a, &ctx.sink).await,
                Verb::Rollout => rollout::rollout(s, &a, &ctx.sink).await,
                Verb::Autoscale => rollout::autoscale(s, &a, &ctx.sink).await,
                Verb::Top => metrics::top(s, &a).await,
                Verb::Scale => ops::scale(s, &a, &ctx.sink).await,
                Verb::Run => ops::run(s, &a, &ctx.sink).await,
                Verb::Expose => ops::expose(s, &a, &ctx.sink).await,
                Verb::Endpoints => ops::endpoints(s, &a).await,
                Verb::Http => ops::http(s, &a).await,
                Verb::Owned => ops::owned(s, &a).await,
                Verb::Cleanup => ops::cleanup(s, &a, &ctx.sink).await,
            }
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

fn takes_value(verb: Verb, flag: &str) -> bool {
    !flag.contains('=') && args::flag_of(verb, flag).is_some_and(|(_, _, value, _)| *value)
}

impl K8s {
    /// Everything that may be typed at the cursor; the caller filters by the typed prefix.
    async fn candidates(&self, before: &[&str], current: &str) -> Vec<String> {
        let Some(verb_word) = before.first() else {
            let mut v: Vec<String> = Verb::ALL.iter().map(|v| v.name().to_string()).collect();
            v.push("config".into());
            return v;
        };
        let Some(verb) = Verb::from_name(verb_word) else { return Vec::new() };
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
        if let Some(prev) = before.last().filter(|p| p.starts_with('-') && takes_value(verb, p)) {
            return match *prev {
                "-n" | "--namespace" => self.names("namespaces", None).await,
                "-o" | "--output" => args::Output::NAMES.iter().map(|s| s.to_string()).collect(),
                "--context" => client::context_names(None),
                _ => Vec::new(),
            };
        }
        if current.starts_with('-') {
            let mut flags = Vec::new();
            for long in verb.flags() {
                flags.push(long.to_string());
                if let Some((_, Some(short), _, _)) = FLAGS.iter().find(|(l, _, _, _)| l == long) {
                    flags.push(short.to_string());
                }
            }
            return flags;
        }
        match verb {
            Verb::Use => match positional.as_slice() {
                [] => vec!["namespace".into(), "context".into()],
                ["namespace" | "ns"] => self.names("namespaces", None).await,
                ["context"] => client::context_names(None),
                _ => Vec::new(),
            },
            Verb::Get | Verb::Describe | Verb::Delete | Verb::Scale | Verb::Expose | Verb::Endpoints | Verb::Http => {
                if let Some((kind, _)) = current.split_once('/') {
                    if positional.is_empty() {
                        return self
                            .names(kind, namespace.as_deref())
                            .await
                            .into_iter()
                            .map(|n| format!("{kind}/{n}"))
                            .collect();
                    }
                    return Vec::new();
                }
                match positional.first() {
                    None => self.kinds().await,
                    Some(kind) => self.names(kind, namespace.as_deref()).await,
                }
            }
            Verb::Set => match positional.as_slice() {
                [] => vec!["image".into()],
                ["image"] => self.workload_names(current, &["deploy/"], namespace.as_deref()).await,
                _ => Vec::new(),
            },
            Verb::Rollout => match positional.as_slice() {
                [] => ["status", "history", "undo", "restart"].iter().map(|s| s.to_string()).collect(),
                [_] => self.workload_names(current, &["deploy/"], namespace.as_deref()).await,
                _ => Vec::new(),
            },
            Verb::Autoscale if positional.is_empty() => self.workload_names(current, &["deploy/"], namespace.as_deref()).await,
            Verb::Top => match positional.as_slice() {
                [] => vec!["pods".into(), "nodes".into()],
                [kind] => self.names(kind, namespace.as_deref()).await,
                _ => Vec::new(),
            },
            Verb::Exec | Verb::PortForward if positional.is_empty() => {
                let mut v = self.workload_names(current, &["deploy/", "svc/", "sts/"], namespace.as_deref()).await;
                if !current.contains('/') {
                    v.extend(self.names("pods", namespace.as_deref()).await);
                }
                v
            }
            Verb::Logs => match positional.first() {
                None if current.contains('/') => {
                    let (kind, _) = current.split_once('/').unwrap_or_default();
                    self.names(kind, namespace.as_deref()).await.into_iter().map(|n| format!("{kind}/{n}")).collect()
                }
                None => {
                    let mut v = self.names("pods", namespace.as_deref()).await;
                    v.extend(["deploy/", "job/", "sts/", "ds/"].iter().map(|s| s.to_string()));
                    v
                }
                Some(_) => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// `deploy/` and friends while no kind is typed; `deploy/NAME` for each live one after.
    async fn workload_names(&self, current: &str, prefixes: &[&str], namespace: Option<&str>) -> Vec<String> {
        match current.split_once('/') {
            Some((kind, _)) => self.names(kind, namespace).await.into_iter().map(|n| format!("{kind}/{n}")).collect(),
            None => prefixes.iter().map(|s| s.to_string()).collect(),
        }
    }

    async fn kinds(&self) -> Vec<String> {
        let mut v: Vec<String> = args::COMMON_KINDS.iter().map(|s| s.to_string()).collect();
        v.extend(args::SHORT_NAMES.iter().map(|(s, _)| s.to_string()));
        if let Some(conn) = self.session.existing().await {
            if let Ok(catalog) = conn.catalog().await {
                v.extend(catalog.kinds.iter().map(|k| k.plural.clone()));
            }
        }
        v
    }

    async fn names(&self, kind: &str, namespace: Option<&str>) -> Vec<String> {
        let Ok(conn) = self.session.conn().await else { return Vec::new() };
        let ns = namespace.map(str::to_string).unwrap_or_else(|| self.session.namespace(&conn));
        ops::live_names(&conn, &ns, kind).await
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
        let (_, m) = complete(" exec -");
        assert!(m.contains(&"-i".to_string()) && m.contains(&"--container".to_string()), "{m:?}");
    }
}
