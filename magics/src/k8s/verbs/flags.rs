//! One flag table for every verb, and the parser that reads a verb's arguments with it, as
//! kubectl spells them: `--flag value`, `--flag=value`, `-n value`, `-nvalue`, `-n=value`.
//! A value is checked here for its kind (a port, a duration, a whole number ...), so every verb
//! says the same thing about the same mistake. Pure: no cluster.

use std::fmt;
use std::time::Duration;

/// What a flag's value must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueKind {
    /// A switch: no value.
    Switch,
    Text,
    /// 1 to 65535.
    Port,
    /// A whole number of at least `min`; `bad` ends the message when it is not.
    Whole { min: i64, bad: &'static str },
    /// 30s, 5m, 1h, 1m30s or seconds.
    Time,
    /// KEY=VALUE
    KeyValue,
    /// One of these, in any case; the table's spelling is kept.
    Choice(&'static [&'static str]),
}

pub struct Flag {
    pub long: &'static str,
    pub short: Option<&'static str>,
    pub value: ValueKind,
    /// What the value is called in "needs ..." messages.
    pub what: &'static str,
}

const fn flag(long: &'static str, short: Option<&'static str>, value: ValueKind, what: &'static str) -> Flag {
    Flag { long, short, value, what }
}

use ValueKind::*;

/// Every flag of every verb. A verb lists the long names it takes; a short spelling means the
/// flag of that verb that has it (-f is --filename in apply and delete, --follow in logs).
pub const FLAGS: &[Flag] = &[
    flag("--namespace", Some("-n"), Text, "a namespace"),
    flag("--all-namespaces", Some("-A"), Switch, ""),
    flag("--selector", Some("-l"), Text, "a label selector"),
    flag("--output", Some("-o"), Choice(OUTPUTS), "a format (wide, yaml, json or name)"),
    flag("--filename", Some("-f"), Text, "a file name"),
    flag("--context", None, Text, "a context name"),
    flag("--kubeconfig", None, Text, "a kubeconfig path"),
    flag("--all", None, Switch, ""),
    flag("--ignore-not-found", None, Switch, ""),
    flag("--watch", Some("-w"), Switch, ""),
    flag("--timeout", None, Time, "a duration (e.g. 30s, 5m)"),
    flag("--container", Some("-c"), Text, "a container name"),
    flag("--tail", None, Whole { min: 0, bad: "a number of lines" }, "a number of lines"),
    flag("--since", None, Time, "a duration (e.g. 30s, 5m)"),
    flag("--prefix", None, Switch, ""),
    flag("--replicas", None, Whole { min: 0, bad: "a number of replicas" }, "a number of replicas"),
    flag("--image", None, Text, "an image"),
    flag("--registry", None, Text, "a registry (HOST[:PORT][/PATH])"),
    flag("--completions", None, Whole { min: 1, bad: "a number of pods (a whole number, 1 or more)" }, "a number of pods"),
    flag("--parallelism", None, Whole { min: 1, bad: "a number of pods at once (a whole number, 1 or more)" }, "a number of pods"),
    flag("--procs", None, Whole { min: 1, bad: "a number of processes per pod (a whole number, 1 or more)" }, "a number of processes"),
    flag("--connected", None, Switch, ""),
    flag("--master", None, Text, "a connected job's name"),
    flag("--port", None, Port, "a port number"),
    flag("--target-port", None, Text, "a port number or name"),
    flag("--env", None, KeyValue, "KEY=VALUE"),
    flag("--cpu", None, Text, "a CPU request, or REQUEST/LIMIT (e.g. 100m/500m)"),
    flag("--memory", None, Text, "a memory request, or REQUEST/LIMIT (e.g. 64Mi/128Mi)"),
    flag("--type", None, Choice(SERVICE_TYPES), "a service type (ClusterIP, NodePort or LoadBalancer)"),
    flag("--name", None, Text, "a name"),
    flag("--follow", Some("-f"), Switch, ""),
    flag("--stats", None, Switch, ""),
    flag("--stdin", Some("-i"), Switch, ""),
    flag("--tty", Some("-t"), Switch, ""),
    flag("--restart", None, Choice(&["Always", "OnFailure", "Never"]), "a restart policy (Always, OnFailure or Never)"),
    flag("--rm", None, Switch, ""),
    flag("--into", None, Text, "a variable name"),
    flag("--stop", None, Switch, ""),
    flag("--no-wait", None, Switch, ""),
    flag("--overwrite", None, Switch, ""),
    flag("--previous", Some("-p"), Switch, ""),
    flag("--from-literal", None, KeyValue, "KEY=VALUE"),
    flag("--from-file", None, Text, "a file (or KEY=FILE)"),
    flag("--show-labels", None, Switch, ""),
    flag("--label-columns", Some("-L"), Text, "a label key"),
    flag("--no-headers", None, Switch, ""),
    flag("--field-selector", None, Text, "a field selector (e.g. status.phase=Running)"),
    flag("--sort-by", None, Text, "a JSONPath (e.g. .metadata.creationTimestamp)"),
    flag("--to-revision", None, Whole { min: 1, bad: "a revision number" }, "a revision number"),
    flag("--min", None, Whole { min: 1, bad: "a number of replicas (a whole number, 1 or more)" }, "a number of replicas"),
    flag("--max", None, Whole { min: 1, bad: "a number of replicas (a whole number, 1 or more)" }, "a number of replicas"),
    flag(
        "--cpu-percent",
        None,
        Whole { min: 1, bad: "a CPU utilisation percentage (a whole number, 1 or more)" },
        "a CPU utilisation percentage",
    ),
    flag("--scale-down-window", None, Time, "a duration (e.g. 10s, 1m)"),
    flag("--metric", None, Text, "a metric's name"),
    flag("--target", None, Text, "a metric's target value per pod (e.g. 2, 500m)"),
    flag("--range", None, Time, "a duration (e.g. 5m, 1h)"),
    flag("--step", None, Time, "a duration (e.g. 5s, 1m)"),
    flag("--plot", None, Switch, ""),
    flag("--prometheus", None, Text, "a Prometheus service, NAMESPACE/NAME[:PORT]"),
    flag("--dry-run", None, Choice(&["none", "server", "client"]), "none, server or client"),
    flag("--containers", None, Switch, ""),
    flag("--recursive", Some("-R"), Switch, ""),
    flag("--api-version", None, Text, "a group/version (e.g. apps/v1)"),
    flag("--patch", Some("-p"), Text, "a patch (JSON or YAML)"),
    flag("--for", None, Text, "a condition: condition=NAME[=VALUE], delete, create or jsonpath='{PATH}'[=VALUE]"),
    flag("--list", None, Switch, ""),
    flag("--readiness", None, Text, "an HTTP path (e.g. /ready)"),
    flag("--max-surge", None, Text, "a number of pods or a percentage (e.g. 1, 25%)"),
    flag("--max-unavailable", None, Text, "a number of pods or a percentage (e.g. 0, 25%)"),
    flag("--grace-period", None, Whole { min: 0, bad: "a number of seconds" }, "a number of seconds"),
];

