//! Manifests: splitting YAML (or JSON) text into documents, each parsed to a JSON value with the
//! line it starts on, so that an error names the line a person sees. Pure, tested without a cluster.

use super::error::ClusterError;
use serde_json::Value;

/// One object of a manifest, with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Doc {
    /// "the cell" or a file path.
    pub source: String,
    /// 1-based line where the document starts.
    pub line: usize,
    pub value: Value,
}

impl Doc {
    pub fn place(&self) -> String {
        format!("{} line {}", self.source, self.line)
    }
}

/// Splits at `---` lines; each piece keeps the line it starts on (1-based).
fn split_documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut start = 1;
    for (idx, line) in text.split('\n').enumerate() {
        let is_separator = line == "---" || line.starts_with("--- ") || line.trim_end() == "---";
        if is_separator {
            docs.push((start, std::mem::take(&mut current)));
            start = idx + 2;
        } else if line.trim_end() == "..." {
            // end-of-document marker
        } else {
            if current.is_empty() {
                // keep line numbers right: leading blank/comment lines move the start
                if line.trim().is_empty() || line.trim_start().starts_with('#') {
                    start = idx + 2;
                    continue;
                }
                start = idx + 1;
            }
            current.push_str(line);
            current.push('\n');
        }
    }
    docs.push((start, current));
    docs.into_iter().filter(|(_, d)| !d.trim().is_empty()).collect()
}

/// The message of a YAML error without the snippet the library draws, and its line.
fn yaml_error(err: &serde_saphyr::Error) -> (Option<usize>, String) {
    let line = err.location().map(|l| l.line() as usize).filter(|l| *l > 0);
    let rendered = err.to_string();
    let first = rendered.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid YAML").trim();
    // "error: line 3 column 5: ..." style prefixes are replaced by our own "line N".
    let mut msg = first.trim_start_matches("error:").trim().to_string();
    if let Some(idx) = msg.find(" at line ") {
        msg.truncate(idx);
    }
    // Advice meant for programmers using the library ("set DuplicateKeyPolicy in Options").
    if let Some(idx) = msg.find(", set ").filter(|i| msg[*i..].contains("Options")) {
        msg.truncate(idx);
    }
    if let Some(rest) = msg.strip_prefix("line ") {
        if let Some((_, after)) = rest.split_once(": ") {
            msg = after.to_string();
        }
    }
    (line, msg)
}

/// Parses every document of `text` (from `source`), expanding `kind: List` into its items.
/// Lines are counted from 1 at the start of `text`.
pub fn parse(text: &str, source: &str) -> Result<Vec<Doc>, ClusterError> {
    parse_from(text, source, 1)
}

/// As [`parse`], with `first_line` the number of the text's first line (a cell body starts on
/// the line after `%%k8s apply`, and people read the cell's own line numbers).
pub fn parse_from(text: &str, source: &str, first_line: usize) -> Result<Vec<Doc>, ClusterError> {
    let mut out = Vec::new();
    for (start, doc) in split_documents(text) {
        let start = start + first_line - 1;
        let value: Value = match serde_saphyr::from_str::<Value>(&doc) {
            Ok(v) => v,
            Err(e) => {
                let (line, msg) = yaml_error(&e);
                let line = line.map(|l| l + start - 1).unwrap_or(start);
                return Err(ClusterError::Manifest(format!("{source} line {line}: {msg}")));
            }
        };
        if value.is_null() {
            continue;
        }
        let place = format!("{source} line {start}");
        if !value.is_object() {
            return Err(ClusterError::Manifest(format!("{place}: a document must be a mapping with apiVersion and kind")));
        }
        if value["kind"] == "List" && value["items"].is_array() {
            for item in value["items"].as_array().cloned().unwrap_or_default() {
                out.push(checked(Doc { source: source.to_string(), line: start, value: item })?);
            }
            continue;
        }
        out.push(checked(Doc { source: source.to_string(), line: start, value })?);
    }
    Ok(out)
}

fn checked(doc: Doc) -> Result<Doc, ClusterError> {
    for field in ["apiVersion", "kind"] {
        if !doc.value[field].is_string() {
            return Err(ClusterError::Manifest(format!("{}: the document has no {field}", doc.place())));
        }
    }
    if !doc.value["metadata"]["name"].is_string() {
        return Err(ClusterError::Manifest(format!(
            "{}: the {} has no metadata.name",
            doc.place(),
            doc.value["kind"].as_str().unwrap_or("object")
        )));
    }
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO: &str = "# a config map and a deployment\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  a: \"1\"\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  replicas: 2\n";

    #[test]
    fn several_documents_with_their_lines() {
        let docs = parse(TWO, "the cell").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(docs[0].line, 2);
        assert_eq!(docs[0].value["kind"], "ConfigMap");
        assert_eq!(docs[0].value["data"]["a"], "1");
        assert_eq!(docs[1].line, 9);
        assert_eq!(docs[1].value["spec"]["replicas"], 2);
    }

    #[test]
    fn empty_documents_are_skipped() {
        let docs = parse("---\n\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: x\n---\n", "f.yaml").unwrap();
        assert_eq!(docs.len(), 1);
        assert_eq!(docs[0].line, 4);
    }

    #[test]
    fn yaml_error_names_the_line() {
        let bad = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [unclosed\n  data: 1\n";
        let err = parse(bad, "the cell").unwrap_err();
        assert_eq!(err.ename(), "YAMLError");
        assert!(err.to_string().starts_with("the cell line "), "{}", err.to_string());
        let line: usize = err.to_string()["the cell line ".len()..].split(':').next().unwrap().parse().unwrap();
        assert!((9..=11).contains(&line), "{}", err.to_string());
        assert!(!err.to_string().contains('\n'), "{}", err.to_string());
    }

    #[test]
    fn cell_lines_count_the_magic_line() {
        let err = parse_from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: v\n  k: w\n", "the cell", 2).unwrap_err();
        assert_eq!(err.to_string(), "the cell line 8: duplicate mapping key: k");
        let docs = parse_from("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n", "the cell", 2).unwrap();
        assert_eq!(docs[0].line, 2);
    }

    #[test]
    fn missing_fields() {
        let err = parse("apiVersion: v1\nmetadata:\n  name: x\n", "the cell").unwrap_err();
        assert_eq!(err.to_string(), "the cell line 1: the document has no kind");
        let err = parse("apiVersion: v1\nkind: ConfigMap\n", "the cell").unwrap_err();
        assert_eq!(err.to_string(), "the cell line 1: the ConfigMap has no metadata.name");
        let err = parse("- a\n- b\n", "the cell").unwrap_err();
        assert!(err.to_string().contains("must be a mapping"));
    }

    #[test]
    fn lists_expand() {
        let docs = parse("apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: b}\n", "x").unwrap();
        assert_eq!(docs.len(), 2);
    }
}
