//! What the token-authenticated HTTP API reads and writes.

use std::sync::atomic::Ordering;

use sqlx::Row;

use super::Store;
use crate::model::{Role, TokenKind, UserKind};

/// A token found by its digest, with everything needed to decide what it may do: its own
/// state, and its principal's *current* role and status.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub token_id: i64,
    pub token_name: String,
    pub kind: TokenKind,
    pub revoked: bool,
    pub organization_id: i64,
    pub organization_name: String,
    pub principal_id: i64,
    pub principal_name: String,
    pub principal_kind: UserKind,
    pub principal_role: Option<Role>,
    pub principal_active: bool,
}

#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct FileRecord {
    pub id: i64,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

impl Store {
    /// One indexed lookup by the secret's digest, with the principal's current role and
    /// status. Runs synchronously on the caller's thread (see `lookup.rs` for why).
    pub fn token_by_digest(&self, digest: &[u8]) -> Result<Option<TokenAuth>, rusqlite::Error> {
        self.token_lookups.fetch_add(1, Ordering::Relaxed);
        self.lookup.token_by_digest(digest)
    }

    /// How many token lookups this store has run (tests prove that bad tokens cost none).
    pub fn token_lookups(&self) -> u64 {
        self.token_lookups.load(Ordering::Relaxed)
    }

    /// Records a use unless one was recorded within `interval` seconds. True if it wrote.
    pub async fn record_token_use(
        &self,
        token_id: i64,
        at: i64,
        addr: Option<&str>,
        interval: i64,
    ) -> Result<bool, sqlx::Error> {
        let done = sqlx::query(
            "UPDATE tokens SET last_used_at = ?1, last_used_ip = ?2 \
             WHERE id = ?3 AND (last_used_at IS NULL OR last_used_at <= ?1 - ?4)",
        )
        .bind(at)
        .bind(addr)
        .bind(token_id)
        .bind(interval)
        .execute(&self.write)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records a file unless it would take the organization's files over `quota_bytes`
    /// (`None`). The sum and the insert are one statement on the single write connection,
    /// so concurrent uploads cannot both slip under the quota.
    // One value per column; a struct for them would only rename the arguments.
    #[allow(clippy::too_many_arguments)]
    pub async fn insert_file(
        &self,
        organization_id: i64,
        name: &str,
        size: i64,
        sha256: &str,
        token_id: i64,
        principal_id: i64,
        now: i64,
        quota_bytes: u64,
    ) -> Result<Option<FileRecord>, sqlx::Error> {
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO files (organization_id, name, size, sha256, token_id, principal_id, created_at) \
             SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7 \
             WHERE (SELECT coalesce(sum(size), 0) FROM files WHERE organization_id = ?1) + ?3 <= ?8 \
             RETURNING id",
        )
        .bind(organization_id)
        .bind(name)
        .bind(size)
        .bind(sha256)
        .bind(token_id)
        .bind(principal_id)
        .bind(now)
        .bind(i64::try_from(quota_bytes).unwrap_or(i64::MAX))
        .fetch_optional(&self.write)
        .await?;
        Ok(id.map(|id| FileRecord {
            id,
            name: name.to_string(),
            size,
            sha256: sha256.to_string(),
            created_at: now,
        }))
    }

