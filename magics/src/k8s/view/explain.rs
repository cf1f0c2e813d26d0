//! `explain`: a kind's schema, from the server's OpenAPI v3 document of its group-version,
//! printed as kubectl's plaintext template prints it (kubectl/pkg/explain/v2/templates/
//! plaintext.tmpl): GROUP, KIND, VERSION, the FIELD asked for, its DESCRIPTION and its FIELDS
//! with their types, word-wrapped as kubectl wraps them. The functions below follow the
//! template's own ("output", "fieldList", "typeGuess", ...), so the output is the same byte for
//! byte. A path that does not exist names the fields that do. Pure: JSON in, text out.

use crate::framework::spelling::closest;
use serde_json::{Map, Value};
use std::collections::HashSet;

/// The group, version and Kind whose schema is explained.
#[derive(Debug, Clone, PartialEq)]
pub struct Gvk {
    pub group: String,
    pub version: String,
    pub kind: String,
}

/// Why a schema could not be explained.
#[derive(Debug, Clone, PartialEq)]
pub enum ExplainError {
    /// The document has no schema for the kind.
    NoSchema(String),
    /// `path[..at]` exists, `path[at]` does not; `fields` are those there are at that point.
    NoField { at: usize, fields: Vec<String>, type_name: String },
}

/// The explanation of `path` (fields below the kind) in `doc`, as kubectl prints it.
pub fn explain(doc: &Value, gvk: &Gvk, path: &[String], recursive: bool) -> Result<String, ExplainError> {
    let t = Doc { root: doc };
    let schema = t.schema_of(gvk).ok_or_else(|| {
        ExplainError::NoSchema(format!("GVK {}/{}, Kind={} not found in OpenAPI schema", gvk.group, gvk.version, gvk.kind))
    })?;
    let body = t.output(schema, &HashSet::new(), path, recursive);
    if body.is_empty() {
        return Err(t.missing(schema, path));
    }
    let mut out = String::new();
    if !gvk.group.is_empty() {
        out.push_str(&format!("GROUP:      {}\n", gvk.group));
    }
    out.push_str(&format!("KIND:       {}\nVERSION:    {}\n\n", gvk.kind, gvk.version));
    out.push_str(&body);
    out.push('\n');
    Ok(out)
}

/// The field names one level below `path` (for completion), or none if the path does not exist.
pub fn field_names(doc: &Value, gvk: &Gvk, path: &[String]) -> Vec<String> {
    let t = Doc { root: doc };
    let Some(mut schema) = t.schema_of(gvk) else { return Vec::new() };
    for name in path {
        match t.property(schema, name, &HashSet::new()) {
            Some(sub) => schema = sub,
            None => return Vec::new(),
        }
    }
    t.names(schema, &HashSet::new())
}

/// The message of a missing field: which one, where, and what is there instead.
pub fn no_field_message(typed_kind: &str, path: &[String], at: usize, fields: &[String], type_name: &str) -> String {
    let missing = &path[at];
    let place = std::iter::once(typed_kind.to_string()).chain(path[..at].iter().cloned()).collect::<Vec<_>>().join(".");
    if fields.is_empty() {
        return format!("field \"{missing}\" does not exist: {place} is <{type_name}> and has no fields");
    }
    let list = fields.join(", ");
    match closest(missing, fields.iter().map(String::as_str)) {
        Some(near) => format!("field \"{missing}\" does not exist in {place}; did you mean {near}? Its fields: {list}"),
        None => format!("field \"{missing}\" does not exist in {place}; its fields: {list}"),
    }
}

struct Doc<'a> {
    root: &'a Value,
}

/// Go templates' truth: a missing value, false, 0, "" and an empty list or map are false.
fn truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64() != Some(0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(Value::Array(a)) => !a.is_empty(),
        Some(Value::Object(o)) => !o.is_empty(),
    }
}

/// `additionalProperties` when it is a schema (not `true`/`false`) with something in it.
fn additional(schema: &Value) -> Option<&Value> {
    schema.get("additionalProperties").filter(|a| a.is_object() && truthy(Some(a)))
}

fn items(schema: &Value) -> Option<&Value> {
    schema.get("items").filter(|i| truthy(Some(i)))
}

