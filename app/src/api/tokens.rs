//! The Auth tokens tab's server functions. Admins only.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{GeneratedToken, RevokeOutcome, TokenId, TokenKind, TokenPage, TokenQuery},
};

#[server(prefix = "/rpc", endpoint = "list_tokens", input = Json)]
pub async fn list_tokens(query: TokenQuery) -> Result<TokenPage, AppError> {
    use crate::server::{as_principal, tokens};
    as_principal(|state, principal| async move { tokens::list(&state, &principal, &query).await })
        .await
}

/// Generates a token. The answer carries the secret, once; it is not cacheable.
#[server(prefix = "/rpc", endpoint = "generate_token", input = Json)]
pub async fn generate_token(kind: TokenKind, name: String) -> Result<GeneratedToken, AppError> {
    use crate::server::{as_principal, client_addr, no_store, tokens};
    no_store();
    as_principal(|state, principal| async move {
        tokens::generate(&state, &principal, client_addr(), kind, &name).await
    })
    .await
}

/// Revokes a token, permanently. Revoking a revoked token changes nothing.
#[server(prefix = "/rpc", endpoint = "revoke_token", input = Json)]
pub async fn revoke_token(id: TokenId) -> Result<RevokeOutcome, AppError> {
    use crate::server::{as_principal, client_addr, tokens};
    as_principal(|state, principal| async move {
        tokens::revoke(&state, &principal, client_addr(), id).await
    })
    .await
}

/// Replaces an active token by a new one of the same name, type and principal; the old value
/// stops working at once. The answer carries the new secret, once; it is not cacheable.
#[server(prefix = "/rpc", endpoint = "regenerate_token", input = Json)]
pub async fn regenerate_token(id: TokenId) -> Result<GeneratedToken, AppError> {
    use crate::server::{as_principal, client_addr, no_store, tokens};
    no_store();
    as_principal(|state, principal| async move {
        tokens::regenerate(&state, &principal, client_addr(), id).await
    })
    .await
}
