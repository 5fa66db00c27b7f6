//! Branding of the hosted pages: the tenant's settings overridden field by field by the
//! organization's (the authorization request's `organization`), shown as a display name,
//! a logo and one stylesheet. Colours and custom CSS never reach a page inline: they are
//! served as stylesheets of their own (`style.css`), logos as images with their stored
//! (validated) content type and `nosniff`. Colours are checked again (`#rrggbb`) when the
//! stylesheet is written; custom CSS is served as stored (validated on write). A page
//! refers only to its own tenant's or its own organization's stylesheet and logo.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use clavis_core::Core;
use clavis_core::model::{Branding, BrandingSettings, Organization, Tenant};
use clavis_types::OrgId;
use serde::Serialize;

use crate::web::WebState;

/// Seconds browsers may keep a stylesheet or logo (their URLs carry a version).
const BRANDING_MAX_AGE_SECS: u32 = 300;

/// The logo types served (what the Management API accepts; never SVG).
const LOGO_TYPES: &[&str] = &["image/png", "image/jpeg", "image/gif", "image/webp"];

/// What the layout shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BrandView {
    /// Display name in headings and the logo's `alt`.
    pub name: String,
    /// Path of the logo image, if any.
    pub logo: Option<String>,
    /// Path of the branding stylesheet, if there is anything in it.
    pub stylesheet: Option<String>,
}

/// A page's branding: the view and the replacement texts (locale → key → text).
#[derive(Debug, Clone, Default)]
pub struct Brand {
    pub view: BrandView,
    pub custom_text: BTreeMap<String, BTreeMap<String, String>>,
}

impl Brand {
    /// Replacement texts in `locale`.
    pub fn texts(&self, locale: &str) -> BTreeMap<String, String> {
        self.custom_text.get(locale).cloned().unwrap_or_default()
    }
}

/// The organization's settings over the tenant's, field by field (custom texts key by key).
pub fn merge(tenant: &BrandingSettings, org: Option<&BrandingSettings>) -> BrandingSettings {
    let Some(org) = org else {
        return tenant.clone();
    };
    let mut custom_text = tenant.custom_text.clone();
    for (locale, texts) in &org.custom_text {
        let merged = custom_text.entry(locale.clone()).or_default();
        for (k, v) in texts {
            merged.insert(k.clone(), v.clone());
        }
    }
    // A colour that is not `#rrggbb` counts as unset, so it cannot hide the tenant's.
    let colour = |o: &Option<String>, t: &Option<String>| {
        o.clone().filter(|c| valid_colour(c)).or_else(|| t.clone())
    };
    BrandingSettings {
        display_name: org.display_name.clone().or(tenant.display_name.clone()),
        primary_color: colour(&org.primary_color, &tenant.primary_color),
        page_background: colour(&org.page_background, &tenant.page_background),
        custom_text,
        custom_css: org.custom_css.clone().or(tenant.custom_css.clone()),
    }
}

/// A colour as the Management API stores it: `#rrggbb`.
pub fn valid_colour(c: &str) -> bool {
    c.len() == 7 && c.starts_with('#') && c[1..].bytes().all(|b| b.is_ascii_hexdigit())
}

fn luminance(c: &str) -> f64 {
    let channel = |i: usize| {
        let v = f64::from(u8::from_str_radix(&c[i..i + 2], 16).unwrap_or(0)) / 255.0;
        if v <= 0.039_28 {
            v / 12.92
        } else {
            ((v + 0.055) / 1.055).powf(2.4)
        }
    };
    0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5)
}

/// Black or white text, whichever contrasts more with the background `c`.
fn text_on(c: &str) -> &'static str {
    let l = luminance(c);
    let white = 1.05 / (l + 0.05);
    let black = (l + 0.05) / (0.012 + 0.05);
    if white >= black { "#ffffff" } else { "#1b1b1f" }
}