fn all_of(schema: &Value) -> &[Value] {
    schema.get("allOf").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A map's keys in Go's order (sorted), whatever order serde_json keeps.
fn sorted(map: Option<&Map<String, Value>>) -> Vec<(&String, &Value)> {
    let mut v: Vec<(&String, &Value)> = map.map(|m| m.iter().collect()).unwrap_or_default();
    v.sort_by(|a, b| a.0.cmp(b.0));
    v
}

fn reference(schema: &Value) -> &str {
    schema.get("$ref").and_then(Value::as_str).unwrap_or("")
}

impl<'a> Doc<'a> {
    /// `resolveRef`: the schema a `#/components/schemas/...` reference points at.
    fn resolve_ref(&self, reference: &str) -> Option<&'a Value> {
        let fragment = reference.strip_prefix('#')?;
        let mut cur = self.root;
        for part in fragment.split('/').filter(|p| !p.is_empty()) {
            cur = cur.get(part).filter(|v| v.is_object())?;
        }
        Some(cur)
    }

    /// `or (resolveRef $ref) $schema`
    fn resolved(&self, schema: &'a Value) -> &'a Value {
        self.resolve_ref(reference(schema)).filter(|r| truthy(Some(r))).unwrap_or(schema)
    }

    /// The component schema whose x-kubernetes-group-version-kind names the kind.
    fn schema_of(&self, gvk: &Gvk) -> Option<&'a Value> {
        let schemas = self.root.get("components")?.get("schemas")?.as_object()?;
        sorted(Some(schemas)).into_iter().map(|(_, s)| s).find(|s| {
            s.get("x-kubernetes-group-version-kind").and_then(Value::as_array).is_some_and(|gvks| {
                gvks.iter().any(|g| {
                    g["group"].as_str() == Some(&gvk.group)
                        && g["version"].as_str() == Some(&gvk.version)
                        && g["kind"].as_str() == Some(&gvk.kind)
                })
            })
        })
    }

    /// The template's "output": follows `path`; at its end, DESCRIPTION and FIELDS.
    fn output(&self, schema: &'a Value, history: &HashSet<String>, path: &[String], recursive: bool) -> String {
        let r = reference(schema);
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        let Some(first) = path.first() else {
            let mut out = String::from("DESCRIPTION:\n");
            let d = self.description(resolved);
            out.push_str(&indent(4, &wrap(if d.is_empty() { "<empty>" } else { &d }, 76)));
            out.push('\n');
            let docs = external_docs(resolved);
            if !docs.is_empty() {
                out.push('\n');
                out.push_str(&docs);
            }
            let fields = self.field_list(resolved, 1, &HashSet::new(), recursive);
            if !fields.is_empty() {
                out.push_str("FIELDS:\n");
                out.push_str(&fields);
            }
            return out;
        };
        if !r.is_empty() && history.contains(r) {
            return String::new(); // a cycle
        }
        let properties = resolved.get("properties");
        if truthy(properties) && truthy(properties.and_then(|p| p.get(first.as_str()))) {
            let sub = &properties.unwrap()[first.as_str()];
            let mut out = String::new();
            if path.len() == 1 {
                out.push_str(&format!("FIELD: {first} <{}>\n", self.type_guess(sub)));
                out.push_str(&enum_text(sub, true, -1, 0));
                out.push_str("\n\n");
            }
            out.push_str(&self.output(sub, &HashSet::new(), &path[1..], recursive));
            return out;
        }
        if let Some(items) = items(resolved) {
            return self.output(items, &next, path, recursive);
        }
        if let Some(extra) = additional(resolved) {
            return self.output(extra, &next, path, recursive);
        }
        for sub in all_of(resolved) {
            let out = self.output(sub, &next, path, recursive);
            if !out.is_empty() {
                return out;
            }
        }
        String::new()
    }

    /// The template's "fieldList": each field with its type (and, unless recursive, its
    /// description); recursive, the fields of fields, indented, until a reference repeats.
    fn field_list(&self, schema: &'a Value, level: usize, history: &HashSet<String>, recursive: bool) -> String {
        let r = reference(schema);
        if !r.is_empty() && history.contains(r) {
            return String::new();
        }
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        let mut out = String::new();
        for (name, sub) in sorted(resolved.get("properties").and_then(Value::as_object)) {
            out.push_str(&self.field_detail(name, resolved, recursive, level));
            if recursive {
                out.push_str(&self.field_list(sub, level + 1, &next, recursive));
            }
        }
        for sub in all_of(resolved) {
            out.push_str(&self.field_list(sub, level, &next, recursive));
        }
        if let Some(items) = items(resolved) {
            out.push_str(&self.field_list(items, level, &next, recursive));
        }
        if let Some(extra) = additional(resolved) {
            out.push_str(&self.field_list(extra, level, &next, recursive));
        }
        out
    }

    /// The template's "fieldDetail": `name\t<type> -required-`, enum values, description.
    fn field_detail(&self, name: &str, parent: &Value, short: bool, level: usize) -> String {
        let pad = level * 2;
        let field = &parent["properties"][name];
        let mut out = indent(pad, name);
        out.push_str(&format!("\t<{}>", self.type_guess(field)));
        let required = parent.get("required").and_then(Value::as_array).is_some_and(|r| r.iter().any(|n| n == name));
        if required {
            out.push_str(" -required-");
        }
        out.push_str(&enum_text(field, false, 4, pad));
        out.push('\n');
        if !short {
            let d = field.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()).unwrap_or("<no description>");
            out.push_str(&indent(pad + 2, &wrap(d, 78usize.saturating_sub(pad))));
            out.push('\n');
            if let Some(docs) = field.get("externalDocs").filter(|d| truthy(Some(d))) {
                out.push('\n');
                out.push_str(&indent(pad + 2, "EXTERNAL DOCS:"));
                out.push('\n');
                if let Some(d) = docs.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()) {
                    out.push_str(&indent(pad + 4, &wrap(d, 76usize.saturating_sub(pad))));
                    out.push('\n');
                }
                if let Some(url) = docs.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) {
                    out.push_str(&indent(pad + 4, &format!("URL: {url}")));
                    out.push('\n');
                }
            }
            out.push('\n');
        }
        out
    }

    /// The template's "description": the schema's own, then those of what it is made of.
    fn description(&self, schema: &'a Value) -> String {
        let s = self.resolved(schema);
        if !truthy(Some(s)) {
            return String::new();
        }
        let mut out = String::new();
        if let Some(d) = s.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()) {
            out.push_str(d);
            out.push('\n');
        }
        for sub in all_of(s) {
            out.push_str(&self.description(sub));
        }
        if let Some(items) = items(s) {
            out.push_str(&self.description(items));
        }
        if let Some(extra) = additional(s) {
            out.push_str(&self.description(extra));
        }
        out
    }

    /// The template's "typeGuess": `string`, `Object`, `[]Container`, `map[string]string`...
    fn type_guess(&self, schema: &'a Value) -> String {
        if let Some(items) = items(schema) {
            return format!("[]{}", self.type_guess(items));
        }
        if let Some(extra) = additional(schema) {
            return format!("map[string]{}", self.type_guess(extra));
        }
        let of = all_of(schema);
        if of.len() == 1 && !truthy(schema.get("properties")) {
            return self.type_guess(&of[0]);
        }
        let r = reference(schema);
        let own_type = || schema.get("type").and_then(Value::as_str).filter(|t| !t.is_empty());
        if !r.is_empty() {
            let target = self.resolve_ref(r).filter(|t| truthy(Some(t)));
            let target_type = target.and_then(|t| t.get("type")).and_then(Value::as_str).filter(|t| !t.is_empty());
            return match target_type {
                None | Some("object") => {
                    let name = r.rsplit('/').next().unwrap_or_default();
                    let last = name.rsplit('.').next().unwrap_or_default();
                    if last.is_empty() {
                        "Object".to_string()
                    } else {
                        last.to_string()
                    }
                }
                Some(t) => t.to_string(),
            };
        }
        match own_type() {
            Some("object") | None => "Object".to_string(),
            Some(t) => t.to_string(),
        }
    }

    /// The subschema of a field, found as "output" finds it (through items, maps and allOf).
    fn property(&self, schema: &'a Value, name: &str, history: &HashSet<String>) -> Option<&'a Value> {
        let r = reference(schema);
        if !r.is_empty() && history.contains(r) {
            return None;
        }
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        if let Some(sub) = resolved.get("properties").and_then(|p| p.get(name)).filter(|s| truthy(Some(s))) {
            return Some(sub);
        }
        if let Some(items) = items(resolved) {
            return self.property(items, name, &next);
        }
        if let Some(extra) = additional(resolved) {
            return self.property(extra, name, &next);
        }
        all_of(resolved).iter().find_map(|sub| self.property(sub, name, &next))
    }

    /// The field names one level down, as "fieldList" lists them.
    fn names(&self, schema: &'a Value, history: &HashSet<String>) -> Vec<String> {
        let r = reference(schema);
        if !r.is_empty() && history.contains(r) {
            return Vec::new();
        }
        let mut next = history.clone();
        next.insert(r.to_string());
        let resolved = self.resolved(schema);
        let mut out: Vec<String> =
            sorted(resolved.get("properties").and_then(Value::as_object)).into_iter().map(|(k, _)| k.clone()).collect();
        for sub in all_of(resolved) {
            out.extend(self.names(sub, &next));
        }
        for sub in items(resolved).into_iter().chain(additional(resolved)) {
            out.extend(self.names(sub, &next));
        }
        out
    }

    /// Where a path stops existing, and what there is at that point.
    fn missing(&self, top: &'a Value, path: &[String]) -> ExplainError {
        let mut schema = top;
        for (at, name) in path.iter().enumerate() {
            match self.property(schema, name, &HashSet::new()) {
                Some(sub) => schema = sub,
                None => {
                    return ExplainError::NoField { at, fields: self.names(schema, &HashSet::new()), type_name: self.type_guess(schema) }
                }
            }
        }
        // Every step exists, yet the template printed nothing (a cycle): name the last.
        ExplainError::NoField { at: path.len().saturating_sub(1), fields: Vec::new(), type_name: self.type_guess(schema) }
    }
}

