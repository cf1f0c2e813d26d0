//! The registry of magics: lookup by name or alias, help, and "did you mean" for unknown names.

use super::notebook::Notebook;
use super::parse::{MagicCall, MagicKind};
use output::{InputReader, MimeBundle, OutputSink};
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub type MagicFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a magic leaves behind besides what it wrote to the sink.
#[derive(Debug, Clone, PartialEq)]
pub enum MagicOutput {
    None,
    /// The cell's result (an `execute_result`).
    Result(MimeBundle),
    /// Text for the frontend's pager (help).
    Page(MimeBundle),
}

/// A magic's failure: one short message for a person, with a short name for its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct MagicError {
    pub ename: String,
    pub message: String,
}

impl MagicError {
    pub fn new(ename: &str, message: impl Into<String>) -> Self {
        Self { ename: ename.to_string(), message: message.into() }
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new("UsageError", message)
    }
}

impl fmt::Display for MagicError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.ename, self.message)
    }
}

impl std::error::Error for MagicError {}

pub struct MagicContext<'a> {
    pub sink: Arc<dyn OutputSink>,
    /// The frontend's input box, for commands that read stdin.
    pub input: Arc<dyn InputReader>,
    pub registry: &'a Registry,
    /// The notebook's Rust session: what it has defined, and binding values into variables.
    pub notebook: Arc<dyn Notebook>,
}

pub trait Magic: Send + Sync {
    fn name(&self) -> &'static str;
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }
    /// Whether it is used as `%name` (line), `%%name` (cell), or both.
    fn kinds(&self) -> &'static [MagicKind] {
        &[MagicKind::Line]
    }
    /// One line for `%lsmagic`.
    fn summary(&self) -> &'static str;
    /// The full help text.
    fn help(&self) -> String;
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>>;
    /// Completions for the argument text before the cursor: (replacement start in `args`, matches).
    fn complete<'a>(&'a self, _args: &'a str) -> MagicFuture<'a, (usize, Vec<String>)> {
        Box::pin(async { (0, Vec::new()) })
    }
}

#[derive(Default)]
pub struct Registry {
    magics: BTreeMap<&'static str, Arc<dyn Magic>>,
    aliases: BTreeMap<&'static str, &'static str>,
}

impl Registry {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn register(&mut self, magic: Arc<dyn Magic>) {
        for alias in magic.aliases() {
            self.aliases.insert(alias, magic.name());
        }
        self.magics.insert(magic.name(), magic);
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn Magic>> {
        let name = self.aliases.get(name).copied().unwrap_or(name);
        self.magics.get(name)
    }

    pub fn magics(&self) -> impl Iterator<Item = &Arc<dyn Magic>> {
        self.magics.values()
    }

    /// Every name a magic answers to, aliases included.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.magics.keys().copied().chain(self.aliases.keys().copied())
    }

    /// The known name closest to `name`, if it is close enough to be a likely typo.
    pub fn closest(&self, name: &str) -> Option<&'static str> {
        let names: Vec<&'static str> = self.names().collect();
        super::spelling::closest(name, names.into_iter())
    }

    pub fn unknown_error(&self, call: &MagicCall) -> MagicError {
        let prefix = if call.kind == MagicKind::Cell { "%%" } else { "%" };
        let hint = match self.closest(&call.name) {
            Some(known) => format!(" Did you mean {prefix}{known}?"),
            None => " %lsmagic lists the magics there are.".to_string(),
        };
        MagicError::new("UnknownMagic", format!("there is no magic {prefix}{}.{hint}", call.name))
    }

    /// The help of a magic as a pager bundle.
    pub fn help_page(&self, name: &str) -> Option<MimeBundle> {
        self.get(name).map(|m| MimeBundle::plain(m.help()))
    }

    /// Runs one call: help if asked for, the magic otherwise, or a clear error if unknown.
    pub async fn run(
        &self,
        call: MagicCall,
        sink: Arc<dyn OutputSink>,
        input: Arc<dyn InputReader>,
        notebook: Arc<dyn Notebook>,
    ) -> Result<MagicOutput, MagicError> {
        let Some(magic) = self.get(&call.name).cloned() else {
            return Err(self.unknown_error(&call));
        };
        if call.help_requested {
            return Ok(MagicOutput::Page(MimeBundle::plain(magic.help())));
        }
        if !magic.kinds().contains(&call.kind) {
            let (used, other) = match call.kind {
                MagicKind::Line => ("a line magic", "%%"),
                MagicKind::Cell => ("a cell magic", "%"),
            };
            return Err(MagicError::usage(format!(
                "{} cannot be used as {used}; write it as {other}{}",
                call.name,
                magic.name()
            )));
        }
        magic.run(call, MagicContext { sink, input, registry: self, notebook }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::notebook::NoNotebook;
    use crate::framework::parse::split_cell;
    use output::{NoInput, RecordingSink};

    fn call(code: &str) -> MagicCall {
        match split_cell(code, &|_| false).unwrap().remove(0) {
            crate::Segment::Magic(c) => c,
            other => panic!("not a magic: {other:?}"),
        }
    }

    #[test]
    fn unknown_magic_names_the_closest() {
        let registry = crate::registry();
        let err = registry.unknown_error(&call("%lsmagik"));
        assert_eq!(err.ename, "UnknownMagic");
        assert!(err.message.contains("Did you mean %lsmagic?"), "{}", err.message);
        let err = registry.unknown_error(&call("%zzzzzzzz"));
        assert!(err.message.contains("%lsmagic lists"), "{}", err.message);
    }

    #[test]
    fn help_request_pages_the_help() {
        let registry = crate::registry();
        let sink = Arc::new(RecordingSink::default());
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let out = rt.block_on(registry.run(call("%lsmagic?"), sink, Arc::new(NoInput), Arc::new(NoNotebook))).unwrap();
        let MagicOutput::Page(page) = out else { panic!("{out:?}") };
        assert!(page.text().unwrap().contains("lsmagic"));
    }

}