/// Flags whose value means something else in one verb (`patch --type` is a patch type, not a
/// service type): the verb's own reading of that long name.
const OWN_FLAGS: &[(&str, Flag)] = &[("patch", flag("--type", None, Choice(&["strategic", "merge", "json"]), "a patch type (strategic, merge or json)"))];

fn own_flag(verb: &str, flag: &'static Flag) -> &'static Flag {
    OWN_FLAGS.iter().find(|(v, f)| *v == verb && f.long == flag.long).map(|(_, f)| f).unwrap_or(flag)
}

pub const OUTPUTS: &[&str] = &["wide", "yaml", "json", "name"];
const SERVICE_TYPES: &[&str] = &["ClusterIP", "NodePort", "LoadBalancer"];

/// The flag a spelling means among a verb's flags.
pub fn resolve(verb_flags: &[&str], spelling: &str) -> Option<&'static Flag> {
    FLAGS
        .iter()
        .filter(|f| verb_flags.contains(&f.long))
        .find(|f| f.long == spelling || f.short == Some(spelling))
}

#[derive(Debug, Clone, PartialEq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A verb's usage error: `%k8s VERB: message`.
pub fn usage(verb: &str, message: impl fmt::Display) -> UsageError {
    UsageError(format!("%k8s {verb}: {message}"))
}

/// A checked flag value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Switch,
    Text(String),
    Number(i64),
    Duration(Duration),
    Pair(String, String),
}

/// A verb's arguments after the flag table has read them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Parsed {
    pub verb: &'static str,
    pub positional: Vec<String>,
    /// What follows `--` for verbs that run a command (run, exec).
    pub command: Vec<String>,
    values: Vec<(&'static str, Value)>,
}

