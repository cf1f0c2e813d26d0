//! `%%k8s job NAME`: the cell's Rust body, with everything the notebook has defined, run in the
//! cluster as an Indexed Job. One live table follows it (a row per rank: pod, node, phase,
//! progress, pmap items, time, result), the pods' output comes into the cell with a `[rank]`
//! prefix, and the value of each rank's last expression comes back by exec (not through logs,
//! which rotate) into a notebook variable with `--into`.
//!
//! Scaling: `--cpu N` gives each pod N CPUs (`kubernel::threads()`), `--procs P` runs P
//! processes in each pod, and `--connected` makes all the job's processes one master-worker
//! world for `kubernel::pmap` (a headless Service gives each pod the host name NAME-i.NAME).
//!
//! - `follow`: the loop that watches the pods, streams their output and takes their results;
//! - `results`: what the notebook gets at the end, or the failures named.

mod follow;
mod results;

pub use results::notebook_type;

use super::flags::{Parsed, UsageError};
use super::{plan, About, Body, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicOutput};
use crate::k8s::build::{build_image, cell_of, cpu_env, expose_metrics, resources, restricted_pod, use_pull_secret, CELL_HASH, IMAGE_DIGEST, LOCK_HASH};
use crate::k8s::cluster::objects::{api_for, apply_one, mark_ours, session_id, DeleteOnDrop, Deletion, FIELD_MANAGER, MANAGED_BY, SESSION_LABEL};
use crate::k8s::cluster::Scope;
use crate::k8s::watch::gone::until_name_gone;
use kube::api::{DeleteParams, DynamicObject, PostParams, PropagationPolicy};
use kubernel::protocol;
use serde_json::{json, Value};
use std::time::Duration;

pub struct Job;

const ABOUT: About = About {
    name: "job",
    flags: &[
        "--namespace",
        "--completions",
        "--parallelism",
        "--procs",
        "--connected",
        "--cpu",
        "--memory",
        "--into",
        "--timeout",
        "--image",
        "--registry",
        "--context",
        "--kubeconfig",
    ],
    help: "  %%k8s job NAME [--completions N] [--parallelism P] [--procs P] [--connected] [--cpu REQ[/LIM]] [--memory REQ[/LIM]] [--into VAR] [--timeout 10m]
        the cell's Rust body, with the notebook's items and :deps, compiled here and run as an
        Indexed Job of N pods, each with P processes; kubernel::rank(), world() and
        partition(range) tell each process its share, threads() its CPUs; the value of the body's
        last expression is each rank's result, and --into VAR makes them the notebook's VAR:
        Vec<T> in rank order; with --connected the processes are one world for kubernel::pmap
        (rank 0 is the master) and VAR is the master's value; --parallelism P alone runs P
        workers, for a work queue (kubernel::queue) they drain [--image BASE] [--registry HOST[/PATH]]",
    body: Some(Body::Rust),
    takes_command: false,
};

/// How long a job may run unless --timeout says otherwise (its activeDeadlineSeconds).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);
/// How long a finished pod waits to hand over its result.
const HAND_OVER_TIMEOUT: Duration = Duration::from_secs(300);
/// The container's name in every job pod.
const CONTAINER: &str = "program";
/// The label every pod of one job carries, for finding them.
const JOB_LABEL: &str = "kubernel.io/job";
/// After the master of a connected job has handed over, how long its workers get to end.
const WORKERS_GRACE: Duration = Duration::from_secs(10);

struct Options {
    name: String,
    completions: i64,
    parallelism: i64,
    procs: i64,
    connected: bool,
    cpu: Option<String>,
    memory: Option<String>,
    into: Option<String>,
    timeout: Duration,
    base: Option<String>,
    registry: Option<String>,
    scope: Scope,
}

