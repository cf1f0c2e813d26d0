//! Renders rustc's errors for a person: the message, then the user's own line with the span
//! underlined, as rustc does in a terminal, with line numbers of the cell.

use evcxr::CompilationError;

/// `first_line` is the cell line on which the compiled code starts (1-based).
pub fn render(errors: &[CompilationError], code: &str, first_line: usize) -> Vec<String> {
    let source: Vec<&str> = code.split('\n').collect();
    let mut out = Vec::new();
    for (n, error) in errors.iter().enumerate() {
        if n > 0 {
            out.push(String::new());
        }
        out.push(headline(error));
        let spanned: Vec<_> = error.spanned_messages().iter().filter(|m| m.span.is_some()).collect();
        if let Some(first) = spanned.first().and_then(|m| m.span) {
            out.push(format!(" --> cell line {}, column {}", first.start_line + first_line - 1, first.start_column));
        }
        let width = spanned
            .iter()
            .filter_map(|m| m.span)
            .map(|s| (s.end_line + first_line - 1).to_string().len())
            .max()
            .unwrap_or(1);
        let gutter = " ".repeat(width);
        if !spanned.is_empty() {
            out.push(format!("{gutter} |"));
        }
        // One source line, then a marker line per label on it, primary first, as rustc does.
        let mut lines: Vec<usize> = spanned.iter().filter_map(|m| m.span).flat_map(|s| s.start_line..=s.end_line).collect();
        lines.sort_unstable();
        lines.dedup();
        for line_no in lines {
            let Some(text) = source.get(line_no - 1) else { continue };
            out.push(format!("{:>width$} | {}", line_no + first_line - 1, text));
            let mut marks: Vec<(bool, usize, String)> = Vec::new();
            for message in &spanned {
                let span = message.span.expect("filtered on spans");
                if !(span.start_line..=span.end_line).contains(&line_no) {
                    continue;
                }
                let line_len = text.chars().count() + 1;
                let start = if line_no == span.start_line { span.start_column } else { 1 };
                let end = if line_no == span.end_line { span.end_column } else { line_len };
                let label = if line_no == span.end_line { strip_level(&message.label) } else { "" };
                let mark = if message.is_primary { "^" } else { "-" };
                let text = format!("{}{} {}", " ".repeat(start.saturating_sub(1)), mark.repeat(end.saturating_sub(start).max(1)), label);
                marks.push((!message.is_primary, start, text.trim_end().to_string()));
            }
            marks.sort();
            for (_, _, text) in marks {
                out.push(format!("{gutter} | {text}"));
            }
        }
        for help in error.help() {
            out.push(format!("{gutter} = help: {help}"));
        }
    }
    out
}

/// "error[E0308]: mismatched types"
pub fn headline(error: &CompilationError) -> String {
    match error.code() {
        Some(code) => format!("{}[{code}]: {}", error.level(), error.message()),
        None => format!("{}: {}", error.level(), error.message()),
    }
}

/// evcxr prefixes labels with "error: ..." when it has no better label; keep only the words.
fn strip_level(label: &str) -> &str {
    label.strip_prefix("error: ").unwrap_or(label)
}
