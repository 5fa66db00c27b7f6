//! The page machinery: one minijinja [`Environment`] (templates embedded at build time,
//! HTML autoescape on every template) held in the router state, the chrome every page
//! shares (language, branding, language links), and the headers every page carries: the
//! Content-Security-Policy (no inline style or script anywhere; `form-action` widened to
//! the validated redirect URI's origin on pages that continue an authorization),
//! `Cache-Control: no-store`, and the CSRF and language cookies (a form page keeps the
//! request's well-formed CSRF token rather than minting one per render).

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_api::ApiContext;
use clavis_core::model::{Organization, Tenant};
use minijinja::value::{Kwargs, Serde, Value};
use minijinja::{AutoEscape, Environment, Error, ErrorKind, State, UndefinedBehavior, context};
use serde::Serialize;

use crate::branding::{self, BrandView};
use crate::i18n::{self, Catalogues, LOCALE_COOKIE, LOCALES, LocaleSources, Messages};

/// The templates, embedded.
pub(crate) const TEMPLATES: &[(&str, &str)] = &[
    ("layout.html", include_str!("../templates/layout.html")),
    ("_field.html", include_str!("../templates/_field.html")),
    ("_hidden.html", include_str!("../templates/_hidden.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("password.html", include_str!("../templates/password.html")),
    (
        "login_code.html",
        include_str!("../templates/login_code.html"),
    ),
    ("signup.html", include_str!("../templates/signup.html")),
    (
        "verify_email.html",
        include_str!("../templates/verify_email.html"),
    ),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("reset.html", include_str!("../templates/reset.html")),
    (
        "change_password.html",
        include_str!("../templates/change_password.html"),
    ),
    ("consent.html", include_str!("../templates/consent.html")),
    ("logout.html", include_str!("../templates/logout.html")),
    ("message.html", include_str!("../templates/message.html")),
    ("error.html", include_str!("../templates/error.html")),
];

/// The stylesheet of every page, served at [`CSS_PATH`].
pub(crate) const CSS: &str = include_str!("../assets/clavis.css");
pub(crate) const CSS_PATH: &str = "/assets/clavis.css";

/// Everything the pages need, built once per process.
#[derive(Debug)]
pub struct Web {
    pub ctx: ApiContext,
    env: Environment<'static>,
    pub catalogues: Arc<Catalogues>,
    /// `?v=` of the stylesheet URL: changes with its content, so it can be cached long.
    css_version: String,
}

/// The router state: one shared [`Web`].
#[derive(Debug, Clone)]
pub struct WebState(pub Arc<Web>);

impl std::ops::Deref for WebState {
    type Target = Web;
    fn deref(&self) -> &Web {
        &self.0
    }
}

/// `t("key", name=value, …)`: the page's text for `key` with placeholders filled. The
/// result is plain text, escaped on output like any value.
fn translate(state: &State, key: &str, kwargs: Kwargs) -> Result<String, Error> {
    let msgs = state
        .lookup("msgs")
        .ok_or_else(|| Error::new(ErrorKind::UndefinedError, "no messages in the context"))?;
    let msgs = msgs
        .downcast_object_ref::<Messages>()
        .ok_or_else(|| Error::new(ErrorKind::InvalidOperation, "msgs is not Messages"))?;
    let raw = msgs
        .raw(key)
        .ok_or_else(|| Error::new(ErrorKind::UndefinedError, format!("no message `{key}`")))?;
    let mut args = Vec::new();
    for name in kwargs.args() {
        let v: Value = kwargs.get(name)?;
        args.push((name.to_owned(), v.to_string()));
    }
    Ok(i18n::fill(raw, |n| {
        args.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone())
    }))
}

/// Escape text for HTML element content and quoted attribute values: `& < > " '`.
pub(crate) fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            c => out.push(c),
        }
    }
    out
}

/// Output of `{{ … }}`: strings are escaped for HTML (every attribute of the templates is
/// quoted), `none` prints nothing; anything else goes through minijinja's own escaping
/// formatter.
fn formatter(out: &mut minijinja::Output, state: &mut State, value: &Value) -> Result<(), Error> {
    if value.is_none() {
        return Ok(());
    }
    if let (AutoEscape::Html, false, Some(s)) =
        (state.auto_escape(), value.is_safe(), value.as_str())
    {
        return out
            .write_str(&html_escape(s))
            .map_err(|_| Error::new(ErrorKind::WriteFailure, "page output failed"));
    }
    minijinja::escape_formatter(out, state, value)
}

