//! `port-forward`: a local port that reaches a pod's port (of a pod, a workload or a service),
//! running in the background until stopped; the list of running forwards; stopping them.

use super::flags::{bare_name_is_a_pod, parse_ports, split_first_kind_name, Parsed, UsageError};
use super::{exec::pod_or_workload, pick_error, plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::objects::kind_ref;
use crate::k8s::cluster::pods::pick_pod;
use crate::k8s::cluster::{Conn, Scope};
use crate::k8s::view::Table;
use k8s_openapi::api::core::v1::Pod;
use kube::api::Api;
use output::{MimeBundle, StreamName};
use serde_json::Value;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct PortForward;

const ABOUT: About = About {
    name: "port-forward",
    flags: &["--namespace", "--stop", "--context", "--kubeconfig"],
    help: "  %k8s port-forward svc/NAME | pod/NAME | deploy/NAME [LOCAL:]REMOTE
        127.0.0.1:LOCAL reaches the pod's port, in the background (:REMOTE picks a free port)
  %k8s port-forward             the running forwards;  %k8s port-forward --stop [svc/NAME]: stop them",
    body: None,
    takes_command: false,
};

struct Options {
    positional: Vec<String>,
    stop: bool,
    scope: Scope,
}

impl Verb for PortForward {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        bare_name_is_a_pod(&mut p);
        split_first_kind_name(&mut p)?;
        let stop = p.has("--stop");
        if stop {
            if p.positional.len() > 2 {
                return Err(p.usage("write port-forward --stop [svc/NAME]"));
            }
        } else if !p.positional.is_empty() {
            if p.positional.len() != 3 {
                return Err(p.usage("write port-forward svc/NAME [LOCAL:]REMOTE, e.g. port-forward svc/web 8080:80"));
            }
            parse_ports(&p.positional[2]).map_err(|e| p.usage(e))?;
        }
        plan(Options { positional: p.positional.clone(), stop, scope: p.scope() })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(pod_or_workload(cx))
    }
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        port_forward(self, cx).await
    }
}

/// One running `port-forward`.
struct Forward {
    pub target: String,
    pub namespace: String,
    pub local: u16,
    pub remote: u16,
    pub connections: Arc<AtomicU64>,
    pub last_error: Arc<Mutex<Option<String>>>,
    pub task: tokio::task::JoinHandle<()>,
    /// The connections being forwarded, ended with the forward.
    pub open: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Forward {
    fn stop(&self) {
        self.task.abort();
        for c in self.open.lock().unwrap().drain(..) {
            c.abort();
        }
    }
}

/// The port-forwards of a session.
#[derive(Default)]
struct Forwards(Mutex<Vec<Forward>>);

impl Drop for Forwards {
    fn drop(&mut self) {
        for f in self.0.lock().unwrap().drain(..) {
            f.stop();
        }
    }
}

/// The container port a service port leads to on a pod (a number, or a port name looked up in
/// the pod's containers).
fn pod_port(pod: &Pod, service: Option<&Value>, remote: u16) -> Result<u16, String> {
    let Some(svc) = service else { return Ok(remote) };
    let ports = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    let Some(port) = ports.iter().find(|p| p["port"].as_u64() == Some(remote as u64)) else {
        let known: Vec<String> = ports.iter().filter_map(|p| p["port"].as_u64()).map(|p| p.to_string()).collect();
        return Err(format!("the service has no port {remote}; its ports are {}", known.join(", ")));
    };
    match &port["targetPort"] {
        Value::Number(n) => Ok(n.as_u64().unwrap_or(remote as u64) as u16),
        Value::String(name) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(name))
            .map(|p| p.container_port as u16)
            .ok_or_else(|| format!("no container of pod {} has a port named {name}", pod.metadata.name.clone().unwrap_or_default())),
        _ => Ok(remote),
    }
}

async fn forward_one(conn: Arc<Conn>, ns: String, kind: String, name: String, remote: u16, mut socket: tokio::net::TcpStream) -> Result<(), String> {
    let service = if kind == "services" {
        let api: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(conn.client.clone(), &ns);
        let svc = api.get(&name).await.map_err(|e| conn.explain(&format!("get services {name}"), e).to_string())?;
        Some(serde_json::to_value(svc).unwrap_or(Value::Null))
    } else {
        None
    };
    let pod = pick_pod(&conn, &ns, &kind, &name).await.map_err(|e| pick_error("port-forward", e).message)?;
    let port = pod_port(&pod, service.as_ref(), remote)?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let mut pf = api.portforward(&pod_name, &[port]).await.map_err(|e| conn.explain(&format!("port-forward to pod {pod_name}"), e).to_string())?;
    let mut upstream = pf.take_stream(port).ok_or("no stream for the port")?;
    let copied = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
    drop(upstream);
    let _ = tokio::time::timeout(Duration::from_secs(2), pf.join()).await;
    copied.map(|_| ()).map_err(|e| format!("pod {pod_name} port {port}: {e}"))
}

fn forwards_table(list: &[Forward]) -> MimeBundle {
    let mut t = Table::new(&["LOCAL", "TARGET", "NAMESPACE", "CONNECTIONS", "LAST ERROR"]);
    for f in list {
        t.rows.push(vec![
            format!("127.0.0.1:{}", f.local),
            format!("{}:{}", f.target, f.remote),
            f.namespace.clone(),
            f.connections.load(Ordering::Relaxed).to_string(),
            f.last_error.lock().unwrap().clone().unwrap_or_else(|| "<none>".into()),
        ]);
    }
    t.bundle()
}

