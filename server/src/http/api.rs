//! The token-authenticated HTTP API under `/api/v1`. Bearer tokens only: a session cookie
//! does not authenticate here, and a token does not authenticate the console.

mod blobs;

use std::{future::poll_fn, path::PathBuf, pin::Pin, sync::Arc, time::Duration};

use app::{
    domain,
    error::AppError,
    model::{
        AuditAction, AuditEvent, AuditQuery, Choice, TokenId, TokenKind, TokenQuery, TokenRow,
        TokenStatusFilter,
    },
    server::{
        audit, auth,
        db::FileRecord,
        error::ServiceError,
        files,
        principal::{Action, Principal, TokenRefused},
        token_secret::{ParseError, TokenSecret},
        tokens, AppState, ClientAddr, RequestId,
    },
};
use axum::{
    body::{Body, HttpBody},
    extract::{
        rejection::{JsonRejection, QueryRejection},
        FromRequestParts, Path, Query, State,
    },
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get, post},
    Extension, Json, Router,
};
use serde::{Deserialize, Serialize};
use tokio::sync::Semaphore;
use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        RefOr, Schema,
    },
    IntoParams, Modify, OpenApi, ToSchema,
};

/// Settings of the file endpoints.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub max_upload_bytes: u64,
    pub data_dir: PathBuf,
    pub max_concurrent_uploads: usize,
    pub org_quota_bytes: u64,
    /// How long an upload may wait for its next bytes.
    pub upload_idle_timeout: Duration,
}

impl From<&crate::config::ServeArgs> for ApiConfig {
    fn from(args: &crate::config::ServeArgs) -> ApiConfig {
        ApiConfig {
            max_upload_bytes: args.max_upload_bytes as u64,
            data_dir: args.data_dir.clone(),
            max_concurrent_uploads: args.max_concurrent_uploads as usize,
            org_quota_bytes: args.org_quota_bytes,
            upload_idle_timeout: Duration::from_secs(args.upload_idle_secs),
        }
    }
}

/// What the upload endpoint shares between requests.
struct Uploads {
    config: ApiConfig,
    /// One permit per upload being received.
    slots: Semaphore,
}

pub fn router(config: ApiConfig) -> Router<AppState> {
    blobs::remove_abandoned_uploads(&config.data_dir);
    let uploads = Uploads { slots: Semaphore::new(config.max_concurrent_uploads), config };
    Router::new()
        .route("/whoami", get(whoami))
        .route("/files", get(list_files).post(upload_file))
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/tokens/{id}/regenerate", post(regenerate_token))
        .route("/credentials/revoke", post(report_exposed))
        .route("/audit-events", get(list_audit_events))
        .route("/openapi.json", get(openapi))
        .layer(Extension(Arc::new(uploads)))
}

// ---------- errors ----------

/// `{"error":{"code":"…","message":"…"}}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    code: &'static str,
    message: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    message: String,
}

impl ApiError {
    fn invalid_token() -> ApiError {
        ApiError {
            status: StatusCode::UNAUTHORIZED,
            code: "invalid_token",
            message:
                "The token is missing, malformed, unknown, revoked, or its principal is disabled."
                    .into(),
        }
    }

    fn insufficient_scope(what: &str) -> ApiError {
        ApiError {
            status: StatusCode::FORBIDDEN,
            code: "insufficient_scope",
            message: format!("This token may not {what}."),
        }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }

    fn too_large(message: String) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "payload_too_large", message }
    }

    fn unsupported_media_type(message: &str) -> ApiError {
        ApiError {
            status: StatusCode::UNSUPPORTED_MEDIA_TYPE,
            code: "unsupported_media_type",
            message: message.into(),
        }
    }

    fn quota_exceeded(quota: u64) -> ApiError {
        ApiError {
            status: StatusCode::INSUFFICIENT_STORAGE,
            code: "quota_exceeded",
            message: format!(
                "This file would take the organization's files over their quota of {quota} bytes."
            ),
        }
    }

    fn too_many_uploads() -> ApiError {
        ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "too_many_uploads",
            message: "Too many uploads are in progress. Try again shortly.".into(),
        }
    }

    fn upload_stalled() -> ApiError {
        ApiError {
            status: StatusCode::REQUEST_TIMEOUT,
            code: "request_timeout",
            message: "The upload stopped sending data.".into(),
        }
    }

    fn internal(request_id: &str, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%request_id, "internal error: {cause}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("Something went wrong on our side. Reference: {request_id}."),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body =
            Json(ErrorBody { error: ErrorDetail { code: self.code, message: self.message } });
        let mut response = (self.status, body).into_response();
        if matches!(self.code, "invalid_token" | "insufficient_scope") {
            let value = format!("Bearer realm=\"tokenwell\", error=\"{}\"", self.code);
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        if self.code == "too_many_uploads" {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(UPLOAD_RETRY_AFTER_SECS));
        }
        response
    }
}

// ---------- authentication ----------

