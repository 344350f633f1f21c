//! Two-factor sign-in in the console: the account page's section (authenticator app,
//! recovery codes, passkeys, turning it off), the second step of signing in, "Sign in with a
//! passkey", and Settings › Security with "Require two-factor authentication".

use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use super::settings::{shows_account, use_current_user, ForViewer, TabHeader};
use crate::{
    api::two_factor::{
        begin_passkey_registration, begin_passkey_second_factor, begin_passkey_sign_in,
        finish_passkey_registration, finish_passkey_second_factor, finish_passkey_sign_in,
        own_two_factor, second_factor_methods, two_factor_policy, BeginAuthenticatorApp,
        EnableAuthenticatorApp, RemovePasskey, RenamePasskey, ReplaceRecoveryCodes,
        SetTwoFactorPolicy, TurnOffTwoFactor, VerifyCode, VerifyRecoveryCode,
    },
    components::{
        access::AccessCheck,
        action::{call_state, field_error, other_error, send},
        dialog::{ConfirmDialog, DialogButtons, Modal},
        field::TextField,
        passkey,
        reveal_once::copy_text,
        ErrorBanner,
    },
    error::AppError,
    model::{format_date, format_utc, PasskeyRow, TwoFactorStatus},
    routes,
};

/// Which dialog of the section is open.
#[derive(Clone, Debug, PartialEq)]
enum Open {
    SetUpApp,
    NewCodes,
    TurnOff,
    Rename(PasskeyRow),
    Remove(PasskeyRow),
}

/// Runs one passkey ceremony in the browser: the server's options, the browser's prompt,
/// the server's check. `None` when all went well, else what to tell the person.
async fn passkey_ceremony<Fut>(
    options: Result<String, AppError>,
    create: bool,
    finish: impl FnOnce(String) -> Fut,
) -> Option<String>
where
    Fut: std::future::Future<Output = Result<(), AppError>>,
{
    let options = match options {
        Ok(options) => options,
        Err(e) => return Some(e.to_string()),
    };
    let answer =
        if create { passkey::create(&options).await } else { passkey::get(&options).await };
    match answer {
        Ok(credential) => finish(credential).await.err().map(|e| e.to_string()),
        Err(message) => Some(message),
    }
}

/// `/account`'s "Two-factor authentication".
#[component]
pub fn TwoFactorSection() -> impl IntoView {
    let open = RwSignal::new(None::<Open>);
    let enable = ServerAction::<EnableAuthenticatorApp>::new();
    let turn_off = ServerAction::<TurnOffTwoFactor>::new();
    let rename = ServerAction::<RenamePasskey>::new();
    let remove = ServerAction::<RemovePasskey>::new();
    let new_codes = ServerAction::<ReplaceRecoveryCodes>::new();
    // The browser's prompt sits between two server calls, so this is a local action (its
    // future holds browser objects); the list follows its version like the others'.
    let add_passkey = Action::new_local(move |_: &()| async move {
        let challenge = begin_passkey_registration().await;
        let (ceremony, options) = match challenge {
            Ok(c) => (c.ceremony, Ok(c.options)),
            Err(e) => (String::new(), Err(e)),
        };
        passkey_ceremony(options, true, move |credential| {
            finish_passkey_registration(ceremony, credential)
        })
        .await
    });
    let status = Resource::new(
        move || {
            (
                enable.version().get(),
                turn_off.version().get(),
                rename.version().get(),
                remove.version().get(),
                add_passkey.version().get(),
                new_codes.version().get(),
            )
        },
        |_| own_two_factor(),
    );
    let close = Callback::new(move |_| open.set(None));
    let viewer = use_current_user();
    // The shell's current user says whether a required factor is still missing: once one is
    // set up (or removed), read it again, so the console opens without a reload.
    Effect::new(move |before: Option<(usize, usize, usize)>| {
        let now = (enable.version().get(), remove.version().get(), add_passkey.version().get());
        if before.is_some_and(|b| b != now) {
            viewer.refetch();
        }
        now
    });
    let required_banner = move || {
        viewer.get().and_then(|v| v.ok()).filter(|v| v.must_set_up_two_factor()).map(|v| {
            view! {
                <div class="banner warning" role="alert">
                    {format!(
                        "{} requires two-factor authentication. Set up an authenticator app or add a passkey to continue.",
                        v.organization_name,
                    )}
                </div>
            }
        })
    };
    view! {
        <ForViewer shown=shows_account>
        <section class="card narrow account" aria-labelledby="two-factor-heading">
            <h2 id="two-factor-heading">"Two-factor authentication"</h2>
            {required_banner}
            <p class="muted">
                "A second factor keeps your account safe when your password is not: after your password, Tokenwell asks for a code from an authenticator app or for a passkey."
            </p>
            <Transition fallback=|| view! { <p class="loading">"Loading…"</p> }>
                {move || Suspend::new(async move {
                    match status.await {
                        Ok(status) => view! { <FactorList status open add_passkey /> }.into_any(),
                        Err(error) => view! { <ErrorBanner error /> }.into_any(),
                    }
                })}
            </Transition>
        </section>
        </ForViewer>
        {move || match open.get() {
            None => ().into_any(),
            Some(Open::SetUpApp) => view! { <SetUpAppDialog enable on_close=close /> }.into_any(),
            Some(Open::NewCodes) => view! { <NewCodesDialog action=new_codes on_close=close /> }.into_any(),
            Some(Open::TurnOff) => view! { <TurnOffDialog action=turn_off on_close=close /> }.into_any(),
            Some(Open::Rename(passkey)) => view! { <RenameDialog action=rename passkey on_close=close /> }.into_any(),
            Some(Open::Remove(passkey)) => view! { <RemoveDialog action=remove passkey on_close=close /> }.into_any(),
        }}
    }
}

