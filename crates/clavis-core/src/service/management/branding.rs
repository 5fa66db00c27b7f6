//! Branding of the hosted login pages, for the tenant and for each organization: what the
//! Management API reads and changes (`/branding`, `/organizations/{id}/branding`, their
//! `/logo`), and what the pages read ([`Core::branding`]).
//!
//! Rules enforced here (see [`checks`] and [`logo`] for the details):
//! - colours `#rrggbb`; the display name and custom texts plain text of at most 200
//!   characters; custom CSS at most 16 KiB with nothing that loads from elsewhere or
//!   escapes its stylesheet;
//! - logos PNG, JPEG, GIF or WebP by their magic bytes, at most 256 KiB and 1024×1024
//!   pixels read from the header; SVG is refused;
//! - an organization's branding needs the organization (404 otherwise), and goes when it
//!   goes;
//! - every change appends `branding.updated|deleted` or `branding.logo.updated|deleted` in
//!   the same transaction, naming the changed fields (never their values).

pub mod checks;
pub mod logo;

use std::collections::BTreeMap;

use clavis_types::OrgId;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;

use super::organizations::{audit_org, load_org};
use crate::CoreError;
use crate::model::{Branding, BrandingSettings, JsonMap, Logo, Tenant};
use crate::ports::Tx;
use crate::service::{Core, RequestMeta};

/// Custom texts: locale → message key → text.
pub type CustomText = BTreeMap<String, BTreeMap<String, String>>;

/// A change to branding: absent fields stay as they are, `null` removes one.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BrandingPatch {
    /// Name shown in page headings; plain text, at most 200 characters.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 200)]
    pub display_name: Option<Option<String>>,
    /// Colour of buttons and links, `#rrggbb`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^#[0-9a-fA-F]{6}$")]
    pub primary_color: Option<Option<String>>,
    /// Colour of the page behind the card, `#rrggbb`.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, pattern = "^#[0-9a-fA-F]{6}$")]
    pub page_background: Option<Option<String>>,
    /// Replacement texts, locale → message key → plain text (at most 200 characters);
    /// replaces every earlier custom text.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<BTreeMap<String, BTreeMap<String, String>>>)]
    pub custom_text: Option<Option<CustomText>>,
    /// A stylesheet for the pages, at most 16 KiB; no `<`, `@import`, `url(` other than
    /// `data:image/…`, `image-set(`, `expression(`, `javascript:`, `\` escapes or
    /// unbalanced braces.
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>, max_length = 16384)]
    pub custom_css: Option<Option<String>>,
}

/// `Some(value)` when the field is present (even `null`), `None` when absent.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// The uploaded logo, as the API describes it (the image is served by the login pages).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct LogoView {
    pub content_type: String,
    /// Size in bytes.
    pub size: usize,
}

/// Branding as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct BrandingView {
    /// The organization this branding belongs to; absent for the tenant's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    pub display_name: Option<String>,
    pub primary_color: Option<String>,
    pub page_background: Option<String>,
    #[schema(value_type = BTreeMap<String, BTreeMap<String, String>>)]
    pub custom_text: CustomText,
    pub custom_css: Option<String>,
    pub logo: Option<LogoView>,
    /// RFC 3339.
    pub updated_at: String,
}

impl From<&Branding> for BrandingView {
    fn from(b: &Branding) -> Self {
        let s = b.settings.clone();
        Self {
            organization_id: b.org_id.as_ref().map(ToString::to_string),
            display_name: s.display_name,
            primary_color: s.primary_color,
            page_background: s.page_background,
            custom_text: s.custom_text,
            custom_css: s.custom_css,
            logo: b.logo.as_ref().map(|l| LogoView {
                content_type: l.content_type.clone(),
                size: l.bytes.len(),
            }),
            updated_at: b.updated_at.to_rfc3339(),
        }
    }
}

/// Validate a patch against `s`, returning the new settings and the changed fields.
fn apply(
    mut s: BrandingSettings,
    p: BrandingPatch,
) -> Result<(BrandingSettings, Vec<&'static str>), CoreError> {
    let mut changed = Vec::new();
    let opt = |v: Option<String>, f: &dyn Fn(&str) -> Result<String, CoreError>| {
        v.map(|v| f(&v)).transpose()
    };
    if let Some(v) = p.display_name {
        let v = opt(v, &|v| checks::plain_text("display_name", v))?;
        if v != s.display_name {
            s.display_name = v;
            changed.push("display_name");
        }
    }
    if let Some(v) = p.primary_color {
        let v = opt(v, &|v| checks::colour("primary_color", v))?;
        if v != s.primary_color {
            s.primary_color = v;
            changed.push("primary_color");
        }
    }
    if let Some(v) = p.page_background {
        let v = opt(v, &|v| checks::colour("page_background", v))?;
        if v != s.page_background {
            s.page_background = v;
            changed.push("page_background");
        }
    }
    if let Some(v) = p.custom_text {
        let v = checks::custom_text(v.unwrap_or_default())?;
        if v != s.custom_text {
            s.custom_text = v;
            changed.push("custom_text");
        }
    }
    if let Some(v) = p.custom_css {
        let v = opt(v, &checks::custom_css)?.filter(|c| !c.trim().is_empty());
        if v != s.custom_css {
            s.custom_css = v;
            changed.push("custom_css");
        }
    }
    Ok((s, changed))
}

impl Core {
    /// Stored branding of the tenant (`org` = None) or one organization (raw; the login
    /// pages merge tenant ← organization field by field).
    pub async fn branding(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
    ) -> Result<Option<Branding>, CoreError> {
        let mut tx = self.store.read().await?;
        Ok(tx.branding_get(&tenant.id, org).await?)
    }