/// The template's "externalDocs" section of a schema.
fn external_docs(schema: &Value) -> String {
    let Some(docs) = schema.get("externalDocs").filter(|d| truthy(Some(d))) else { return String::new() };
    let mut out = String::from("EXTERNAL DOCS:\n");
    if let Some(d) = docs.get("description").and_then(Value::as_str).filter(|d| !d.is_empty()) {
        out.push_str(&indent(4, &wrap(d, 76)));
        out.push('\n');
    }
    if let Some(url) = docs.get("url").and_then(Value::as_str).filter(|u| !u.is_empty()) {
        out.push_str(&indent(4, &format!("URL: {url}")));
        out.push('\n');
    }
    out
}

/// The template's "extractEnum": `ENUM:` and a value a line (long), or `enum: a, b, ....`.
fn enum_text(schema: &Value, long: bool, limit: i64, pad: usize) -> String {
    let Some(values) = schema.get("enum").and_then(Value::as_array).filter(|v| !v.is_empty()) else { return String::new() };
    let mut out = if long { "ENUM:".to_string() } else { format!("\n{}enum: ", " ".repeat(pad)) };
    for (i, v) in values.iter().enumerate() {
        if limit > -1 && i as i64 >= limit {
            out.push_str(", ....");
            break;
        }
        if i > 0 && !long {
            out.push_str(", ");
        } else if long {
            out.push_str("\n    ");
        }
        out.push_str(&match v {
            Value::String(s) if s.is_empty() => "\"\"".to_string(),
            Value::String(s) => s.clone(),
            Value::Null => "<nil>".to_string(),
            other => other.to_string(),
        });
    }
    out
}