#[component]
fn FactorList(
    status: TwoFactorStatus,
    open: RwSignal<Option<Open>>,
    add_passkey: Action<(), Option<String>>,
) -> impl IntoView {
    let enabled = status.enabled();
    let adding = add_passkey.pending();
    let passkey_error = move || add_passkey.value().get().flatten();
    let app = if status.authenticator_app {
        view! {
            <p>
                <strong>"Authenticator app: "</strong>
                "On. "
                {format!("{} of 10 recovery codes left.", status.recovery_codes_left)}
            </p>
            <button type="button" class="button secondary" on:click=move |_| open.set(Some(Open::NewCodes))>
                "Get new recovery codes"
            </button>
        }
        .into_any()
    } else {
        view! {
            <p>"Use an app such as 1Password, Google Authenticator or Authy to get a new code every 30 seconds."</p>
            <button type="button" class="button" on:click=move |_| open.set(Some(Open::SetUpApp))>
                "Set up authenticator app"
            </button>
        }
            .into_any()
    };
    let passkeys = status
        .passkeys
        .into_iter()
        .map(|p| {
            let (rename, remove) = (p.clone(), p.clone());
            let used = p
                .last_used_at
                .map(|t| format!("last used {}", format_date(t)))
                .unwrap_or_else(|| "never used".into());
            view! {
                <li class="passkey">
                    <div>
                        <strong>{p.name.clone()}</strong>
                        <span class="muted">
                            " · added " <span title=format_utc(p.created_at)>{format_date(p.created_at)}</span> " · " {used}
                        </span>
                    </div>
                    <div class="passkey-actions">
                        <button
                            type="button"
                            class="button secondary small"
                            aria-label=format!("Rename passkey {}", p.name)
                            on:click=move |_| open.set(Some(Open::Rename(rename.clone())))
                        >
                            "Rename"
                        </button>
                        <button
                            type="button"
                            class="button secondary small"
                            aria-label=format!("Remove passkey {}", p.name)
                            on:click=move |_| open.set(Some(Open::Remove(remove.clone())))
                        >
                            "Remove"
                        </button>
                    </div>
                </li>
            }
        })
        .collect_view();
    view! {
        <h3>"Authenticator app"</h3>
        {app}
        <h3>"Passkeys"</h3>
        <p>"A passkey signs you in with your fingerprint, face or device PIN, without a password."</p>
        <ul class="passkeys">{passkeys}</ul>
        <button
            type="button"
            class="button secondary"
            disabled=move || adding.get()
            on:click=move |_| {
                add_passkey.dispatch(());
            }
        >
            {move || if adding.get() { "Waiting for your passkey…" } else { "Add passkey" }}
        </button>
        <p class="form-error" role="alert">
            {passkey_error}
        </p>
        {enabled
            .then(|| {
                view! {
                    <h3>"Turn off"</h3>
                    <p>"Removes your authenticator app, your recovery codes and your passkeys."</p>
                    <button type="button" class="button danger" on:click=move |_| open.set(Some(Open::TurnOff))>
                        "Turn off two-factor authentication"
                    </button>
                }
            })}
    }
}

