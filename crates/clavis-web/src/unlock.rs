//! `GET /unlock?ticket=…`: the link of the "account blocked" email. It ends the lock and
//! the failure count of the address it was sent to, then offers to log in.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use clavis_api::Meta;
use minijinja::context;
use minijinja::value::Serde;
use serde::Deserialize;

use crate::web::{Link, Page, WebState};

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct UnlockQuery {
    ticket: Option<String>,
    ui_locales: Option<String>,
}

/// `GET /unlock?ticket=…`
pub async fn unlock(
    State(web): State<WebState>,
    Path(slug): Path<String>,
    Meta(meta): Meta,
    headers: HeaderMap,
    Query(q): Query<UnlockQuery>,
) -> Response {
    let tenant = match web.tenant(&slug, &headers, q.ui_locales.as_deref()).await {
        Ok(t) => t,
        Err(r) => return r,
    };
    // The ticket is single-use and stays out of the language links.
    let chrome = web
        .page_chrome(
            &tenant,
            &headers,
            None,
            q.ui_locales.as_deref(),
            "/unlock",
            Vec::new(),
        )
        .await;
    let login = Link {
        id: "login-link",
        href: format!("{}/login", chrome.base),
        text: chrome.text("link.login", &[]),
    };
    let ticket = q.ticket.unwrap_or_default();
    match web.ctx.core.unlock_account(&tenant, &ticket, &meta).await {
        Ok(true) => web.message(
            &chrome,
            "unlock.done_title",
            vec![chrome.text("unlock.done_body", &[])],
            vec![login],
        ),
        Ok(false) => {
            let title = chrome.text("link.invalid_title", &[]);
            let page = Page::new(
                "error.html",
                title.clone(),
                context! {
                    title => title,
                    what => chrome.text("unlock.invalid", &[]),
                    advice => chrome.text("unlock.invalid_advice", &[]),
                    code => None::<&str>,
                    links => Serde(vec![Link {
                        id: "forgot-password",
                        href: format!("{}/password/forgot", chrome.base),
                        text: chrome.text("login.forgot", &[]),
                    }]),
                },
            )
            .status(StatusCode::BAD_REQUEST);
            web.render(&chrome, page)
        }
        Err(e) => web.internal(Some(&tenant), &headers, &e).await,
    }
}
