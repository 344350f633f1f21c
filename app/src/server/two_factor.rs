//! Two-factor sign-in: authenticator apps (RFC 6238 codes), single-use recovery codes,
//! passkeys (WebAuthn), the organization's "Require two-factor authentication", and
//! re-authentication before sensitive actions ("Confirm access").
//!
//! A correct password for an account with a second factor starts no session: it starts a
//! half-finished sign-in (a cookie, five minutes) that a code, a recovery code or a passkey
//! turns into one. Until then the password counts as a failed attempt in the sign-in throttle,
//! and each code tried counts as one more.

use std::net::IpAddr;

use qrcode::{render::svg, QrCode};
use rand::{rngs::OsRng, TryRngCore};
use sha2::{Digest, Sha256};
use totp_rs::{Builder, Secret, Totp};
use webauthn_rs::prelude::{
    DiscoverableAuthentication, Passkey, PasskeyAuthentication, PasskeyRegistration,
    PublicKeyCredential, RegisterPublicKeyCredential, Uuid,
};

use super::{
    auth::{check_own_password, record_failed_sign_in, start_session},
    db::{Actor, Purpose, StoreError, Unique},
    error::ServiceError,
    now,
    principal::{Action, Principal},
    session::{self, NewSession},
    AppState,
};
use crate::{
    domain,
    model::{
        OrgId, SecondFactorOptions, TotpSetup, TwoFactorStatus, UserId, Viewer, RECOVERY_CODES,
    },
};

/// How long a half-finished sign-in or a WebAuthn ceremony lasts.
pub const PENDING_LIFETIME: i64 = 300;
/// The issuer authenticator apps show next to the account.
const ISSUER: &str = "Tokenwell";

pub const WRONG_CODE: &str =
    "That code is not right. Enter the code your authenticator app shows now.";
pub const WRONG_RECOVERY_CODE: &str = "That recovery code is not right, or it was used before.";
pub const SIGN_IN_AGAIN: &str = "Your sign-in has expired. Sign in again.";
pub const PASSKEY_FAILED: &str = "That passkey could not be verified. Try again.";
pub const NOT_SET_UP: &str = "Start setting up your authenticator app again.";
pub const ALREADY_SET_UP: &str = "An authenticator app is already set up.";

// ---------------------------------------------------------------------------------------
// Codes

/// The authenticator app of `secret` (raw bytes) for `account`.
fn totp(secret: Vec<u8>, account: &str) -> Result<Totp, ServiceError> {
    Builder::new()
        .with_secret(Secret::from(secret))
        .with_account_name(account.replace(':', "_"))
        .with_issuer(Some(ISSUER))
        .build()
        .map_err(ServiceError::internal)
}

/// The 30-second step whose code `code` is, within one step either side of `now`.
pub fn code_step(app: &Totp, code: &str, now: i64) -> Option<i64> {
    let code: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    app.check(&code, now.max(0) as u64).map(|step| step as i64)
}

/// The alphabet of recovery codes: Crockford's base 32 (no I, L, O, U).
const CODE_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Ten new recovery codes (80 random bits each, as `xxxx-xxxx-xxxx-xxxx`) and their hashes.
fn new_recovery_codes() -> Result<(Vec<String>, Vec<Vec<u8>>), ServiceError> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    let mut hashes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 16];
        OsRng.try_fill_bytes(&mut bytes).map_err(ServiceError::internal)?;
        let chars: String =
            bytes.iter().map(|b| CODE_ALPHABET[(b & 31) as usize] as char).collect();
        let shown =
            format!("{}-{}-{}-{}", &chars[0..4], &chars[4..8], &chars[8..12], &chars[12..16]);
        hashes.push(recovery_hash(&shown).expect("a code we made reads back"));
        codes.push(shown);
    }
    Ok((codes, hashes))
}

