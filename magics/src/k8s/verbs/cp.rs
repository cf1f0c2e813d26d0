//! `cp`: files and folders to and from a container, as kubectl cp does it: a tar archive through
//! exec, unpacked by `tar` in the container (to it) or made by `tar` there and unpacked here
//! (from it). So, as with kubectl, the container needs a `tar`.

use super::exec::{container_not_running, exit_code, short_exec_error};
use super::flags::{Parsed, UsageError};
use super::{plan, About, Completing, Cx, Plan, Planned, Verb};
use crate::framework::registry::{MagicError, MagicFuture, MagicOutput};
use crate::k8s::cluster::{Conn, Scope};
use crate::k8s::view::human_duration;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Status;
use kube::api::{Api, AttachParams};
use output::StreamName;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct Cp;

const ABOUT: About = About {
    name: "cp",
    flags: &["--namespace", "--container", "--timeout", "--context", "--kubeconfig"],
    help: "  %k8s cp SRC DST [-c CONTAINER]   copies a file or folder to or from a container: one of SRC
        and DST is [NAMESPACE/]POD:PATH, the other a local path (cp notes.txt web-1:/tmp/,
        cp web-1:/etc/nginx ./nginx); as kubectl cp, through tar, which the container needs;
        --timeout (default 5m)",
    body: None,
    takes_command: false,
};

const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);
/// The exec streams' buffers: kube's default (1 KiB) makes a copy crawl.
const BUFFER: usize = 64 * 1024;

/// One side of a copy, as kubectl reads it: `[NAMESPACE/]POD:PATH` or a local path.
#[derive(Debug, Clone, PartialEq)]
enum Spec {
    Local(String),
    Remote { namespace: Option<String>, pod: String, path: String },
}

/// kubectl's reading of a file spec: before the first `:` a pod (or NAMESPACE/POD), after it
/// the path; no `:`, a local path.
fn file_spec(arg: &str) -> Result<Spec, String> {
    let bad = || format!("'{arg}' is not [NAMESPACE/]POD:PATH or a local path");
    let Some((pod, path)) = arg.split_once(':') else { return Ok(Spec::Local(arg.to_string())) };
    if pod.is_empty() {
        return Err(bad());
    }
    let (namespace, pod) = match pod.split('/').collect::<Vec<_>>()[..] {
        [pod] => (None, pod),
        [ns, pod] if !ns.is_empty() && !pod.is_empty() => (Some(ns.to_string()), pod),
        _ => return Err(bad()),
    };
    if path.is_empty() {
        return Err(format!("'{arg}' names no path in the container; write {pod}:/PATH"));
    }
    Ok(Spec::Remote { namespace, pod: pod.to_string(), path: path.to_string() })
}

/// A path in the container, cleaned as Go's path.Clean does it (`/tmp//x/` is `/tmp/x`).
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => {
                parts.pop();
            }
            ".." if rooted => {}
            other => parts.push(other),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".to_string(),
        (false, false) => joined,
    }
}

/// The folder and the last part of a cleaned container path (`/tmp/x`: `/tmp` and `x`).
fn split_remote(path: &str) -> (String, String) {
    match path.rsplit_once('/') {
        Some(("", base)) => ("/".to_string(), base.to_string()),
        Some((dir, base)) => (dir.to_string(), base.to_string()),
        None => (".".to_string(), path.to_string()),
    }
}

/// What the names in the container's archive start with: tar takes the leading `/` and `../`
/// off the path it is given.
fn archive_prefix(path: &str) -> Vec<String> {
    clean(path).split('/').filter(|p| !p.is_empty() && *p != "." && *p != "..").map(str::to_string).collect()
}

struct Options {
    /// The container's side: its pod (NAMESPACE/POD) and path.
    namespace: Option<String>,
    pod: String,
    path: String,
    local: String,
    /// From here into the container (else out of it).
    inward: bool,
    container: Option<String>,
    timeout: Duration,
    scope: Scope,
}

