//! `/setup`: first run only. Creates the organization and its first admin.

use leptos::prelude::*;

use crate::{
    api::auth::Setup,
    components::{
        action::{field_error, other_error},
        field::TextField,
    },
};

#[component]
pub fn SetupPage() -> impl IntoView {
    let setup = ServerAction::<Setup>::new();
    let field_error = move |field| field_error(setup, field);
    let general = move || other_error(setup).map(|e| e.to_string());

    view! {
        <main class="center-page">
            <div class="card narrow">
                <p class="brand-mark">"Tokenwell"</p>
                <h1>"Set up Tokenwell"</h1>
                <p class="lead">"Create your organization and its first admin account. You can invite others afterwards."</p>
                <ActionForm action=setup attr:class="form">
                    <TextField
                        id="organization"
                        label="Organization name"
                        name="organization"
                        autocomplete="organization"
                        required=true
                        error=field_error("organization")
                    />
                    <TextField id="name" label="Your name" name="name" autocomplete="name" required=true error=field_error("name") />
                    <TextField
                        id="email"
                        label="Email"
                        kind="email"
                        name="email"
                        autocomplete="username"
                        required=true
                        error=field_error("email")
                    />
                    <TextField
                        id="password"
                        label="Password"
                        kind="password"
                        name="password"
                        autocomplete="new-password"
                        required=true
                        description="At least 12 characters. A few unrelated words make a strong password."
                        error=field_error("password")
                    />
                    <TextField
                        id="confirm_password"
                        label="Confirm password"
                        kind="password"
                        name="confirm_password"
                        autocomplete="new-password"
                        required=true
                        error=field_error("confirm_password")
                    />
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
