//! The key-value port: the order store and the invoice store are each one of these, and
//! the one rule they keep, newest wins ([`KeyValue::put_newest`]).

use crate::model::message_id::MessageId;
use crate::ports::error::PortError;

/// A write that must never replace a newer one: `value` under `key`, made by the message
/// `version`. Message ids order messages in time ([`MessageId`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    pub key: String,
    pub value: Vec<u8>,
    pub version: MessageId,
}

/// What a key holds after a [`Put`]: the put's own version (written now, or the same
/// version rewritten: a duplicate changes nothing), or a newer one, left in place.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PutOutcome {
    Written,
    /// A newer message's value was there, and stays: its version.
    NewerKept(MessageId),
}

/// Reads the version of a stored value (`key`, value), for stores that keep no version
/// of their own; `None` for a value that is not ours (it is then replaced). A key may
/// carry its version itself (an invoice document's key ends with its message id): its
/// `version_of` gives that whatever the value, and a put of that version is never read
/// first.
pub type VersionOf = fn(&str, &[u8]) -> Option<MessageId>;

/// A key-value store: the order store and the invoice (blob) store are both one of these.
pub trait KeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError>;

    /// The values of `keys`, in order. A backend with a batch read answers in one call.
    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        keys.iter().map(|k| self.get(k)).collect()
    }

    /// Writes every entry; a backend with batch writes does it in one call (Spin's
    /// SQLite store: one transaction, so all or none).
    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        entries.iter().try_for_each(|(k, v)| self.set(k, v))
    }

    /// Newest wins: each put is written unless its key holds a newer version, in order
    /// (a later put to the same key sees an earlier one). One [`PutOutcome`] per put; an `Err`
    /// may have written part of the puts (each written one the newest), never an older
    /// version over a newer one, so the same puts again finish the work.
    ///
    /// This default reads each key (`get`; never `get_many`, which Spin's Redis
    /// key-value provider answers with the `KEYS` command), compares, and writes what is
    /// newer in one `set_many`, each key once. Between the read and the write another
    /// writer could slip in, so it is for a store with **one writer at a time**: Spin's
    /// SQLite store under one `spin up`, whose Redis trigger runs one drain of a group at
    /// a time. A store several replicas share decides newest-wins atomically instead (the
    /// Redis store in `spin-adapters`); `testing::contract` holds the tests every implementation
    /// passes.
    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<PutOutcome>, PortError> {
        // Per key: the newest version so far (stored, or put earlier in this call), and
        // where its one write is. A key twice in one batch call is refused by DynamoDB
        // (Spin's `aws_dynamo` provider sends `set_many` as one call).
        let mut keys: std::collections::HashMap<&str, (Option<MessageId>, Option<usize>)> =
            std::collections::HashMap::new();
        for p in puts {
            if !keys.contains_key(p.key.as_str()) {
                // A key that names its own version (an invoice document's) holds this
                // very message's value or nothing: there is nothing newer to read.
                let current = match version_of(&p.key, &[]) {
                    Some(own) if own == p.version => None,
                    _ => self.get(&p.key)?.and_then(|v| version_of(&p.key, &v)),
                };
                keys.insert(&p.key, (current, None));
            }
        }
        let (mut writes, mut kept) = (Vec::<(String, Vec<u8>)>::new(), Vec::new());
        for p in puts {
            let (newest, at) = keys.get_mut(p.key.as_str()).expect("read above");
            match newest {
                Some(v) if v.newer_than(&p.version) => kept.push(PutOutcome::NewerKept(v.clone())),
                _ => {
                    match at {
                        Some(i) => writes[*i].1 = p.value.clone(),
                        None => {
                            *at = Some(writes.len());
                            writes.push((p.key.clone(), p.value.clone()));
                        }
                    }
                    *newest = Some(p.version.clone());
                    kept.push(PutOutcome::Written);
                }
            }
        }
        if !writes.is_empty() {
            self.set_many(&writes)?;
        }
        Ok(kept)
    }
}

/// [`KeyValue::put_newest`] for several groups of puts, `puts` in a row, the groups'
/// lengths in `lens`: all of them in one call; if that fails, each group in its own, so a
/// write the store refuses (one poison message) fails alone rather than taking its
/// batch-mates with it. One result per group.
pub fn put_newest_isolating(
    store: &impl KeyValue,
    puts: &[Put],
    lens: &[usize],
    version_of: VersionOf,
) -> Vec<Result<Vec<PutOutcome>, PortError>> {
    debug_assert_eq!(lens.iter().sum::<usize>(), puts.len(), "the groups cover the puts");
    let first = if puts.is_empty() { Ok(Vec::new()) } else { store.put_newest(puts, version_of) };
    match first {
        Ok(mut kept) => lens.iter().map(|&n| Ok(kept.drain(..n).collect())).collect(),
        // Alone already: trying it again alone would only repeat the failure.
        Err(e) if lens.len() == 1 => vec![Err(e)],
        Err(_) => {
            let mut rest = puts;
            lens.iter()
                .map(|&n| {
                    let (group, after) = rest.split_at(n);
                    rest = after;
                    store.put_newest(group, version_of)
                })
                .collect()
        }
    }
}

impl<T: KeyValue + ?Sized> KeyValue for std::sync::Arc<T> {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        (**self).get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        (**self).set(key, value)
    }

    fn get_many(&self, keys: &[String]) -> Result<Vec<Option<Vec<u8>>>, PortError> {
        (**self).get_many(keys)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        (**self).set_many(entries)
    }

    fn put_newest(&self, puts: &[Put], version_of: VersionOf) -> Result<Vec<PutOutcome>, PortError> {
        (**self).put_newest(puts, version_of)
    }
}

#[cfg(test)]
mod tests;
