//! Generating, listing and revoking tokens: the one implementation behind both the
//! console's server functions and the HTTP API, so both validate and answer alike.

use super::{
    db::{StoreError, Unique},
    error::ServiceError,
    now,
    principal::{Action, Principal},
    token_secret::TokenSecret,
    AppState,
};
pub use crate::domain::FILTER_MAX;
use crate::{
    domain::{self, TokenName},
    model::{Choice, GeneratedToken, RevokeOutcome, TokenId, TokenKind, TokenPage, TokenQuery},
};

pub async fn list(
    state: &AppState,
    principal: &Principal,
    query: &TokenQuery,
) -> Result<TokenPage, ServiceError> {
    principal.authorize(Action::ListTokens)?;
    domain::filter(&query.q).map_err(|m| ServiceError::validation("q", m))?;
    let now = now();
    Ok(state.store.list_tokens(principal.organization_id(), query, now).await?)
}

pub async fn generate(
    state: &AppState,
    principal: &Principal,
    kind: TokenKind,
    name: &str,
) -> Result<GeneratedToken, ServiceError> {
    principal.authorize(Action::GenerateToken)?;
    let name = TokenName::parse(name).map_err(|m| ServiceError::validation("name", m))?;
    let secret = TokenSecret::generate(kind).map_err(ServiceError::internal)?;
    let (organization_id, user_id) = (principal.organization_id(), principal.user_id());
    let token = match state.store.create_token(organization_id, user_id, &name, &secret, now()).await
    {
        Ok(row) => row,
        Err(StoreError::Duplicate(Unique::TokenName)) => {
            return Err(ServiceError::conflict(
                "name",
                format!(
                    "An active token is already named \"{}\". Choose another name, or revoke the old token first.",
                    name.as_str()
                ),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    tracing::info!(
        token_id = %token.id,
        kind = kind.as_str(),
        user_id = %user_id,
        organization_id = %organization_id,
        "token generated"
    );
    Ok(GeneratedToken { token, secret: secret.expose().to_string() })
}

pub async fn revoke(
    state: &AppState,
    principal: &Principal,
    id: TokenId,
) -> Result<RevokeOutcome, ServiceError> {
    principal.authorize(Action::RevokeToken)?;
    let (organization_id, user_id) = (principal.organization_id(), principal.user_id());
    let outcome = state.store.revoke_token(organization_id, id, user_id, now()).await?;
    if outcome.revoked_now {
        tracing::info!(
            token_id = %id,
            user_id = %user_id,
            organization_id = %organization_id,
            "token revoked"
        );
    }
    Ok(outcome)
}
