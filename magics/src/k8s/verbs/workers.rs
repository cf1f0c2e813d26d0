//! `%%k8s workers NAME --replicas N [--master JOB]`: the cell's Rust body, built like a job's,
//! run as a ReplicaSet of long-lived workers. With `--master JOB` each worker belongs to the
//! connected job JOB's world: a body of `kubernel::serve(f)` takes pmap items from JOB's
//! master for as long as it runs, and `%k8s scale rs/NAME --replicas M` adds or takes away
//! workers while it does. Without it the body serves whatever it connects to (a queue, say).
//! The cell shows the workers starting, live, until every replica is ready. The body is the
//! program's `main`, as for deploy: a worker hands no value back.

use super::flags::{Parsed, UsageError};
use super::job::{master_service, pmap_secret, refuse_theirs, worker_env};
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::build::{build_image, cell_of, cpu_env, expose_metrics, resources, restricted_pod, use_pull_secret, CELL_HASH};
use crate::k8s::cluster::objects::{api_for, apply_one, MANAGED_BY};
use crate::k8s::cluster::Scope;
use crate::k8s::view::{name_of, LiveLine};
use crate::k8s::watch::failed_create::{replica_failure, Missing};
use crate::k8s::watch::gone::until_name_gone;
use crate::k8s::watch::pod_health::{first_failure, StuckSince};
use crate::k8s::watch::{Wake, Watch};
use kube::api::{DeleteParams, PropagationPolicy};
use kube::runtime::watcher::Config;
use output::{escape_html, MimeBundle, StreamName};
use serde_json::{json, Value};
use std::time::Duration;
use tokio::time::Instant;

pub struct Workers;

const ABOUT: About = About {
    name: "workers",
    flags: &["--namespace", "--replicas", "--master", "--cpu", "--memory", "--image", "--registry", "--timeout", "--no-wait", "--context", "--kubeconfig"],
    help: "  %%k8s workers NAME [--replicas N] [--master JOB] [--cpu REQ[/LIM]] [--memory REQ[/LIM]]
        the cell's Rust body, with the notebook's items and :deps, run as a ReplicaSet of N
        long-lived workers labelled app=NAME; with --master JOB, kubernel::serve(f) in the body
        takes pmap items from the connected job JOB while it runs; %k8s scale rs/NAME changes
        how many [--image BASE] [--registry HOST[/PATH]] [--timeout 3m] [--no-wait]",
    body: Some(Body::Rust),
    takes_command: false,
};

const CONTAINER: &str = "worker";
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

struct Options {
    name: String,
    replicas: i64,
    master: Option<String>,
    cpu: Option<String>,
    memory: Option<String>,
    base: Option<String>,
    registry: Option<String>,
    wait: Option<Duration>,
    scope: Scope,
}

