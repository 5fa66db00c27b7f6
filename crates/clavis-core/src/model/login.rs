//! Universal Login and the account lifecycle: one-time tickets sent by email, consents,
//! the email outbox and templates, branding, email domains of organizations, lockouts,
//! and the tenant settings that govern them (password policy, attack protection).

use clavis_types::{ClientId, ConnectionId, EmailId, OrgId, TenantId, Timestamp, UserId};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a one-time ticket lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TicketKind {
    VerifyEmail,
    ResetPassword,
    Unlock,
    /// A one-time login code of an `email` (passwordless) connection.
    LoginCode,
}

impl TicketKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VerifyEmail => "verify_email",
            Self::ResetPassword => "reset_password",
            Self::Unlock => "unlock",
            Self::LoginCode => "login_code",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "verify_email" => Some(Self::VerifyEmail),
            "reset_password" => Some(Self::ResetPassword),
            "unlock" => Some(Self::Unlock),
            "login_code" => Some(Self::LoginCode),
            _ => None,
        }
    }
}

/// A single-use, short-lived ticket sent by email (the link carries the token; only its
/// SHA-256 is stored).
#[derive(Debug, Clone, PartialEq)]
pub struct UserTicket {
    pub tenant_id: TenantId,
    pub digest: Vec<u8>,
    pub kind: TicketKind,
    pub user_id: UserId,
    /// The address the ticket was sent to.
    pub email: String,
    /// Keyed digest of the short code sent in the same email (verification by code).
    pub code_digest: Option<Vec<u8>>,
    /// Wrong codes entered against this ticket.
    pub attempts: i64,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub consumed_at: Option<Timestamp>,
}

/// What a user agreed an application may do.
#[derive(Debug, Clone, PartialEq)]
pub struct Consent {
    pub tenant_id: TenantId,
    pub user_id: UserId,
    pub client_id: ClientId,
    /// Api identifier the scopes belong to; empty for OpenID Connect scopes only.
    pub audience: String,
    pub scopes: Vec<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where a message of the outbox stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailState {
    /// Waiting for (another) delivery attempt.
    Pending,
    Sent,
    /// Given up after the last attempt.
    Failed,
    /// No SMTP server is configured: kept in the development outbox.
    Stored,
}

impl EmailState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Sent => "sent",
            Self::Failed => "failed",
            Self::Stored => "stored",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "sent" => Some(Self::Sent),
            "failed" => Some(Self::Failed),
            "stored" => Some(Self::Stored),
            _ => None,
        }
    }
}

/// A message in the email outbox.
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxEmail {
    pub tenant_id: TenantId,
    pub id: EmailId,
    pub to_address: String,
    /// The template that produced it (`verify_email`, `reset_email`, …).
    pub template: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    pub state: EmailState,
    pub attempts: i64,
    pub next_attempt_at: Timestamp,
    pub last_error: Option<String>,
    pub created_at: Timestamp,
    pub sent_at: Option<Timestamp>,
}

/// A tenant's override of one built-in email template (minijinja source).
#[derive(Debug, Clone, PartialEq)]
pub struct EmailTemplate {
    pub tenant_id: TenantId,
    /// `verify_email`, `reset_email`, `blocked_account`, `password_changed`, `new_device`.
    pub name: String,
    pub subject: String,
    pub text_body: String,
    pub html_body: String,
    /// A disabled template sends nothing (security notifications can be turned off).
    pub enabled: bool,
    pub updated_at: Timestamp,
}

/// How a tenant's or an organization's hosted pages look. Every field is optional; an
/// organization's branding falls back to its tenant's, field by field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BrandingSettings {
    /// Name shown in page headings ("Log in to {display_name}").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// `#rrggbb`: buttons and links.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_color: Option<String>,
    /// `#rrggbb`: the page behind the card.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub page_background: Option<String>,
    /// Replacement texts: locale → message key → text (plain text, never markup).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub custom_text: BTreeMap<String, BTreeMap<String, String>>,
    /// Extra CSS served as its own stylesheet for this tenant's or organization's pages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_css: Option<String>,
}

