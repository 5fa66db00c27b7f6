//! Services behind the Management API: validation of every input (errors name the field),
//! each change and its audit event in one transaction, and the views the API returns.
//! One module per resource family.

pub mod api_keys;
pub mod branding;
pub mod clients;
pub mod connections;
pub mod custom_domains;
pub mod domains;
pub mod email_admin;
pub mod organizations;
pub mod roles;
pub mod signing_keys;
pub mod system_api;
pub mod teams;
pub mod users;

/// Every scope of the Management API, the permissions of its built-in Api.
pub const MANAGEMENT_SCOPES: &[&str] = &[
    "read:users",
    "create:users",
    "update:users",
    "delete:users",
    "read:organizations",
    "create:organizations",
    "update:organizations",
    "delete:organizations",
    "read:organization_members",
    "create:organization_members",
    "delete:organization_members",
    "read:organization_member_roles",
    "create:organization_member_roles",
    "delete:organization_member_roles",
    "read:organization_invitations",
    "create:organization_invitations",
    "delete:organization_invitations",
    "read:organization_domains",
    "create:organization_domains",
    "delete:organization_domains",
    "read:organization_connections",
    "create:organization_connections",
    "update:organization_connections",
    "delete:organization_connections",
    "read:teams",
    "create:teams",
    "update:teams",
    "delete:teams",
    "read:roles",
    "create:roles",
    "update:roles",
    "delete:roles",
    "read:role_members",
    "create:role_members",
    "delete:role_members",
    "read:resource_servers",
    "create:resource_servers",
    "update:resource_servers",
    "delete:resource_servers",
    "read:clients",
    "create:clients",
    "update:clients",
    "delete:clients",
    "update:client_keys",
    "read:client_grants",
    "create:client_grants",
    "update:client_grants",
    "delete:client_grants",
    "read:connections",
    "create:connections",
    "update:connections",
    "delete:connections",
    "read:signing_keys",
    "create:signing_keys",
    "update:signing_keys",
    "read:api_keys",
    "create:api_keys",
    "update:api_keys",
    "delete:api_keys",
    "read:logs",
    "create:log_checkpoints",
    "delete:logs",
    "create:legal_holds",
    "delete:legal_holds",
    "delete:user_audit_data",
    "read:reports",
    "read:log_streams",
    "create:log_streams",
    "update:log_streams",
    "delete:log_streams",
    "read:authz",
    "read:branding",
    "update:branding",
    "delete:branding",
    "read:email_templates",
    "update:email_templates",
    "read:email_outbox",
    "read:custom_domains",
    "create:custom_domains",
    "delete:custom_domains",
];
