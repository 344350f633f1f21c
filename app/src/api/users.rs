//! The Users tab's server functions. Admins only.

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{error::AppError, model::UserPage};

#[server(prefix = "/rpc", endpoint = "list_users", input = Json)]
pub async fn list_users(q: String, page: u32) -> Result<UserPage, AppError> {
    use crate::{
        model::USERS_PER_PAGE,
        server::{internal, session, state, with_status},
    };
    with_status(
        async move {
            let viewer = session::require_admin().await?;
            if q.chars().count() > 200 {
                return Err(AppError::validation("q", "Use at most 200 characters to filter."));
            }
            let offset = (page.max(1) as u64 - 1) * USERS_PER_PAGE as u64;
            state()?
                .store
                .list_users(viewer.organization_id, &q, offset, USERS_PER_PAGE)
                .await
                .map_err(internal)
        }
        .await,
    )
}
