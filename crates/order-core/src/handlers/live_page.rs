//! The live page (pipeline-api): `GET /` is a page that watches the pipeline, and
//! `GET /pipeline/live/<file>` its script and style. The files themselves live in
//! `components/pipeline-api/live/` and are compiled into the component: no build step, no
//! CDN, nothing fetched but this app's own endpoints.
//!
//! The page holds no data of its own. Every second it reads `GET /pipeline` (public); the
//! dead-letter list and the redrive need the admin token, and the order lookup a read key.
//! The page asks for them and keeps them in memory only: a reload forgets them. So that
//! nothing else can read them, the page answers with a Content-Security-Policy that runs
//! only these files and talks only to this origin, and may not be framed.
//!
//! Serving it needs nothing but the request: it answers while Redis is down, which is when
//! the page has most to say.

use crate::http::problem::Problem;
use crate::http::request::Request;
use crate::http::response::Response;

/// A file of the page, as the component holds it.
#[derive(Debug, Clone, Copy)]
pub struct Asset {
    /// Its name under `/pipeline/live/`; the page itself is `index.html`.
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

/// What the page may load and call: its own files and this origin's endpoints, nothing
/// inline, no plugins, no frames, no form posts.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Where the files are served below the component's `/pipeline` route.
const FILES: &str = "/live/";

/// The page's answer to `req`, or `None` when `req` is not for the page (then it is one of
/// the pipeline's endpoints). The page is the app's root route, `/`, told apart from
/// `/pipeline/...` by the route the request matched.
pub fn serve(req: &Request, assets: &[Asset]) -> Option<Response> {
    let name = match req.route.as_str() {
        "/" => PAGE,
        // The page has one address, the root.
        _ => Some(req.path_info.strip_prefix(FILES)?).filter(|name| *name != PAGE).unwrap_or(""),
    };
    Some(crate::http::problem::respond(answer(req, name, assets)))
}

/// The page's own file.
const PAGE: &str = "index.html";

fn answer(req: &Request, name: &str, assets: &[Asset]) -> Result<Response, Problem> {
    req.check_limits()?;
    let asset = assets
        .iter()
        .find(|a| a.name == name)
        .ok_or_else(|| Problem::not_found(format!("the live page has no file `{name}`; the page is `/`")))?;
    let body = match req.method.as_str() {
        "GET" => asset.body.to_vec(),
        "HEAD" => Vec::new(),
        other => return Err(Problem::method_not_allowed(other, &["GET", "HEAD"])),
    };
    Ok(Response::new(200, asset.content_type, body)
        .with_header("content-security-policy", CONTENT_SECURITY_POLICY)
        .with_header("x-content-type-options", "nosniff")
        .with_header("referrer-policy", "no-referrer")
        // Revalidate every time: an upgraded app serves its new page at once.
        .with_header("cache-control", "no-cache"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ASSETS: &[Asset] = &[
        Asset { name: "index.html", content_type: "text/html; charset=utf-8", body: b"<!doctype html>" },
        Asset { name: "live.js", content_type: "text/javascript; charset=utf-8", body: b"tick();" },
    ];

    fn req(method: &str, component_route: &str, path_info: &str) -> Request {
        Request {
            method: method.into(),
            path_info: path_info.into(),
            query: String::new(),
            route: component_route.into(),
            headers: vec![],
            body: Vec::new(),
        }
    }

    #[test]
    fn the_root_is_the_page_and_its_files_are_below_pipeline_live() {
        let page = serve(&req("GET", "/", ""), ASSETS).unwrap();
        assert_eq!((page.status, page.body.as_slice()), (200, b"<!doctype html>".as_slice()));
        assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
        assert_eq!(page.header("content-security-policy"), Some(CONTENT_SECURITY_POLICY));
        assert!(
            CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'") && !CONTENT_SECURITY_POLICY.contains("unsafe")
        );
        let js = serve(&req("GET", "/pipeline", "/live/live.js"), ASSETS).unwrap();
        assert_eq!((js.status, js.header("content-type")), (200, Some("text/javascript; charset=utf-8")));
        assert_eq!(js.header("x-content-type-options"), Some("nosniff"));
        let head = serve(&req("HEAD", "/", ""), ASSETS).unwrap();
        assert_eq!((head.status, head.body.len()), (200, 0));
    }

    #[test]
    fn everything_else_under_pipeline_is_not_the_pages() {
        for path in ["", "/metrics", "/dead-letters", "/live", "/livex/live.js"] {
            assert!(serve(&req("GET", "/pipeline", path), ASSETS).is_none(), "{path}");
        }
    }

    #[test]
    fn unknown_files_and_other_methods_are_problems() {
        let missing = serve(&req("GET", "/pipeline", "/live/../../spin.toml"), ASSETS).unwrap();
        assert_eq!((missing.status, missing.header("content-type")), (404, Some("application/problem+json")));
        // The page is the root, not a file below /pipeline/live/.
        assert_eq!(serve(&req("GET", "/pipeline", "/live/index.html"), ASSETS).unwrap().status, 404);
        let post = serve(&req("POST", "/", ""), ASSETS).unwrap();
        assert_eq!((post.status, post.header("allow")), (405, Some("GET, HEAD")));
        let long = Request { query: "x".repeat(crate::http::request::MAX_QUERY_BYTES + 1), ..req("GET", "/", "") };
        assert_eq!(serve(&long, ASSETS).unwrap().status, 414);
    }
}
