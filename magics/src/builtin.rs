//! The magics every kubernel session has: listing magics, help, clearing output, and the cap on
//! a cell's output.

use crate::framework::parse::{MagicCall, MagicKind};
use crate::framework::registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
use output::limit::{format_size, parse_size, DEFAULT_OUTPUT_LIMIT, OUTPUT_LIMIT_ENV};
use output::{escape_html, MimeBundle, StreamName};
use std::sync::Arc;

pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(LsMagic));
    registry.register(Arc::new(Help));
    registry.register(Arc::new(Clear));
    registry.register(Arc::new(OutputLimitMagic));
}

struct LsMagic;

impl Magic for LsMagic {
    fn name(&self) -> &'static str {
        "lsmagic"
    }
    fn summary(&self) -> &'static str {
        "list the magics this kernel has"
    }
    fn help(&self) -> String {
        "%lsmagic\n\nLists every magic with a one-line summary, as an HTML table and as text.\n\
         A line starting with %name runs a line magic; a cell starting with %%name runs a cell magic.\n\
         Add ? to a magic (%name?) or use %help name to read its help."
            .to_string()
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            if !call.args.is_empty() {
                return Err(MagicError::usage("%lsmagic takes no arguments"));
            }
            let mut text = String::from("Magics (use %name? for help):\n");
            let mut html = String::from(
                "<table><thead><tr><th style=\"text-align:left\">magic</th><th style=\"text-align:left\">what it does</th></tr></thead><tbody>",
            );
            for magic in ctx.registry.magics() {
                let forms: Vec<String> = magic
                    .kinds()
                    .iter()
                    .map(|k| match k {
                        MagicKind::Line => format!("%{}", magic.name()),
                        MagicKind::Cell => format!("%%{}", magic.name()),
                    })
                    .chain(magic.aliases().iter().map(|a| format!("%{a}")))
                    .collect();
                let forms = forms.join(", ");
                text.push_str(&format!("  {forms:<24} {}\n", magic.summary()));
                html.push_str(&format!(
                    "<tr><td style=\"text-align:left\"><code>{}</code></td><td style=\"text-align:left\">{}</td></tr>",
                    escape_html(&forms),
                    escape_html(magic.summary())
                ));
            }
            html.push_str("</tbody></table>");
            Ok(MagicOutput::Result(MimeBundle::plain(text).with("text/html", html)))
        })
    }
}

struct Help;

impl Magic for Help {
    fn name(&self) -> &'static str {
        "help"
    }
    fn summary(&self) -> &'static str {
        "show the help of a magic (same as %name?)"
    }
    fn help(&self) -> String {
        "%help NAME\n\nShows the help of the magic NAME in the pager. %NAME? does the same.".to_string()
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            let [name] = call.args.as_slice() else {
                return Err(MagicError::usage("%help takes one magic name, e.g. %help lsmagic"));
            };
            let name = name.trim_start_matches('%');
            match ctx.registry.help_page(name) {
                Some(page) => Ok(MagicOutput::Page(page)),
                None => {
                    let probe = MagicCall { name: name.to_string(), ..call };
                    Err(ctx.registry.unknown_error(&probe))
                }
            }
        })
    }
}

struct Clear;

impl Magic for Clear {
    fn name(&self) -> &'static str {
        "clear"
    }
    fn summary(&self) -> &'static str {
        "clear this cell's output (--wait: when new output arrives)"
    }
    fn help(&self) -> String {
        "%clear [--wait]\n\nClears the output of the cell. With --wait the frontend clears it only when \
         the next output arrives, which avoids flicker in loops that redraw."
            .to_string()
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            let wait = match call.args.as_slice() {
                [] => false,
                [flag] if flag == "--wait" => true,
                other => return Err(MagicError::usage(format!("%clear: unknown argument {}", other.join(" ")))),
            };
            ctx.sink.clear_output(wait);
            Ok(MagicOutput::None)
        })
    }
}

struct OutputLimitMagic;

/// What completion offers after `%output_limit `.
const SIZES: &[&str] = &["0", "1MB", "10MB", "50MB", "100MB", "1GB"];

