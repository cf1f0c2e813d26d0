//! A cell made into an image on the cluster's registry: the notebook's items and dependencies
//! with the cell's body, compiled into a static program ([`programs`]), laid as one layer on a
//! small base and pushed ([`images`]), with one live line saying what happens. Used by the
//! verbs that run the notebook's own code: job, deploy and image build.

use crate::framework::notebook::Snapshot;
use crate::framework::registry::MagicError;
use crate::k8s::cluster::registry::{find_registry, RegistryChoice};
use crate::k8s::cluster::objects::apply_one;
use crate::k8s::cluster::{ClusterError, Conn};
use crate::k8s::view::{note, LiveLine};
use output::{OutputSink, StreamName};
use programs::{BuildError, Builder, Cell, Program, Shape};
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use tokio::time::Instant;

/// The base a program's layer goes on unless `--image` names another.
pub const DEFAULT_BASE: &str = "debian:bookworm-slim";
/// Where the program lies in the image.
pub const PROGRAM_PATH: &str = "/app/program";
/// The user the program runs as (the restricted Pod Security Standard wants one that is not root).
pub const USER: i64 = 65532;

pub const CELL_HASH: &str = "kubernel.io/cell-hash";
pub const LOCK_HASH: &str = "kubernel.io/lock-hash";
pub const IMAGE_DIGEST: &str = "kubernel.io/image-digest";

/// `--cpu 100m/500m` and `--memory 64Mi` as a container's resources: a request, and a limit
/// after the slash.
pub fn resources(cpu: &Option<String>, memory: &Option<String>) -> Value {
    let mut resources = json!({});
    for (key, text) in [("cpu", cpu), ("memory", memory)] {
        let (request, limit) = request_and_limit(text);
        for (part, v) in [("requests", request), ("limits", limit)] {
            if let Some(v) = v {
                resources[part][key] = json!(v);
            }
        }
    }
    resources
}

/// The environment through which a program learns the CPUs its pod may use (the downward
/// API): without a CPU limit a pod sees every core, so the request is its share. Rayon's
/// count is the request in whole CPUs, rounded up (0, no request, lets the program decide).
pub fn cpu_env(container: &str) -> Vec<Value> {
    let field = |resource: &str, divisor: &str| json!({ "resourceFieldRef": { "containerName": container, "resource": resource, "divisor": divisor } });
    vec![
        json!({ "name": kubernel::protocol::CPU_REQUEST_ENV, "valueFrom": field("requests.cpu", "1m") }),
        json!({ "name": kubernel::protocol::CPU_LIMIT_ENV, "valueFrom": field("limits.cpu", "1m") }),
        json!({ "name": "RAYON_NUM_THREADS", "valueFrom": field("requests.cpu", "1") }),
    ]
}

/// `100m` → a request only; `100m/500m` → request and limit.
fn request_and_limit(text: &Option<String>) -> (Option<String>, Option<String>) {
    match text.as_deref() {
        None => (None, None),
        Some(t) => match t.split_once('/') {
            Some((r, l)) => (Some(r.to_string()).filter(|s| !s.is_empty()), Some(l.to_string()).filter(|s| !s.is_empty())),
            None => (Some(t.to_string()), None),
        },
    }
}

/// The pod of a program made from a cell, under the restricted Pod Security Standard: not root,
/// no privilege escalation, no capabilities, the runtime's seccomp profile, a read-only root with
/// a writable /tmp, and no service account token (the program does not talk to the API).
pub fn restricted_pod(mut container: Value) -> Value {
    container["securityContext"] = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": { "drop": ["ALL"] },
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true
    });
    container["volumeMounts"] = json!([{ "name": "tmp", "mountPath": "/tmp" }]);
    json!({
        "automountServiceAccountToken": false,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": USER, "runAsGroup": USER,
            "seccompProfile": { "type": "RuntimeDefault" }
        },
        "containers": [container],
        "volumes": [{ "name": "tmp", "emptyDir": { "sizeLimit": "1Gi" } }]
    })
}

/// A cell's image, pushed.
pub struct Built {
    pub program: Program,
    pub pushed: images::Pushed,
    /// The image as the cluster's nodes pull it, by digest.
    pub image: String,
    pub registry: RegistryChoice,
    /// The `.dockerconfigjson` the nodes pull with, when the user's Docker config has
    /// credentials for the registry (see [`use_pull_secret`]).
    pull_secret: Option<images::PullSecret>,
}

/// The program of a cell body with what the notebook has defined so far.
pub fn cell_of(snapshot: &Snapshot, body: &str, body_line: usize) -> Cell {
    Cell {
        items: snapshot.items.clone(),
        dependencies: snapshot.dependencies.iter().map(|d| (d.name.clone(), d.spec.clone())).collect(),
        cargo_lock: snapshot.cargo_lock.clone(),
        body: body.to_string(),
        body_line,
        net: false,
    }
}

