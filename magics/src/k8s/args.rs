//! kubectl-compatible argument parsing for `%k8s`: the verb, its positional arguments and flags.
//! Pure: no cluster, no I/O, so every rule here is unit-tested.

use crate::spelling::closest;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verb {
    Connect,
    Use,
    Get,
    Describe,
    Apply,
    Delete,
    Owned,
    Cleanup,
    Logs,
    Scale,
    Run,
    Expose,
    Endpoints,
    Http,
    Exec,
    PortForward,
    Set,
    Rollout,
    Autoscale,
    Top,
}

impl Verb {
    pub const ALL: &'static [Verb] =
        &[
        Verb::Connect,
        Verb::Use,
        Verb::Get,
        Verb::Describe,
        Verb::Apply,
        Verb::Delete,
        Verb::Logs,
        Verb::Scale,
        Verb::Run,
        Verb::Expose,
        Verb::Endpoints,
        Verb::Http,
        Verb::Exec,
        Verb::PortForward,
        Verb::Set,
        Verb::Rollout,
        Verb::Autoscale,
        Verb::Top,
        Verb::Owned,
        Verb::Cleanup,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Verb::Connect => "connect",
            Verb::Use => "use",
            Verb::Get => "get",
            Verb::Describe => "describe",
            Verb::Apply => "apply",
            Verb::Delete => "delete",
            Verb::Owned => "owned",
            Verb::Cleanup => "cleanup",
            Verb::Logs => "logs",
            Verb::Scale => "scale",
            Verb::Run => "run",
            Verb::Expose => "expose",
            Verb::Endpoints => "endpoints",
            Verb::Http => "http",
            Verb::Exec => "exec",
            Verb::PortForward => "port-forward",
            Verb::Set => "set",
            Verb::Rollout => "rollout",
            Verb::Autoscale => "autoscale",
            Verb::Top => "top",
        }
    }

    pub fn from_name(name: &str) -> Option<Verb> {
        Verb::ALL.iter().copied().find(|v| v.name() == name)
    }

    /// The flags this verb accepts (long forms; short forms are in [`FLAGS`]).
    pub fn flags(self) -> &'static [&'static str] {
        match self {
            Verb::Connect => &["--context", "--namespace", "--kubeconfig"],
            Verb::Use => &[],
            Verb::Owned => &["--all", "--context", "--kubeconfig"],
            Verb::Logs => &[
                "--namespace",
                "--selector",
                "--container",
                "--tail",
                "--since",
                "--prefix",
                "--follow",
                "--stats",
                "--timeout",
                "--context",
                "--kubeconfig",
            ],
            Verb::Scale => &["--namespace", "--replicas", "--context", "--kubeconfig"],
            Verb::Run => &[
                "--namespace",
                "--image",
                "--port",
                "--replicas",
                "--env",
                "--cpu",
                "--memory",
                "--timeout",
                "--no-wait",
                "--context",
                "--kubeconfig",
            ],
            Verb::Expose => &["--namespace", "--port", "--target-port", "--type", "--name", "--context", "--kubeconfig"],
            Verb::Endpoints => &["--namespace", "--context", "--kubeconfig"],
            Verb::Http => &["--namespace", "--context", "--kubeconfig"],
            Verb::Cleanup => &["--all", "--context", "--kubeconfig"],
            Verb::Exec => &["--namespace", "--container", "--stdin", "--timeout", "--context", "--kubeconfig"],
            Verb::PortForward => &["--namespace", "--stop", "--context", "--kubeconfig"],
            Verb::Set => &["--namespace", "--context", "--kubeconfig"],
            Verb::Rollout => &["--namespace", "--timeout", "--to-revision", "--context", "--kubeconfig"],
            Verb::Autoscale => &["--namespace", "--min", "--max", "--cpu-percent", "--name", "--context", "--kubeconfig"],
            Verb::Top => &["--namespace", "--all-namespaces", "--selector", "--context", "--kubeconfig"],
            Verb::Get => &[
                "--namespace",
                "--all-namespaces",
                "--selector",
                "--output",
                "--watch",
                "--timeout",
                "--context",
                "--kubeconfig",
            ],
            Verb::Describe => &["--namespace", "--all-namespaces", "--selector", "--context", "--kubeconfig"],
            Verb::Apply => &["--namespace", "--filename", "--context", "--kubeconfig"],
            Verb::Delete => &[
                "--namespace",
                "--selector",
                "--filename",
                "--all",
                "--ignore-not-found",
                "--context",
                "--kubeconfig",
            ],
        }
    }
}

/// Every flag: (long, short, takes a value, what the value is called in messages).
pub const FLAGS: &[(&str, Option<&str>, bool, &str)] = &[
    ("--namespace", Some("-n"), true, "a namespace"),
    ("--all-namespaces", Some("-A"), false, ""),
    ("--selector", Some("-l"), true, "a label selector"),
    ("--output", Some("-o"), true, "a format (wide, yaml, json or name)"),
    ("--filename", Some("-f"), true, "a file name"),
    ("--context", None, true, "a context name"),
    ("--kubeconfig", None, true, "a kubeconfig path"),
    ("--all", None, false, ""),
    ("--ignore-not-found", None, false, ""),
    ("--watch", Some("-w"), false, ""),
    ("--timeout", None, true, "a duration (e.g. 30s, 5m)"),
    ("--container", Some("-c"), true, "a container name"),
    ("--tail", None, true, "a number of lines"),
    ("--since", None, true, "a duration (e.g. 30s, 5m)"),
    ("--prefix", None, false, ""),
    ("--replicas", None, true, "a number of replicas"),
    ("--image", None, true, "an image"),
    ("--port", None, true, "a port number"),
    ("--target-port", None, true, "a port number or name"),
    ("--env", None, true, "KEY=VALUE"),
    ("--cpu", None, true, "a CPU request, or REQUEST/LIMIT (e.g. 100m/500m)"),
    ("--memory", None, true, "a memory request, or REQUEST/LIMIT (e.g. 64Mi/128Mi)"),
    ("--type", None, true, "a service type (ClusterIP, NodePort or LoadBalancer)"),
    ("--name", None, true, "a name"),
    // -f is --filename everywhere but in logs, where it is --follow (as in kubectl).
    ("--follow", None, false, ""),
    ("--stats", None, false, ""),
    ("--stdin", Some("-i"), false, ""),
    ("--stop", None, false, ""),
    ("--no-wait", None, false, ""),
    ("--to-revision", None, true, "a revision number"),
    ("--min", None, true, "a number of replicas"),
    ("--max", None, true, "a number of replicas"),
    ("--cpu-percent", None, true, "a CPU utilisation percentage"),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Table,
    Wide,
    Yaml,
    Json,
    Name,
}