impl Verb for Job {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let [name] = p.positional.as_slice() else {
            return Err(p.usage("write %%k8s job NAME [--completions N], with the Rust code below it in the cell"));
        };
        // The pods are named NAME-INDEX-xxxxx, and Kubernetes names are DNS labels of 63 at most.
        let valid = !name.is_empty()
            && name.len() <= 50
            && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !valid {
            return Err(p.usage(format!("'{name}' is not a job name: lower-case letters, digits and '-', at most 50")));
        }
        if !has_body {
            return Err(p.usage("a job runs the Rust code in the cell's body: write %%k8s job NAME, then the code below it"));
        }
        // --parallelism P alone is P workers, as a work queue's Job: each drains the queue
        // and exits when it is empty (kubectl's Job with parallelism and no completions).
        let completions = p.number("--completions").or(p.number("--parallelism")).unwrap_or(1);
        // Every pod of a connected job runs until the master is done: all must run at once.
        if p.has("--connected") && p.number("--parallelism").is_some_and(|par| par < completions) {
            return Err(p.usage("a --connected job's pods all run at once: --parallelism must not be below --completions"));
        }
        plan(Options {
            name: name.clone(),
            completions,
            parallelism: p.number("--parallelism").unwrap_or(completions).min(completions),
            procs: p.number("--procs").unwrap_or(1),
            connected: p.has("--connected"),
            cpu: p.text("--cpu"),
            memory: p.text("--memory"),
            into: p.text("--into"),
            timeout: p.duration("--timeout").unwrap_or(DEFAULT_TIMEOUT),
            base: p.text("--image"),
            registry: p.text("--registry"),
            scope: p.scope(),
        })
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (conn, ns) = cx.session.for_call(&self.scope).await?;
        let sink = cx.sink;
        let mut cell = cell_of(&cx.notebook.snapshot(), cx.body.unwrap_or_default(), cx.body_line);
        cell.net = self.connected;
        let built = build_image(&conn, sink, &self.name, &cell, programs::Shape::Job, self.base.as_deref(), self.registry.as_deref()).await?;
        let kind = conn.kind("jobs.batch").await?;
        let api = api_for(&conn, &kind, Some(&ns));
        // The same cell run again replaces its earlier job; someone else's is left alone.
        if let Some(existing) = conn.call(&format!("get jobs {}", self.name), api.get_opt(&self.name)).await? {
            let labels = existing.metadata.labels.clone().unwrap_or_default();
            let ours = labels.get(SESSION_LABEL).is_some_and(|s| s == session_id());
            // A finished job of an earlier kernel (the notebook run again) runs nothing: it may go.
            let kubernels = labels.get(MANAGED_BY.0).is_some_and(|m| m == MANAGED_BY.1);
            let finished = existing.data["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
            if !ours && !(kubernels && finished) {
                let who = if kubernels { "another kubernel session, and it is still running" } else { "someone else" };
                return Err(MagicError::new(
                    "AlreadyExists",
                    format!("job.batch/{} already exists in {ns}, made by {who}; choose another name, or %k8s delete job/{} -n {ns}", self.name, self.name),
                ));
            }
            let dp = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
            conn.call(&format!("delete job {}", self.name), api.delete(&self.name, &dp)).await?;
            until_name_gone(&conn, &kind, &ns, &self.name, sink)
                .await
                .map_err(|e| MagicError::new("Timeout", format!("{}; try again, or choose another name", MagicError::from(e).message)))?;
        }
        let services = conn.kind("services").await?;
        if self.connected {
            // A Service of the same name that someone else made is not ours to take over.
            for service in [self.name.clone(), format!("{}-master", self.name)] {
                refuse_theirs(&conn, &services, &ns, &service).await?;
            }
            // Before the pods: they find their master by it from their first moment.
            apply_one(&conn, &services, Some(&ns), master_service(&self.name, None)).await?;
            pmap_secret(&conn, &ns, &self.name, sink).await?;
        }
        let mut job = self.manifest(&built.image, &built.program.hash, &built.program.lock_hash, &built.pushed.digest);
        expose_metrics(&cell, &mut job["spec"]["template"]["spec"]);
        use_pull_secret(&conn, &ns, &built, &mut job["spec"]["template"]["spec"], sink).await?;
        mark_ours(&mut job, Some(&ns));
        let object: DynamicObject = serde_json::from_value(job).map_err(|e| MagicError::new("Internal", e.to_string()))?;
        let pp = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
        let created = conn.call(&format!("create job {}", self.name), api.create(&pp, &object)).await?;
        let uid = created.metadata.uid.clone().unwrap_or_default();
        // From here on, a cell that stops early (an interrupt, or an error below) takes its
        // pods with it. The job, then its pods at once: not left to the garbage collector's pace.
        let pods_kind = conn.kind("pods").await?;
        let background = DeleteParams { propagation_policy: Some(PropagationPolicy::Background), ..DeleteParams::default() };
        let now = DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() };
        let mut guard = DeleteOnDrop::new(vec![
            (api.clone(), Deletion::Named(self.name.clone(), background)),
            (api_for(&conn, &pods_kind, Some(&ns)), Deletion::Labelled(format!("{JOB_LABEL}={}", self.name), now)),
        ]);
        if self.connected {
            // Owned by the Job: it goes when the Job goes.
            apply_one(&conn, &services, Some(&ns), self.headless_service(&uid)).await?;
            // This run's rank 0 only, not a pod of the last run still going away.
            apply_one(&conn, &services, Some(&ns), master_service(&self.name, Some(&uid))).await?;
        }
        let outcome = follow::follow(&conn, &kind, &ns, self, &uid, sink).await;
        // A job that ended in an error (stuck, timed out) would only wait for its deadline, and
        // the workers of a connected job that ended have nobody left to serve.
        guard.armed = match &outcome {
            Err(_) => true,
            Ok(rows) => self.connected && rows.iter().any(|r| !r.over()),
        };
        let rows = outcome?;
        drop(guard);
        results::finish(cx, self, &ns, rows, &|location| programs::cell_location(location, built.program.body_start, &cell)).await
    }
}