/// The caller of an API request: the principal its bearer token resolved to, once.
pub struct Caller {
    pub principal: Principal,
    pub request_id: String,
    pub addr: Option<std::net::IpAddr>,
}

impl Caller {
    /// Asks the permission table before the request's input is read, so a caller without the
    /// right learns nothing about its input's shape. The service asks again.
    fn authorize(&self, action: Action) -> Result<(), ApiError> {
        self.principal.authorize(action).map_err(|e| self.fail(e))
    }

    /// The API's answer to a service error: the one mapping from `ServiceError` to the JSON
    /// error. Refusals are logged with the token; internal causes with the request id.
    fn fail(&self, e: ServiceError) -> ApiError {
        let status = |status, code, message| ApiError { status, code, message };
        match e {
            ServiceError::Forbidden(action) => {
                tracing::warn!(
                    token_id = ?self.principal.token_id(),
                    client = ?self.addr,
                    request_id = %self.request_id,
                    reason = action.what(),
                    "API request denied"
                );
                ApiError::insufficient_scope(action.what())
            }
            ServiceError::Internal(cause) => ApiError::internal(&self.request_id, cause),
            ServiceError::Validation { message, .. } => ApiError::bad_request(message),
            ServiceError::Conflict { message, .. } => {
                status(StatusCode::CONFLICT, "conflict", message)
            }
            ServiceError::NotFound => {
                status(StatusCode::NOT_FOUND, "not_found", AppError::NotFound.to_string())
            }
            ServiceError::Refused(message) => status(StatusCode::FORBIDDEN, "refused", message),
            ServiceError::BadCredentials => ApiError::invalid_token(),
            ServiceError::Throttled { minutes } => status(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_requests",
                AppError::Throttled { minutes }.to_string(),
            ),
            ServiceError::Busy => {
                status(StatusCode::SERVICE_UNAVAILABLE, "busy", AppError::Busy.to_string())
            }
            // Asked of console sessions only; a token never meets it.
            ServiceError::ReauthRequired => {
                status(StatusCode::FORBIDDEN, "refused", AppError::ReauthRequired.to_string())
            }
        }
    }
}

/// The longest Authorization header worth reading: a bearer token is 49 bytes.
const MAX_AUTHORIZATION: usize = 256;

/// Logged within the client's budget (`log_budget`); the metric counts every one.
fn refuse(
    reason: &'static str,
    token_id: Option<TokenId>,
    parts: &Parts,
    state: &AppState,
) -> ApiError {
    let client = parts.extensions.get::<ClientAddr>().map(|a| a.0);
    if state.log_budget.allows(client) {
        let request_id =
            parts.extensions.get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
        tracing::warn!(?token_id, ?client, %request_id, reason, "API authentication failed");
    }
    crate::metrics::token_refused(reason);
    ApiError::invalid_token()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let _timer = crate::metrics::token_check_timer();
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(refuse("missing Authorization header", None, parts, state));
        };
        if value.len() > MAX_AUTHORIZATION {
            return Err(refuse("oversized Authorization header", None, parts, state));
        }
        let value = value.to_str().unwrap_or_default();
        let Some((scheme, secret)) = value.split_once(' ') else {
            return Err(refuse("malformed Authorization header", None, parts, state));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(refuse("not a Bearer credential", None, parts, state));
        }
        // Shape and checksum first: a typo or a made-up token costs no database query.
        let secret = match TokenSecret::parse(secret.trim()) {
            Ok(secret) => secret,
            Err(ParseError::Format) => return Err(refuse("malformed token", None, parts, state)),
            Err(ParseError::Checksum) => {
                return Err(refuse("token checksum mismatch", None, parts, state))
            }
        };
        let request_id =
            parts.extensions.get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
        let addr = parts.extensions.get::<ClientAddr>().map(|a| a.0);
        match Principal::from_token(state, &secret, addr).await {
            Ok(principal) => {
                crate::metrics::token_accepted();
                Ok(Caller { principal, request_id, addr })
            }
            Err(TokenRefused::Unknown) => Err(refuse("unknown token", None, parts, state)),
            Err(TokenRefused::Revoked(id)) => Err(refuse("revoked token", Some(id), parts, state)),
            Err(TokenRefused::PrincipalDisabled(id)) => {
                Err(refuse("principal disabled", Some(id), parts, state))
            }
            Err(TokenRefused::Lookup(cause)) => {
                Err(crate::metrics::token_check_failed(ApiError::internal(&request_id, cause)))
            }
        }
    }
}

// ---------- whoami ----------

#[derive(Serialize, ToSchema)]
pub struct WhoAmI {
    organization: OrganizationInfo,
    token: TokenInfo,
    principal: PrincipalInfo,
}