impl Output {
    pub const NAMES: &'static [&'static str] = &["wide", "yaml", "json", "name"];
}

#[derive(Debug, Clone, PartialEq)]
pub struct Args {
    pub verb: Verb,
    /// Positional arguments after the verb, with `kind/name` split into kind and name.
    pub positional: Vec<String>,
    pub namespace: Option<String>,
    pub all_namespaces: bool,
    pub selector: Option<String>,
    pub output: Output,
    pub files: Vec<String>,
    pub context: Option<String>,
    pub kubeconfig: Option<String>,
    pub all: bool,
    pub ignore_not_found: bool,
    /// `get -w`: keep the table up to date until interrupted or `--timeout`.
    pub watch: bool,
    pub timeout: Option<std::time::Duration>,
    pub container: Option<String>,
    pub tail: Option<i64>,
    pub since: Option<std::time::Duration>,
    pub prefix: bool,
    pub replicas: Option<i32>,
    pub image: Option<String>,
    pub port: Option<i32>,
    pub target_port: Option<String>,
    pub env: Vec<(String, String)>,
    pub cpu: Option<String>,
    pub memory: Option<String>,
    pub service_type: Option<String>,
    pub name: Option<String>,
    /// `run NAME ... -- COMMAND ARGS`, `exec POD -- COMMAND ARGS`
    pub command: Vec<String>,
    /// `set image`, `rollout status|history|undo|restart`: the sub-verb.
    pub sub: Option<String>,
    /// `logs -f`
    pub follow: bool,
    /// `logs --stats`: live request statistics of an access log.
    pub stats: bool,
    /// `exec -i`: the command's stdin comes from the input box.
    pub stdin: bool,
    /// `port-forward --stop`
    pub stop: bool,
    /// `run --no-wait`: do not wait for the pods to be available.
    pub no_wait: bool,
    pub to_revision: Option<i64>,
    pub min: Option<i32>,
    pub max: Option<i32>,
    pub cpu_percent: Option<i32>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

fn usage(verb: Option<Verb>, message: impl fmt::Display) -> UsageError {
    match verb {
        Some(v) => UsageError(format!("%k8s {}: {message}", v.name())),
        None => UsageError(format!("%k8s: {message}")),
    }
}

/// The flag a spelling means for a verb: -f is --follow in logs (as in kubectl), --filename
/// elsewhere.
pub fn flag_of(verb: Verb, spelling: &str) -> Option<&'static (&'static str, Option<&'static str>, bool, &'static str)> {
    let spelling = if verb == Verb::Logs && spelling == "-f" { "--follow" } else { spelling };
    flag_by_spelling(spelling)
}

fn flag_by_spelling(spelling: &str) -> Option<&'static (&'static str, Option<&'static str>, bool, &'static str)> {
    FLAGS.iter().find(|(long, short, _, _)| *long == spelling || *short == Some(spelling))
}

/// Parses the arguments of `%k8s` (the verb first). kubectl's `config use-context C` and
/// `config set-context --current --namespace N` are accepted as spellings of `use`.
pub fn parse(args: &[String]) -> Result<Args, UsageError> {
    parse_with_body(args, false)
}

/// As [`parse`], for a cell magic whose body holds manifests (`%%k8s apply`, `%%k8s delete`).
pub fn parse_with_body(args: &[String], has_body: bool) -> Result<Args, UsageError> {
    let Some(first) = args.first() else {
        return Err(usage(None, format!("a verb is needed: {}", verb_list())));
    };
    let mut rest: Vec<String> = args[1..].to_vec();
    let verb = match first.as_str() {
        "config" => {
            // kubectl config use-context C | set-context --current --namespace=N
            match rest.first().map(String::as_str) {
                Some("use-context") => {
                    rest[0] = "context".into();
                    Verb::Use
                }
                Some("set-context") => {
                    rest.remove(0);
                    rest.retain(|a| a != "--current");
                    let parsed = parse_flags(Verb::Connect, &rest)?;
                    let Some(ns) = parsed.namespace else {
                        return Err(usage(Some(Verb::Use), "config set-context needs --current --namespace NS"));
                    };
                    rest = vec!["namespace".into(), ns];
                    Verb::Use
                }
                _ => return Err(usage(None, "of `config` only use-context and set-context --current are known")),
            }
        }
        name => match Verb::from_name(name) {
            Some(v) => v,
            None => {
                let hint = closest(name, Verb::ALL.iter().map(|v| v.name()))
                    .map(|v| format!("; did you mean {v}?"))
                    .unwrap_or_else(|| format!("; the verbs are {}", verb_list()));
                return Err(usage(None, format!("unknown verb '{name}'{hint}")));
            }
        },
    };
    let mut parsed = parse_flags(verb, &rest)?;
    check(&mut parsed, has_body)?;
    Ok(parsed)
}

fn verb_list() -> String {
    Verb::ALL.iter().map(|v| v.name()).collect::<Vec<_>>().join(", ")
}

