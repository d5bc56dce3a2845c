//! The API's contract, `docs/openapi.json` (the document the app serves at
//! `GET /openapi.json`), as the tests hold every answer to it: the test host checks each
//! answer it gives a test ([`crate::App::call`], and its listener), and the real-Spin tier
//! each answer its client receives.
//!
//! An answer keeps the document when:
//! - its path is one of the document's (a trailing `/` aside), and its method one of that
//!   path's operations, and its status one the operation lists, with every header the
//!   response requires, each header's value valid against its schema, a media type the
//!   response lists, and a JSON body valid against its schema (formats checked too); a
//!   response that lists no content has no body;
//! - or its path is one of the document's and its method is not: `405`, a problem whose
//!   `Allow` lists exactly the path's operations;
//! - or its path is not the document's: Spin's own `404` (no route, empty), or a problem
//!   with a 4xx status (a route's component refusing a path below it).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::Value;

/// The document's URI inside the validators: its `$ref`s resolve against it.
const BASE: &str = "urn:coffee-orders:openapi";

/// The document, and a validator per schema it has been asked about.
pub struct Contract {
    document: Value,
    validators: Mutex<HashMap<String, Arc<jsonschema::Validator>>>,
}

/// The document in the repository, `docs/openapi.json`, read once.
pub fn contract() -> &'static Contract {
    static CONTRACT: OnceLock<Contract> = OnceLock::new();
    CONTRACT.get_or_init(|| {
        let path = crate::workspace_root().join("docs/openapi.json");
        let text = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let document = serde_json::from_slice(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()));
        Contract { document, validators: Mutex::default() }
    })
}

/// One answer, as a client received it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange<'a> {
    pub method: &'a str,
    /// The request's path and query (`/order?accountid=a0`), or its whole URL.
    pub target: &'a str,
    pub status: u16,
    /// Header names in any case.
    pub headers: &'a [(String, String)],
    pub body: &'a [u8],
}