/// Where the workers of connected job `job` reach its master: a Service of its own, with a
/// cluster IP that stays the same from run to run. Pod names (`job-0.job`) would do too, but
/// DNS caches them for 30 s, absent or with the last run's address, and workers would wait
/// that long to join.
pub fn master_address(job: &str) -> String {
    format!("{job}-master:{}", protocol::PMAP_PORT)
}

/// What makes a program's processes workers of connected job `job` (its own pods, or a
/// ReplicaSet's with `--master job`), with the secret they share ([`pmap_secret`]).
pub fn worker_env(job: &str) -> [Value; 3] {
    [
        json!({ "name": protocol::CONNECTED_ENV, "value": "1" }),
        json!({ "name": protocol::MASTER_ENV, "value": master_address(job) }),
        // Optional: where Secrets cannot be made, the pods start without it (and anyone may join).
        json!({ "name": protocol::PMAP_TOKEN_ENV, "valueFrom": { "secretKeyRef": { "name": pmap_secret_name(job), "key": "token", "optional": true } } }),
    ]
}

fn pmap_secret_name(job: &str) -> String {
    format!("{job}-pmap")
}

/// The Secret whose token the master of connected job `job` asks of every worker, so that no
/// other pod of the cluster can take work or send results. Made once and kept (not owned by a
/// run: the workers of a ReplicaSet serve every run of the job); `%k8s cleanup` removes it.
pub async fn pmap_secret(conn: &crate::k8s::cluster::Conn, ns: &str, job: &str, sink: &std::sync::Arc<dyn output::OutputSink>) -> Result<(), MagicError> {
    use crate::k8s::cluster::ClusterError;
    let kind = conn.kind("secrets").await?;
    let api = api_for(conn, &kind, Some(ns));
    let name = pmap_secret_name(job);
    let mut secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "labels": { JOB_LABEL: job } },
        "type": "Opaque",
        "stringData": { "token": uuid::Uuid::new_v4().simple().to_string() }
    });
    mark_ours(&mut secret, Some(ns));
    let secret: DynamicObject = serde_json::from_value(secret).map_err(|e| MagicError::new("InternalError", e.to_string()))?;
    let params = PostParams { field_manager: Some(FIELD_MANAGER.to_string()), ..PostParams::default() };
    // Made, not read then made: two runs at once would each make a token, and one run's pods
    // would carry the other's. Whoever comes second keeps the first one's.
    match conn.call(&format!("create secrets {name}"), api.create(&params, &secret)).await {
        Ok(_) | Err(ClusterError::AlreadyExists { .. }) => Ok(()),
        Err(ClusterError::Forbidden { .. }) => {
            // Not allowed to make one, but there may be one already (made by someone who may).
            if !matches!(conn.call(&format!("get secrets {name}"), api.get_metadata_opt(&name)).await, Ok(Some(_))) {
                sink.stream(output::StreamName::Stderr, &format!("note: not allowed to read or make the Secret {name} in {ns}; the job's pmap port takes any pod that connects\n"));
            }
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

/// The Service of [`master_address`]: rank 0's pod, ready or not (of the run with Job uid
/// `run`, once there is one). Not owned by the job (a new Service would mean a new address);
/// `%k8s cleanup` and the namespace take it away.
pub fn master_service(job: &str, run: Option<&str>) -> Value {
    let mut selector = json!({ JOB_LABEL: job, "batch.kubernetes.io/job-completion-index": "0" });
    if let Some(uid) = run {
        selector["batch.kubernetes.io/controller-uid"] = json!(uid);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": { "name": format!("{job}-master"), "labels": { JOB_LABEL: job } },
        "spec": {
            "publishNotReadyAddresses": true,
            "selector": selector,
            "ports": [{ "name": "pmap", "port": protocol::PMAP_PORT, "protocol": "TCP" }]
        }
    })
}

/// Refuses a Service `name` that exists and was not made by kubernel.
pub async fn refuse_theirs(conn: &crate::k8s::cluster::Conn, kind: &crate::k8s::cluster::Kind, ns: &str, name: &str) -> Result<(), MagicError> {
    let api = api_for(conn, kind, Some(ns));
    if let Some(existing) = conn.call(&format!("get services {name}"), api.get_opt(name)).await? {
        let ours = existing.metadata.labels.as_ref().and_then(|l| l.get(MANAGED_BY.0)).is_some_and(|m| m == MANAGED_BY.1);
        if !ours {
            return Err(MagicError::new(
                "AlreadyExists",
                format!("service/{name} already exists in {ns}, made by someone else; a connected job needs that name: choose another job name"),
            ));
        }
    }
    Ok(())
}

impl Options {
    fn manifest(&self, image: &str, cell_hash: &str, lock_hash: &str, digest: &str) -> Value {
        let name = &self.name;
        let mut env = vec![
            json!({ "name": protocol::WORLD_ENV, "value": self.completions.to_string() }),
            json!({ "name": protocol::HAND_OVER_TIMEOUT_ENV, "value": HAND_OVER_TIMEOUT.as_secs().to_string() }),
            json!({ "name": protocol::JOB_ENV, "value": name }),
        ];
        env.extend(cpu_env(CONTAINER));
        if self.procs > 1 {
            env.push(json!({ "name": protocol::PROCS_ENV, "value": self.procs.to_string() }));
        }
        if self.connected {
            env.extend(worker_env(name));
        }
        let container = json!({ "name": CONTAINER, "image": image, "env": env, "resources": resources(&self.cpu, &self.memory) });
        let mut spec = restricted_pod(container);
        if self.connected {
            // NAME-i.NAME resolves to pod i through the headless Service of the same name.
            spec["subdomain"] = json!(name);
        }
        spec["restartPolicy"] = json!("Never");
        spec["terminationGracePeriodSeconds"] = json!(2);
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {
                "name": name,
                "labels": { JOB_LABEL: name },
                "annotations": { CELL_HASH: cell_hash, LOCK_HASH: lock_hash, IMAGE_DIGEST: digest }
            },
            "spec": {
                "completionMode": "Indexed",
                "completions": self.completions,
                "parallelism": self.parallelism,
                // A failed index is tried once more, alone; a panic is not (it would panic again).
                "backoffLimitPerIndex": 1,
                "maxFailedIndexes": self.completions,
                "podFailurePolicy": { "rules": [
                    { "action": "FailIndex", "onExitCodes": { "containerName": CONTAINER, "operator": "In", "values": [101] } },
                    // A pod evicted or preempted is replaced without using up its index's retry
                    // (a pod deleted by hand uses it: the API server marks no disruption).
                    { "action": "Ignore", "onPodConditions": [{ "type": "DisruptionTarget" }] }
                ]},
                // Nothing runs on for ever if the kernel dies.
                "activeDeadlineSeconds": self.timeout.as_secs().max(1),
                "ttlSecondsAfterFinished": 3600,
                "template": {
                    "metadata": { "labels": { JOB_LABEL: name }, "annotations": { CELL_HASH: cell_hash } },
                    "spec": spec
                }
            }
        })
    }

    /// The headless Service that gives a connected job's pods their names, before they are
    /// Ready (workers resolve the master as it starts).
    fn headless_service(&self, job_uid: &str) -> Value {
        let name = &self.name;
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {
                "name": name,
                "labels": { JOB_LABEL: name },
                "ownerReferences": [{ "apiVersion": "batch/v1", "kind": "Job", "name": name, "uid": job_uid }]
            },
            "spec": {
                "clusterIP": "None",
                "publishNotReadyAddresses": true,
                "selector": { JOB_LABEL: name },
                "ports": [{ "name": "pmap", "port": protocol::PMAP_PORT, "protocol": "TCP" }]
            }
        })
    }

    /// How many ranks the job has: each pod's processes.
    fn ranks(&self) -> usize {
        (self.completions * self.procs) as usize
    }
}


