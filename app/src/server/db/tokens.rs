//! Auth tokens. Every query is scoped by organization: a token id of another organization
//! behaves exactly like an id that does not exist.

use sqlx::Row;

use super::{is_unique_violation, Store};
use crate::{
    domain::TokenName,
    model::{RevokeOutcome, TokenKind, TokenQuery, TokenRow, TokenStatusFilter, TOKENS_PER_PAGE},
    server::token_secret::TokenSecret,
};

#[derive(Debug, thiserror::Error)]
pub enum CreateTokenError {
    #[error("an active token with this name exists")]
    DuplicateName,
    #[error(transparent)]
    Database(#[from] sqlx::Error),
}

#[derive(Debug)]
pub struct TokenListing {
    pub rows: Vec<TokenRow>,
    pub total: u64,
    pub page: u32,
}

const ROW_COLUMNS: &str = "t.id, t.kind, t.name, t.hint, c.name, t.created_at, t.last_used_at, \
                           t.last_used_ip, t.revoked_at, r.name";
const ROW_JOINS: &str =
    "FROM tokens t JOIN users c ON c.id = t.created_by LEFT JOIN users r ON r.id = t.revoked_by";

/// The WHERE clause for a listing, with only the conditions the query uses, so SQLite
/// plans each combination on its own (a handful of statements, each prepared once per
/// connection). Values are bound in order: organization, then each condition's value.
fn list_filter(query: &TokenQuery) -> String {
    let mut sql = String::from("t.organization_id = ?");
    if !query.q.trim().is_empty() {
        sql.push_str(" AND instr(t.name_key, ?) > 0");
    }
    if query.kind.is_some() {
        sql.push_str(" AND t.kind = ?");
    }
    sql.push_str(match query.status {
        TokenStatusFilter::Active => " AND t.revoked_at IS NULL",
        TokenStatusFilter::Unused => {
            " AND t.revoked_at IS NULL AND (t.last_used_at IS NULL OR t.last_used_at < ?)"
        }
        TokenStatusFilter::Revoked => " AND t.revoked_at IS NOT NULL",
        TokenStatusFilter::All => "",
    });
    sql
}

/// Binds the values of `list_filter`'s placeholders, in its order.
fn bind_filter<'q, O>(
    mut q: sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>>,
    organization_id: i64,
    query: &'q TokenQuery,
    needle: &'q str,
    unused_before: i64,
) -> sqlx::query::QueryAs<'q, sqlx::Sqlite, O, sqlx::sqlite::SqliteArguments<'q>> {
    q = q.bind(organization_id);
    if !needle.is_empty() {
        q = q.bind(needle);
    }
    if let Some(kind) = query.kind {
        q = q.bind(kind.as_str());
    }
    if query.status == TokenStatusFilter::Unused {
        q = q.bind(unused_before);
    }
    q
}