/// `port-forward KIND/NAME [LOCAL:]REMOTE` (in the background), `port-forward` (the list),
/// `port-forward --stop [KIND/NAME]`.
async fn port_forward(a: &Options, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let (session, sink) = (cx.session, cx.sink);
    let forwards = cx.state.get::<Forwards>();
    if a.stop {
        let wanted = if a.positional.len() == 2 {
            let conn = session.conn().await?;
            let kind = conn.kind(&a.positional[0]).await?;
            Some(format!("{}/{}", kind_ref(&kind), a.positional[1]))
        } else {
            None
        };
        let mut list = forwards.0.lock().unwrap();
        let before = list.len();
        list.retain(|f| {
            let stop = wanted.as_ref().is_none_or(|w| *w == f.target);
            if stop {
                f.stop();
                sink.stream(StreamName::Stdout, &format!("stopped forwarding 127.0.0.1:{} -> {}:{}\n", f.local, f.target, f.remote));
            }
            !stop
        });
        if list.len() == before {
            let what = wanted.map(|w| format!(" to {w}")).unwrap_or_default();
            sink.stream(StreamName::Stdout, &format!("no port-forward{what} is running\n"));
        }
        return Ok(MagicOutput::None);
    }
    if a.positional.is_empty() {
        let list = forwards.0.lock().unwrap();
        if list.is_empty() {
            return Ok(MagicOutput::Result(MimeBundle::plain("No port-forwards are running.")));
        }
        return Ok(MagicOutput::Result(forwards_table(&list)));
    }
    let (conn, ns) = session.for_call(&a.scope).await?;
    let kind = conn.kind(&a.positional[0]).await?;
    if !matches!(kind.plural.as_str(), "pods" | "services" | "deployments" | "replicasets" | "statefulsets" | "daemonsets") {
        return Err(MagicError::usage(format!("%k8s port-forward: {} cannot be forwarded to; give a pod, svc/, deploy/ or sts/", kind.plural)));
    }
    let name = a.positional[1].clone();
    let (local, remote) = parse_ports(&a.positional[2]).map_err(MagicError::usage)?;
    // Check the target now, so that a typo fails here and not on the first connection.
    let probe_pod = pick_pod(&conn, &ns, &kind.plural, &name).await.map_err(|e| pick_error("port-forward", e))?;
    if kind.plural == "services" {
        let api: Api<k8s_openapi::api::core::v1::Service> = Api::namespaced(conn.client.clone(), &ns);
        let svc = conn.call(&format!("get services {name}"), api.get(&name)).await?;
        pod_port(&probe_pod, Some(&serde_json::to_value(svc).unwrap_or(Value::Null)), remote)
            .map_err(|e| MagicError::usage(format!("%k8s port-forward: service {name}: {e}")))?;
    }
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", local)).await.map_err(|e| {
        MagicError::new("PortInUse", format!("cannot listen on 127.0.0.1:{local}: {}", e.to_string().to_lowercase()))
    })?;
    let local = listener.local_addr().map(|a| a.port()).unwrap_or(local);
    let target = format!("{}/{name}", kind_ref(&kind));
    let connections = Arc::new(AtomicU64::new(0));
    let last_error = Arc::new(Mutex::new(None));
    let open: Arc<Mutex<Vec<tokio::task::AbortHandle>>> = Arc::default();
    let task = {
        let (conn, ns, plural, name) = (conn.clone(), ns.clone(), kind.plural.clone(), name.clone());
        let (connections, last_error, open) = (connections.clone(), last_error.clone(), open.clone());
        tokio::spawn(async move {
            loop {
                let socket = match listener.accept().await {
                    Ok((socket, _)) => socket,
                    Err(e) => {
                        *last_error.lock().unwrap() = Some(format!("stopped accepting connections: {e}"));
                        break;
                    }
                };
                connections.fetch_add(1, Ordering::Relaxed);
                let (conn, ns, plural, name, errors) = (conn.clone(), ns.clone(), plural.clone(), name.clone(), last_error.clone());
                let handle = tokio::spawn(async move {
                    if let Err(e) = forward_one(conn, ns, plural, name, remote, socket).await {
                        *errors.lock().unwrap() = Some(e);
                    }
                });
                let mut open = open.lock().unwrap();
                open.retain(|h| !h.is_finished());
                open.push(handle.abort_handle());
            }
        })
    };
    forwards.0.lock().unwrap().push(Forward { target: target.clone(), namespace: ns.clone(), local, remote, connections, last_error, task, open });
    sink.stream(
        StreamName::Stdout,
        &format!("Forwarding from 127.0.0.1:{local} -> {target}:{remote} in {ns} (in the background; stop with %k8s port-forward --stop)\n"),
    );
    Ok(MagicOutput::None)
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    #[test]
    fn targets_and_ports() {
        assert_eq!(refused(&PortForward, "svc/web 8080:80", false), "");
        assert_eq!(refused(&PortForward, "web-123 :80", false), "", "a bare name is a pod");
        assert!(refused(&PortForward, "svc/web 80:x", false).contains("is not [LOCAL:]REMOTE"));
        assert_eq!(refused(&PortForward, "--stop", false), "");
        assert_eq!(refused(&PortForward, "", false), "", "the list of forwards");
        assert!(refused(&PortForward, "svc/web", false).starts_with("%k8s port-forward: write port-forward svc/NAME"));
    }
}
