//! The browser's side of a passkey: the server's options (WebAuthn JSON) go through
//! `PublicKeyCredential.parse…OptionsFromJSON` to `navigator.credentials`, and the credential
//! comes back as its `toJSON()`, for the server to check.

/// Why the browser made no passkey answer, as people read it.
pub const UNAVAILABLE: &str = "This browser cannot use passkeys here.";
pub const CANCELLED: &str = "The passkey prompt was closed. Try again when you are ready.";

/// Asks the browser to make a passkey with `options` (a `CreationChallengeResponse`).
pub async fn create(options: &str) -> Result<String, String> {
    ceremony(options, "parseCreationOptionsFromJSON", "create").await
}

/// Asks the browser to sign in with a passkey with `options` (a `RequestChallengeResponse`).
pub async fn get(options: &str) -> Result<String, String> {
    ceremony(options, "parseRequestOptionsFromJSON", "get").await
}

#[cfg(feature = "hydrate")]
async fn ceremony(options: &str, parse: &str, call: &str) -> Result<String, String> {
    use js_sys::{Function, Object, Reflect, JSON};
    use wasm_bindgen::{JsCast, JsValue};

    let unavailable = |_| UNAVAILABLE.to_string();
    let window = leptos::prelude::window();
    let options = JSON::parse(options).map_err(unavailable)?;
    let class = Reflect::get(&window, &"PublicKeyCredential".into()).map_err(unavailable)?;
    let parse: Function = Reflect::get(&class, &parse.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UNAVAILABLE.to_string())?;
    let public_key = Reflect::get(&options, &"publicKey".into()).map_err(unavailable)?;
    let public_key = parse.call1(&class, &public_key).map_err(unavailable)?;
    let request = Object::new();
    Reflect::set(&request, &"publicKey".into(), &public_key).map_err(unavailable)?;
    let container =
        Reflect::get(&window.navigator(), &"credentials".into()).map_err(unavailable)?;
    let call: Function = Reflect::get(&container, &call.into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UNAVAILABLE.to_string())?;
    let promise: js_sys::Promise =
        call.call1(&container, &request).map_err(unavailable)?.dyn_into().map_err(unavailable)?;
    let credential = wasm_bindgen_futures::JsFuture::from(promise).await.map_err(|e| {
        // NotAllowedError: the person closed the prompt, or it timed out.
        let name = Reflect::get(&e, &"name".into()).ok().and_then(|n| n.as_string());
        if name.as_deref() == Some("NotAllowedError") {
            CANCELLED.to_string()
        } else {
            UNAVAILABLE.to_string()
        }
    })?;
    if credential.is_null() {
        return Err(CANCELLED.to_string());
    }
    let to_json: Function = Reflect::get(&credential, &"toJSON".into())
        .ok()
        .and_then(|f| f.dyn_into().ok())
        .ok_or_else(|| UNAVAILABLE.to_string())?;
    let json = to_json.call0(&credential).map_err(unavailable)?;
    JSON::stringify(&json).map(String::from).map_err(|_: JsValue| UNAVAILABLE.to_string())
}

#[cfg(not(feature = "hydrate"))]
async fn ceremony(_: &str, _: &str, _: &str) -> Result<String, String> {
    Err(UNAVAILABLE.to_string())
}
