//! A platform-neutral HTTP request, and the checks every endpoint runs on it before
//! anything reads it (size, media type, query parameters, the headers it reads).

use std::collections::HashSet;

use crate::http::problem::Problem;
use crate::model::ids::Id;

/// Largest request body accepted, in bytes. A larger one is answered 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Longest query string accepted, in bytes as sent (percent-encoded, without `?`). A
/// longer one is answered `414 URI Too Long`. The longest legitimate query is a download
/// URL's `token=…`: about 330 bytes for the longest ids and key id (see
/// `the_longest_download_query_fits_the_query_cap` in `handlers/invoices/tests.rs`), so 2 KiB leaves room for the ids, a token and growth.
pub const MAX_QUERY_BYTES: usize = 2 * 1024;

/// Most query parameters accepted; more is a 400. No endpoint reads more than two.
pub const MAX_QUERY_PARAMS: usize = 16;

/// Longest path accepted below a component's route ([`Request::path_info`]), in bytes;
/// longer is a 414. Every route's own paths are a few bytes.
pub const MAX_PATH_BYTES: usize = 1024;

/// The longest value accepted, in bytes, of each header the code reads, and of `host`
/// (names in lower case). A longer value is answered `431 Request Header Fields Too Large`, with the
/// header named in `detail` and `field`.
///
/// 431 rather than 400: RFC 6585 §5 defines it for exactly this case (one field too
/// large, named in the answer), so clients and proxies can tell "too large" from
/// "invalid" without reading the detail. Headers the code does not read are not
/// checked: nothing here spends work on them.
pub const HEADER_LIMITS: &[(&str, usize)] = &[
    // `Bearer <admin token>`: room for any sane admin token (the minimum is 16 bytes).
    ("authorization", 4 * 1024),
    // A media type and its parameters; RFC 6838 caps type and subtype at 127 characters each.
    ("content-type", 256),
    // W3C trace context: 55 bytes in version 00; later versions may only append fields.
    ("traceparent", 256),
    // At most 255 characters, quoted.
    ("idempotency-key", 512),
    // A host name (at most 253 bytes) and a port. No URL is built from it any more (they
    // start with `public_base_url`), but its cap stays the one docs/http-api.md gives.
    ("host", 512),
];

/// Most characters of a client's value echoed in an error's detail (a `Content-Type`).
pub const MAX_ECHOED_CHARS: usize = 64;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    /// The route the request matched, as the app's manifest writes it without a trailing
    /// wildcard (`/`, `/openapi.json`, `/pipeline`): the adapter reads it from the platform.
    pub route: String,
    /// The path below that route, e.g. `""` or `/download`.
    pub path_info: String,
    /// The raw query string, without `?`.
    pub query: String,
    /// Header names in lower case.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// The query's parameters. A query longer than [`MAX_QUERY_BYTES`] is a 414; more
    /// than [`MAX_QUERY_PARAMS`] parameters, or a parameter given twice, is a 400.
    /// Linear in the query's length.
    pub fn query_params(&self) -> Result<Query, Problem> {
        check_query_length(&self.query)?;
        let mut pairs: Vec<(String, String)> = Vec::new();
        let mut seen: HashSet<String> = HashSet::new();
        for (k, v) in form_urlencoded::parse(self.query.as_bytes()) {
            if seen.contains(k.as_ref()) {
                return Err(Problem::invalid(k.to_string(), format!("query parameter `{k}` is given more than once")));
            }
            if pairs.len() == MAX_QUERY_PARAMS {
                return Err(Problem::bad_request(format!("the query has more than {MAX_QUERY_PARAMS} parameters")));
            }
            seen.insert(k.to_string());
            pairs.push((k.into_owned(), v.into_owned()));
        }
        Ok(Query(pairs))
    }

    /// The request's bounds, checked before anything reads it: the query
    /// ([`MAX_QUERY_BYTES`]) and the path ([`MAX_PATH_BYTES`]) are 414 past their caps,
    /// a header the code reads is 431 past its cap in [`HEADER_LIMITS`].
    pub fn check_limits(&self) -> Result<(), Problem> {
        check_query_length(&self.query)?;
        if self.path_info.len() > MAX_PATH_BYTES {
            return Err(Problem::new(
                414,
                format!("the path is {} bytes; at most {MAX_PATH_BYTES} are accepted", self.path_info.len()),
            ));
        }
        for (name, value) in &self.headers {
            let Some((name, cap)) = HEADER_LIMITS.iter().find(|(n, _)| name.eq_ignore_ascii_case(n)) else {
                continue;
            };
            if value.len() > *cap {
                let detail = format!("header `{name}` is {} bytes; at most {cap} are accepted", value.len());
                return Err(Problem { field: Some((*name).to_owned()), ..Problem::new(431, detail) });
            }
        }
        Ok(())
    }

    /// Checks a body-carrying request: size (413) and media type (415).
    ///
    /// A missing `Content-Type` is read as JSON, and so is
    /// `application/x-www-form-urlencoded`, which is what plain `curl -d` sends: the body
    /// is still parsed as JSON and must be valid. Any other type must be
    /// `application/json` or `*/*+json` (parameters such as `charset` are ignored).
    pub fn check_json_body(&self) -> Result<(), Problem> {
        if self.body.len() > MAX_BODY_BYTES {
            return Err(too_large());
        }
        let Some(ct) = self.header("content-type") else {
            return Ok(());
        };
        let essence = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let json = essence == "application/json"
            || essence == "application/x-www-form-urlencoded"
            || (essence.ends_with("+json") && essence.contains('/'));
        if json {
            Ok(())
        } else {
            Err(Problem::new(
                415,
                format!("Content-Type `{}` is not accepted; send application/json", echo(&essence, MAX_ECHOED_CHARS)),
            ))
        }
    }
}