impl Magic for OutputLimitMagic {
    fn name(&self) -> &'static str {
        "output_limit"
    }
    fn summary(&self) -> &'static str {
        "show or set the cap on one cell's output (0: no cap)"
    }
    fn help(&self) -> String {
        format!(
            "%output_limit [SIZE]\n\n\
             Without SIZE, shows the cap on how much output one cell may send to the notebook \
             (stream text and displays; {default} unless set). With SIZE, sets it for this session, \
             from here on: 10MB, 500kB, 1GB, 2MiB, or a number of bytes. 0 removes the cap.\n\n\
             Past the cap a cell's output is left out, not sent, and a note says how much was left \
             out. Output after %clear (or a clear marker) counts from nothing again.\n\
             {OUTPUT_LIMIT_ENV}=SIZE in the kernel's environment sets the cap when it starts.",
            default = format_size(DEFAULT_OUTPUT_LIMIT)
        )
    }
    fn run<'a>(&'a self, call: MagicCall, ctx: MagicContext<'a>) -> MagicFuture<'a, Result<MagicOutput, MagicError>> {
        Box::pin(async move {
            let Some(limit) = ctx.sink.output_limit() else {
                return Err(MagicError::new("Unsupported", "output is not capped here, so there is no cap to show or set"));
            };
            let text = if call.args.is_empty() {
                match limit.get() {
                    Some(cap) => format!("The output cap is {} per cell.\n", format_size(cap)),
                    None => "Output is not capped; %output_limit 10MB sets a cap.\n".to_string(),
                }
            } else {
                // `%output_limit 50 MB` is one size in two words.
                let size = call.args.join(" ");
                let bytes = parse_size(&size).map_err(|why| MagicError::usage(format!("%output_limit: {why}")))?;
                let before = limit.describe();
                limit.set(bytes);
                match bytes {
                    0 => format!("Output is no longer capped (the cap was {before}).\n"),
                    _ => format!("The output cap is now {} per cell (it was {before}).\n", format_size(bytes)),
                }
            };
            ctx.sink.stream(StreamName::Stdout, &text);
            Ok(MagicOutput::None)
        })
    }
    fn complete<'a>(&'a self, args: &'a str) -> MagicFuture<'a, (usize, Vec<String>)> {
        Box::pin(async move {
            let start = args.len() - args.trim_start().len();
            let typed = args.trim_start();
            if typed.contains(char::is_whitespace) {
                return (start, Vec::new());
            }
            let matches = SIZES.iter().filter(|s| s.starts_with(typed)).map(|s| s.to_string()).collect();
            (start, matches)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::notebook::NoNotebook;
    use crate::framework::parse::split_cell;
    use output::{NoInput, OutputLimit, OutputSink, RecordingSink, SinkEvent};

    /// A recording sink that enforces a cap, as the kernel's does.
    struct CappedSink {
        limit: OutputLimit,
        inner: RecordingSink,
    }

    impl OutputSink for CappedSink {
        fn stream(&self, name: StreamName, text: &str) {
            self.inner.stream(name, text)
        }
        fn display(&self, bundle: MimeBundle, display_id: Option<&str>) {
            self.inner.display(bundle, display_id)
        }
        fn update_display(&self, bundle: MimeBundle, display_id: &str) {
            self.inner.update_display(bundle, display_id)
        }
        fn clear_output(&self, wait: bool) {
            self.inner.clear_output(wait)
        }
        fn output_limit(&self) -> Option<&OutputLimit> {
            Some(&self.limit)
        }
    }

    fn run(code: &str, sink: Arc<dyn OutputSink>) -> Result<MagicOutput, MagicError> {
        let crate::Segment::Magic(call) = split_cell(code, &|_| false).unwrap().remove(0) else { panic!("not a magic") };
        let registry = crate::registry();
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(registry.run(call, sink, Arc::new(NoInput), Arc::new(NoNotebook)))
    }

    fn printed(sink: &CappedSink) -> String {
        sink.inner
            .take()
            .into_iter()
            .map(|e| match e {
                SinkEvent::Stream(StreamName::Stdout, text) => text,
                other => panic!("unexpected output {other:?}"),
            })
            .collect()
    }

    #[test]
    fn output_limit_shows_sets_and_removes_the_cap() {
        let sink = Arc::new(CappedSink { limit: OutputLimit::new(10_000_000), inner: RecordingSink::default() });
        assert_eq!(run("%output_limit", sink.clone()), Ok(MagicOutput::None));
        assert_eq!(printed(&sink), "The output cap is 10 MB per cell.\n");
        run("%output_limit 50 MB", sink.clone()).unwrap();
        assert_eq!(sink.limit.get(), Some(50_000_000));
        assert_eq!(printed(&sink), "The output cap is now 50 MB per cell (it was 10 MB).\n");
        run("%output_limit 0", sink.clone()).unwrap();
        assert_eq!(sink.limit.get(), None);
        assert!(printed(&sink).starts_with("Output is no longer capped"));
        let err = run("%output_limit lots", sink.clone()).unwrap_err();
        assert_eq!(err.ename, "UsageError");
        assert_eq!(sink.limit.get(), None, "a bad size leaves the cap as it was");
    }

    #[test]
    fn output_limit_without_a_cap_to_set_says_so() {
        let err = run("%output_limit 5MB", Arc::new(RecordingSink::default())).unwrap_err();
        assert_eq!(err.ename, "Unsupported");
    }

    #[test]
    fn output_limit_completes_sizes() {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let (start, matches) = rt.block_on(OutputLimitMagic.complete(" 1"));
        assert_eq!(start, 1);
        assert_eq!(matches, ["1MB", "10MB", "100MB", "1GB"]);
    }
}
