//! The API's handlers. Each finds its run (opening it on first use) and does its work
//! on actix's blocking pool: opening a run reads files, a decision syncs one, and a
//! page sorts up to 60,000 samples, none of which belongs on the executor.

use super::routes::Reviewer;
use crate::views::{decide as save_decision, page, DataMap, DecisionRequest, History, Overview, PageQuery, SampleView};
use crate::{thumbnail, ReviewError, ReviewRun};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};

/// A sample's path segment, by name: under the daemon the path also holds the job's
/// `{id}`, which a bare `Path<usize>` would try to read too.
#[derive(Deserialize)]
pub struct SamplePath {
    index: usize,
}

/// Runs `work` on the request's run off the executor.
async fn on_run<T: Send + 'static>(
    reviewer: &web::Data<Reviewer>,
    request: &HttpRequest,
    work: impl FnOnce(&ReviewRun) -> Result<T, ReviewError> + Send + 'static,
) -> Result<T, ReviewError> {
    let place = reviewer.locator.locate(request)?;
    let reviewer = reviewer.clone();
    web::block(move || {
        let run = reviewer.cache.get(&place)?;
        work(&run)
    })
    .await
    .map_err(|e| ReviewError::Internal(format!("review worker: {e}")))?
}

fn json<T: Serialize>(value: T) -> HttpResponse {
    HttpResponse::Ok().insert_header(("Cache-Control", "no-store")).json(value)
}

pub async fn overview(reviewer: web::Data<Reviewer>, request: HttpRequest) -> Result<HttpResponse, ReviewError> {
    Ok(json(on_run(&reviewer, &request, |run| Ok(Overview::of(run))).await?))
}

pub async fn samples(
    reviewer: web::Data<Reviewer>,
    request: HttpRequest,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ReviewError> {
    let query = query.into_inner();
    Ok(json(on_run(&reviewer, &request, move |run| page(run, &query)).await?))
}

pub async fn sample(reviewer: web::Data<Reviewer>, request: HttpRequest, path: web::Path<SamplePath>) -> Result<HttpResponse, ReviewError> {
    let i = path.index;
    Ok(json(on_run(&reviewer, &request, move |run| SampleView::of(run, i)).await?))
}

pub async fn history(
    reviewer: web::Data<Reviewer>,
    request: HttpRequest,
    path: web::Path<SamplePath>,
) -> Result<HttpResponse, ReviewError> {
    let i = path.index;
    Ok(json(on_run(&reviewer, &request, move |run| History::of(run, i)).await?))
}

pub async fn image(reviewer: web::Data<Reviewer>, request: HttpRequest, path: web::Path<SamplePath>) -> Result<HttpResponse, ReviewError> {
    let i = path.index;
    let png = on_run(&reviewer, &request, move |run| thumbnail::png(run, i)).await?;
    // A sample's image changes only when its run is written again, which the cache sees.
    Ok(HttpResponse::Ok().content_type("image/png").insert_header(("Cache-Control", "private, max-age=300")).body(png))
}

pub async fn datamap(reviewer: web::Data<Reviewer>, request: HttpRequest) -> Result<HttpResponse, ReviewError> {
    Ok(json(on_run(&reviewer, &request, DataMap::of).await?))
}

pub async fn decide(
    reviewer: web::Data<Reviewer>,
    request: HttpRequest,
    body: web::Json<DecisionRequest>,
) -> Result<HttpResponse, ReviewError> {
    let body = body.into_inner();
    Ok(json(on_run(&reviewer, &request, move |run| save_decision(run, &body)).await?))
}