impl Store {
    /// Creates a token; for a File Forwarder token also its Forwarder Service Account, in the
    /// same transaction, so either both exist or neither does.
    pub async fn create_token(
        &self,
        organization_id: i64,
        created_by: i64,
        name: &TokenName,
        secret: &TokenSecret,
        now: i64,
    ) -> Result<TokenRow, CreateTokenError> {
        let mut tx = self.begin_write().await?;
        let kind = secret.kind();
        let principal_id: i64 = match kind {
            TokenKind::Api => created_by,
            TokenKind::Forwarder => {
                sqlx::query_scalar(
                    "INSERT INTO users (organization_id, name, kind, status, created_at) \
                     VALUES (?1, ?2, 'forwarder', 'active', ?3) RETURNING id",
                )
                .bind(organization_id)
                .bind(format!("Forwarder: {}", name.as_str()))
                .bind(now)
                .fetch_one(&mut *tx)
                .await?
            }
        };
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, \
             principal_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) RETURNING id",
        )
        .bind(organization_id)
        .bind(kind.as_str())
        .bind(name.as_str())
        .bind(name.key())
        .bind(secret.hint())
        .bind(secret.digest())
        .bind(created_by)
        .bind(principal_id)
        .bind(now)
        .fetch_one(&mut *tx)
        .await
        .map_err(|e| {
            if is_unique_violation(&e, "tokens_active_name") {
                CreateTokenError::DuplicateName
            } else {
                CreateTokenError::Database(e)
            }
        })?;
        let row =
            fetch_row(&mut *tx, organization_id, id).await?.ok_or(sqlx::Error::RowNotFound)?;
        tx.commit().await?;
        Ok(row)
    }

    /// One page of the organization's tokens, newest first, with the total that matches.
    /// The count and the page run at the same time, on two read connections.
    pub async fn list_tokens(
        &self,
        organization_id: i64,
        query: &TokenQuery,
        now: i64,
    ) -> Result<TokenListing, sqlx::Error> {
        let unused_before = now - crate::model::UNUSED_AFTER_SECS;
        let needle = query.q.trim().to_lowercase();
        let filter = list_filter(query);
        let per_page = TOKENS_PER_PAGE as u64;
        let requested = (query.page.max(1) as u64 - 1) * per_page;
        let count_sql = format!("SELECT count(*) FROM tokens t WHERE {filter}");
        let page_sql = format!(
            "SELECT {ROW_COLUMNS} {ROW_JOINS} WHERE {filter} ORDER BY t.id DESC LIMIT ? OFFSET ?"
        );
        let count = bind_filter(
            sqlx::query_as::<_, (i64,)>(&count_sql),
            organization_id,
            query,
            &needle,
            unused_before,
        )
        .fetch_one(&self.read);
        let page = bind_filter(
            sqlx::query_as::<_, TokenRowRecord>(&page_sql),
            organization_id,
            query,
            &needle,
            unused_before,
        )
        .bind(per_page as i64)
        .bind(requested as i64)
        .fetch_all(&self.read);
        let ((total,), rows) = tokio::try_join!(count, page)?;
        let total = total as u64;
        let offset = super::users::clamp_offset(requested, total, TOKENS_PER_PAGE);
        let rows = if offset == requested {
            rows
        } else {
            // Asked past the end: show the last page instead.
            bind_filter(
                sqlx::query_as::<_, TokenRowRecord>(&page_sql),
                organization_id,
                query,
                &needle,
                unused_before,
            )
            .bind(per_page as i64)
            .bind(offset as i64)
            .fetch_all(&self.read)
            .await?
        };
        Ok(TokenListing {
            rows: rows.into_iter().map(|r| r.0).collect(),
            total,
            page: (offset / per_page) as u32 + 1,
        })
    }

    /// Revokes a token of the organization. `None` when no such token exists there.
    /// Revoking twice changes nothing and says so (`revoked_now: false`).
    pub async fn revoke_token(
        &self,
        organization_id: i64,
        id: i64,
        revoked_by: i64,
        now: i64,
    ) -> Result<Option<RevokeOutcome>, sqlx::Error> {
        let mut tx = self.begin_write().await?;
        let changed = sqlx::query(
            "UPDATE tokens SET revoked_at = ?1, revoked_by = ?2 \
             WHERE id = ?3 AND organization_id = ?4 AND revoked_at IS NULL",
        )
        .bind(now)
        .bind(revoked_by)
        .bind(id)
        .bind(organization_id)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        let row = fetch_row(&mut *tx, organization_id, id).await?;
        tx.commit().await?;
        Ok(row.map(|token| RevokeOutcome { token, revoked_now: changed == 1 }))
    }

    pub async fn token(
        &self,
        organization_id: i64,
        id: i64,
    ) -> Result<Option<TokenRow>, sqlx::Error> {
        fetch_row(&self.read, organization_id, id).await
    }
}

async fn fetch_row<'e, E>(
    executor: E,
    organization_id: i64,
    id: i64,
) -> Result<Option<TokenRow>, sqlx::Error>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let row = sqlx::query(&format!(
        "SELECT {ROW_COLUMNS} {ROW_JOINS} WHERE t.id = ?1 AND t.organization_id = ?2"
    ))
    .bind(id)
    .bind(organization_id)
    .fetch_optional(executor)
    .await?;
    Ok(row.as_ref().map(token_row))
}

/// A `TokenRow` read by `query_as`.
struct TokenRowRecord(TokenRow);

impl sqlx::FromRow<'_, sqlx::sqlite::SqliteRow> for TokenRowRecord {
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(TokenRowRecord(token_row(row)))
    }
}

fn token_row(r: &sqlx::sqlite::SqliteRow) -> TokenRow {
    TokenRow {
        id: r.get(0),
        kind: TokenKind::parse(r.get(1)).unwrap_or(TokenKind::Api),
        name: r.get(2),
        hint: r.get(3),
        created_by: r.get(4),
        created_at: r.get(5),
        last_used_at: r.get(6),
        last_used_ip: r.get(7),
        revoked_at: r.get(8),
        revoked_by: r.get(9),
    }
}

