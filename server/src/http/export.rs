//! The audit log's CSV download (`routes::AUDIT_CSV`): a console address behind the
//! session, with the Audit log tab's filters. The body is streamed batch by batch
//! (`audit::Export`), so a long log never sits in memory whole.

use app::{
    model::{AuditAction, AuditQuery, Choice},
    server::{audit, error::ServiceError, session::SessionPrincipal, AppState, RequestId},
};
use axum::{
    body::Body,
    extract::{Query, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Extension,
};
use serde::Deserialize;

#[derive(Deserialize)]
pub struct CsvParams {
    q: Option<String>,
    action: Option<String>,
}

pub async fn audit_csv(
    State(state): State<AppState>,
    session: Option<Extension<SessionPrincipal>>,
    request_id: Option<Extension<RequestId>>,
    params: Result<Query<CsvParams>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Some(principal) = session.and_then(|Extension(s)| s.0) else {
        return (StatusCode::UNAUTHORIZED, "Sign in to download the audit log.").into_response();
    };
    let Ok(Query(params)) = params else {
        return (StatusCode::BAD_REQUEST, "Unreadable filter.").into_response();
    };
    // An unknown action is what the tab shows for it: all actions.
    let action = params.action.as_deref().and_then(AuditAction::parse);
    let query = AuditQuery { q: params.q.unwrap_or_default(), action, page: 1 };
    let export = match audit::export(&state, &principal, query) {
        Ok(export) => export,
        Err(ServiceError::Forbidden(_)) => {
            return (StatusCode::FORBIDDEN, "Only admins can read the audit log.").into_response()
        }
        Err(ServiceError::Refused(message)) => {
            return (StatusCode::FORBIDDEN, message).into_response()
        }
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let request_id = request_id.map(|Extension(r)| r.0.to_string()).unwrap_or_default();
    let header_line = futures_util::stream::once(async {
        Ok::<_, std::io::Error>(audit::CSV_HEADER.to_string())
    });
    let lines = futures_util::stream::unfold(Some(export), move |export| {
        let request_id = request_id.clone();
        async move {
            let mut export = export?;
            match export.next_batch().await {
                Ok(batch) if batch.is_empty() => None,
                Ok(batch) => {
                    let chunk: String = batch.iter().map(audit::csv_line).collect();
                    Some((Ok(chunk), Some(export)))
                }
                // The status is sent already: end the body with an error, so the download
                // fails visibly instead of looking complete.
                Err(e) => {
                    tracing::error!(%request_id, "audit export failed: {e}");
                    Some((Err(std::io::Error::other("audit export failed")), None))
                }
            }
        }
    });
    let body = Body::from_stream(futures_util::StreamExt::chain(header_line, lines));
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/csv; charset=utf-8"));
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"tokenwell-audit-log.csv\""),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