impl Verb for Workers {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let [name] = p.positional.as_slice() else {
            return Err(p.usage("write %%k8s workers NAME [--replicas N] [--master JOB], with the workers' Rust code below it in the cell"));
        };
        if !has_body {
            return Err(p.usage("workers run the Rust code in the cell's body: write %%k8s workers NAME, then the code below it (kubernel::serve(f), say)"));
        }
        plan(Options {
            name: name.clone(),
            replicas: p.number("--replicas").unwrap_or(1),
            master: p.text("--master"),
            cpu: p.text("--cpu"),
            memory: p.text("--memory"),
            base: p.text("--image"),
            registry: p.text("--registry"),
            wait: p.wait(DEFAULT_TIMEOUT)?,
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let mut cell = cell_of(&cx.notebook.snapshot(), cx.body.unwrap_or_default(), cx.body_line);
        cell.net = true;
        let built = build_image(&conn, cx.sink, &self.name, &cell, programs::Shape::Main, self.base.as_deref(), self.registry.as_deref()).await?;
        let kind = conn.kind("replicasets.apps").await?;
        let api = api_for(&conn, &kind, Some(&ns));
        // A ReplicaSet does not replace its pods when its template changes: new code means new
        // pods, so the old set goes first.
        if let Some(existing) = conn.call(&format!("get replicasets {}", self.name), api.get_opt(&self.name)).await? {
            let ours = existing.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY.0)).is_some_and(|m| m == MANAGED_BY.1);
            if !ours {
                return Err(MagicError::new("AlreadyExists", format!("replicaset.apps/{} already exists in {ns}, made by someone else; choose another name", self.name)));
            }
            let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Foreground), ..DeleteParams::default() };
            conn.call(&format!("delete replicasets {}", self.name), api.delete(&self.name, &dp)).await?;
            until_name_gone(&conn, &kind, &ns, &self.name, cx.sink).await.map_err(MagicError::from)?;
        }
        if let Some(master) = &self.master {
            // The same Service the job makes: its address is known before the job runs.
            let services = conn.kind("services").await?;
            refuse_theirs(&conn, &services, &ns, &format!("{master}-master")).await?;
            apply_one(&conn, &services, Some(&ns), master_service(master, None)).await?;
            pmap_secret(&conn, &ns, master, cx.sink).await?;
        }
        let mut set = self.manifest(&built.image, &built.program.hash);
        expose_metrics(&cell, &mut set["spec"]["template"]["spec"]);
        use_pull_secret(&conn, &ns, &built, &mut set["spec"]["template"]["spec"], cx.sink).await?;
        apply_one(&conn, &kind, Some(&ns), set).await?;
        cx.sink.stream(StreamName::Stdout, &format!("replicaset.apps/{} created in {ns}\n", self.name));
        let Some(limit) = self.wait else { return Ok(MagicOutput::None) };
        self.until_ready(&conn, &ns, limit, cx).await
    }
}