/// The methods OpenAPI names as operations of a path item.
const METHODS: &[&str] = &["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl Contract {
    pub fn document(&self) -> &Value {
        &self.document
    }

    /// Every operation: its method (upper case) and its path template.
    pub fn operations(&self) -> Vec<(String, String)> {
        let mut ops = Vec::new();
        for (path, item) in self.document["paths"].as_object().into_iter().flatten() {
            for m in METHODS.iter().filter(|m| item.get(**m).is_some()) {
                ops.push((m.to_ascii_uppercase(), path.clone()));
            }
        }
        ops
    }

    /// Whether `x` keeps the document; `Err` says how it breaks it.
    pub fn check(&self, x: &Exchange) -> Result<(), String> {
        self.check_inner(x).map_err(|why| {
            let body = String::from_utf8_lossy(x.body);
            let shown: String = body.chars().take(300).collect();
            format!(
                "{} {} answered {}, which breaks docs/openapi.json: {why}\n  body: {shown}",
                x.method, x.target, x.status
            )
        })
    }

    fn check_inner(&self, x: &Exchange) -> Result<(), String> {
        let path = request_path(x.target);
        let Some((template, item)) = self.path_item(&path) else {
            if x.status == 404 && x.body.is_empty() {
                return Ok(()); // Spin: no route.
            }
            if (400..500).contains(&x.status) {
                return self.problem(x, "#/components/schemas/Problem");
            }
            return Err(format!("`{path}` is not in the document, yet it answered {}", x.status));
        };
        let method = x.method.to_ascii_lowercase();
        let Some(operation) = item.get(&method) else {
            let documented: BTreeSet<String> =
                METHODS.iter().filter(|m| item.get(**m).is_some()).map(|m| m.to_ascii_uppercase()).collect();
            if x.status != 405 {
                return Err(format!("{template} has no {} operation, so the answer must be 405", x.method));
            }
            let allow: BTreeSet<String> =
                header(x, "allow").unwrap_or_default().split(',').map(|m| m.trim().to_owned()).collect();
            if allow != documented {
                return Err(format!("`Allow` must list {documented:?}, the path's operations"));
            }
            return self.problem(x, "#/components/schemas/Problem405");
        };
        let responses = &operation["responses"];
        let status = x.status.to_string();
        let (key, response) = [status.as_str(), &format!("{}XX", status.chars().next().unwrap_or('0')), "default"]
            .into_iter()
            .find_map(|k| responses.get(k).map(|r| (k.to_owned(), r)))
            .ok_or_else(|| {
                let listed: Vec<&String> = responses.as_object().into_iter().flat_map(|o| o.keys()).collect();
                format!("{} {template} lists {listed:?}, not {status}", x.method)
            })?;
        let (pointer, response) =
            self.resolve(&format!("#/paths/{}/{method}/responses/{key}", escape(template)), response);
        for (name, spec) in response.get("headers").and_then(Value::as_object).into_iter().flatten() {
            let (spec_pointer, spec) = self.resolve(&format!("{pointer}/headers/{}", escape(name)), spec);
            match header(x, name) {
                None if spec["required"] == true => return Err(format!("header `{name}` is required")),
                None => {}
                Some(value) => self
                    .validate(&format!("{spec_pointer}/schema"), &Value::String(value.to_owned()))
                    .map_err(|e| format!("header `{name}: {value}`: {e}"))?,
            }
        }
        let content = response.get("content").and_then(Value::as_object);
        let Some(content) = content.filter(|c| !c.is_empty()) else {
            return if x.body.is_empty() { Ok(()) } else { Err("the response has no body in the document".into()) };
        };
        if x.method.eq_ignore_ascii_case("HEAD") {
            return Ok(());
        }
        let media_type = header(x, "content-type").unwrap_or_default();
        let essence = media_type.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        let Some((listed, _)) = content.iter().find(|(k, _)| k.eq_ignore_ascii_case(&essence)) else {
            let listed: Vec<&String> = content.keys().collect();
            return Err(format!("content type `{media_type}` is not one of {listed:?}"));
        };
        if essence == "application/json" || essence.ends_with("+json") {
            let body: Value = serde_json::from_slice(x.body).map_err(|e| format!("the body is not JSON: {e}"))?;
            self.validate(&format!("{pointer}/content/{}/schema", escape(listed)), &body)?;
        }
        Ok(())
    }

    /// The answer is a problem of its own status: `application/problem+json`, valid
    /// against `schema` (and `Problem`).
    fn problem(&self, x: &Exchange, schema: &str) -> Result<(), String> {
        let media_type = header(x, "content-type").unwrap_or_default();
        if media_type != "application/problem+json" {
            return Err(format!("a {} must be application/problem+json, not `{media_type}`", x.status));
        }
        let body: Value = serde_json::from_slice(x.body).map_err(|e| format!("the problem is not JSON: {e}"))?;
        if body["status"] != x.status {
            return Err(format!("the problem's status is {}", body["status"]));
        }
        if self.document.pointer(schema.trim_start_matches('#')).is_some() {
            self.validate(schema, &body)
        } else {
            self.validate("#/components/schemas/Problem", &body)
        }
    }

    /// The path item `path` names, with its template.
    fn path_item(&self, path: &str) -> Option<(&str, &Value)> {
        let segments: Vec<&str> = path.split('/').collect();
        let paths = self.document["paths"].as_object()?;
        paths
            .iter()
            .filter(|(template, _)| {
                let t: Vec<&str> = template.split('/').collect();
                t.len() == segments.len()
                    && t.iter().zip(&segments).all(|(t, s)| t == s || (t.starts_with('{') && !s.is_empty()))
            })
            // A literal path wins over a template.
            .min_by_key(|(template, _)| template.matches('{').count())
            .map(|(t, item)| (t.as_str(), item))
    }

    /// `value` with its `$ref`s followed, and the pointer where it is.
    fn resolve<'a>(&'a self, pointer: &str, value: &'a Value) -> (String, &'a Value) {
        let (mut pointer, mut value) = (pointer.to_owned(), value);
        while let Some(r) = value.get("$ref").and_then(Value::as_str) {
            pointer = r.to_owned();
            value =
                self.document.pointer(r.trim_start_matches('#')).unwrap_or_else(|| panic!("no {r} in the document"));
        }
        (pointer, value)
    }

    /// Validates `instance` against the schema at `pointer` (`#/...`).
    pub fn validate(&self, pointer: &str, instance: &Value) -> Result<(), String> {
        let validator = {
            let mut cache = self.validators.lock().unwrap();
            cache
                .entry(pointer.to_owned())
                .or_insert_with(|| {
                    let resource = jsonschema::Draft::Draft202012.create_resource(self.document.clone());
                    let schema = serde_json::json!({ "$ref": format!("{BASE}{pointer}") });
                    Arc::new(
                        jsonschema::options()
                            .with_draft(jsonschema::Draft::Draft202012)
                            .should_validate_formats(true)
                            .with_resource(BASE, resource)
                            .build(&schema)
                            .unwrap_or_else(|e| panic!("the schema at {pointer} does not compile: {e}")),
                    )
                })
                .clone()
        };
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("{} at `{}`", e, e.instance_path)).collect();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(format!("against {pointer}: {}", errors.join("; ")))
        }
    }
}