/// sprig's `indent`: every line, the first included, gets `n` spaces.
fn indent(n: usize, text: &str) -> String {
    let pad = " ".repeat(n);
    format!("{pad}{}", text.replace('\n', &format!("\n{pad}")))
}

/// go-wordwrap's WrapString, which kubectl's `wrap` is: breaks at white space so that lines
/// stay within `limit` characters, keeping the text's own line breaks; a word longer than
/// the limit stays whole.
pub fn wrap(text: &str, limit: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut current = 0usize;
    let (mut word, mut space) = (String::new(), String::new());
    let (mut word_len, mut space_len) = (0usize, 0usize);
    for c in text.chars() {
        if c == '\n' {
            if word.is_empty() {
                if current + space_len <= limit {
                    out.push_str(&space);
                }
            } else {
                out.push_str(&space);
                out.push_str(&word);
                word.clear();
                word_len = 0;
            }
            space.clear();
            space_len = 0;
            out.push(c);
            current = 0;
        } else if c.is_whitespace() && c != '\u{a0}' {
            if space.is_empty() || !word.is_empty() {
                current += space_len + word_len;
                out.push_str(&space);
                out.push_str(&word);
                space.clear();
                word.clear();
                space_len = 0;
                word_len = 0;
            }
            space.push(c);
            space_len += 1;
        } else {
            word.push(c);
            word_len += 1;
            if current + word_len + space_len > limit && word_len < limit {
                out.push('\n');
                current = 0;
                space.clear();
                space_len = 0;
            }
        }
    }
    if word.is_empty() {
        if current + space_len <= limit {
            out.push_str(&space);
        }
    } else {
        out.push_str(&space);
        out.push_str(&word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A small document in the shape the API server serves (refs, allOf, items, maps, enums).
    fn doc() -> Value {
        json!({"components": {"schemas": {
            "io.k8s.api.apps.v1.Deployment": {
                "description": "Deployment enables declarative updates for Pods and ReplicaSets.",
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values."},
                    "spec": {"allOf": [{"$ref": "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"}], "default": {}, "description": "Specification of the desired behavior of the Deployment."}
                },
                "x-kubernetes-group-version-kind": [{"group": "apps", "kind": "Deployment", "version": "v1"}]
            },
            "io.k8s.api.apps.v1.DeploymentSpec": {
                "description": "DeploymentSpec is the specification of the desired behavior of the Deployment.",
                "type": "object",
                "required": ["selector"],
                "properties": {
                    "replicas": {"type": "integer", "format": "int32", "description": "Number of desired pods. This is a pointer to distinguish between explicit zero and not specified. Defaults to 1."},
                    "selector": {"allOf": [{"$ref": "#/components/schemas/io.k8s.LabelSelector"}], "description": "Label selector for pods."},
                    "strategy": {"type": "string", "enum": ["Recreate", "RollingUpdate"], "description": "Type of deployment."},
                    "containers": {"type": "array", "items": {"allOf": [{"$ref": "#/components/schemas/io.k8s.Container"}], "default": {}}, "description": "List of containers."},
                    "limits": {"type": "object", "additionalProperties": {"$ref": "#/components/schemas/io.k8s.Quantity"}, "description": "Limits."},
                    "port": {"allOf": [{"$ref": "#/components/schemas/io.k8s.IntOrString"}], "description": "A port."},
                    "since": {"allOf": [{"$ref": "#/components/schemas/io.k8s.Time"}], "description": "Since when."}
                }
            },
            "io.k8s.LabelSelector": {"description": "A label selector.", "type": "object", "properties": {"matchLabels": {"type": "object", "additionalProperties": {"type": "string", "default": ""}, "description": "matchLabels is a map."}}},
            "io.k8s.Container": {"description": "A single application container.", "type": "object", "required": ["name"], "properties": {"name": {"type": "string", "default": "", "description": "Name of the container."}, "image": {"type": "string", "description": "Container image name."}}},
            "io.k8s.Quantity": {"description": "Quantity is a fixed-point number.", "oneOf": [{"type": "string"}, {"type": "number"}]},
            "io.k8s.IntOrString": {"description": "IntOrString holds an int or a string.", "format": "int-or-string", "oneOf": [{"type": "integer"}, {"type": "string"}]},
            "io.k8s.Time": {"description": "Time is a timestamp.", "type": "string", "format": "date-time"}
        }}})
    }

    fn gvk() -> Gvk {
        Gvk { group: "apps".into(), version: "v1".into(), kind: "Deployment".into() }
    }

    fn path(p: &str) -> Vec<String> {
        p.split('.').filter(|s| !s.is_empty()).map(str::to_string).collect()
    }

    #[test]
    fn the_kind_as_kubectl_prints_it() {
        let text = explain(&doc(), &gvk(), &[], false).unwrap();
        let expected = "GROUP:      apps\nKIND:       Deployment\nVERSION:    v1\n\nDESCRIPTION:\n    Deployment enables declarative updates for Pods and ReplicaSets.\n    \nFIELDS:\n  apiVersion\t<string>\n    APIVersion defines the versioned schema of this representation of an object.\n    Servers should convert recognized schemas to the latest internal value, and\n    may reject unrecognized values.\n\n  spec\t<DeploymentSpec>\n    Specification of the desired behavior of the Deployment.\n\n\n";
        assert_eq!(text, expected);
    }

    #[test]
    fn a_field_with_its_type_enum_and_the_descriptions_of_what_it_is() {
        let text = explain(&doc(), &gvk(), &path("spec.replicas"), false).unwrap();
        assert!(text.contains("\nFIELD: replicas <integer>\n\n\nDESCRIPTION:\n    Number of desired pods. This is a pointer to distinguish between explicit\n    zero and not specified. Defaults to 1.\n    \n"), "{text}");
        let text = explain(&doc(), &gvk(), &path("spec.strategy"), false).unwrap();
        assert!(text.contains("FIELD: strategy <string>\nENUM:\n    Recreate\n    RollingUpdate\n\nDESCRIPTION:"), "{text}");
        let text = explain(&doc(), &gvk(), &path("spec.containers"), false).unwrap();
        assert!(text.contains("FIELD: containers <[]Container>"), "{text}");
        assert!(
            text.contains("    List of containers.\n    A single application container.\n"),
            "the item type's description follows: {text}"
        );
        assert!(text.contains("  name\t<string> -required-\n    Name of the container.\n"), "{text}");
        let text = explain(&doc(), &gvk(), &path("spec"), false).unwrap();
        assert!(text.contains("  limits\t<map[string]Quantity>\n"), "{text}");
        assert!(text.contains("  port\t<IntOrString>\n"), "{text}");
        assert!(text.contains("  since\t<string>\n"), "a reference to a plain type is that type: {text}");
        assert!(text.contains("  selector\t<LabelSelector> -required-\n"), "{text}");
        assert!(text.contains("  strategy\t<string>\n  enum: Recreate, RollingUpdate\n"), "{text}");
        assert!(explain(&doc(), &gvk(), &path("spec.containers.image"), false).unwrap().contains("FIELD: image <string>"));
        assert!(explain(&doc(), &gvk(), &path("spec.selector.matchLabels"), false)
            .unwrap()
            .contains("FIELD: matchLabels <map[string]string>"));
    }

    #[test]
    fn recursive_lists_fields_of_fields_without_descriptions() {
        let text = explain(&doc(), &gvk(), &path("spec"), true).unwrap();
        assert!(text.contains("FIELDS:\n  containers\t<[]Container>\n    image\t<string>\n    name\t<string> -required-\n  limits\t<map[string]Quantity>\n"), "{text}");
        assert!(text.contains("  selector\t<LabelSelector> -required-\n    matchLabels\t<map[string]string>\n"), "{text}");
        assert!(!text.contains("Name of the container"), "{text}");
    }

    #[test]
    fn a_wrong_field_names_where_and_what_there_is() {
        let err = explain(&doc(), &gvk(), &path("spec.replica"), false).unwrap_err();
        let ExplainError::NoField { at, fields, .. } = &err else { panic!("{err:?}") };
        assert_eq!(*at, 1);
        assert_eq!(fields, &["containers", "limits", "port", "replicas", "selector", "since", "strategy"]);
        let m = no_field_message("deploy", &path("spec.replica"), *at, fields, "");
        assert_eq!(m, "field \"replica\" does not exist in deploy.spec; did you mean replicas? Its fields: containers, limits, port, replicas, selector, since, strategy");
        let ExplainError::NoField { at, fields, type_name } = explain(&doc(), &gvk(), &path("spec.replicas.x"), false).unwrap_err() else {
            panic!()
        };
        assert_eq!(
            no_field_message("deploy", &path("spec.replicas.x"), at, &fields, &type_name),
            "field \"x\" does not exist: deploy.spec.replicas is <integer> and has no fields"
        );
        let ExplainError::NoField { at, fields, .. } = explain(&doc(), &gvk(), &path("zzz"), false).unwrap_err() else { panic!() };
        assert_eq!(
            no_field_message("deploy", &path("zzz"), at, &fields, ""),
            "field \"zzz\" does not exist in deploy; its fields: apiVersion, spec"
        );
        assert!(matches!(explain(&doc(), &Gvk { kind: "Nope".into(), ..gvk() }, &[], false), Err(ExplainError::NoSchema(_))));
        assert_eq!(field_names(&doc(), &gvk(), &path("spec.containers")), ["image", "name"]);
    }

    #[test]
    fn wrapping_is_go_wordwraps() {
        assert_eq!(wrap("aaa bbb ccc", 7), "aaa bbb\nccc");
        assert_eq!(wrap("a verylongword b", 5), "a\nverylongword\nb");
        assert_eq!(wrap("one\n\n  indented line", 80), "one\n\n  indented line");
        assert_eq!(wrap("trailing\n", 76), "trailing\n");
    }
}
