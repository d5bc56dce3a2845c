//! RFC 9457 problem details: the one shape every error answer of the API has.

use serde::Serialize;

use crate::http::response::Response;
use crate::model::invalid::Invalid;

/// An error answer: `application/problem+json` with `type`, `title`, `status`, `detail`
/// and, when one input field is at fault, `field` (a dotted path such as
/// `order.details.quantity`).
///
/// `type` is always `about:blank`, so `title` is the HTTP reason phrase and `detail`
/// carries the specifics a client needs to fix the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Extra headers the answer needs (`Allow` on a 405).
    #[serde(skip)]
    pub headers: Vec<(String, String)>,
}

impl Problem {
    pub fn new(status: u16, detail: impl Into<String>) -> Self {
        Problem {
            kind: "about:blank",
            title: reason_phrase(status),
            status,
            detail: detail.into(),
            field: None,
            headers: Vec::new(),
        }
    }

    /// 400: the request is malformed or a value is invalid. `field` names the input at fault.
    pub fn invalid(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Problem { field: Some(field.into()), ..Problem::new(400, detail) }
    }

    pub fn bad_request(detail: impl Into<String>) -> Self {
        Problem::new(400, detail)
    }

    pub fn forbidden(detail: impl Into<String>) -> Self {
        Problem::new(403, detail)
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Problem::new(404, detail)
    }

    /// 405 with the `Allow` header listing what the resource does answer.
    pub fn method_not_allowed(method: &str, allow: &[&str]) -> Self {
        let allow = allow.join(", ");
        let mut p = Problem::new(405, format!("{method} is not supported here; use {allow}"));
        p.headers.push(("allow".into(), allow));
        p
    }

    /// 503: a dependency (Redis, a store, the configuration) is not usable right now.
    pub fn unavailable(detail: impl Into<String>) -> Self {
        Problem::new(503, detail)
    }

    pub fn into_response(self) -> Response {
        let body = serde_json::to_vec(&self).expect("a problem always serializes");
        let mut r = Response::new(self.status, "application/problem+json", body);
        r.headers.extend(self.headers);
        r
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status, self.title, self.detail)
    }
}

fn reason_phrase(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

impl From<Problem> for Response {
    fn from(p: Problem) -> Self {
        p.into_response()
    }
}

/// An input the model refuses is a `400` naming its field.
impl From<Invalid> for Problem {
    fn from(i: Invalid) -> Self {
        match i.field {
            Some(field) => Problem::invalid(field, i.detail),
            None => Problem::bad_request(i.detail),
        }
    }
}

/// Answers a `Result` of a handler: the success as is, the problem as problem+json.
pub fn respond(result: Result<Response, Problem>) -> Response {
    result.unwrap_or_else(Problem::into_response)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The model's refusals are the `400`s: naming the field when there is one.
    #[test]
    fn an_invalid_input_is_a_400_naming_its_field() {
        let named = Problem::from(Invalid::field("order.details.quantity", "must be 1 to 1000"));
        assert_eq!((named.status, named.field.as_deref()), (400, Some("order.details.quantity")));
        assert_eq!(named.detail, "must be 1 to 1000");
        let whole = Problem::from(Invalid::whole("the body is not JSON"));
        assert_eq!((whole.status, whole.field, whole.detail.as_str()), (400, None, "the body is not JSON"));
    }
}
