//! rustc's errors about a cell's program, told as the user wrote the cell: cargo's JSON
//! messages mapped onto the cell's own lines and drawn by [`diagnostics`], as the kernel draws
//! the errors of a cell evaluated here. Errors in items from earlier cells say so; errors in a
//! dependency stay as rustc says them.

use crate::Cell;
use diagnostics::{is_error_code, render_all, Child, Diagnostic, Mark, Span};
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
    let body = cell.body.trim_end();
    let body_lines = body.lines().count().max(1);
    // A span of main.rs on the body's lines, in the body's own terms.
    let in_body = |span: &Value| -> Option<Span> {
        if !in_main(span) {
            return None;
        }
        let line = |key: &str| span[key].as_u64().map(|n| n as usize);
        let column = |key: &str| span[key].as_u64().map(|n| n as usize);
        let (start, end) = (line("line_start")?, line("line_end")?);
        let inside = |l: usize| (body_start..body_start + body_lines).contains(&l);
        (inside(start) && inside(end)).then(|| Span {
            start: (start - body_start + 1, column("column_start").unwrap_or(1)),
            end: (end - body_start + 1, column("column_end").unwrap_or(1)),
        })
    };
    let spans: Vec<&Value> = message["spans"].as_array().into_iter().flatten().collect();
    let primary = spans.iter().find(|s| s["is_primary"] == true).or(spans.first()).copied();
    let mut marks = Vec::new();
    let mut notes = Vec::new();
    if let Some(primary) = primary {
        if in_body(primary).is_some() {
            marks = spans
                .iter()
                .filter_map(|s| {
                    let label = s["label"].as_str().unwrap_or_default().to_string();
                    Some(Mark { span: in_body(s)?, primary: s["is_primary"] == true, label })
                })
                .collect();
        } else if in_main(primary) && near_the_body(primary, body_start, body_lines) {
            // kubernel's own lines around the body: the error is about the value the body gives
            // (a result that is not serde::Serialize, say).
            let last = body.lines().last().unwrap_or_default();
            let indent = last.chars().take_while(|c| c.is_whitespace()).count();
            marks.push(Mark {
                span: Span { start: (body_lines, indent + 1), end: (body_lines, last.chars().count() + 1) },
                primary: true,
                label: "the value of the cell's last expression: the pod's result, which must be serde::Serialize".into(),
            });
        } else {
            let text = primary["text"][0]["text"].as_str().unwrap_or_default().trim();
            notes.push(Child::Line { level: "note".into(), message: format!("in an item defined in an earlier cell: `{text}`") });
        }
    }
    let code = message["code"]["code"].as_str().filter(|c| is_error_code(c)).map(str::to_string);
    let place = |child: &Value| child["spans"].as_array().filter(|s| s.len() == 1).and_then(|s| in_body(&s[0]));
    notes.extend(diagnostics::children(message, place, |_| false));
    let diagnostic = Diagnostic {
        level: message["level"].as_str().unwrap_or("error").to_string(),
        code,
        message: message["message"].as_str().unwrap_or_default().to_string(),
        marks,
        children: notes,
    };
    let at = diagnostic.marks.iter().find(|m| m.primary).map(|m| (m.span.start.0 + cell.body_line - 1, m.span.start.1));
    let mut rendered = render_all(&[diagnostic], &cell.body, cell.body_line).join("\n");
    rendered.push('\n');
    CompileError { at, rendered }
}

/// Whether a span is in the program's main.rs (not the runtime's files, or a dependency's).
/// A span without a file name is taken as main.rs's.
fn in_main(span: &Value) -> bool {
    span["file_name"].as_str().is_none_or(|f| f == "src/main.rs" || f.ends_with("/src/main.rs"))
}

