//! YAML in and out: [`parse`] (syntax, types, unknown fields, then the checks of
//! `validate`) and [`to_yaml`].

use serde_saphyr::{DefaultMessageFormatter, MessageFormatter, Spanned};

use super::DeclError;
use super::document::Document;
use super::source::{Node, Source};
use super::validate::validate;

/// Parse and check a configuration document. Everything that can be checked without the
/// database is checked here; references to resources that may already exist in the
/// database (roles, users, Api permissions…) are checked by `apply`.
pub fn parse(yaml: &str) -> Result<Document, DeclError> {
    // A second, schema-less read of the same text gives the location of every node.
    let source = serde_saphyr::from_str::<Spanned<Node>>(yaml)
        .map(Source::from_tree)
        .unwrap_or_default();
    let mut doc = serde_saphyr::from_str::<Document>(yaml).map_err(|e| serde_error(&e, &source))?;
    doc.source = source;
    validate(&doc)?;
    Ok(doc)
}

/// Write a document as YAML (block style, two-space indentation).
pub fn to_yaml(doc: &Document) -> Result<String, DeclError> {
    let options = serde_saphyr::ser_options! {
        compact_list_indent: false,
        prefer_block_scalars: false,
    };
    serde_saphyr::to_string_with_options(doc, options).map_err(|e| DeclError {
        line: None,
        column: None,
        path: String::new(),
        reason: format!("cannot write YAML: {e}"),
    })
}

fn serde_error(e: &serde_saphyr::Error, source: &Source) -> DeclError {
    let message: String = DefaultMessageFormatter
        .format_message(e.without_snippet())
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let loc = e.location().filter(|l| l.line() > 0);
    DeclError {
        line: loc.map(|l| l.line()),
        column: loc.map(|l| l.column()),
        path: loc
            .map(|l| source.path_at(&l, &message).to_string())
            .unwrap_or_default(),
        reason: message,
    }
}
