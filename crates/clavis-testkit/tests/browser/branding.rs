//! (d) Hostile branding: organization A's branding carries script in every text field
//! (display name, every catalogue text in both languages) and CSS trying to break out of
//! its stylesheet; the tenant's display name carries script too. Stored through core
//! directly — past the Management API's validation, which refuses the CSS (checked here as
//! well) — so the pages alone must make it inert. The browser shows that no script runs on
//! organization A's pages (with the CSP enforced and with it bypassed), the texts appear
//! literally, and organization B's login page looks the same before and after.

use std::collections::BTreeMap;

use clavis_core::model::{Branding, BrandingSettings};
use serde_json::json;

use crate::kit::{Request, TENANT, run_flow, setup};

/// Every text field of organization A. `{{7*7}}` shows that texts are not templates.
fn hostile_text(field: &str) -> String {
    format!(
        "<script>window.__pwned='{field}';alert('{field}')</script>\
         \"'><img src=x onerror=\"window.__pwned='img'\">{{{{7*7}}}}"
    )
}

/// CSS that tries to leave its stylesheet and its organization: closing more blocks than
/// it opened, closing a `<style>` element, importing another stylesheet, script URLs.
fn hostile_css(org_b: &str) -> String {
    format!(
        "body, main, h1, label, input, button, a, nav {{ background-color: rgb(255, 0, 0) !important; color: rgb(0, 255, 0) !important; }}\n\
         }} }} }} html body {{ outline: 9px solid rgb(255, 0, 255) !important; }}\n\
         </style><script>window.__pwned = 'css'</script><style>\n\
         @import url(\"/t/{TENANT}/branding/orgs/{org_b}/style.css\");\n\
         html {{ background-image: url(\"javascript:window.__pwned='url'\"); }}\n\
         * {{ behavior: url(x.htc); -moz-binding: url(\"x.xml#pwn\"); width: expression(alert(1)); }}\n\
         :root {{ --pwn: \"</style><script>window.__pwned='var'</script>\"; }}\n"
    )
}

/// A 96×32 green and white PNG: organization B's logo.
const LOGO_PNG: [u8; 138] = [
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x60, 0x00, 0x00, 0x00, 0x20, 0x08, 0x02, 0x00, 0x00, 0x00, 0x62, 0xa2, 0xea,
    0x03, 0x00, 0x00, 0x00, 0x51, 0x49, 0x44, 0x41, 0x54, 0x78, 0xda, 0xed, 0xd8, 0xa1, 0x15, 0x00,
    0x20, 0x08, 0x45, 0x51, 0x86, 0x70, 0x23, 0xd7, 0x71, 0xff, 0x2a, 0xc5, 0x8a, 0x03, 0xc0, 0xe5,
    0xbc, 0x48, 0xba, 0xf1, 0xc7, 0x3a, 0x5b, 0x9f, 0x02, 0x01, 0x20, 0x40, 0x80, 0x00, 0x01, 0x02,
    0x04, 0xe8, 0x75, 0x8b, 0xeb, 0xfa, 0x0f, 0x08, 0x10, 0x20, 0x40, 0x80, 0x00, 0x01, 0x02, 0x04,
    0x08, 0x10, 0x20, 0x40, 0x80, 0x00, 0x01, 0x02, 0x34, 0x1d, 0xc8, 0x60, 0x26, 0x40, 0x80, 0x00,
    0x01, 0x02, 0x04, 0xa8, 0x49, 0x09, 0x77, 0x30, 0xb5, 0xd3, 0xde, 0x91, 0x7a, 0x57, 0x00, 0x00,
    0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae, 0x42, 0x60, 0x82,
];

/// An SVG logo with script in it (refused: SVG is never accepted).
const HOSTILE_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" onload=\"window.__pwned='svg'\">\
                           <script>window.__pwned='svg'</script></svg>";

/// PUT a logo through the Management API; the status.
async fn put_logo(
    s: &clavis_testkit::TestServer,
    token: &str,
    org: &str,
    ct: &str,
    body: Vec<u8>,
) -> u16 {
    let url = s.client.url(&format!(
        "/t/{TENANT}/api/v2/organizations/{org}/branding/logo"
    ));
    let r = s
        .client
        .http
        .put(url)
        .bearer_auth(token)
        .header("content-type", ct)
        .body(body)
        .send()
        .await
        .expect("PUT logo");
    r.status().as_u16()
}

