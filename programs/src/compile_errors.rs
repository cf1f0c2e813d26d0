//! rustc's errors about a cell's program, told as the user wrote the cell: the cell's own line
//! and column, its line of code under the message, the carets and labels, then rustc's notes and
//! help. Errors in items from earlier cells say so; errors in a dependency stay as rustc says.

use crate::Cell;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub struct CompileError {
    /// The cell's line and column (1-based) when the error is in the body.
    pub at: Option<(usize, usize)>,
    pub rendered: String,
}

/// One `compiler-message`'s `message`; `ours` is the body's first line in main.rs and the cell,
/// when the error is in the program's own crate.
pub fn from_rustc(message: &Value, ours: Option<(usize, &Cell)>) -> CompileError {
    let Some((body_start, cell)) = ours else {
        return CompileError { at: None, rendered: message["rendered"].as_str().unwrap_or_default().to_string() };
    };
    let code = message["code"]["code"].as_str().map(|c| format!("[{c}]")).unwrap_or_default();
    let mut out = format!("error{code}: {}\n", message["message"].as_str().unwrap_or_default());
    let spans: Vec<&Value> = message["spans"].as_array().into_iter().flatten().collect();
    let primary = spans.iter().find(|s| s["is_primary"] == true).or(spans.first()).copied();
    let body_lines = cell.body.trim_end().lines().count().max(1);
    let mut at = None;
    if let Some(span) = primary {
        let line = span["line_start"].as_u64().unwrap_or(0) as usize;
        let column = span["column_start"].as_u64().unwrap_or(1) as usize;
        let end_column = span["column_end"].as_u64().unwrap_or(column as u64 + 1) as usize;
        let text = span["text"][0]["text"].as_str().unwrap_or_default();
        let label = span["label"].as_str().unwrap_or_default();
        if (body_start..body_start + body_lines).contains(&line) {
            let cell_line = line - body_start + cell.body_line;
            at = Some((cell_line, column));
            out.push_str(&format!("  --> cell line {cell_line}, column {column}\n"));
            out.push_str(&snippet(cell_line, text, column, end_column, label));
        } else if line + 2 >= body_start && (line < body_start || line >= body_start + body_lines) && line <= body_start + body_lines + 2 {
            // kubernel's own lines around the body: the error is about the value the body gives
            // (a result that is not serde::Serialize, say).
            let last = cell.body.trim_end().lines().last().unwrap_or_default();
            let cell_line = cell.body_line + body_lines - 1;
            at = Some((cell_line, 1));
            out.push_str(&format!("  --> cell line {cell_line}: the value of the cell's last expression (the pod's result, which must be serde::Serialize)\n"));
            out.push_str(&snippet(cell_line, last, 1, last.chars().count() + 1, ""));
        } else {
            out.push_str("  --> in an item defined in an earlier cell\n");
            out.push_str(&snippet(0, text, column, end_column, label));
        }
    }
    for child in message["children"].as_array().into_iter().flatten() {
        let level = child["level"].as_str().unwrap_or("note");
        let text = child["message"].as_str().unwrap_or_default();
        if !text.is_empty() {
            out.push_str(&format!("   = {level}: {text}\n"));
        }
    }
    CompileError { at, rendered: out }
}

/// ` 2 | let x: i32 = "a";` and the carets under the span, with the label.
fn snippet(line: usize, text: &str, column: usize, end_column: usize, label: &str) -> String {
    let number = if line == 0 { String::new() } else { line.to_string() };
    let pad = " ".repeat(number.len().max(1));
    let width = end_column.saturating_sub(column).max(1);
    // Columns count characters; the carets line up under them.
    let lead: String = text.chars().take(column.saturating_sub(1)).map(|c| if c == '\t' { '\t' } else { ' ' }).collect();
    let label = if label.is_empty() { String::new() } else { format!(" {label}") };
    format!("{pad} |\n{number:>w$} | {text}\n{pad} | {lead}{}{label}\n", "^".repeat(width), w = pad.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_error_in_the_body_is_on_the_cells_line() {
        let cell = Cell { body: "let a = 1;\nlet x: i32 = \"a\";\nx".into(), body_line: 2, ..Cell::default() };
        let message = json!({
            "message": "mismatched types", "code": {"code": "E0308"}, "level": "error",
            "spans": [{"file_name": "src/main.rs", "line_start": 11, "line_end": 11, "column_start": 14, "column_end": 17,
                       "is_primary": true, "label": "expected `i32`, found `&str`",
                       "text": [{"text": "let x: i32 = \"a\";", "highlight_start": 14, "highlight_end": 17}]}],
            "children": [{"message": "expected due to this", "level": "note", "spans": []}]
        });
        let e = from_rustc(&message, Some((10, &cell)));
        // Body line 2 of the body, which starts on cell line 2: cell line 3.
        assert_eq!(e.at, Some((3, 14)));
        assert_eq!(
            e.rendered,
            "error[E0308]: mismatched types\n  --> cell line 3, column 14\n  |\n3 | let x: i32 = \"a\";\n  |              ^^^ expected `i32`, found `&str`\n   = note: expected due to this\n"
        );
    }

    #[test]
    fn an_error_on_the_wrapper_is_about_the_last_expression() {
        let cell = Cell { body: "let a = 1;\nNotSerialize".into(), body_line: 2, ..Cell::default() };
        let message = json!({"message": "the trait bound `NotSerialize: Serialize` is not satisfied", "spans": [{"line_start": 9, "column_start": 1, "column_end": 20, "is_primary": true, "text": [{"text": "::kubernel::job::main(|| {"}]}]});
        let e = from_rustc(&message, Some((10, &cell)));
        assert_eq!(e.at, Some((3, 1)));
        assert!(e.rendered.contains("the value of the cell's last expression") && e.rendered.contains("3 | NotSerialize"), "{}", e.rendered);
    }

    #[test]
    fn an_error_elsewhere_says_where() {
        let cell = Cell { body: "1".into(), body_line: 2, ..Cell::default() };
        let message = json!({"message": "cannot find type `Foo`", "spans": [{"line_start": 2, "column_start": 9, "column_end": 12, "is_primary": true, "text": [{"text": "fn f(x: Foo) {}"}]}]});
        let e = from_rustc(&message, Some((10, &cell)));
        assert_eq!(e.at, None);
        assert!(e.rendered.contains("in an item defined in an earlier cell") && e.rendered.contains("fn f(x: Foo) {}"), "{}", e.rendered);
    }
}
