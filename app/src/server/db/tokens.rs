//! Auth tokens. Every query is scoped by organization: a token id of another organization
//! behaves exactly like an id that does not exist.

use sqlx::{Database, Encode, QueryBuilder, Type};

use super::{
    audit::{carrying_event, changing_with_event, Actor, Event},
    clamp_offset, contains_pattern, push_page, read_db, transaction, unique_violation, Store,
    StoreError,
};
use crate::{
    domain::TokenName,
    model::{
        AuditAction, Choice, OrgId, Page, RevokeOutcome, RevokeReason, TargetKind, TokenId,
        TokenKind, TokenQuery, TokenRow, TokenStatusFilter, UserId, TOKENS_PER_PAGE,
        UNUSED_AFTER_SECS,
    },
    server::token_secret::TokenSecret,
};

/// Inserts a token and returns its id.
macro_rules! insert_token {
    ($conn:expr, $org:expr, $name:expr, $name_key:expr, $secret:expr, $created_by:expr, $principal:expr, $now:expr) => {
        sqlx::query_scalar::<_, TokenId>(
            "INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, created_by, \
             principal_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        )
        .bind($org)
        .bind($secret.kind().as_str())
        .bind($name)
        .bind($name_key)
        .bind($secret.hint())
        .bind($secret.digest())
        .bind($created_by)
        .bind($principal)
        .bind($now)
        .fetch_one($conn)
    };
}

/// What regenerating keeps of a token.
#[derive(sqlx::FromRow)]
struct Lineage {
    kind: String,
    name: String,
    name_key: String,
    created_by: UserId,
    principal_id: UserId,
}

/// Where a reported token lives.
#[derive(sqlx::FromRow)]
struct Reported {
    id: TokenId,
    organization_id: OrgId,
    name: String,
}

/// A listed token's columns, by name (a macro, so `concat!` can extend it).
macro_rules! row_select {
    () => {
        "SELECT t.id AS id, t.kind AS kind, t.name AS name, t.hint AS hint, \
         c.name AS created_by, t.created_at AS created_at, t.last_used_at AS last_used_at, \
         t.last_used_ip AS last_used_ip, t.revoked_at AS revoked_at, r.name AS revoked_by, \
         t.revoked_reason AS revoked_reason \
         FROM tokens t JOIN users c ON c.id = t.created_by \
         LEFT JOIN users r ON r.id = t.revoked_by"
    };
}

#[derive(sqlx::FromRow)]
struct TokenRecord {
    id: i64,
    kind: String,
    name: String,
    hint: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    last_used_ip: Option<String>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
    revoked_reason: Option<String>,
}

impl From<TokenRecord> for TokenRow {
    fn from(r: TokenRecord) -> TokenRow {
        TokenRow {
            id: TokenId(r.id),
            kind: TokenKind::parse(&r.kind).unwrap_or(TokenKind::Api),
            name: r.name,
            hint: r.hint,
            created_by: r.created_by,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
            last_used_ip: r.last_used_ip,
            revoked_at: r.revoked_at,
            revoked_by: r.revoked_by,
            revoked_reason: r.revoked_reason.as_deref().and_then(RevokeReason::parse),
        }
    }
}

/// One token of the organization, on any connection or pool of either backend; with
/// `recording [ORG, ACTOR, EVENT, NOW]`, on a transaction, the read-back after a change that
/// also appends the change's event (`carrying_event!`).
macro_rules! token_row {
    ($conn:expr, $org:expr, $id:expr) => {
        async {
            sqlx::query_as::<_, TokenRecord>(concat!(
                row_select!(),
                " WHERE t.id = $1 AND t.organization_id = $2"
            ))
            .bind($id)
            .bind($org)
            .fetch_optional($conn)
            .await
            .map(|r| r.map(TokenRow::from))
        }
    };
    ($conn:expr, $org:expr, $id:expr, recording $event:tt) => {
        async {
            carrying_event!(
                $conn,
                $event,
                concat!(row_select!(), " WHERE t.id = $1 AND t.organization_id = $2"),
                2,
                |sql| sqlx::query_as::<_, TokenRecord>(sql).bind($id).bind($org),
                fetch_optional
            )
            .map(|r| r.map(TokenRow::from))
        }
    };
}

/// The listing's query: `select` (the rows, or their count) with only the conditions the
/// query uses, so each combination gets its own plan; with `page`, that page's rows newest
/// first.
fn listing<'a, DB>(
    select: &str,
    organization: OrgId,
    query: &TokenQuery,
    unused_before: i64,
    page: Option<(u32, u64)>,
) -> QueryBuilder<'a, DB>
where
    DB: Database,
    DB::Arguments<'a>: Default,
    OrgId: Encode<'a, DB> + Type<DB>,
    i64: Encode<'a, DB> + Type<DB>,
    String: Encode<'a, DB> + Type<DB>,
{
    let mut qb = QueryBuilder::new(select);
    qb.push(" WHERE t.organization_id = ").push_bind(organization);
    let needle = query.q.trim().to_lowercase();
    if !needle.is_empty() {
        qb.push(" AND t.name_key LIKE ").push_bind(contains_pattern(&needle)).push(" ESCAPE '\\'");
    }
    if let Some(kind) = query.kind {
        qb.push(" AND t.kind = ").push_bind(kind.as_str().to_string());
    }
    match query.status {
        TokenStatusFilter::Active => {
            qb.push(" AND t.revoked_at IS NULL");
        }
        TokenStatusFilter::Unused => {
            qb.push(" AND t.revoked_at IS NULL AND (t.last_used_at IS NULL OR t.last_used_at < ")
                .push_bind(unused_before)
                .push(")");
        }
        TokenStatusFilter::Revoked => {
            qb.push(" AND t.revoked_at IS NOT NULL");
        }
        TokenStatusFilter::All => {}
    }
    if let Some((per_page, offset)) = page {
        push_page(&mut qb, "t.id DESC", per_page, offset);
    }
    qb
}

