use super::*;
use crate::testing::contract;
use crate::testing::memory::MemoryStore;

/// A store with only reads and writes: it runs the default `put_newest`, as Spin's
/// key-value stores do in the components.
struct ReadsAndWrites(MemoryStore);

impl KeyValue for ReadsAndWrites {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.0.set(key, value)
    }
}

#[test]
fn the_default_put_newest_keeps_the_contract_with_one_writer() {
    contract::one_writer(&ReadsAndWrites(MemoryStore::default()));
}

#[test]
fn the_memory_store_keeps_the_contract_with_any_number_of_writers() {
    contract::one_writer(&MemoryStore::default());
    let shared = std::sync::Arc::new(MemoryStore::default());
    contract::concurrent_writers((0..4).map(|_| shared.clone()).collect());
}

/// A store that keeps every `set_many` call's keys, as DynamoDB sees its batches.
#[derive(Default)]
struct BatchCalls(MemoryStore, std::sync::Mutex<Vec<Vec<String>>>);

impl KeyValue for BatchCalls {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
        self.0.get(key)
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
        self.0.set(key, value)
    }

    fn set_many(&self, entries: &[(String, Vec<u8>)]) -> Result<(), PortError> {
        self.1.lock().unwrap().push(entries.iter().map(|(k, _)| k.clone()).collect());
        self.0.set_many(entries)
    }
}

#[test]
fn the_default_put_newest_writes_each_key_once_with_its_newest_value() {
    let s = BatchCalls::default();
    let put = |k: &str, v: &str| Put { key: k.into(), value: format!("{v}:x").into(), version: MessageId::from(v) };
    let puts = [put("a", "1"), put("b", "1"), put("a", "3"), put("a", "2"), put("b", "4")];
    let kept = s.put_newest(&puts, contract::version_in_value).unwrap();
    assert_eq!(
        kept,
        [
            PutOutcome::Written,
            PutOutcome::Written,
            PutOutcome::Written,
            PutOutcome::NewerKept(MessageId::from("3")),
            PutOutcome::Written
        ]
    );
    assert_eq!(*s.1.lock().unwrap(), [vec!["a".to_owned(), "b".to_owned()]], "one call, each key once");
    assert_eq!(s.get("a").unwrap().as_deref(), Some(&b"3:x"[..]));
    assert_eq!(s.get("b").unwrap().as_deref(), Some(&b"4:x"[..]));
}

#[test]
fn one_call_for_every_group_and_each_group_gets_its_own_results() {
    let s = MemoryStore::default();
    let put = |k: &str, v: &str| Put { key: k.into(), value: format!("{v}:x").into(), version: MessageId::from(v) };
    let puts = [put("a", "1"), put("b", "2"), put("b", "1")];
    let kept = put_newest_isolating(&s, &puts, &[1, 2], contract::version_in_value);
    assert_eq!(
        kept,
        vec![Ok(vec![PutOutcome::Written]), Ok(vec![PutOutcome::Written, PutOutcome::NewerKept(MessageId::from("2"))])]
    );
}

/// A key that names its own version (an invoice document's) is written without being
/// read first; every other key is read once.
#[test]
fn a_key_that_names_its_own_version_is_not_read() {
    struct Counting(MemoryStore, std::cell::Cell<usize>);
    impl KeyValue for Counting {
        fn get(&self, key: &str) -> Result<Option<Vec<u8>>, PortError> {
            self.1.set(self.1.get() + 1);
            self.0.get(key)
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), PortError> {
            self.0.set(key, value)
        }
    }
    fn own(key: &str, value: &[u8]) -> Option<MessageId> {
        key.strip_prefix("doc/").map(MessageId::from).or_else(|| contract::version_in_value(key, value))
    }
    let s = Counting(MemoryStore::default(), Default::default());
    let put = |k: &str, v: &str| Put { key: k.into(), value: format!("{v}:x").into(), version: MessageId::from(v) };
    let kept = s.put_newest(&[put("doc/7", "7"), put("latest", "7"), put("latest", "5")], own).unwrap();
    assert_eq!(kept, [PutOutcome::Written, PutOutcome::Written, PutOutcome::NewerKept(MessageId::from("7"))]);
    assert_eq!(s.1.get(), 1, "only `latest` was read");
    assert_eq!(s.get("doc/7").unwrap().as_deref(), Some(&b"7:x"[..]));
}
