//! The token-authenticated HTTP API under `/api/v1`. Bearer tokens only: a session cookie
//! does not authenticate here, and a token does not authenticate the console.

use std::{path::PathBuf, sync::Arc};

use app::{
    error::AppError,
    model::{Role, TokenKind, TokenQuery, TokenRow, TokenStatusFilter},
    server::{
        db::{FileRecord, TokenAuth},
        now,
        token_secret::{ParseError, TokenSecret},
        tokens::{self, Actor, TokenError},
        AppState, ClientAddr, RequestId,
    },
};
use axum::{
    body::Bytes,
    extract::{rejection::BytesRejection, DefaultBodyLimit, FromRequestParts, Path, Query, State},
    http::{header, request::Parts, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{delete, get},
    Extension, Json, Router,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use utoipa::{
    openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
    IntoParams, Modify, OpenApi, ToSchema,
};

/// Settings of the file endpoints.
#[derive(Clone, Debug)]
pub struct ApiConfig {
    pub max_upload_bytes: usize,
    pub data_dir: PathBuf,
}

pub fn router(config: ApiConfig) -> Router<AppState> {
    let max_upload = config.max_upload_bytes;
    Router::new()
        .route("/whoami", get(whoami))
        .route(
            "/files",
            get(list_files).post(upload_file).layer(DefaultBodyLimit::max(max_upload)),
        )
        .route("/tokens", get(list_tokens).post(create_token))
        .route("/tokens/{id}", delete(revoke_token))
        .route("/openapi.json", get(openapi))
        .layer(Extension(Arc::new(config)))
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
            message: "The token is missing, malformed, unknown, revoked, or its principal is disabled.".into(),
        }
    }

    fn insufficient_scope(what: &str) -> ApiError {
        ApiError { status: StatusCode::FORBIDDEN, code: "insufficient_scope", message: format!("This token may not {what}.") }
    }

    fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError { status: StatusCode::BAD_REQUEST, code: "bad_request", message: message.into() }
    }

    fn too_large(message: String) -> ApiError {
        ApiError { status: StatusCode::PAYLOAD_TOO_LARGE, code: "payload_too_large", message }
    }

    fn internal(request_id: &str, cause: impl std::fmt::Display) -> ApiError {
        tracing::error!(%request_id, "internal error: {cause}");
        ApiError {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            code: "internal",
            message: format!("Something went wrong on our side. Reference: {request_id}."),
        }
    }

    fn from_token_error(e: TokenError, request_id: &str) -> ApiError {
        match e {
            TokenError::Internal(cause) => ApiError::internal(request_id, cause),
            TokenError::Refused(e) => {
                let code = match e {
                    AppError::NotFound => "not_found",
                    AppError::Conflict { .. } => "conflict",
                    _ => "bad_request",
                };
                ApiError {
                    status: StatusCode::from_u16(e.status()).unwrap_or(StatusCode::BAD_REQUEST),
                    code,
                    message: e.to_string(),
                }
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = Json(ErrorBody { error: ErrorDetail { code: self.code, message: self.message } });
        let mut response = (self.status, body).into_response();
        if matches!(self.code, "invalid_token" | "insufficient_scope") {
            let value = format!("Bearer realm=\"tokenwell\", error=\"{}\"", self.code);
            if let Ok(value) = HeaderValue::from_str(&value) {
                response.headers_mut().insert(header::WWW_AUTHENTICATE, value);
            }
        }
        response
    }
}

// ---------- authentication ----------

/// The caller of an API request, authenticated by its bearer token.
pub struct Caller {
    pub auth: TokenAuth,
    pub request_id: String,
    pub addr: Option<std::net::IpAddr>,
}

impl Caller {
    fn actor(&self) -> Actor {
        Actor { organization_id: self.auth.organization_id, user_id: self.auth.principal_id }
    }

    /// The role the token acts with right now: its creator's current role for API/CLI
    /// tokens; none for File Forwarder tokens.
    fn role(&self) -> Option<Role> {
        match self.auth.kind {
            TokenKind::Api => self.auth.principal_role,
            TokenKind::Forwarder => None,
        }
    }

    fn deny(&self, what: &str) -> ApiError {
        tracing::warn!(
            token_id = self.auth.token_id,
            client = ?self.addr,
            request_id = %self.request_id,
            reason = what,
            "API request denied"
        );
        ApiError::insufficient_scope(what)
    }

    fn require_admin(&self, what: &str) -> Result<(), ApiError> {
        if self.role() == Some(Role::Admin) {
            Ok(())
        } else {
            Err(self.deny(what))
        }
    }
}

/// The longest Authorization header worth reading: a bearer token is 49 bytes.
const MAX_AUTHORIZATION: usize = 256;

fn refuse(reason: &'static str, token_id: Option<i64>, parts: &Parts) -> ApiError {
    let client = parts.extensions.get::<ClientAddr>().map(|a| a.0);
    let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
    tracing::warn!(?token_id, ?client, %request_id, reason, "API authentication failed");
    ApiError::invalid_token()
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(refuse("missing Authorization header", None, parts));
        };
        if value.len() > MAX_AUTHORIZATION {
            return Err(refuse("oversized Authorization header", None, parts));
        }
        let value = value.to_str().unwrap_or_default();
        let Some((scheme, secret)) = value.split_once(' ') else {
            return Err(refuse("malformed Authorization header", None, parts));
        };
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(refuse("not a Bearer credential", None, parts));
        }
        // Shape and checksum first: a typo or a made-up token costs no database query.
        let secret = match TokenSecret::parse(secret.trim()) {
            Ok(secret) => secret,
            Err(ParseError::Format) => return Err(refuse("malformed token", None, parts)),
            Err(ParseError::Checksum) => return Err(refuse("token checksum mismatch", None, parts)),
        };
        let request_id = parts.extensions.get::<RequestId>().map(|r| r.0.to_string()).unwrap_or_default();
        let auth = match state.store.token_by_digest(&secret.digest()) {
            Ok(Some(auth)) => auth,
            Ok(None) => return Err(refuse("unknown token", None, parts)),
            Err(e) => return Err(ApiError::internal(&request_id, e)),
        };
        if auth.revoked {
            return Err(refuse("revoked token", Some(auth.token_id), parts));
        }
        if !auth.principal_active {
            return Err(refuse("principal disabled", Some(auth.token_id), parts));
        }
        let addr = parts.extensions.get::<ClientAddr>().map(|a| a.0);
        state.last_used.record(auth.token_id, now(), addr);
        Ok(Caller { auth, request_id, addr })
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
    /// `api` or `forwarder`.
    #[serde(rename = "type")]
    kind: String,
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
    responses((status = 200, body = WhoAmI), (status = 401, body = ErrorBody)),
    security(("bearer" = [])))]