/// The stored hash of a recovery code as typed: case, spaces and dashes do not matter, and
/// the letters people confuse with digits read as those digits.
pub fn recovery_hash(typed: &str) -> Option<Vec<u8>> {
    let normal: String = typed
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .map(|c| match c.to_ascii_lowercase() {
            'o' => '0',
            'i' | 'l' => '1',
            c => c,
        })
        .collect();
    if normal.len() != 16 || !normal.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
        return None;
    }
    Some(Sha256::digest(format!("tokenwell recovery code\n{normal}")).to_vec())
}

/// The associated data that binds a sealed TOTP secret to its user.
fn totp_context(user: UserId) -> Vec<u8> {
    format!("totp secret of user {}", user.0).into_bytes()
}

/// An SVG QR code of `text`, as a data URI for an `<img>`.
fn qr_data_uri(text: &str) -> Result<String, ServiceError> {
    let code = QrCode::new(text.as_bytes()).map_err(ServiceError::internal)?;
    let image = code
        .render::<svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .dark_color(svg::Color("#000000"))
        .light_color(svg::Color("#ffffff"))
        .build();
    let mut uri = String::from("data:image/svg+xml,");
    for c in image.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '#' => uri.push_str("%23"),
            '<' => uri.push_str("%3C"),
            '>' => uri.push_str("%3E"),
            '"' => uri.push('\''),
            '\n' | '\r' => {}
            c => uri.push(c),
        }
    }
    Ok(uri)
}

fn session_viewer(principal: &Principal, action: Action) -> Result<&Viewer, ServiceError> {
    principal.authorize(action)?;
    match principal {
        Principal::Session(viewer) => Ok(viewer),
        Principal::Token(_) => Err(ServiceError::Forbidden(action)),
    }
}

// ---------------------------------------------------------------------------------------
// The account page

/// The signed-in user's second factors.
pub async fn status(
    state: &AppState,
    principal: &Principal,
) -> Result<TwoFactorStatus, ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let (authenticator_app, recovery_codes_left, passkeys) =
        state.store.two_factor_status(viewer.user_id).await?;
    Ok(TwoFactorStatus {
        authenticator_app,
        recovery_codes_left,
        passkeys,
        required: viewer.two_factor_required,
    })
}

/// "Set up authenticator app": a new secret, kept sealed until a code confirms it.
pub async fn begin_authenticator_app(
    state: &AppState,
    principal: &Principal,
) -> Result<TotpSetup, ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let mut secret = vec![0u8; 20];
    OsRng.try_fill_bytes(&mut secret).map_err(ServiceError::internal)?;
    let sealed = state
        .secrets
        .seal(&secret, &totp_context(viewer.user_id))
        .map_err(ServiceError::internal)?;
    if !state.store.begin_totp(viewer.user_id, &sealed, now()).await? {
        return Err(ServiceError::Refused(ALREADY_SET_UP.into()));
    }
    let app = totp(secret, &viewer.email)?;
    let setup_key = app.secret().to_base32();
    let qr_code = qr_data_uri(&app.to_url().map_err(ServiceError::internal)?)?;
    Ok(TotpSetup { qr_code, setup_key })
}

/// "Verify" in the setup dialog: the app's code turns it on; the recovery codes are
/// returned, once.
pub async fn enable_authenticator_app(
    state: &AppState,
    principal: &Principal,
    code: &str,
    from: Option<IpAddr>,
) -> Result<Vec<String>, ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let attempt = state.throttle.reserve_password_change(viewer.user_id).await?;
    let factor = match state.store.totp_factor(viewer.user_id).await {
        Ok(Some(f)) if !f.enabled => f,
        Ok(Some(_)) => {
            attempt.abandon().await;
            return Err(ServiceError::Refused(ALREADY_SET_UP.into()));
        }
        Ok(None) => {
            attempt.abandon().await;
            return Err(ServiceError::Refused(NOT_SET_UP.into()));
        }
        Err(e) => {
            attempt.abandon().await;
            return Err(e.into());
        }
    };
    let secret = state
        .secrets
        .open(&factor.secret, &totp_context(viewer.user_id))
        .map_err(ServiceError::internal)?;
    let Some(step) = code_step(&totp(secret, &viewer.email)?, code, now()) else {
        attempt.failed();
        return Err(ServiceError::validation("code", WRONG_CODE));
    };
    attempt.succeeded().await;
    let (codes, hashes) = new_recovery_codes()?;
    match state
        .store
        .enable_totp(viewer.organization_id, &principal.actor(from), step, &hashes, now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => return Err(ServiceError::Refused(NOT_SET_UP.into())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %viewer.user_id, "authenticator app set up");
    Ok(codes)
}

