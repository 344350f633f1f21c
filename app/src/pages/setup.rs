//! `/setup`: first run only. Creates the organization and its first admin.

use leptos::prelude::*;

use crate::{api::auth::Setup, error::AppError};

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let failure = move || setup.value().get().and_then(|r| r.err());
    let field_error =
        move |field: &'static str| move || failure().and_then(|e| e.field_message(field));
    let general =
        move || failure().filter(|e| !e.is_field_error()).map(|e: AppError| e.to_string());

    let field = move |id: &'static str,
                      label: &'static str,
                      kind: &'static str,
                      autocomplete: &'static str| {
        let message = field_error(id);
        let described = format!("{id}-error");
        view! {
            <div class="field">
                <label for=id class="field-label">
                    {label}
                </label>
                <input
                    id=id
                    class="input"
                    name=id
                    type=kind
                    autocomplete=autocomplete
                    required
                    aria-invalid=move || message().is_some().to_string()
                    aria-describedby=described.clone()
                />
                <p id=described class="field-error">
                    {message}
                </p>
            </div>
        }
    };

    view! {
        <main class="center-page">
            <div class="card narrow">
                <p class="brand-mark">"Tokenwell"</p>
                <h1>"Set up Tokenwell"</h1>
                <p class="lead">"Create your organization and its first admin account. You can invite others afterwards."</p>
                <ActionForm action=setup attr:class="form">
                    {field("organization", "Organization name", "text", "organization")}
                    {field("name", "Your name", "text", "name")}
                    {field("email", "Email", "email", "username")}
                    {field("password", "Password", "password", "new-password")}
                    <p class="hint">"At least 12 characters. A few unrelated words make a strong password."</p>
                    {field("confirm_password", "Confirm password", "password", "new-password")}
                    <div class="form-error" role="alert">
                        {general}
                    </div>
                    <button type="submit" class="button wide" disabled=move || setup.pending().get()>
                        "Create organization"
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
