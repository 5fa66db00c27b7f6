//! A minimal browser for protocol tests: keeps cookies (name → value, per host), follows
//! redirects on the server under test, and stops at the first redirect that leaves it
//! (the client's redirect URI).

#![allow(clippy::expect_used)]

use std::collections::HashMap;

use crate::Reply;

#[derive(Debug)]
pub struct Browser {
    http: reqwest::Client,
    base: String,
    pub cookies: HashMap<String, String>,
}

/// Where a navigation ended.
#[derive(Debug)]
pub enum Landing {
    /// A page of the server (status and body).
    Page(Reply),
    /// A redirect to a URL outside the server.
    Left(String),
}

impl Browser {
    pub fn new(base: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            base: base.to_owned(),
            cookies: HashMap::new(),
        }
    }

    /// A browser for `base` (e.g. `http://login.acme.example`, a custom domain) whose
    /// requests all go to `server` as to an HTTP proxy: the server sees the `Host` of
    /// `base`, as behind the operator's TLS-terminating proxy.
    pub fn through(base: &str, server: &str) -> Self {
        Self {
            http: crate::proxied_client(server),
            base: base.to_owned(),
            cookies: HashMap::new(),
        }
    }

    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_owned()
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, headers: &reqwest::header::HeaderMap) {
        for v in headers.get_all(reqwest::header::SET_COOKIE) {
            let Ok(v) = v.to_str() else { continue };
            let Some((kv, attrs)) = v.split_once(';').or(Some((v, ""))) else {
                continue;
            };
            let Some((k, val)) = kv.split_once('=') else {
                continue;
            };
            if val.is_empty() || attrs.contains("Max-Age=0") {
                self.cookies.remove(k.trim());
            } else {
                self.cookies.insert(k.trim().to_owned(), val.to_owned());
            }
        }
    }

    async fn send(&mut self, req: reqwest::RequestBuilder) -> reqwest::Response {
        let resp = req
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("request");
        self.keep_cookies(resp.headers());
        resp
    }

    /// GET `url` and follow redirects while they stay on the server.
    pub async fn navigate(&mut self, url: &str) -> Landing {
        let mut url = self.absolute(url);
        for _ in 0..10 {
            let resp = self.send(self.http.get(&url)).await;
            if resp.status().is_redirection() {
                let loc = resp
                    .headers()
                    .get("location")
                    .and_then(|l| l.to_str().ok())
                    .expect("location")
                    .to_owned();
                let next = self.absolute(&loc);
                if !next.starts_with(&self.base) {
                    return Landing::Left(next);
                }
                url = next;
                continue;
            }
            let status = resp.status().as_u16();
            let headers = resp.headers().clone();
            let body = resp.text().await.expect("body");
            return Landing::Page(Reply {
                status,
                headers,
                body,
            });
        }
        panic!("redirect loop at {url}");
    }

    /// Submit a form (POST) and follow redirects like [`Browser::navigate`].
    pub async fn submit(&mut self, action: &str, fields: &[(&str, &str)]) -> Landing {
        let body = fields
            .iter()
            .map(|(k, v)| format!("{}={}", crate::urlencode(k), crate::urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let req = self
            .http
            .post(self.absolute(action))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        let resp = self.send(req).await;
        if resp.status().is_redirection() {
            let loc = resp
                .headers()
                .get("location")
                .and_then(|l| l.to_str().ok())
                .expect("location")
                .to_owned();
            let next = self.absolute(&loc);
            if !next.starts_with(&self.base) {
                return Landing::Left(next);
            }
            return self.navigate(&next).await;
        }
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let body = resp.text().await.expect("body");
        Landing::Page(Reply {
            status,
            headers,
            body,
        })
    }

    /// Open an authorization URL; if the login pages appear, log in with `email` and
    /// `password` (identifier step, then password step). Returns where the browser ended.
    pub async fn authorize(&mut self, url: &str, email: &str, password: &str) -> Landing {
        let mut landing = self.navigate(url).await;
        if let Landing::Page(p) = &landing
            && is_identifier_step(&p.body)
        {
            let mut fields = form_fields(&p.body);
            fields.push(("email".to_owned(), email.to_owned()));
            landing = self.submit_owned(&form_action(&p.body), fields).await;
        }
        match landing {
            Landing::Page(p) if p.body.contains("name=\"password\"") => {
                let mut fields = form_fields(&p.body);
                fields.push(("email".to_owned(), email.to_owned()));
                fields.push(("password".to_owned(), password.to_owned()));
                self.submit_owned(&form_action(&p.body), fields).await
            }
            other => other,
        }
    }

    async fn submit_owned(&mut self, action: &str, fields: Vec<(String, String)>) -> Landing {
        let pairs: Vec<(&str, &str)> = fields
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        self.submit(action, &pairs).await
    }
}

/// The identifier step of the login (an email field, no password field).
fn is_identifier_step(body: &str) -> bool {
    body.contains("id=\"email\"")
        && !body.contains("name=\"password\"")
        && between(body, "<form method=\"post\" action=\"", "\"")
            .is_some_and(|a| a.ends_with("/login"))
}

/// The action of the page's first form.
fn form_action(body: &str) -> String {
    between(body, "<form method=\"post\" action=\"", "\"").expect("form action")
}

/// The CSRF token and `return_to` of the page's form (when it has them).
fn form_fields(body: &str) -> Vec<(String, String)> {
    ["csrf", "return_to"]
        .into_iter()
        .filter(|name| body.contains(&format!("name=\"{name}\" value=\"")))
        .map(|name| (name.to_owned(), hidden(body, name)))
        .collect()
}

fn between(s: &str, start: &str, end: &str) -> Option<String> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(html_unescape(&s[i..i + j]))
}

/// The value of a hidden form field.
pub fn hidden(body: &str, name: &str) -> String {
    between(body, &format!("name=\"{name}\" value=\""), "\"").unwrap_or_default()
}

fn html_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}