fn parse_flags(verb: Verb, rest: &[String]) -> Result<Args, UsageError> {
    let mut out = Args {
        verb,
        positional: Vec::new(),
        namespace: None,
        all_namespaces: false,
        selector: None,
        output: Output::Table,
        files: Vec::new(),
        context: None,
        kubeconfig: None,
        all: false,
        ignore_not_found: false,
        watch: false,
        timeout: None,
        container: None,
        tail: None,
        since: None,
        prefix: false,
        replicas: None,
        image: None,
        port: None,
        target_port: None,
        env: Vec::new(),
        cpu: None,
        memory: None,
        service_type: None,
        name: None,
        command: Vec::new(),
        sub: None,
        follow: false,
        stats: false,
        stdin: false,
        stop: false,
        no_wait: false,
        to_revision: None,
        min: None,
        max: None,
        cpu_percent: None,
    };
    let mut i = 0;
    while i < rest.len() {
        let arg = &rest[i];
        i += 1;
        if arg == "--" {
            if matches!(verb, Verb::Run | Verb::Exec) {
                out.command.extend(rest[i..].iter().cloned());
            } else {
                out.positional.extend(rest[i..].iter().cloned());
            }
            break;
        }
        if !arg.starts_with('-') || arg == "-" {
            out.positional.push(arg.clone());
            continue;
        }
        // --flag=value, -nvalue, -n=value, -n value
        let (spelling, inline): (String, Option<String>) = if let Some(long) = arg.strip_prefix("--") {
            match long.split_once('=') {
                Some((name, value)) => (format!("--{name}"), Some(value.to_string())),
                None => (arg.clone(), None),
            }
        } else {
            let short: String = arg.chars().take(2).collect();
            let tail = &arg[short.len()..];
            let tail = tail.strip_prefix('=').unwrap_or(tail);
            (short, (!tail.is_empty()).then(|| tail.to_string()))
        };
        let Some(&(long, short, takes_value, what)) = flag_of(verb, &spelling) else {
            return Err(usage(Some(verb), format!("unknown flag {spelling}")));
        };
        if !verb.flags().contains(&long) {
            return Err(usage(Some(verb), format!("{spelling} is not a flag of {}", verb.name())));
        }
        let shown = if spelling.starts_with("--") { long } else { short.unwrap_or(long) };
        let value = if takes_value {
            match inline {
                Some(v) if !v.is_empty() => Some(v),
                Some(_) => return Err(usage(Some(verb), format!("{shown} needs {what}"))),
                None => match rest.get(i) {
                    Some(v) if !(v.starts_with('-') && v.len() > 1) => {
                        i += 1;
                        Some(v.clone())
                    }
                    _ => return Err(usage(Some(verb), format!("{shown} needs {what}"))),
                },
            }
        } else {
            if inline.is_some() && spelling.starts_with("--") {
                return Err(usage(Some(verb), format!("{shown} takes no value")));
            }
            if let (Some(tail), false) = (&inline, spelling.starts_with("--")) {
                // combined short flags are not supported beyond -A
                return Err(usage(Some(verb), format!("unknown flag {shown}{tail}")));
            }
            None
        };
        match long {
            "--namespace" => out.namespace = value,
            "--all-namespaces" => out.all_namespaces = true,
            "--selector" => out.selector = value,
            "--output" => {
                let v = value.unwrap_or_default();
                out.output = match v.as_str() {
                    "wide" => Output::Wide,
                    "yaml" => Output::Yaml,
                    "json" => Output::Json,
                    "name" => Output::Name,
                    other => {
                        return Err(usage(
                            Some(verb),
                            format!("unknown output format '{other}'; use wide, yaml, json or name"),
                        ))
                    }
                }
            }
            "--filename" => out.files.push(value.unwrap_or_default()),
            "--context" => out.context = value,
            "--kubeconfig" => out.kubeconfig = value,
            "--all" => out.all = true,
            "--ignore-not-found" => out.ignore_not_found = true,
            "--watch" => out.watch = true,
            "--container" => out.container = value,
            "--image" => out.image = value,
            "--target-port" => out.target_port = value,
            "--cpu" => out.cpu = value,
            "--memory" => out.memory = value,
            "--name" => out.name = value,
            "--port" => {
                let v = value.unwrap_or_default();
                out.port = Some(v.parse().ok().filter(|n: &i32| (1..=65535).contains(n)).ok_or_else(|| {
                    usage(Some(verb), format!("--port '{v}' is not a port number"))
                })?);
            }
            "--env" => {
                let v = value.unwrap_or_default();
                let Some((k, val)) = v.split_once('=') else {
                    return Err(usage(Some(verb), format!("--env '{v}' is not KEY=VALUE")));
                };
                out.env.push((k.to_string(), val.to_string()));
            }
            "--type" => {
                let v = value.unwrap_or_default();
                let t = ["ClusterIP", "NodePort", "LoadBalancer"]
                    .into_iter()
                    .find(|t| t.eq_ignore_ascii_case(&v))
                    .ok_or_else(|| usage(Some(verb), format!("--type '{v}': use ClusterIP, NodePort or LoadBalancer")))?;
                out.service_type = Some(t.to_string());
            }
            "--prefix" => out.prefix = true,
            "--follow" => out.follow = true,
            "--stats" => out.stats = true,
            "--stdin" => out.stdin = true,
            "--stop" => out.stop = true,
            "--no-wait" => out.no_wait = true,
            "--to-revision" => {
                let v = value.unwrap_or_default();
                out.to_revision = Some(v.parse().ok().filter(|n: &i64| *n > 0).ok_or_else(|| {
                    usage(Some(verb), format!("--to-revision '{v}' is not a revision number"))
                })?);
            }
            "--min" | "--max" | "--cpu-percent" => {
                let v = value.unwrap_or_default();
                let n = v.parse().ok().filter(|n: &i32| *n >= 1).ok_or_else(|| {
                    usage(Some(verb), format!("{long} '{v}' is not {what} (a whole number, 1 or more)"))
                })?;
                match long {
                    "--min" => out.min = Some(n),
                    "--max" => out.max = Some(n),
                    _ => out.cpu_percent = Some(n),
                }
            }
            "--tail" => {
                let v = value.unwrap_or_default();
                out.tail = Some(v.parse().ok().filter(|n: &i64| *n >= 0).ok_or_else(|| {
                    usage(Some(verb), format!("--tail '{v}' is not a number of lines"))
                })?);
            }
            "--since" => {
                let v = value.unwrap_or_default();
                out.since = Some(
                    parse_duration(&v)
                        .ok_or_else(|| usage(Some(verb), format!("--since '{v}' is not a duration like 30s, 5m or 1h")))?,
                );
            }
            "--replicas" => {
                let v = value.unwrap_or_default();
                out.replicas = Some(v.parse().ok().filter(|n: &i32| *n >= 0).ok_or_else(|| {
                    usage(Some(verb), format!("--replicas '{v}' is not a number of replicas"))
                })?);
            }
            "--timeout" => {
                let v = value.unwrap_or_default();
                out.timeout = Some(
                    parse_duration(&v)
                        .ok_or_else(|| usage(Some(verb), format!("--timeout '{v}' is not a duration like 30s, 5m or 1h")))?,
                );
            }
            _ => unreachable!("flag table and match disagree: {long}"),
        }
    }
    // Sub-verbs come first: `set image ...`, `rollout status ...`.
    if matches!(verb, Verb::Set | Verb::Rollout) && !out.positional.is_empty() {
        out.sub = Some(out.positional.remove(0));
    }
    // A bare pod name: `exec web-123 -- ls`, `port-forward web-123 8080:80`.
    if matches!(verb, Verb::Exec | Verb::PortForward) {
        if let Some(first) = out.positional.first_mut() {
            if !first.contains('/') {
                *first = format!("pods/{first}");
            }
        }
    }
    // Only the first argument is KIND/NAME: what follows is C=IMAGE, LOCAL:REMOTE, ...
    if matches!(verb, Verb::Exec | Verb::PortForward | Verb::Set | Verb::Rollout | Verb::Autoscale) {
        if let Some(first) = out.positional.first().cloned() {
            let Some((kind, name)) = first.split_once('/').filter(|(k, n)| !k.is_empty() && !n.is_empty()) else {
                return Err(usage(Some(verb), format!("'{first}' is not KIND/NAME (e.g. deploy/web)")));
            };
            out.positional.splice(0..1, [kind.to_string(), name.to_string()]);
        }
    }
    // kind/name → kind name
    if matches!(verb, Verb::Get | Verb::Describe | Verb::Delete | Verb::Logs | Verb::Scale | Verb::Expose | Verb::Endpoints) {
        let mut split = Vec::new();
        for (idx, p) in out.positional.iter().enumerate() {
            match p.split_once('/') {
                Some((kind, name)) if idx == 0 || split.len() >= 2 => {
                    if kind.is_empty() || name.is_empty() {
                        return Err(usage(Some(verb), format!("'{p}' is not KIND/NAME")));
                    }
                    if split.is_empty() {
                        split.push(kind.to_string());
                    } else if split[0] != kind {
                        return Err(usage(Some(verb), format!("'{p}': one kind at a time, please")));
                    }
                    split.push(name.to_string());
                }
                _ => split.push(p.clone()),
            }
        }
        out.positional = split;
    }
    Ok(out)
}