impl Parsed {
    pub fn has(&self, long: &str) -> bool {
        self.values.iter().any(|(l, _)| *l == long)
    }

    fn last(&self, long: &str) -> Option<&Value> {
        self.values.iter().rev().find(|(l, _)| *l == long).map(|(_, v)| v)
    }

    pub fn text(&self, long: &str) -> Option<String> {
        match self.last(long) {
            Some(Value::Text(t)) => Some(t.clone()),
            _ => None,
        }
    }

    /// Every value of a flag given more than once (-f a -f b).
    pub fn texts(&self, long: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(l, _)| *l == long)
            .filter_map(|(_, v)| if let Value::Text(t) = v { Some(t.clone()) } else { None })
            .collect()
    }

    pub fn pairs(&self, long: &str) -> Vec<(String, String)> {
        self.values
            .iter()
            .filter(|(l, _)| *l == long)
            .filter_map(|(_, v)| if let Value::Pair(k, v) = v { Some((k.clone(), v.clone())) } else { None })
            .collect()
    }

    pub fn number(&self, long: &str) -> Option<i64> {
        match self.last(long) {
            Some(Value::Number(n)) => Some(*n),
            _ => None,
        }
    }

    pub fn duration(&self, long: &str) -> Option<Duration> {
        match self.last(long) {
            Some(Value::Duration(d)) => Some(*d),
            _ => None,
        }
    }

    /// How long to wait for what the verb started: `--timeout`, or `default`; None with
    /// `--no-wait` (the two together are refused).
    pub fn wait(&self, default: Duration) -> Result<Option<Duration>, UsageError> {
        match (self.has("--no-wait"), self.duration("--timeout")) {
            (true, Some(_)) => Err(self.usage("--timeout is how long to wait; it does not go with --no-wait")),
            (true, None) => Ok(None),
            (false, timeout) => Ok(Some(timeout.unwrap_or(default))),
        }
    }

    /// Where the command goes: -n, --context and --kubeconfig.
    pub fn scope(&self) -> crate::k8s::cluster::Scope {
        crate::k8s::cluster::Scope {
            namespace: self.text("--namespace"),
            context: self.text("--context"),
            kubeconfig: self.text("--kubeconfig"),
        }
    }

    pub fn usage(&self, message: impl fmt::Display) -> UsageError {
        usage(self.verb, message)
    }
}