/// "Get new recovery codes": ten new ones, returned once; the old ones stop working.
/// Sensitive (whoever holds them passes the second factor): a recent authentication first.
pub async fn replace_recovery_codes(
    state: &AppState,
    principal: &Principal,
    from: Option<IpAddr>,
) -> Result<Vec<String>, ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    principal.require_recent_authentication(state)?;
    let (codes, hashes) = new_recovery_codes()?;
    match state
        .store
        .new_recovery_codes(viewer.organization_id, &principal.actor(from), &hashes, now())
        .await
    {
        Ok(()) => {}
        Err(StoreError::NotFound) => {
            return Err(ServiceError::Refused("Set up an authenticator app first.".into()))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %viewer.user_id, "recovery codes replaced");
    Ok(codes)
}

/// "Turn off two-factor authentication", after the password: removes the app, the
/// recovery codes and the passkeys.
pub async fn turn_off(
    state: &AppState,
    principal: &Principal,
    password: String,
    from: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    check_own_password(state, viewer, password, "password").await?;
    state.store.disable_two_factor(viewer.organization_id, &principal.actor(from), now()).await?;
    tracing::info!(user_id = %viewer.user_id, "two-factor turned off");
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Signing in with a second factor

/// A half-finished sign-in just started; its id goes into a cookie and nowhere else.
pub struct NewPending(pub(super) String);

/// Starts a half-finished sign-in of `user`, whose password was right.
pub async fn begin_second_factor(
    state: &AppState,
    user: UserId,
) -> Result<NewPending, ServiceError> {
    let (value, hash) = session::new_session_id()?;
    state
        .store
        .create_pending(&hash, Purpose::SecondFactor, Some(user), None, now(), PENDING_LIFETIME)
        .await?;
    Ok(NewPending(value))
}

/// The person a half-finished sign-in belongs to.
async fn pending_person(
    state: &AppState,
    pending: Option<&[u8]>,
) -> Result<(Vec<u8>, UserId, super::db::LoginRecord, String), ServiceError> {
    let expired = || ServiceError::Refused(SIGN_IN_AGAIN.into());
    let hash = pending.ok_or_else(expired)?.to_vec();
    let found = state.store.pending(&hash, Purpose::SecondFactor, now()).await?;
    let user = found.and_then(|p| p.user_id).ok_or_else(expired)?;
    let (record, email) = state.store.person_by_id(user).await?.ok_or_else(expired)?;
    if !record.active {
        return Err(expired());
    }
    Ok((hash, user, record, email))
}

/// What the second-factor page offers this half-signed-in person.
pub async fn second_factor_options(
    state: &AppState,
    pending: Option<&[u8]>,
) -> Result<SecondFactorOptions, ServiceError> {
    let (_, user, _, _) = pending_person(state, pending).await?;
    let app = state.store.totp_factor(user).await?.is_some_and(|f| f.enabled);
    let passkey = !state.store.passkeys_of(user).await?.is_empty();
    Ok(SecondFactorOptions { authenticator_app: app, passkey })
}

/// Whether `code` is the enabled authenticator app's code for now (one step either side),
/// accepted once: a code seen a moment ago, or a code of an earlier step, is refused.
async fn accept_code(
    state: &AppState,
    user: UserId,
    email: &str,
    code: &str,
) -> Result<bool, ServiceError> {
    let Some(factor) = state.store.totp_factor(user).await?.filter(|f| f.enabled) else {
        return Ok(false);
    };
    let secret =
        state.secrets.open(&factor.secret, &totp_context(user)).map_err(ServiceError::internal)?;
    match code_step(&totp(secret, email)?, code, now()) {
        Some(step) => Ok(state.store.accept_totp_step(user, step).await?),
        None => Ok(false),
    }
}

/// How the second factor is proved.
pub enum Proof<'a> {
    Code(&'a str),
    RecoveryCode(&'a str),
}

/// Finishes a half-finished sign-in with a code or a recovery code. Each try counts in the
/// sign-in throttle; a right one forgets the account's failures.
pub async fn verify_second_factor(
    state: &AppState,
    pending: Option<&[u8]>,
    proof: Proof<'_>,
    client: Option<IpAddr>,
) -> Result<NewSession, ServiceError> {
    let (hash, user, record, email) = pending_person(state, pending).await?;
    let attempt = state.throttle.reserve_sign_in(&email.to_lowercase(), client).await?;
    if !attempt.delay.is_zero() {
        tokio::time::sleep(attempt.delay).await;
    }
    let actor = Actor::user(user, &record.name, client);
    let proved = match proof {
        Proof::Code(code) => accept_code(state, user, &email, code).await?,
        Proof::RecoveryCode(code) => match recovery_hash(code) {
            Some(code_hash) => {
                state
                    .store
                    .use_recovery_code(record.organization_id, &actor, &code_hash, now())
                    .await?
            }
            None => false,
        },
    };
    if !proved {
        attempt.failed();
        record_failed_sign_in(state, record.organization_id, user, record.name.clone(), client);
        tracing::info!(user_id = %user, ?client, "second factor refused");
        return Err(match proof {
            Proof::Code(_) => ServiceError::validation("code", WRONG_CODE),
            Proof::RecoveryCode(_) => {
                ServiceError::validation("recovery_code", WRONG_RECOVERY_CODE)
            }
        });
    }
    attempt.succeeded().await;
    finish_sign_in(state, &hash, Purpose::SecondFactor, user, record.organization_id, actor).await
}

/// Ends the half-finished sign-in (once: a second request with it finds nothing) and starts
/// the session, recorded as "Signed in".
async fn finish_sign_in(
    state: &AppState,
    pending_hash: &[u8],
    purpose: Purpose,
    user: UserId,
    organization: OrgId,
    actor: Actor,
) -> Result<NewSession, ServiceError> {
    if state.store.take_pending(pending_hash, purpose, now()).await?.is_none() {
        return Err(ServiceError::Refused(SIGN_IN_AGAIN.into()));
    }
    let session = start_session(state, user, Some((organization, actor))).await?;
    tracing::info!(user_id = %user, "signed in with a second factor");
    Ok(session)
}

// ---------------------------------------------------------------------------------------
// Passkeys

/// The WebAuthn user handle of a person: stable, and not their email.
fn user_handle(user: UserId) -> Uuid {
    Uuid::from_u64_pair(0x746f_6b65_6e77_656c, user.0 as u64)
}

fn user_of_handle(handle: Uuid) -> Option<UserId> {
    let (high, low) = handle.as_u64_pair();
    (high == 0x746f_6b65_6e77_656c).then_some(UserId(low as i64))
}

/// Passkeys for the public address `url` (`https://host[:port]`, or `http://localhost:port`):
/// None when its host cannot be a WebAuthn relying party (an IP address).
pub fn passkeys_for(url: &str) -> Result<Option<std::sync::Arc<webauthn_rs::Webauthn>>, String> {
    let origin = webauthn_rs::prelude::Url::parse(url)
        .map_err(|e| format!("TOKENWELL_PUBLIC_URL {url:?} is not a URL: {e}"))?;
    if origin.host_str().is_none() {
        return Err(format!("TOKENWELL_PUBLIC_URL {url:?} has no host"));
    }
    // `domain()` is None for an IP address, which cannot be a relying party.
    let Some(rp_id) = origin.domain().map(str::to_string) else { return Ok(None) };
    let built = webauthn_rs::WebauthnBuilder::new(&rp_id, &origin)
        .and_then(|b| b.rp_name(ISSUER).build())
        .map_err(|e| format!("passkeys for {url:?}: {e}"))?;
    Ok(Some(std::sync::Arc::new(built)))
}

fn webauthn(state: &AppState) -> Result<&webauthn_rs::Webauthn, ServiceError> {
    state.webauthn.as_deref().ok_or_else(|| {
        ServiceError::Refused(
            "Passkeys are not available: Tokenwell's public address (TOKENWELL_PUBLIC_URL) is not a domain name."
                .into(),
        )
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> Result<String, ServiceError> {
    serde_json::to_string(value).map_err(ServiceError::internal)
}

fn from_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ServiceError> {
    serde_json::from_str(text).map_err(ServiceError::internal)
}

/// What the browser answered, as the WebAuthn library reads it; anything else is the
/// caller's fault.
fn browser_answer<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, ServiceError> {
    if text.len() > 64 * 1024 {
        return Err(ServiceError::validation("passkey", PASSKEY_FAILED));
    }
    serde_json::from_str(text).map_err(|_| ServiceError::validation("passkey", PASSKEY_FAILED))
}

fn parse_passkeys(stored: &[super::db::StoredPasskey]) -> Result<Vec<Passkey>, ServiceError> {
    stored.iter().map(|p| from_json::<Passkey>(&p.credential)).collect()
}

/// "Add passkey": the options for the browser's prompt, and the ceremony's id.
pub async fn begin_passkey_registration(
    state: &AppState,
    principal: &Principal,
) -> Result<(String, String), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let webauthn = webauthn(state)?;
    let existing = parse_passkeys(&state.store.passkeys_of(viewer.user_id).await?)?;
    let exclude = existing.iter().map(|p| p.cred_id().clone()).collect::<Vec<_>>();
    let (options, registration) = webauthn
        .start_passkey_registration(
            user_handle(viewer.user_id),
            &viewer.email,
            &viewer.name,
            Some(exclude),
        )
        .map_err(ServiceError::internal)?;
    // A discoverable credential, so that "Sign in with a passkey" needs no email. (The
    // library asks for none; the ceremony's checks do not depend on it.)
    let mut options = serde_json::to_value(&options).map_err(ServiceError::internal)?;
    options["publicKey"]["authenticatorSelection"] = serde_json::json!({
        "residentKey": "required",
        "requireResidentKey": true,
        "userVerification": "required",
    });
    let (id, hash) = session::new_session_id()?;
    let ceremony = to_json::<PasskeyRegistration>(&registration)?;
    state
        .store
        .create_pending(
            &hash,
            Purpose::PasskeyRegistration,
            Some(viewer.user_id),
            Some(&ceremony),
            now(),
            PENDING_LIFETIME,
        )
        .await?;
    Ok((id, to_json(&options)?))
}

/// The browser's new credential: checked against the ceremony, then kept under a name.
pub async fn finish_passkey_registration(
    state: &AppState,
    principal: &Principal,
    ceremony_id: &str,
    credential: &str,
    from: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let webauthn = webauthn(state)?;
    let hash = session::hash_id(ceremony_id);
    let pending = state.store.take_pending(&hash, Purpose::PasskeyRegistration, now()).await?;
    let Some((Some(user), Some(ceremony))) = pending.map(|p| (p.user_id, p.ceremony)) else {
        return Err(ServiceError::validation("passkey", PASSKEY_FAILED));
    };
    if user != viewer.user_id {
        return Err(ServiceError::validation("passkey", PASSKEY_FAILED));
    }
    let answer: RegisterPublicKeyCredential = browser_answer(credential)?;
    let registration: PasskeyRegistration = from_json(&ceremony)?;
    let passkey = webauthn.finish_passkey_registration(&answer, &registration).map_err(|e| {
        tracing::info!(user_id = %viewer.user_id, "passkey registration refused: {e:?}");
        ServiceError::validation("passkey", PASSKEY_FAILED)
    })?;
    let count = state.store.passkeys_of(viewer.user_id).await?.len();
    let name = format!("Passkey {}", count + 1);
    let stored = to_json(&passkey)?;
    match state
        .store
        .add_passkey(
            viewer.organization_id,
            &principal.actor(from),
            &name,
            passkey.cred_id().as_ref(),
            &stored,
            now(),
        )
        .await
    {
        Ok(_) => {}
        Err(StoreError::Duplicate(Unique::Passkey)) => {
            return Err(ServiceError::validation("passkey", "This passkey is already added."))
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!(user_id = %viewer.user_id, "passkey added");
    Ok(())
}

pub async fn rename_passkey(
    state: &AppState,
    principal: &Principal,
    id: i64,
    name: &str,
) -> Result<(), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let name = domain::display_name(name, "a name for the passkey")
        .map_err(|m| ServiceError::validation("name", m))?;
    Ok(state.store.rename_passkey(viewer.user_id, id, &name).await?)
}

pub async fn remove_passkey(
    state: &AppState,
    principal: &Principal,
    id: i64,
    from: Option<IpAddr>,
) -> Result<(), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    state.store.remove_passkey(viewer.organization_id, &principal.actor(from), id, now()).await?;
    Ok(())
}

/// "Sign in with a passkey": a challenge for any passkey of this site, kept with a new
/// half-finished sign-in whose id goes into the cookie. Anyone may ask, so each client
/// address may start a limited number in a window.
pub async fn begin_passkey_sign_in(
    state: &AppState,
    client: Option<IpAddr>,
) -> Result<(NewPending, String), ServiceError> {
    let webauthn = webauthn(state)?;
    state.throttle.reserve_passkey_sign_in(client).await?;
    let (mut options, authentication) =
        webauthn.start_discoverable_authentication().map_err(ServiceError::internal)?;
    // A button press, not the autofill ("conditional") prompt.
    options.mediation = None;
    let (value, hash) = session::new_session_id()?;
    let ceremony = to_json::<DiscoverableAuthentication>(&authentication)?;
    state
        .store
        .create_pending(
            &hash,
            Purpose::PasskeySignIn,
            None,
            Some(&ceremony),
            now(),
            PENDING_LIFETIME,
        )
        .await?;
    Ok((NewPending(value), to_json(&options)?))
}

/// The browser's answer to "Sign in with a passkey": the passkey names its person.
pub async fn finish_passkey_sign_in(
    state: &AppState,
    pending: Option<&[u8]>,
    credential: &str,
    client: Option<IpAddr>,
) -> Result<NewSession, ServiceError> {
    let webauthn = webauthn(state)?;
    let hash = pending.ok_or_else(|| ServiceError::Refused(SIGN_IN_AGAIN.into()))?;
    let taken = state.store.take_pending(hash, Purpose::PasskeySignIn, now()).await?;
    let Some(ceremony) = taken.and_then(|p| p.ceremony) else {
        return Err(ServiceError::Refused(SIGN_IN_AGAIN.into()));
    };
    let answer: PublicKeyCredential = browser_answer(credential)?;
    let refused = || ServiceError::validation("passkey", PASSKEY_FAILED);
    let (handle, credential_id) =
        webauthn.identify_discoverable_authentication(&answer).map_err(|_| refused())?;
    let stored = state.store.passkey_by_credential(credential_id).await?.ok_or_else(refused)?;
    if user_of_handle(handle) != Some(stored.user_id) {
        return Err(refused());
    }
    let mut passkey: Passkey = from_json(&stored.credential)?;
    let authentication: DiscoverableAuthentication = from_json(&ceremony)?;
    let result = webauthn
        .finish_discoverable_authentication_v2(&answer, authentication, &passkey)
        .map_err(|e| {
            tracing::info!(user_id = %stored.user_id, "passkey sign-in refused: {e:?}");
            refused()
        })?;
    let updated = passkey.update_credential(&result).filter(|changed| *changed).map(|_| &passkey);
    let updated = updated.map(to_json).transpose()?;
    state.store.passkey_used(stored.id, updated.as_deref(), now()).await?;
    let (record, _) = state.store.person_by_id(stored.user_id).await?.ok_or_else(refused)?;
    if !record.active {
        return Err(refused());
    }
    let actor = Actor::user(stored.user_id, &record.name, client);
    let session =
        start_session(state, stored.user_id, Some((record.organization_id, actor))).await?;
    tracing::info!(user_id = %stored.user_id, ?client, "signed in with a passkey");
    Ok(session)
}

/// "Use a passkey" on the second-factor page: a challenge for this person's passkeys.
pub async fn begin_passkey_second_factor(
    state: &AppState,
    pending: Option<&[u8]>,
) -> Result<String, ServiceError> {
    let webauthn = webauthn(state)?;
    let (hash, user, _, _) = pending_person(state, pending).await?;
    let passkeys = parse_passkeys(&state.store.passkeys_of(user).await?)?;
    if passkeys.is_empty() {
        return Err(ServiceError::validation("passkey", PASSKEY_FAILED));
    }
    let (options, authentication) =
        webauthn.start_passkey_authentication(&passkeys).map_err(ServiceError::internal)?;
    let ceremony = to_json::<PasskeyAuthentication>(&authentication)?;
    if !state.store.set_pending_ceremony(&hash, Purpose::SecondFactor, &ceremony, now()).await? {
        return Err(ServiceError::Refused(SIGN_IN_AGAIN.into()));
    }
    to_json(&options)
}

/// The browser's answer to "Use a passkey".
pub async fn finish_passkey_second_factor(
    state: &AppState,
    pending: Option<&[u8]>,
    credential: &str,
    client: Option<IpAddr>,
) -> Result<NewSession, ServiceError> {
    let webauthn = webauthn(state)?;
    let (hash, user, record, _) = pending_person(state, pending).await?;
    let refused = || ServiceError::validation("passkey", PASSKEY_FAILED);
    let ceremony = state
        .store
        .pending(&hash, Purpose::SecondFactor, now())
        .await?
        .and_then(|p| p.ceremony)
        .ok_or_else(refused)?;
    let answer: PublicKeyCredential = browser_answer(credential)?;
    let authentication: PasskeyAuthentication = from_json(&ceremony)?;
    let result = webauthn.finish_passkey_authentication(&answer, &authentication).map_err(|e| {
        tracing::info!(user_id = %user, "passkey second factor refused: {e:?}");
        refused()
    })?;
    let stored = state.store.passkeys_of(user).await?;
    let used = stored
        .iter()
        .find_map(|s| {
            let mut passkey: Passkey = from_json(&s.credential).ok()?;
            let changed = passkey.update_credential(&result)?;
            Some((s.id, changed.then_some(passkey)))
        })
        .ok_or_else(refused)?;
    let updated = used.1.as_ref().map(to_json).transpose()?;
    state.store.passkey_used(used.0, updated.as_deref(), now()).await?;
    let actor = Actor::user(user, &record.name, client);
    finish_sign_in(state, &hash, Purpose::SecondFactor, user, record.organization_id, actor).await
}

// ---------------------------------------------------------------------------------------
// Re-authentication and the organization's policy

/// "Confirm access": the password, or a code of the authenticator app, proves the person
/// is at the keyboard; sensitive actions are allowed again for the re-authentication window.
pub async fn confirm_access(
    state: &AppState,
    principal: &Principal,
    session_hash: Option<Vec<u8>>,
    password: Option<String>,
    code: Option<&str>,
) -> Result<(), ServiceError> {
    let viewer = session_viewer(principal, Action::ManageOwnTwoFactor)?;
    let hash = session_hash.ok_or(ServiceError::NotFound)?;
    match (password, code) {
        (Some(password), _) => check_own_password(state, viewer, password, "password").await?,
        (None, Some(code)) => {
            let attempt = state.throttle.reserve_password_change(viewer.user_id).await?;
            let proved = match accept_code(state, viewer.user_id, &viewer.email, code).await {
                Ok(proved) => proved,
                Err(e) => {
                    attempt.abandon().await;
                    return Err(e);
                }
            };
            if !proved {
                attempt.failed();
                return Err(ServiceError::validation("code", WRONG_CODE));
            }
            attempt.succeeded().await;
        }
        (None, None) => return Err(ServiceError::validation("password", "Enter your password.")),
    }
    state.store.confirm_access(&hash, viewer.user_id, now()).await?;
    tracing::info!(user_id = %viewer.user_id, "access confirmed");
    Ok(())
}

/// Whether the organization requires a second factor.
pub async fn policy(state: &AppState, principal: &Principal) -> Result<bool, ServiceError> {
    principal.authorize(Action::SetTwoFactorPolicy)?;
    Ok(state.store.two_factor_required(principal.organization_id()).await?)
}

/// Turns "Require two-factor authentication" on or off.
pub async fn set_policy(
    state: &AppState,
    principal: &Principal,
    on: bool,
    from: Option<IpAddr>,
) -> Result<(), ServiceError> {
    principal.authorize(Action::SetTwoFactorPolicy)?;
    principal.require_recent_authentication(state)?;
    state
        .store
        .set_two_factor_policy(principal.organization_id(), &principal.actor(from), on, now())
        .await?;
    tracing::info!(organization_id = %principal.organization_id(), on, "two-factor policy changed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app() -> Totp {
        totp(b"12345678901234567890".to_vec(), "ada@acme.test").unwrap()
    }

    #[test]
    fn codes_are_accepted_one_step_either_side_and_name_their_step() {
        let app = app();
        // RFC 6238's SHA-1 test vector at 59 s: 94287082, whose last six digits are the code.
        assert_eq!(app.generate(59).to_string(), "287082");
        let now = 1_000_000_020;
        let step = now / 30;
        for (at, expect) in
            [(now - 30, Some(step - 1)), (now, Some(step)), (now + 30, Some(step + 1))]
        {
            let code = app.generate(at as u64).to_string();
            assert_eq!(code_step(&app, &code, now), expect, "{at}");
            assert_eq!(code_step(&app, &format!("{} {}", &code[..3], &code[3..]), now), expect);
        }
        for far in [now - 60, now + 60, now - 3600] {
            let code = app.generate(far as u64).to_string();
            assert_eq!(code_step(&app, &code, now), None, "{far}");
        }
        for bad in ["", "12345", "1234567", "abcdef", "12345\u{0}"] {
            assert_eq!(code_step(&app, bad, now), None, "{bad:?}");
        }
    }

    #[test]
    fn recovery_codes_are_random_and_read_back_however_typed() {
        let (codes, hashes) = new_recovery_codes().unwrap();
        assert_eq!(codes.len(), RECOVERY_CODES);
        let mut unique = codes.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), RECOVERY_CODES);
        for (code, hash) in codes.iter().zip(&hashes) {
            assert_eq!(code.len(), 19);
            assert_eq!(recovery_hash(code).as_ref(), Some(hash));
            assert_eq!(recovery_hash(&code.to_uppercase().replace('-', " ")).as_ref(), Some(hash));
            // The hash is not the code.
            assert!(!hash.windows(4).any(|w| w == &code.as_bytes()[..4]));
        }
        assert_eq!(recovery_hash("0o1i-1l00-0000-0000"), recovery_hash("0011-1100-0000-0000"));
        assert_eq!(recovery_hash("short"), None);
        assert_eq!(recovery_hash("uuuu-uuuu-uuuu-uuuu"), None);
    }

    #[test]
    fn the_qr_code_is_an_svg_data_uri_and_handles_round_trip() {
        let uri = qr_data_uri("otpauth://totp/Tokenwell:ada@acme.test?secret=ABC&issuer=Tokenwell")
            .unwrap();
        assert!(uri.starts_with("data:image/svg+xml,"));
        assert!(!uri.contains('<') && !uri.contains('#') && !uri.contains('"'));
        assert_eq!(user_of_handle(user_handle(UserId(42))), Some(UserId(42)));
        assert_eq!(user_of_handle(Uuid::from_u64_pair(1, 42)), None);
    }
}