impl Verb for Cp {
    fn about(&self) -> &'static About {
        &ABOUT
    }
    fn plan(&self, p: Parsed, _body: bool) -> Result<Box<dyn Planned>, UsageError> {
        let [from, to] = p.positional.as_slice() else {
            return Err(p.usage("write cp SRC DST, one of them [NAMESPACE/]POD:PATH, e.g. cp notes.txt web-1:/tmp/notes.txt"));
        };
        let from = file_spec(from).map_err(|m| p.usage(m))?;
        let to = file_spec(to).map_err(|m| p.usage(m))?;
        let (namespace, pod, path, local, inward) = match (from, to) {
            (Spec::Remote { .. }, Spec::Remote { .. }) => {
                return Err(p.usage("one of SRC and DST must be a local path; cp copies between here and a container"))
            }
            (Spec::Local(_), Spec::Local(_)) => {
                return Err(p.usage("one of SRC and DST must be [NAMESPACE/]POD:PATH, a path in a container"))
            }
            (Spec::Local(local), Spec::Remote { namespace, pod, path }) => (namespace, pod, path, local, true),
            (Spec::Remote { namespace, pod, path }, Spec::Local(local)) => (namespace, pod, path, local, false),
        };
        plan(Options {
            namespace,
            pod,
            path: clean(&path),
            local,
            inward,
            container: p.text("--container"),
            timeout: p.duration("--timeout").unwrap_or(DEFAULT_TIMEOUT),
            scope: p.scope(),
        })
    }
    fn complete<'a>(&'a self, cx: &'a Completing<'a>) -> MagicFuture<'a, Vec<String>> {
        Box::pin(complete(cx))
    }
}

/// Pods as `POD:` (and `NS/POD:` once a namespace is typed), then local paths.
async fn complete(cx: &Completing<'_>) -> Vec<String> {
    if cx.positional.len() >= 2 || cx.current.contains(':') {
        return Vec::new();
    }
    let mut found: Vec<String> = match cx.current.split_once('/') {
        Some((ns, _)) if !ns.is_empty() && !ns.starts_with('.') => {
            let typed = Completing { session: cx.session, positional: Vec::new(), namespace: Some(ns.to_string()), current: "" };
            typed.names("pods").await.into_iter().map(|p| format!("{ns}/{p}:")).collect()
        }
        _ => cx.names("pods").await.into_iter().map(|p| format!("{p}:")).collect(),
    };
    found.extend(local_paths(cx.current));
    found
}

/// The local files and folders a typed path may go on to (folders end with `/`).
fn local_paths(typed: &str) -> Vec<String> {
    let (dir, shown) = match typed.rfind('/') {
        Some(i) => (if i == 0 { "/".to_string() } else { typed[..i].to_string() }, typed[..=i].to_string()),
        None => (".".to_string(), String::new()),
    };
    let begun = &typed[shown.len()..];
    let Ok(entries) = std::fs::read_dir(&dir) else { return Vec::new() };
    entries
        .filter_map(|e| e.ok())
        .map(|e| (e.file_name().to_string_lossy().into_owned(), e))
        .filter(|(name, _)| name.starts_with(begun))
        .take(500)
        .map(|(name, e)| {
            let slash = if e.path().is_dir() { "/" } else { "" };
            format!("{shown}{name}{slash}")
        })
        .collect()
}

impl Plan for Options {
    async fn run(&self, cx: &Cx<'_>) -> Result<MagicOutput, MagicError> {
        let (pod, path, local) = (&self.pod, &self.path, &self.local);
        if self.inward && std::fs::symlink_metadata(local).is_err() {
            return Err(MagicError::new("NotFound", format!("{local}: no such local file or folder")));
        }
        let mut scope = self.scope.clone();
        if self.namespace.is_some() {
            scope.namespace = self.namespace.clone();
        }
        let (conn, ns) = cx.session.for_call(&scope).await?;
        let target = Target::find(&conn, &ns, pod, self.container.as_deref()).await?;
        let copy = async {
            if self.inward {
                target.copy_in(local, path).await
            } else {
                let warnings = target.copy_out(path, local).await?;
                for w in warnings {
                    cx.sink.stream(StreamName::Stderr, &format!("{w}\n"));
                }
                Ok(())
            }
        };
        match tokio::time::timeout(self.timeout, copy).await {
            Ok(done) => done.map(|_| MagicOutput::None),
            Err(_) => Err(MagicError::new(
                "Timeout",
                format!("the copy with pod {pod} did not end within {}; --timeout gives it longer", human_duration(self.timeout.as_secs() as i64)),
            )),
        }
    }
}

/// The container a copy goes to, checked to be running.
struct Target<'a> {
    conn: &'a Conn,
    ns: String,
    pod: String,
    container: String,
}