/// Client text for an error's detail: at most `max` characters, each outside printable
/// ASCII (and `` ` ``, `\`, quotes) escaped, so neither its size nor its bytes are the
/// client's to choose. `…` marks a cut.
pub fn echo(s: &str, max: usize) -> String {
    let mut out: String = s.chars().take(max).flat_map(char::escape_default).collect::<String>().replace('`', "\\`");
    if s.chars().nth(max).is_some() {
        out.push('…');
    }
    out
}

/// 414 for a query string longer than [`MAX_QUERY_BYTES`].
fn check_query_length(query: &str) -> Result<(), Problem> {
    if query.len() > MAX_QUERY_BYTES {
        return Err(Problem::new(
            414,
            format!(
                "the query string is {} bytes; at most {MAX_QUERY_BYTES} are accepted (this API's parameters are short ids and a download token)",
                query.len()
            ),
        ));
    }
    Ok(())
}

/// The 413 answer, also used by adapters that stop reading a body early.
pub fn too_large() -> Problem {
    Problem::new(413, format!("the request body is larger than {MAX_BODY_BYTES} bytes"))
}

/// Parsed query parameters, in order, each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The query again, without the parameter `name` (form-encoded).
    pub fn without(&self, name: &str) -> String {
        form_urlencoded::Serializer::new(String::new()).extend_pairs(self.0.iter().filter(|(k, _)| k != name)).finish()
    }
}