/// The runtime's metrics port (`kubernel::metrics`), named `metrics` so the cluster's
/// Prometheus scrapes it.
pub const METRICS_PORT: u16 = 9464;

/// Gives the pod's program container a port named `metrics` when the program serves metrics.
pub fn expose_metrics(cell: &Cell, pod_spec: &mut Value) {
    if !cell.uses_metrics() {
        return;
    }
    let container = &mut pod_spec["containers"][0];
    let port = serde_json::json!({ "name": "metrics", "containerPort": METRICS_PORT });
    match container["ports"].as_array_mut() {
        Some(ports) => ports.push(port),
        None => container["ports"] = serde_json::json!([port]),
    }
}

/// `debian:bookworm-slim` as a registry names it: `library/debian:bookworm-slim`.
pub fn base_reference(base: &str) -> String {
    // Parsed, not split at the first colon: in `127.0.0.1:5000/library/debian` it is a port's.
    match images::ImageRef::parse(base) {
        Ok(r) if r.host.is_none() && !r.repository.contains('/') => format!("library/{base}"),
        _ => base.to_string(),
    }
}

/// Builds the cell's program and pushes its image as `kubernel/NAME`.
pub async fn build_image(
    conn: &Conn,
    sink: &Arc<dyn OutputSink>,
    name: &str,
    cell: &Cell,
    shape: Shape,
    base: Option<&str>,
    registry_flag: Option<&str>,
) -> Result<Built, MagicError> {
    let registry = find_registry(conn, registry_flag).await?;
    let started = Instant::now();
    let live = Arc::new(Mutex::new(LiveLine::new(sink, note(&format!("{name}: compiling the cell for the cluster")))));
    let compiled = {
        let live = live.clone();
        let mut count = 0;
        Builder::new(Builder::default_root())
            .build(cell, shape, move |what| {
                count += 1;
                let line = note(&format!("{name}: compiling ({what}, {count} crates so far)"));
                live.lock().unwrap().update(line);
            })
            .await
    };
    let program = match compiled {
        Ok(p) => p,
        Err(e) => {
            live.lock().unwrap().finish(note(&format!("{name}: not built")));
            return Err(build_error(e));
        }
    };
    live.lock().unwrap().update(note(&format!("{name}: pushing the image to {}", registry.push)));
    let not_pushed = |e: images::Error| {
        live.lock().unwrap().finish(note(&format!("{name}: built, not pushed")));
        image_error(e)
    };
    let layer = images::Layer::from_files(&[images::File::new(PROGRAM_PATH, program.binary.clone(), 0o755)]).map_err(not_pushed)?;
    let labels = BTreeMap::from([
        ("org.opencontainers.image.title".to_string(), name.to_string()),
        (CELL_HASH.to_string(), program.hash.clone()),
        (LOCK_HASH.to_string(), program.lock_hash.clone()),
    ]);
    let config = images::ImageConfig {
        entrypoint: Some(vec![PROGRAM_PATH.to_string()]),
        user: Some(format!("{USER}:{USER}")),
        labels,
        ..images::ImageConfig::default()
    };
    let base = base_reference(base.unwrap_or(DEFAULT_BASE));
    let client = images::Registry::new(&registry.push).map_err(not_pushed)?;
    let pushed = client.build_and_push(&base, &format!("kubernel/{name}"), &[layer], &config).await.map_err(not_pushed)?;
    // `latest` names the newest build, so that `image inspect kubernel/NAME` finds it.
    client.tag(&format!("kubernel/{name}"), &pushed.digest, "latest").await.map_err(not_pushed)?;
    let image = pulled_as(&pushed.reference, &registry);
    let pull_secret = client.pull_secret(registry.pull_host(), &local_user());
    let secs = started.elapsed().as_secs_f64();
    let what = match (program.compiled.is_empty(), pushed.reused) {
        (true, true) => "unchanged: nothing compiled or pushed".to_string(),
        (_, true) => format!("compiled {}, image unchanged", program.compiled.join(", ")),
        (true, false) => format!("pushed {}", human_bytes(pushed.bytes_uploaded)),
        (false, false) => format!("compiled {}, pushed {}", program.compiled.join(", "), human_bytes(pushed.bytes_uploaded)),
    };
    live.lock().unwrap().finish(note(&format!("{name}: image ready in {secs:.1} s ({what}) {}", pushed.tag)));
    Ok(Built { program, pushed, image, registry, pull_secret })
}