/// What a command in the container gave.
struct Ran {
    stdout: Vec<u8>,
    stderr: String,
    status: Option<Status>,
}

impl<'a> Target<'a> {
    async fn find(conn: &'a Conn, ns: &str, pod_name: &str, container: Option<&str>) -> Result<Target<'a>, MagicError> {
        let api: Api<Pod> = Api::namespaced(conn.client.clone(), ns);
        let pod = conn.call(&format!("get pods {pod_name}"), api.get(pod_name)).await?;
        let containers: Vec<String> = pod.spec.as_ref().map(|s| s.containers.iter().map(|c| c.name.clone()).collect()).unwrap_or_default();
        // kubectl's default: the container the pod's annotation names, else the first.
        let default = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("kubectl.kubernetes.io/default-container"))
            .filter(|c| containers.contains(c))
            .cloned()
            .or_else(|| containers.first().cloned());
        let container = match container {
            Some(c) if !containers.iter().any(|n| n == c) => {
                return Err(MagicError::usage(format!(
                    "%k8s cp: pod {pod_name} has no container {c}; its containers are {}",
                    containers.join(", ")
                )))
            }
            Some(c) => c.to_string(),
            None => default.unwrap_or_default(),
        };
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default();
        if phase != "Running" {
            return Err(MagicError::new("NotRunning", format!("pod {pod_name} is {phase}, not Running; cp needs a running container")));
        }
        if let Some(why) = container_not_running(&pod, &container) {
            return Err(MagicError::new("NotRunning", format!("container {container} of pod {pod_name} is not running: {why}")));
        }
        Ok(Target { conn, ns: ns.to_string(), pod: pod_name.to_string(), container })
    }

    /// Runs a command in the container, with `stdin` as its input, and waits for its end.
    async fn run(&self, command: &[&str], stdin: Option<Vec<u8>>) -> Result<Ran, MagicError> {
        let ap = AttachParams::default()
            .container(self.container.clone())
            .stdin(stdin.is_some())
            .stdout(true)
            .stderr(true)
            .max_stdin_buf_size(BUFFER)
            .max_stdout_buf_size(BUFFER)
            .max_stderr_buf_size(BUFFER);
        let api: Api<Pod> = Api::namespaced(self.conn.client.clone(), &self.ns);
        let command: Vec<String> = command.iter().map(|s| s.to_string()).collect();
        let mut process = self.conn.call(&format!("exec in pod {}", self.pod), api.exec(&self.pod, command, &ap)).await?;
        let status = process.take_status();
        let (out, err, input) = (process.stdout(), process.stderr(), process.stdin());
        // Output is read while the input is written: the streams' buffers are small, and a
        // command that cannot write would stop reading.
        let read = |r: Option<tokio::io::ReadHalf<tokio::io::SimplexStream>>| async move {
            let mut v = Vec::new();
            if let Some(mut r) = r {
                let _ = r.read_to_end(&mut v).await;
            }
            v
        };
        let write = async move {
            if let (Some(mut w), Some(data)) = (input, stdin) {
                let _ = w.write_all(&data).await;
                let _ = w.shutdown().await;
            }
        };
        let (stdout, stderr, ()) = tokio::join!(read(out), read(err), write);
        let status = match status {
            Some(s) => s.await,
            None => None,
        };
        Ok(Ran { stdout, stderr: String::from_utf8_lossy(&stderr).into_owned(), status })
    }

    /// The error of a command that failed: tar's own lines, or that there is no tar.
    fn failure(&self, ran: &Ran) -> Option<MagicError> {
        let (pod, container) = (&self.pod, &self.container);
        let Some(status) = &ran.status else {
            return Some(MagicError::new("CopyFailed", format!("the connection to pod {pod} ended before tar reported its exit")));
        };
        match exit_code(status) {
            Ok(0) => None,
            Ok(code) => {
                let said = tar_lines(&ran.stderr);
                let ename = if said.contains("No such file or directory") { "NotFound" } else { "CopyFailed" };
                let said = if said.is_empty() { format!("tar ended with exit code {code}") } else { said };
                Some(MagicError::new(ename, format!("pod {pod}, container {container}: {said}")))
            }
            Err(message) if message.contains("\"tar\"") && message.contains("not found") => Some(MagicError::new(
                "NoTar",
                format!("container {container} of pod {pod} has no tar; cp (like kubectl cp) needs tar in the container"),
            )),
            Err(message) => Some(MagicError::new("CopyFailed", format!("pod {pod}, container {container}: {}", short_exec_error(&message)))),
        }
    }

