//! The review's routes under one scope: the page (`/`, `/app.js`, `/style.css`) and
//! the API (`/api/...`), with `Allow` on other methods and JSON errors for bad paths,
//! queries and bodies. The page links everything relatively, so it works under any
//! prefix that ends in `/`.

use super::assets;
use super::cache::RunCache;
use super::handlers;
use super::locate::RunLocator;
use crate::ReviewError;
use actix_web::error::JsonPayloadError;
use actix_web::{web, HttpRequest, HttpResponse, Scope};

/// Largest decision body accepted (a decision is about 60 bytes).
const MAX_DECISION_BYTES: usize = 4096;

/// What the handlers share: how to find a request's run, and the runs opened.
pub struct Reviewer {
    /// Finds the run of a request.
    pub locator: Box<dyn RunLocator>,
    /// The runs opened so far.
    pub cache: RunCache,
}

/// The review under `path` (`""` for a server of its own, `/jobs/{id}/review` in the
/// daemon's `/v1`). A non-empty `path` without its trailing `/` redirects to it.
pub fn scope(path: &str, reviewer: web::Data<Reviewer>) -> Scope {
    let json = web::JsonConfig::default().limit(MAX_DECISION_BYTES).error_handler(|error, _| {
        match error {
            JsonPayloadError::ContentType => {
                ReviewError::UnsupportedMediaType("a decision is sent as `Content-Type: application/json`".into())
            }
            other => ReviewError::BadRequest(format!("bad decision: {other}")),
        }
        .into()
    });
    let mut scope = web::scope(path)
        .app_data(reviewer)
        .app_data(json)
        .app_data(web::QueryConfig::default().error_handler(|e, _| ReviewError::BadRequest(format!("bad query: {e}")).into()))
        .app_data(web::PathConfig::default().error_handler(|e, _| ReviewError::BadRequest(format!("bad path: {e}")).into()));
    if !path.is_empty() {
        scope = scope.service(resource("", "GET").route(web::get().to(to_slash)));
    }
    scope
        .service(resource("/", "GET").route(web::get().to(assets::index)))
        .service(resource("/app.js", "GET").route(web::get().to(assets::script)))
        .service(resource("/style.css", "GET").route(web::get().to(assets::style)))
        .service(resource("/api/run", "GET").route(web::get().to(handlers::overview)))
        .service(resource("/api/samples", "GET").route(web::get().to(handlers::samples)))
        .service(resource("/api/samples/{index}", "GET").route(web::get().to(handlers::sample)))
        .service(resource("/api/samples/{index}/history", "GET").route(web::get().to(handlers::history)))
        .service(resource("/api/samples/{index}/image.png", "GET").route(web::get().to(handlers::image)))
        .service(resource("/api/datamap", "GET").route(web::get().to(handlers::datamap)))
        .service(resource("/api/decisions", "POST").route(web::post().to(handlers::decide)))
}

/// A path whose other methods get 405 with `Allow: allow`.
fn resource(path: &str, allow: &'static str) -> actix_web::Resource {
    web::resource(path).default_service(web::to(move || async move { Err::<HttpResponse, _>(ReviewError::MethodNotAllowed(allow)) }))
}

/// `.../review` to `.../review/`, where the page's relative links resolve.
async fn to_slash(request: HttpRequest) -> HttpResponse {
    let last = request.path().rsplit('/').next().unwrap_or_default();
    HttpResponse::MovedPermanently().insert_header(("Location", format!("{last}/"))).finish()
}