/// Lets tests and the benchmark seed many tokens quickly (not used by request handlers).
impl Store {
    pub async fn seed_tokens(
        &self,
        organization_id: i64,
        created_by: i64,
        count: u32,
        now: i64,
    ) -> Result<(), sqlx::Error> {
        let mut tx = self.begin_write().await?;
        for i in 0..count {
            let secret = TokenSecret::generate(TokenKind::Api)
                .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
            let name = format!("seed-{i:06}");
            sqlx::query(
                "INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, \
                 principal_id, created_at) VALUES (?1, 'api', ?2, ?2, ?3, ?4, ?5, ?5, ?6)",
            )
            .bind(organization_id)
            .bind(&name)
            .bind(secret.hint())
            .bind(secret.digest())
            .bind(created_by)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::fresh_store;
    use super::*;
    use crate::model::{Role, UserStatus};

    async fn org_of(store: &Store, user: i64) -> i64 {
        sqlx::query_scalar("SELECT organization_id FROM users WHERE id = ?1")
            .bind(user)
            .fetch_one(&store.read)
            .await
            .unwrap()
    }

    async fn make(
        store: &Store,
        org: i64,
        user: i64,
        kind: TokenKind,
        name: &str,
    ) -> Result<TokenRow, CreateTokenError> {
        let secret = TokenSecret::generate(kind).unwrap();
        store.create_token(org, user, &TokenName::parse(name).unwrap(), &secret, 100).await
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        sqlx::query_scalar(sql).fetch_one(&store.read).await.unwrap()
    }

    #[tokio::test]
    async fn active_names_are_unique_ignoring_case_and_revoked_names_are_reusable() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let first = make(&store, org, ada, TokenKind::Api, "Tines-integration-prod").await.unwrap();
        assert!(matches!(
            make(&store, org, ada, TokenKind::Api, "tines-INTEGRATION-prod").await,
            Err(CreateTokenError::DuplicateName)
        ));
        assert!(matches!(
            make(&store, org, ada, TokenKind::Forwarder, "Tines-integration-prod").await,
            Err(CreateTokenError::DuplicateName)
        ));
        store.revoke_token(org, first.id, ada, 200).await.unwrap().unwrap();
        make(&store, org, ada, TokenKind::Api, "Tines-integration-prod").await.unwrap();
        // Non-ASCII names compare without case too.
        make(&store, org, ada, TokenKind::Api, "Ärger").await.unwrap();
        assert!(make(&store, org, ada, TokenKind::Api, "ärger").await.is_err());
    }

    #[tokio::test]
    async fn forwarder_token_and_its_service_account_are_created_together_or_not_at_all() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org = org_of(&store, ada).await;
        make(&store, org, ada, TokenKind::Forwarder, "forwarder-dc-east").await.unwrap();
        assert_eq!(
            count(&store, "SELECT count(*) FROM users WHERE kind = 'forwarder' AND name = 'Forwarder: forwarder-dc-east' AND email IS NULL AND password_hash IS NULL").await,
            1
        );
        assert_eq!(
            count(&store, "SELECT count(*) FROM tokens t JOIN users u ON u.id = t.principal_id WHERE u.kind = 'forwarder'").await,
            1
        );
        // The token insert fails after the account insert: the account must not remain.
        assert!(make(&store, org, ada, TokenKind::Forwarder, "FORWARDER-dc-east").await.is_err());
        assert_eq!(count(&store, "SELECT count(*) FROM users WHERE kind = 'forwarder'").await, 1);
        // An API/CLI token acts as its creator.
        make(&store, org, ada, TokenKind::Api, "cli").await.unwrap();
        assert_eq!(count(&store, "SELECT principal_id FROM tokens WHERE name = 'cli'").await, ada);
    }