/// An uploaded logo (validated PNG, JPEG, GIF or WebP; never SVG).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logo {
    pub bytes: Vec<u8>,
    pub content_type: String,
}

/// Branding of a tenant (`org_id` = `None`) or of one organization.
#[derive(Debug, Clone, PartialEq)]
pub struct Branding {
    pub tenant_id: TenantId,
    pub org_id: Option<OrgId>,
    pub settings: BrandingSettings,
    pub logo: Option<Logo>,
    pub updated_at: Timestamp,
}

/// An email domain that belongs to an organization (home-realm discovery).
#[derive(Debug, Clone, PartialEq)]
pub struct OrgDomain {
    pub tenant_id: TenantId,
    /// Lower case, e.g. `acme.example`.
    pub domain: String,
    pub org_id: OrgId,
    /// The connection the identifier step routes to; `None`: the organization's first
    /// enabled connection.
    pub connection_id: Option<ConnectionId>,
    pub created_at: Timestamp,
}

/// A temporary lock of an account (or of an address that has no account) after repeated
/// failed logins.
#[derive(Debug, Clone, PartialEq)]
pub struct Lockout {
    pub tenant_id: TenantId,
    /// Keyed digest (hex) of the normalised email address.
    pub subject: String,
    pub locked_until: Timestamp,
    /// Times this subject has been locked; each lock lasts twice the one before.
    pub lock_count: i64,
    pub updated_at: Timestamp,
}

/// The tenant's password policy (seed 004: "fair" strength, history of 5, dictionary on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordPolicy {
    pub min_length: u32,
    /// Minimum estimated strength, 0 (none) to 4 (very strong); 2 is "fair".
    pub min_strength: u8,
    /// How many previous passwords may not be reused (0 turns the check off).
    pub history: u32,
    /// Refuse the bundled list of the most common breached passwords.
    pub dictionary: bool,
    /// Refuse passwords containing the user's email address or name.
    pub no_personal_info: bool,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        Self {
            min_length: 8,
            min_strength: 2,
            history: 5,
            dictionary: true,
            no_personal_info: true,
        }
    }
}

/// Attack-protection limits (seed 004 defaults). Counters live in the database, so every
/// node sharing it enforces the same limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AttackProtection {
    /// Requests per minute per client address on the endpoints that check credentials or
    /// send email (login, signup, password reset, verification codes).
    pub auth_per_ip_per_minute: u32,
    /// Failed logins per account per hour before the account is locked.
    pub failed_logins_per_hour: u32,
    /// Length of the first lock, in seconds; each further lock lasts twice as long…
    pub lockout_secs: i64,
    /// …up to this.
    pub lockout_max_secs: i64,
    /// Refresh-token grants per user and application per hour.
    pub refresh_per_user_per_hour: u32,
    /// Failed logins per client address per day, across all accounts, before the address
    /// is refused (credential stuffing).
    pub suspicious_ip_failures_per_day: u32,
}

impl Default for AttackProtection {
    fn default() -> Self {
        Self {
            auth_per_ip_per_minute: 10,
            failed_logins_per_hour: 5,
            lockout_secs: 900,
            lockout_max_secs: 86_400,
            refresh_per_user_per_hour: 30,
            suspicious_ip_failures_per_day: 100,
        }
    }
}

/// Behaviour of the hosted login pages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UniversalLogin {
    /// Show the signup page and link.
    pub signup_enabled: bool,
    /// A user must verify their email address before any application receives a code.
    pub require_email_verification: bool,
    /// Language of pages and emails when neither `ui_locales` nor the browser chooses one
    /// Clavis offers (`en` or `fr`).
    pub default_locale: String,
}

impl Default for UniversalLogin {
    fn default() -> Self {
        Self {
            signup_enabled: true,
            require_email_verification: true,
            default_locale: "en".to_owned(),
        }
    }
}
