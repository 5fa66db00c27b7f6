//! The client address behind a reverse proxy, over HTTP: `X-Forwarded-For` names the
//! client (audit events, per-address limits) only when the socket peer is a configured
//! trusted proxy; from any other peer it is ignored, so rotating forged headers does not
//! escape the per-address request limit.

use clavis_testkit::{Backend, Client, Reply, TestServer, hidden};

use crate::{align, events};

/// A CSRF cookie value and the matching form token, from the password step's page.
pub(crate) async fn csrf(client: &Client) -> (String, String) {
    let page = client
        .get("/t/default/login/password?email=someone%40example.com")
        .await;
    assert_eq!(page.status, 200, "{}", page.body);
    let cookie = page
        .headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix("clavis_csrf="))
        .and_then(|v| v.split(';').next())
        .expect("a CSRF cookie")
        .to_owned();
    (cookie, hidden(&page.body, "csrf"))
}

/// A wrong password for `email` posted to the password step, with `forwarded_for` as
/// `X-Forwarded-For`.
pub(crate) async fn wrong_login(
    client: &Client,
    (cookie, token): &(String, String),
    email: &str,
    forwarded_for: &str,
) -> Reply {
    client
        .post_form(
            "/t/default/login/password",
            &[("csrf", token), ("email", email), ("password", "wrong")],
            &[
                ("cookie", &format!("clavis_csrf={cookie}")),
                ("x-forwarded-for", forwarded_for),
            ],
        )
        .await
}

/// The client address of the newest `user.login.failure` event.
async fn last_failure_ip(s: &TestServer) -> String {
    let t = s.fixtures("default").tenant().await;
    let e = events(&s.core, &t, &["user.login.failure"]).await;
    e[0]["actor"]["ip_address"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

pub(crate) async fn forwarded_for_is_believed_only_from_trusted_proxies(b: Backend) {
    // Behind a proxy: the test client (127.0.0.1) plays the proxy.
    let s = TestServer::start_with(b, |c| {
        c.trusted_proxies = vec!["127.0.0.0/8".to_owned(), "192.0.2.0/24".to_owned()];
    })
    .await;
    align(&[&s.clock], 60, 0);
    let form = csrf(&s.client).await;
    // The right-most hop that is not a trusted proxy is the client; the forged hop the
    // client put in front is not believed.
    let r = wrong_login(
        &s.client,
        &form,
        "a0@example.com",
        "203.0.113.50, 198.51.100.7, 192.0.2.9",
    )
    .await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(last_failure_ip(&s).await, "198.51.100.7");
    // The per-address request limit (10 a minute) counts that client…
    for i in 1..10 {
        let r = wrong_login(
            &s.client,
            &form,
            &format!("a{i}@example.com"),
            "198.51.100.7",
        )
        .await;
        assert_eq!(r.status, 401, "request {i}: {}", r.body);
    }
    let r = wrong_login(&s.client, &form, "b@example.com", "198.51.100.7").await;
    assert_eq!(r.status, 429, "{}", r.body);
    assert_eq!(r.header("retry-after"), Some("60"));
    // …and not the other clients of the same proxy.
    let r = wrong_login(&s.client, &form, "c@example.com", "198.51.100.8").await;
    assert_eq!(r.status, 401, "{}", r.body);
    assert_eq!(last_failure_ip(&s).await, "198.51.100.8");

    // No trusted proxy (the default): the header is ignored, the socket peer counts, and
    // a new forged address on every request does not escape the limit.
    let plain = TestServer::start(b).await;
    align(&[&plain.clock], 60, 0);
    let form = csrf(&plain.client).await;
    for i in 0..10 {
        let forged = format!("198.51.100.{}", 10 + i);
        let r = wrong_login(&plain.client, &form, &format!("d{i}@example.com"), &forged).await;
        assert_eq!(r.status, 401, "request {i}: {}", r.body);
        assert_eq!(last_failure_ip(&plain).await, "127.0.0.1");
    }
    let r = wrong_login(&plain.client, &form, "e@example.com", "198.51.100.99").await;
    assert_eq!(r.status, 429, "{}", r.body);
}
