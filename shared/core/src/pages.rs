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
    /// Headers beyond the defaults every page gets (no caching, no referrer, no script); a
    /// header named here replaces its default.
    pub headers: Vec<(&'static str, String)>,
}

impl PageResponse {
    pub fn html(status: u16, body: String) -> Self {
        Self::with_type(status, "text/html; charset=utf-8", body)
    }

    pub fn text(status: u16, body: impl Into<String>) -> Self {
        Self::with_type(status, "text/plain; charset=utf-8", body.into())
    }

    pub fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::with_type(status, "application/json", body.to_string())
    }

    pub fn with_type(status: u16, content_type: &'static str, body: String) -> Self {
        Self {
            status,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    /// A `303 See Other` to `location` (after a form post, so a reload does not post again).
    pub fn see_other(location: String) -> Self {
        Self::text(303, "").header("location", location)
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value.into()));
        self
    }

    /// The value of a header this response sets itself.
    pub fn header_value(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
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

/// Renders `pages/{name}.j2`, text that is not HTML (the tracking page's stylesheet). Values
/// are still HTML-escaped, so only trusted ones belong in it.
pub fn render_text(name: &str, context: impl Serialize) -> Result<String, minijinja::Error> {
    environment()
        .get_template(&format!("pages/{name}.j2"))?
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
