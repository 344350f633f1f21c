//! Generating, listing and revoking tokens: the one implementation behind both the
//! console's server functions and the HTTP API, so both validate and answer alike.

use super::{
    db::{StoreError, Unique},
    now,
    token_secret::TokenSecret,
    Store,
};
use crate::{
    domain::TokenName,
    error::AppError,
    model::{
        GeneratedToken, OrgId, RevokeOutcome, TokenId, TokenKind, TokenPage, TokenQuery, UserId,
    },
};

/// Who acts: an admin of an organization.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub organization_id: OrgId,
    pub user_id: UserId,
}

/// `Refused` is for the caller (bad input, unknown id); `Internal` carries a cause that
/// is logged and never shown.
#[derive(Debug)]
pub enum TokenError {
    Refused(AppError),
    Internal(String),
}

impl From<StoreError> for TokenError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => TokenError::Refused(AppError::NotFound),
            StoreError::NotPermitted => TokenError::Refused(AppError::Forbidden),
            e => TokenError::Internal(e.to_string()),
        }
    }
}

impl From<TokenError> for AppError {
    /// In a server function: log the cause with the request id.
    fn from(e: TokenError) -> AppError {
        match e {
            TokenError::Refused(e) => e,
            TokenError::Internal(cause) => super::internal(cause),
        }
    }
}

pub const FILTER_MAX: usize = 200;

pub async fn list(
    store: &Store,
    organization_id: OrgId,
    query: &TokenQuery,
) -> Result<TokenPage, TokenError> {
    if query.q.chars().count() > FILTER_MAX {
        return Err(TokenError::Refused(AppError::validation(
            "q",
            "Use at most 200 characters to filter.",
        )));
    }
    let now = now();
    Ok(store.list_tokens(organization_id, query, now).await?)
}

pub async fn generate(
    store: &Store,
    actor: Actor,
    kind: TokenKind,
    name: &str,
) -> Result<GeneratedToken, TokenError> {
    let name =
        TokenName::parse(name).map_err(|m| TokenError::Refused(AppError::validation("name", m)))?;
    let secret = TokenSecret::generate(kind).map_err(|e| TokenError::Internal(e.to_string()))?;
    let token = match store.create_token(actor.organization_id, actor.user_id, &name, &secret, now()).await {
        Ok(row) => row,
        Err(StoreError::Duplicate(Unique::TokenName)) => {
            return Err(TokenError::Refused(AppError::conflict(
                "name",
                format!(
                    "An active token is already named \"{}\". Choose another name, or revoke the old token first.",
                    name.as_str()
                ),
            )))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        token_id = %token.id,
        kind = kind.as_str(),
        user_id = %actor.user_id,
        organization_id = %actor.organization_id,
        "token generated"
    );
    Ok(GeneratedToken { token, secret: secret.expose().to_string() })
}

pub async fn revoke(store: &Store, actor: Actor, id: TokenId) -> Result<RevokeOutcome, TokenError> {
    let outcome = store.revoke_token(actor.organization_id, id, actor.user_id, now()).await?;
    if outcome.revoked_now {
        tracing::info!(
            token_id = %id,
            user_id = %actor.user_id,
            organization_id = %actor.organization_id,
            "token revoked"
        );
    }
    Ok(outcome)
}
