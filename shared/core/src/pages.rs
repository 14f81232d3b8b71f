//! Server-rendered pages a person opens (preferences, and the local runner's outbox): minijinja
//! templates under `templates/pages/`, embedded at build time, HTML-escaped automatically.

use minijinja::{AutoEscape, Environment};
use serde::Serialize;
use std::sync::OnceLock;

/// A page or a plain answer, ready for any transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageResponse {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

impl PageResponse {
    pub fn html(status: u16, body: String) -> Self {
        Self {
            status,
            content_type: "text/html; charset=utf-8",
            body,
        }
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self {
            status,
            content_type: "text/plain; charset=utf-8",
            body: body.into(),
        }
    }
}

fn environment() -> &'static Environment<'static> {
    static PAGES: OnceLock<Environment<'static>> = OnceLock::new();
    PAGES.get_or_init(|| {
        let mut env = Environment::new();
        // Every page escapes everything it shows, whatever the file is called.
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        crate::notify::render::load_builtin_templates(&mut env);
        env
    })
}

/// Renders `pages/{name}.html.j2`. A page that fails to render is a bug in Doorstep's own
/// templates, answered with a plain 500 rather than a panic.
pub fn render(name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
    environment()
        .get_template(&format!("pages/{name}.html.j2"))?
        .render(minijinja::Value::from(minijinja::value::Serde(&context)))
}

/// A page, or a plain 500 if it cannot be rendered (logged).
pub fn page(status: u16, name: &str, context: impl Serialize) -> PageResponse {
    match render(name, context) {
        Ok(body) => PageResponse::html(status, body),
        Err(e) => {
            tracing::error!(page = name, error = %e, "page failed to render");
            PageResponse::text(500, "this page could not be shown")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_escape_what_they_show() {
        let html = render(
            "not_found",
            serde_json::json!({"lang": "en", "brand": "<b>Shop</b>", "message": "\"'&<>"}),
        )
        .unwrap();
        assert!(html.contains("&lt;b&gt;Shop"), "{html}");
        assert!(!html.contains("<b>Shop"));
        assert!(html.contains("&quot;&#x27;&amp;&lt;&gt;"), "{html}");
    }
}