impl Options {
    fn manifest(&self, image: &str, cell_hash: &str) -> Value {
        let mut env = cpu_env(CONTAINER);
        if let Some(master) = &self.master {
            env.extend(worker_env(master));
        }
        let container = json!({ "name": CONTAINER, "image": image, "env": env, "resources": resources(&self.cpu, &self.memory) });
        let mut spec = restricted_pod(container);
        spec["terminationGracePeriodSeconds"] = json!(2);
        let labels = json!({ "app": self.name });
        json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": { "name": self.name, "labels": labels, "annotations": { CELL_HASH: cell_hash } },
            "spec": {
                "replicas": self.replicas,
                "selector": { "matchLabels": labels },
                "template": { "metadata": { "labels": labels }, "spec": spec }
            }
        })
    }

    /// Live until every replica is ready, a pod is stuck, or the time is up.
    async fn until_ready(&self, conn: &std::sync::Arc<crate::k8s::cluster::Conn>, ns: &str, limit: Duration, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let pods_kind = conn.kind("pods").await?;
        let started = Instant::now();
        let mut watch = Watch::new(conn.clone()).until(Some(started + limit)).tick(Duration::from_millis(500));
        let pods = watch.add("pods", api_for(conn, &pods_kind, Some(ns)), pods_kind.api_resource(), Config::default().labels(&format!("app={}", self.name)));
        let rs_kind = conn.kind("replicasets.apps").await?;
        let sets = watch.add("replicasets", api_for(conn, &rs_kind, Some(ns)), rs_kind.api_resource(), Config::default().fields(&format!("metadata.name={}", self.name)));
        let mut live = LiveLine::new(cx.sink, self.view(&[], "starting"));
        let mut stuck_since = StuckSince::new();
        let mut missing = Missing::default();
        loop {
            let wake = watch.next().await?;
            let mine: Vec<&Value> = watch.objects(pods).into_iter().filter(|p| p["metadata"]["deletionTimestamp"].is_null()).collect();
            let ready = mine.iter().filter(|p| p["status"]["conditions"].as_array().into_iter().flatten().any(|c| c["type"] == "Ready" && c["status"] == "True")).count() as i64;
            let secs = started.elapsed().as_secs();
            if let Some(failure) = first_failure(conn, ns, &mine, false, &mut stuck_since).await {
                live.finish(self.view(&mine, &format!("stopped: {}", failure.cause)));
                return Err(MagicError::new(&failure.cause, format!("workers {}: {}", self.name, failure.message)));
            }
            // Pods the ReplicaSet cannot create (a used-up quota) never appear to be judged.
            let why = watch.objects(sets).first().and_then(|rs| replica_failure(rs));
            if let Some(why) = missing.judge(why, Instant::now()) {
                live.finish(self.view(&mine, "stopped: FailedCreate"));
                return Err(MagicError::new("FailedCreate", format!("workers {} cannot create their pods: {why}", self.name)));
            }
            if ready >= self.replicas && mine.len() as i64 == self.replicas {
                live.finish(self.view(&mine, &format!("{ready} of {} ready in {secs} s", self.replicas)));
                return Ok(MagicOutput::None);
            }
            if wake == Wake::Deadline {
                live.finish(self.view(&mine, "timed out"));
                return Err(MagicError::new("Timeout", format!("workers {}: {ready} of {} ready after {} s; %k8s describe rs/{} says why", self.name, self.replicas, limit.as_secs(), self.name)));
            }
            live.update(self.view(&mine, &format!("{ready} of {} ready, {secs} s", self.replicas)));
        }
    }

    fn view(&self, pods: &[&Value], state: &str) -> MimeBundle {
        let rows: Vec<[String; 3]> = pods
            .iter()
            .map(|p| {
                let phase = p["status"]["containerStatuses"][0]["state"]["waiting"]["reason"].as_str().or(p["status"]["phase"].as_str()).unwrap_or("Pending");
                [name_of(p), p["spec"]["nodeName"].as_str().unwrap_or_default().to_string(), phase.to_string()]
            })
            .collect();
        let mut text = format!("{:<32} {:<12} STATE\n", "POD", "NODE");
        let mut html = String::from("<table><thead><tr><th style=\"text-align:left\">POD</th><th style=\"text-align:left\">NODE</th><th style=\"text-align:left\">STATE</th></tr></thead><tbody>");
        for [pod, node, phase] in &rows {
            text.push_str(&format!("{pod:<32} {node:<12} {phase}\n"));
            html.push_str(&format!("<tr><td>{}</td><td>{}</td><td>{}</td></tr>", escape_html(pod), escape_html(node), escape_html(phase)));
        }
        let master = self.master.as_ref().map(|m| format!(", serving job {m}")).unwrap_or_default();
        text.push_str(&format!("workers {}{master}: {state}\n", self.name));
        html.push_str(&format!("</tbody></table><div><i>workers {}{}: {}</i></div>", escape_html(&self.name), escape_html(&master), escape_html(state)));
        MimeBundle::plain(text).with("text/html", html)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;
    use kubernel::protocol;

    #[test]
    fn workers_lines() {
        assert_eq!(refused(&Workers, "squarers --replicas 2 --master sums", true), "");
        assert!(refused(&Workers, "squarers", false).contains("Rust code in the cell's body"));
        assert!(refused(&Workers, "a b", true).contains("write %%k8s workers NAME"));
    }

    #[test]
    fn workers_of_a_master_find_it_by_its_host_name() {
        let o = Options {
            name: "squarers".into(),
            replicas: 2,
            master: Some("sums".into()),
            cpu: None,
            memory: None,
            base: None,
            registry: None,
            wait: None,
            scope: Scope::default(),
        };
        let rs = o.manifest("img", "h");
        assert_eq!(rs["kind"], "ReplicaSet");
        assert_eq!(rs["spec"]["replicas"], 2);
        let env = rs["spec"]["template"]["spec"]["containers"][0]["env"].as_array().unwrap().clone();
        assert!(env.contains(&json!({ "name": protocol::MASTER_ENV, "value": "sums-master:5555" })), "{env:?}");
        assert_eq!(rs["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"], true);
    }
}