/// A header's value, by name in any case.
fn header<'a>(x: &Exchange<'a>, name: &str) -> Option<&'a str> {
    x.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The path of a request target (path and query, or a whole URL), without one trailing
/// `/` (the app answers `/pipeline/` as `/pipeline`).
fn request_path(target: &str) -> String {
    let target = match target.split_once("://") {
        Some((_, rest)) => rest.find('/').map_or("/", |i| &rest[i..]),
        None => target,
    };
    let path = target.split(['?', '#']).next().unwrap_or("/");
    match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p.to_owned(),
        _ if path.is_empty() => "/".to_owned(),
        _ => path.to_owned(),
    }
}

/// A JSON pointer's escaping of one key.
fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn x<'a>(
        method: &'a str,
        target: &'a str,
        status: u16,
        headers: &'a [(String, String)],
        body: &'a [u8],
    ) -> Exchange<'a> {
        Exchange { method, target, status, headers, body }
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn paths_match_templates_and_trailing_slashes() {
        assert_eq!(request_path("/pipeline/?x=1"), "/pipeline");
        assert_eq!(request_path("http://127.0.0.1:3000/"), "/");
        assert_eq!(request_path("http://h:1"), "/");
        let c = contract();
        assert_eq!(c.path_item("/drain/order-writer").map(|(t, _)| t), Some("/drain/{group}"));
        assert_eq!(c.path_item("/invoice/download").map(|(t, _)| t), Some("/invoice/download"));
        assert!(c.path_item("/invoice/other").is_none());
    }

    #[test]
    fn answers_that_break_the_document_are_named() {
        let c = contract();
        let problem = |status: u16, title: &str| {
            format!(r#"{{"type":"about:blank","title":"{title}","status":{status},"detail":"d"}}"#).into_bytes()
        };
        let json = h(&[("content-type", "application/problem+json")]);
        // Documented: a 404 of GET /order.
        assert_eq!(c.check(&x("GET", "/order?accountid=a", 404, &json, &problem(404, "Not Found"))), Ok(()));
        // Not documented for the operation.
        assert!(c.check(&x("GET", "/order", 418, &json, &problem(418, "Error"))).unwrap_err().contains("not 418"));
        // A body that breaks its schema: the title of another status.
        assert!(c.check(&x("GET", "/order", 404, &json, &problem(404, "Gone"))).is_err());
        // A 401 without its challenge.
        assert!(c
            .check(&x("GET", "/order", 401, &json, &problem(401, "Unauthorized")))
            .unwrap_err()
            .to_ascii_lowercase()
            .contains("www-authenticate"));
        // Another method: 405 with the path's operations in `Allow`.
        let allow = h(&[("content-type", "application/problem+json"), ("allow", "GET, POST")]);
        assert_eq!(c.check(&x("DELETE", "/order", 405, &allow, &problem(405, "Method Not Allowed"))), Ok(()));
        let wrong = h(&[("content-type", "application/problem+json"), ("allow", "GET")]);
        assert!(c.check(&x("DELETE", "/order", 405, &wrong, &problem(405, "Method Not Allowed"))).is_err());
        // Off the document: Spin's empty 404, or a 4xx problem; nothing else.
        assert_eq!(c.check(&x("GET", "/nowhere", 404, &[], b"")), Ok(()));
        assert_eq!(c.check(&x("GET", "/invoice/x", 404, &json, &problem(404, "Not Found"))), Ok(()));
        assert!(c.check(&x("GET", "/invoice/x", 200, &h(&[("content-type", "application/json")]), b"{}")).is_err());
    }
}
