//! Getting into containers: `exec` (a command in a container, its output as streams, its exit
//! code as the cell's outcome, stdin from the cell or the input box) and `port-forward` (a local
//! port that reaches a pod, running in the background until stopped).

use super::args::{parse_ports, Args};
use super::client::Conn;
use super::ops::{api_for, kind_ref, Session};
use super::render;
use crate::registry::{MagicError, MagicOutput};
use crate::sink::{InputReader, MimeBundle, OutputSink, StreamName};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, ListParams};
use serde_json::Value;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The pod a command goes to: the pod named, or a running pod of a workload or service.
pub async fn pick_pod(conn: &Conn, ns: &str, kind_text: &str, name: &str, verb: &str) -> Result<Pod, MagicError> {
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
    let kind = conn.kind(kind_text).await?;
    if kind.plural == "pods" {
        return conn.call(&format!("get pods {name}"), pods.get(name)).await;
    }
    let obj = conn.call(&format!("get {} {name}", kind.plural), api_for(conn, &kind, Some(ns)).get(name)).await?;
    let obj = serde_json::to_value(obj).unwrap_or(Value::Null);
    let selector = if kind.plural == "services" { &obj["spec"]["selector"] } else { &obj["spec"]["selector"]["matchLabels"] };
    let selector = render::labels_text(selector);
    if selector.is_empty() {
        return Err(MagicError::usage(format!("%k8s {verb}: {}/{name} has no pod selector; name a pod", kind_ref(&kind))));
    }
    let list = conn.call("list pods", pods.list(&ListParams::default().labels(&selector))).await?;
    let mut candidates: Vec<Pod> = list.items.into_iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
    // Ready pods first, then running ones, oldest first (kubectl takes the first one too).
    let rank = |p: &Pod| {
        let status = p.status.as_ref();
        let ready = status
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
        let running = status.and_then(|s| s.phase.as_deref()) == Some("Running");
        (!ready, !running, p.metadata.creation_timestamp.clone().map(|t| t.0), p.metadata.name.clone())
    };
    candidates.sort_by_key(rank);
    candidates.into_iter().next().ok_or_else(|| {
        MagicError::new("NotFound", format!("{}/{name} has no pods in namespace {ns} (selector {selector})", kind_ref(&kind)))
    })
}

/// Decodes UTF-8 across chunk boundaries: a character split between two reads is kept for the next.
#[derive(Default)]
pub struct Utf8Carry(Vec<u8>);

impl Utf8Carry {
    pub fn push(&mut self, bytes: &[u8]) -> String {
        self.0.extend_from_slice(bytes);
        let valid = match std::str::from_utf8(&self.0) {
            Ok(_) => self.0.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.0.len(), // really invalid: let lossy decoding mark it
        };
        let text = String::from_utf8_lossy(&self.0[..valid]).into_owned();
        self.0.drain(..valid);
        text
    }
}

async fn pump(mut from: impl tokio::io::AsyncRead + Unpin, name: StreamName, sink: Arc<dyn OutputSink>) {
    let mut buf = vec![0u8; 16 * 1024];
    let mut carry = Utf8Carry::default();
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = carry.push(&buf[..n]);
                if !text.is_empty() {
                    sink.stream(name, &text);
                }
            }
        }
    }
}

/// The exit code in the status kubelet sends when a command ends (0 when it succeeded).
pub fn exit_code(status: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Status) -> Result<i64, String> {
    if status.status.as_deref() == Some("Success") {
        return Ok(0);
    }
    let code = status
        .details
        .as_ref()
        .and_then(|d| d.causes.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.reason.as_deref() == Some("ExitCode")))
        .and_then(|c| c.message.as_deref())
        .and_then(|m| m.parse().ok());
    match code {
        Some(c) => Ok(c),
        None => Err(status.message.clone().unwrap_or_else(|| "the command failed".into())),
    }
}

