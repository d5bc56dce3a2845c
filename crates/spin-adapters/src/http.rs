//! HTTP on Spin: Spin's request read into the core's (stopping at the body limit), the
//! core's answer written back, and the one log line of each request.

use futures::StreamExt;
use order_core::http::request::{too_large, MAX_BODY_BYTES};
use order_core::http::{Problem, Request as CoreRequest, Response as CoreResponse};
use order_core::model::clock::{Clock, SystemClock};
use spin_sdk::http::{IncomingRequest, Response, ResponseOutparam};

use crate::log;

/// Reads Spin's request into the core's, stopping at the body limit: a body larger
/// than 64 KiB is answered 413 without being read to its end.
pub async fn read_request(req: IncomingRequest) -> Result<CoreRequest, Problem> {
    let headers: Vec<(String, String)> = req
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let method = req.method().to_string();
    let path_with_query = req.path_with_query().unwrap_or_default();
    let query = path_with_query.split_once('?').map(|(_, q)| q.to_owned()).unwrap_or_default();
    let mut core = CoreRequest { method, query, headers, ..CoreRequest::default() };
    // Spin names the route the request matched (as the manifest writes it, without
    // `/...`) and the path below it.
    core.route = core.header("spin-component-route").unwrap_or_default().to_owned();
    core.path_info = core.header("spin-path-info").unwrap_or_default().to_owned();
    let declared: Option<usize> = core.header("content-length").and_then(|v| v.trim().parse().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES) {
        return Err(too_large());
    }
    let mut stream = req.into_body_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request(format!("the request body could not be read: {e:?}")))?;
        core.body.extend_from_slice(&chunk);
        if core.body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
    }
    Ok(core)
}

/// The whole life of an HTTP request in a component: read it (413 past the body
/// limit), let `handle` answer it, log the line, answer. The line's path is the one the
/// client asked for (a chained request keeps the caller's: `GET /order` reaches
/// order-reader as `/order`, whatever route matched).
pub async fn serve(
    req: IncomingRequest,
    component: &str,
    handle: impl FnOnce(&CoreRequest) -> CoreResponse,
) -> Response {
    let started = std::time::Instant::now();
    let path_with_query = req.path_with_query().unwrap_or_default();
    let path = path_with_query.split('?').next().unwrap_or_default().to_owned();
    match read_request(req).await {
        Ok(req) => {
            let resp = handle(&req);
            answer(component, &path, &req, resp, started)
        }
        Err(problem) => to_spin(problem.into_response()),
    }
}

/// Logs the request's line (see `order_core::log`) and answers it.
pub fn answer(
    component: &str,
    path: &str,
    req: &CoreRequest,
    resp: CoreResponse,
    started: std::time::Instant,
) -> Response {
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    // The line's time stamp is when the request began.
    let began = SystemClock.now_ms().saturating_sub(ms.ceil() as u64);
    log(&order_core::log::request_line(component, path, req, &resp, ms, began));
    to_spin(resp)
}

/// Sends `resp` as the answer, body and all, and returns: what the handler does after
/// this is not waited for by the client (Spin runs a handler on after its response).
pub async fn answer_then(out: ResponseOutparam, resp: Response) {
    let mut resp = resp;
    let body = std::mem::take(resp.body_mut());
    match spin_sdk::http::OutgoingResponse::try_from(resp) {
        Ok(outgoing) => {
            if let Err(e) = out.set_with_body(outgoing, body).await {
                eprintln!("the answer could not be sent: {e}");
            }
        }
        Err(e) => eprintln!("the answer could not be built: {e}"),
    }
}

/// The core's answer as Spin's.
pub fn to_spin(r: CoreResponse) -> Response {
    Response::builder().status(r.status).headers(r.headers).body(r.body).build()
}