#[derive(Serialize, ToSchema)]
pub struct OrganizationInfo {
    id: i64,
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TokenInfo {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: TokenType,
}

#[derive(Serialize, ToSchema)]
pub struct PrincipalInfo {
    id: i64,
    name: String,
    /// `user` or `forwarder`.
    kind: String,
    /// `admin`, `member` or `read_only`; null for a Forwarder Service Account.
    role: Option<String>,
}

/// Who this token acts as.
#[utoipa::path(get, path = "/api/v1/whoami", tag = "tokens",
    responses((status = 200, description = "The token, its principal and organization.", body = WhoAmI),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn whoami(caller: Caller) -> Result<Json<WhoAmI>, ApiError> {
    auth::whoami(&caller.principal).map_err(|e| caller.fail(e))?;
    let Principal::Token(a) = caller.principal else {
        return Err(ApiError::invalid_token());
    };
    Ok(Json(WhoAmI {
        organization: OrganizationInfo { id: a.organization_id.0, name: a.organization_name },
        token: TokenInfo { id: a.token_id.0, name: a.token_name, kind: a.kind.into() },
        principal: PrincipalInfo {
            id: a.principal_id.0,
            name: a.principal_name,
            kind: a.principal_kind.as_str().into(),
            role: a.principal_role.map(|r| r.as_str().into()),
        },
    }))
}

// ---------- files ----------

/// Seconds a client is asked to wait when every upload slot is taken.
const UPLOAD_RETRY_AFTER_SECS: u16 = 5;

/// The names `domain::checked_name` accepts, as a pattern for the document. Escapes for the
/// Basic Multilingual Plane; beyond it the characters themselves, since no escape for those
/// reads the same in ECMAScript, Python and Rust regexes.
fn name_pattern() -> String {
    let class = |ranges: &[(char, char)]| -> String {
        let item = |c: char| {
            if (c as u32) <= 0xffff {
                format!("\\u{:04x}", c as u32)
            } else {
                c.to_string()
            }
        };
        ranges
            .iter()
            .map(|&(first, last)| {
                if first == last {
                    item(first)
                } else {
                    format!("{}-{}", item(first), item(last))
                }
            })
            .collect()
    };
    let (refused, blank) = (class(domain::REFUSED_IN_NAMES), class(domain::NAME_WHITESPACE));
    format!("^[^{refused}]*[^{refused}{blank}][^{refused}]*$")
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UploadParams {
    /// The file's name: 1–255 characters, not all whitespace, without control characters,
    /// bidirectional controls or invisible formatting characters. Kept trimmed.
    #[param(min_length = 1, max_length = 255)]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct FileInfo {
    id: i64,
    name: String,
    size: i64,
    /// Lower-case hex.
    sha256: String,
    created_at: i64,
}

impl From<FileRecord> for FileInfo {
    fn from(f: FileRecord) -> FileInfo {
        FileInfo {
            id: f.id.0,
            name: f.name,
            size: f.size,
            sha256: f.sha256,
            created_at: f.created_at,
        }
    }
}

/// Ingests a file (raw body). File Forwarder tokens, and API/CLI tokens of admins and members.
///
/// Who may upload, the name, the declared size and the organization's quota are all
/// checked before the body is read, so a refused upload's body is never received.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadParams),
    request_body(description = "The file's bytes, at most the server's upload limit (32 MiB by default).",
                 content(("application/octet-stream"))),
    responses((status = 201, description = "Stored.", body = FileInfo),
              (status = 400, description = "No or bad name, or the body ended early.", body = ErrorBody),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "This token may not ingest files.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 408, description = "The body stopped arriving.", body = ErrorBody),
              (status = 413, description = "Larger than the upload limit.", body = ErrorBody),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody),
              (status = 503, description = "Too many uploads in progress.", body = ErrorBody,
               headers(("Retry-After" = u16, description = "Seconds to wait."))),
              (status = 507, description = "The organization's storage quota would be exceeded.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn upload_file(
    caller: Caller,
    State(state): State<AppState>,
    Extension(uploads): Extension<Arc<Uploads>>,
    params: Result<Query<UploadParams>, QueryRejection>,
    headers: HeaderMap,
    body: Body,
) -> Result<(StatusCode, Json<FileInfo>), ApiError> {
    caller.authorize(Action::UploadFile)?;
    let Ok(Query(params)) = params else {
        return Err(ApiError::bad_request("Give the file's name as ?name=…"));
    };
    let upload = files::start_upload(&caller.principal, caller.addr, &params.name)
        .map_err(|e| caller.fail(e))?;
    let config = &uploads.config;
    let declared: Option<u64> = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok());
    if declared.is_some_and(|n| n > config.max_upload_bytes) {
        return Err(ApiError::too_large(format!(
            "Files may be at most {} bytes.",
            config.max_upload_bytes
        )));
    }
    // Refused rather than queued: a waiting upload would hold its connection and buffers.
    let Ok(_slot) = uploads.slots.try_acquire() else {
        tracing::warn!(token_id = ?caller.principal.token_id(), request_id = %caller.request_id, "upload refused: all upload slots busy");
        return Err(ApiError::too_many_uploads());
    };
    let request_id = caller.request_id.as_str();
    let quota = config.org_quota_bytes;
    let used = upload.used_bytes(&state).await.map_err(|e| caller.fail(e))?;
    let room = quota.saturating_sub(used);
    if declared.is_some_and(|n| n > room) {
        return Err(ApiError::quota_exceeded(quota));
    }

    let mut incoming = blobs::Incoming::create(&config.data_dir)
        .await
        .map_err(|e| ApiError::internal(request_id, e))?;
    receive(body, &mut incoming, config, room, request_id).await?;
    // Other uploads may have been recorded meanwhile. Checked again before the bytes are
    // stored, so a refused file rarely leaves a copy behind; `Upload::record` has the last
    // word.
    let used = upload.used_bytes(&state).await.map_err(|e| caller.fail(e))?;
    if used.saturating_add(incoming.size()) > quota {
        return Err(ApiError::quota_exceeded(quota));
    }
    let blob = incoming
        .into_blob(&config.data_dir)
        .await
        .map_err(|e| ApiError::internal(request_id, e))?;
    let record = upload
        .record(&state, blob.size, &blob.sha256, quota)
        .await
        .map_err(|e| caller.fail(e))?
        .ok_or_else(|| ApiError::quota_exceeded(quota))?;
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Streams the body into `incoming`. Stops reading as soon as it passes the upload limit
/// (413) or the `room` left in the organization's quota (507), or sends nothing for the
/// idle timeout (408).
async fn receive(
    mut body: Body,
    incoming: &mut blobs::Incoming,
    config: &ApiConfig,
    room: u64,
    request_id: &str,
) -> Result<(), ApiError> {
    loop {
        let next_frame = poll_fn(|cx| Pin::new(&mut body).poll_frame(cx));
        let frame = match tokio::time::timeout(config.upload_idle_timeout, next_frame).await {
            Err(_) => return Err(ApiError::upload_stalled()),
            Ok(None) => return Ok(()),
            // The server's own stall limit on every request body (`serve.rs`) may end the
            // wait first: the same stall, the same answer.
            Ok(Some(Err(e)))
                if super::middleware::caused_by::<tower_http::timeout::TimeoutError>(&e) =>
            {
                return Err(ApiError::upload_stalled());
            }
            Ok(Some(Err(e))) => {
                tracing::info!(%request_id, "upload abandoned mid-body: {e}");
                return Err(ApiError::bad_request("The request body ended early."));
            }
            Ok(Some(Ok(frame))) => frame,
        };
        // Trailers carry nothing we keep.
        let Ok(chunk) = frame.into_data() else { continue };
        let received = incoming.size() + chunk.len() as u64;
        if received > config.max_upload_bytes {
            return Err(ApiError::too_large(format!(
                "Files may be at most {} bytes.",
                config.max_upload_bytes
            )));
        }
        if received > room {
            return Err(ApiError::quota_exceeded(config.org_quota_bytes));
        }
        incoming.write(&chunk).await.map_err(|e| ApiError::internal(request_id, e))?;
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// 1-based page number; 1 when absent.
    #[param(minimum = 1, nullable = false)]
    page: Option<i32>,
}

/// The page asked for, 1 when absent; a page below 1 is refused.
fn page_number(page: Option<i32>) -> Result<u32, ApiError> {
    match page {
        None => Ok(1),
        Some(p) if p >= 1 => Ok(p as u32),
        Some(_) => Err(ApiError::bad_request("page must be 1 or more.")),
    }
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    files: Vec<FileInfo>,
    total: u64,
    page: u32,
    per_page: u32,
}

/// The organization's files, newest first. API/CLI tokens of any role.
#[utoipa::path(get, path = "/api/v1/files", tag = "files", params(PageParams),
    responses((status = 200, description = "One page of files.", body = FileList),
              (status = 400, description = "A bad page number.", body = ErrorBody),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "File Forwarder tokens may not list files.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_files(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<PageParams>, QueryRejection>,
) -> Result<Json<FileList>, ApiError> {
    caller.authorize(Action::ListFiles)?;
    let Ok(Query(p)) = params else {
        return Err(ApiError::bad_request("page must be a whole number, 1 or more."));
    };
    let page = page_number(p.page)?;
    let listed = files::list(&state, &caller.principal, page).await.map_err(|e| caller.fail(e))?;
    Ok(Json(FileList {
        files: listed.rows.into_iter().map(Into::into).collect(),
        total: listed.total,
        page: listed.page,
        per_page: listed.per_page,
    }))
}

// ---------- tokens ----------

/// `api` (API/CLI token) or `forwarder` (File Forwarder token).
#[derive(Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenType {
    Api,
    Forwarder,
}

impl From<TokenKind> for TokenType {
    fn from(kind: TokenKind) -> TokenType {
        match kind {
            TokenKind::Api => TokenType::Api,
            TokenKind::Forwarder => TokenType::Forwarder,
        }
    }
}

impl From<TokenType> for TokenKind {
    fn from(kind: TokenType) -> TokenKind {
        match kind {
            TokenType::Api => TokenKind::Api,
            TokenType::Forwarder => TokenKind::Forwarder,
        }
    }
}

/// Which tokens to list: `active` (the default), `unused` (active, not used for 90 days or
/// never), `revoked` or `all`.
#[derive(Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TokenStatus {
    Active,
    Unused,
    Revoked,
    All,
}

impl From<TokenStatus> for TokenStatusFilter {
    fn from(status: TokenStatus) -> TokenStatusFilter {
        match status {
            TokenStatus::Active => TokenStatusFilter::Active,
            TokenStatus::Unused => TokenStatusFilter::Unused,
            TokenStatus::Revoked => TokenStatusFilter::Revoked,
            TokenStatus::All => TokenStatusFilter::All,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct ApiToken {
    id: i64,
    name: String,
    #[serde(rename = "type")]
    kind: TokenType,
    /// `twa_…abcd`.
    hint: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    /// The admin who revoked or regenerated it.
    revoked_by: Option<String>,
    /// Why it is revoked: `revoked` (by an admin), `regenerated`, or `reported_exposed`.
    #[schema(value_type = Option<String>, example = "regenerated")]
    revoked_reason: Option<&'static str>,
}

impl From<TokenRow> for ApiToken {
    fn from(t: TokenRow) -> ApiToken {
        ApiToken {
            id: t.id.0,
            hint: t.masked(),
            name: t.name,
            kind: t.kind.into(),
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            revoked_by: t.revoked_by,
            revoked_reason: t.revoked_reason.map(Choice::as_str),
        }
    }
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TokenListParams {
    /// Part of the name.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", nullable = false)]
    q: Option<String>,
    #[serde(rename = "type")]
    #[param(inline, nullable = false)]
    kind: Option<TokenType>,
    #[param(inline, nullable = false)]
    status: Option<TokenStatus>,
    /// 1-based page number; 1 when absent. Past the last page, the last page is shown.
    #[param(minimum = 1, nullable = false)]
    page: Option<i32>,
}

#[derive(Serialize, ToSchema)]
pub struct TokenList {
    tokens: Vec<ApiToken>,
    total: u64,
    page: u32,
    per_page: u32,
}

/// The organization's tokens, newest first. Admins' API/CLI tokens only.
#[utoipa::path(get, path = "/api/v1/tokens", tag = "tokens", params(TokenListParams),
    responses((status = 200, description = "One page of tokens.", body = TokenList),
              (status = 400, description = "A bad filter or page number.", body = ErrorBody),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "Only admins' API/CLI tokens may manage tokens.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tokens(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<TokenListParams>, QueryRejection>,
) -> Result<Json<TokenList>, ApiError> {
    caller.authorize(Action::ListTokens)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let query = TokenQuery {
        q: p.q.unwrap_or_default(),
        kind: p.kind.map(Into::into),
        status: p.status.map_or(TokenStatusFilter::Active, Into::into),
        page: page_number(p.page)?,
    };
    let page = tokens::list(&state, &caller.principal, &query).await.map_err(|e| caller.fail(e))?;
    Ok(Json(TokenList {
        tokens: page.rows.into_iter().map(Into::into).collect(),
        total: page.total,
        page: page.page,
        per_page: app::model::TOKENS_PER_PAGE,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    #[serde(rename = "type")]
    kind: TokenType,
    /// 1–64 characters, not all whitespace, without control characters, bidirectional
    /// controls or invisible formatting characters; kept trimmed. Unique, ignoring case,
    /// among the organization's active tokens.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedToken {
    token: ApiToken,
    /// The secret. Shown this once; store it now.
    secret: String,
}

/// Generates a token, exactly as the console does. The secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens", tag = "tokens", request_body = CreateTokenRequest,
    responses((status = 201, description = "Generated; the secret is in this answer only.", body = CreatedToken,
               headers(("Cache-Control" = String, description = "`no-store`"))),
              (status = 400, description = "Not JSON of this shape, or a bad name.", body = ErrorBody),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "Only admins' API/CLI tokens may manage tokens.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 409, description = "An active token already has this name.", body = ErrorBody),
              (status = 413, description = "A body over 64 KiB.", body = ErrorBody),
              (status = 415, description = "The body is not declared as JSON.", body = ErrorBody),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_token(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<CreateTokenRequest>, JsonRejection>,
) -> Result<Response, ApiError> {
    caller.authorize(Action::GenerateToken)?;
    let body = json_body(body, "Send JSON: {\"type\": \"api\" | \"forwarder\", \"name\": \"…\"}.")?;
    // The name is checked as the console checks it (`TokenName::parse`): a 400 naming the rule.
    let generated =
        tokens::generate(&state, &caller.principal, caller.addr, body.kind.into(), &body.name)
            .await
            .map_err(|e| caller.fail(e))?;
    Ok(created(generated))
}

/// A JSON request body, or the API's answer to one it cannot take: 415 when it is not
/// declared as JSON, 413 over the size limit, otherwise 400 saying the `shape` expected.
fn json_body<T>(body: Result<Json<T>, JsonRejection>, shape: &'static str) -> Result<T, ApiError> {
    body.map(|Json(body)| body).map_err(|e| match e {
        JsonRejection::MissingJsonContentType(_) => {
            ApiError::unsupported_media_type("Send JSON, as Content-Type: application/json.")
        }
        e if e.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(format!(
            "Request bodies may be at most {} bytes.",
            crate::http::RPC_BODY_LIMIT
        )),
        _ => ApiError::bad_request(shape),
    })
}

/// 201 with the new token and its secret, not cacheable.
fn created(generated: app::model::GeneratedToken) -> Response {
    let body = CreatedToken { token: generated.token.into(), secret: generated.secret };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Replaces an active token by a new one with the same name, type and principal (a File
/// Forwarder token keeps its Forwarder Service Account). The old value stops working at
/// once; the new secret is in this answer only.
#[utoipa::path(post, path = "/api/v1/tokens/{id}/regenerate", tag = "tokens",
    params(("id" = i64, Path, description = "An active token's id. Another organization's token is not found.")),
    responses((status = 201, description = "Regenerated; the new secret is in this answer only.", body = CreatedToken,
               headers(("Cache-Control" = String, description = "`no-store`"))),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "Only admins' API/CLI tokens may manage tokens.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 404, description = "No such active token in this organization.", body = ErrorBody),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn regenerate_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    caller.authorize(Action::RegenerateToken)?;
    let id = TokenId(id.parse().map_err(|_| caller.fail(ServiceError::NotFound))?);
    let generated = tokens::regenerate(&state, &caller.principal, caller.addr, id)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(created(generated))
}

// ---------- exposure reports ----------

#[derive(Deserialize, ToSchema)]
pub struct ExposureReport {
    /// Token values found where they should not be (at most 100). Each active one is
    /// revoked; anything else is ignored.
    #[schema(max_items = 100, example = json!(["twa_…"]))]
    credentials: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct ExposureReceipt {
    /// Always `accepted`: the answer never says whether a credential was real.
    status: &'static str,
}

/// Reports exposed tokens, without authentication: anyone who finds a Tokenwell token in
/// public code or a log sends it here, and each active one is revoked at once and recorded
/// in its organization's audit log with the reporter's address. The answer is the same
/// whatever the credentials were. Throttled per client address.
#[utoipa::path(post, path = "/api/v1/credentials/revoke", tag = "tokens", request_body = ExposureReport,
    responses((status = 202, description = "Received; every active token in it is revoked. The same answer for any credentials.", body = ExposureReceipt),
              (status = 400, description = "Not JSON of this shape.", body = ErrorBody),
              (status = 413, description = "More than 100 credentials, or a body over 64 KiB.", body = ErrorBody),
              (status = 415, description = "The body is not declared as JSON.", body = ErrorBody),
              (status = 429, description = "Too many reports from this address; see Retry-After.", body = ErrorBody,
               headers(("Retry-After" = String))),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)))]
async fn report_exposed(
    State(state): State<AppState>,
    parts: Parts,
    body: Result<Json<ExposureReport>, JsonRejection>,
) -> Result<Response, ApiError> {
    let client = parts.extensions.get::<ClientAddr>().map(|a| a.0);
    let request_id =
        parts.extensions.get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
    // Every report counts, well-formed or not.
    if let Err(e) = state.throttle.reserve_exposure_report(client).await {
        return match ServiceError::from(e) {
            ServiceError::Throttled { minutes } => {
                let mut response = ApiError {
                    status: StatusCode::TOO_MANY_REQUESTS,
                    code: "too_many_requests",
                    message: AppError::Throttled { minutes }.to_string(),
                }
                .into_response();
                response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(minutes * 60));
                Ok(response)
            }
            other => Err(ApiError::internal(&request_id, other)),
        };
    }
    let body = json_body(body, "Send JSON: {\"credentials\": [\"twa_…\", …]}.")?;
    if body.credentials.len() > tokens::REPORT_MAX {
        return Err(ApiError::too_large(format!(
            "Report at most {} credentials at once.",
            tokens::REPORT_MAX
        )));
    }
    tokens::report_exposed(&state, client, &body.credentials)
        .await
        .map_err(|e| ApiError::internal(&request_id, e))?;
    Ok((StatusCode::ACCEPTED, Json(ExposureReceipt { status: "accepted" })).into_response())
}

// ---------- audit events ----------

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditListParams {
    /// Part of the actor's or the target's name.
    #[param(max_length = 200, pattern = r"^[^\x00-\x1F\x7F-\x9F]*$", nullable = false)]
    q: Option<String>,
    /// One action's events; absent for all.
    #[param(schema_with = audit_action_schema, nullable = false)]
    action: Option<String>,
    /// 1-based page number; 1 when absent. Past the last page, the last page is shown.
    #[param(minimum = 1, nullable = false)]
    page: Option<i32>,
}

/// The `action` filter's values, from the one list of actions (`AuditAction`).
fn audit_action_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::Type(Type::String))
        .enum_values(Some(AuditAction::ALL.iter().map(|a| a.as_str())))
        .build()
}

#[derive(Serialize, ToSchema)]
pub struct ApiAuditEvent {
    id: i64,
    /// Unix seconds.
    at: i64,
    /// The action's name, as in the `action` filter.
    action: &'static str,
    /// `user`, `token`, `anonymous` or `command_line`.
    actor_type: &'static str,
    /// The actor's name at that moment; for a token, its name and its principal's.
    actor: String,
    /// `organization`, `user`, `token` or `file`.
    target_type: Option<&'static str>,
    target_id: Option<i64>,
    target: Option<String>,
    /// The client's address.
    address: Option<String>,
    detail: String,
}

impl From<AuditEvent> for ApiAuditEvent {
    fn from(e: AuditEvent) -> ApiAuditEvent {
        ApiAuditEvent {
            id: e.id,
            at: e.at,
            action: e.action.as_str(),
            actor_type: e.actor_kind.as_str(),
            actor: e.actor,
            target_type: e.target_kind.map(Choice::as_str),
            target_id: e.target_id,
            target: e.target,
            address: e.address,
            detail: e.detail,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AuditEventList {
    events: Vec<ApiAuditEvent>,
    /// How many events match, counted up to 10,000; see `more`.
    total: u64,
    /// More than `total` events match; pages end at `total`. Narrow the filter to reach
    /// older events.
    more: bool,
    page: u32,
    per_page: u32,
}

/// The organization's audit log, newest first. Admins' API/CLI tokens only.
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "audit", params(AuditListParams),
    responses((status = 200, description = "One page of events.", body = AuditEventList),
              (status = 400, description = "A bad filter, action or page number.", body = ErrorBody),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "Only admins' API/CLI tokens may read the audit log.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_audit_events(
    caller: Caller,
    State(state): State<AppState>,
    params: Result<Query<AuditListParams>, QueryRejection>,
) -> Result<Json<AuditEventList>, ApiError> {
    caller.authorize(Action::ListAuditEvents)?;
    let Query(p) = params.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let action = match p.action.as_deref() {
        None => None,
        Some(name) => Some(
            AuditAction::parse(name)
                .ok_or_else(|| ApiError::bad_request(format!("Unknown action {name:?}.")))?,
        ),
    };
    let query = AuditQuery { q: p.q.unwrap_or_default(), action, page: page_number(p.page)? };
    let page = audit::list(&state, &caller.principal, &query).await.map_err(|e| caller.fail(e))?;
    Ok(Json(AuditEventList {
        events: page.rows.into_iter().map(Into::into).collect(),
        total: page.total,
        more: page.more,
        page: page.page,
        per_page: page.per_page,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct RevokedToken {
    token: ApiToken,
    /// False when the token had already been revoked.
    revoked_now: bool,
}

/// Revokes a token, permanently. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens",
    params(("id" = i64, Path, description = "The token's id. Another organization's token is not found.")),
    responses((status = 200, description = "Revoked, now or before.", body = RevokedToken),
              (status = 401, description = "Bad or missing token.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 403, description = "Only admins' API/CLI tokens may manage tokens.", body = ErrorBody, headers(("WWW-Authenticate" = String))),
              (status = 404, description = "No such token in this organization.", body = ErrorBody),
              (status = 500, description = "Server error; the message carries a reference.", body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_token(
    caller: Caller,
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<RevokedToken>, ApiError> {
    caller.authorize(Action::RevokeToken)?;
    // An id that is not a number names no token.
    let id = TokenId(id.parse().map_err(|_| caller.fail(ServiceError::NotFound))?);
    let outcome = tokens::revoke(&state, &caller.principal, caller.addr, id)
        .await
        .map_err(|e| caller.fail(e))?;
    Ok(Json(RevokedToken { token: outcome.token.into(), revoked_now: outcome.revoked_now }))
}

// ---------- OpenAPI ----------

#[derive(OpenApi)]
#[openapi(
    info(title = "Tokenwell API", version = "1", description = "Authenticate with `Authorization: Bearer <token>`."),
    paths(whoami, upload_file, list_files, list_tokens, create_token, revoke_token, regenerate_token,
          report_exposed, list_audit_events),
    components(schemas(ErrorBody, ErrorDetail, WhoAmI, OrganizationInfo, TokenInfo, PrincipalInfo, FileInfo, FileList,
                       TokenType, ApiToken, TokenList, CreateTokenRequest, CreatedToken, RevokedToken,
                       ExposureReport, ExposureReceipt, ApiAuditEvent, AuditEventList)),
    modifiers(&BearerAuth, &NamePatterns)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("tw[af]_…").build(),
            ),
        );
    }
}

/// utoipa takes a pattern only as a literal; names get theirs from the same table as
/// `domain::checked_name`.
struct NamePatterns;

impl Modify for NamePatterns {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let pattern = name_pattern();
        let set = |schema: Option<&mut RefOr<Schema>>| {
            if let Some(RefOr::T(Schema::Object(object))) = schema {
                object.pattern = Some(pattern.clone());
            }
        };
        let upload =
            openapi.paths.paths.get_mut("/api/v1/files").and_then(|path| path.post.as_mut());
        for parameter in
            upload.and_then(|operation| operation.parameters.as_mut()).into_iter().flatten()
        {
            if parameter.name == "name" {
                set(parameter.schema.as_mut());
            }
        }
        let schemas = openapi.components.as_mut().map(|c| &mut c.schemas);
        if let Some(RefOr::T(Schema::Object(request))) =
            schemas.and_then(|s| s.get_mut("CreateTokenRequest"))
        {
            set(request.properties.get_mut("name"));
        }
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_are_documented_with_the_servers_own_rule() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        for path in ["/api/v1/tokens", "/api/v1/audit-events"] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            let q = params.iter().find(|p| p["name"] == "q").unwrap();
            assert_eq!(q["schema"]["pattern"].as_str(), Some(domain::FILTER_PATTERN), "{path}");
        }
        assert!(domain::filter("a\u{0}b").is_err());
        assert!(domain::filter("ci-runner ümlaut").is_ok());
    }

    #[test]
    fn the_document_lists_every_audit_action_the_filter_accepts() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let params = doc["paths"]["/api/v1/audit-events"]["get"]["parameters"].as_array().unwrap();
        let action = params.iter().find(|p| p["name"] == "action").unwrap();
        let listed: Vec<&str> = action["schema"]["enum"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        let known: Vec<&str> = AuditAction::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(listed, known);
    }

    #[test]
    fn the_document_describes_exactly_the_names_the_server_accepts() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let file_name = &doc["paths"]["/api/v1/files"]["post"]["parameters"][0]["schema"];
        let token_name = &doc["components"]["schemas"]["CreateTokenRequest"]["properties"]["name"];
        assert_eq!(
            (file_name["minLength"].as_u64(), file_name["maxLength"].as_u64()),
            (Some(1), Some(domain::FILE_NAME_MAX as u64))
        );
        assert_eq!(
            (token_name["minLength"].as_u64(), token_name["maxLength"].as_u64()),
            (Some(1), Some(app::domain::TOKEN_NAME_MAX as u64))
        );
        assert_eq!(file_name["pattern"], token_name["pattern"]);
        let pattern =
            regex_lite::Regex::new(file_name["pattern"].as_str().expect("a pattern for names"))
                .unwrap();
        let agree = |name: &str| {
            assert_eq!(pattern.is_match(name), domain::FileName::parse(name).is_ok(), "{name:?}");
            let within_token_length = name.chars().count() <= domain::TOKEN_NAME_MAX;
            assert_eq!(
                pattern.is_match(name) && within_token_length,
                domain::TokenName::parse(name).is_ok(),
                "{name:?}"
            );
        };
        // Every character of the Basic Multilingual Plane; beyond it, the edges of each range
        // and a sample of the rest.
        let edges = domain::REFUSED_IN_NAMES.iter().chain(domain::NAME_WHITESPACE).flat_map(
            |&(first, last)| {
                [(first as u32).saturating_sub(1), first as u32, last as u32, last as u32 + 1]
            },
        );
        let candidates = (0..=0xffff)
            .chain((0x10000..=0x10ffff).step_by(251))
            .chain(edges)
            .filter_map(char::from_u32);
        for c in candidates {
            agree(&format!("a{c}"));
            agree(&c.to_string());
        }
        for name in ["a b", " a", "a ", "\u{3000}a\u{3000}", "\u{202e}", "", "résumé.pdf"] {
            agree(name);
        }
    }

    #[test]
    fn only_too_many_uploads_asks_to_retry_after_five_seconds() {
        let busy = ApiError::too_many_uploads().into_response();
        assert_eq!(busy.headers()[header::RETRY_AFTER], "5");
        let other = ApiError {
            status: StatusCode::SERVICE_UNAVAILABLE,
            code: "other",
            message: String::new(),
        };
        assert!(other.into_response().headers().get(header::RETRY_AFTER).is_none());
    }

    #[test]
    fn the_document_gives_the_limits_the_server_applies() {
        let doc = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let listing = doc["paths"]["/api/v1/tokens"]["get"]["parameters"].as_array().unwrap();
        let q = listing.iter().find(|p| p["name"] == "q").unwrap();
        assert_eq!(q["schema"]["maxLength"].as_u64(), Some(tokens::FILTER_MAX as u64));
        assert_eq!(q["in"], "query");
    }
}
