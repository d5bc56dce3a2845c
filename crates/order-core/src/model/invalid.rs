//! Why an input is not a valid order or id: the model's own error. The handlers answer
//! it as a `400` problem (`http::problem`), naming the field at fault.

use std::fmt;

/// An input the model refuses, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// The input at fault, a dotted path such as `order.details.quantity`, when one is.
    pub field: Option<String>,
    /// What is wrong, and what to send instead.
    pub detail: String,
}

impl Invalid {
    /// `field` is at fault.
    pub fn field(field: impl Into<String>, detail: impl Into<String>) -> Invalid {
        Invalid { field: Some(field.into()), detail: detail.into() }
    }

    /// The input as a whole is at fault (not JSON, nested too deep).
    pub fn whole(detail: impl Into<String>) -> Invalid {
        Invalid { field: None, detail: detail.into() }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.detail)
    }
}

impl std::error::Error for Invalid {}
