//! OpenID Provider metadata (OIDC Discovery 1.0, RFC 8414), stating only what Clavis does.

use serde_json::{Value, json};

use super::OAuthError;
use super::scopes::OIDC_SCOPES;
use crate::Core;
use crate::model::Tenant;

impl Core {
    pub async fn discovery(&self, tenant: &Tenant, issuer: &str) -> Result<Value, OAuthError> {
        let algs = self.signing_algs(tenant).await?;
        Ok(json!({
            "issuer": issuer,
            "authorization_endpoint": format!("{issuer}/authorize"),
            "token_endpoint": format!("{issuer}/oauth/token"),
            "userinfo_endpoint": format!("{issuer}/userinfo"),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "revocation_endpoint": format!("{issuer}/oauth/revoke"),
            "introspection_endpoint": format!("{issuer}/oauth/introspect"),
            "end_session_endpoint": format!("{issuer}/oidc/logout"),
            "scopes_supported": OIDC_SCOPES,
            "ui_locales_supported": ["en", "fr"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": algs,
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
            "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"],
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login"],
            "claims_supported": [
                "sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "amr", "sid", "azp",
                "name", "given_name", "family_name", "nickname", "picture", "locale", "updated_at",
                "email", "email_verified", "org_id", "org_name"
            ],
            "authorization_response_iss_parameter_supported": true,
            "request_parameter_supported": false,
            "request_uri_parameter_supported": false,
            "claims_parameter_supported": false,
        }))
    }
}
