//! `/login`: email and password. One message for every failure.

use leptos::prelude::*;

use super::two_factor::PasskeySignIn;
use crate::{api::auth::Login, components::field::TextField};

#[component]
pub fn LoginPage() -> impl IntoView {
    let login = ServerAction::<Login>::new();
    let error = move || login.value().get().and_then(|r| r.err()).map(|e| e.to_string());
    view! {
        <main class="center-page">
            <div class="card narrow">
                <p class="brand-mark">"Tokenwell"</p>
                <h1>"Sign in"</h1>
                <ActionForm action=login attr:class="form">
                    <TextField id="email" label="Email" kind="email" name="email" autocomplete="username" required=true />
                    <TextField
                        id="password"
                        label="Password"
                        kind="password"
                        name="password"
                        autocomplete="current-password"
                        required=true
                    />
                    <div class="form-error" role="alert">
                        {error}
                    </div>
                    <button type="submit" class="button wide" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
                <PasskeySignIn />
            </div>
        </main>
    }
}
