//! Generating, listing and revoking tokens: the one implementation behind both the
//! console's server functions and the HTTP API, so both validate and answer alike.

use super::{db::CreateTokenError, now, token_secret::TokenSecret, Store};
use crate::{
    domain::TokenName,
    error::AppError,
    model::{GeneratedToken, RevokeOutcome, TokenKind, TokenPage, TokenQuery},
};

/// Who acts: an admin of an organization.
#[derive(Clone, Copy, Debug)]
pub struct Actor {
    pub organization_id: i64,
    pub user_id: i64,
}

/// `Refused` is for the caller (bad input, unknown id); `Internal` carries a cause that
/// is logged and never shown.
#[derive(Debug)]
pub enum TokenError {
    Refused(AppError),
    Internal(String),
}

impl From<sqlx::Error> for TokenError {
    fn from(e: sqlx::Error) -> Self {
        TokenError::Internal(e.to_string())
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
    organization_id: i64,
    query: &TokenQuery,
) -> Result<TokenPage, TokenError> {
    if query.q.chars().count() > FILTER_MAX {
        return Err(TokenError::Refused(AppError::validation(
            "q",
            "Use at most 200 characters to filter.",
        )));
    }
    let now = now();
    let listing = store.list_tokens(organization_id, query, now).await?;
    Ok(TokenPage { rows: listing.rows, total: listing.total, page: listing.page, now })
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
        Err(CreateTokenError::DuplicateName) => {
            return Err(TokenError::Refused(AppError::conflict(
                "name",
                format!(
                    "An active token is already named \"{}\". Choose another name, or revoke the old token first.",
                    name.as_str()
                ),
            )))
        }
        Err(CreateTokenError::Database(e)) => return Err(e.into()),
    };
    tracing::info!(
        token_id = token.id,
        kind = kind.as_str(),
        user_id = actor.user_id,
        organization_id = actor.organization_id,
        "token generated"
    );
    Ok(GeneratedToken { token, secret: secret.expose().to_string() })
}

pub async fn revoke(store: &Store, actor: Actor, id: i64) -> Result<RevokeOutcome, TokenError> {
    let outcome = store
        .revoke_token(actor.organization_id, id, actor.user_id, now())
        .await?
        .ok_or(TokenError::Refused(AppError::NotFound))?;
    if outcome.revoked_now {
        tracing::info!(
            token_id = id,
            user_id = actor.user_id,
            organization_id = actor.organization_id,
            "token revoked"
        );
    }
    Ok(outcome)
}
