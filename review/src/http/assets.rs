//! The page: hand-written HTML, JavaScript and CSS bundled into the binary (no CDN,
//! no network). They hold no data of any run; everything comes from the API.

use actix_web::HttpResponse;

const INDEX: &str = include_str!("../../assets/index.html");
const SCRIPT: &str = include_str!("../../assets/app.js");
const STYLE: &str = include_str!("../../assets/style.css");

/// Only this server's own scripts, styles, API and thumbnails (`blob:` URLs made from
/// them): a sample's file name shown on the page can never run as code.
const CONTENT_SECURITY_POLICY: &str =
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

fn asset(content_type: &str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header(("Cache-Control", "no-cache"))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(("Content-Security-Policy", CONTENT_SECURITY_POLICY))
        .body(body)
}

pub async fn index() -> HttpResponse {
    asset("text/html; charset=utf-8", INDEX)
}

pub async fn script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", SCRIPT)
}

pub async fn style() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLE)
}

/// Whether `path` (after the review's prefix) is a file of the page rather than of
/// the API: the same bytes for every run, holding no data. A daemon with a token lets
/// a browser load these without one (a browser cannot put a header on a link it
/// follows); the page then sends the token, taken from the link's `#token=`, with
/// every API request.
pub fn is_page_asset(path: &str) -> bool {
    matches!(path, "" | "/" | "/app.js" | "/style.css")
}
