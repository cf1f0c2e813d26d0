//! HTML escaping for text put into HTML output.

pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The text a person reads on an HTML page, on one line: the head, scripts, styles and tags
/// left out, entities decoded, white space folded.
pub fn html_text(html: &str) -> String {
    let mut text = String::new();
    let mut rest = html;
    while let Some(open) = rest.find('<') {
        text.push_str(&rest[..open]);
        let tag = &rest[open..];
        let name: String = tag[1..].chars().take_while(|c| c.is_ascii_alphanumeric()).collect::<String>().to_ascii_lowercase();
        // What is inside these is not read as text.
        let skip_to = match name.as_str() {
            "head" | "script" | "style" => tag.to_ascii_lowercase().find(&format!("</{name}")).map(|end| open + end),
            _ => None,
        };
        let from = skip_to.unwrap_or(open);
        match rest[from..].find('>') {
            Some(close) => {
                text.push(' ');
                rest = &rest[from + close + 1..];
            }
            None => {
                rest = "";
            }
        }
    }
    text.push_str(rest);
    let text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&quot;", "\"").replace("&#39;", "'").replace("&nbsp;", " ").replace("&amp;", "&");
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_of_an_error_page() {
        let page = "<html>\n<head><title>404 Not Found</title></head>\n<body>\n<center><h1>404 Not Found</h1></center>\n<hr><center>nginx/1.22.1</center>\n</body>\n</html>\n";
        assert_eq!(super::html_text(page), "404 Not Found nginx/1.22.1");
        assert_eq!(super::html_text("a &amp; b<script>x()</script> c"), "a & b c");
    }

    #[test]
    fn escapes_the_five() {
        assert_eq!(super::escape_html("<a href=\"x\">Tom & Jerry's</a>"), "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&#39;s&lt;/a&gt;");
    }
}
