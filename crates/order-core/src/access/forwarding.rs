//! A read passed on to another component: order-api's `GET /order`, forwarded to
//! order-reader by local service chaining where order-api may not read the store.

use crate::access::read_access::refused;
use crate::http::problem::Problem;
use crate::http::request::Request;

/// A read as it is passed on to another component (order-api's `GET /order` to
/// order-reader): the query without its `token`, and the credential as an
/// `Authorization` value (the request's own, else `Bearer <token>`), which the reader
/// checks as [`crate::access::read_access::ReadAccess::check`] would have. The token never goes into the URL of a
/// request the platform makes, and so never into its span for it. A request the reader
/// would refuse for its form (its limits, a repeated parameter) is refused here, with
/// the reader's answer; so is a token no header can carry (empty, or not visible ASCII),
/// with the `403` any token that does not verify gets.
pub fn passed_on(req: &Request) -> Result<(String, Option<String>), Problem> {
    req.check_limits()?;
    let query = req.query_params()?;
    let token = query.get("token");
    let auth = match (req.header("authorization"), token) {
        (Some(auth), _) => Some(auth.to_owned()),
        (None, Some(t)) if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) => return Err(refused()),
        (None, t) => t.map(|t| format!("Bearer {t}")),
    };
    Ok((query.without("token"), auth))
}