/// The stylesheet of some settings: valid colours as custom properties (with readable
/// text colours on them), then the custom CSS as stored.
pub fn stylesheet(s: &BrandingSettings) -> String {
    let mut vars = String::new();
    if let Some(c) = s.primary_color.as_deref().filter(|c| valid_colour(c)) {
        vars.push_str(&format!(
            "--clavis-primary:{c};--clavis-on-primary:{};--clavis-focus:{c};",
            text_on(c)
        ));
    }
    if let Some(c) = s.page_background.as_deref().filter(|c| valid_colour(c)) {
        vars.push_str(&format!(
            "--clavis-page-bg:{c};--clavis-on-page:{};",
            text_on(c)
        ));
    }
    let mut css = String::new();
    if !vars.is_empty() {
        css.push_str(&format!(":root{{{vars}}}\n"));
    }
    if let Some(custom) = s.custom_css.as_deref() {
        css.push_str(custom);
        css.push('\n');
    }
    css
}

fn has_style(s: &BrandingSettings) -> bool {
    s.primary_color.as_deref().is_some_and(valid_colour)
        || s.page_background.as_deref().is_some_and(valid_colour)
        || s.custom_css
            .as_deref()
            .is_some_and(|c| !c.trim().is_empty())
}

async fn stored(core: &Core, tenant: &Tenant, org: Option<&OrgId>) -> Option<Branding> {
    match core.branding(tenant, org).await {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "branding could not be read; using the defaults");
            None
        }
    }
}

/// The branding of a page of `tenant`, in the context of `org` when there is one.
pub async fn load(core: &Core, tenant: &Tenant, org: Option<&Organization>) -> Brand {
    let t = stored(core, tenant, None).await;
    let o = match org {
        Some(org) => stored(core, tenant, Some(&org.id)).await,
        None => None,
    };
    let tenant_settings = t.as_ref().map(|b| b.settings.clone()).unwrap_or_default();
    let merged = merge(&tenant_settings, o.as_ref().map(|b| &b.settings));
    let base = format!("/t/{}/branding", tenant.slug);
    let version = |b: &Branding| b.updated_at.as_millis();
    let stylesheet = match (&o, org) {
        (Some(ob), Some(org)) if has_style(&merged) => Some(format!(
            "{base}/orgs/{}/style.css?v={}",
            org.id,
            version(ob).max(t.as_ref().map_or(0, version))
        )),
        _ => t
            .as_ref()
            .filter(|b| has_style(&b.settings))
            .map(|b| format!("{base}/style.css?v={}", version(b))),
    };
    let servable = |b: &Branding| {
        b.logo
            .as_ref()
            .is_some_and(|l| LOGO_TYPES.contains(&l.content_type.as_str()))
    };
    let logo = match (&o, org) {
        (Some(ob), Some(org)) if servable(ob) => {
            Some(format!("{base}/orgs/{}/logo?v={}", org.id, version(ob)))
        }
        _ => t
            .as_ref()
            .filter(|b| servable(b))
            .map(|b| format!("{base}/logo?v={}", version(b))),
    };
    let name = o
        .as_ref()
        .and_then(|b| b.settings.display_name.clone())
        .or_else(|| org.map(|o| o.display_name.clone()))
        .or(tenant_settings.display_name)
        .unwrap_or_else(|| tenant.display_name.clone());
    Brand {
        view: BrandView {
            name,
            logo,
            stylesheet,
        },
        custom_text: merged.custom_text,
    }
}

fn cacheable(mut resp: Response, content_type: &str) -> Response {
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(content_type) {
        h.insert(header::CONTENT_TYPE, v);
    }
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={BRANDING_MAX_AGE_SECS}")) {
        h.insert(header::CACHE_CONTROL, v);
    }
    resp
}

fn not_found() -> Response {
    let mut resp = StatusCode::NOT_FOUND.into_response();
    resp.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    resp
}

async fn scope(
    web: &WebState,
    slug: &str,
    org: Option<&str>,
) -> Option<(std::sync::Arc<Tenant>, Option<OrgId>)> {
    let tenant = web.ctx.core.tenant_by_slug(slug).await.ok()?;
    let org = match org {
        Some(o) => Some(OrgId::parse(o).ok()?),
        None => None,
    };
    Some((tenant, org))
}

