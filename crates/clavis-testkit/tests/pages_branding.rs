//! Branding of the hosted pages, on SQLite and PostgreSQL: an organization's branding
//! overrides its tenant's field by field; hostile display names and custom texts render
//! escaped; a page refers only to its own tenant's or organization's stylesheet and logo;
//! stylesheets and logos are served with safe headers, and only within their tenant.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attack_kit;
mod common;
mod pages_kit;

use std::collections::BTreeMap;

use attack_kit::*;
use clavis_core::model::{Branding, BrandingSettings, Logo, Organization};
use clavis_testkit::{Backend, TestServer};
use pages_kit::*;

clavis_testkit::on_both!(
    hostile_branding_is_escaped_and_kept_to_its_organization,
    branding_files_are_served_safely_and_per_tenant,
);

const HOSTILE: &str = "<script>alert(1)</script>\"><img src=x onerror=alert(1)>";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR\0\0\0\x01\0\0\0\x01\x08\x06\0\0\0";

async fn put_branding(
    s: &TestServer,
    org: Option<&Organization>,
    settings: BrandingSettings,
    logo: Option<(&[u8], &str)>,
) {
    let t = s.fixtures("default").tenant().await;
    let mut tx = s.core.store.begin().await.unwrap();
    tx.branding_put(&Branding {
        tenant_id: t.id.clone(),
        org_id: org.map(|o| o.id.clone()),
        settings,
        logo: logo.map(|(b, ct)| Logo {
            bytes: b.to_vec(),
            content_type: ct.to_owned(),
        }),
        updated_at: s.core.now(),
    })
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

fn texts(key: &str, text: &str) -> BTreeMap<String, BTreeMap<String, String>> {
    BTreeMap::from([(
        "en".to_owned(),
        BTreeMap::from([(key.to_owned(), text.to_owned())]),
    )])
}

/// Tenant branding, organization A (hostile texts, its own CSS and logo) and B.
async fn branded(b: Backend) -> (TestServer, String, Organization, Organization) {
    let (s, web, _) = world(b).await;
    let fx = s.fixtures("default");
    let a = fx.org("org-a", &[]).await;
    let bo = fx.org("org-b", &[]).await;
    put_branding(
        &s,
        None,
        BrandingSettings {
            display_name: Some("Tenant Co".into()),
            primary_color: Some("#224466".into()),
            custom_css: Some(".tenant-only{}".into()),
            ..BrandingSettings::default()
        },
        Some((PNG, "image/png")),
    )
    .await;
    put_branding(
        &s,
        Some(&a),
        BrandingSettings {
            display_name: Some(HOSTILE.into()),
            page_background: Some("#ffffff".into()),
            custom_text: texts(
                "login.title",
                "Welcome to {name} \"><img src=x onerror=alert(2)>",
            ),
            custom_css: Some(".org-a-only{}".into()),
            ..BrandingSettings::default()
        },
        Some((PNG, "image/png")),
    )
    .await;
    put_branding(
        &s,
        Some(&bo),
        BrandingSettings {
            primary_color: Some("#0f0;}body{background:url(//evil)".into()),
            custom_css: Some(".org-b-only{}".into()),
            ..BrandingSettings::default()
        },
        Some((PNG, "image/svg+xml")),
    )
    .await;
    (s, web.client_id, a, bo)
}

fn login_page_for(client_id: &str, org: Option<&str>) -> String {
    let (_, challenge) = pkce();
    let extra: Vec<(&str, &str)> = org.map(|o| ("organization", o)).into_iter().collect();
    with_return(
        "/t/default/login",
        &code_request("default", client_id, &challenge, "st", &extra),
    )
}

async fn hostile_branding_is_escaped_and_kept_to_its_organization(b: Backend) {
    let (s, client_id, a, bo) = branded(b).await;
    let origin = "https://rp.example.com";

    // Organization A: its name and texts, escaped; its own stylesheet and logo only.
    let r = s
        .client
        .get(&login_page_for(&client_id, Some(a.slug.as_str())))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_page(&r, "en", &csp_with(origin));
    let body = &r.body;
    assert!(!body.contains("<img src=x"), "{body}");
    assert!(!body.contains("alert(1)</script>"), "{body}");
    assert!(
        body.contains(
            "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt;"
        ),
        "{body}"
    );
    // The custom text replaced the catalogue's, placeholders filled, everything escaped.
    assert!(!body.contains("Log in to"), "{body}");
    assert!(
        body.contains(
            "<h1>Welcome to &lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(1)&gt; &quot;&gt;&lt;img src=x onerror=alert(2)&gt;</h1>"
        ),
        "{body}"
    );
    let a_css = format!("/t/default/branding/orgs/{}/style.css?v=", a.id);
    let a_logo = format!("/t/default/branding/orgs/{}/logo?v=", a.id);
    assert!(
        body.contains(&format!("<link rel=\"stylesheet\" href=\"{a_css}")),
        "{body}"
    );
    assert!(body.contains(&format!("src=\"{a_logo}")), "{body}");
    assert!(body.contains("alt=\"&lt;script&gt;"), "{body}");
    assert!(
        !body.contains(bo.id.as_str()),
        "B is never referenced from A's page"
    );
    assert!(!body.contains("/t/default/branding/style.css"), "{body}");
    assert!(!body.contains("/t/default/branding/logo"), "{body}");

    // Organization B: its stylesheet; no logo of its own is servable (SVG), so the
    // tenant's; never A's.
    let r = s
        .client
        .get(&login_page_for(&client_id, Some(bo.id.as_str())))
        .await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(
        !r.body.contains(a.id.as_str()),
        "A is never referenced from B's page"
    );
    assert!(
        r.body
            .contains(&format!("/t/default/branding/orgs/{}/style.css?v=", bo.id)),
        "{}",
        r.body
    );
    assert!(r.body.contains("Log in to org-b"), "{}", r.body);
    assert!(
        r.body.contains("src=\"/t/default/branding/logo?v="),
        "{}",
        r.body
    );

    // The tenant's pages: the tenant's files only.
    let r = s.client.get(&login_page_for(&client_id, None)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(!r.body.contains("/branding/orgs/"), "{}", r.body);
    assert!(
        r.body.contains("href=\"/t/default/branding/style.css?v="),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("src=\"/t/default/branding/logo?v="),
        "{}",
        r.body
    );
    assert!(r.body.contains("alt=\"Tenant Co\""), "{}", r.body);
    assert!(r.body.contains("Log in to Tenant Co"), "{}", r.body);
    for p in ["/t/default/password/forgot", "/t/default/signup"] {
        let r = s.client.get(p).await;
        assert!(!r.body.contains("/branding/orgs/"), "{p}: {}", r.body);
    }
}

async fn branding_files_are_served_safely_and_per_tenant(b: Backend) {
    let (s, _, a, bo) = branded(b).await;
    s.fixtures("other").tenant().await;
    // A's stylesheet: the tenant's colour (A has none), A's background and CSS, not the
    // tenant's CSS (an organization's CSS replaces it), never B's.
    let css = s
        .client
        .get(&format!("/t/default/branding/orgs/{}/style.css", a.id))
        .await;
    assert_eq!(css.status, 200);
    assert_eq!(css.header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(css.header("x-content-type-options"), Some("nosniff"));
    assert!(css.header("cache-control").unwrap().contains("max-age="));
    assert!(
        css.body.contains("--clavis-primary:#224466"),
        "{}",
        css.body
    );
    assert!(
        css.body.contains("--clavis-page-bg:#ffffff"),
        "{}",
        css.body
    );
    assert!(css.body.contains(".org-a-only{}"), "{}", css.body);
    assert!(
        !css.body.contains(".tenant-only") && !css.body.contains(".org-b-only"),
        "{}",
        css.body
    );
    // B's invalid colour is dropped at render; its CSS is served as stored.
    let css = s
        .client
        .get(&format!("/t/default/branding/orgs/{}/style.css", bo.id))
        .await;
    assert!(
        !css.body.contains("evil") && !css.body.contains("#0f0"),
        "{}",
        css.body
    );
    assert!(
        css.body.contains("--clavis-primary:#224466"),
        "{}",
        css.body
    );
    assert!(css.body.contains(".org-b-only{}"), "{}", css.body);
    let css = s.client.get("/t/default/branding/style.css").await;
    assert!(
        css.body.contains(".tenant-only{}") && !css.body.contains("org-"),
        "{}",
        css.body
    );

    // Logos: stored type, nosniff, no active content, inline.
    let logo = s
        .client
        .get(&format!("/t/default/branding/orgs/{}/logo", a.id))
        .await;
    assert_eq!(logo.status, 200);
    assert_eq!(logo.header("content-type"), Some("image/png"));
    assert_eq!(logo.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(
        logo.header("content-security-policy"),
        Some("default-src 'none'")
    );
    assert_eq!(logo.header("content-disposition"), Some("inline"));
    assert!(logo.header("cache-control").unwrap().contains("max-age="));
    assert_eq!(s.client.get("/t/default/branding/logo").await.status, 200);
    // An SVG that slipped into storage is not served.
    let svg = s
        .client
        .get(&format!("/t/default/branding/orgs/{}/logo", bo.id))
        .await;
    assert_eq!(svg.status, 404);

    // Another tenant cannot reach these organizations' files; made-up ids are 404.
    for p in [
        format!("/t/other/branding/orgs/{}/logo", a.id),
        format!("/t/other/branding/orgs/{}/style.css", a.id),
        "/t/other/branding/logo".to_owned(),
        "/t/default/branding/orgs/org_nope/logo".to_owned(),
        "/t/default/branding/orgs/not-an-id/style.css".to_owned(),
        "/t/nope/branding/style.css".to_owned(),
    ] {
        assert_eq!(s.client.get(&p).await.status, 404, "{p}");
    }
}
