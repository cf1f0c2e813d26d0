//! `-o yaml`, `-o json` and `-o name`, as kubectl prints them.

use super::fields::name_of;
use output::{escape_html, MimeBundle};
use serde_json::{json, Value};

/// Strips what kubectl hides by default (managedFields) before -o yaml|json.
pub fn for_output(mut obj: Value) -> Value {
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    obj
}

/// One object as itself, several as a `List`, as kubectl prints them.
pub fn as_document(objects: Vec<Value>, single: bool) -> Value {
    let mut objects: Vec<Value> = objects.into_iter().map(for_output).collect();
    if single && objects.len() == 1 {
        objects.remove(0)
    } else {
        json!({ "apiVersion": "v1", "kind": "List", "items": objects, "metadata": { "resourceVersion": "" } })
    }
}

pub fn json_bundle(doc: &Value) -> MimeBundle {
    let text = serde_json::to_string_pretty(doc).unwrap_or_default();
    MimeBundle::plain(text).with("application/json", doc.clone())
}

pub fn yaml_bundle(doc: &Value) -> MimeBundle {
    let text = serde_saphyr::to_string(doc).unwrap_or_else(|e| format!("# could not write YAML: {e}"));
    let html = format!("<pre>{}</pre>", escape_html(&text));
    MimeBundle::plain(text).with("text/html", html)
}

/// `-o name`: `kind.group/name`, as kubectl prints it.
pub fn names_bundle(kind: &str, group: &str, objects: &[Value]) -> MimeBundle {
    let prefix = if group.is_empty() { kind.to_ascii_lowercase() } else { format!("{}.{group}", kind.to_ascii_lowercase()) };
    let mut text = String::new();
    for o in objects {
        text.push_str(&format!("{prefix}/{}\n", name_of(o)));
    }
    MimeBundle::plain(text)
}