/// The environment every page renders with.
pub(crate) fn environment() -> Environment<'static> {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| AutoEscape::Html);
    env.set_formatter(formatter);
    env.set_undefined_behavior(UndefinedBehavior::SemiStrict);
    env.add_function("t", translate);
    for (name, src) in TEMPLATES {
        if let Err(e) = env.add_template(name, src) {
            tracing::error!(template = name, error = %e, "page template does not compile");
        }
    }
    env
}

/// A language link of the layout.
#[derive(Debug, Serialize)]
struct LanguageLink {
    code: &'static str,
    name: &'static str,
    href: String,
    current: bool,
}

/// What every page shares: tenant, language, branding, where the language links go.
#[derive(Debug, Clone)]
pub struct Chrome {
    /// `/t/{tenant}` (empty when the tenant is unknown).
    pub base: String,
    pub msgs: Messages,
    pub brand: BrandView,
    /// Extra `form-action` source: the origin of the validated redirect URI when the
    /// page continues an authorization (browsers apply `form-action` to the redirects
    /// that follow a form submission).
    pub form_origin: Option<String>,
    /// This page's GET address (path and query without `ui_locales`).
    pub self_url: String,
    /// The page was asked for with `ui_locales`: remember the language in a cookie.
    pub remember_locale: Option<&'static str>,
    /// The CSRF token the request's cookie carries: a form page reuses it when it is
    /// well formed, so a page opened in another tab does not break this one's form.
    pub csrf_cookie: Option<String>,
}

impl Chrome {
    pub fn text(&self, key: &str, args: &[(&str, &str)]) -> String {
        self.msgs.text(key, args)
    }
    pub fn locale(&self) -> &'static str {
        self.msgs.locale
    }
}

/// What the chrome of a page is built from.
#[derive(Debug, Default)]
pub struct ChromeInput<'a> {
    pub tenant: Option<&'a Tenant>,
    pub headers: Option<&'a HeaderMap>,
    pub org: Option<&'a Organization>,
    /// `ui_locales` of the page's query.
    pub query_locale: Option<&'a str>,
    /// `ui_locales` of the authorization request the page continues.
    pub authorize_locale: Option<&'a str>,
    /// The page's GET path and query parameters (any `ui_locales` among them is dropped).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub redirect_uri: Option<&'a str>,
}

/// A source for CSP `form-action` from a (validated) redirect URI: its origin for http(s),
/// its scheme for a native application's private-use scheme. Nothing that could end the
/// directive (`;`, `,`, quotes, spaces) passes.
pub fn csp_source(uri: &str) -> Option<String> {
    let u = url::Url::parse(uri).ok()?;
    let source = match u.scheme() {
        "http" | "https" => u.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    source
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"+-.:/[]".contains(&b))
        .then_some(source)
}

fn csp(form_origin: Option<&str>) -> String {
    format!(
        "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
        form_origin.map(|o| format!(" {o}")).unwrap_or_default()
    )
}

/// A page to render.
#[derive(Debug)]
pub struct Page {
    pub template: &'static str,
    pub status: StatusCode,
    /// The `<title>` (before the brand name).
    pub title: String,
    pub vars: Value,
    /// The page holds a form: issue a CSRF token (`csrf` in the template) and its cookie.
    pub form: bool,
}

impl Page {
    pub fn new(template: &'static str, title: String, vars: Value) -> Self {
        Self {
            template,
            status: StatusCode::OK,
            title,
            vars,
            form: false,
        }
    }
    pub fn form(mut self) -> Self {
        self.form = true;
        self
    }
    pub fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

/// A link on a message or error page.
#[derive(Debug, Clone, Serialize)]
pub struct Link {
    pub id: &'static str,
    pub href: String,
    pub text: String,
}

impl Web {
    pub fn new(ctx: ApiContext) -> Self {
        let digest = clavis_crypto::sha256(CSS.as_bytes());
        Self {
            ctx,
            env: environment(),
            catalogues: Arc::new(Catalogues::load()),
            css_version: digest.iter().take(6).map(|b| format!("{b:02x}")).collect(),
        }
    }

