//! kubectl's JSONPath, the part people type: `{.metadata.name}`, `{.items[*].metadata.name}`,
//! `{.spec.containers[0].image}`, `{range .items[*]}{.metadata.name}{"\n"}{end}`, and literal
//! text between. Used by `-o jsonpath=`, `-o custom-columns=` and `--sort-by`. Pure.

use serde_json::Value;

/// The values a path selects from `root` (`[*]` fans out; a missing field selects nothing).
pub fn select<'a>(root: &'a Value, path: &str) -> Result<Vec<&'a Value>, String> {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim();
    let path = path.strip_prefix('$').unwrap_or(path);
    let mut current: Vec<&Value> = vec![root];
    for step in steps(path)? {
        let mut next = Vec::new();
        for v in current {
            match &step {
                Step::Field(name) => next.extend(v.get(name.as_str())),
                Step::Index(i) => {
                    let items = v.as_array().map(Vec::as_slice).unwrap_or(&[]);
                    let at = if *i < 0 { items.len() as i64 + i } else { *i };
                    next.extend(usize::try_from(at).ok().and_then(|at| items.get(at)));
                }
                Step::All => match v {
                    Value::Array(items) => next.extend(items.iter()),
                    Value::Object(map) => next.extend(map.values()),
                    _ => {}
                },
            }
        }
        current = next;
    }
    Ok(current)
}

enum Step {
    Field(String),
    Index(i64),
    All,
}

/// Where a field name ends: at an unescaped `.` or `[`.
fn field_end(r: &str) -> usize {
    let mut escaped = false;
    for (i, c) in r.char_indices() {
        match c {
            '\\' if !escaped => escaped = true,
            '.' | '[' if !escaped => return i,
            _ => escaped = false,
        }
    }
    r.len()
}

fn steps(path: &str) -> Result<Vec<Step>, String> {
    if path.contains("..") || path.contains("?(") || path.contains("[:") || path.contains(":]") || path.contains(":]") {
        return Err(format!("{path}: filters, slices and `..` are not supported; use .field, [n] and [*]"));
    }
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix('.') {
            let end = field_end(r);
            if end > 0 {
                out.push(Step::Field(r[..end].replace("\\.", ".")));
            }
            rest = &r[end..];
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or_else(|| format!("unclosed [ in {path}"))?;
            let inner = r[..end].trim();
            if inner.contains(':') && inner.parse::<i64>().is_err() && !inner.starts_with('\'') && !inner.starts_with('"') {
                return Err(format!("{path}: slices are not supported; use [n] or [*]"));
            }
            if inner == "*" {
                out.push(Step::All);
            } else if let Ok(i) = inner.parse::<i64>() {
                out.push(Step::Index(i));
            } else {
                let name = inner.trim_matches(|c| c == '\'' || c == '"');
                out.push(Step::Field(name.to_string()));
            }
            rest = &r[end + 1..];
        } else {
            // A path may start with a field name without its dot.
            let end = field_end(rest);
            out.push(Step::Field(rest[..end].replace("\\.", ".")));
            rest = &rest[end..];
        }
    }
    Ok(out)
}

/// A value as kubectl prints it: strings as themselves, anything else as JSON.
pub fn text_of(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

enum Part {
    Text(String),
    Path(String),
    Range(String, Vec<Part>),
}

/// Fills a template like `{.metadata.name}{"\t"}{.status.phase}{"\n"}` from `root`.
pub fn render(template: &str, root: &Value) -> Result<String, String> {
    let (parts, rest) = parse(template, false)?;
    if !rest.is_empty() {
        return Err("{end} without {range}".into());
    }
    let mut out = String::new();
    fill(&parts, root, &mut out)?;
    Ok(out)
}

fn parse(mut text: &str, in_range: bool) -> Result<(Vec<Part>, &str), String> {
    let mut parts = Vec::new();
    while !text.is_empty() {
        let Some(open) = text.find('{') else {
            parts.push(Part::Text(text.to_string()));
            text = "";
            break;
        };
        if open > 0 {
            parts.push(Part::Text(text[..open].to_string()));
        }
        let close = text[open..].find('}').map(|c| open + c).ok_or_else(|| format!("unclosed {{ in {text}"))?;
        let inner = text[open + 1..close].trim();
        text = &text[close + 1..];
        if inner == "end" {
            if !in_range {
                return Err("{end} without {range}".into());
            }
            return Ok((parts, text));
        }
        if let Some(path) = inner.strip_prefix("range ") {
            let (body, after) = parse(text, true)?;
            parts.push(Part::Range(path.trim().to_string(), body));
            text = after;
        } else if inner.starts_with('"') || inner.starts_with('\'') {
            let literal = inner.trim_matches(|c| c == '"' || c == '\'');
            parts.push(Part::Text(literal.replace("\\n", "\n").replace("\\t", "\t")));
        } else {
            parts.push(Part::Path(inner.to_string()));
        }
    }
    if in_range {
        return Err("{range} without {end}".into());
    }
    Ok((parts, text))
}

fn fill(parts: &[Part], root: &Value, out: &mut String) -> Result<(), String> {
    for part in parts {
        match part {
            Part::Text(t) => out.push_str(t),
            Part::Path(p) => out.push_str(&select(root, p)?.into_iter().map(text_of).collect::<Vec<_>>().join(" ")),
            Part::Range(p, body) => {
                for item in select(root, p)? {
                    fill(body, item, out)?;
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn list() -> Value {
        json!({"kind": "List", "items": [
            {"metadata": {"name": "a", "labels": {"app": "web"}}, "spec": {"containers": [{"image": "nginx"}, {"image": "busybox"}]}},
            {"metadata": {"name": "b"}, "spec": {"containers": [{"image": "redis"}]}}]})
    }

    #[test]
    fn paths_select_what_kubectl_selects() {
        let l = list();
        let names: Vec<String> = select(&l, "{.items[*].metadata.name}").unwrap().into_iter().map(text_of).collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(text_of(select(&l, ".items[0].spec.containers[1].image").unwrap()[0]), "busybox");
        assert_eq!(text_of(select(&l, ".items[-1].metadata.name").unwrap()[0]), "b");
        assert_eq!(text_of(select(&l, ".items[0].metadata.labels['app']").unwrap()[0]), "web");
        assert!(select(&l, ".items[5].metadata").unwrap().is_empty());
        let labelled = json!({"metadata": {"labels": {"app.kubernetes.io/name": "web"}}});
        assert_eq!(text_of(select(&labelled, "{.metadata.labels.app\\.kubernetes\\.io/name}").unwrap()[0]), "web");
        assert!(select(&l, "{.items[?(@.metadata.name==\"a\")]}").is_err());
        assert!(select(&l, "{..image}").is_err());
    }

    #[test]
    fn templates_with_ranges_and_literals() {
        let l = list();
        assert_eq!(render("{.items[*].metadata.name}", &l).unwrap(), "a b");
        assert_eq!(render("{range .items[*]}{.metadata.name}{\"\\t\"}{.spec.containers[*].image}{\"\\n\"}{end}", &l).unwrap(), "a\tnginx busybox\nb\tredis\n");
        assert!(render("{range .items[*]}{.metadata.name}", &l).is_err());
    }
}
