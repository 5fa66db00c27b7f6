//! Languages of the hosted pages: the message catalogues (`locales/{en,fr}.json`, flat
//! key → text with `{placeholder}`s), the choice of a language for a request, and the
//! per-request [`Messages`] carrying the tenant's and organization's replacement texts.
//! Texts are plain text: templates escape them like any other value, so neither a
//! catalogue nor a tenant's custom text can inject markup.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// The languages offered, with their names in their own language.
pub const LOCALES: &[(&str, &str)] = &[("en", "English"), ("fr", "Français")];

/// The cookie remembering the language chosen with the language links.
pub const LOCALE_COOKIE: &str = "clavis_locale";

const EN: &str = include_str!("../locales/en.json");
const FR: &str = include_str!("../locales/fr.json");

/// The message catalogues, parsed once.
#[derive(Debug, Default)]
pub struct Catalogues {
    by_locale: HashMap<&'static str, HashMap<String, String>>,
}

fn parse(locale: &str, src: &str) -> HashMap<String, String> {
    serde_json::from_str(src).unwrap_or_else(|e| {
        tracing::error!(locale, error = %e, "message catalogue does not parse");
        HashMap::new()
    })
}

impl Catalogues {
    pub fn load() -> Self {
        Self {
            by_locale: HashMap::from([("en", parse("en", EN)), ("fr", parse("fr", FR))]),
        }
    }

    /// The text of `key` in `locale`, else in English.
    pub fn get(&self, locale: &str, key: &str) -> Option<&str> {
        self.by_locale
            .get(locale)
            .and_then(|c| c.get(key))
            .or_else(|| self.by_locale.get("en").and_then(|c| c.get(key)))
            .map(String::as_str)
    }

    /// Whether `key` is a catalogue key (custom text may replace only those).
    pub fn has(&self, key: &str) -> bool {
        self.get("en", key).is_some()
    }
}

/// The offered locale a language tag (`fr-CA`, `EN`) asks for.
pub fn supported(tag: &str) -> Option<&'static str> {
    let primary = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
    LOCALES
        .iter()
        .map(|(code, _)| *code)
        .find(|code| *code == primary)
}

/// The first offered locale of a space-separated `ui_locales` list.
pub fn from_ui_locales(list: &str) -> Option<&'static str> {
    list.split_whitespace().find_map(supported)
}

/// The offered locale an `Accept-Language` header prefers most (q-values honoured).
pub fn from_accept_language(header: &str) -> Option<&'static str> {
    let mut best: Option<(u32, &'static str)> = None;
    for item in header.split(',').take(32) {
        let mut parts = item.split(';');
        let Some(locale) = parts.next().and_then(supported) else {
            continue;
        };
        let q = parts
            .find_map(|p| p.trim().strip_prefix("q="))
            .and_then(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        // Thousandths, so equal weights keep the header's order.
        let weight = (q.clamp(0.0, 1.0) * 1000.0) as u32;
        if weight > 0 && best.is_none_or(|(w, _)| weight > w) {
            best = Some((weight, locale));
        }
    }
    best.map(|(_, l)| l)
}

/// Where a request's language may come from, most specific first.
#[derive(Debug, Default, Clone, Copy)]
pub struct LocaleSources<'a> {
    /// `ui_locales` in the page's own query (the language links).
    pub query: Option<&'a str>,
    /// `ui_locales` of the authorization request the page continues.
    pub authorize: Option<&'a str>,
    pub cookie: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// The tenant's `universal_login.default_locale`.
    pub tenant_default: Option<&'a str>,
}