    /// The chrome of a page: language (see [`i18n::choose`]), branding, language links.
    pub async fn chrome(&self, i: ChromeInput<'_>) -> Chrome {
        let header = |name: header::HeaderName| {
            i.headers
                .and_then(|h| h.get(name))
                .and_then(|v| v.to_str().ok())
        };
        let cookie = i.headers.and_then(|h| clavis_api::cookie(h, LOCALE_COOKIE));
        let locale = i18n::choose(LocaleSources {
            query: i.query_locale,
            authorize: i.authorize_locale,
            cookie: cookie.as_deref(),
            accept_language: header(header::ACCEPT_LANGUAGE),
            tenant_default: i
                .tenant
                .map(|t| t.settings.universal_login.default_locale.as_str()),
        });
        let brand = match i.tenant {
            Some(t) => branding::load(&self.ctx.core, t, i.org).await,
            None => branding::Brand {
                view: BrandView {
                    name: "Clavis".to_owned(),
                    ..BrandView::default()
                },
                ..branding::Brand::default()
            },
        };
        let query: Vec<(String, String)> = i
            .query
            .into_iter()
            .filter(|(k, _)| k != "ui_locales")
            .collect();
        let self_url = if query.is_empty() {
            i.path
        } else {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(&query)
                .finish();
            format!("{}?{q}", i.path)
        };
        Chrome {
            base: i
                .tenant
                .map(|t| format!("/t/{}", t.slug))
                .unwrap_or_default(),
            msgs: Messages::new(self.catalogues.clone(), locale, brand.texts(locale)),
            brand: brand.view,
            form_origin: i.redirect_uri.and_then(csp_source),
            self_url,
            remember_locale: i.tenant.and(i.query_locale).and_then(i18n::from_ui_locales),
            csrf_cookie: i.headers.and_then(clavis_api::csrf::token_of),
        }
    }

    fn languages(&self, chrome: &Chrome) -> Vec<LanguageLink> {
        let sep = if chrome.self_url.contains('?') {
            '&'
        } else {
            '?'
        };
        LOCALES
            .iter()
            .map(|(code, name)| LanguageLink {
                code,
                name,
                href: format!("{}{sep}ui_locales={code}", chrome.self_url),
                current: *code == chrome.locale(),
            })
            .collect()
    }