/// Whether a span is on the lines kubernel writes just around the body.
fn near_the_body(span: &Value, body_start: usize, body_lines: usize) -> bool {
    let line = span["line_start"].as_u64().unwrap_or(0) as usize;
    line + 2 >= body_start && line <= body_start + body_lines + 2
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
                       "text": [{"text": "let x: i32 = \"a\";", "highlight_start": 14, "highlight_end": 17}]},
                      {"file_name": "src/main.rs", "line_start": 11, "line_end": 11, "column_start": 8, "column_end": 11,
                       "is_primary": false, "label": "expected due to this", "text": [{"text": "let x: i32 = \"a\";"}]}],
            "children": []
        });
        let e = from_rustc(&message, Some((10, &cell)));
        // Body line 2 of the body, which starts on cell line 2: cell line 3.
        assert_eq!(e.at, Some((3, 14)));
        assert_eq!(
            e.rendered,
            "error[E0308]: mismatched types\n --> cell line 3, column 14\n  |\n3 | let x: i32 = \"a\";\n  |        ---   ^^^ expected `i32`, found `&str`\n  |        |\n  |        expected due to this\n"
        );
    }

    #[test]
    fn an_error_on_the_wrapper_is_about_the_last_expression() {
        let cell = Cell { body: "let a = 1;\nNotSerialize".into(), body_line: 2, ..Cell::default() };
        let message = json!({"message": "the trait bound `NotSerialize: Serialize` is not satisfied", "spans": [{"line_start": 9, "line_end": 9, "column_start": 1, "column_end": 20, "is_primary": true, "text": [{"text": "::kubernel::job::main(|| {"}]}]});
        let e = from_rustc(&message, Some((10, &cell)));
        assert_eq!(e.at, Some((3, 1)));
        assert!(e.rendered.contains("the value of the cell's last expression") && e.rendered.contains("3 | NotSerialize"), "{}", e.rendered);
    }

    #[test]
    fn an_error_elsewhere_says_where() {
        let cell = Cell { body: "1".into(), body_line: 2, ..Cell::default() };
        let message = json!({"message": "cannot find type `Foo`", "spans": [{"line_start": 2, "line_end": 2, "column_start": 9, "column_end": 12, "is_primary": true, "text": [{"text": "fn f(x: Foo) {}"}]}]});
        let e = from_rustc(&message, Some((10, &cell)));
        assert_eq!(e.at, None);
        assert!(e.rendered.contains("in an item defined in an earlier cell") && e.rendered.contains("fn f(x: Foo) {}"), "{}", e.rendered);
    }

    #[test]
    fn a_span_of_another_file_is_never_drawn_on_the_cell() {
        let cell = Cell { body: (1..=14).map(|i| format!("let v{i} = {i};")).collect::<Vec<_>>().join("\n"), body_line: 2, ..Cell::default() };
        // Line 15 of the runtime's job.rs, which is in the body's range of main.rs lines.
        let message = json!({"message": "the trait bound `X: Serialize` is not satisfied", "spans": [
            {"file_name": "src/main.rs", "line_start": 3, "line_end": 3, "column_start": 1, "column_end": 5, "is_primary": true, "text": [{"text": "fn x"}]},
            {"file_name": "/root/.cache/kubernel/programs/runtime/src/job.rs", "line_start": 15, "line_end": 15, "column_start": 1, "column_end": 9, "is_primary": false, "label": "required by a bound in `main`", "text": [{"text": "pub fn main"}]}]});
        let e = from_rustc(&message, Some((4, &cell)));
        assert!(!e.rendered.contains("required by a bound"), "{}", e.rendered);
    }

    #[test]
    fn a_help_on_the_body_shows_the_change_there() {
        let cell = Cell { body: "let v = vec![1];\nv.push(2);\nv.len()".into(), body_line: 1, ..Cell::default() };
        let message = json!({
            "message": "cannot borrow `v` as mutable, as it is not declared as mutable", "code": {"code": "E0596"}, "level": "error",
            "rendered": "error[E0596]: cannot borrow\nhelp: consider changing this to be mutable\n",
            "spans": [{"line_start": 6, "line_end": 6, "column_start": 1, "column_end": 2, "is_primary": true, "label": "cannot borrow as mutable", "text": [{"text": "v.push(2);"}]}],
            "children": [{"message": "consider changing this to be mutable", "level": "help",
                          "spans": [{"line_start": 5, "line_end": 5, "column_start": 5, "column_end": 5, "suggested_replacement": "mut ", "text": [{"text": "let v = vec![1];"}]}]}]
        });
        let e = from_rustc(&message, Some((5, &cell)));
        assert_eq!(e.at, Some((2, 1)));
        assert!(e.rendered.contains("help: consider changing this to be mutable\n  |\n1 | let mut v = vec![1];\n  |     +++"), "{}", e.rendered);
    }
}