    /// Branding as the Management API shows it; 404 for an unknown organization and when
    /// nothing is stored (the login pages then use the tenant's, or the defaults).
    pub async fn mgmt_branding_get(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
    ) -> Result<Branding, CoreError> {
        let mut tx = self.store.read().await?;
        if let Some(o) = org {
            load_org(&mut *tx, tenant, o).await?;
        }
        tx.branding_get(&tenant.id, org)
            .await?
            .ok_or(CoreError::NotFound("branding"))
    }

    /// Change branding settings.
    pub async fn mgmt_branding_update(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
        patch: BrandingPatch,
        meta: &RequestMeta,
    ) -> Result<Branding, CoreError> {
        let mut tx = self.store.begin().await?;
        let event_org = event_org(&mut *tx, tenant, org).await?;
        let current = tx.branding_get(&tenant.id, org).await?;
        let settings = current
            .as_ref()
            .map(|b| b.settings.clone())
            .unwrap_or_default();
        let (settings, changed) = apply(settings, patch)?;
        if let Some(c) = &current
            && changed.is_empty()
        {
            return Ok(c.clone());
        }
        let b = Branding {
            tenant_id: tenant.id.clone(),
            org_id: org.cloned(),
            settings,
            logo: current.and_then(|c| c.logo),
            updated_at: self.now(),
        };
        tx.branding_put(&b).await?;
        let mut ctx = JsonMap::new();
        ctx.insert("changed".into(), json!(changed));
        self.branding_audit(&mut *tx, tenant, "branding.updated", event_org, ctx, meta)
            .await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Remove the branding settings and logo (nothing happens when none are stored).
    pub async fn mgmt_branding_delete(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let event_org = event_org(&mut *tx, tenant, org).await?;
        if !tx.branding_delete(&tenant.id, org).await? {
            return Ok(());
        }
        self.branding_audit(
            &mut *tx,
            tenant,
            "branding.deleted",
            event_org,
            JsonMap::new(),
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Replace the logo with an uploaded image (`content_type` as the request declared it).
    pub async fn mgmt_branding_logo_put(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
        content_type: &str,
        bytes: &[u8],
        meta: &RequestMeta,
    ) -> Result<Branding, CoreError> {
        let info = logo::check_logo(content_type, bytes)?;
        let mut tx = self.store.begin().await?;
        let event_org = event_org(&mut *tx, tenant, org).await?;
        let current = tx.branding_get(&tenant.id, org).await?;
        let b = Branding {
            tenant_id: tenant.id.clone(),
            org_id: org.cloned(),
            settings: current.map(|c| c.settings).unwrap_or_default(),
            logo: Some(Logo {
                bytes: bytes.to_vec(),
                content_type: info.format.content_type().to_owned(),
            }),
            updated_at: self.now(),
        };
        tx.branding_put(&b).await?;
        let ctx = JsonMap::from_iter([
            ("content_type".to_owned(), json!(info.format.content_type())),
            ("size".to_owned(), json!(bytes.len())),
            ("width".to_owned(), json!(info.width)),
            ("height".to_owned(), json!(info.height)),
        ]);
        self.branding_audit(
            &mut *tx,
            tenant,
            "branding.logo.updated",
            event_org,
            ctx,
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(b)
    }

    /// Remove the logo, keeping the other settings (nothing happens when there is none).
    pub async fn mgmt_branding_logo_delete(
        &self,
        tenant: &Tenant,
        org: Option<&OrgId>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let mut tx = self.store.begin().await?;
        let event_org = event_org(&mut *tx, tenant, org).await?;
        let Some(mut b) = tx.branding_get(&tenant.id, org).await? else {
            return Ok(());
        };
        if b.logo.take().is_none() {
            return Ok(());
        }
        b.updated_at = self.now();
        tx.branding_put(&b).await?;
        self.branding_audit(
            &mut *tx,
            tenant,
            "branding.logo.deleted",
            event_org,
            JsonMap::new(),
            meta,
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn branding_audit(
        &self,
        tx: &mut dyn Tx,
        tenant: &Tenant,
        event_type: &str,
        org: Option<crate::model::AuditOrganization>,
        mut ctx: JsonMap,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        if let Some(o) = &org {
            ctx.insert("organization_id".into(), json!(o.org_id));
        }
        let event = self.audit_event(&tenant.id, event_type, Default::default(), org, ctx, meta);
        self.audit_in(tx, event).await
    }
}

/// The organization of the request (404 when it does not exist), for the audit event.
async fn event_org(
    tx: &mut dyn Tx,
    tenant: &Tenant,
    org: Option<&OrgId>,
) -> Result<Option<crate::model::AuditOrganization>, CoreError> {
    match org {
        None => Ok(None),
        Some(o) => Ok(Some(audit_org(&load_org(tx, tenant, o).await?))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn patches_name_what_changed() {
        let p: BrandingPatch = serde_json::from_value(json!({
            "display_name": " Acme ",
            "primary_color": "#AABBCC",
            "custom_css": null,
        }))
        .unwrap();
        let (s, changed) = apply(BrandingSettings::default(), p).unwrap();
        assert_eq!(changed, ["display_name", "primary_color"]);
        assert_eq!(s.display_name.as_deref(), Some("Acme"));
        assert_eq!(s.primary_color.as_deref(), Some("#aabbcc"));
        let p: BrandingPatch = serde_json::from_value(json!({"display_name": null})).unwrap();
        let (s, changed) = apply(s, p).unwrap();
        assert_eq!(changed, ["display_name"]);
        assert!(s.display_name.is_none());
        assert!(serde_json::from_value::<BrandingPatch>(json!({"logo": "x"})).is_err());
        let bad: BrandingPatch = serde_json::from_value(json!({"page_background": "red"})).unwrap();
        assert!(apply(BrandingSettings::default(), bad).is_err());
    }
}