async fn whoami(caller: Caller) -> Json<WhoAmI> {
    let a = caller.auth;
    Json(WhoAmI {
        organization: OrganizationInfo { id: a.organization_id, name: a.organization_name },
        token: TokenInfo { id: a.token_id, name: a.token_name, kind: a.kind.as_str().into() },
        principal: PrincipalInfo {
            id: a.principal_id,
            name: a.principal_name,
            kind: a.principal_kind.as_str().into(),
            role: a.principal_role.map(|r| r.as_str().into()),
        },
    })
}

// ---------- files ----------

#[derive(Deserialize, IntoParams)]
pub struct UploadParams {
    /// The file's name, 1–255 characters.
    name: String,
}

#[derive(Serialize, ToSchema)]
pub struct FileInfo {
    id: i64,
    name: String,
    size: i64,
    sha256: String,
    created_at: i64,
}

impl From<FileRecord> for FileInfo {
    fn from(f: FileRecord) -> FileInfo {
        FileInfo { id: f.id, name: f.name, size: f.size, sha256: f.sha256, created_at: f.created_at }
    }
}

/// Ingests a file (raw body). File Forwarder tokens, and API/CLI tokens of admins and members.
#[utoipa::path(post, path = "/api/v1/files", tag = "files", params(UploadParams),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 201, body = FileInfo), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
async fn upload_file(
    caller: Caller,
    State(state): State<AppState>,
    Extension(config): Extension<Arc<ApiConfig>>,
    params: Result<Query<UploadParams>, axum::extract::rejection::QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<FileInfo>), ApiError> {
    let may_ingest = match caller.auth.kind {
        TokenKind::Forwarder => true,
        TokenKind::Api => matches!(caller.role(), Some(Role::Admin | Role::Member)),
    };
    if !may_ingest {
        return Err(caller.deny("ingest files"));
    }
    let Ok(Query(params)) = params else {
        return Err(ApiError::bad_request("Give the file's name as ?name=…"));
    };
    let name = params.name.trim();
    if name.is_empty() || name.chars().count() > 255 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("The name must be 1–255 characters without control characters."));
    }
    let body = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("Files may be at most {} bytes.", config.max_upload_bytes))
        } else {
            ApiError::bad_request("Could not read the request body.")
        }
    })?;
    let digest = Sha256::digest(&body);
    let sha256: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    store_blob(&config.data_dir, &sha256, &body).await.map_err(|e| ApiError::internal(&caller.request_id, e))?;
    let record = state
        .store
        .insert_file(
            caller.auth.organization_id,
            name,
            body.len() as i64,
            &sha256,
            caller.auth.token_id,
            caller.auth.principal_id,
            now(),
        )
        .await
        .map_err(|e| ApiError::internal(&caller.request_id, e))?;
    tracing::info!(file_id = record.id, token_id = caller.auth.token_id, size = record.size, "file ingested");
    Ok((StatusCode::CREATED, Json(record.into())))
}