#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn job_lines() {
        assert_eq!(refused(&Job, "squares --completions 4", true), "");
        assert_eq!(refused(&Job, "squares --completions 3 --procs 2 --connected --cpu 2", true), "");
        assert!(refused(&Job, "squares", false).contains("the Rust code in the cell's body"));
        assert!(refused(&Job, "Bad_Name", true).contains("is not a job name"));
        assert!(refused(&Job, "a b", true).contains("write %%k8s job NAME"));
        assert!(refused(&Job, "a --procs 0", true).contains("1 or more"));
        assert!(refused(&Job, "a --completions 3 --parallelism 1 --connected", true).contains("all run at once"));
    }

    #[test]
    fn a_connected_job_names_its_pods_through_a_headless_service() {
        let o = Options {
            name: "sq".into(),
            completions: 3,
            parallelism: 3,
            procs: 2,
            connected: true,
            cpu: Some("2".into()),
            memory: None,
            into: None,
            timeout: DEFAULT_TIMEOUT,
            base: None,
            registry: None,
            scope: Scope::default(),
        };
        let job = o.manifest("img", "c", "l", "d");
        let spec = &job["spec"]["template"]["spec"];
        assert_eq!(spec["subdomain"], "sq");
        let env = spec["containers"][0]["env"].as_array().unwrap();
        let value = |n: &str| env.iter().find(|e| e["name"] == n).map(|e| e["value"].clone());
        assert_eq!(value(protocol::MASTER_ENV), Some(json!("sq-master:5555")));
        let master = master_service("sq", Some("u"));
        assert_eq!(master["spec"]["selector"]["batch.kubernetes.io/controller-uid"], "u");
        assert_eq!(master["spec"]["selector"]["batch.kubernetes.io/job-completion-index"], "0");
        assert_eq!(value(protocol::PROCS_ENV), Some(json!("2")));
        assert_eq!(value(protocol::CONNECTED_ENV), Some(json!("1")));
        let token = env.iter().find(|e| e["name"] == protocol::PMAP_TOKEN_ENV).unwrap();
        assert_eq!(token["valueFrom"]["secretKeyRef"]["name"], "sq-pmap");
        assert!(env.iter().any(|e| e["name"] == "RAYON_NUM_THREADS" && e["valueFrom"]["resourceFieldRef"]["resource"] == "requests.cpu"));
        let svc = o.headless_service("uid-1");
        assert_eq!(svc["spec"]["clusterIP"], "None");
        assert_eq!(svc["spec"]["publishNotReadyAddresses"], true);
        assert_eq!(svc["metadata"]["ownerReferences"][0]["uid"], "uid-1");
        assert_eq!(o.ranks(), 6);
    }
}
