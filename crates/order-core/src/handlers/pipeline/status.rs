//! `GET /pipeline`: per consumer group, the backlog and its health
//! ([`crate::ports::operations::Status`]).

use crate::http::problem::Problem;
use crate::http::response::Response;
use crate::ports::error::PortError;
use crate::ports::operations::Operations;

pub fn answer(ops: &impl Operations) -> Result<Response, Problem> {
    Ok(Response::json(200, &ops.status().map_err(unavailable)?).with_header("cache-control", "no-store"))
}

/// The `503` of every pipeline endpoint while Redis cannot be reached.
pub fn unavailable(e: PortError) -> Problem {
    Problem::unavailable(format!("redis is unavailable: {e}"))
}