    /// A local file or folder into the container at `dest` (into it, if it is a folder there).
    async fn copy_in(&self, local: &str, dest: &str) -> Result<(), MagicError> {
        let is_dir = self.run(&["test", "-d", dest], None).await.ok().and_then(|r| r.status).and_then(|s| exit_code(&s).ok()) == Some(0);
        let base = local_base(local);
        let dest = if is_dir { clean(&format!("{dest}/{base}")) } else { dest.to_string() };
        let (dir, name) = split_remote(&dest);
        let source = PathBuf::from(local);
        let archive = tokio::task::spawn_blocking(move || make_tar(&source, &name))
            .await
            .map_err(|e| MagicError::new("CopyFailed", e.to_string()))?
            .map_err(|e| MagicError::new("CopyFailed", format!("cannot read {}: {e}", local)))?;
        let ran = self.run(&["tar", "-xmf", "-", "-C", &dir], Some(archive)).await?;
        match self.failure(&ran) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// A file or folder of the container into `local`; returns warnings (symlinks skipped).
    async fn copy_out(&self, path: &str, local: &str) -> Result<Vec<String>, MagicError> {
        let ran = self.run(&["tar", "cf", "-", path], None).await?;
        if let Some(e) = self.failure(&ran) {
            return Err(e);
        }
        let prefix = archive_prefix(path);
        let dest = PathBuf::from(local);
        tokio::task::spawn_blocking(move || untar(&ran.stdout, &prefix, &dest))
            .await
            .map_err(|e| MagicError::new("CopyFailed", e.to_string()))?
            .map_err(|e| MagicError::new("CopyFailed", e))
    }
}

/// tar's lines on stderr, without the note every tar gives for an absolute path.
fn tar_lines(stderr: &str) -> String {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .filter(|l| !l.to_ascii_lowercase().contains("removing leading"))
        .filter(|l| !l.contains("Exiting with failure status"))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The name a local path is copied under: its last part (that of the folder it is, for `.`).
fn local_base(local: &str) -> String {
    let path = Path::new(local);
    let named = path.file_name().map(|n| n.to_string_lossy().into_owned());
    named
        .filter(|n| n != "." && n != "..")
        .or_else(|| std::fs::canonicalize(path).ok().and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned())))
        .unwrap_or_else(|| "copy".to_string())
}

/// An archive of a local file or folder, its entries named `name` and `name/...`. Symbolic links
/// go in as links, as kubectl sends them.
fn make_tar(source: &Path, name: &str) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    if source.is_dir() {
        builder.append_dir_all(name, source)?;
    } else {
        builder.append_path_with_name(source, name)?;
    }
    builder.into_inner()
}

/// Unpacks the container's archive of the path whose parts are `prefix` into `dest`: the path
/// itself becomes `dest` (a file goes into `dest` if that is a folder here), what is under it
/// goes under `dest`. Nothing is written outside `dest`; symbolic links are skipped with a
/// warning, as kubectl skips them.
fn untar(bytes: &[u8], prefix: &[String], dest: &Path) -> Result<Vec<String>, String> {
    let mut warnings = Vec::new();
    let mut archive = tar::Archive::new(bytes);
    let entries = archive.entries().map_err(|e| format!("the archive from the container is unreadable: {e}"))?;
    let mut wrote_any = false;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the archive from the container is unreadable: {e}"))?;
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let parts: Vec<&str> = name.split('/').filter(|p| !p.is_empty() && *p != ".").collect();
        if parts.contains(&"..") || parts.len() < prefix.len() || parts[..prefix.len()] != *prefix {
            warnings.push(format!("warning: file {name:?} is outside the path copied, skipping"));
            continue;
        }
        let rest = &parts[prefix.len()..];
        let kind = entry.header().entry_type();
        let mut target = dest.to_path_buf();
        if rest.is_empty() && kind.is_file() && dest.is_dir() {
            // A single file into a folder that exists here: into it, as cp does.
            target.push(prefix.last().map(String::as_str).unwrap_or("copy"));
        }
        target.extend(rest);
        let shown = target.display().to_string();
        let write = |e: std::io::Error| format!("cannot write {shown}: {e}");
        if kind.is_dir() {
            std::fs::create_dir_all(&target).map_err(write)?;
            wrote_any = true;
            continue;
        }
        if kind.is_symlink() || kind.is_hard_link() {
            let link = entry.link_name().ok().flatten().map(|l| l.display().to_string()).unwrap_or_default();
            warnings.push(format!("warning: skipping symlink: {shown:?} -> {link:?}"));
            continue;
        }
        if !kind.is_file() {
            continue;
        }
        if let Some(parent) = target.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(write)?;
        }
        let mut file = std::fs::File::create(&target).map_err(write)?;
        std::io::copy(&mut entry, &mut file).map_err(write)?;
        if let Ok(mode) = entry.header().mode() {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode & 0o777));
        }
        wrote_any = true;
    }
    if !wrote_any && warnings.is_empty() {
        return Err("the container sent an empty archive".to_string());
    }
    Ok(warnings)
}