impl Store {
    /// Creates a token; for a File Forwarder token also its Forwarder Service Account, in the
    /// same transaction, so either both exist or neither does. `created_by` must still be an
    /// active admin when the transaction runs.
    /// Recorded as "Token generated" by `by`.
    pub async fn create_token(
        &self,
        organization: OrgId,
        by: &Actor,
        name: &TokenName,
        secret: &TokenSecret,
        now: i64,
    ) -> Result<TokenRow, StoreError> {
        let created_by = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = created_by, tx => {
            let kind = secret.kind();
            let principal: UserId = match kind {
                TokenKind::Api => created_by,
                TokenKind::Forwarder => {
                    let account = format!("Forwarder: {}", name.as_str());
                    sqlx::query_scalar(
                        "INSERT INTO users (organization_id, name, name_key, kind, status, created_at) \
                         VALUES ($1, $2, $3, 'forwarder', 'active', $4) RETURNING id",
                    )
                    .bind(organization)
                    .bind(&account)
                    .bind(account.to_lowercase())
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?
                }
            };
            let id = insert_token!(
                &mut *tx, organization, name.as_str(), name.key(), secret, created_by, principal, now
            )
            .await
            .map_err(unique_violation)?;
            let event = Event::new(AuditAction::TokenGenerated)
                .on(TargetKind::Token, id.0, name.as_str())
                .detail(kind.label());
            token_row!(&mut *tx, organization, id, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?
        }))
    }

    /// Replaces an active token: the old one is revoked (reason: regenerated) and a new one
    /// with its name, type, creator and principal (a File Forwarder token keeps its Forwarder
    /// Service Account) takes its place, in one transaction, recorded as "Token regenerated"
    /// by `by`. Returns the new token and its secret. `NotFound` for a token that is not
    /// active in this organization.
    pub async fn regenerate_token(
        &self,
        organization: OrgId,
        id: TokenId,
        by: &Actor,
        now: i64,
    ) -> Result<(TokenRow, TokenSecret), StoreError> {
        let admin = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = admin, tx => {
            let old = sqlx::query_as::<_, Lineage>(
                "SELECT kind, name, name_key, created_by, principal_id FROM tokens \
                 WHERE id = $1 AND organization_id = $2 AND revoked_at IS NULL",
            )
            .bind(id)
            .bind(organization)
            .fetch_optional(&mut *tx)
            .await?
            .ok_or(StoreError::NotFound)?;
            let kind = TokenKind::parse(&old.kind).ok_or(StoreError::NotFound)?;
            let secret = TokenSecret::generate(kind)
                .map_err(|e| StoreError::Database(sqlx::Error::Protocol(e.to_string())))?;
            sqlx::query(
                "UPDATE tokens SET revoked_at = $1, revoked_by = $2, revoked_reason = 'regenerated' \
                 WHERE id = $3 AND organization_id = $4 AND revoked_at IS NULL",
            )
            .bind(now)
            .bind(admin)
            .bind(id)
            .bind(organization)
            .execute(&mut *tx)
            .await?;
            let new = insert_token!(
                &mut *tx, organization, &old.name, &old.name_key, &secret, old.created_by,
                old.principal_id, now
            )
            .await
            .map_err(unique_violation)?;
            let event = Event::new(AuditAction::TokenRegenerated)
                .on(TargetKind::Token, new.0, &old.name)
                .detail(format!("replaces token {id}"));
            let row = token_row!(&mut *tx, organization, new, recording [organization, by, event, now])
                .await?
                .ok_or(StoreError::NotFound)?;
            (row, secret)
        }))
    }

    /// Revokes every active token among `digests` (reason: reported exposed), each in its
    /// organization's transaction with a "Token reported exposed" event by `reporter`.
    /// Returns how many it revoked: for the log only, never for the reporter.
    pub async fn report_exposed(
        &self,
        digests: &[Vec<u8>],
        reporter: &Actor,
        now: i64,
    ) -> Result<u32, StoreError> {
        let mut revoked = 0;
        for digest in digests {
            let found = read_db!(self, db => sqlx::query_as::<_, Reported>(
                "SELECT id, organization_id, name FROM tokens WHERE digest = $1 AND revoked_at IS NULL",
            )
            .bind(digest.as_slice())
            .fetch_optional(db)
            .await?);
            let Some(token) = found else { continue };
            let changed = transaction!(self, lock = token.organization_id, tx => {
                let event = Event::new(AuditAction::TokenReportedExposed)
                    .on(TargetKind::Token, token.id.0, &token.name);
                changing_with_event!(
                    &mut *tx,
                    [token.organization_id, reporter, event, now],
                    "UPDATE tokens SET revoked_at = $1, revoked_reason = 'reported_exposed' \
                     WHERE id = $2 AND revoked_at IS NULL",
                    2,
                    |sql| sqlx::query_scalar(sql).bind(now).bind(token.id)
                )?
            });
            revoked += changed as u32;
        }
        Ok(revoked)
    }

    /// One page of the organization's tokens, newest first, with the total that matches.
    /// The count and the page run at the same time, on two connections.
    pub async fn list_tokens(
        &self,
        organization: OrgId,
        query: &TokenQuery,
        now: i64,
    ) -> Result<Page<TokenRow>, StoreError> {
        let unused_before = now - UNUSED_AFTER_SECS;
        let per_page = TOKENS_PER_PAGE;
        let requested = (query.page.max(1) as u64 - 1) * per_page as u64;
        const COUNT: &str = "SELECT count(*) FROM tokens t";
        let (total, rows, offset) = read_db!(self, db => {
            let mut count = listing(COUNT, organization, query, unused_before, None);
            let mut page =
                listing(row_select!(), organization, query, unused_before, Some((per_page, requested)));
            let (total, rows) = tokio::try_join!(
                count.build_query_scalar::<i64>().fetch_one(db),
                page.build_query_as::<TokenRecord>().fetch_all(db),
            )?;
            let total = total.max(0) as u64;
            let offset = clamp_offset(requested, total, per_page);
            // Asked past the end: show the last page instead.
            let rows = if offset == requested {
                rows
            } else {
                listing(row_select!(), organization, query, unused_before, Some((per_page, offset)))
                    .build_query_as::<TokenRecord>()
                    .fetch_all(db)
                    .await?
            };
            (total, rows, offset)
        });
        Ok(Page {
            rows: rows.into_iter().map(TokenRow::from).collect(),
            total,
            more: false,
            page: (offset / per_page as u64) as u32 + 1,
            per_page,
            now,
        })
    }

    /// Revokes a token of the organization (`NotFound` when no such token exists there).
    /// Revoking twice changes nothing and says so (`revoked_now: false`).
    /// Recorded as "Token revoked" by `by` when it was active.
    pub async fn revoke_token(
        &self,
        organization: OrgId,
        id: TokenId,
        by: &Actor,
        now: i64,
    ) -> Result<RevokeOutcome, StoreError> {
        let revoked_by = by.acting_user()?;
        Ok(transaction!(self, lock = organization, actor = revoked_by, tx => {
            // The name of the token revoked now; none when it was revoked already or is not here.
            let revoked: Option<String> = sqlx::query_scalar(
                "UPDATE tokens SET revoked_at = $1, revoked_by = $2, revoked_reason = 'revoked' \
                 WHERE id = $3 AND organization_id = $4 AND revoked_at IS NULL RETURNING name",
            )
            .bind(now)
            .bind(revoked_by)
            .bind(id)
            .bind(organization)
            .fetch_optional(&mut *tx)
            .await?;
            let token = match &revoked {
                Some(name) => {
                    let event = Event::new(AuditAction::TokenRevoked).on(TargetKind::Token, id.0, name);
                    token_row!(&mut *tx, organization, id, recording [organization, by, event, now]).await?
                }
                None => token_row!(&mut *tx, organization, id).await?,
            };
            RevokeOutcome { token: token.ok_or(StoreError::NotFound)?, revoked_now: revoked.is_some() }
        }))
    }

    pub async fn token(
        &self,
        organization: OrgId,
        id: TokenId,
    ) -> Result<Option<TokenRow>, StoreError> {
        Ok(read_db!(self, db => token_row!(db, organization, id).await?))
    }

    /// Lets tests and the benchmark seed many tokens quickly (not used by request handlers).
    pub async fn seed_tokens(
        &self,
        organization: OrgId,
        created_by: UserId,
        count: u32,
        now: i64,
    ) -> Result<(), StoreError> {
        transaction!(self, tx => {
            for i in 0..count {
                let secret = TokenSecret::generate(TokenKind::Api)
                    .map_err(|e| sqlx::Error::Protocol(e.to_string()))?;
                let name = format!("seed-{i:06}");
                sqlx::query(
                    "INSERT INTO tokens (organization_id, kind, name, name_key, hint, digest, \
                     created_by, principal_id, created_at) VALUES ($1, 'api', $2, $2, $3, $4, $5, $5, $6)",
                )
                .bind(organization)
                .bind(&name)
                .bind(secret.hint())
                .bind(secret.digest())
                .bind(created_by)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            }
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::{by, fresh_store, org_of, person};
    use super::*;
    use crate::{
        model::{Role, UserStatus},
        server::db::Unique,
    };

    async fn make(
        store: &Store,
        org: OrgId,
        user: UserId,
        kind: TokenKind,
        name: &str,
    ) -> Result<TokenRow, StoreError> {
        let secret = TokenSecret::generate(kind).unwrap();
        store.create_token(org, &by(user), &TokenName::parse(name).unwrap(), &secret, 100).await
    }

    async fn count(store: &Store, sql: &str) -> i64 {
        store.scalar_for_test(sql, &[]).await
    }

    #[tokio::test]
    async fn active_names_are_unique_ignoring_case_and_revoked_names_are_reusable() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let first = make(&store, org, ada, TokenKind::Api, "Tines-integration-prod").await.unwrap();
        assert!(matches!(
            make(&store, org, ada, TokenKind::Api, "tines-INTEGRATION-prod").await,
            Err(StoreError::Duplicate(Unique::TokenName))
        ));
        assert!(matches!(
            make(&store, org, ada, TokenKind::Forwarder, "Tines-integration-prod").await,
            Err(StoreError::Duplicate(Unique::TokenName))
        ));
        store.revoke_token(org, first.id, &by(ada), 200).await.unwrap();
        make(&store, org, ada, TokenKind::Api, "Tines-integration-prod").await.unwrap();
        // Non-ASCII names compare without case too.
        make(&store, org, ada, TokenKind::Api, "Ärger").await.unwrap();
        assert!(make(&store, org, ada, TokenKind::Api, "ärger").await.is_err());
    }

    #[tokio::test]
    async fn forwarder_token_and_its_service_account_are_created_together_or_not_at_all() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
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
        assert_eq!(
            count(&store, "SELECT principal_id FROM tokens WHERE name = 'cli'").await,
            ada.0
        );
    }

    #[tokio::test]
    async fn revoke_is_permanent_and_idempotent() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let t = make(&store, org, ada, TokenKind::Api, "cli").await.unwrap();
        let first = store.revoke_token(org, t.id, &by(ada), 500).await.unwrap();
        assert!(first.revoked_now);
        assert_eq!(first.token.revoked_at, Some(500));
        assert_eq!(first.token.revoked_by.as_deref(), Some("Ada"));
        let second = store.revoke_token(org, t.id, &by(ada), 900).await.unwrap();
        assert!(!second.revoked_now);
        assert_eq!(second.token.revoked_at, Some(500), "a second revoke must not move the time");
        assert!(matches!(
            store.revoke_token(org, TokenId(9_999), &by(ada), 900).await,
            Err(StoreError::NotFound)
        ));
    }

    #[tokio::test]
    async fn organizations_see_nothing_of_each_other() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let hank = store
            .create_user("Globex", person("Hank", "hank@globex.test"), crate::model::Role::Admin, 0)
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
        assert!(matches!(
            store.revoke_token(globex, t.id, &by(hank), 10).await,
            Err(StoreError::NotFound)
        ));
        assert!(store.token(acme, t.id).await.unwrap().unwrap().revoked_at.is_none());
    }

    #[tokio::test]
    async fn listing_filters_and_pages_in_the_database() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        store.seed_tokens(org, ada, 60, 100).await.unwrap();
        let f = make(&store, org, ada, TokenKind::Forwarder, "forwarder-dc-east").await.unwrap();
        let r = make(&store, org, ada, TokenKind::Api, "Old-Seed-Thing").await.unwrap();
        store.revoke_token(org, r.id, &by(ada), 300).await.unwrap();

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
    async fn an_admin_demoted_a_moment_ago_cannot_finish_a_change() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let bob = store
            .create_user("Acme", person("Bob", "bob@acme.test"), Role::Admin, 0)
            .await
            .unwrap();
        let t = make(&store, org, bob, TokenKind::Api, "ci").await.unwrap();
        store.set_role(org, &by(ada), bob, Role::Member, 0).await.unwrap();
        // Bob's request passed its permission check before the demotion; the store refuses.
        assert!(matches!(
            make(&store, org, bob, TokenKind::Api, "late").await,
            Err(StoreError::NotPermitted)
        ));
        assert!(matches!(
            store.revoke_token(org, t.id, &by(bob), 5).await,
            Err(StoreError::NotPermitted)
        ));
        store.set_role(org, &by(ada), bob, Role::Admin, 0).await.unwrap();
        store.set_status(org, &by(ada), bob, UserStatus::Disabled, 0).await.unwrap();
        assert!(matches!(
            make(&store, org, bob, TokenKind::Forwarder, "late").await,
            Err(StoreError::NotPermitted)
        ));
        assert_eq!(count(&store, "SELECT count(*) FROM tokens").await, 1);
        assert_eq!(count(&store, "SELECT count(*) FROM users WHERE kind = 'forwarder'").await, 0);
    }

    #[tokio::test]
    async fn the_token_check_sees_each_committed_change_at_once() {
        let (store, _dir) = fresh_store().await;
        let ada =
            store.setup_first_admin("Acme", person("Ada", "ada@acme.test"), None, 0).await.unwrap();
        let org = org_of(&store, ada).await;
        let bob = store
            .create_user("Acme", person("Bob", "bob@acme.test"), Role::Admin, 0)
            .await
            .unwrap();
        let secret = TokenSecret::generate(TokenKind::Api).unwrap();
        let row = store
            .create_token(org, &by(bob), &TokenName::parse("ci").unwrap(), &secret, 100)
            .await
            .unwrap();
        let digest = secret.digest();

        let auth = store.token_by_digest(&digest).await.unwrap().expect("found");
        assert_eq!(
            (auth.token_id, auth.principal_id, auth.organization_name.as_str()),
            (row.id, bob, "Acme")
        );
        assert_eq!(
            (auth.kind, auth.principal_role, auth.principal_active, auth.revoked),
            (TokenKind::Api, Some(Role::Admin), true, false)
        );

        store.set_role(org, &by(ada), bob, Role::ReadOnly, 0).await.unwrap();
        assert_eq!(
            store.token_by_digest(&digest).await.unwrap().unwrap().principal_role,
            Some(Role::ReadOnly)
        );
        store.set_status(org, &by(ada), bob, UserStatus::Disabled, 0).await.unwrap();
        assert!(!store.token_by_digest(&digest).await.unwrap().unwrap().principal_active);
        store.revoke_token(org, row.id, &by(ada), 200).await.unwrap();
        assert!(store.token_by_digest(&digest).await.unwrap().unwrap().revoked);
        assert!(store.token_by_digest(&[0u8; 32]).await.unwrap().is_none());
    }
}
