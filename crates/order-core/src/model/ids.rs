//! Account and vendor ids, and the keys built from them.
//!
//! An id is 1 to 64 characters from `[A-Za-z0-9_.-]`. Because `#` and `/` can never
//! appear in an id, `accountid#vendorid` names exactly one pair, and the store prefixes
//! used below (which contain `/`) can never collide with an order key.

use serde::{Deserialize, Serialize};

use crate::model::invalid::Invalid;

pub const MAX_ID_LEN: usize = 64;

/// A validated account or vendor id.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Id(String);

impl Id {
    /// Validates `value` as an id; `field` names it in the error.
    pub fn parse(field: &str, value: &str) -> Result<Id, Invalid> {
        if value.is_empty() {
            return Err(Invalid::field(field, format!("{field} must not be empty")));
        }
        if value.len() > MAX_ID_LEN {
            return Err(Invalid::field(field, format!("{field} is longer than {MAX_ID_LEN} characters")));
        }
        if let Some(c) = value.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))) {
            return Err(Invalid::field(
                field,
                format!("{field} contains {c:?}; ids use only A-Z, a-z, 0-9, `_`, `.` and `-`"),
            ));
        }
        Ok(Id(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Id {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        Id::parse("id", &s).map_err(|p| p.detail)
    }
}

impl From<Id> for String {
    fn from(id: Id) -> String {
        id.0
    }
}

impl std::fmt::Display for Id {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The order store's key: `accountid#vendorid`.
pub fn order_key(accountid: &Id, vendorid: &Id) -> String {
    format!("{accountid}#{vendorid}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_separators_and_oddities() {
        for bad in ["", "a#b", "a/b", "a b", "é", "a\0", "a\n", "a?x=1", "a%23", &"x".repeat(65)] {
            assert!(Id::parse("accountid", bad).is_err(), "{bad:?} accepted");
        }
        for good in ["a0", "A-Z_0.9", &"x".repeat(64)] {
            assert!(Id::parse("accountid", good).is_ok(), "{good:?} rejected");
        }
    }

    proptest! {
        /// Two different pairs of valid ids never share a key.
        #[test]
        fn keys_never_collide(a1 in "[A-Za-z0-9_.-]{1,8}", v1 in "[A-Za-z0-9_.-]{1,8}",
                              a2 in "[A-Za-z0-9_.-]{1,8}", v2 in "[A-Za-z0-9_.-]{1,8}") {
            let k1 = order_key(&Id::parse("a", &a1).unwrap(), &Id::parse("v", &v1).unwrap());
            let k2 = order_key(&Id::parse("a", &a2).unwrap(), &Id::parse("v", &v2).unwrap());
            prop_assert_eq!(k1 == k2, a1 == a2 && v1 == v2);
        }

        /// Anything accepted is within the documented alphabet and length.
        #[test]
        fn accepted_ids_are_in_alphabet(s in "\\PC{0,70}") {
            if let Ok(id) = Id::parse("x", &s) {
                prop_assert!(!id.as_str().is_empty() && id.as_str().len() <= 64);
                prop_assert!(id.as_str().bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b)));
            }
        }
    }
}
