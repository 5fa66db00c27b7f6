//! Extension points of the login flow. The Actions engine plugs JavaScript in here; until
//! then the default, [`NoHooks`], allows everything unchanged.

use serde_json::{Map, Value};

use crate::CoreError;
use crate::model::{Application, Organization, Tenant, User};

/// What a `pre-user-registration` hook decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum RegistrationDecision {
    /// Create the user, merging these keys into its metadata.
    #[default]
    Allow,
    AllowWith {
        user_metadata: Map<String, Value>,
        app_metadata: Map<String, Value>,
    },
    /// Refuse the signup; the reason is shown to the person signing up.
    Deny { reason: String },
}

/// What a `post-login` hook decided.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PostLoginDecision {
    #[default]
    Allow,
    /// Refuse the login; the application receives `access_denied` with this description.
    Deny { reason: String },
}

/// The signup being attempted, as a `pre-user-registration` hook sees it.
#[derive(Debug, Clone)]
pub struct RegistrationAttempt<'a> {
    pub tenant: &'a Tenant,
    pub email: &'a str,
    pub name: Option<&'a str>,
    pub ip_address: Option<&'a str>,
    pub locale: &'a str,
}

/// The login about to complete, as a `post-login` hook sees it.
#[derive(Debug, Clone)]
pub struct LoginContext<'a> {
    pub tenant: &'a Tenant,
    pub user: &'a User,
    pub application: &'a Application,
    pub organization: Option<&'a Organization>,
    pub scopes: &'a [String],
    pub ip_address: Option<&'a str>,
}

/// Code run at fixed points of the login flow.
#[async_trait::async_trait]
pub trait LoginHooks: Send + Sync + std::fmt::Debug {
    /// Before a user is created by signup. An error refuses the signup (and is logged).
    async fn pre_user_registration(
        &self,
        attempt: &RegistrationAttempt<'_>,
    ) -> Result<RegistrationDecision, CoreError>;
    /// After the user authenticated, before the authorization code is issued.
    async fn post_login(&self, login: &LoginContext<'_>) -> Result<PostLoginDecision, CoreError>;
}

/// No extension installed: allow everything unchanged.
#[derive(Debug, Default)]
pub struct NoHooks;

#[async_trait::async_trait]
impl LoginHooks for NoHooks {
    async fn pre_user_registration(
        &self,
        _: &RegistrationAttempt<'_>,
    ) -> Result<RegistrationDecision, CoreError> {
        Ok(RegistrationDecision::Allow)
    }
    async fn post_login(&self, _: &LoginContext<'_>) -> Result<PostLoginDecision, CoreError> {
        Ok(PostLoginDecision::Allow)
    }
}