fn check(a: &mut Args, has_body: bool) -> Result<(), UsageError> {
    let verb = Some(a.verb);
    if a.all_namespaces && a.namespace.is_some() {
        return Err(usage(verb, "-n and -A do not go together"));
    }
    match a.verb {
        Verb::Connect | Verb::Owned | Verb::Cleanup => {
            if let Some(extra) = a.positional.first() {
                return Err(usage(verb, format!("unexpected argument '{extra}'")));
            }
        }
        Verb::Use => match a.positional.as_slice() {
            [what, _] if matches!(what.as_str(), "namespace" | "ns" | "context") => {
                if what == "ns" {
                    a.positional[0] = "namespace".into();
                }
            }
            [what] if matches!(what.as_str(), "namespace" | "ns" | "context") => {
                let what = if what == "ns" { "namespace" } else { what.as_str() };
                return Err(usage(verb, format!("use {what} needs a name")));
            }
            _ => return Err(usage(verb, "write `use namespace NAME` or `use context NAME`")),
        },
        Verb::Get | Verb::Describe => {
            if a.positional.is_empty() {
                return Err(usage(verb, "which kind? e.g. pods, deployments, services, nodes"));
            }
            if a.selector.is_some() && a.positional.len() > 1 {
                return Err(usage(verb, "give names or -l, not both"));
            }
            if a.watch && !matches!(a.output, Output::Table | Output::Wide) {
                return Err(usage(verb, "-w shows a live table; it does not go with -o yaml, json or name"));
            }
            if a.watch && (a.positional.len() > 2 || a.positional[0].contains(',')) {
                return Err(usage(verb, "-w watches one kind, and at most one name"));
            }
            if a.timeout.is_some() && !a.watch {
                return Err(usage(verb, "--timeout goes with -w"));
            }
        }
        Verb::Logs if a.timeout.is_some() && !a.follow && !a.stats => {
            return Err(usage(verb, "--timeout goes with -f or --stats"))
        }
        Verb::Logs => match (a.positional.len(), a.selector.is_some()) {
            (0, false) => return Err(usage(verb, "whose logs? POD, deploy/NAME (or job/, sts/, ds/, rs/) or -l SELECTOR")),
            (0, true) => {}
            (1, false) => {}
            (2, false) => {}
            (_, true) => return Err(usage(verb, "give a pod or workload, or -l, not both")),
            _ => return Err(usage(verb, "one pod or workload at a time")),
        },
        Verb::Scale => {
            if a.positional.len() != 2 {
                return Err(usage(verb, "write scale deploy/NAME --replicas N (or sts/, rs/)"));
            }
            if a.replicas.is_none() {
                return Err(usage(verb, "--replicas N is needed"));
            }
        }
        Verb::Run => {
            if a.no_wait && a.timeout.is_some() {
                return Err(usage(verb, "--timeout is how long to wait; it does not go with --no-wait"));
            }
            if a.positional.len() != 1 {
                return Err(usage(verb, "write run NAME --image IMAGE [--port P] [--replicas N] [-- COMMAND ARGS]"));
            }
            if a.image.is_none() {
                return Err(usage(verb, "--image IMAGE is needed"));
            }
        }
        Verb::Expose => {
            if a.positional.len() != 2 {
                return Err(usage(verb, "write expose deploy/NAME --port P"));
            }
            if a.port.is_none() {
                return Err(usage(verb, "--port P is needed"));
            }
        }
        Verb::Endpoints => {
            if a.positional.len() == 1 {
                a.positional.insert(0, "services".into());
            }
            if a.positional.len() != 2 {
                return Err(usage(verb, "write endpoints svc/NAME"));
            }
        }
        Verb::Http => {
            if a.positional.len() != 1 || !a.positional[0].contains('/') {
                return Err(usage(verb, "write http svc/NAME[:PORT][/PATH] (or pod/NAME...)"));
            }
        }
        Verb::Exec => {
            if a.positional.len() != 2 {
                return Err(usage(verb, "write exec POD (or deploy/NAME) -- COMMAND ARGS"));
            }
            if a.command.is_empty() {
                return Err(usage(verb, "which command? write it after --, e.g. exec deploy/web -- ls /"));
            }
            if a.stdin && has_body {
                return Err(usage(verb, "-i reads the input box; %%k8s exec sends the cell instead; use one"));
            }
        }
        Verb::PortForward => {
            if a.stop {
                if a.positional.len() > 2 {
                    return Err(usage(verb, "write port-forward --stop [svc/NAME]"));
                }
            } else if !a.positional.is_empty() {
                if a.positional.len() != 3 {
                    return Err(usage(verb, "write port-forward svc/NAME [LOCAL:]REMOTE, e.g. port-forward svc/web 8080:80"));
                }
                parse_ports(&a.positional[2]).map_err(|e| usage(verb, e))?;
            }
        }
        Verb::Set => {
            if a.sub.as_deref() != Some("image") {
                return Err(usage(verb, "only `set image deploy/NAME CONTAINER=IMAGE` is known"));
            }
            if a.positional.len() < 3 {
                return Err(usage(verb, "write set image deploy/NAME CONTAINER=IMAGE (or *=IMAGE for every container)"));
            }
            for pair in &a.positional[2..] {
                if !pair.split_once('=').is_some_and(|(c, i)| !c.is_empty() && !i.is_empty()) {
                    return Err(usage(verb, format!("'{pair}' is not CONTAINER=IMAGE")));
                }
            }
        }
        Verb::Rollout => {
            const SUBS: &[&str] = &["status", "history", "undo", "restart"];
            match a.sub.as_deref() {
                Some(s) if SUBS.contains(&s) => {}
                Some(s) => {
                    let hint = closest(s, SUBS.iter().copied()).map(|c| format!("; did you mean {c}?")).unwrap_or_default();
                    return Err(usage(verb, format!("unknown rollout command '{s}'{hint} (status, history, undo, restart)")));
                }
                None => return Err(usage(verb, "write rollout status|history|undo|restart deploy/NAME")),
            }
            if a.positional.len() != 2 {
                return Err(usage(verb, format!("write rollout {} deploy/NAME", a.sub.as_deref().unwrap_or_default())));
            }
            if a.to_revision.is_some() && a.sub.as_deref() != Some("undo") {
                return Err(usage(verb, "--to-revision goes with undo"));
            }
        }
        Verb::Autoscale => {
            if a.positional.len() != 2 {
                return Err(usage(verb, "write autoscale deploy/NAME --min N --max M --cpu-percent P"));
            }
            let Some(max) = a.max else { return Err(usage(verb, "--max N is needed")) };
            if a.min.is_some_and(|min| min > max) {
                return Err(usage(verb, "--min is more than --max"));
            }
        }
        Verb::Top => match a.positional.first().map(String::as_str) {
            Some("pods" | "pod" | "po") if a.positional.len() <= 2 => a.positional[0] = "pods".into(),
            Some("nodes" | "node" | "no") if a.positional.len() <= 2 => {
                if a.namespace.is_some() || a.all_namespaces {
                    return Err(usage(verb, "nodes have no namespace"));
                }
                a.positional[0] = "nodes".into()
            }
            _ => return Err(usage(verb, "write top pods [NAME] or top nodes [NAME]")),
        },
        Verb::Apply => {
            if !a.positional.is_empty() {
                return Err(usage(verb, format!("unexpected argument '{}'; the YAML goes in the cell (%%k8s apply) or in -f PATH", a.positional[0])));
            }
        }
        Verb::Delete => {
            let by_file = !a.files.is_empty() || has_body;
            if by_file {
                if !a.positional.is_empty() || a.selector.is_some() {
                    return Err(usage(verb, "-f does not go with a kind, names or -l"));
                }
            } else {
                match a.positional.len() {
                    0 => return Err(usage(verb, "what to delete? KIND NAME, KIND -l SELECTOR or -f PATH")),
                    1 if a.selector.is_none() && !a.all => {
                        return Err(usage(verb, format!("which {}? give a name, -l SELECTOR or --all", a.positional[0])))
                    }
                    _ => {}
                }
                if a.selector.is_some() && a.positional.len() > 1 {
                    return Err(usage(verb, "give names or -l, not both"));
                }
            }
        }
    }
    Ok(())
}

