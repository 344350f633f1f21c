//! One module per page; `settings` holds the signed-in shell and its parent routes.

pub mod account;
pub mod audit;
pub mod login;
pub mod settings;
pub mod setup;
pub mod tokens;
pub mod two_factor;
pub mod users;

use leptos::prelude::*;

use crate::routes;

#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <main class="center-page">
            <div class="card narrow">
                <h1>"Page not found"</h1>
                <p>"There is nothing at this address."</p>
                <a class="button" href=routes::SETTINGS>
                    "Go to Settings"
                </a>
            </div>
        </main>
    }
}
