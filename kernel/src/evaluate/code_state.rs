//! A small Rust lexer that tells whether a cell is finished: brackets balanced, strings and block
//! comments closed. It answers `is_complete` and keeps `%` lines inside open code from being
//! taken as magics. It does not parse Rust; rustc reports real syntax errors.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    /// Needs more lines; the indent to offer for the next one.
    Incomplete(String),
    /// Can never be completed by adding lines (e.g. a closing bracket with no opener).
    Invalid(String),
}

pub fn completeness(code: &str) -> Completeness {
    let mut stack: Vec<char> = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            '/' if next == Some('/') => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
                continue;
            }
            '/' if next == Some('*') => {
                let mut depth = 1;
                i += 2;
                while i < chars.len() && depth > 0 {
                    if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                        depth += 1;
                        i += 2;
                    } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                        depth -= 1;
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                if depth > 0 {
                    return Completeness::Incomplete(indent(stack.len()));
                }
                continue;
            }
            '"' => match skip_string(&chars, i + 1) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return Completeness::Incomplete(String::new()),
            },
            'r' | 'b' | 'c' if is_raw_string_start(&chars, i) => match skip_raw_string(&chars, i) {
                Some(end) => {
                    i = end;
                    continue;
                }
                None => return Completeness::Incomplete(String::new()),
            },
            '\'' => {
                i = skip_char_or_lifetime(&chars, i);
                continue;
            }
            '(' | '[' | '{' => stack.push(c),
            ')' | ']' | '}' => {
                let open = match c {
                    ')' => '(',
                    ']' => '[',
                    _ => '{',
                };
                match stack.pop() {
                    Some(top) if top == open => {}
                    Some(top) => {
                        return Completeness::Invalid(format!("`{c}` closes `{top}`"));
                    }
                    None => return Completeness::Invalid(format!("`{c}` has no opening bracket")),
                }
            }
            _ if c.is_alphanumeric() || c == '_' => {
                // Skip whole identifiers so `br` in `abr"` is not read as a raw string prefix.
                while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    if stack.is_empty() {
        Completeness::Complete
    } else {
        Completeness::Incomplete(indent(stack.len()))
    }
}

/// True when the code so far leaves something open (a bracket, string or comment).
pub fn is_open(code: &str) -> bool {
    matches!(completeness(code), Completeness::Incomplete(_))
}

fn indent(depth: usize) -> String {
    "    ".repeat(depth)
}

/// Index just past the closing quote of a normal string starting at `i`, or None if unclosed.
fn skip_string(chars: &[char], mut i: usize) -> Option<usize> {
    while i < chars.len() {
        match chars[i] {
            '\\' => i += 2,
            '"' => return Some(i + 1),
            _ => i += 1,
        }
    }
    None
}

fn is_raw_string_start(chars: &[char], i: usize) -> bool {
    // r"..", r#".."#, br"..", cr"..", b"..", c".."
    let mut j = i;
    if chars[j] == 'b' || chars[j] == 'c' {
        j += 1;
        if chars.get(j) == Some(&'"') {
            return true;
        }
    }
    if chars.get(j) != Some(&'r') {
        return false;
    }
    j += 1;
    while chars.get(j) == Some(&'#') {
        j += 1;
    }
    chars.get(j) == Some(&'"')
}

fn skip_raw_string(chars: &[char], i: usize) -> Option<usize> {
    let mut j = i;
    if chars[j] == 'b' || chars[j] == 'c' {
        j += 1;
        if chars.get(j) == Some(&'"') {
            return skip_string(chars, j + 1);
        }
    }
    j += 1; // the 'r'
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    j += 1; // the opening quote
    while j < chars.len() {
        if chars[j] == '"' && (1..=hashes).all(|k| chars.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        j += 1;
    }
    None
}

/// Skips a char literal ('a', '\n', '\u{1F600}') or a lifetime ('a, 'static).
fn skip_char_or_lifetime(chars: &[char], i: usize) -> usize {
    match chars.get(i + 1) {
        Some('\\') => {
            let mut j = i + 2;
            while j < chars.len() && chars[j] != '\'' && chars[j] != '\n' {
                j += 1;
            }
            j + 1
        }
        Some(_) if chars.get(i + 2) == Some(&'\'') => i + 3,
        _ => i + 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Completeness::*;

    #[test]
    fn complete_code() {
        for code in ["1", "fn f() {}", "let x = 1;", "let s = \"a{b\";", "let c = '{';", "fn f<'a>(x: &'a str) {}", "// {\n1", "/* { /* } */ */ 2", "r#\"}\"#", "b\"(\"", "", "let v = vec![1, 2];"] {
            assert_eq!(completeness(code), Complete, "{code}");
        }
    }

    #[test]
    fn incomplete_code_gets_an_indent() {
        assert_eq!(completeness("fn f() {"), Incomplete("    ".into()));
        assert_eq!(completeness("fn f() {\n    if x {"), Incomplete("        ".into()));
        assert_eq!(completeness("let s = \"abc"), Incomplete(String::new()));
        assert_eq!(completeness("let v = vec![1,"), Incomplete("    ".into()));
        assert_eq!(completeness("/* open"), Incomplete(String::new()));
        assert_eq!(completeness("r#\"x\""), Incomplete(String::new()));
    }

    #[test]
    fn invalid_code() {
        assert!(matches!(completeness("fn f() }"), Invalid(_)));
        assert!(matches!(completeness("let x = (1, 2];"), Invalid(_)));
    }

    #[test]
    fn unicode_is_fine() {
        assert_eq!(completeness("let é = \"日本\"; é"), Complete);
    }
}
