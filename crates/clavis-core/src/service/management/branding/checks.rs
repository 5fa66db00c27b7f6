//! What branding settings may contain. Branding is shown on the login pages of every user
//! of a tenant (or organization), so everything is refused that could carry markup, load
//! something from elsewhere or escape its own stylesheet:
//! - colours are `#rrggbb` (stored lower case);
//! - the display name and custom texts are plain text: 1–[`MAX_TEXT_CHARS`] characters,
//!   no `<` or `>`, no control characters (pages escape them too);
//! - custom CSS is at most [`MAX_CSS_BYTES`] and is refused if it contains `<`, `@import`,
//!   `url(` other than `url(data:image/png|jpeg|gif|webp…)`, `image-set(`, `expression(`,
//!   `javascript:`, a `\` escape (which could spell any of those), a control character, or
//!   braces that do not balance (a `}` closing more blocks than were opened could end the
//!   page's own rules).

use std::collections::BTreeMap;

use crate::CoreError;

/// Longest display name or custom text, in characters.
pub const MAX_TEXT_CHARS: usize = 200;
/// Largest custom CSS, in bytes.
pub const MAX_CSS_BYTES: usize = 16 * 1024;
/// Most locales in `custom_text`.
pub const MAX_TEXT_LOCALES: usize = 20;
/// Most replaced messages per locale.
pub const MAX_TEXTS_PER_LOCALE: usize = 200;

/// A `#rrggbb` colour, lower-cased.
pub fn colour(field: &str, v: &str) -> Result<String, CoreError> {
    let ok = v.len() == 7 && v.starts_with('#') && v.bytes().skip(1).all(|b| b.is_ascii_hexdigit());
    if ok {
        Ok(v.to_ascii_lowercase())
    } else {
        Err(CoreError::invalid(
            field,
            "must be a colour written `#rrggbb`",
        ))
    }
}

/// Plain text of 1–200 characters (trimmed).
pub fn plain_text(field: &str, v: &str) -> Result<String, CoreError> {
    let v = v.trim();
    if v.is_empty() {
        return Err(CoreError::invalid(field, "must not be empty"));
    }
    if v.chars().count() > MAX_TEXT_CHARS {
        return Err(CoreError::invalid(
            field,
            format!("must be at most {MAX_TEXT_CHARS} characters"),
        ));
    }
    if v.chars().any(|c| c == '<' || c == '>' || c.is_control()) {
        return Err(CoreError::invalid(
            field,
            "must be plain text: no `<`, `>` or control characters",
        ));
    }
    Ok(v.to_owned())
}

/// A locale tag such as `en`, `fr` or `fr-CA`.
fn locale(v: &str) -> bool {
    let mut parts = v.split('-');
    let lang_ok = parts
        .next()
        .is_some_and(|l| (2..=3).contains(&l.len()) && l.bytes().all(|b| b.is_ascii_lowercase()));
    let rest: Vec<&str> = parts.collect();
    lang_ok
        && rest.len() <= 1
        && rest
            .iter()
            .all(|r| (2..=8).contains(&r.len()) && r.bytes().all(|b| b.is_ascii_alphanumeric()))
}

