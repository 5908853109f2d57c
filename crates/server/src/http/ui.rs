//! The web UI at `/ui/`: a single-page app built from `ui/` and embedded in
//! the binary at compile time (`build.rs`). It is served without a token,
//! like any static file; everything it does goes through the `/v1/` API
//! with the operator's token, under the same policies and audit as any
//! other client.
//!
//! Every answer carries a strict Content-Security-Policy (scripts, styles
//! and connections from this origin only, no inline script, no framing)
//! and `X-Frame-Options: DENY`.

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::any;

use super::error::ApiError;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// Where the UI may load from and talk to: this server, nothing else.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self' data:; connect-src 'self'; font-src 'self'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'none'";

/// Whether this binary carries the UI (it does when `ui/dist` existed at
/// build time).
pub(crate) fn built_in() -> bool {
    UI_ASSETS.iter().any(|(name, _, _)| *name == "index.html")
}

/// `/` and `/ui` lead to `/ui/`; `/ui/...` serves the app.
pub(crate) fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", any(to_ui))
        .route("/ui", any(to_ui))
        .route("/ui/", any(|method: Method| serve(method, String::new())))
        .route(
            "/ui/{*file}",
            any(|method: Method, Path(file): Path<String>| serve(method, file)),
        )
}

async fn to_ui() -> Redirect {
    Redirect::temporary("/ui/")
}

async fn serve(method: Method, file: String) -> Response {
    if method != Method::GET && method != Method::HEAD {
        let mut resp = ApiError::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "the web UI answers GET only",
        )
        .into_response();
        resp.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return with_security_headers(resp);
    }
    if !built_in() {
        return with_security_headers(
            ApiError::new(
                StatusCode::NOT_IMPLEMENTED,
                "this coffer binary was built without the web UI (ui/dist did not exist when it \
                 was compiled): run scripts/build-ui, then build coffer again; the CLI and the \
                 HTTP API work without it",
            )
            .into_response(),
        );
    }
    // A file the app ships; the app's page for any other path under /ui/,
    // except one that names a file (has an extension) the app does not ship.
    let asset = UI_ASSETS
        .iter()
        .find(|(name, _, _)| *name == file && *name != "index.html");
    let names_a_file = file
        .rsplit('/')
        .next()
        .is_some_and(|last| last.contains('.'));
    if asset.is_none() && names_a_file {
        return with_security_headers(
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("the web UI has no file {file:?}"),
            )
            .into_response(),
        );
    }
    let (_, kind, bytes) = asset
        .or_else(|| UI_ASSETS.iter().find(|(name, _, _)| *name == "index.html"))
        .copied()
        .unwrap_or(("", "text/plain", b""));
    let mut resp = (StatusCode::OK, bytes).into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    // The files are not fingerprinted: ask again each time (cheap: they
    // are small and in memory), so an upgraded server is never half old.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    with_security_headers(resp)
}

fn with_security_headers(mut resp: Response) -> Response {
    let headers = resp.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    resp
}