/// `8080:80`, `:80` or `80` (the same port locally; `:80` picks a free one) as (local, remote);
/// local 0 means any free port.
pub fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| p.parse::<u16>().ok().filter(|n| *n > 0);
    let bad = || format!("'{text}' is not [LOCAL:]REMOTE, e.g. 8080:80");
    match text.split_once(':') {
        Some(("", remote)) => Ok((0, port(remote).ok_or_else(bad)?)),
        Some((local, remote)) => Ok((port(local).ok_or_else(bad)?, port(remote).ok_or_else(bad)?)),
        None => {
            let p = port(text).ok_or_else(bad)?;
            Ok((p, p))
        }
    }
}

/// `30s`, `5m`, `1h`, `1m30s` or plain seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    if let Ok(secs) = text.parse::<f64>() {
        return (secs >= 0.0 && secs.is_finite()).then(|| std::time::Duration::from_secs_f64(secs));
    }
    let mut total = 0f64;
    let mut number = String::new();
    for c in text.chars() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let n: f64 = number.parse().ok()?;
        number.clear();
        total += n * match c {
            's' => 1.0,
            'm' => 60.0,
            'h' => 3600.0,
            _ => return None,
        };
    }
    if !number.is_empty() {
        return None;
    }
    (total > 0.0 || text.starts_with('0')).then(|| std::time::Duration::from_secs_f64(total))
}

