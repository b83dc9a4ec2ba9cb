//! The page templates, embedded in the binary. Names ending in `.html` are autoescaped (HTML);
//! the stylesheet is our own text, included as is.

use std::sync::OnceLock;

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value};
use serde::Serialize;

use crate::WebError;

const TEMPLATES: &[(&str, &str)] = &[
    ("style.css", include_str!("../templates/style.css")),
    ("base.html", include_str!("../templates/base.html")),
    ("plot.html", include_str!("../templates/plot.html")),
    ("index.html", include_str!("../templates/index.html")),
    ("run.html", include_str!("../templates/run.html")),
    ("artifact.html", include_str!("../templates/artifact.html")),
    (
        "signatures.html",
        include_str!("../templates/signatures.html"),
    ),
    ("phases.html", include_str!("../templates/phases.html")),
    ("boots.html", include_str!("../templates/boots.html")),
];

fn env() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        // A misspelt field is a bug, not an empty string.
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_syntax(
            minijinja::syntax::SyntaxConfig::builder()
                .trim_blocks(true)
                .lstrip_blocks(true)
                .build()
                .expect("default delimiters"),
        );
        for (name, source) in TEMPLATES {
            env.add_template(name, source)
                .unwrap_or_else(|e| panic!("embedded template {name}: {e:#}"));
        }
        env
    })
}

pub(crate) fn render(name: &str, ctx: impl Serialize) -> Result<String, WebError> {
    let err = |e| WebError::Template {
        name: name.to_string(),
        source: e,
    };
    env()
        .get_template(name)
        .map_err(err)?
        .render(Value::from(minijinja::value::Serde(ctx)))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    /// Every embedded template parses.
    #[test]
    fn templates_compile() {
        let env = super::env();
        for (name, _) in super::TEMPLATES {
            env.get_template(name).unwrap();
        }
    }
}
