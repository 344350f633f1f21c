//! The Auth tokens tab's server functions. Admins only.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{GeneratedToken, RevokeOutcome, TokenId, TokenKind, TokenPage, TokenQuery},
};

#[server(prefix = "/rpc", endpoint = "list_tokens", input = Json)]
pub async fn list_tokens(query: TokenQuery) -> Result<TokenPage, AppError> {
    use crate::server::{session, state, tokens, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            Ok(tokens::list(&state()?.store, viewer.organization_id, &query).await?)
        }
        .await,
    )
}

/// Generates a token. The answer carries the secret, once; it is not cacheable.
#[server(prefix = "/rpc", endpoint = "generate_token", input = Json)]
pub async fn generate_token(kind: TokenKind, name: String) -> Result<GeneratedToken, AppError> {
    use crate::server::{no_store, session, state, tokens, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            no_store();
            Ok(tokens::generate(&state()?.store, viewer.actor(), kind, &name).await?)
        }
        .await,
    )
}

/// Revokes a token, permanently. Revoking a revoked token changes nothing.
#[server(prefix = "/rpc", endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(id: TokenId) -> Result<RevokeOutcome, AppError> {
    use crate::server::{session, state, tokens, with_status};
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            Ok(tokens::revoke(&state()?.store, viewer.actor(), id).await?)
        }
        .await,
    )
}