/// The language of a page: `ui_locales` (query, then the authorization request), the
/// `clavis_locale` cookie, `Accept-Language`, the tenant's default, English.
pub fn choose(s: LocaleSources<'_>) -> &'static str {
    s.query
        .and_then(from_ui_locales)
        .or_else(|| s.authorize.and_then(from_ui_locales))
        .or_else(|| s.cookie.and_then(supported))
        .or_else(|| s.accept_language.and_then(from_accept_language))
        .or_else(|| s.tenant_default.and_then(supported))
        .unwrap_or("en")
}

/// Replace each `{name}` whose value `lookup` knows; anything else stays as written.
pub fn fill(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(after.len());
        let value = (name_len > 0 && after[name_len..].starts_with('}'))
            .then(|| lookup(&after[..name_len]))
            .flatten();
        match value {
            Some(v) => {
                out.push_str(&v);
                rest = &after[name_len + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// The texts of one page: a catalogue language plus replacement texts (tenant's,
/// overridden by the organization's).
#[derive(Debug, Clone)]
pub struct Messages {
    catalogues: Arc<Catalogues>,
    pub locale: &'static str,
    custom: BTreeMap<String, String>,
}

impl Messages {
    pub fn new(
        catalogues: Arc<Catalogues>,
        locale: &'static str,
        custom: BTreeMap<String, String>,
    ) -> Self {
        Self {
            catalogues,
            locale,
            custom,
        }
    }

    /// The text of `key` before placeholders are filled.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.custom
            .get(key)
            .filter(|_| self.catalogues.has(key))
            .map(String::as_str)
            .or_else(|| self.catalogues.get(self.locale, key))
    }

    /// The text of `key` with `args` filled in (the key itself when it is unknown, which
    /// the catalogue tests rule out for the keys the code uses).
    pub fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        match self.raw(key) {
            Some(t) => fill(t, |name| {
                args.iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }),
            None => {
                tracing::warn!(key, "no message for this key");
                key.to_owned()
            }
        }
    }
}

impl minijinja::value::Object for Messages {
    fn get_value(self: &Arc<Self>, key: &minijinja::Value) -> Option<minijinja::Value> {
        self.raw(key.as_str()?).map(minijinja::Value::from)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn placeholders(s: &str) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        let marked = fill(s, |name| Some(format!("\u{1}{name}\u{2}")));
        for part in marked.split('\u{1}').skip(1) {
            if let Some((name, _)) = part.split_once('\u{2}') {
                out.insert(name.to_owned());
            }
        }
        out
    }

    #[test]
    fn catalogues_have_the_same_keys_and_placeholders() {
        let en: BTreeMap<String, String> = serde_json::from_str(EN).expect("en parses");
        let fr: BTreeMap<String, String> = serde_json::from_str(FR).expect("fr parses");
        assert!(en.len() > 50, "en has {} keys", en.len());
        let en_keys: BTreeSet<_> = en.keys().collect();
        let fr_keys: BTreeSet<_> = fr.keys().collect();
        assert_eq!(
            en_keys.symmetric_difference(&fr_keys).collect::<Vec<_>>(),
            Vec::<&&String>::new(),
            "keys only in one catalogue"
        );
        for (k, v) in &en {
            assert_eq!(placeholders(v), placeholders(&fr[k]), "placeholders of {k}");
            assert!(
                !v.trim().is_empty() && !fr[k].trim().is_empty(),
                "{k} is empty"
            );
            assert!(
                !v.contains('<') && !fr[k].contains('<'),
                "{k}: texts are plain"
            );
        }
    }

    #[test]
    fn language_choice_follows_the_order() {
        let all = LocaleSources {
            query: Some("fr"),
            authorize: Some("en"),
            cookie: Some("en"),
            accept_language: Some("en"),
            tenant_default: Some("en"),
        };
        assert_eq!(choose(all), "fr");
        assert_eq!(
            choose(LocaleSources {
                query: Some("de"),
                ..all
            }),
            "en"
        );
        let later = LocaleSources {
            query: None,
            authorize: Some("de fr-CA"),
            ..all
        };
        assert_eq!(choose(later), "fr");
        let cookie = LocaleSources {
            cookie: Some("fr"),
            ..LocaleSources::default()
        };
        assert_eq!(choose(cookie), "fr");
        let accept = LocaleSources {
            accept_language: Some("de-DE, en;q=0.5, fr;q=0.8"),
            tenant_default: Some("en"),
            ..LocaleSources::default()
        };
        assert_eq!(choose(accept), "fr");
        let default = LocaleSources {
            accept_language: Some("de, *;q=0.1"),
            tenant_default: Some("fr"),
            ..LocaleSources::default()
        };
        assert_eq!(choose(default), "fr");
        assert_eq!(choose(LocaleSources::default()), "en");
        assert_eq!(from_accept_language("fr;q=0, en;q=0.1"), Some("en"));
    }

    #[test]
    fn placeholders_are_filled_and_unknown_braces_kept() {
        let f = |s: &str| fill(s, |n| (n == "name").then(|| "Ann".to_owned()));
        assert_eq!(f("Hi {name}!"), "Hi Ann!");
        assert_eq!(f("{other} {name} {"), "{other} Ann {");
        assert_eq!(f("{}{name}}"), "{}Ann}");
    }

    #[test]
    fn custom_text_replaces_known_keys_only() {
        let c = Arc::new(Catalogues::load());
        let custom = BTreeMap::from([
            ("login.title".to_owned(), "Welcome {name}".to_owned()),
            ("no.such.key".to_owned(), "x".to_owned()),
        ]);
        let m = Messages::new(c, "fr", custom);
        assert_eq!(m.text("login.title", &[("name", "Acme")]), "Welcome Acme");
        assert_eq!(m.raw("no.such.key"), None);
    }
}
