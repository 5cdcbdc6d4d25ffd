//! Markdown of knowledge-base articles as HTML a page may carry: pulldown-cmark reads it,
//! ammonia's allow-list keeps only harmless tags and attributes (no script, no event handler,
//! no `javascript:` link), so what an author writes never scripts the page.

use maud::PreEscaped;

/// The article's Markdown as cleaned HTML.
pub fn render(md: &str) -> PreEscaped<String> {
    use pulldown_cmark::{Options, Parser, html};
    let mut options = Options::empty();
    options.insert(Options::ENABLE_TABLES);
    options.insert(Options::ENABLE_STRIKETHROUGH);
    let mut raw = String::with_capacity(md.len() * 2);
    html::push_html(&mut raw, Parser::new_ext(md, options));
    let clean = ammonia::Builder::default()
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(Some("noopener noreferrer"))
        .clean(&raw)
        .to_string();
    PreEscaped(clean)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markdown_becomes_html_and_author_html_is_cleaned() {
        let out = render("Use **`openid`**:\n\n1. one\n2. two\n\n[x](javascript:alert(1)) and [docs](https://example.com/)\n\n<script>alert(1)</script> <img src=x onerror=alert(1)>").0;
        assert!(
            out.contains("<strong><code>openid</code></strong>"),
            "{out}"
        );
        assert!(
            out.contains("<ol>") && out.contains("<li>one</li>"),
            "{out}"
        );
        assert!(!out.contains("<script"), "{out}");
        assert!(!out.contains("href=\"javascript"), "{out}");
        assert!(
            out.contains("href=\"https://example.com/\" rel=\"noopener noreferrer\""),
            "{out}"
        );
        assert!(!out.contains("onerror"), "{out}");
    }
}