/// The keys of the hosted pages' English catalogue (custom text may replace each).
fn catalogue_keys() -> Vec<String> {
    let path = crate::kit::catalogue_dir().join("en.json");
    let src = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("catalogue {}: {e}", path.display()));
    let map: BTreeMap<String, String> = serde_json::from_str(&src).expect("catalogue JSON");
    map.into_keys().collect()
}

pub async fn hostile(locale: &str) {
    let su = setup(false, false).await;
    let s = &su.s;
    let fx = s.fixtures(TENANT);
    let t = fx.tenant().await;
    let user = fx
        .user("member@example.com", "Calm-Orchard-Ribbon-33")
        .await;
    let org_a = fx.org("hostile-a", &[&user]).await;
    let org_b = fx.org("benign-b", &[&user]).await;

    // The Management API refuses the hostile CSS outright.
    let admin = s
        .mgmt_token(TENANT, &["read:branding", "update:branding"])
        .await;
    let r = s
        .client
        .send(
            "PATCH",
            &format!("/t/{TENANT}/api/v2/organizations/{}/branding", org_a.id),
            &admin,
            Some(&json!({"custom_css": hostile_css(org_b.id.as_str())})),
        )
        .await;
    assert_eq!(r.status, 400, "hostile CSS through the API: {}", r.body);

    let keys = catalogue_keys();
    let texts = |locale: &str| -> BTreeMap<String, String> {
        keys.iter()
            .map(|k| (k.clone(), hostile_text(&format!("{locale}.{k}"))))
            .collect()
    };
    let now = s.core.now();
    let hostile_a = BrandingSettings {
        display_name: Some(hostile_text("display_name")),
        primary_color: Some("#ff0000\"><script>window.__pwned='color'</script>".to_owned()),
        page_background: Some("red;} body{background:red".to_owned()),
        custom_text: BTreeMap::from([
            ("en".to_owned(), texts("en")),
            ("fr".to_owned(), texts("fr")),
        ]),
        custom_css: Some(hostile_css(org_b.id.as_str())),
    };
    let benign_b = BrandingSettings {
        display_name: Some("Benign B".to_owned()),
        primary_color: Some("#146c43".to_owned()),
        ..BrandingSettings::default()
    };
    let tenant_branding = BrandingSettings {
        display_name: Some(hostile_text("tenant_display_name")),
        ..BrandingSettings::default()
    };
    let mut tx = s.core.store.begin().await.expect("begin");
    for (org, settings) in [
        (None, tenant_branding),
        (Some(org_a.id.clone()), hostile_a),
        (Some(org_b.id.clone()), benign_b),
    ] {
        tx.branding_put(&Branding {
            tenant_id: t.id.clone(),
            org_id: org,
            settings,
            logo: None,
            updated_at: now,
        })
        .await
        .expect("branding");
    }
    tx.commit().await.expect("commit");
    // Logos go through the Management API: SVG (script) refused, whatever it claims to be;
    // organization B gets a real PNG.
    for ct in ["image/svg+xml", "image/png"] {
        let status = put_logo(s, &admin, org_a.id.as_str(), ct, HOSTILE_SVG.into()).await;
        assert_eq!(status, 400, "an SVG logo declared as {ct}");
    }
    let status = put_logo(s, &admin, org_b.id.as_str(), "image/png", LOGO_PNG.to_vec()).await;
    assert_eq!(status, 200, "organization B's PNG logo");
    s.clock.advance_secs(5); // past any configuration cache

    let req = Request::new();
    let input = su.input(
        &req,
        locale,
        json!({
            "org_a": org_a.id.as_str(),
            "org_b": org_b.id.as_str(),
            "email": "member@example.com",
            "markers": ["<script>window.__pwned=", "{{7*7}}"],
            "org_b_logo": true,
        }),
    );
    let result = run_flow("branding.mjs", &input).await;
    assert_eq!(result["ok"], json!(true));
}