    #[tokio::test]
    async fn revoke_is_permanent_and_idempotent() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let t = make(&store, org, ada, TokenKind::Api, "cli").await.unwrap();
        let first = store.revoke_token(org, t.id, ada, 500).await.unwrap().unwrap();
        assert!(first.revoked_now);
        assert_eq!(first.token.revoked_at, Some(500));
        assert_eq!(first.token.revoked_by.as_deref(), Some("Ada"));
        let second = store.revoke_token(org, t.id, ada, 900).await.unwrap().unwrap();
        assert!(!second.revoked_now);
        assert_eq!(second.token.revoked_at, Some(500), "a second revoke must not move the time");
        assert!(store.revoke_token(org, 9_999, ada, 900).await.unwrap().is_none());
    }

    #[tokio::test]
    async fn organizations_see_nothing_of_each_other() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let hank = store
            .create_user("Globex", "Hank", "hank@globex.test", "h", crate::model::Role::Admin, 0)
            .await
            .unwrap();
        let acme = org_of(&store, ada).await;
        let globex = org_of(&store, hank).await;
        let t = make(&store, acme, ada, TokenKind::Api, "shared-name").await.unwrap();
        // The same name is free in the other organization.
        make(&store, globex, hank, TokenKind::Api, "shared-name").await.unwrap();
        let query = TokenQuery { status: TokenStatusFilter::All, ..Default::default() };
        let listed = store.list_tokens(globex, &query, 1_000).await.unwrap();
        assert_eq!(listed.total, 1);
        assert!(listed.rows.iter().all(|r| r.id != t.id));
        assert!(store.token(globex, t.id).await.unwrap().is_none());
        assert!(store.revoke_token(globex, t.id, hank, 10).await.unwrap().is_none());
        assert!(store.token(acme, t.id).await.unwrap().unwrap().revoked_at.is_none());
    }

    #[tokio::test]
    async fn listing_filters_and_pages_in_the_database() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org = org_of(&store, ada).await;
        store.seed_tokens(org, ada, 60, 100).await.unwrap();
        let f = make(&store, org, ada, TokenKind::Forwarder, "forwarder-dc-east").await.unwrap();
        let r = make(&store, org, ada, TokenKind::Api, "Old-Seed-Thing").await.unwrap();
        store.revoke_token(org, r.id, ada, 300).await.unwrap();

        let q = |q: &str, kind: Option<TokenKind>, status: TokenStatusFilter, page: u32| {
            TokenQuery { q: q.into(), kind, status, page }
        };
        let first = store
            .list_tokens(org, &q("", None, TokenStatusFilter::Active, 1), 1_000)
            .await
            .unwrap();
        assert_eq!(first.total, 61);
        assert_eq!(first.rows.len(), 25);
        assert_eq!(first.rows[0].id, f.id, "newest first");
        let last = store
            .list_tokens(org, &q("", None, TokenStatusFilter::Active, 3), 1_000)
            .await
            .unwrap();
        assert_eq!(last.rows.len(), 11);
        let beyond = store
            .list_tokens(org, &q("", None, TokenStatusFilter::Active, 99), 1_000)
            .await
            .unwrap();
        assert_eq!((beyond.page, beyond.rows.len()), (3, 11));
        let named = store
            .list_tokens(org, &q("SEED-00001", None, TokenStatusFilter::Active, 1), 1_000)
            .await
            .unwrap();
        assert_eq!(named.total, 10);
        let seed_all = store
            .list_tokens(org, &q("seed", None, TokenStatusFilter::All, 1), 1_000)
            .await
            .unwrap();
        assert_eq!(seed_all.total, 61);
        let revoked = store
            .list_tokens(org, &q("", None, TokenStatusFilter::Revoked, 1), 1_000)
            .await
            .unwrap();
        assert_eq!(revoked.total, 1);
        assert_eq!(revoked.rows[0].name, "Old-Seed-Thing");
        let forwarders = store
            .list_tokens(org, &q("", Some(TokenKind::Forwarder), TokenStatusFilter::All, 1), 1_000)
            .await
            .unwrap();
        assert_eq!(forwarders.total, 1);
        // LIKE wildcards in the filter are plain characters.
        assert_eq!(
            store
                .list_tokens(org, &q("%", None, TokenStatusFilter::All, 1), 1_000)
                .await
                .unwrap()
                .total,
            0
        );
    }

    #[tokio::test]
    async fn the_token_check_sees_each_committed_change_at_once() {
        let (store, _dir) = fresh_store().await;
        let ada = store.setup_first_admin("Acme", "Ada", "ada@acme.test", "h", 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let bob =
            store.create_user("Acme", "Bob", "bob@acme.test", "h", Role::Admin, 0).await.unwrap();
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let row = store
            .create_token(org, bob, &TokenName::parse("ci").unwrap(), &secret, 100)
            .await
            .unwrap();
        let digest = secret.digest();

        let auth = store.token_by_digest(&digest).unwrap().expect("found");
        assert_eq!(
            (auth.token_id, auth.principal_id, auth.organization_name.as_str()),
            (row.id, bob, "Acme")
        );
        assert_eq!(
            (auth.kind, auth.principal_role, auth.principal_active, auth.revoked),
            (TokenKind::Api, Some(Role::Admin), true, false)
        );

        store.set_role(org, ada, bob, Role::ReadOnly).await.unwrap();
        assert_eq!(
            store.token_by_digest(&digest).unwrap().unwrap().principal_role,
            Some(Role::ReadOnly)
        );
        store.set_status(org, ada, bob, UserStatus::Disabled).await.unwrap();
        assert!(!store.token_by_digest(&digest).unwrap().unwrap().principal_active);
        store.revoke_token(org, row.id, ada, 200).await.unwrap().unwrap();
        assert!(store.token_by_digest(&digest).unwrap().unwrap().revoked);
        assert!(store.token_by_digest(&[0u8; 32]).unwrap().is_none());
    }
}
