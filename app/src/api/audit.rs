//! The Audit log tab's server function. Admins only. (The CSV export is a plain HTTP
//! endpoint, `/settings/audit-log/events.csv`, so the browser downloads it as a file.)

use leptos::{prelude::*, server_fn::codec::Json};

use crate::{
    error::AppError,
    model::{AuditPage, AuditQuery},
};

#[server(prefix = "/rpc", endpoint = "list_audit_events", input = Json)]
pub async fn list_audit_events(query: AuditQuery) -> Result<AuditPage, AppError> {
    use crate::server::{as_principal, audit};
    as_principal(|state, principal| async move { audit::list(&state, &principal, &query).await })
        .await
}