/// Reads `args` (what follows the verb) with the flags `verb_flags` of `verb`. With
/// `takes_command`, what follows `--` is a command to run; otherwise more positionals.
pub fn parse(verb: &'static str, verb_flags: &[&str], takes_command: bool, args: &[String]) -> Result<Parsed, UsageError> {
    let mut out = Parsed { verb, ..Parsed::default() };
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        if arg == "--" {
            if takes_command {
                out.command.extend(args[i..].iter().cloned());
            } else {
                out.positional.extend(args[i..].iter().cloned());
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
        let Some(flag) = resolve(verb_flags, &spelling) else {
            let known = FLAGS.iter().any(|f| f.long == spelling || f.short == Some(spelling.as_str()));
            return Err(if known {
                usage(verb, format!("{spelling} is not a flag of {verb}"))
            } else {
                usage(verb, format!("unknown flag {spelling}"))
            });
        };
        let flag = own_flag(verb, flag);
        let shown = if spelling.starts_with("--") { flag.long } else { flag.short.unwrap_or(flag.long) };
        if flag.value == ValueKind::Switch {
            if inline.is_some() && spelling.starts_with("--") {
                return Err(usage(verb, format!("{shown} takes no value")));
            }
            if let Some(tail) = &inline {
                // Combined short switches, as in `run -it`: each letter must be a switch here.
                let rest: Option<Vec<&'static str>> = tail
                    .chars()
                    .map(|c| resolve(verb_flags, &format!("-{c}")).filter(|f| f.value == ValueKind::Switch).map(|f| f.long))
                    .collect();
                let Some(rest) = rest.filter(|_| !arg.contains('=')) else {
                    return Err(usage(verb, format!("unknown flag {shown}{tail}")));
                };
                out.values.push((flag.long, Value::Switch));
                out.values.extend(rest.into_iter().map(|long| (long, Value::Switch)));
                continue;
            }
            out.values.push((flag.long, Value::Switch));
            continue;
        }
        let text = match inline {
            Some(v) if !v.is_empty() => v,
            Some(_) => return Err(usage(verb, format!("{shown} needs {}", flag.what))),
            None => match args.get(i) {
                // A negative number is a (wrong) value, not a flag: say what is wrong with it.
                Some(v) if !(v.starts_with('-') && v.len() > 1) || (matches!(flag.value, Whole { .. }) && v[1..].parse::<i64>().is_ok()) => {
                    i += 1;
                    v.clone()
                }
                _ => return Err(usage(verb, format!("{shown} needs {}", flag.what))),
            },
        };
        let value = check(flag, &text).map_err(|m| usage(verb, m))?;
        out.values.push((flag.long, value));
    }
    if out.has("--all-namespaces") && out.has("--namespace") {
        return Err(usage(verb, "-n and -A do not go together"));
    }
    Ok(out)
}

fn check(flag: &Flag, v: &str) -> Result<Value, String> {
    let long = flag.long;
    match flag.value {
        Switch | Text => Ok(Value::Text(v.to_string())),
        Port => v
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=65535).contains(n))
            .map(Value::Number)
            .ok_or_else(|| format!("{long} '{v}' is not a port number")),
        Whole { min, bad } => {
            v.parse::<i64>().ok().filter(|n| *n >= min).map(Value::Number).ok_or_else(|| format!("{long} '{v}' is not {bad}"))
        }
        Time => parse_duration(v)
            .map(Value::Duration)
            .ok_or_else(|| format!("{long} '{v}' is not a duration like 30s, 5m or 1h")),
        KeyValue => match v.split_once('=') {
            Some((k, val)) => Ok(Value::Pair(k.to_string(), val.to_string())),
            None => Err(format!("{long} '{v}' is not KEY=VALUE")),
        },
        // -o also takes a template: jsonpath=... and custom-columns=..., read by get.
        Choice(_) if long == "--output" && (v.starts_with("jsonpath=") || v.starts_with("custom-columns=")) => Ok(Value::Text(v.to_string())),
        Choice(choices) => choices.iter().find(|c| c.eq_ignore_ascii_case(v)).map(|c| Value::Text(c.to_string())).ok_or_else(|| {
            if long == "--output" {
                format!("unknown output format '{v}'; use wide, yaml, json, name, jsonpath=TEMPLATE or custom-columns=SPEC")
            } else {
                format!("{long} '{v}': use {}", or_list(choices))
            }
        }),
    }
}