/// "Set up authenticator app": the QR code and setup key, the first code, then the recovery
/// codes once.
#[component]
fn SetUpAppDialog(
    enable: ServerAction<EnableAuthenticatorApp>,
    on_close: Callback<()>,
) -> impl IntoView {
    let begin = ServerAction::<BeginAuthenticatorApp>::new();
    begin.dispatch(BeginAuthenticatorApp {});
    enable.value().set(None);
    let code = RwSignal::new(String::new());
    let running = enable.pending();
    let codes = Memo::new(move |_| {
        enable.value().with(|v| v.as_ref().and_then(|r| r.as_ref().ok().cloned()))
    });
    let close = Callback::new(move |_| {
        // The recovery codes are dropped with the dialog.
        enable.value().set(None);
        begin.value().set(None);
        on_close.run(());
    });
    let submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        send(enable, EnableAuthenticatorApp { code: code.get_untracked() });
    };
    view! {
        <Modal title="Set up authenticator app" on_close=close>
            {move || {
                if let Some(codes) = codes.get() {
                    let message = "Your authenticator app is set up.";
                    return view! { <RecoveryCodes codes message on_done=close /> }.into_any();
                }
                match begin.value().get() {
                    None => view! { <p class="loading">"Preparing…"</p> }.into_any(),
                    Some(Err(error)) => {
                        view! {
                            <ErrorBanner error />
                            <div class="modal-actions">
                                <button type="button" class="button secondary" data-autofocus="" on:click=move |_| close.run(())>
                                    "Close"
                                </button>
                            </div>
                        }
                            .into_any()
                    }
                    Some(Ok(setup)) => {
                        view! {
                            <form class="form" on:submit=submit novalidate>
                                <p>"1. Scan this QR code with your authenticator app."</p>
                                <img class="qr-code" src=setup.qr_code alt="QR code" width="200" height="200" />
                                <div class="field">
                                    <label for="setup-key" class="field-label">
                                        "Setup key"
                                    </label>
                                    <input
                                        id="setup-key"
                                        class="input mono"
                                        type="text"
                                        readonly
                                        spellcheck="false"
                                        autocomplete="off"
                                        aria-describedby="setup-key-hint"
                                        prop:value=setup.setup_key
                                    />
                                    <p id="setup-key-hint" class="hint">
                                        "Cannot scan? Enter this key in the app instead (time-based)."
                                    </p>
                                </div>
                                <p>"2. Enter the 6-digit code the app shows."</p>
                                <TextField
                                    id="totp-code"
                                    label="Code"
                                    autocomplete="one-time-code"
                                    value=code
                                    error=field_error(enable, "code")
                                    autofocus=true
                                    maxlength=7
                                />
                                <DialogButtons
                                    alert=false
                                    error=Signal::derive(move || other_error(enable))
                                    on_cancel=close
                                    running=Signal::derive(move || running.get())
                                    confirm="Verify"
                                    pending="Verifying…"
                                />
                            </form>
                        }
                            .into_any()
                    }
                }
            }}
        </Modal>
    }
}

