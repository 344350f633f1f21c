//! The token check: what every API request reads, and "last used".
//!
//! One indexed point query per request, against the primary, outside any transaction and
//! never cached: a cache could not keep "takes effect on the very next request, on every
//! server instance". On SQLite it runs synchronously on the caller's thread (`sqlite/lookup.rs`
//! says why); on PostgreSQL it is one prepared statement on the pool.

use std::sync::atomic::Ordering;

use super::{write_db, Backend, Store, StoreError};
use crate::model::{Choice, OrgId, Role, TokenId, TokenKind, UserId, UserKind};

/// What the token check reads: the token with its organization and its principal's
/// *current* role and status (a macro, so `concat!` can complete it).
macro_rules! token_check_from {
    () => {
        "t.id AS token_id, t.name AS token_name, \
         t.kind AS kind, t.revoked_at IS NOT NULL AS revoked, \
         o.id AS organization_id, o.name AS organization_name, \
         p.id AS principal_id, p.name AS principal_name, p.kind AS principal_kind, \
         p.role AS principal_role, p.status = 'active' AS principal_active \
         FROM tokens t \
         JOIN organizations o ON o.id = t.organization_id \
         JOIN users p ON p.id = t.principal_id"
    };
}

pub(crate) use token_check_from;

/// One token by its secret's SHA-256 (`$1`).
pub(crate) const TOKEN_BY_DIGEST: &str =
    concat!("SELECT ", token_check_from!(), " WHERE t.digest = $1");

/// A token found by its digest, with everything needed to decide what it may do: its own
/// state, and its principal's *current* role and status.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub token_id: TokenId,
    pub token_name: String,
    pub kind: TokenKind,
    pub revoked: bool,
    pub organization_id: OrgId,
    pub organization_name: String,
    pub principal_id: UserId,
    pub principal_name: String,
    pub principal_kind: UserKind,
    pub principal_role: Option<Role>,
    pub principal_active: bool,
}

/// `TOKEN_BY_DIGEST`'s row, by column name.
#[derive(Clone, Debug, sqlx::FromRow)]
pub(crate) struct TokenAuthRecord {
    pub token_id: i64,
    pub token_name: String,
    pub kind: String,
    pub revoked: bool,
    pub organization_id: i64,
    pub organization_name: String,
    pub principal_id: i64,
    pub principal_name: String,
    pub principal_kind: String,
    pub principal_role: Option<String>,
    pub principal_active: bool,
}

impl From<TokenAuthRecord> for TokenAuth {
    fn from(r: TokenAuthRecord) -> TokenAuth {
        // The schema's CHECK constraints allow no other values; an unknown one can only
        // mean less access (a service account, no role).
        TokenAuth {
            token_id: TokenId(r.token_id),
            token_name: r.token_name,
            kind: TokenKind::parse(&r.kind).unwrap_or(TokenKind::Forwarder),
            revoked: r.revoked,
            organization_id: OrgId(r.organization_id),
            organization_name: r.organization_name,
            principal_id: UserId(r.principal_id),
            principal_name: r.principal_name,
            principal_kind: UserKind::parse(&r.principal_kind).unwrap_or(UserKind::Forwarder),
            principal_role: r.principal_role.as_deref().and_then(Role::parse),
            principal_active: r.principal_active,
        }
    }
}

impl Store {
    /// One indexed lookup by the secret's digest.
    pub async fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenAuth>, StoreError> {
        self.token_lookups.fetch_add(1, Ordering::Relaxed);
        match &self.backend {
            Backend::Sqlite(pools) => Ok(pools.lookup.token_by_digest(digest)?),
            Backend::Postgres(_, checks) => {
                let record = checks.check(digest).await.map_err(StoreError::TokenCheck)?;
                Ok(record.map(TokenAuth::from))
            }
        }
    }

    /// How many token lookups this store has run (tests prove that bad tokens cost none).
    pub fn token_lookups(&self) -> u64 {
        self.token_lookups.load(Ordering::Relaxed)
    }

    /// Records a use unless one was recorded within `interval` seconds: a conditional
    /// update, so several instances together write at most once per interval. True if it
    /// wrote.
    pub async fn record_token_use(
        &self,
        token: TokenId,
        at: i64,
        addr: Option<&str>,
        interval: i64,
    ) -> Result<bool, StoreError> {
        let done = write_db!(self, db => sqlx::query(
            "UPDATE tokens SET last_used_at = $1, last_used_ip = $2 \
             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $4)",
        )
        .bind(at)
        .bind(addr)
        .bind(token)
        .bind(at - interval)
        .execute(db)
        .await?
        .rows_affected());
        Ok(done == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{by, fresh_store, org_of, person};
    use crate::{domain::TokenName, model::TokenKind, server::token_secret::TokenSecret};

    /// Many checks at once (on PostgreSQL they share queries): each gets its own token's
    /// answer, also when one query holds the same token many times.
    #[tokio::test]
    async fn concurrent_checks_each_get_their_own_answer() {
        let (store, _db) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let mut secrets = Vec::new();
        for (name, user) in [("ada-cli", ada), ("ada-ci", ada)] {
            let secret = TokenSecret::generate(TokenKind::Api).unwrap();
            let row = store
                .create_token(org, &by(user), &TokenName::parse(name).unwrap(), &secret, 1)
                .await
                .unwrap();
            secrets.push((secret.digest(), Some(row.id)));
        }
        let forwarder = TokenSecret::generate(TokenKind::Forwarder).unwrap();
        let fwd = store
            .create_token(org, &by(ada), &TokenName::parse("dc-east").unwrap(), &forwarder, 1)
            .await
            .unwrap();
        secrets.push((forwarder.digest(), Some(fwd.id)));
        secrets.push(([7u8; 32].to_vec(), None));
        let checks: Vec<_> = (0..400)
            .map(|i| {
                let store = store.clone();
                let (digest, expected) = secrets[i % 7 % secrets.len()].clone();
                tokio::spawn(async move {
                    let found = store.token_by_digest(&digest).await.unwrap();
                    assert_eq!(found.map(|auth| auth.token_id), expected, "check {i}");
                })
            })
            .collect();
        for check in checks {
            check.await.unwrap();
        }
        assert_eq!(store.token_lookups(), 400);
    }

    /// Closing a pool waits for every connection it lent out: the connections the check
    /// workers keep must come back, or a server never finishes shutting down.
    #[tokio::test]
    async fn a_store_that_checked_tokens_still_closes() {
        let (store, _db) = fresh_store().await;
        for _ in 0..3 {
            assert!(store.token_by_digest(&[7u8; 32]).await.unwrap().is_none());
        }
        let closing = tokio::time::timeout(std::time::Duration::from_secs(30), store.close()).await;
        assert!(closing.is_ok(), "close() still waits for a connection after 30 s");
    }
}
