//! Files ingested through the API: who may upload and list them, their names, the
//! organization's quota, and their records. Receiving the bytes is the HTTP layer's work.

use std::net::IpAddr;

use super::{
    db::{Actor, FileRecord, NewFile},
    error::ServiceError,
    now,
    principal::{Action, Principal},
    AppState,
};
use crate::{
    domain::FileName,
    model::{OrgId, Page, TokenId, UserId},
};

pub const FILES_PER_PAGE: u32 = 50;

/// One page (1-based) of the organization's files, newest first, and how many there are.
pub async fn list(
    state: &AppState,
    principal: &Principal,
    page: u32,
) -> Result<Page<FileRecord>, ServiceError> {
    principal.authorize(Action::ListFiles)?;
    Ok(state.store.list_files(principal.organization_id(), page, FILES_PER_PAGE, now()).await?)
}

/// An upload its principal may make, under a valid name. Made before the body is read, so a
/// refused upload's body is never received.
#[derive(Debug)]
pub struct Upload {
    organization_id: OrgId,
    by: Actor,
    principal_id: UserId,
    token_id: TokenId,
    name: FileName,
}

pub fn start_upload(
    principal: &Principal,
    from: Option<IpAddr>,
    name: &str,
) -> Result<Upload, ServiceError> {
    principal.authorize(Action::UploadFile)?;
    // Files arrive through the API only: a token ingests them.
    let token_id = principal.token_id().ok_or(ServiceError::Forbidden(Action::UploadFile))?;
    let name = FileName::parse(name).map_err(|m| ServiceError::validation("name", m))?;
    Ok(Upload {
        organization_id: principal.organization_id(),
        by: principal.actor(from),
        principal_id: principal.user_id(),
        token_id,
        name,
    })
}

impl Upload {
    /// The bytes the organization's files take now, as its quota counts them.
    pub async fn used_bytes(&self, state: &AppState) -> Result<u64, ServiceError> {
        Ok(state.store.organization_file_bytes(self.organization_id).await?)
    }

    /// Records the stored file (`size` bytes whose SHA-256 is `sha256`), unless it would take
    /// the organization's files over `quota` bytes (`None`).
    pub async fn record(
        self,
        state: &AppState,
        size: u64,
        sha256: &str,
        quota: u64,
    ) -> Result<Option<FileRecord>, ServiceError> {
        let record = state
            .store
            .insert_file(
                self.organization_id,
                &self.by,
                NewFile {
                    name: self.name.as_str(),
                    size: size as i64,
                    sha256,
                    token: self.token_id,
                    principal: self.principal_id,
                },
                now(),
                quota,
            )
            .await?;
        if let Some(record) = &record {
            tracing::info!(
                file_id = %record.id,
                token_id = %self.token_id,
                size = record.size,
                "file ingested"
            );
        }
        Ok(record)
    }
}
