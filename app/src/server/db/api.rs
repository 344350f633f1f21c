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
    ) -> Result<FileRecord, sqlx::Error> {
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO files (organization_id, name, size, sha256, token_id, principal_id, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id",
        )
        .bind(organization_id)
        .bind(name)
        .bind(size)
        .bind(sha256)
        .bind(token_id)
        .bind(principal_id)
        .bind(now)
        .fetch_one(&self.write)
        .await?;
        Ok(FileRecord { id, name: name.to_string(), size, sha256: sha256.to_string(), created_at: now })
    }

    /// The organization's files, newest first.
    pub async fn list_files(&self, organization_id: i64, offset: u64, limit: u32) -> Result<(Vec<FileRecord>, u64), sqlx::Error> {
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM files WHERE organization_id = ?1")
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
            .map(|r| FileRecord { id: r.get(0), name: r.get(1), size: r.get(2), sha256: r.get(3), created_at: r.get(4) })
            .collect();
        Ok((files, total as u64))
    }
}
