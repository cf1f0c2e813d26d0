//! The magics every kubernel session has: listing magics, help, and clearing output.

use crate::framework::parse::{MagicCall, MagicKind};
use crate::framework::registry::{Magic, MagicContext, MagicError, MagicFuture, MagicOutput, Registry};
use output::{escape_html, MimeBundle};
use std::sync::Arc;

pub fn register(registry: &mut Registry) {
    registry.register(Arc::new(LsMagic));
    registry.register(Arc::new(Help));
    registry.register(Arc::new(Clear));
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
