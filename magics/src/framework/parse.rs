//! Splitting a cell into Rust code and magic calls, and splitting a magic's line into arguments.
//!
//! A cell whose first line is `%%name ...` is one cell magic whose body is the rest of the cell.
//! Otherwise every line that starts with `%name` is a line magic, and the lines between them are
//! Rust code, kept together so that multi-line items stay whole.

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MagicKind {
    Line,
    Cell,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MagicCall {
    pub name: String,
    pub kind: MagicKind,
    /// Arguments split the way a shell would split them.
    pub args: Vec<String>,
    /// The text after the name, as typed.
    pub raw_args: String,
    /// The cell body of a cell magic.
    pub body: Option<String>,
    /// `%name?` asks for the magic's help instead of running it.
    pub help_requested: bool,
    /// 1-based line of the call in the cell.
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Segment {
    /// Rust code; `first_line` is the 1-based cell line it starts on.
    Code { code: String, first_line: usize },
    Magic(MagicCall),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Returns the magic name if `line` starts a magic (`%` or `%%` then a name), with the prefix length.
fn magic_prefix(line: &str) -> Option<(usize, &str)> {
    let trimmed = line.trim_start();
    let percents = trimmed.chars().take_while(|c| *c == '%').count();
    if percents == 0 || percents > 2 {
        return None;
    }
    let rest = &trimmed[percents..];
    let first = rest.chars().next()?;
    if !(first.is_ascii_alphabetic() || first == '_') {
        return None;
    }
    let end = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(rest.len());
    Some((percents, &rest[..end]))
}

fn call_from_line(line: &str, kind: MagicKind, line_no: usize) -> Result<MagicCall, ParseError> {
    let trimmed = line.trim_start();
    let percents = if kind == MagicKind::Cell { 2 } else { 1 };
    let after = &trimmed[percents..];
    let name_end = after
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(after.len());
    let name = after[..name_end].to_string();
    let mut rest = &after[name_end..];
    let mut help_requested = false;
    if let Some(stripped) = rest.strip_prefix('?') {
        help_requested = true;
        rest = stripped;
    }
    let raw_args = rest.trim().to_string();
    let mut args = split_args(&raw_args).map_err(|message| ParseError { line: line_no, message })?;
    if args.last().map(String::as_str) == Some("?") {
        args.pop();
        help_requested = true;
    }
    Ok(MagicCall { name, kind, args, raw_args, body: None, help_requested, line: line_no })
}

/// Splits a cell into segments. `inside_code` tells whether Rust code gathered so far leaves an
/// open bracket, string or comment, so that a `%` line inside it stays Rust (e.g. in a string).
pub fn split_cell(cell: &str, inside_code: &dyn Fn(&str) -> bool) -> Result<Vec<Segment>, ParseError> {
    let lines: Vec<&str> = cell.split('\n').collect();
    if let Some(first_idx) = lines.iter().position(|l| !l.trim().is_empty()) {
        if let Some((2, _)) = magic_prefix(lines[first_idx]) {
            let (line, last) = logical_line(&lines, first_idx);
            let mut call = call_from_line(&line, MagicKind::Cell, first_idx + 1)?;
            call.body = Some(lines[last + 1..].join("\n"));
            return Ok(vec![Segment::Magic(call)]);
        }
    }
    let mut segments = Vec::new();
    let mut code = String::new();
    let mut code_start = 1;
    let mut idx = 0;
    while idx < lines.len() {
        let line = lines[idx];
        let is_magic = matches!(magic_prefix(line), Some((1, _))) && !inside_code(&code);
        if is_magic {
            if !code.trim().is_empty() {
                segments.push(Segment::Code { code: std::mem::take(&mut code), first_line: code_start });
            }
            code.clear();
            let (joined, last) = logical_line(&lines, idx);
            segments.push(Segment::Magic(call_from_line(&joined, MagicKind::Line, idx + 1)?));
            idx = last + 1;
            code_start = idx + 1;
            continue;
        }
        if code.is_empty() {
            code_start = idx + 1;
        } else {
            code.push('\n');
        }
        code.push_str(line);
        idx += 1;
    }
    if !code.trim().is_empty() {
        segments.push(Segment::Code { code, first_line: code_start });
    }
    Ok(segments)
}

/// Whether a magic line goes on on the next line: it ends in an unescaped backslash, as in a shell.
pub fn continues(line: &str) -> bool {
    let trailing = line.trim_end().chars().rev().take_while(|c| *c == '\\').count();
    trailing % 2 == 1
}

/// A magic line and the lines that continue it (each ending in `\`), joined with a space; with
/// the index of the last physical line it took.
fn logical_line(lines: &[&str], start: usize) -> (String, usize) {
    let mut text = lines[start].to_string();
    let mut last = start;
    while continues(&text) && last + 1 < lines.len() {
        let cut = text.trim_end().len() - 1;
        text.truncate(cut);
        text.push(' ');
        last += 1;
        text.push_str(lines[last].trim_start());
    }
    (text, last)
}

/// Whether a cell of magics is finished as typed, for terminal clients' is_complete: `None` if
/// it is, or why not. A line magic that ends in `\` or leaves a quote open goes on; a cell magic
/// takes its body until a blank line ends it.
pub fn magic_incomplete(cell: &str) -> Option<&'static str> {
    let lines: Vec<&str> = cell.split('\n').collect();
    let first = lines.iter().position(|l| !l.trim().is_empty())?;
    if let Some((2, _)) = magic_prefix(lines[first]) {
        let ends_blank = cell.ends_with("\n\n") || (cell.ends_with('\n') && lines.len() > first + 2 && lines[lines.len() - 2].trim().is_empty());
        return (!ends_blank).then_some("a cell magic's body ends with a blank line");
    }
    let mut idx = 0;
    while idx < lines.len() {
        if matches!(magic_prefix(lines[idx]), Some((1, _))) {
            let (joined, last) = logical_line(&lines, idx);
            if continues(&joined) {
                return Some("the line goes on after its backslash");
            }
            let args = joined.trim_start().trim_start_matches('%');
            if split_args(args).is_err() {
                return Some("a quote is still open");
            }
            idx = last + 1;
        } else {
            idx += 1;
        }
    }
    None
}

/// Splits arguments as a POSIX shell would: whitespace separates, quotes group, backslash escapes.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    let mut args = Vec::new();
    let mut current = String::new();
    let mut in_arg = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(ch) => current.push(ch),
                        None => return Err("unterminated single quote".into()),
                    }
                }
            }
            '"' => {
                in_arg = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(ch @ ('"' | '\\' | '$' | '`')) => current.push(ch),
                            Some(ch) => {
                                current.push('\\');
                                current.push(ch);
                            }
                            None => return Err("unterminated double quote".into()),
                        },
                        Some(ch) => current.push(ch),
                        None => return Err("unterminated double quote".into()),
                    }
                }
            }
            '\\' => {
                in_arg = true;
                if let Some(ch) = chars.next() {
                    current.push(ch);
                }
            }
            c if c.is_whitespace() => {
                if in_arg {
                    args.push(std::mem::take(&mut current));
                    in_arg = false;
                }
            }
            c => {
                in_arg = true;
                current.push(c);
            }
        }
    }
    if in_arg {
        args.push(current);
    }
    Ok(args)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn never(_: &str) -> bool {
        false
    }

    #[test]
    fn cell_magic_takes_the_whole_cell() {
        let segs = split_cell("\n%%k8s apply -n demo\nkind: Pod\n", &never).unwrap();
        let Segment::Magic(call) = &segs[0] else { panic!("{segs:?}") };
        assert_eq!(call.kind, MagicKind::Cell);
        assert_eq!(call.name, "k8s");
        assert_eq!(call.args, vec!["apply", "-n", "demo"]);
        assert_eq!(call.body.as_deref(), Some("kind: Pod\n"));
    }

    #[test]
    fn line_magics_split_rust_code() {
        let segs = split_cell("let x = 1;\n%lsmagic\nx + 1", &never).unwrap();
        assert_eq!(segs.len(), 3);
        assert_eq!(segs[0], Segment::Code { code: "let x = 1;".into(), first_line: 1 });
        assert!(matches!(&segs[1], Segment::Magic(c) if c.name == "lsmagic" && c.line == 2));
        assert_eq!(segs[2], Segment::Code { code: "x + 1".into(), first_line: 3 });
    }

    #[test]
    fn percent_inside_open_code_is_rust() {
        let open = |code: &str| code.matches('"').count() % 2 == 1;
        let segs = split_cell("let s = \"\n%notmagic\n\";", &open).unwrap();
        assert_eq!(segs.len(), 1);
    }

    #[test]
    fn modulo_is_not_a_magic() {
        let segs = split_cell("10\n% 3", &never).unwrap();
        assert_eq!(segs.len(), 1);
    }

    #[test]
    fn help_suffix() {
        let segs = split_cell("%lsmagic?", &never).unwrap();
        assert!(matches!(&segs[0], Segment::Magic(c) if c.help_requested && c.name == "lsmagic"));
        let segs = split_cell("%k8s get ?", &never).unwrap();
        assert!(matches!(&segs[0], Segment::Magic(c) if c.help_requested && c.args == vec!["get"]));
    }

    #[test]
    fn shell_like_arguments() {
        assert_eq!(
            split_args(r#"run web --env 'A=b c' -- sh -c "echo \"hi\"""#).unwrap(),
            vec!["run", "web", "--env", "A=b c", "--", "sh", "-c", "echo \"hi\""]
        );
        assert!(split_args("'open").is_err());
    }

    #[test]
    fn a_backslash_continues_a_magic_line() {
        let segs = split_cell("%k8s get pods \\\n  -n kube-system\nlet x = 1;", &|_| false).unwrap();
        let Segment::Magic(call) = &segs[0] else { panic!("{segs:?}") };
        assert_eq!(call.args, ["get", "pods", "-n", "kube-system"]);
        assert!(matches!(&segs[1], Segment::Code { code, first_line: 3 } if code == "let x = 1;"), "{segs:?}");
        assert!(continues("get pods \\") && !continues("a \\\\"));
    }

    #[test]
    fn what_is_not_finished_yet() {
        assert!(magic_incomplete("%%k8s apply").is_some());
        assert!(magic_incomplete("%%k8s apply\nkind: ConfigMap").is_some());
        assert_eq!(magic_incomplete("%%k8s apply\nkind: ConfigMap\n\n"), None);
        assert!(magic_incomplete("%k8s get pods -l 'app=web").is_some());
        assert!(magic_incomplete("%k8s get pods \\").is_some());
        assert_eq!(magic_incomplete("%k8s get pods"), None);
        assert_eq!(magic_incomplete("let x = 1;"), None);
    }
}
