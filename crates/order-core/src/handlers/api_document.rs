//! `GET /openapi.json` (pipeline-api): the OpenAPI 3.1 document of this API,
//! `docs/openapi.json`, compiled into the component as it is in the repository, so the app
//! serves the one document its tests check (never a second copy).
//!
//! At the root, `/openapi.json`, where tools look first (FastAPI's address, the one
//! Schemathesis and most gateways and client generators are pointed at), and outside
//! `/pipeline/...`: the document describes every endpoint, not only the operator's.
//! Public, like the page: it holds nothing a client does not already send or receive.
//! Serving it needs nothing but the request, so it answers while Redis is down.

use crate::http::problem::{respond, Problem};
use crate::http::request::Request;
use crate::http::response::Response;

/// Where the document is served.
pub const PATH: &str = "/openapi.json";

/// The answer to `req` if it is for the document (its route is [`PATH`]), else `None`
/// (`document`: the document's bytes).
pub fn serve(req: &Request, document: &'static [u8]) -> Option<Response> {
    (req.route == PATH).then(|| respond(answer(req, document)))
}

fn answer(req: &Request, document: &'static [u8]) -> Result<Response, Problem> {
    req.check_limits()?;
    let body = match req.method.as_str() {
        "GET" => document.to_vec(),
        "HEAD" => Vec::new(),
        other => return Err(Problem::method_not_allowed(other, &["GET", "HEAD"])),
    };
    // Revalidate every time: an upgraded app serves its new document at once.
    Ok(Response::new(200, "application/json", body).with_header("cache-control", "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOCUMENT: &[u8] = include_bytes!("../../../../docs/openapi.json");

    fn req(method: &str) -> Request {
        Request { method: method.into(), route: PATH.into(), ..Request::default() }
    }

    fn handle(req: &Request, document: &'static [u8]) -> Response {
        serve(req, document).expect("a request for the document")
    }

    #[test]
    fn other_routes_are_not_the_documents() {
        assert!(serve(&Request { route: "/pipeline".into(), ..req("GET") }, DOCUMENT).is_none());
    }

    #[test]
    fn get_is_the_document_head_its_headers() {
        let get = handle(&req("GET"), DOCUMENT);
        assert_eq!((get.status, get.header("content-type")), (200, Some("application/json")));
        let doc: serde_json::Value = serde_json::from_slice(&get.body).unwrap();
        assert_eq!(doc["openapi"], "3.1.0");
        assert!(doc["paths"][PATH]["get"].is_object(), "the document describes itself");
        let head = handle(&req("HEAD"), DOCUMENT);
        assert_eq!((head.status, head.body.len(), head.header("cache-control")), (200, 0, Some("no-cache")));
    }

    #[test]
    fn other_methods_and_oversize_requests_are_problems() {
        let post = handle(&req("POST"), DOCUMENT);
        assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
        let long = Request { query: "x".repeat(crate::http::request::MAX_QUERY_BYTES + 1), ..req("GET") };
        assert_eq!(handle(&long, DOCUMENT).status, 414);
    }
}