/// A message key such as `login.title`.
fn message_key(v: &str) -> bool {
    (1..=100).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

/// Custom texts: locale → message key → plain text.
pub fn custom_text(
    texts: BTreeMap<String, BTreeMap<String, String>>,
) -> Result<BTreeMap<String, BTreeMap<String, String>>, CoreError> {
    if texts.len() > MAX_TEXT_LOCALES {
        return Err(CoreError::invalid(
            "custom_text",
            format!("at most {MAX_TEXT_LOCALES} locales"),
        ));
    }
    let mut out = BTreeMap::new();
    for (loc, messages) in texts {
        if !locale(&loc) {
            return Err(CoreError::invalid(
                "custom_text",
                format!(
                    "`{}` is not a locale such as `en` or `fr-CA`",
                    printable(&loc)
                ),
            ));
        }
        if messages.len() > MAX_TEXTS_PER_LOCALE {
            return Err(CoreError::invalid(
                format!("custom_text.{loc}"),
                format!("at most {MAX_TEXTS_PER_LOCALE} messages"),
            ));
        }
        let mut checked = BTreeMap::new();
        for (key, text) in messages {
            if !message_key(&key) {
                return Err(CoreError::invalid(
                    format!("custom_text.{loc}"),
                    format!(
                        "`{}` is not a message key (lower-case letters, digits, `.`, `_`, `-`)",
                        printable(&key)
                    ),
                ));
            }
            let text = plain_text(&format!("custom_text.{loc}.{key}"), &text)?;
            checked.insert(key, text);
        }
        out.insert(loc, checked);
    }
    Ok(out)
}

/// A short, printable rendering of refused input for an error message.
fn printable(v: &str) -> String {
    v.chars().filter(|c| !c.is_control()).take(40).collect()
}

/// Image types a `data:` URL in custom CSS may carry.
const DATA_IMAGES: [&str; 5] = [
    "data:image/png",
    "data:image/jpeg",
    "data:image/jpg",
    "data:image/gif",
    "data:image/webp",
];

/// Custom CSS that cannot load anything from elsewhere or escape its stylesheet.
pub fn custom_css(css: &str) -> Result<String, CoreError> {
    let refuse = |why: &str| Err(CoreError::invalid("custom_css", why.to_owned()));
    if css.len() > MAX_CSS_BYTES {
        return Err(CoreError::invalid(
            "custom_css",
            format!("must be at most {MAX_CSS_BYTES} bytes"),
        ));
    }
    if css.contains('<') {
        return refuse("must not contain `<`");
    }
    if css.contains('\\') {
        return refuse("must not contain `\\` escapes");
    }
    if css
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return refuse("must not contain control characters");
    }
    // CSS keywords and function names are case-insensitive; `\` escapes are refused above,
    // so the lower-cased text is what a browser would read.
    let lower = css.to_ascii_lowercase();
    for (needle, why) in [
        ("@import", "must not contain `@import`"),
        ("expression(", "must not contain `expression(`"),
        ("javascript:", "must not contain `javascript:`"),
        ("image-set(", "must not contain `image-set(`"),
    ] {
        if lower.contains(needle) {
            return refuse(why);
        }
    }
    for (at, _) in lower.match_indices("url(") {
        let arg = lower[at + 4..].trim_start_matches([' ', '\t', '\n', '\r', '"', '\'']);
        if !DATA_IMAGES.iter().any(|p| {
            arg.strip_prefix(p)
                .is_some_and(|rest| rest.starts_with([';', ',']))
        }) {
            return refuse(
                "`url(` may only hold a `data:image/…` URL of a PNG, JPEG, GIF or WebP image",
            );
        }
    }
    let mut depth: i64 = 0;
    for b in css.bytes() {
        match b {
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth < 0 {
                    return refuse("a `}` closes a block that was never opened");
                }
            }
            _ => {}
        }
    }
    if depth != 0 {
        return refuse("a `{` opens a block that is never closed");
    }
    Ok(css.to_owned())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn colours_are_rrggbb() {
        assert_eq!(colour("c", "#A0b1C2").unwrap(), "#a0b1c2");
        for bad in [
            "",
            "#fff",
            "a0b1c2",
            "#a0b1c2ff",
            "#g0b1c2",
            "red",
            "#a0b1c",
            " #a0b1c2",
        ] {
            assert!(colour("c", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn texts_are_plain() {
        assert_eq!(plain_text("t", "  Acme Login ").unwrap(), "Acme Login");
        assert!(plain_text("t", "Café ☕ — ok").is_ok());
        for bad in [
            "",
            "  ",
            "<b>x</b>",
            "a > b",
            "line\nbreak",
            "nul\0",
            "\u{1b}[31m",
        ] {
            assert!(plain_text("t", bad).is_err(), "{bad:?}");
        }
        assert!(plain_text("t", &"é".repeat(200)).is_ok());
        assert!(plain_text("t", &"é".repeat(201)).is_err());
    }

    #[test]
    fn custom_text_keys_and_locales() {
        let one = |loc: &str, key: &str, text: &str| {
            BTreeMap::from([(
                loc.to_owned(),
                BTreeMap::from([(key.to_owned(), text.to_owned())]),
            )])
        };
        assert!(custom_text(one("fr", "login.title", "Bienvenue")).is_ok());
        assert!(custom_text(one("fr-CA", "login.title", "Bienvenue")).is_ok());
        assert!(custom_text(one("FR", "login.title", "x")).is_err());
        assert!(custom_text(one("fr", "Login Title", "x")).is_err());
        assert!(custom_text(one("fr", "login.title", "<script>")).is_err());
        assert!(custom_text(one("en-", "a", "x")).is_err());
    }

    #[test]
    fn safe_css_is_kept() {
        for ok in [
            ".card { border-radius: 0; color: #123456 }",
            "@media (max-width: 600px) { .card { padding: 0 } }",
            "h1 { background: url(data:image/png;base64,iVBORw0KGgo=) }",
            "h1 { background: URL( \"data:image/webp;base64,UklGR\" ) }",
            "",
        ] {
            assert_eq!(custom_css(ok).unwrap(), ok);
        }
    }

    #[test]
    fn hostile_css_is_refused() {
        for bad in [
            "</style><script>alert(1)</script>",
            "@import 'https://evil.test/x.css';",
            "@IMPORT url(x.css);",
            "body { background: url(https://evil.test/track.png) }",
            "body { background: url('//evil.test/x') }",
            "body { background: url(data:text/html,hi) }",
            "body { background: url(data:image/svg+xml;utf8,x) }",
            "body { background: url(data:image/pngx) }",
            "body { width: expression(alert(1)) }",
            "a { background: javascript:alert(1) }",
            "body { background: u\\72l(https://evil.test) }",
            "body { background: image-set('https://evil.test/x.png' 1x) }",
            "} body { display: none }",
            ".a { color: red } } .b {",
            ".a { color: red",
            "a { color: red }\u{0}",
        ] {
            assert!(custom_css(bad).is_err(), "{bad}");
        }
        assert!(custom_css(&"a".repeat(MAX_CSS_BYTES + 1)).is_err());
        assert!(custom_css(&"a".repeat(MAX_CSS_BYTES)).is_ok());
    }
}