/// "Get new recovery codes": the old ones stop working; the new ones are shown once.
#[component]
fn NewCodesDialog(
    action: ServerAction<ReplaceRecoveryCodes>,
    on_close: Callback<()>,
) -> impl IntoView {
    let call = call_state(action, Callback::new(|_| ReplaceRecoveryCodes {}));
    let codes = Memo::new(move |_| {
        action.value().with(|v| v.as_ref().and_then(|r| r.as_ref().ok().cloned()))
    });
    let close = Callback::new(move |_| {
        call.forget.run(());
        on_close.run(());
    });
    view! {
        <Modal title="New recovery codes" described_by=Some("new-codes-text") on_close=close>
            {move || match codes.get() {
                Some(codes) => {
                    let message = "Here are your new recovery codes. The old ones no longer work.";
                    view! { <RecoveryCodes codes message on_done=close /> }.into_any()
                }
                None => {
                    view! {
                        <p id="new-codes-text">
                            "Ten new codes replace your current ones, which stop working at once, used or not."
                        </p>
                        <DialogButtons
                            alert=false
                            error=call.other_error
                            on_cancel=close
                            running=call.running
                            confirm="Get new recovery codes"
                            pending="Making codes…"
                            on_confirm=call.send
                        />
                        <AccessCheck call />
                    }
                        .into_any()
                }
            }}
        </Modal>
    }
}

/// Ten single-use codes, shown once: Copy, Download, Done.
#[component]
fn RecoveryCodes(
    codes: Vec<String>,
    /// What just happened, above the codes.
    message: &'static str,
    on_done: Callback<()>,
) -> impl IntoView {
    let text = codes.join("\n");
    let copied = RwSignal::new(false);
    let unavailable = RwSignal::new(false);
    let download = format!("data:text/plain;charset=utf-8,{}", text.replace('\n', "%0A"));
    let copy = {
        let text = text.clone();
        move |_| copy_text(text.clone(), copied, Callback::new(move |_| unavailable.set(true)))
    };
    let done = NodeRef::<leptos::html::Button>::new();
    Effect::new(move |_| {
        if let Some(button) = done.get() {
            let _ = button.focus();
        }
    });
    view! {
        <p class="success" role="status">{message}</p>
        <h3 id="recovery-codes-heading">"Recovery codes"</h3>
        <p>"If you lose your phone, each of these codes signs you in once instead of a code from the app. Keep them somewhere safe, such as a password manager."</p>
        <ul class="recovery-codes mono" aria-labelledby="recovery-codes-heading">
            {codes.into_iter().map(|code| view! { <li>{code}</li> }).collect_view()}
        </ul>
        <p class="warning" role="note">
            <strong>"Save them now. "</strong>
            "These codes will not be shown again."
        </p>
        <p class="sr-only" role="status">
            {move || if copied.get() { "Copied to the clipboard." } else { "" }}
        </p>
        <Show when=move || unavailable.get()>
            <p class="hint">"Copying is not available here: select the codes and press Ctrl+C (⌘C on a Mac), or download them."</p>
        </Show>
        <div class="modal-actions">
            <button type="button" class="button secondary" on:click=copy>
                {move || if copied.get() { "Copied" } else { "Copy" }}
            </button>
            <a class="button secondary" href=download download="tokenwell-recovery-codes.txt">
                "Download"
            </a>
            <button type="button" class="button" node_ref=done on:click=move |_| on_done.run(())>
                "Done"
            </button>
        </div>
    }
}

#[component]
fn TurnOffDialog(action: ServerAction<TurnOffTwoFactor>, on_close: Callback<()>) -> impl IntoView {
    let password = RwSignal::new(String::new());
    view! {
        <ConfirmDialog
            title="Turn off two-factor authentication"
            described_by="turn-off-text"
            action
            input=Callback::new(move |_| TurnOffTwoFactor { password: password.get_untracked() })
            confirm="Turn off"
            pending="Turning off…"
            danger=true
            on_close
        >
            <p id="turn-off-text">
                "Your authenticator app, recovery codes and passkeys will be removed; signing in will need only your password. Enter your password to confirm."
            </p>
            <TextField
                id="turn-off-password"
                label="Password"
                kind="password"
                autocomplete="current-password"
                value=password
                error=field_error(action, "password")
                autofocus=true
            />
        </ConfirmDialog>
    }
}