#[cfg(test)]
mod tests {
    use super::super::tests::refused;
    use super::*;

    fn remote(ns: Option<&str>, pod: &str, path: &str) -> Spec {
        Spec::Remote { namespace: ns.map(str::to_string), pod: pod.into(), path: path.into() }
    }

    #[test]
    fn file_specs_as_kubectl_reads_them() {
        assert_eq!(file_spec("web-1:/tmp/x"), Ok(remote(None, "web-1", "/tmp/x")));
        assert_eq!(file_spec("demo/web-1:/tmp/x"), Ok(remote(Some("demo"), "web-1", "/tmp/x")));
        assert_eq!(file_spec("web-1:relative/x"), Ok(remote(None, "web-1", "relative/x")));
        assert_eq!(file_spec("./notes.txt"), Ok(Spec::Local("./notes.txt".into())));
        assert!(file_spec(":/tmp/x").unwrap_err().contains("is not [NAMESPACE/]POD:PATH"));
        assert!(file_spec("a/b/c:/x").unwrap_err().contains("is not [NAMESPACE/]POD:PATH"));
        assert!(file_spec("web-1:").unwrap_err().contains("names no path in the container"));
    }

    #[test]
    fn one_side_local_one_in_a_container() {
        assert_eq!(refused(&Cp, "notes.txt web-1:/tmp/ -c nginx", false), "");
        assert_eq!(refused(&Cp, "demo/web-1:/etc/hostname ./h", false), "");
        assert!(refused(&Cp, "a b", false).contains("one of SRC and DST must be [NAMESPACE/]POD:PATH"));
        assert!(refused(&Cp, "p:/a q:/b", false).contains("one of SRC and DST must be a local path"));
        assert!(refused(&Cp, "only-one", false).starts_with("%k8s cp: write cp SRC DST"));
        assert!(refused(&Cp, "a p:/b c", false).starts_with("%k8s cp: write cp SRC DST"));
    }

    #[test]
    fn local_paths_complete_what_is_typed() {
        let tmp = tempdir("cp-complete");
        std::fs::create_dir(tmp.join("site")).unwrap();
        std::fs::write(tmp.join("notes.txt"), "").unwrap();
        let typed = format!("{}/", tmp.display());
        let mut found = local_paths(&typed);
        found.sort();
        assert_eq!(found, [format!("{typed}notes.txt"), format!("{typed}site/")]);
        assert_eq!(local_paths(&format!("{typed}no")), [format!("{typed}notes.txt")]);
    }

    #[test]
    fn container_paths() {
        assert_eq!(clean("/tmp//x/"), "/tmp/x");
        assert_eq!(clean("/tmp/./a/../b"), "/tmp/b");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean("a/"), "a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(split_remote("/tmp/x"), ("/tmp".into(), "x".into()));
        assert_eq!(split_remote("/x"), ("/".into(), "x".into()));
        assert_eq!(split_remote("x"), (".".into(), "x".into()));
        assert_eq!(archive_prefix("/tmp/dir/"), ["tmp", "dir"]);
        assert_eq!(archive_prefix("../up"), ["up"]);
        assert!(archive_prefix("/").is_empty());
    }