fn or_list(words: &[&str]) -> String {
    match words {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// `30s`, `5m`, `1h`, `1m30s` or plain seconds.
pub fn parse_duration(text: &str) -> Option<std::time::Duration> {
    if let Ok(secs) = text.parse::<f64>() {
        return std::time::Duration::try_from_secs_f64(secs).ok();
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
    (total > 0.0 || text.starts_with('0')).then(|| std::time::Duration::try_from_secs_f64(total).ok()).flatten()
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

/// `KIND/NAME` as the first positional becomes `KIND NAME` (what follows it is left as it is:
/// C=IMAGE, LOCAL:REMOTE ...).
pub fn split_first_kind_name(p: &mut Parsed) -> Result<(), UsageError> {
    if let Some(first) = p.positional.first().cloned() {
        let Some((kind, name)) = first.split_once('/').filter(|(k, n)| !k.is_empty() && !n.is_empty()) else {
            return Err(p.usage(format!("'{first}' is not KIND/NAME (e.g. deploy/web)")));
        };
        p.positional.splice(0..1, [kind.to_string(), name.to_string()]);
    }
    Ok(())
}

/// `kind/a kind/b` becomes `kind a b`; mixing kinds is refused.
pub fn split_kind_names(p: &mut Parsed) -> Result<(), UsageError> {
    let mut split: Vec<String> = Vec::new();
    for (idx, arg) in p.positional.iter().enumerate() {
        match arg.split_once('/') {
            Some((kind, name)) if idx == 0 || split.len() >= 2 => {
                if kind.is_empty() || name.is_empty() {
                    return Err(p.usage(format!("'{arg}' is not KIND/NAME")));
                }
                if split.is_empty() {
                    split.push(kind.to_string());
                } else if split[0] != kind {
                    return Err(p.usage(format!("'{arg}': one kind at a time, please")));
                }
                split.push(name.to_string());
            }
            _ => split.push(arg.clone()),
        }
    }
    p.positional = split;
    Ok(())
}

/// A bare pod name (`exec web-123 -- ls`) means `pods/web-123`.
pub fn bare_name_is_a_pod(p: &mut Parsed) {
    if let Some(first) = p.positional.first_mut() {
        if !first.contains('/') {
            *first = format!("pods/{first}");
        }
    }
}

/// For verbs that take no arguments, only where to go: their scope.
pub fn scope_only(p: &Parsed) -> Result<crate::k8s::cluster::Scope, UsageError> {
    no_positionals(p)?;
    Ok(p.scope())
}

/// The arguments a verb that takes none was given.
pub fn no_positionals(p: &Parsed) -> Result<(), UsageError> {
    match p.positional.first() {
        Some(extra) => Err(p.usage(format!("unexpected argument '{extra}'"))),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(flags: &[&str], line: &str) -> Result<Parsed, UsageError> {
        let args: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        parse("get", flags, false, &args)
    }

    const GET: &[&str] = &["--namespace", "--all-namespaces", "--selector", "--output", "--watch", "--timeout"];

    #[test]
    fn spellings() {
        let a = p(GET, "pods --namespace=demo --output=yaml").unwrap();
        assert_eq!((a.text("--namespace").as_deref(), a.text("--output").as_deref()), (Some("demo"), Some("yaml")));
        let a = p(GET, "pods -ndemo -ojson").unwrap();
        assert_eq!((a.text("--namespace").as_deref(), a.text("--output").as_deref()), (Some("demo"), Some("json")));
        assert!(p(GET, "pods -A").unwrap().has("--all-namespaces"));
        assert!(p(GET, "pods --all-namespaces=yes").is_err());
    }

    #[test]
    fn missing_and_bad_values() {
        assert_eq!(p(GET, "pods -n").unwrap_err().0, "%k8s get: -n needs a namespace");
        assert_eq!(p(GET, "pods -n -A").unwrap_err().0, "%k8s get: -n needs a namespace");
        assert_eq!(p(GET, "pods -o").unwrap_err().0, "%k8s get: -o needs a format (wide, yaml, json or name)");
        assert_eq!(
            p(GET, "pods -o table").unwrap_err().0,
            "%k8s get: unknown output format 'table'; use wide, yaml, json, name, jsonpath=TEMPLATE or custom-columns=SPEC"
        );
        assert_eq!(p(GET, "pods -o jsonpath={.items[*].metadata.name}").unwrap().text("--output").as_deref(), Some("jsonpath={.items[*].metadata.name}"));
        assert_eq!(p(GET, "pods --frobnicate").unwrap_err().0, "%k8s get: unknown flag --frobnicate");
        assert_eq!(p(GET, "pods --image x").unwrap_err().0, "%k8s get: --image is not a flag of get");
        assert_eq!(p(GET, "pods -n a -A").unwrap_err().0, "%k8s get: -n and -A do not go together");
        assert!(p(GET, "pods --timeout soon").unwrap_err().0.contains("not a duration"));
        let scale = parse("scale", &["--replicas"], false, &["deploy/web".into(), "--replicas".into(), "-1".into()]);
        assert_eq!(scale.unwrap_err().0, "%k8s scale: --replicas '-1' is not a number of replicas");
    }

    #[test]
    fn short_flags_belong_to_the_verb() {
        let logs = ["--follow", "--timeout"];
        assert!(parse("logs", &logs, false, &["web".into(), "-f".into()]).unwrap().has("--follow"));
        let apply = ["--filename"];
        let a = parse("apply", &apply, false, &["-f".into(), "a.yaml".into(), "-f".into(), "b.yaml".into()]).unwrap();
        assert_eq!(a.texts("--filename"), ["a.yaml", "b.yaml"]);
    }

    #[test]
    fn combined_short_switches() {
        let run = ["--stdin", "--tty", "--image"];
        let a = parse("run", &run, true, &["-it".into(), "sh".into()]).unwrap();
        assert!(a.has("--stdin") && a.has("--tty"));
        // A letter that is not a switch of the verb makes the whole word unknown.
        assert_eq!(parse("run", &run, true, &["-ix".into()]).unwrap_err().0, "%k8s run: unknown flag -ix");
        assert_eq!(parse("run", &run, true, &["-i=t".into()]).unwrap_err().0, "%k8s run: unknown flag -it");
    }

    #[test]
    fn durations_and_ports() {
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("1e20"), None, "too long is refused, not a panic");
        assert_eq!(parse_ports(":80"), Ok((0, 80)));
        assert_eq!(parse_ports("8080"), Ok((8080, 8080)));
        assert!(parse_ports("80:x").unwrap_err().contains("is not [LOCAL:]REMOTE"));
    }
}