/// Content-addressed: `files/ab/abcdef…`. Same bytes, same file, written once.
async fn store_blob(data_dir: &std::path::Path, sha256: &str, bytes: &[u8]) -> std::io::Result<()> {
    let dir = data_dir.join("files").join(&sha256[..2]);
    let path = dir.join(sha256);
    if tokio::fs::try_exists(&path).await.unwrap_or(false) {
        return Ok(());
    }
    tokio::fs::create_dir_all(&dir).await?;
    let mut suffix = [0u8; 8];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut suffix).map_err(std::io::Error::other)?;
    let tmp = dir.join(format!(".{sha256}.{}", suffix.iter().map(|b| format!("{b:02x}")).collect::<String>()));
    tokio::fs::write(&tmp, bytes).await?;
    tokio::fs::rename(&tmp, &path).await
}

#[derive(Deserialize, IntoParams)]
pub struct PageParams {
    /// 1-based page number.
    page: Option<u32>,
}

#[derive(Serialize, ToSchema)]
pub struct FileList {
    files: Vec<FileInfo>,
    total: u64,
    page: u32,
    per_page: u32,
}

const FILES_PER_PAGE: u32 = 50;

/// The organization's files, newest first. API/CLI tokens of any role.
#[utoipa::path(get, path = "/api/v1/files", tag = "files", params(PageParams),
    responses((status = 200, body = FileList), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_files(caller: Caller, State(state): State<AppState>, Query(p): Query<PageParams>) -> Result<Json<FileList>, ApiError> {
    if caller.auth.kind == TokenKind::Forwarder {
        return Err(caller.deny("list files"));
    }
    let page = p.page.unwrap_or(1).max(1);
    let offset = (page as u64 - 1) * FILES_PER_PAGE as u64;
    let (files, total) = state
        .store
        .list_files(caller.auth.organization_id, offset, FILES_PER_PAGE)
        .await
        .map_err(|e| ApiError::internal(&caller.request_id, e))?;
    Ok(Json(FileList { files: files.into_iter().map(Into::into).collect(), total, page, per_page: FILES_PER_PAGE }))
}

// ---------- tokens ----------

#[derive(Serialize, ToSchema)]
pub struct ApiToken {
    id: i64,
    name: String,
    /// `api` or `forwarder`.
    #[serde(rename = "type")]
    kind: String,
    /// `twa_…abcd`.
    hint: String,
    created_by: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
    revoked_by: Option<String>,
}

impl From<TokenRow> for ApiToken {
    fn from(t: TokenRow) -> ApiToken {
        ApiToken {
            id: t.id,
            hint: t.masked(),
            name: t.name,
            kind: t.kind.as_str().into(),
            created_by: t.created_by,
            created_at: t.created_at,
            last_used_at: t.last_used_at,
            revoked_at: t.revoked_at,
            revoked_by: t.revoked_by,
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct TokenListParams {
    /// Part of the name.
    q: Option<String>,
    /// `api` or `forwarder`.
    #[serde(rename = "type")]
    kind: Option<String>,
    /// `active` (default), `unused`, `revoked` or `all`.
    status: Option<String>,
    page: Option<u32>,
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
    responses((status = 200, body = TokenList), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)),
    security(("bearer" = [])))]
async fn list_tokens(caller: Caller, State(state): State<AppState>, Query(p): Query<TokenListParams>) -> Result<Json<TokenList>, ApiError> {
    caller.require_admin("manage tokens")?;
    let kind = match p.kind.as_deref() {
        None | Some("") => None,
        Some(k) => Some(TokenKind::parse(k).ok_or_else(|| ApiError::bad_request("type must be api or forwarder."))?),
    };
    let status = match p.status.as_deref() {
        None | Some("") => TokenStatusFilter::Active,
        Some(s) => TokenStatusFilter::parse(s)
            .ok_or_else(|| ApiError::bad_request("status must be active, unused, revoked or all."))?,
    };
    let query = TokenQuery { q: p.q.unwrap_or_default(), kind, status, page: p.page.unwrap_or(1).max(1) };
    let page = tokens::list(&state.store, caller.auth.organization_id, &query)
        .await
        .map_err(|e| ApiError::from_token_error(e, &caller.request_id))?;
    Ok(Json(TokenList {
        tokens: page.rows.into_iter().map(Into::into).collect(),
        total: page.total,
        page: page.page,
        per_page: app::model::TOKENS_PER_PAGE,
    }))
}

#[derive(Deserialize, ToSchema)]
pub struct CreateTokenRequest {
    /// `api` or `forwarder`.
    #[serde(rename = "type")]
    kind: String,
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
    responses((status = 201, body = CreatedToken), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
              (status = 403, body = ErrorBody), (status = 409, body = ErrorBody), (status = 413, body = ErrorBody)),
    security(("bearer" = [])))]
async fn create_token(
    caller: Caller,
    State(state): State<AppState>,
    body: Result<Json<CreateTokenRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<Response, ApiError> {
    caller.require_admin("manage tokens")?;
    let Json(body) = body.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!("Request bodies may be at most {} bytes.", crate::http::RPC_BODY_LIMIT))
        } else {
            ApiError::bad_request("Send JSON: {\"type\": \"api\" | \"forwarder\", \"name\": \"…\"}.")
        }
    })?;
    let kind = TokenKind::parse(&body.kind).ok_or_else(|| ApiError::bad_request("type must be api or forwarder."))?;
    let generated = tokens::generate(&state.store, caller.actor(), kind, &body.name)
        .await
        .map_err(|e| ApiError::from_token_error(e, &caller.request_id))?;
    let body = CreatedToken { token: generated.token.clone().into(), secret: generated.secret.clone() };
    let mut response = (StatusCode::CREATED, Json(body)).into_response();
    response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    Ok(response)
}