    #[test]
    fn tar_notes_are_left_out_of_errors() {
        let gnu = "tar: Removing leading `/' from member names\ntar: /nope: Cannot stat: No such file or directory\ntar: Exiting with failure status due to previous errors\n";
        assert_eq!(tar_lines(gnu), "tar: /nope: Cannot stat: No such file or directory");
        assert_eq!(tar_lines("tar: removing leading '/' from member names\ntar: /nope: No such file or directory\n"), "tar: /nope: No such file or directory");
    }

    /// An archive as `tar cf - /srv/site` makes it in the container.
    fn site_archive() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut add = |name: &str, kind: tar::EntryType, data: &[u8], link: Option<&str>| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(kind);
            h.set_size(data.len() as u64);
            h.set_mode(if kind.is_dir() { 0o755 } else { 0o640 });
            if let Some(l) = link {
                h.set_link_name(l).unwrap();
            }
            b.append_data(&mut h, name, data).unwrap();
        };
        add("srv/site/", tar::EntryType::Directory, b"", None);
        add("srv/site/index.html", tar::EntryType::Regular, b"<h1>hi</h1>", None);
        add("srv/site/css/main.css", tar::EntryType::Regular, b"body{}", None);
        add("srv/site/latest", tar::EntryType::Symlink, b"", Some("/etc/passwd"));
        b.into_inner().unwrap()
    }

    #[test]
    fn a_folder_from_the_container_becomes_dest() {
        let tmp = tempdir("cp-folder");
        let dest = tmp.join("out");
        let warnings = untar(&site_archive(), &["srv".into(), "site".into()], &dest).unwrap();
        assert_eq!(std::fs::read_to_string(dest.join("index.html")).unwrap(), "<h1>hi</h1>");
        assert_eq!(std::fs::read_to_string(dest.join("css/main.css")).unwrap(), "body{}");
        assert!(!dest.join("latest").exists(), "symlinks are skipped");
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].starts_with("warning: skipping symlink:"), "{warnings:?}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(dest.join("index.html")).unwrap().permissions().mode() & 0o777, 0o640);
    }

    #[test]
    fn a_file_from_the_container_is_dest_or_goes_into_it() {
        let tmp = tempdir("cp-file");
        let prefix = ["srv".to_string(), "site".to_string(), "index.html".to_string()];
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        b.append_data(&mut h, "srv/site/index.html", &b"abc"[..]).unwrap();
        let one = b.into_inner().unwrap();
        untar(&one, &prefix, &tmp.join("page.html")).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.join("page.html")).unwrap(), "abc");
        untar(&one, &prefix, &tmp).unwrap();
        assert_eq!(std::fs::read_to_string(tmp.join("index.html")).unwrap(), "abc", "into the folder");
    }

    #[test]
    fn nothing_is_written_outside_dest() {
        let tmp = tempdir("cp-outside");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(1);
        h.set_mode(0o644);
        // tar::Builder refuses `..` in names; a hostile tar in a container would not.
        h.as_gnu_mut().unwrap().name[..14].copy_from_slice(b"d/../../escape");
        h.set_cksum();
        b.append(&h, &b"x"[..]).unwrap();
        let evil = b.into_inner().unwrap();
        let warnings = untar(&evil, &["d".into()], &tmp.join("in")).unwrap();
        assert!(!tmp.join("escape").exists() && !tmp.parent().unwrap().join("escape").exists());
        assert!(warnings[0].contains("outside the path copied"), "{warnings:?}");
    }

    #[test]
    fn local_folders_are_archived_under_the_name_in_the_container() {
        let tmp = tempdir("cp-in");
        std::fs::create_dir_all(tmp.join("site/css")).unwrap();
        std::fs::write(tmp.join("site/css/main.css"), "body{}").unwrap();
        std::fs::write(tmp.join("notes.txt"), "n").unwrap();
        let names = |bytes: Vec<u8>| -> Vec<String> {
            tar::Archive::new(&bytes[..]).entries().unwrap().map(|e| e.unwrap().path().unwrap().display().to_string()).collect()
        };
        let folder = names(make_tar(&tmp.join("site"), "copied").unwrap());
        assert!(folder.contains(&"copied/css/main.css".to_string()), "{folder:?}");
        assert_eq!(names(make_tar(&tmp.join("notes.txt"), "n.txt").unwrap()), ["n.txt"]);
        assert_eq!(local_base(&tmp.join("site").display().to_string()), "site");
        assert_eq!(local_base(&format!("{}/.", tmp.join("site").display())), "site");
    }

    fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("kubernel-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