/// kubectl's short names and singulars of the built-in kinds, mapped to the plural resource name.
pub const SHORT_NAMES: &[(&str, &str)] = &[
    ("po", "pods"),
    ("pod", "pods"),
    ("deploy", "deployments"),
    ("deployment", "deployments"),
    ("svc", "services"),
    ("service", "services"),
    ("rs", "replicasets"),
    ("replicaset", "replicasets"),
    ("ns", "namespaces"),
    ("namespace", "namespaces"),
    ("no", "nodes"),
    ("node", "nodes"),
    ("cm", "configmaps"),
    ("configmap", "configmaps"),
    ("secret", "secrets"),
    ("sa", "serviceaccounts"),
    ("serviceaccount", "serviceaccounts"),
    ("ing", "ingresses"),
    ("ingress", "ingresses"),
    ("job", "jobs"),
    ("cj", "cronjobs"),
    ("cronjob", "cronjobs"),
    ("ds", "daemonsets"),
    ("daemonset", "daemonsets"),
    ("sts", "statefulsets"),
    ("statefulset", "statefulsets"),
    ("ep", "endpoints"),
    ("ev", "events"),
    ("event", "events"),
    ("pv", "persistentvolumes"),
    ("pvc", "persistentvolumeclaims"),
    ("hpa", "horizontalpodautoscalers"),
    ("crd", "customresourcedefinitions"),
    ("crds", "customresourcedefinitions"),
    ("netpol", "networkpolicies"),
    ("pdb", "poddisruptionbudgets"),
    ("sc", "storageclasses"),
    ("rc", "replicationcontrollers"),
    ("quota", "resourcequotas"),
    ("limits", "limitranges"),
];

/// The kinds offered first by completion.
pub const COMMON_KINDS: &[&str] = &[
    "pods",
    "deployments",
    "services",
    "replicasets",
    "namespaces",
    "nodes",
    "configmaps",
    "secrets",
    "serviceaccounts",
    "ingresses",
    "jobs",
    "cronjobs",
    "daemonsets",
    "statefulsets",
    "endpoints",
    "events",
    "persistentvolumes",
    "persistentvolumeclaims",
];

