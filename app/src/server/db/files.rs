//! Files ingested through the API: their records (the bytes live on disk).

use super::{
    audit::{inserting_with_event, Actor, Event},
    read_db, transaction, Store, StoreError,
};
use crate::model::{AuditAction, FileId, OrgId, Page, TargetKind, TokenId, UserId};

#[derive(Clone, Debug, PartialEq, serde::Serialize, sqlx::FromRow)]
pub struct FileRecord {
    pub id: FileId,
    pub name: String,
    pub size: i64,
    pub sha256: String,
    pub created_at: i64,
}

/// A file to record: its bytes are stored and fsynced already.
#[derive(Clone, Copy, Debug)]
pub struct NewFile<'a> {
    pub name: &'a str,
    pub size: i64,
    pub sha256: &'a str,
    /// The token that uploaded it, and the principal it acted as.
    pub token: TokenId,
    pub principal: UserId,
}

impl Store {
    /// Records a file unless it would take the organization's files over `quota_bytes`
    /// (`None`). The writers of one organization take turns (`transaction!`'s lock), so
    /// concurrent uploads cannot both slip under the quota.
    /// Recorded as "File uploaded" by `by` (the token).
    pub async fn insert_file(
        &self,
        organization: OrgId,
        by: &Actor,
        file: NewFile<'_>,
        now: i64,
        quota_bytes: u64,
    ) -> Result<Option<FileRecord>, StoreError> {
        let id: Option<FileId> = transaction!(self, lock = organization, tx => {
            // The new file's id becomes the event's target.
            let event = Event::new(AuditAction::FileUploaded)
                .on(TargetKind::File, 0, file.name)
                .detail(format!("{} bytes", file.size));
            let id = inserting_with_event!(
                &mut *tx,
                [organization, by, event, now],
                "INSERT INTO files (organization_id, name, size, sha256, token_id, principal_id, created_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 \
                 WHERE (SELECT coalesce(sum(size), 0) FROM files WHERE organization_id = $1) + $3 <= $8 \
                 RETURNING id",
                8,
                |query| query
                    .bind(organization)
                    .bind(file.name)
                    .bind(file.size)
                    .bind(file.sha256)
                    .bind(file.token)
                    .bind(file.principal)
                    .bind(now)
                    .bind(i64::try_from(quota_bytes).unwrap_or(i64::MAX))
            )?;
            id.map(FileId)
        });
        Ok(id.map(|id| FileRecord {
            id,
            name: file.name.to_string(),
            size: file.size,
            sha256: file.sha256.to_string(),
            created_at: now,
        }))
    }

    /// The bytes the organization's files take, as its storage quota counts them: every
    /// recorded file at its size, even when several share one stored copy.
    pub async fn organization_file_bytes(&self, organization: OrgId) -> Result<u64, StoreError> {
        let used: i64 = read_db!(self, db => sqlx::query_scalar(
            "SELECT CAST(coalesce(sum(size), 0) AS BIGINT) FROM files WHERE organization_id = $1",
        )
        .bind(organization)
        .fetch_one(db)
        .await?);
        Ok(used.max(0) as u64)
    }

    /// A page of the organization's files, newest first.
    pub async fn list_files(
        &self,
        organization: OrgId,
        page: u32,
        per_page: u32,
        now: i64,
    ) -> Result<Page<FileRecord>, StoreError> {
        let offset = (page.max(1) as u64 - 1) * per_page as u64;
        let (total, rows) = read_db!(self, db => {
            let total: i64 =
                sqlx::query_scalar("SELECT count(*) FROM files WHERE organization_id = $1")
                    .bind(organization)
                    .fetch_one(db)
                    .await?;
            let rows = sqlx::query_as::<_, FileRecord>(
                "SELECT id, name, size, sha256, created_at FROM files WHERE organization_id = $1 \
                 ORDER BY id DESC LIMIT $2 OFFSET $3",
            )
            .bind(organization)
            .bind(per_page as i64)
            .bind(offset as i64)
            .fetch_all(db)
            .await?;
            (total, rows)
        });
        Ok(Page { rows, total: total.max(0) as u64, more: false, page: page.max(1), per_page, now })
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{by, fresh_store, org_of, person};
    use super::*;
    use crate::{
        domain::TokenName,
        model::{Role, TokenKind},
        server::token_secret::TokenSecret,
    };

    #[tokio::test]
    async fn the_quota_counts_every_file_of_the_organization_and_refuses_the_one_beyond_it() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let bob = store
            .create_user("Globex", person("Bob", "bob@globex.test"), Role::Admin, 0)
            .await
            .unwrap();
        let (org, other_org) = (org_of(&store, ada).await, org_of(&store, bob).await);
        let name = |n: &str| TokenName::parse(n).unwrap();
        let secret = || TokenSecret::generate(TokenKind::Api).unwrap();
        let ada_token =
            store.create_token(org, &by(ada), &name("cli"), &secret(), 0).await.unwrap().id;
        let bob_token =
            store.create_token(other_org, &by(bob), &name("cli"), &secret(), 0).await.unwrap().id;
        let file = |org: OrgId, token: TokenId, principal: UserId, size: i64, quota: u64| {
            let store = store.clone();
            let new = NewFile { name: "f", size, sha256: "ab", token, principal };
            async move { store.insert_file(org, &by(principal), new, 0, quota).await.unwrap() }
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
        let recorded: i64 = store.scalar_for_test("SELECT count(*) FROM files", &[]).await;
        assert_eq!(recorded, 4);
    }

    #[tokio::test]
    async fn concurrent_uploads_cannot_take_the_organization_over_its_quota() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let token = store
            .create_token(org, &by(ada), &TokenName::parse("cli").unwrap(), &secret, 0)
            .await
            .unwrap()
            .id;
        // 30 uploads of 10 bytes race for a quota of 100: each saw room before it began.
        let attempts: Vec<_> = (0..30)
            .map(|_| {
                let store = store.clone();
                tokio::spawn(async move {
                    let new = NewFile { name: "f", size: 10, sha256: "ab", token, principal: ada };
                    store.insert_file(org, &by(ada), new, 0, 100).await.unwrap()
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
