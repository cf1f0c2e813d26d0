//! Input history, kept across kernel restarts in a small JSON-lines file under the user's data
//! directory (`$KUBERNEL_HISTORY` overrides the path). Each kernel start is a new session number.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    pub session: i64,
    pub line: i64,
    pub source: String,
    /// The text of the cell's result, when it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
}

pub struct History {
    path: Option<PathBuf>,
    entries: Vec<Entry>,
    session: i64,
    loaded: bool,
}

/// What a history_request asks for.
pub enum Query {
    Tail { n: usize },
    Range { session: i64, start: i64, stop: Option<i64> },
    Search { pattern: String, n: Option<usize>, unique: bool },
}

const KEEP_ENTRIES: usize = 10_000;

impl History {
    pub fn new() -> Self {
        Self { path: default_path(), entries: Vec::new(), session: 0, loaded: false }
    }

    #[cfg(test)]
    pub fn at(path: Option<PathBuf>) -> Self {
        Self { path, entries: Vec::new(), session: 0, loaded: false }
    }

    /// Reads the file on first use, so start-up never waits for it.
    fn load(&mut self) {
        if self.loaded {
            return;
        }
        self.loaded = true;
        let current: Vec<Entry> = std::mem::take(&mut self.entries);
        if let Some(text) = self.path.as_ref().and_then(|p| std::fs::read_to_string(p).ok()) {
            self.entries = text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
        }
        let last_session = self.entries.iter().map(|e| e.session).max().unwrap_or(0);
        self.session = last_session + 1;
        for mut entry in current {
            entry.session = self.session;
            self.entries.push(entry);
        }
        if self.entries.len() > KEEP_ENTRIES {
            let drop = self.entries.len() - KEEP_ENTRIES;
            self.entries.drain(..drop);
            self.rewrite();
        }
    }

    fn rewrite(&self) {
        let Some(path) = &self.path else { return };
        make_private(path);
        let text: String = self.entries.iter().map(|e| serde_json::to_string(e).unwrap() + "\n").collect();
        let _ = std::fs::write(path, text);
    }

    pub fn record(&mut self, line: i64, source: &str) {
        self.load();
        let entry = Entry { session: self.session, line, source: source.to_string(), output: None };
        if let Some(path) = &self.path {
            make_private(path);
            if let Ok(mut file) = std::fs::OpenOptions::new().create(true).append(true).mode(0o600).open(path) {
                let _ = writeln!(file, "{}", serde_json::to_string(&entry).unwrap());
            }
        }
        self.entries.push(entry);
    }

    /// Keeps the result of a cell of this session (in memory: the file has inputs only).
    pub fn record_output(&mut self, line: i64, text: &str) {
        let session = self.session;
        if let Some(entry) = self.entries.iter_mut().rev().find(|e| e.session == session && e.line == line) {
            entry.output = Some(text.to_string());
        }
    }

    pub fn query(&mut self, query: Query) -> Vec<Entry> {
        self.load();
        match query {
            Query::Tail { n } => {
                let start = self.entries.len().saturating_sub(n);
                self.entries[start..].to_vec()
            }
            Query::Range { session, start, stop } => {
                let session = if session <= 0 { self.session + session } else { session };
                self.entries
                    .iter()
                    .filter(|e| e.session == session && e.line >= start && stop.is_none_or(|s| e.line < s))
                    .cloned()
                    .collect()
            }
            Query::Search { pattern, n, unique } => {
                let mut found: Vec<Entry> = Vec::new();
                for entry in self.entries.iter().rev() {
                    if !glob_match(&pattern, &entry.source) {
                        continue;
                    }
                    if unique && found.iter().any(|f| f.source == entry.source) {
                        continue;
                    }
                    found.push(entry.clone());
                    if n.is_some_and(|n| found.len() >= n) {
                        break;
                    }
                }
                found.reverse();
                found
            }
        }
    }
}

/// The history holds whatever cells held (a Secret's stringData in a `%%k8s apply`, say): only
/// its owner may read it. The file is 0600 and kubernel's own folder 0700, existing ones too;
/// a folder named by KUBERNEL_HISTORY that is not kubernel's is left as it is.
fn make_private(path: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        let ours = dir.file_name().is_some_and(|n| n == "kubernel");
        if !dir.exists() {
            let _ = std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir);
        } else if ours {
            let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
        }
    }
    if path.exists() {
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
}

fn default_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("KUBERNEL_HISTORY") {
        return Some(PathBuf::from(path));
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))?;
    Some(data.join("kubernel").join("history.jsonl"))
}

/// Glob matching with `*` (any run) and `?` (one character), as IPython's history search does.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sessions_persist_and_number_up() {
        let dir = std::env::temp_dir().join(format!("kubernel-hist-{}", uuid::Uuid::new_v4()));
        let path = dir.join("h.jsonl");
        let mut first = History::at(Some(path.clone()));
        first.record(1, "let x = 1;");
        first.record(2, "x + 1");
        let mut second = History::at(Some(path.clone()));
        second.record(1, "x * 2");
        let all = second.query(Query::Tail { n: 10 });
        assert_eq!(all.len(), 3);
        assert_eq!(all[2], Entry { session: 2, line: 1, source: "x * 2".into(), output: None });
        let previous = second.query(Query::Range { session: -1, start: 1, stop: None });
        assert_eq!(previous.len(), 2);
        let found = second.query(Query::Search { pattern: "x*".into(), n: Some(2), unique: true });
        assert_eq!(found.iter().map(|e| e.source.as_str()).collect::<Vec<_>>(), vec!["x + 1", "x * 2"]);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn globs() {
        assert!(glob_match("1?2*", "1+2 and more"));
        assert!(!glob_match("1?2*", "12"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
    }
}