/// `exec POD|KIND/NAME [-c C] [-i] -- COMMAND ARGS`; `%%k8s exec` sends the cell as stdin.
pub async fn exec(
    session: &Session,
    a: &Args,
    body: Option<&str>,
    sink: &Arc<dyn OutputSink>,
    input: &Arc<dyn InputReader>,
) -> Result<MagicOutput, MagicError> {
    let (conn, ns) = session.for_call(a).await?;
    let pod = pick_pod(&conn, &ns, &a.positional[0], &a.positional[1], "exec").await?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let containers: Vec<String> = pod.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
    let container = match &a.container {
        Some(c) if !containers.contains(c) => {
            return Err(MagicError::usage(format!(
                "%k8s exec: pod {pod_name} has no container {c}; its containers are {}",
                containers.join(", ")
            )))
        }
        Some(c) => c.clone(),
        None => containers.first().cloned().unwrap_or_default(),
    };
    let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
    if phase != "Running" {
        return Err(MagicError::new("NotRunning", format!("pod {pod_name} is {phase}, not Running; a command can only run in a running container")));
    }
    let wants_stdin = a.stdin || body.is_some();
    let ap = AttachParams::default().container(container.clone()).stdin(wants_stdin).stdout(true).stderr(true);
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let what = format!("exec in pod {pod_name}");
    let mut process = conn.call(&what, api.exec(&pod_name, a.command.clone(), &ap)).await?;
    let status = process.take_status();
    // Whatever this cell started ends with it, however it ends (done, timeout, interrupt).
    let mut guard = ExecGuard { tasks: Vec::new(), done: Arc::new(AtomicBool::new(false)), input: None };
    let pumps: Vec<_> = [
        process.stdout().map(|r| tokio::spawn(pump(r, StreamName::Stdout, sink.clone()))),
        process.stderr().map(|r| tokio::spawn(pump(r, StreamName::Stderr, sink.clone()))),
    ]
    .into_iter()
    .flatten()
    .collect();
    guard.tasks.extend(pumps.iter().map(|t| t.abort_handle()));
    if let Some(mut writer) = process.stdin() {
        if let Some(body) = body {
            let body = body.to_string();
            guard.tasks.push(
                tokio::spawn(async move {
                    let _ = writer.write_all(body.as_bytes()).await;
                    let _ = writer.shutdown().await;
                })
                .abort_handle(),
            );
        } else {
            // Lines from the input box until an empty answer, which ends the command's stdin.
            guard.input = Some(input.clone());
            let input = input.clone();
            let done = guard.done.clone();
            let prompt = format!("stdin of {} (an empty line ends it): ", a.command.first().cloned().unwrap_or_default());
            let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
            std::thread::spawn(move || {
                // No new input box once the command has ended.
                while !done.load(Ordering::SeqCst) {
                    match input.read_line(&prompt, false) {
                        Ok(line) if !line.is_empty() => {
                            if tx.send(line).is_err() {
                                break;
                            }
                        }
                        _ => break,
                    }
                }
            });
            guard.tasks.push(
                tokio::spawn(async move {
                    while let Some(line) = rx.recv().await {
                        if writer.write_all(format!("{line}\n").as_bytes()).await.is_err() {
                            break;
                        }
                    }
                    let _ = writer.shutdown().await;
                })
                .abort_handle(),
            );
        }
    }
    let waited = async {
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        // The output streams end with the process; if the connection broke instead, they may
        // not, so they get a moment to deliver what is left and no more.
        let _ = tokio::time::timeout(Duration::from_secs(2), futures::future::join_all(pumps)).await;
        status
    };
    let status = match a.timeout {
        Some(t) => match tokio::time::timeout(t, waited).await {
            Ok(s) => s,
            Err(_) => {
                process.abort();
                return Err(MagicError::new(
                    "Timeout",
                    format!("the command in pod {pod_name} did not end within {}", render::human_duration(t.as_secs() as i64)),
                ));
            }
        },
        None => waited.await,
    };
    drop(guard);
    match status.map(|s| exit_code(&s)) {
        Some(Ok(0)) => Ok(MagicOutput::None),
        Some(Ok(code)) => Err(MagicError::new("ExitCode", format!("command terminated with exit code {code}"))),
        Some(Err(message)) => Err(MagicError::new("ExecFailed", format!("pod {pod_name}, container {container}: {}", short_exec_error(&message)))),
        None => {
            // Servers before Kubernetes 1.30 (exec protocol v4) close the whole connection when
            // the command's stdin is closed, so its exit is never reported.
            let hint = if wants_stdin { " (API servers before Kubernetes 1.30 do this when the input ends; the command may have done its work)" } else { "" };
            Err(MagicError::new("ExecFailed", format!("the connection to pod {pod_name} ended before the command reported its exit{hint}")))
        }
    }
}