#[derive(Serialize, ToSchema)]
pub struct RevokedToken {
    token: ApiToken,
    /// False when the token had already been revoked.
    revoked_now: bool,
}

/// Revokes a token, permanently. Revoking it again changes nothing.
#[utoipa::path(delete, path = "/api/v1/tokens/{id}", tag = "tokens", params(("id" = i64, Path)),
    responses((status = 200, body = RevokedToken), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("bearer" = [])))]
async fn revoke_token(caller: Caller, State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<RevokedToken>, ApiError> {
    caller.require_admin("manage tokens")?;
    let not_found = || ApiError::from_token_error(TokenError::Refused(AppError::NotFound), &caller.request_id);
    let id: i64 = id.parse().map_err(|_| not_found())?;
    let outcome = tokens::revoke(&state.store, caller.actor(), id)
        .await
        .map_err(|e| ApiError::from_token_error(e, &caller.request_id))?;
    Ok(Json(RevokedToken { token: outcome.token.into(), revoked_now: outcome.revoked_now }))
}

// ---------- OpenAPI ----------

#[derive(OpenApi)]
#[openapi(
    info(title = "Tokenwell API", version = "1", description = "Authenticate with `Authorization: Bearer <token>`."),
    paths(whoami, upload_file, list_files, list_tokens, create_token, revoke_token),
    components(schemas(ErrorBody, ErrorDetail, WhoAmI, OrganizationInfo, TokenInfo, PrincipalInfo, FileInfo, FileList,
                       ApiToken, TokenList, CreateTokenRequest, CreatedToken, RevokedToken)),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("tw[af]_…").build()),
        );
    }
}

async fn openapi() -> impl IntoResponse {
    Json(ApiDoc::openapi())
}