/// Reads the `accountid` (required) and `vendorid` (required when `vendor_required`)
/// query parameters of a GET.
pub fn ids_from_query(query: &Query, vendor_required: bool) -> Result<(Id, Option<Id>), Problem> {
    let accountid = match query.get("accountid") {
        Some(v) => Id::parse("accountid", v)?,
        None => return Err(Problem::invalid("accountid", "query parameter `accountid` is required")),
    };
    let vendorid = match query.get("vendorid") {
        Some(v) => Some(Id::parse("vendorid", v)?),
        None if vendor_required => return Err(Problem::invalid("vendorid", "query parameter `vendorid` is required")),
        None => None,
    };
    Ok((accountid, vendorid))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ct: Option<&str>, body: &[u8]) -> Request {
        Request {
            method: "POST".into(),
            headers: ct.map(|c| vec![("content-type".to_string(), c.to_string())]).unwrap_or_default(),
            body: body.to_vec(),
            ..Request::default()
        }
    }

    #[test]
    fn media_types() {
        for ok in [
            None,
            Some("application/json"),
            Some("Application/JSON; charset=utf-8"),
            Some("application/vnd.order+json"),
            Some("application/x-www-form-urlencoded"),
        ] {
            assert!(req(ok, b"{}").check_json_body().is_ok(), "{ok:?}");
        }
        for bad in ["text/plain", "multipart/form-data; boundary=x", "+json", ""] {
            let p = req(Some(bad), b"{}").check_json_body().unwrap_err();
            assert_eq!(p.status, 415, "{bad}");
        }
    }

    #[test]
    fn a_rejected_content_type_is_echoed_short_and_escaped() {
        let long = format!("text/{}", "x".repeat(200));
        let p = req(Some(&long), b"{}").check_json_body().unwrap_err();
        assert_eq!(p.status, 415);
        assert!(p.detail.contains(&format!("`text/{}…`", "x".repeat(MAX_ECHOED_CHARS - 5))), "{}", p.detail);
        assert!(p.detail.len() < 150, "{}", p.detail);
        let p = req(Some("text/a`b\u{1b}[31m\u{e9}"), b"{}").check_json_body().unwrap_err();
        assert!(p.detail.contains(r"`text/a\`b\u{1b}[31m\u{e9}`"), "{}", p.detail);
    }

    #[test]
    fn header_values_the_code_reads_are_capped_with_431() {
        for (name, cap) in HEADER_LIMITS {
            let at_cap = Request { headers: vec![(name.to_string(), "v".repeat(*cap))], ..Request::default() };
            assert!(at_cap.check_limits().is_ok(), "{name}");
            let over = Request {
                headers: vec![("X-Other".into(), "v".into()), (name.to_ascii_uppercase(), "v".repeat(cap + 1))],
                ..Request::default()
            };
            let p = over.check_limits().unwrap_err();
            assert_eq!((p.status, p.title, p.field.as_deref()), (431, "Request Header Fields Too Large", Some(*name)));
            assert!(p.detail.contains(name) && p.detail.contains(&cap.to_string()), "{}", p.detail);
        }
        // A header the code does not read is not its concern.
        let other = Request { headers: vec![("x-other".into(), "v".repeat(100_000))], ..Request::default() };
        assert!(other.check_limits().is_ok());
    }

    #[test]
    fn long_paths_and_queries_are_414() {
        let path = Request { path_info: format!("/{}", "p".repeat(MAX_PATH_BYTES)), ..Request::default() };
        assert_eq!(path.check_limits().unwrap_err().status, 414);
        let query = Request { query: "q".repeat(MAX_QUERY_BYTES + 1), ..Request::default() };
        assert_eq!(query.check_limits().unwrap_err().status, 414);
    }

    #[test]
    fn body_limit_is_inclusive() {
        assert!(req(None, &vec![b' '; MAX_BODY_BYTES]).check_json_body().is_ok());
        let p = req(None, &vec![b' '; MAX_BODY_BYTES + 1]).check_json_body().unwrap_err();
        assert_eq!(p.status, 413);
    }

    #[test]
    fn repeated_query_parameter_is_rejected() {
        let r = Request { query: "accountid=a&accountid=b".into(), ..Request::default() };
        let p = r.query_params().unwrap_err();
        assert_eq!(p.field.as_deref(), Some("accountid"));
    }

    #[test]
    fn query_length_is_capped_with_414() {
        let at_cap = format!("token={}", "t".repeat(MAX_QUERY_BYTES - "token=".len()));
        let r = Request { query: at_cap, ..Request::default() };
        assert_eq!(r.query_params().unwrap().get("token").map(str::len), Some(MAX_QUERY_BYTES - 6));
        let r = Request { query: format!("{}x", r.query), ..Request::default() };
        let p = r.query_params().unwrap_err();
        assert_eq!(p.status, 414);
        assert_eq!(p.title, "URI Too Long");
        assert!(p.detail.contains(&MAX_QUERY_BYTES.to_string()), "{}", p.detail);
        assert_eq!(p.into_response().header("content-type"), Some("application/problem+json"));
    }

    #[test]
    fn parameter_count_is_capped() {
        let params = |n: usize| (0..n).map(|i| format!("p{i}=1")).collect::<Vec<_>>().join("&");
        let r = Request { query: params(MAX_QUERY_PARAMS), ..Request::default() };
        assert_eq!(r.query_params().unwrap().get("p15"), Some("1"));
        let r = Request { query: params(MAX_QUERY_PARAMS + 1), ..Request::default() };
        let p = r.query_params().unwrap_err();
        assert_eq!(p.status, 400);
        assert!(p.detail.contains("more than 16 parameters"), "{}", p.detail);
    }
}