/// Ends what an `exec` started: its tasks, and the input box if it still asks.
struct ExecGuard {
    tasks: Vec<tokio::task::AbortHandle>,
    done: Arc<AtomicBool>,
    input: Option<Arc<dyn InputReader>>,
}

impl Drop for ExecGuard {
    fn drop(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        for t in &self.tasks {
            t.abort();
        }
        if let Some(input) = &self.input {
            input.cancel();
        }
    }
}

/// The runtime's exec errors nest several layers of context around the one part that says what
/// went wrong (`exec: "x": executable file not found in $PATH`); keep that part.
pub fn short_exec_error(message: &str) -> String {
    let core = match message.rfind("exec: \"") {
        Some(i) => &message[i..],
        None => message.rsplit("failed: ").next().unwrap_or(message),
    };
    core.trim_end_matches(": unknown").trim().to_string()
}

// ---- port-forward -------------------------------------------------------------------------

/// One running `port-forward`.
pub struct Forward {
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
pub struct Forwards(Mutex<Vec<Forward>>);

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
        let svc = api.get(&name).await.map_err(|e| conn.explain(&format!("get services {name}"), e).message)?;
        Some(serde_json::to_value(svc).unwrap_or(Value::Null))
    } else {
        None
    };
    let pod = pick_pod(&conn, &ns, &kind, &name, "port-forward").await.map_err(|e| e.message)?;
    let port = pod_port(&pod, service.as_ref(), remote)?;
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let api: Api<Pod> = Api::namespaced(conn.client.clone(), &ns);
    let mut pf = api.portforward(&pod_name, &[port]).await.map_err(|e| conn.explain(&format!("port-forward to pod {pod_name}"), e).message)?;
    let mut upstream = pf.take_stream(port).ok_or("no stream for the port")?;
    let copied = tokio::io::copy_bidirectional(&mut socket, &mut upstream).await;
    drop(upstream);
    let _ = tokio::time::timeout(Duration::from_secs(2), pf.join()).await;
    copied.map(|_| ()).map_err(|e| format!("pod {pod_name} port {port}: {e}"))
}

fn forwards_table(list: &[Forward]) -> MimeBundle {
    let mut t = render::Table::new(&["LOCAL", "TARGET", "NAMESPACE", "CONNECTIONS", "LAST ERROR"]);
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
pub async fn port_forward(session: &Session, a: &Args, sink: &Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
    let forwards = &session.forwards;
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
    let (conn, ns) = session.for_call(a).await?;
    let kind = conn.kind(&a.positional[0]).await?;
    if !matches!(kind.plural.as_str(), "pods" | "services" | "deployments" | "replicasets" | "statefulsets" | "daemonsets") {
        return Err(MagicError::usage(format!("%k8s port-forward: {} cannot be forwarded to; give a pod, svc/, deploy/ or sts/", kind.plural)));
    }
    let name = a.positional[1].clone();
    let (local, remote) = parse_ports(&a.positional[2]).map_err(MagicError::usage)?;
    // Check the target now, so that a typo fails here and not on the first connection.
    let probe_pod = pick_pod(&conn, &ns, &kind.plural, &name, "port-forward").await?;
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
    use super::*;

    #[test]
    fn exec_errors_keep_the_cause() {
        let long = "Internal error occurred: error executing command in container: failed to exec in container: failed to start exec \"0123abcd\": OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown";
        assert_eq!(short_exec_error(long), "exec: \"nosuch\": executable file not found in $PATH");
        assert_eq!(short_exec_error("container not found"), "container not found");
    }

    #[test]
    fn utf8_split_across_reads_is_kept_whole() {
        let mut c = Utf8Carry::default();
        let bytes = "héllo".as_bytes();
        assert_eq!(c.push(&bytes[..2]), "h");
        assert_eq!(c.push(&bytes[2..]), "éllo");
    }

    #[test]
    fn exit_codes_come_from_the_status_causes() {
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};
        let ok = Status { status: Some("Success".into()), ..Status::default() };
        assert_eq!(exit_code(&ok), Ok(0));
        let three = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause { reason: Some("ExitCode".into()), message: Some("3".into()), field: None }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(exit_code(&three), Ok(3));
        let other = Status { status: Some("Failure".into()), message: Some("executable file not found".into()), ..Status::default() };
        assert_eq!(exit_code(&other), Err("executable file not found".into()));
    }
}
