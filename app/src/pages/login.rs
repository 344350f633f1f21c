//! `/login`: email and password. One message for every failure.

use leptos::prelude::*;

use crate::api::auth::Login;

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
                    <div class="field">
                        <label for="email" class="field-label">
                            "Email"
                        </label>
                        <input id="email" class="input" name="email" type="email" autocomplete="username" required />
                    </div>
                    <div class="field">
                        <label for="password" class="field-label">
                            "Password"
                        </label>
                        <input
                            id="password"
                            class="input"
                            name="password"
                            type="password"
                            autocomplete="current-password"
                            required
                        />
                    </div>
                    <div class="form-error" role="alert">
                        {error}
                    </div>
                    <button type="submit" class="button wide" disabled=move || login.pending().get()>
                        "Sign in"
                    </button>
                </ActionForm>
            </div>
        </main>
    }
}