async fn style(web: &WebState, slug: &str, org: Option<&str>) -> Response {
    let Some((tenant, org)) = scope(web, slug, org).await else {
        return not_found();
    };
    let core = &web.ctx.core;
    let t = stored(core, &tenant, None).await;
    let settings = match &org {
        Some(org) => {
            let Some(o) = stored(core, &tenant, Some(org)).await else {
                return not_found();
            };
            merge(
                &t.map(|b| b.settings).unwrap_or_default(),
                Some(&o.settings),
            )
        }
        None => t.map(|b| b.settings).unwrap_or_default(),
    };
    cacheable(
        stylesheet(&settings).into_response(),
        "text/css; charset=utf-8",
    )
}

async fn logo(web: &WebState, slug: &str, org: Option<&str>) -> Response {
    let Some((tenant, org)) = scope(web, slug, org).await else {
        return not_found();
    };
    let Some(logo) = stored(&web.ctx.core, &tenant, org.as_ref())
        .await
        .and_then(|b| b.logo)
        .filter(|l| LOGO_TYPES.contains(&l.content_type.as_str()))
    else {
        return not_found();
    };
    let mut resp = cacheable(logo.bytes.into_response(), &logo.content_type);
    resp.headers_mut().insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("inline"),
    );
    resp
}

/// `GET /t/{tenant}/branding/style.css`
pub async fn tenant_style(State(web): State<WebState>, Path(slug): Path<String>) -> Response {
    style(&web, &slug, None).await
}

/// `GET /t/{tenant}/branding/orgs/{org_id}/style.css`
pub async fn org_style(
    State(web): State<WebState>,
    Path((slug, org)): Path<(String, String)>,
) -> Response {
    style(&web, &slug, Some(&org)).await
}

/// `GET /t/{tenant}/branding/logo`
pub async fn tenant_logo(State(web): State<WebState>, Path(slug): Path<String>) -> Response {
    logo(&web, &slug, None).await
}

/// `GET /t/{tenant}/branding/orgs/{org_id}/logo`
pub async fn org_logo(
    State(web): State<WebState>,
    Path((slug, org)): Path<(String, String)>,
) -> Response {
    logo(&web, &slug, Some(&org)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn organization_fields_override_the_tenant_one_by_one() {
        let t = BrandingSettings {
            display_name: Some("Tenant".into()),
            primary_color: Some("#112233".into()),
            page_background: Some("#ffffff".into()),
            custom_text: BTreeMap::from([(
                "en".into(),
                BTreeMap::from([("a".into(), "ta".into()), ("b".into(), "tb".into())]),
            )]),
            custom_css: Some(".x{}".into()),
        };
        let o = BrandingSettings {
            primary_color: Some("#445566".into()),
            custom_text: BTreeMap::from([(
                "en".into(),
                BTreeMap::from([("b".into(), "ob".into())]),
            )]),
            ..BrandingSettings::default()
        };
        let m = merge(&t, Some(&o));
        assert_eq!(m.display_name.as_deref(), Some("Tenant"));
        assert_eq!(m.primary_color.as_deref(), Some("#445566"));
        assert_eq!(m.page_background.as_deref(), Some("#ffffff"));
        assert_eq!(m.custom_css.as_deref(), Some(".x{}"));
        assert_eq!(m.custom_text["en"]["a"], "ta");
        assert_eq!(m.custom_text["en"]["b"], "ob");
        assert_eq!(merge(&t, None), t);
    }

    #[test]
    fn only_valid_colours_reach_the_stylesheet() {
        for bad in [
            "red",
            "#12345",
            "#1234567",
            "#12345g",
            "#123456;}body{",
            "url(x)",
        ] {
            assert!(!valid_colour(bad), "{bad}");
            let s = BrandingSettings {
                primary_color: Some(bad.into()),
                page_background: Some(bad.into()),
                ..BrandingSettings::default()
            };
            assert_eq!(stylesheet(&s), "", "{bad}");
            assert!(!has_style(&s));
        }
        let s = BrandingSettings {
            primary_color: Some("#ffff00".into()),
            page_background: Some("#101010".into()),
            ..BrandingSettings::default()
        };
        let css = stylesheet(&s);
        assert!(
            css.contains("--clavis-primary:#ffff00;--clavis-on-primary:#1b1b1f"),
            "{css}"
        );
        assert!(css.contains("--clavis-on-page:#ffffff"), "{css}");
    }
}