/// When the registry needs credentials: a Secret with them in `ns` (made, or brought up to
/// date), named in the imagePullSecrets of `pod_spec`, so that the nodes can pull what was
/// pushed. An open registry (the local cluster's) needs none.
/// Not allowed to make Secrets there: the pods pull without one, and a note says so.
pub async fn use_pull_secret(conn: &Conn, ns: &str, built: &Built, pod_spec: &mut Value, sink: &Arc<dyn OutputSink>) -> Result<(), MagicError> {
    let Some(pull) = &built.pull_secret else { return Ok(()) };
    let host = built.registry.pull_host();
    let name = pull_secret_name(host, &pull.user_tag);
    let secret = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name },
        "type": "kubernetes.io/dockerconfigjson",
        // ByteString is base64 in JSON, as a Secret's data must be.
        "data": { ".dockerconfigjson": k8s_openapi::ByteString(pull.config.clone()) }
    });
    let refused = format!("note: not allowed to make the pull secret {name} in {ns}; the pods pull {host} without your credentials\n");
    if apply_secret(conn, ns, secret, &refused, sink).await? {
        pod_spec["imagePullSecrets"] = json!([{ "name": name }]);
    }
    Ok(())
}

/// Applies a Secret kubernel needs; where the user may not make Secrets, says `refused` and
/// goes on without it (false).
pub async fn apply_secret(conn: &Conn, ns: &str, secret: Value, refused: &str, sink: &Arc<dyn OutputSink>) -> Result<bool, MagicError> {
    let kind = conn.kind("secrets").await?;
    match apply_one(conn, &kind, Some(ns), secret).await {
        Ok(()) => Ok(true),
        Err(ClusterError::Forbidden { .. }) => {
            sink.stream(StreamName::Stderr, refused);
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// Who runs this kernel where, `UID@HOST`: tells apart users of one registry account.
fn local_user() -> String {
    let uid = std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(0);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    format!("{uid}@{}", host.trim())
}

/// `kubernel-pull-registry-example-com-5000-1a2b3c4d5e`: one Secret per registry the nodes pull
/// from and per user (`user_tag`), so that users sharing a namespace do not overwrite each
/// other's credentials.
fn pull_secret_name(host: &str, user_tag: &str) -> String {
    let tail: String = host.to_ascii_lowercase().chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    // The user's tag is kept whole: a long host name is cut instead.
    let room = 63 - "kubernel-pull-".len() - 1 - user_tag.len();
    let tail: String = tail.chars().take(room).collect();
    format!("kubernel-pull-{}-{user_tag}", tail.trim_end_matches('-'))
}

/// The pushed reference with the host the nodes use for the registry.
fn pulled_as(reference: &str, registry: &RegistryChoice) -> String {
    let push_host = registry.push.split('/').next().unwrap_or_default();
    let pull_host = registry.pull_host();
    match reference.strip_prefix(push_host) {
        Some(rest) if push_host != pull_host => format!("{pull_host}{rest}"),
        _ => reference.to_string(),
    }
}

pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.0} KB", n as f64 / (1 << 10) as f64),
        n => format!("{n} bytes"),
    }
}

fn build_error(e: BuildError) -> MagicError {
    let ename = match &e {
        BuildError::Compile(_) => "CompileError",
        BuildError::Toolchain(_) => "ToolchainError",
        BuildError::Cargo(_) | BuildError::Io { .. } => "BuildError",
    };
    MagicError::new(ename, e.to_string())
}

/// An images error as the cell's one-line error, named by its kind.
pub fn image_error(e: images::Error) -> MagicError {
    let ename = match &e {
        images::Error::Unreachable { .. } => "RegistryUnreachable",
        images::Error::Unauthorized { .. } => "RegistryUnauthorized",
        _ => "ImageError",
    };
    MagicError::new(ename, e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bases_and_pull_names() {
        assert_eq!(base_reference("debian:bookworm-slim"), "library/debian:bookworm-slim");
        assert_eq!(base_reference("team/base:1"), "team/base:1");
        assert_eq!(base_reference("127.0.0.1:5000/library/debian:bookworm-slim"), "127.0.0.1:5000/library/debian:bookworm-slim");
        let choice = RegistryChoice { push: "localhost:5001".into(), pull: "kind-registry:5000".into(), source: "x" };
        assert_eq!(pulled_as("localhost:5001/kubernel/a@sha256:1", &choice), "kind-registry:5000/kubernel/a@sha256:1");
        assert_eq!(pull_secret_name("Registry.example.com:5000", "1a2b3c4d5e"), "kubernel-pull-registry-example-com-5000-1a2b3c4d5e");
        let long = pull_secret_name(&"r".repeat(80), "1a2b3c4d5e");
        assert!(long.len() <= 63 && long.ends_with("-1a2b3c4d5e"), "{long}");
        assert_eq!(human_bytes(312_000), "305 KB");
        assert_eq!(request_and_limit(&Some("100m/500m".into())), (Some("100m".into()), Some("500m".into())));
        assert_eq!(request_and_limit(&Some("64Mi".into())), (Some("64Mi".into()), None));
        assert_eq!(resources(&Some("100m/1".into()), &Some("64Mi".into())), json!({"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "1"}}));
    }
}
