//! The pages of the protocol endpoints (`clavis-api`: authorization errors, the logout
//! confirmation) rendered with the same templates, language and branding as the login
//! pages ([`clavis_api::HostedPages`]).

use axum::http::{HeaderMap, Uri};
use clavis_api::{ApiPage, HostedPages, PageFuture};
use clavis_core::model::Tenant;
use minijinja::context;

use crate::web::{ChromeInput, Page, WebState};

impl HostedPages for WebState {
    fn render<'a>(
        &'a self,
        tenant: Option<&'a Tenant>,
        headers: &'a HeaderMap,
        uri: &'a Uri,
        page: ApiPage,
    ) -> PageFuture<'a> {
        Box::pin(async move {
            let status = page.status();
            // The language links repeat the request; the logout confirmation repeats its
            // (validated) fields, since it may come from a POST.
            let (path, query) = match &page {
                ApiPage::LogoutConfirm { fields, .. } => (
                    uri.path().to_owned(),
                    fields
                        .iter()
                        .map(|(k, v)| ((*k).to_owned(), v.clone()))
                        .collect(),
                ),
                _ => (
                    uri.path().to_owned(),
                    url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                        .into_owned()
                        .collect::<Vec<_>>(),
                ),
            };
            let redirect_uri = match &page {
                ApiPage::LogoutConfirm { fields, .. } => fields
                    .iter()
                    .find(|(k, _)| *k == "post_logout_redirect_uri")
                    .map(|(_, v)| v.as_str()),
                _ => None,
            };
            // `ui_locales` of the request: a language link, or the authorization request's.
            let asked: Option<String> =
                url::form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
                    .find(|(k, _)| k == "ui_locales")
                    .map(|(_, v)| v.into_owned());
            let chrome = self
                .chrome(ChromeInput {
                    tenant,
                    headers: Some(headers),
                    query_locale: asked.as_deref(),
                    path,
                    query,
                    redirect_uri,
                    ..ChromeInput::default()
                })
                .await;
            match page {
                ApiPage::RequestError(e) => {
                    let what =
                        chrome.text("error.request.body", &[("description", &e.description)]);
                    self.error(
                        &chrome,
                        status,
                        "request",
                        Some(what),
                        Some(e.code.as_str()),
                    )
                }
                ApiPage::LogoutConfirm { csrf, fields } => {
                    let fields: Vec<(&str, String)> = fields;
                    let page = Page::new(
                        "logout.html",
                        chrome.text("logout.title", &[]),
                        context! { fields => fields, logout_csrf => csrf },
                    )
                    .status(status);
                    self.0.render(&chrome, page)
                }
                ApiPage::LoggedOut => self.message(
                    &chrome,
                    "logout.done_title",
                    vec![chrome.text("logout.done_body", &[])],
                    Vec::new(),
                ),
                ApiPage::FormExpired => self.error(&chrome, status, "logout_expired", None, None),
            }
        })
    }
}