    /// Render a page with the chrome and its headers.
    pub fn render(&self, chrome: &Chrome, page: Page) -> Response {
        let secure = self.ctx.secure_cookies();
        let mut cookies = Vec::new();
        let csrf = if page.form {
            let path = format!("{}/", chrome.base);
            let (token, cookie) = clavis_api::csrf::issue_or_reuse(
                &*self.ctx.core.rng,
                secure,
                &path,
                chrome.csrf_cookie.as_deref(),
            );
            cookies.extend(cookie);
            token
        } else {
            String::new()
        };
        if let Some(l) = chrome.remember_locale {
            let cookie = format!(
                "{LOCALE_COOKIE}={l}; Path={}/; Max-Age=31536000; HttpOnly; SameSite=Lax{}",
                chrome.base,
                if secure { "; Secure" } else { "" }
            );
            cookies.extend(HeaderValue::from_str(&cookie).ok());
        }
        let vars = context! {
            lang => chrome.locale(),
            msgs => Value::from_object(chrome.msgs.clone()),
            brand => Value::from(Serde(&chrome.brand)),
            languages => Value::from(Serde(self.languages(chrome))),
            title => page.title,
            base => chrome.base.clone(),
            asset_css => format!("{CSS_PATH}?v={}", self.css_version),
            csrf => csrf,
            ..page.vars
        };
        let html = self
            .env
            .get_template(page.template)
            .and_then(|t| t.render(vars));
        let (status, body) = match html {
            Ok(html) => (page.status, html),
            Err(e) => {
                tracing::error!(template = page.template, error = %e, "page did not render");
                return internal_error();
            }
        };
        let mut resp = (status, body).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        if let Ok(v) = HeaderValue::from_str(&csp(chrome.form_origin.as_deref())) {
            h.insert(header::CONTENT_SECURITY_POLICY, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        for c in cookies {
            h.append(header::SET_COOKIE, c);
        }
        resp
    }

    /// The error page: a title, what happened, what to do, optionally an error code.
    pub fn error(
        &self,
        chrome: &Chrome,
        status: StatusCode,
        kind: &str,
        what: Option<String>,
        code: Option<&str>,
    ) -> Response {
        let key = |part: &str| format!("error.{kind}.{part}");
        let title_key = if chrome.msgs.raw(&key("title")).is_some() {
            key("title")
        } else {
            "error.internal.title".to_owned()
        };
        let title = chrome.text(&title_key, &[]);
        let what = what.unwrap_or_else(|| chrome.text(&key("body"), &[]));
        let page = Page::new(
            "error.html",
            title.clone(),
            context! {
                title => title,
                what => what,
                advice => chrome.text(&key("advice"), &[]),
                code => code,
                links => Serde(Vec::<Link>::new()),
            },
        )
        .status(status);
        self.render(chrome, page)
    }

    /// 429 with `Retry-After`: too many attempts (`locked`: this account is locked).
    pub fn too_many(&self, chrome: &Chrome, retry_after_secs: i64, locked: bool) -> Response {
        let secs = retry_after_secs.max(1);
        let minutes = ((secs + 59) / 60).to_string();
        let title = chrome.text("error.throttled.title", &[]);
        let what = chrome.text(
            if locked {
                "error.locked.body"
            } else {
                "error.throttled.body"
            },
            &[],
        );
        let page = Page::new(
            "error.html",
            title.clone(),
            context! {
                title => title,
                what => what,
                advice => chrome.text("error.retry.advice", &[("minutes", &minutes)]),
                code => None::<&str>,
                links => Serde(Vec::<Link>::new()),
            },
        )
        .status(StatusCode::TOO_MANY_REQUESTS);
        let mut resp = self.render(chrome, page);
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            resp.headers_mut().insert(header::RETRY_AFTER, v);
        }
        resp
    }

    /// A page that says something happened, with links onwards.
    pub fn message(
        &self,
        chrome: &Chrome,
        title_key: &str,
        paragraphs: Vec<String>,
        links: Vec<Link>,
    ) -> Response {
        let title = chrome.text(title_key, &[]);
        self.render(
            chrome,
            Page::new(
                "message.html",
                title.clone(),
                context! { title => title, paragraphs => paragraphs, links => Serde(links) },
            ),
        )
    }
}

/// The last resort when a template fails (a bug the template tests rule out).
pub fn internal_error() -> Response {
    let mut resp = (
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong. The problem has been recorded; try again in a moment.",
    )
        .into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    resp
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        let env = environment();
        for (name, _) in TEMPLATES {
            env.get_template(name).expect(name);
        }
    }

    #[test]
    fn every_text_the_templates_use_is_in_the_catalogue() {
        let c = Catalogues::load();
        for (name, src) in TEMPLATES {
            for part in src.split("t(\"").skip(1) {
                let key = part.split('"').next().unwrap();
                assert!(c.has(key), "{name} uses the unknown key {key}");
            }
            assert!(!src.contains("style="), "{name} has an inline style");
            assert!(!src.contains("<style"), "{name} has a style element");
            assert!(!src.contains("<script"), "{name} has a script");
            assert!(
                !src.contains("|safe") && !src.contains("| safe"),
                "{name} marks text safe"
            );
        }
    }

    #[test]
    fn values_are_escaped_and_paths_stay_readable() {
        let env = environment();
        let out = env
            .render_str(
                "<a href=\"{{ u }}\" title='{{ u }}'>{{ u }}</a>{{ n }}{{ none }}",
                context! { u => "/t/a?x=1&y=\"><img onerror='1'>", n => 3 },
            )
            .unwrap();
        assert_eq!(
            out,
            "<a href=\"/t/a?x=1&amp;y=&quot;&gt;&lt;img onerror=&#x27;1&#x27;&gt;\" title='/t/a?x=1&amp;y=&quot;&gt;&lt;img onerror=&#x27;1&#x27;&gt;'>/t/a?x=1&amp;y=&quot;&gt;&lt;img onerror=&#x27;1&#x27;&gt;</a>3"
        );
    }

    #[test]
    fn form_action_sources_are_origins_or_schemes() {
        assert_eq!(
            csp_source("https://rp.example.com:8443/cb?x=1").as_deref(),
            Some("https://rp.example.com:8443")
        );
        assert_eq!(
            csp_source("com.example.app:/callback").as_deref(),
            Some("com.example.app:")
        );
        assert_eq!(csp_source("not a url"), None);
        assert_eq!(
            csp(Some("https://a.example")),
            "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' https://a.example; frame-ancestors 'none'; base-uri 'none'"
        );
    }
}