/// A kind as typed, lower-cased, with kubectl's short names expanded (`po` → `pods`); names it
/// does not know (custom resources) come back lower-cased for discovery to resolve.
pub fn canonical_kind(kind: &str) -> String {
    let lower = kind.to_ascii_lowercase();
    SHORT_NAMES.iter().find(|(short, _)| *short == lower).map(|(_, plural)| plural.to_string()).unwrap_or(lower)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(line: &str) -> Result<Args, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse(&args)
    }

    #[test]
    fn exec_and_port_forward_targets() {
        let a = p("exec web-123 -c nginx -i -- sh -c echo").unwrap();
        assert_eq!(a.positional, ["pods", "web-123"]);
        assert_eq!(a.command, ["sh", "-c", "echo"]);
        assert!(a.stdin);
        assert_eq!(a.container.as_deref(), Some("nginx"));
        let a = p("exec deploy/web -- ls -l /").unwrap();
        assert_eq!((a.positional.as_slice(), a.command.as_slice()), (&["deploy".to_string(), "web".into()][..], &["ls".to_string(), "-l".into(), "/".into()][..]));
        assert_eq!(p("exec deploy/web").unwrap_err().0, "%k8s exec: which command? write it after --, e.g. exec deploy/web -- ls /");
        let a = p("port-forward svc/web 8080:80").unwrap();
        assert_eq!(a.positional, ["svc", "web", "8080:80"]);
        assert_eq!(parse_ports(":80"), Ok((0, 80)));
        assert_eq!(parse_ports("8080"), Ok((8080, 8080)));
        assert!(p("port-forward svc/web 80:x").unwrap_err().0.contains("is not [LOCAL:]REMOTE"));
        assert!(p("port-forward --stop").unwrap().stop);
    }

    #[test]
    fn logs_follow_and_stats() {
        let a = p("logs deploy/web -f --timeout 5s").unwrap();
        assert!(a.follow && a.files.is_empty());
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(5)));
        assert!(p("logs deploy/web --stats").unwrap().stats);
        assert_eq!(p("logs deploy/web --timeout 5s").unwrap_err().0, "%k8s logs: --timeout goes with -f or --stats");
    }

    #[test]
    fn set_rollout_autoscale_top() {
        let a = p("set image deploy/web web=nginx:1.27 side=busybox").unwrap();
        assert_eq!(a.sub.as_deref(), Some("image"));
        assert_eq!(a.positional, ["deploy", "web", "web=nginx:1.27", "side=busybox"]);
        assert!(p("set image deploy/web nginx").unwrap_err().0.contains("'nginx' is not CONTAINER=IMAGE"));
        let a = p("rollout undo deploy/web --to-revision 2").unwrap();
        assert_eq!((a.sub.as_deref(), a.to_revision), (Some("undo"), Some(2)));
        assert_eq!(p("rollout stauts deploy/web").unwrap_err().0, "%k8s rollout: unknown rollout command 'stauts'; did you mean status? (status, history, undo, restart)");
        assert_eq!(p("rollout status deploy/web --to-revision 2").unwrap_err().0, "%k8s rollout: --to-revision goes with undo");
        let a = p("autoscale deploy/web --min 1 --max 4 --cpu-percent 50").unwrap();
        assert_eq!((a.min, a.max, a.cpu_percent), (Some(1), Some(4), Some(50)));
        assert_eq!(p("autoscale deploy/web --min 5 --max 4").unwrap_err().0, "%k8s autoscale: --min is more than --max");
        assert_eq!(p("autoscale deploy/web --max 0").unwrap_err().0, "%k8s autoscale: --max '0' is not a number of replicas (a whole number, 1 or more)");
        assert_eq!(p("top po").unwrap().positional, ["pods"]);
        assert_eq!(p("top nodes -n x").unwrap_err().0, "%k8s top: nodes have no namespace");
        assert!(p("run web --image nginx --no-wait").unwrap().no_wait);
    }

    #[test]
    fn get_with_flags() {
        let a = p("get po -n kube-system -l app=web -o wide").unwrap();
        assert_eq!(a.verb, Verb::Get);
        assert_eq!(a.positional, vec!["po"]);
        assert_eq!(a.namespace.as_deref(), Some("kube-system"));
        assert_eq!(a.selector.as_deref(), Some("app=web"));
        assert_eq!(a.output, Output::Wide);
    }

    #[test]
    fn flag_spellings() {
        let a = p("get pods --namespace=demo --output=yaml").unwrap();
        assert_eq!(a.namespace.as_deref(), Some("demo"));
        assert_eq!(a.output, Output::Yaml);
        let a = p("get pods -ndemo -ojson").unwrap();
        assert_eq!(a.namespace.as_deref(), Some("demo"));
        assert_eq!(a.output, Output::Json);
        let a = p("get pods -A").unwrap();
        assert!(a.all_namespaces);
        let a = p("get pods --all-namespaces --selector app=x").unwrap();
        assert!(a.all_namespaces);
        assert_eq!(a.selector.as_deref(), Some("app=x"));
    }

    #[test]
    fn kind_slash_name() {
        let a = p("describe deploy/web").unwrap();
        assert_eq!(a.positional, vec!["deploy", "web"]);
        let a = p("delete pod/a pod/b").unwrap();
        assert_eq!(a.positional, vec!["pod", "a", "b"]);
        assert!(p("delete pod/a svc/b").is_err());
    }

    #[test]
    fn missing_flag_values() {
        assert_eq!(p("get pods -n").unwrap_err().0, "%k8s get: -n needs a namespace");
        assert_eq!(p("get pods --namespace").unwrap_err().0, "%k8s get: --namespace needs a namespace");
        assert_eq!(p("get pods -n -A").unwrap_err().0, "%k8s get: -n needs a namespace");
        assert_eq!(p("get pods -l").unwrap_err().0, "%k8s get: -l needs a label selector");
        assert_eq!(p("apply -f").unwrap_err().0, "%k8s apply: -f needs a file name");
        assert_eq!(
            p("get pods -o").unwrap_err().0,
            "%k8s get: -o needs a format (wide, yaml, json or name)"
        );
        assert_eq!(p("connect --context").unwrap_err().0, "%k8s connect: --context needs a context name");
    }

    #[test]
    fn bad_flags_and_verbs() {
        assert_eq!(p("get pods --frobnicate").unwrap_err().0, "%k8s get: unknown flag --frobnicate");
        assert_eq!(p("get pods -o table").unwrap_err().0, "%k8s get: unknown output format 'table'; use wide, yaml, json or name");
        assert_eq!(p("describe pods -o yaml").unwrap_err().0, "%k8s describe: -o is not a flag of describe");
        assert_eq!(p("gte pods").unwrap_err().0, "%k8s: unknown verb 'gte'; did you mean get?");
        assert!(p("").unwrap_err().0.contains("a verb is needed"));
        assert!(p("get").unwrap_err().0.contains("which kind?"));
        assert_eq!(p("get pods -n a -A").unwrap_err().0, "%k8s get: -n and -A do not go together");
        assert!(p("get pods --all-namespaces=yes").is_err());
    }

    #[test]
    fn use_and_config() {
        let a = p("use namespace demo").unwrap();
        assert_eq!((a.verb, a.positional), (Verb::Use, vec!["namespace".to_string(), "demo".to_string()]));
        let a = p("use ns demo").unwrap();
        assert_eq!(a.positional, vec!["namespace", "demo"]);
        let a = p("config use-context kind").unwrap();
        assert_eq!(a.positional, vec!["context", "kind"]);
        let a = p("config set-context --current --namespace=demo").unwrap();
        assert_eq!(a.positional, vec!["namespace", "demo"]);
        assert_eq!(p("use namespace").unwrap_err().0, "%k8s use: use namespace needs a name");
    }

    #[test]
    fn apply_and_delete() {
        let a = p("apply -n demo").unwrap();
        assert_eq!(a.namespace.as_deref(), Some("demo"));
        let a = p("apply -f a.yaml -f b.yaml").unwrap();
        assert_eq!(a.files, vec!["a.yaml", "b.yaml"]);
        assert!(p("apply pods").is_err());
        let a = p("delete cm web -n demo").unwrap();
        assert_eq!(a.positional, vec!["cm", "web"]);
        let a = p("delete deploy -l app=web").unwrap();
        assert_eq!(a.selector.as_deref(), Some("app=web"));
        let a = p("delete -f x.yaml").unwrap();
        assert_eq!(a.files, vec!["x.yaml"]);
        assert_eq!(p("delete pods").unwrap_err().0, "%k8s delete: which pods? give a name, -l SELECTOR or --all");
        assert!(p("delete pods x -l a=b").is_err());
        assert!(p("delete -f x.yaml pods").is_err());
    }

    #[test]
    fn logs_and_scale() {
        let a = p("logs deploy/web -c nginx --tail 20 --since 5m --prefix").unwrap();
        assert_eq!(a.positional, vec!["deploy", "web"]);
        assert_eq!(a.container.as_deref(), Some("nginx"));
        assert_eq!(a.tail, Some(20));
        assert_eq!(a.since, Some(std::time::Duration::from_secs(300)));
        assert!(a.prefix);
        assert_eq!(p("logs web-1").unwrap().positional, vec!["web-1"]);
        assert!(p("logs -l app=web").is_ok());
        assert!(p("logs").unwrap_err().0.contains("whose logs?"));
        assert_eq!(p("logs web --tail x").unwrap_err().0, "%k8s logs: --tail 'x' is not a number of lines");
        assert_eq!(p("logs web -c").unwrap_err().0, "%k8s logs: -c needs a container name");
        let a = p("scale deploy/web --replicas 3").unwrap();
        assert_eq!((a.positional.clone(), a.replicas), (vec!["deploy".to_string(), "web".to_string()], Some(3)));
        assert_eq!(p("scale deploy/web").unwrap_err().0, "%k8s scale: --replicas N is needed");
        assert!(p("scale deploy/web --replicas -1").is_err());
        assert!(p("scale web --replicas 2").is_err());
    }

    #[test]
    fn run_expose_endpoints_http() {
        let a = p("run web --image nginx --port 80 --replicas 2 --env A=1 --env B=x=y --cpu 100m/200m --memory 64Mi -- nginx -g daemon").unwrap();
        assert_eq!(a.positional, vec!["web"]);
        assert_eq!((a.image.as_deref(), a.port, a.replicas), (Some("nginx"), Some(80), Some(2)));
        assert_eq!(a.env, vec![("A".to_string(), "1".to_string()), ("B".to_string(), "x=y".to_string())]);
        assert_eq!((a.cpu.as_deref(), a.memory.as_deref()), (Some("100m/200m"), Some("64Mi")));
        assert_eq!(a.command, vec!["nginx", "-g", "daemon"]);
        assert_eq!(p("run web").unwrap_err().0, "%k8s run: --image IMAGE is needed");
        assert_eq!(p("run web --image x --port 0").unwrap_err().0, "%k8s run: --port '0' is not a port number");
        assert!(p("run web --image x --env novalue").unwrap_err().0.contains("KEY=VALUE"));
        let a = p("expose deploy/web --port 80 --target-port 8080 --type nodeport").unwrap();
        assert_eq!(a.positional, vec!["deploy", "web"]);
        assert_eq!(a.service_type.as_deref(), Some("NodePort"));
        assert!(p("expose deploy/web").unwrap_err().0.contains("--port P is needed"));
        assert!(p("expose deploy/web --port 80 --type weird").is_err());
        assert_eq!(p("endpoints svc/web").unwrap().positional, vec!["svc", "web"]);
        assert_eq!(p("endpoints web").unwrap().positional, vec!["services", "web"]);
        assert_eq!(p("http svc/web:80/index.html").unwrap().positional, vec!["svc/web:80/index.html"]);
        assert!(p("http web").is_err());
    }

    #[test]
    fn owned_and_cleanup() {
        assert!(!p("owned").unwrap().all);
        assert!(p("cleanup --all").unwrap().all);
        assert!(p("cleanup pods").is_err());
        assert!(p("owned -n x").is_err());
    }

    #[test]
    fn watch_flags() {
        let a = p("get pods -w --timeout 30s").unwrap();
        assert!(a.watch);
        assert_eq!(a.timeout, Some(std::time::Duration::from_secs(30)));
        assert_eq!(p("get pods -w --timeout=1m30s").unwrap().timeout, Some(std::time::Duration::from_secs(90)));
        assert_eq!(p("get pods -w --timeout 5").unwrap().timeout, Some(std::time::Duration::from_secs(5)));
        assert!(p("get pods -w --timeout soon").unwrap_err().0.contains("not a duration"));
        assert!(p("get pods -w -o yaml").unwrap_err().0.contains("live table"));
        assert!(p("get pods --timeout 5s").unwrap_err().0.contains("goes with -w"));
        assert!(p("get pods,svc -w").is_err());
    }

    #[test]
    fn short_kind_names() {
        for (short, plural) in [
            ("po", "pods"),
            ("deploy", "deployments"),
            ("svc", "services"),
            ("rs", "replicasets"),
            ("ns", "namespaces"),
            ("no", "nodes"),
            ("cm", "configmaps"),
            ("sa", "serviceaccounts"),
            ("ing", "ingresses"),
            ("job", "jobs"),
            ("ds", "daemonsets"),
            ("sts", "statefulsets"),
            ("Pod", "pods"),
            ("widgets", "widgets"),
        ] {
            assert_eq!(canonical_kind(short), plural, "{short}");
        }
    }

    #[test]
    fn closest_names() {
        assert_eq!(closest("podz", ["pods", "nodes", "services"].into_iter()), Some("pods"));
        assert_eq!(closest("zzzzzzzz", ["pods"].into_iter()), None);
    }
}
