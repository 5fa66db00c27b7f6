//! Permissions injected into access tokens (and used to narrow Api scopes) at issuance:
//! the decision library's [`Core::effective_permissions`] — there is one implementation —
//! read inside the issuing transaction, so a change is visible at the next issuance.

use clavis_types::{ApiId, OrgId, TenantId, UserId};

use crate::ports::Tx;
use crate::{Core, CoreError};

impl Core {
    /// The permissions `user` holds on `api` (inside `org` when given), sorted.
    pub(super) async fn token_permissions(
        &self,
        tx: &mut dyn Tx,
        t: &TenantId,
        user: &UserId,
        org: Option<&OrgId>,
        api: &ApiId,
    ) -> Result<Vec<String>, CoreError> {
        let held = self.effective_permissions_in(tx, t, user, org, api).await?;
        Ok(held.names().map(str::to_owned).collect())
    }
}