#[component]
fn RenameDialog(
    action: ServerAction<RenamePasskey>,
    passkey: PasskeyRow,
    on_close: Callback<()>,
) -> impl IntoView {
    let name = RwSignal::new(passkey.name.clone());
    let id = passkey.id;
    view! {
        <ConfirmDialog
            title="Rename passkey"
            described_by="rename-passkey-text"
            action
            input=Callback::new(move |_| RenamePasskey { id, name: name.get_untracked() })
            confirm="Save"
            pending="Saving…"
            on_close
        >
            <p id="rename-passkey-text">"A name that tells you which device holds it."</p>
            <TextField id="passkey-name" label="Name" value=name error=field_error(action, "name") autofocus=true maxlength=100 />
        </ConfirmDialog>
    }
}

#[component]
fn RemoveDialog(
    action: ServerAction<RemovePasskey>,
    passkey: PasskeyRow,
    on_close: Callback<()>,
) -> impl IntoView {
    let id = passkey.id;
    view! {
        <ConfirmDialog
            title="Remove passkey"
            alert=true
            described_by="remove-passkey-text"
            action
            input=Callback::new(move |_| RemovePasskey { id })
            confirm="Remove passkey"
            pending="Removing…"
            danger=true
            on_close
        >
            <p id="remove-passkey-text">
                {format!("Remove the passkey \u{201c}{}\u{201d}? It will no longer sign you in.", passkey.name)}
            </p>
        </ConfirmDialog>
    }
}

/// `/login/two-factor`: the second step of signing in.
#[component]
pub fn SecondFactorPage() -> impl IntoView {
    let methods = Resource::new_blocking(|| (), |_| second_factor_methods());
    let query = use_query_map();
    let recovery = move || query.read().get("method").as_deref() == Some("recovery");
    let verify = ServerAction::<VerifyCode>::new();
    let verify_recovery = ServerAction::<VerifyRecoveryCode>::new();
    let with_passkey = Action::new_local(move |_: &()| async move {
        let options = begin_passkey_second_factor().await;
        let failed = passkey_ceremony(options, false, |credential| async move {
            finish_passkey_second_factor(credential).await
        })
        .await;
        if failed.is_none() {
            let _ = window().location().assign(routes::SETTINGS);
        }
        failed
    });
    let error_of = |e: Option<Result<(), AppError>>, field: &'static str| {
        e.and_then(|r| r.err()).map(|e| e.field_message(field).unwrap_or_else(|| e.to_string()))
    };
    view! {
        <main class="center-page">
            <div class="card narrow">
                <p class="brand-mark">"Tokenwell"</p>
                <h1>"Two-factor authentication"</h1>
                <Suspense fallback=|| ()>
                    {move || Suspend::new(async move {
                        match methods.await {
                            Err(_) => {
                                view! {
                                    <p>"Your sign-in has expired or was finished already."</p>
                                    <a class="button wide" href=routes::LOGIN>
                                        "Sign in again"
                                    </a>
                                }
                                    .into_any()
                            }
                            Ok(m) => {
                                let passkey_button = m.passkey.then(|| {
                                    view! {
                                        <button
                                            type="button"
                                            class="button secondary wide"
                                            disabled=move || with_passkey.pending().get()
                                            on:click=move |_| {
                                                with_passkey.dispatch(());
                                            }
                                        >
                                            "Use a passkey"
                                        </button>
                                        <p class="form-error" role="alert">
                                            {move || with_passkey.value().get().flatten()}
                                        </p>
                                    }
                                });
                                if recovery() {
                                    view! {
                                        <p>"Enter one of the recovery codes you saved when you set up two-factor authentication. Each works once."</p>
                                        <ActionForm action=verify_recovery attr:class="form">
                                            <TextField
                                                id="recovery-code"
                                                label="Recovery code"
                                                name="recovery_code"
                                                autocomplete="off"
                                                required=true
                                                autofocus=true
                                                error=Signal::derive(move || error_of(verify_recovery.value().get(), "recovery_code"))
                                            />
                                            <button type="submit" class="button wide" disabled=move || verify_recovery.pending().get()>
                                                "Verify"
                                            </button>
                                        </ActionForm>
                                        <p class="alt-link">
                                            <a href=routes::SECOND_FACTOR>"Use your authenticator app or a passkey"</a>
                                        </p>
                                    }
                                        .into_any()
                                } else {
                                    view! {
                                        {m.authenticator_app.then(|| view! {
                                            <p>"Enter the 6-digit code from your authenticator app."</p>
                                            <ActionForm action=verify attr:class="form">
                                                <TextField
                                                    id="code"
                                                    label="Code"
                                                    name="code"
                                                    autocomplete="one-time-code"
                                                    required=true
                                                    autofocus=true
                                                    maxlength=7
                                                    error=Signal::derive(move || error_of(verify.value().get(), "code"))
                                                />
                                                <button type="submit" class="button wide" disabled=move || verify.pending().get()>
                                                    "Verify"
                                                </button>
                                            </ActionForm>
                                        })}
                                        {passkey_button}
                                        <p class="alt-link">
                                            <a href=format!("{}?method=recovery", routes::SECOND_FACTOR)>"Use a recovery code"</a>
                                        </p>
                                    }
                                        .into_any()
                                }
                            }
                        }
                    })}
                </Suspense>
            </div>
        </main>
    }
}

