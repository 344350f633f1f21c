//! The Auth tokens tab's server functions. Admins only.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{GeneratedToken, RevokeOutcome, TokenKind, TokenPage, TokenQuery},
};

#[server(prefix = "/rpc", endpoint = "list_tokens", input = Json)]
pub async fn list_tokens(query: TokenQuery) -> Result<TokenPage, AppError> {
    use crate::server::{internal, now, session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            if query.q.chars().count() > 200 {
                return Err(AppError::validation("q", "Use at most 200 characters to filter."));
            }
            let listing = state()?.store.list_tokens(viewer.organization_id, &query).await.map_err(internal)?;
            Ok(TokenPage { rows: listing.rows, total: listing.total, page: listing.page, now: now() })
        }
        .await,
    )
}

/// Generates a token. The answer carries the secret, once; it is not cacheable.
#[server(prefix = "/rpc", endpoint = "generate_token", input = Json)]
pub async fn generate_token(kind: TokenKind, name: String) -> Result<GeneratedToken, AppError> {
    use crate::{
        domain::TokenName,
        server::{db::CreateTokenError, internal, now, session, state, token_secret::TokenSecret, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let opts = expect_context::<leptos_axum::ResponseOptions>();
            opts.insert_header(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-store"));
            let name = TokenName::parse(&name).map_err(|m| AppError::validation("name", m))?;
            let secret = TokenSecret::generate(kind).map_err(internal)?;
            let token = match state()?
                .store
                .create_token(viewer.organization_id, viewer.user_id, &name, &secret, now())
                .await
            {
                Ok(row) => row,
                Err(CreateTokenError::DuplicateName) => {
                    return Err(AppError::conflict(
                        "name",
                        format!(
                            "An active token is already named \"{}\". Choose another name, or revoke the old token first.",
                            name.as_str()
                        ),
                    ))
                }
                Err(CreateTokenError::Database(e)) => return Err(internal(e)),
            };
            tracing::info!(
                token_id = token.id,
                kind = kind.as_str(),
                user_id = viewer.user_id,
                organization_id = viewer.organization_id,
                "token generated"
            );
            Ok(GeneratedToken { token, secret: secret.expose().to_string() })
        }
        .await,
    )
}

/// Revokes a token, permanently. Revoking a revoked token changes nothing.
#[server(prefix = "/rpc", endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(id: i64) -> Result<RevokeOutcome, AppError> {
    use crate::server::{internal, now, session, state, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            let outcome = state()?
                .store
                .revoke_token(viewer.organization_id, id, viewer.user_id, now())
                .await
                .map_err(internal)?
                .ok_or(AppError::NotFound)?;
            if outcome.revoked_now {
                tracing::info!(token_id = id, user_id = viewer.user_id, organization_id = viewer.organization_id, "token revoked");
            }
            Ok(outcome)
        }
        .await,
    )
}
