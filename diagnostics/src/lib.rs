//! rustc's errors drawn for a person as rustc draws them in a terminal: the message, the
//! location in the cell, the user's own lines with the spans underlined and labelled, then
//! rustc's notes and help, with a suggested change shown on the user's line. Line numbers are
//! the cell's.
//!
//! One renderer for both places a cell is compiled: the kernel's evaluator (evcxr, which maps
//! rustc's spans back to the cell) and the programs built for the cluster's pods (cargo's JSON,
//! whose spans the program builder maps). Each turns its messages into [`Diagnostic`]s.

use serde_json::Value;

/// A place in the cell's code: 1-based line and column (in characters); the end column
/// is exclusive, and equals the start for a point (where rustc would insert something).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Span {
    pub start: (usize, usize),
    pub end: (usize, usize),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Mark {
    pub span: Span,
    pub primary: bool,
    pub label: String,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Child {
    /// `= note: ...`, `= help: ...`.
    Line { level: String, message: String },
    /// A note or help about a place in the cell.
    Spanned { level: String, message: String, span: Span },
    /// A help that changes the cell's code: `replacement` goes in place of `span`. `inline` when
    /// rustc shows it as a label on the span rather than as the changed line.
    Suggestion { message: String, span: Span, replacement: String, inline: bool },
}

/// One of rustc's messages, with every place in the cell's own code.
#[derive(Debug, Clone, PartialEq)]
pub struct Diagnostic {
    pub level: String,
    /// An error code such as E0308 (lint names are not shown in the headline, as in rustc).
    pub code: Option<String>,
    pub message: String,
    pub marks: Vec<Mark>,
    pub children: Vec<Child>,
}


/// The diagnostics as the lines a person reads; `first_line` is the cell line on which `code`
/// starts (1-based).
pub fn render_all(diagnostics: &[Diagnostic], code: &str, first_line: usize) -> Vec<String> {
    let source: Vec<&str> = code.split('\n').collect();
    let mut out = Vec::new();
    for (n, diagnostic) in diagnostics.iter().enumerate() {
        if n > 0 {
            out.push(String::new());
        }
        render_one(diagnostic, &source, first_line, &mut out);
    }
    out
}

/// "error[E0308]: mismatched types": a diagnostic's first line.
pub fn headline(d: &Diagnostic) -> String {
    match &d.code {
        Some(code) => format!("{}[{code}]: {}", d.level, d.message),
        None => format!("{}: {}", d.level, d.message),
    }
}

/// E0308 and the like; lint names (unused_variables) are rustc's notes' business.
pub fn is_error_code(code: &str) -> bool {
    code.len() == 5 && code.starts_with('E') && code[1..].chars().all(|c| c.is_ascii_digit())
}

/// rustc's notes and help of one JSON `message`, in its order. `place(child)` is the child's
/// place in the cell's code, when it has one there; `generated(child)` says a child is about
/// code the user did not write (a note about it is left out).
pub fn children(message: &Value, mut place: impl FnMut(&Value) -> Option<Span>, generated: impl Fn(&Value) -> bool) -> Vec<Child> {
    let Some(list) = message["children"].as_array() else { return Vec::new() };
    let rendered = message["rendered"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for child in list {
        let level = child["level"].as_str().unwrap_or("note").to_string();
        let text = child["message"].as_str().unwrap_or_default().trim_end().to_string();
        let spans = child["spans"].as_array().map(Vec::as_slice).unwrap_or_default();
        let at = place(child);
        if spans.is_empty() {
            out.push(Child::Line { level, message: text });
            continue;
        }
        match at {
            Some(span) => match spans[0]["suggested_replacement"].as_str() {
                Some(replacement) if level == "help" => {
                    let inline = match shown_as(rendered, &text) {
                        Some(Shown::Inline) => true,
                        Some(Shown::Block) => false,
                        // rustc shows this help without the change; so does kubernel.
                        Some(Shown::Words) => {
                            out.push(Child::Line { level, message: text });
                            continue;
                        }
                        None => text.split_whitespace().count() < 10,
                    };
                    out.push(Child::Suggestion { message: text, span, replacement: replacement.to_string(), inline })
                }
                _ => out.push(Child::Spanned { level, message: text, span }),
            },
            // A help whose change falls outside the cell keeps its words and loses the change,
            // except an import, which is whole in itself (it would go at the top of the cell).
            None if level == "help" => {
                let mut imports: Vec<&str> = spans
                    .iter()
                    .filter_map(|s| s["suggested_replacement"].as_str())
                    .map(str::trim)
                    .filter(|r| r.starts_with("use ") && !r.contains('\n'))
                    .collect();
                imports.dedup();
                let text = if imports.is_empty() { text } else { format!("{text}:\n{}", imports.join("\n")) };
                out.push(Child::Line { level, message: text })
            }
            // A note about generated code is about nothing the user wrote.
            None if generated(child) => {}
            // A note about the standard library or a dependency.
            None => out.push(Child::Line { level, message: text }),
        }
    }
    out
}

/// How rustc showed a suggestion in its own rendering.
#[derive(Debug, PartialEq)]
pub enum Shown {
    /// As a label beside its span: `^ help: ...`.
    Inline,
    /// As a block of its own with the changed line: `help: ...` starting a line.
    Block,
    /// As words only: `= help: ...`.
    Words,
}

/// rustc decides by the suggestion's style, which its JSON does not carry; its rendering shows
/// it. None when the rendering does not say.
pub fn shown_as(rendered: &str, message: &str) -> Option<Shown> {
    let wanted = format!("help: {message}");
    for line in rendered.lines().map(strip_ansi) {
        if let Some(at) = line.find(&wanted) {
            return Some(match line[..at].trim() {
                "" => Shown::Block,
                "=" => Shown::Words,
                _ => Shown::Inline,
            });
        }
    }
    None
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The span fitted to the code: lines that exist, columns from 1 to just past the line's end, the
/// end not before the start. None if it cannot be made to fit (evcxr mapped it wrongly).
fn fit(span: Span, source: &[&str]) -> Option<Span> {
    let line_end = |line: usize| source.get(line.checked_sub(1)?).map(|text| text.chars().count() + 1);
    let start_end = line_end(span.start.0)?;
    let end_end = line_end(span.end.0)?;
    let start = (span.start.0, span.start.1.clamp(1, start_end));
    let end = (span.end.0, span.end.1.clamp(1, end_end));
    (start <= end).then_some(Span { start, end })
}

/// The diagnostic with every span fitted to the code; a child whose span does not fit keeps its
/// words, a mark whose span does not fit is left out.
fn fitted(d: &Diagnostic, source: &[&str]) -> Diagnostic {
    let marks = d.marks.iter().filter_map(|m| Some(Mark { span: fit(m.span, source)?, ..m.clone() })).collect();
    let children = d
        .children
        .iter()
        .map(|child| match child {
            Child::Line { .. } => child.clone(),
            Child::Spanned { level, message, span } => match fit(*span, source) {
                Some(span) => Child::Spanned { level: level.clone(), message: message.clone(), span },
                None => Child::Line { level: level.clone(), message: message.clone() },
            },
            Child::Suggestion { message, span, replacement, inline } => match fit(*span, source) {
                Some(span) => Child::Suggestion { message: message.clone(), span, replacement: replacement.clone(), inline: *inline },
                None => Child::Line { level: "help".into(), message: message.clone() },
            },
        })
        .collect();
    Diagnostic { marks, children, ..d.clone() }
}

fn render_one(d: &Diagnostic, source: &[&str], first_line: usize, out: &mut Vec<String>) {
    let d = &fitted(d, source);
    out.push(headline(d));
    let mut marks = d.marks.clone();
    let mut children: Vec<&Child> = d.children.iter().collect();
    inline_suggestion(&mut marks, &mut children);

    let mut numbers: Vec<usize> = marks.iter().map(|m| m.span.end.0).collect();
    for child in &children {
        if let Child::Spanned { span, .. } | Child::Suggestion { span, .. } = child {
            numbers.push(span.end.0);
        }
    }
    let width = numbers.iter().map(|n| (n + first_line - 1).to_string().len()).max().unwrap_or(1);
    let gutter = " ".repeat(width);
    let at = marks.iter().find(|m| m.primary).or(marks.first());
    if let Some(at) = at {
        let (line, column) = at.span.start;
        out.push(format!("{gutter}--> cell line {}, column {column}", line + first_line - 1));
        out.push(format!("{gutter} |"));
        out.extend(snippet(&marks, source, first_line, width));
    }
    let mut said_lines = false;
    for child in children.iter().filter(|c| !matches!(c, Child::Suggestion { .. })) {
        match child {
            Child::Line { level, message } => {
                if !said_lines && at.is_some() {
                    out.push(format!("{gutter} |"));
                }
                said_lines = true;
                let mut lines = message.lines();
                out.push(format!("{gutter} = {level}: {}", lines.next().unwrap_or_default()));
                let indent = " ".repeat(level.len() + 2);
                out.extend(lines.map(|l| format!("{gutter}   {indent}{l}")));
            }
            Child::Spanned { level, message, span } => {
                out.push(format!("{level}: {message}"));
                out.push(format!("{gutter}--> cell line {}, column {}", span.start.0 + first_line - 1, span.start.1));
                out.push(format!("{gutter} |"));
                let mark = Mark { span: *span, primary: true, label: String::new() };
                out.extend(snippet(&[mark], source, first_line, width));
            }
            Child::Suggestion { .. } => {}
        }
    }
    for child in children {
        if let Child::Suggestion { message, span, replacement, .. } = child {
            let bar = format!("{gutter} |");
            let after_lines = out.last().is_some_and(|l| l.starts_with(&format!("{gutter} = ")));
            if at.is_some() && !after_lines && out.last() != Some(&bar) {
                out.push(bar);
            }
            out.push(format!("help: {message}"));
            out.push(format!("{gutter} |"));
            out.extend(changed_lines(source, *span, replacement, first_line, width));
        }
    }
}

/// rustc shows a lone short suggestion as a label on its span instead of a block of its own.
fn inline_suggestion(marks: &mut Vec<Mark>, children: &mut Vec<&Child>) {
    let suggestions: Vec<usize> =
        children.iter().enumerate().filter(|(_, c)| matches!(c, Child::Suggestion { .. })).map(|(i, _)| i).collect();
    let [index] = suggestions[..] else { return };
    let Child::Suggestion { message, span, replacement, inline } = children[index] else { return };
    let snippet = replacement.trim();
    if !inline || replacement.contains('\n') || span.start.0 != span.end.0 {
        return;
    }
    // "add `;` here" already shows what goes in.
    let label = if snippet.is_empty() || message.contains(&format!("`{snippet}`")) {
        format!("help: {message}")
    } else {
        format!("help: {message}: `{snippet}`")
    };
    match marks.iter_mut().find(|m| m.span == *span && m.label.is_empty()) {
        Some(mark) => mark.label = label,
        None => {
            let primary = marks.iter().any(|m| m.primary && m.span == *span);
            marks.push(Mark { span: *span, primary, label });
        }
    }
    children.remove(index);
}

/// The suggested change on the user's line: an insertion underlined with `+`, anything else as
/// the line before and after, as rustc does.
fn changed_lines(source: &[&str], span: Span, replacement: &str, first_line: usize, width: usize) -> Vec<String> {
    let gutter = " ".repeat(width);
    let number = |line: usize| format!("{:>width$}", line + first_line - 1);
    let lines: Vec<Vec<char>> =
        (span.start.0..=span.end.0).map(|l| source.get(l - 1).copied().unwrap_or_default().chars().collect()).collect();
    let head: String = lines[0].iter().take(span.start.1 - 1).collect();
    let tail: String = lines.last().expect("one line at least").iter().skip(span.end.1 - 1).collect();
    let old: Vec<String> = lines.iter().map(|l| l.iter().collect()).collect();
    let new_text = format!("{head}{replacement}{tail}");
    let new: Vec<&str> = new_text.split('\n').collect();
    // What differs, after the common start and end (rustc shows `helo` -> `hello` as an insertion).
    let old_text = old.join("\n");
    let old_chars: Vec<char> = old_text.chars().collect();
    let new_chars: Vec<char> = new_text.chars().collect();
    let prefix = old_chars.iter().zip(&new_chars).take_while(|(a, b)| a == b).count();
    let suffix = old_chars[prefix..]
        .iter()
        .rev()
        .zip(new_chars[prefix..].iter().rev())
        .take_while(|(a, b)| a == b)
        .count();
    let inserted = &new_chars[prefix..new_chars.len() - suffix];
    let mut out = Vec::new();
    if old_chars.len() == prefix + suffix && new.len() == 1 && !inserted.contains(&'\n') {
        out.push(format!("{} | {new_text}", number(span.start.0)));
        let column = old_chars[..prefix].iter().rev().take_while(|c| **c != '\n').count();
        // rustc underlines what goes in without its trailing space (`mut ` gets `+++`).
        let length = inserted.iter().rev().skip_while(|c| c.is_whitespace()).count();
        out.push(format!("{gutter} | {}{}", " ".repeat(column), "+".repeat(length.max(1))));
        return out;
    }
    for (i, line) in old.iter().enumerate() {
        out.push(format!("{} - {line}", number(span.start.0 + i)));
    }
    for (i, line) in new.iter().enumerate() {
        out.push(format!("{} + {line}", number(span.start.0 + i)));
    }
    out.push(format!("{gutter} |"));
    out
}

/// The user's lines with the marks under them, as rustc draws them: every underline of a line on
/// one row, the rightmost label beside its underline and the others below, joined by `|`; a span
/// over several lines is drawn in the margin, from `/` (or `_` from its column) to `|_`.
fn snippet(marks: &[Mark], source: &[&str], first_line: usize, width: usize) -> Vec<String> {
    let gutter = " ".repeat(width);
    let mut multi: Vec<&Mark> = marks.iter().filter(|m| m.span.start.0 != m.span.end.0).collect();
    multi.sort_by_key(|m| (m.span.start, std::cmp::Reverse(m.span.end)));
    let margin_width = multi.len() * 2;

    let mut shown: Vec<usize> = Vec::new();
    for m in marks {
        shown.push(m.span.start.0);
        shown.push(m.span.end.0);
        if m.span.end.0 - m.span.start.0 <= 4 {
            shown.extend(m.span.start.0..m.span.end.0);
        }
    }
    shown.retain(|l| *l >= 1 && *l <= source.len());
    shown.sort_unstable();
    shown.dedup();
    // A gap of one line shows that line; a longer one is `...`.
    let mut filled: Vec<usize> = Vec::new();
    for line in shown {
        if filled.last().is_some_and(|p| line == p + 2) {
            filled.push(line - 1);
        }
        filled.push(line);
    }
    let shown = filled;

    let text_of = |line: usize| source.get(line - 1).copied().unwrap_or_default();
    let starts_line = |m: &Mark| {
        let text = text_of(m.span.start.0);
        let indent = text.chars().take_while(|c| c.is_whitespace()).count();
        m.span.start.1 <= indent + 1
    };
    // The margin beside line `line`, on its source row or (`after`) on the rows under it.
    let margin = |line: usize, after: bool| -> Vec<char> {
        let mut chars = vec![' '; margin_width];
        for (k, m) in multi.iter().enumerate() {
            let (start, end) = (m.span.start.0, m.span.end.0);
            let open = if line == start { after && starts_line(m) } else { line > start && line <= end };
            if line == start && !after && starts_line(m) {
                chars[k * 2] = '/';
            } else if open {
                chars[k * 2] = '|';
            }
        }
        chars
    };

    let mut out = Vec::new();
    let mut previous: Option<usize> = None;
    for &line in &shown {
        if let Some(p) = previous {
            if line > p + 1 {
                out.push("...".to_string());
            }
        }
        previous = Some(line);
        let m: String = margin(line, false).into_iter().collect();
        out.push(format!("{:>width$} | {m}{}", line + first_line - 1, text_of(line)).trim_end().to_string());
        let single: Vec<&Mark> = marks.iter().filter(|m| m.span.start.0 == line && m.span.end.0 == line).collect();
        for row in label_rows(&single) {
            let mut chars = margin(line, true);
            chars.extend(row);
            out.push(format!("{gutter} | {}", chars.into_iter().collect::<String>()).trim_end().to_string());
        }
        for (k, mark) in multi.iter().enumerate() {
            let symbol = if mark.primary { '^' } else { '-' };
            let at_start = mark.span.start.0 == line && !starts_line(mark);
            let at_end = mark.span.end.0 == line;
            if !(at_start || at_end) {
                continue;
            }
            let mut chars = margin(line, true);
            let column = if at_start { mark.span.start.1 } else { mark.span.end.1.saturating_sub(1).max(1) };
            // From this span's margin to its column: `_` all the way, then the mark.
            chars[k * 2] = if at_start { ' ' } else { '|' };
            let reach = margin_width + column - 1;
            chars.resize(reach.max(k * 2 + 1), ' ');
            for c in chars.iter_mut().skip(k * 2 + 1) {
                *c = '_';
            }
            chars.push(symbol);
            let mut row: String = chars.into_iter().collect();
            if at_end && !mark.label.is_empty() {
                row.push(' ');
                row.push_str(&mark.label);
            }
            out.push(format!("{gutter} | {row}").trim_end().to_string());
        }
    }
    out
}

/// The rows of marks under one line, for the marks that lie within it.
fn label_rows(marks: &[&Mark]) -> Vec<Vec<char>> {
    if marks.is_empty() {
        return Vec::new();
    }
    let mut underline: Vec<char> = Vec::new();
    let put = |row: &mut Vec<char>, column: usize, text: &str| {
        let at = column - 1;
        let chars: Vec<char> = text.chars().collect();
        if row.len() < at + chars.len() {
            row.resize(at + chars.len(), ' ');
        }
        row[at..at + chars.len()].copy_from_slice(&chars);
    };
    // Secondary underlines first, so that a primary one over the same place wins.
    let mut order: Vec<&&Mark> = marks.iter().collect();
    order.sort_by_key(|m| m.primary);
    for m in &order {
        let length = m.span.end.1.saturating_sub(m.span.start.1).max(1);
        let symbol = if m.primary { "^" } else { "-" };
        put(&mut underline, m.span.start.1, &symbol.repeat(length));
    }
    let mut labelled: Vec<&&Mark> = marks.iter().filter(|m| !m.label.is_empty()).collect();
    labelled.sort_by_key(|m| (m.span.start.1, !m.primary));
    // The rightmost label goes beside the underlines when nothing starts at or after it.
    let mut below = labelled.clone();
    if let Some(last) = labelled.last() {
        let alone = marks.iter().filter(|m| m.span.start.1 >= last.span.start.1).count() == 1;
        if alone {
            let mut text: String = underline.iter().collect();
            text.push(' ');
            text.push_str(&last.label);
            underline = text.chars().collect();
            below.pop();
        }
    }
    let mut rows = vec![underline];
    if below.is_empty() {
        return rows;
    }
    // Right to left: the label nearest the right comes first, each one under its own `|`.
    below.reverse();
    let mut connectors = Vec::new();
    for m in &below {
        put(&mut connectors, m.span.start.1, "|");
    }
    rows.push(connectors);
    for (i, m) in below.iter().enumerate() {
        let mut row = Vec::new();
        for later in &below[i + 1..] {
            put(&mut row, later.span.start.1, "|");
        }
        put(&mut row, m.span.start.1, &m.label);
        rows.push(row);
    }
    rows
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(line: usize, start: usize, end: usize) -> Span {
        Span { start: (line, start), end: (line, end) }
    }

    fn mark(span: Span, primary: bool, label: &str) -> Mark {
        Mark { span, primary, label: label.into() }
    }

    fn error(code: Option<&str>, message: &str, marks: Vec<Mark>, children: Vec<Child>) -> Diagnostic {
        Diagnostic { level: "error".into(), code: code.map(str::to_string), message: message.into(), marks, children }
    }

    fn text(d: Diagnostic, code: &str, first_line: usize) -> String {
        render_all(&[d], code, first_line).join("\n")
    }

    #[test]
    fn two_labels_on_a_line_are_drawn_as_rustc_draws_them() {
        // rustc 1.95 on the same code in main.rs, at lines 2 and 3.
        let d = error(
            Some("E0308"),
            "mismatched types",
            vec![mark(span(2, 14, 17), true, "expected `i32`, found `&str`"), mark(span(2, 8, 11), false, "expected due to this")],
            vec![],
        );
        assert_eq!(
            text(d, "let a = 1;\nlet x: i32 = \"a\";", 1),
            "error[E0308]: mismatched types\n \
             --> cell line 2, column 14\n  \
             |\n\
             2 | let x: i32 = \"a\";\n  \
             |        ---   ^^^ expected `i32`, found `&str`\n  \
             |        |\n  \
             |        expected due to this"
        );
    }

    #[test]
    fn the_location_is_the_primary_span_in_cell_lines_and_a_short_help_goes_inline() {
        // A magic on the cell's first line: the code starts on line 2.
        let d = error(
            None,
            "expected `;`, found keyword `let`",
            vec![mark(span(2, 1, 4), false, "unexpected token"), mark(span(1, 10, 10), true, "")],
            vec![Child::Suggestion { message: "add `;` here".into(), span: span(1, 10, 10), replacement: ";".into(), inline: true }],
        );
        let shown = text(d, "let y = 5\nlet z = 6;", 2);
        assert_eq!(
            shown,
            "error: expected `;`, found keyword `let`\n \
             --> cell line 2, column 10\n  \
             |\n\
             2 | let y = 5\n  \
             |          ^ help: add `;` here\n\
             3 | let z = 6;\n  \
             | --- unexpected token"
        );
    }

    #[test]
    fn a_long_help_shows_the_changed_line_and_no_stray_fragment() {
        let code = "let s = String::from(\"a\");\nlet t = s;\nprintln!(\"{}\", s);";
        let d = error(
            Some("E0382"),
            "borrow of moved value: `s`",
            vec![
                mark(span(2, 9, 10), false, "value moved here"),
                mark(span(3, 16, 17), true, "value borrowed here after move"),
                mark(span(1, 5, 6), false, "move occurs because `s` has type `String`"),
            ],
            vec![Child::Suggestion {
                message: "consider cloning the value if the performance cost is acceptable".into(),
                span: span(2, 10, 10),
                replacement: ".clone()".into(),
                inline: false,
            }],
        );
        assert_eq!(
            text(d, code, 1),
            "error[E0382]: borrow of moved value: `s`\n \
             --> cell line 3, column 16\n  \
             |\n\
             1 | let s = String::from(\"a\");\n  \
             |     - move occurs because `s` has type `String`\n\
             2 | let t = s;\n  \
             |         - value moved here\n\
             3 | println!(\"{}\", s);\n  \
             |                ^ value borrowed here after move\n  \
             |\n\
             help: consider cloning the value if the performance cost is acceptable\n  \
             |\n\
             2 | let t = s.clone();\n  \
             |          ++++++++"
        );
    }

    #[test]
    fn notes_and_helps_without_a_place_follow_the_snippet() {
        let d = Diagnostic {
            level: "warning".into(),
            code: None,
            message: "unused variable: `unused`".into(),
            marks: vec![mark(span(2, 9, 15), true, "")],
            children: vec![
                Child::Line { level: "note".into(), message: "`#[warn(unused_variables)]` on by default".into() },
                Child::Suggestion {
                    message: "if this is intentional, prefix it with an underscore".into(),
                    span: span(2, 9, 15),
                    replacement: "_unused".into(),
                    inline: true,
                },
            ],
        };
        assert_eq!(
            text(d, "fn g() {\n    let unused = 3;\n}", 1),
            "warning: unused variable: `unused`\n \
             --> cell line 2, column 9\n  \
             |\n\
             2 |     let unused = 3;\n  \
             |         ^^^^^^ help: if this is intentional, prefix it with an underscore: `_unused`\n  \
             |\n  \
             = note: `#[warn(unused_variables)]` on by default"
        );
    }

    #[test]
    fn a_replacement_is_shown_before_and_after() {
        let d = error(
            Some("E0425"),
            "cannot find value `wxyz` in this scope",
            vec![mark(span(1, 9, 13), true, "not found in this scope")],
            vec![
                Child::Suggestion {
                    message: "a local variable with a similar name exists".into(),
                    span: span(1, 9, 13),
                    replacement: "abcd".into(),
                    inline: false,
                },
                Child::Suggestion { message: "or this one".into(), span: span(1, 9, 13), replacement: "wxyz2".into(), inline: true },
            ],
        );
        let shown = text(d, "let x = wxyz + 1;", 1);
        assert!(shown.contains("1 - let x = wxyz + 1;\n1 + let x = abcd + 1;\n  |"), "{shown}");
        assert!(shown.contains("1 | let x = wxyz2 + 1;\n  |             +"), "{shown}");
    }

    #[test]
    fn a_span_over_several_lines_is_drawn_in_the_margin() {
        let code = "fn f() -> i32 {\n    let x = 1;\n    x;\n}";
        let d = error(
            Some("E0308"),
            "mismatched types",
            vec![Mark { span: Span { start: (1, 15), end: (4, 2) }, primary: true, label: "expected `i32`, found `()`".into() }],
            vec![],
        );
        assert_eq!(
            text(d, code, 1),
            "error[E0308]: mismatched types\n \
             --> cell line 1, column 15\n  \
             |\n\
             1 |   fn f() -> i32 {\n  \
             |  _______________^\n\
             2 | |     let x = 1;\n\
             3 | |     x;\n\
             4 | | }\n  \
             | |_^ expected `i32`, found `()`"
        );
    }

    #[test]
    fn a_help_goes_inline_only_where_rustc_put_it() {
        let rendered = "error[E0384]: cannot assign twice\n  |\n2 | let x = 5;\n  |     - first assignment\n\
                        \u{1b}[1mhelp\u{1b}[0m: consider making this binding mutable\n  |\n2 | let mut x = 5;\n";
        assert_eq!(shown_as(rendered, "consider making this binding mutable"), Some(Shown::Block));
        let rendered = "2 | let y = 5\n  |          ^ help: add `;` here\n";
        assert_eq!(shown_as(rendered, "add `;` here"), Some(Shown::Inline));
        assert_eq!(shown_as("  |\n  = help: use a raw string\n", "use a raw string"), Some(Shown::Words));
        assert_eq!(shown_as("", "add `;` here"), None);

        let d = error(
            Some("E0384"),
            "cannot assign twice to immutable variable `x`",
            vec![mark(span(1, 5, 6), false, "first assignment to `x`"), mark(span(2, 1, 6), true, "cannot assign twice")],
            vec![Child::Suggestion {
                message: "consider making this binding mutable".into(),
                span: span(1, 5, 5),
                replacement: "mut ".into(),
                inline: false,
            }],
        );
        let shown = text(d, "let x = 5;\nx = 6;", 1);
        assert!(shown.ends_with("help: consider making this binding mutable\n  |\n1 | let mut x = 5;\n  |     +++"), "{shown}");
    }

    #[test]
    fn spans_outside_the_code_do_not_break_the_rendering() {
        let d = error(
            None,
            "odd",
            vec![mark(span(7, 1, 3), true, "nowhere"), mark(span(1, 0, 99), false, "clamped"), mark(Span { start: (2, 1), end: (1, 1) }, false, "")],
            vec![
                Child::Suggestion { message: "far away".into(), span: span(9, 1, 1), replacement: "x".into(), inline: true },
                Child::Spanned { level: "note".into(), message: "also far".into(), span: span(0, 0, 0) },
            ],
        );
        let shown = text(d, "ab\ncd", 1);
        assert!(shown.contains("1 | ab\n  | -- clamped"), "{shown}");
        assert!(shown.contains("= help: far away") && shown.contains("= note: also far"), "{shown}");
        assert!(!shown.contains("nowhere"), "{shown}");
    }

    #[test]
    fn lint_names_are_not_error_codes() {
        assert!(is_error_code("E0308"));
        assert!(!is_error_code("unused_variables"));
        assert!(!is_error_code("E03"));
    }
}
