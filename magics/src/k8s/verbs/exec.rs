//! `exec`: a command in a container, its stdout and stderr streamed as the cell's, its exit code
//! as the cell's outcome, its stdin from the input box (`-i`) or the cell (`%%k8s exec`).

use super::flags::{bare_name_is_a_pod, split_first_kind_name, Parsed, UsageError};
use super::{pick_error, plan, About, Body, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::pods::pick_pod;
use crate::k8s::cluster::Scope;
use crate::k8s::view::human_duration;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams};
use output::{InputReader, OutputSink, StreamName};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Exec;

const ABOUT: About = About {
    name: "exec",
    flags: &["--namespace", "--container", "--stdin", "--timeout", "--context", "--kubeconfig"],
    help: "  %k8s exec POD | deploy/NAME [-c CONTAINER] [-i] [--timeout T] -- COMMAND ARGS
        runs a command in a container: its stdout and stderr as the cell's, a non-zero exit code
        as an error; -i sends lines typed in the input box to its stdin (an empty line ends it);
        %%k8s exec ... -- COMMAND sends the cell's text to its stdin",
    body: Some(Body::Stdin),
    takes_command: true,
};

struct Options {
    positional: Vec<String>,
    command: Vec<String>,
    container: Option<String>,
    stdin: bool,
    timeout: Option<Duration>,
    scope: Scope,
}

impl Verb for Exec {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, mut p: Parsed, has_body: bool) -> Result<Box<dyn Planned>, UsageError> {
        bare_name_is_a_pod(&mut p);
        split_first_kind_name(&mut p)?;
        if p.positional.len() != 2 {
            return Err(p.usage("write exec POD (or deploy/NAME) -- COMMAND ARGS"));
        }
        if p.command.is_empty() {
            return Err(p.usage("which command? write it after --, e.g. exec deploy/web -- ls /"));
        }
        if p.has("--stdin") && has_body {
            return Err(p.usage("-i reads the input box; %%k8s exec sends the cell instead; use one"));
        }
        plan(Options {
            positional: p.positional.clone(),
            command: p.command.clone(),
            container: p.text("--container"),
            stdin: p.has("--stdin"),
            timeout: p.duration("--timeout"),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(pod_or_workload(cx))
    }
}

/// Completion for a pod or `deploy/`, `svc/`, `sts/` and their names (exec, port-forward).
pub(super) async fn pod_or_workload(cx: &Completing<'_>) -> Vec<String> {
    if !cx.positional.is_empty() {
        return Vec::new();
    }
    let mut v = cx.workload_names(&["deploy/", "svc/", "sts/"]).await;
    if !cx.current.contains('/') {
        v.extend(cx.names("pods").await);
    }
    v
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        exec(self, cx).await
    }
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
async fn exec(a: &Options, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
    let (body, sink, input) = (cx.body, cx.sink, cx.input);
    let (conn, ns) = cx.session.for_call(&a.scope).await?;
    let pod = pick_pod(&conn, &ns, &a.positional[0], &a.positional[1]).await.map_err(|e| pick_error("exec", e))?;
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
    if let Some(why) = container_not_running(&pod, &container) {
        return Err(MagicError::new("NotRunning", format!("container {container} of pod {pod_name} is not running: {why}")));
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
                    format!("the command in pod {pod_name} did not end within {}", human_duration(t.as_secs() as i64)),
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

/// The state of a container that is not running (crashed and waiting to restart, say) and its
/// last exit, as a person reads it.
pub(super) fn container_not_running(pod: &Pod, container: &str) -> Option<String> {
    let cs = pod.status.as_ref()?.container_statuses.as_ref()?.iter().find(|c| c.name == container)?;
    let state = cs.state.as_ref()?;
    if state.running.is_some() {
        return None;
    }
    let now = match (&state.waiting, &state.terminated) {
        (Some(w), _) => format!("waiting ({})", w.reason.clone().unwrap_or_default()),
        (_, Some(t)) => format!("terminated ({}, exit code {})", t.reason.clone().unwrap_or_default(), t.exit_code),
        _ => "not started".to_string(),
    };
    let last = cs.last_state.as_ref().and_then(|l| l.terminated.as_ref()).map(|t| {
        format!("; its last run ended with exit code {}{}", t.exit_code, t.reason.as_ref().map(|r| format!(" ({r})")).unwrap_or_default())
    });
    Some(format!("{now}{}", last.unwrap_or_default()))
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

    #[test]
    fn exec_targets() {
        use super::super::tests::refused;
        assert_eq!(refused(&Exec, "web-123 -c nginx -i -- sh -c echo", false), "");
        assert_eq!(refused(&Exec, "deploy/web -- ls -l /", false), "");
        assert_eq!(refused(&Exec, "deploy/web", false), "%k8s exec: which command? write it after --, e.g. exec deploy/web -- ls /");
        assert!(refused(&Exec, "deploy/web -i -- cat", true).contains("use one"));
        assert_eq!(refused(&Exec, "deploy/ -- ls", false), "%k8s exec: 'deploy/' is not KIND/NAME (e.g. deploy/web)");
    }
}
