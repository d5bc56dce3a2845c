//! `GET /pipeline`: per consumer group, the backlog and its health
//! ([`crate::ports::operations::Status`]).

use crate::http::problem::Problem;
use crate::http::response::Response;
use crate::ports::error::PortError;
use crate::ports::operations::Operations;

pub fn answer(ops: &impl Operations) -> Result<Response, Problem> {
    Ok(Response::json(200, &ops.status().map_err(unavailable(ops))?).with_header("cache-control", "no-store"))
}

/// The `503` of every pipeline endpoint while the topic's server cannot be reached,
/// naming its messaging system.
pub fn unavailable(ops: &impl Operations) -> impl Fn(PortError) -> Problem {
    let system = ops.messaging_system();
    move |e| Problem::unavailable(format!("{} is unavailable: {e}", system.name))
}
