//! OIDC scopes and the user claims they release (OIDC Core §5.4).

use serde_json::{Map, Value, json};

use crate::model::User;

/// The scopes with meaning to the OpenID Provider itself.
pub const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

/// Standard claims of `user` released by `scopes` (always `sub`).
pub fn user_claims(user: &User, scopes: &[&str]) -> Map<String, Value> {
    let mut c = Map::new();
    c.insert("sub".into(), json!(user.id.as_str()));
    if scopes.contains(&"profile") {
        let p = &user.profile;
        for (k, v) in [
            ("name", &p.name),
            ("given_name", &p.given_name),
            ("family_name", &p.family_name),
            ("nickname", &p.nickname),
            ("picture", &p.picture),
            ("locale", &p.locale),
        ] {
            if let Some(v) = v {
                c.insert(k.into(), json!(v));
            }
        }
        c.insert("updated_at".into(), json!(user.updated_at.as_secs()));
    }
    if scopes.contains(&"email")
        && let Some(e) = &user.email
    {
        c.insert("email".into(), json!(e.as_str()));
        c.insert("email_verified".into(), json!(user.email_verified));
    }
    c
}