    /// The bytes the organization's files take, as its storage quota counts them: every
    /// recorded file at its size, even when several share one stored copy.
    pub async fn organization_file_bytes(&self, organization_id: i64) -> Result<u64, sqlx::Error> {
        let used: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(size), 0) FROM files WHERE organization_id = ?1",
        )
        .bind(organization_id)
        .fetch_one(&self.read)
        .await?;
        Ok(used.max(0) as u64)
    }

    /// The organization's files, newest first.
    pub async fn list_files(
        &self,
        organization_id: i64,
        offset: u64,
        limit: u32,
    ) -> Result<(Vec<FileRecord>, u64), sqlx::Error> {
        let total: i64 =
            sqlx::query_scalar("SELECT count(*) FROM files WHERE organization_id = ?1")
                .bind(organization_id)
                .fetch_one(&self.read)
                .await?;
        let rows = sqlx::query(
            "SELECT id, name, size, sha256, created_at FROM files WHERE organization_id = ?1 \
             ORDER BY id DESC LIMIT ?2 OFFSET ?3",
        )
        .bind(organization_id)
        .bind(limit as i64)
        .bind(offset as i64)
        .fetch_all(&self.read)
        .await?;
        let files = rows
            .iter()
            .map(|r| FileRecord {
                id: r.get(0),
                name: r.get(1),
                size: r.get(2),
                sha256: r.get(3),
                created_at: r.get(4),
            })
            .collect();
        Ok((files, total as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::fresh_store;
    use super::*;
    use crate::{domain::TokenName, server::token_secret::TokenSecret};

    #[tokio::test]
    async fn the_quota_counts_every_file_of_the_organization_and_refuses_the_one_beyond_it() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let bob = store
            .create_user("Globex", "Bob", "bob@globex.test", "h", Role::Admin, 0)
            .await
            .unwrap();
        let org_of = |user: i64| {
            sqlx::query_scalar::<_, i64>("SELECT organization_id FROM users WHERE id = ?1")
                .bind(user)
                .fetch_one(&store.read)
        };
        let (org, other_org) = (org_of(ada).await.unwrap(), org_of(bob).await.unwrap());
        let name = |n: &str| TokenName::parse(n).unwrap();
        let secret = || TokenSecret::generate(TokenKind::Api).unwrap();
        let ada_token = store.create_token(org, ada, &name("cli"), &secret(), 0).await.unwrap().id;
        let bob_token =
            store.create_token(other_org, bob, &name("cli"), &secret(), 0).await.unwrap().id;
        let file = |org: i64, token: i64, user: i64, size: i64, quota: u64| {
            let store = store.clone();
            async move { store.insert_file(org, "f", size, "ab", token, user, 0, quota).await.unwrap() }
        };

        assert_eq!(store.organization_file_bytes(org).await.unwrap(), 0);
        assert!(file(org, ada_token, ada, 60, 100).await.is_some());
        assert!(
            file(org, ada_token, ada, 40, 100).await.is_some(),
            "exactly at the quota is allowed"
        );
        assert_eq!(file(org, ada_token, ada, 1, 100).await, None);
        assert!(file(org, ada_token, ada, 0, 100).await.is_some());
        assert_eq!(store.organization_file_bytes(org).await.unwrap(), 100);
        // Another organization's files are not counted.
        assert!(file(other_org, bob_token, bob, 100, 100).await.is_some());
        assert_eq!(store.organization_file_bytes(org).await.unwrap(), 100);
        let recorded: i64 =
            sqlx::query_scalar("SELECT count(*) FROM files").fetch_one(&store.read).await.unwrap();
        assert_eq!(recorded, 4);
    }

    #[tokio::test]
    async fn concurrent_uploads_cannot_take_the_organization_over_its_quota() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org: i64 = sqlx::query_scalar("SELECT organization_id FROM users WHERE id = ?1")
            .bind(ada)
            .fetch_one(&store.read)
            .await
            .unwrap();
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let token = store
            .create_token(org, ada, &TokenName::parse("cli").unwrap(), &secret, 0)
            .await
            .unwrap()
            .id;
        // 30 uploads of 10 bytes race for a quota of 100: each saw room before it began.
        let attempts: Vec<_> = (0..30)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    store.insert_file(org, "f", 10, "ab", token, ada, 0, 100).await.unwrap()
                })
            })
            .collect();
        let mut recorded = 0;
        for attempt in attempts {
            recorded += attempt.await.unwrap().is_some() as u32;
        }
        assert_eq!(recorded, 10);
        assert_eq!(store.organization_file_bytes(org).await.unwrap(), 100);
    }
}