/// "Sign in with a passkey" on the sign-in page.
#[component]
pub fn PasskeySignIn() -> impl IntoView {
    let sign_in = Action::new_local(move |_: &()| async move {
        let options = begin_passkey_sign_in().await;
        let failed = passkey_ceremony(options, false, |credential| async move {
            finish_passkey_sign_in(credential).await
        })
        .await;
        if failed.is_none() {
            let _ = window().location().assign(routes::SETTINGS);
        }
        failed
    });
    view! {
        <div class="or-divider" aria-hidden="true">
            <span>"or"</span>
        </div>
        <button
            type="button"
            class="button secondary wide"
            disabled=move || sign_in.pending().get()
            on:click=move |_| {
                sign_in.dispatch(());
            }
        >
            "Sign in with a passkey"
        </button>
        <p class="form-error" role="alert">
            {move || sign_in.value().get().flatten()}
        </p>
    }
}

/// Settings › Security: "Require two-factor authentication".
#[component]
pub fn SecurityTab() -> impl IntoView {
    let set = ServerAction::<SetTwoFactorPolicy>::new();
    let policy = Resource::new(move || set.version().get(), |_| two_factor_policy());
    let wanted = RwSignal::new(false);
    let call = call_state(
        set,
        Callback::new(move |_| SetTwoFactorPolicy { required: wanted.get_untracked() }),
    );
    let required = move || policy.get().and_then(|r| r.ok()).unwrap_or(false);
    view! {
        <TabHeader heading="Security" text="Rules for how everyone in the organization signs in." />
        <div class="card setting">
            <div class="setting-row">
                <input
                    id="require-two-factor"
                    type="checkbox"
                    class="checkbox"
                    aria-describedby="require-two-factor-hint"
                    // What was asked while it runs and once it went through; the server's
                    // answer otherwise, so a refused change puts the box back.
                    prop:checked=move || {
                        if call.running.get() {
                            return wanted.get();
                        }
                        match set.value().get() {
                            Some(Ok(())) => wanted.get(),
                            _ => required(),
                        }
                    }
                    disabled=move || call.running.get()
                    on:change=move |ev| {
                        wanted.set(event_target_checked(&ev));
                        call.send.run(());
                    }
                />
                <label for="require-two-factor" class="setting-label">
                    "Require two-factor authentication"
                </label>
            </div>
            <p id="require-two-factor-hint" class="hint">
                "Everyone must set up an authenticator app or a passkey; people without one are sent to set it up when they sign in, before anything else. You need a second factor of your own to turn this on."
            </p>
            <p class="muted" role="status">
                // Read where the server waits for it too, so the page hydrates as it was sent.
                <Transition fallback=|| ()>
                    {move || Suspend::new(async move {
                        policy
                            .await
                            .ok()
                            .map(|on| {
                                if on {
                                    "Two-factor authentication is required for everyone."
                                } else {
                                    "Two-factor authentication is optional."
                                }
                            })
                    })}
                </Transition>
            </p>
            {move || call.other_error.get().map(|error| view! { <ErrorBanner error /> })}
            <AccessCheck call />
        </div>
    }
}
