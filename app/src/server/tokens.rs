//! Generating, listing and revoking tokens: the one implementation behind both the
//! console's server functions and the HTTP API, so both validate and answer alike.

use std::net::IpAddr;

use super::{
    db::{Actor, StoreError, Unique},
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
    from: Option<IpAddr>,
    kind: TokenKind,
    name: &str,
) -> Result<GeneratedToken, ServiceError> {
    principal.authorize(Action::GenerateToken)?;
    principal.require_recent_authentication(state)?;
    let name = TokenName::parse(name).map_err(|m| ServiceError::validation("name", m))?;
    let secret = TokenSecret::generate(kind).map_err(ServiceError::internal)?;
    let (organization_id, user_id) = (principal.organization_id(), principal.user_id());
    let by = principal.actor(from);
    let token = match state.store.create_token(organization_id, &by, &name, &secret, now()).await {
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
    from: Option<IpAddr>,
    id: TokenId,
) -> Result<RevokeOutcome, ServiceError> {
    principal.authorize(Action::RevokeToken)?;
    let (organization_id, user_id) = (principal.organization_id(), principal.user_id());
    let by = principal.actor(from);
    let outcome = state.store.revoke_token(organization_id, id, &by, now()).await?;
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

/// Replaces an active token with a new one of the same name, type and principal; the old
/// value stops working at once. The new secret is in the answer, once.
pub async fn regenerate(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
    id: TokenId,
) -> Result<GeneratedToken, ServiceError> {
    principal.authorize(Action::RegenerateToken)?;
    principal.require_recent_authentication(state)?;
    let (organization_id, user_id) = (principal.organization_id(), principal.user_id());
    let by = principal.actor(from);
    let (token, secret) = state.store.regenerate_token(organization_id, id, &by, now()).await?;
    tracing::info!(
        old_token_id = %id,
        token_id = %token.id,
        user_id = %user_id,
        organization_id = %organization_id,
        "token regenerated"
    );
    Ok(GeneratedToken { token, secret: secret.expose().to_string() })
}

/// Most credentials one exposure report may name.
pub const REPORT_MAX: usize = 100;

/// The public exposure report: each well-formed, active token among `credentials` is
/// revoked at once (reason: reported exposed), recorded with the reporter's address.
/// Anything else in the list is ignored, and the caller learns nothing either way: the
/// answer is the same whatever the credentials were. Returns how many were revoked, for the
/// log and tests only.
pub async fn report_exposed(
    state: &AppState,
    from: Option<IpAddr>,
    credentials: &[String],
) -> Result<u32, ServiceError> {
    if credentials.len() > REPORT_MAX {
        return Err(ServiceError::validation(
            "credentials",
            format!("Report at most {REPORT_MAX} credentials at once."),
        ));
    }
    let mut digests: Vec<Vec<u8>> = credentials
        .iter()
        .filter_map(|c| TokenSecret::parse(c.trim()).ok())
        .map(|secret| secret.digest())
        .collect();
    digests.sort();
    digests.dedup();
    let revoked = state.store.report_exposed(&digests, &Actor::reporter(from), now()).await?;
    tracing::warn!(
        client = ?from,
        reported = credentials.len(),
        well_formed = digests.len(),
        revoked,
        "exposure report"
    );
    Ok(revoked)
}
