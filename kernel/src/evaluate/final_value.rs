//! Shows a cell's value with one compile instead of two.
//!
//! evcxr shows the value of a cell by first compiling `(value).evcxr_display()` and, when the
//! type has no such method (almost always), compiling the cell again with Debug formatting. While
//! nothing in the session can have `evcxr_display` (no `:dep`, no code that mentions it), the
//! kernel instead rewrites the last expression so that the choice is made at compile time, by
//! autoref specialization: Debug output if the type implements Debug, nothing otherwise.

use ra_ap_syntax::{ast, AstNode, Edition, SourceFile};

const PREFIX: &str = "fn kubernel_cell() {\n";

/// The cell with its final expression wrapped, or None when it has none or does not parse.
pub fn rewrite(code: &str) -> Option<String> {
    if code.lines().any(|l| l.trim_start().starts_with(':')) {
        return None; // evcxr commands: leave the cell as it is
    }
    let wrapped = format!("{PREFIX}{code}\n}}");
    let parse = SourceFile::parse(&wrapped, Edition::Edition2024);
    if !parse.errors().is_empty() {
        return None;
    }
    let function = parse.tree().syntax().descendants().find_map(ast::Fn::cast)?;
    let tail = function.body()?.stmt_list()?.tail_expr()?;
    let range = tail.syntax().text_range();
    let start = usize::from(range.start()).checked_sub(PREFIX.len())?;
    let end = usize::from(range.end()).checked_sub(PREFIX.len())?;
    let expr = code.get(start..end)?;
    Some(format!("{}{}{}", &code[..start], show(expr), &code[end..]))
}

/// The block ends in `;`: a statement, so evcxr does not try to display it again.
fn show(expr: &str) -> String {
    format!(
        "{{ struct KubernelValue<'a, T: ?Sized>(&'a T); \
         trait KubernelDebug {{ fn kubernel_show(&self); }} \
         impl<'a, T: ::std::fmt::Debug + ?Sized> KubernelDebug for KubernelValue<'a, T> {{ \
         fn kubernel_show(&self) {{ println!(\"EVCXR_BEGIN_CONTENT text/plain\\n{{:?}}\\nEVCXR_END_CONTENT\", self.0); }} }} \
         trait KubernelNoDebug {{ fn kubernel_show(&self); }} \
         impl<'a, T: ?Sized> KubernelNoDebug for &KubernelValue<'a, T> {{ fn kubernel_show(&self) {{}} }} \
         (&KubernelValue(&({expr}\n))).kubernel_show(); }};"
    )
}

/// Whether code could bring a type with `evcxr_display` into the session.
pub fn may_add_rich_display(code: &str) -> bool {
    code.contains("evcxr_display") || code.lines().any(|l| l.trim_start().starts_with(":dep"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_only_the_final_expression() {
        let out = rewrite("let x = 1;\nx + 1").unwrap();
        assert!(out.starts_with("let x = 1;\n{ struct KubernelValue"), "{out}");
        assert!(out.ends_with("(&KubernelValue(&(x + 1\n))).kubernel_show(); };"), "{out}");
    }

    #[test]
    fn leaves_statements_and_commands_alone() {
        assert_eq!(rewrite("let x = 1;"), None);
        assert_eq!(rewrite("fn f() {}"), None);
        assert_eq!(rewrite(":dep regex\n1"), None);
        assert_eq!(rewrite("let x = ;"), None);
    }
}
