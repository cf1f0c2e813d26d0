//! rustc's errors of a cell evaluated here, as [`diagnostics`] draws them.
//!
//! evcxr compiles the cell inside generated code (a wrapper function, variable stores) and maps
//! the spans back to the cell, leaving out those in its own code. What it passes on besides the
//! spans is rustc's JSON, whose help and notes can point into that generated code: those are
//! shown without their code, never with a fragment of the wrapper.

use diagnostics::{headline, is_error_code, render_all, Child, Diagnostic, Mark, Span};
use evcxr::CompilationError;

/// The place of one of evcxr's spanned messages: a macro, as evcxr does not export their types.
macro_rules! span_of {
    ($message:expr) => {
        $message.span.map(|s| Span { start: (s.start_line, s.start_column), end: (s.end_line, s.end_column) })
    };
}
/// `first_line` is the cell line on which the compiled code starts (1-based).
pub fn render(errors: &[CompilationError], code: &str, first_line: usize) -> Vec<String> {
    let diagnostics: Vec<Diagnostic> = errors.iter().map(diagnostic).collect();
    render_all(&diagnostics, code, first_line)
}

/// "error[E0308]: mismatched types", for the error's one-line summary: the first error, not a
/// warning that came before it.
pub fn summary(errors: &[CompilationError]) -> String {
    let first = errors.iter().find(|e| e.level() == "error").or(errors.first());
    first.map(|e| headline(&diagnostic(e))).unwrap_or_else(|| "compilation failed".into())
}

/// What evcxr knows of one error, turned into cell terms.
fn diagnostic(error: &CompilationError) -> Diagnostic {
    let level = error.level().to_string();
    let raw_message = error.json["message"].as_str().unwrap_or_default().to_string();
    // evcxr labels an unlabelled span with "LEVEL: MESSAGE"; rustc shows no label there.
    let fallback = [format!("{level}: {raw_message}"), format!("{level}: {}", error.message())];
    let marks = error
        .spanned_messages()
        .iter()
        .filter_map(|m| {
            let span = span_of!(m)?;
            let label = if fallback.contains(&m.label) { String::new() } else { m.label.clone() };
            Some(Mark { span, primary: m.is_primary, label })
        })
        .collect();
    let code = error.code().filter(|c| is_error_code(c)).map(str::to_string);
    let mut children = children(error);
    if let Some(hint) = error.evcxr_extra_hint() {
        children.push(Child::Line { level: "help".into(), message: hint.to_string() });
    }
    Diagnostic { level, code, message: error.message(), marks, children }
}


/// rustc's notes and help. Their places in the cell come from evcxr's `help_spanned`, which holds
/// one entry for every child with exactly one span (except children of level error, which are
/// rare and whose count cannot be told: pairing stops there), in the children's order, with no
/// span when it fell in generated code.
fn children(error: &CompilationError) -> Vec<Child> {
    let mut placed = error.help_spanned().iter();
    let mut paired = true;
    let place = |child: &serde_json::Value| {
        let spans = child["spans"].as_array().map(Vec::len).unwrap_or(0);
        if child["level"] == "error" && spans > 1 {
            paired = false;
        }
        if paired && spans == 1 { placed.next().and_then(|m| span_of!(m)) } else { None }
    };
    // evcxr's own code is lib.rs.
    let generated = |child: &serde_json::Value| {
        child["spans"].as_array().into_iter().flatten().any(|s| s["file_name"].as_str().is_some_and(|f| f.ends_with("lib.rs")))
    };
    let mut json = error.json.clone();
    json["rendered"] = serde_json::Value::String(error.rendered());
    diagnostics::children(&json, place, generated)
}
