//! The contract every [`KeyValue`] implementation passes, as functions a test calls
//! with a fresh store (the core's, and `spin-test-host`'s over a real Redis with the
//! very scripts the components run). Values are `<version>:<text>`, so
//! [`version_in_value`] reads the version back.

use crate::model::message_id::MessageId;
use crate::ports::key_value::{KeyValue, Put, PutOutcome};

/// The version of a contract test's value (`<version>:<text>`).
pub fn version_in_value(_key: &str, value: &[u8]) -> Option<MessageId> {
    let text = std::str::from_utf8(value).ok()?;
    Some(MessageId::from(text.split_once(':')?.0))
}

fn put(key: &str, version: &str, text: &str) -> Put {
    Put { key: key.into(), value: format!("{version}:{text}").into_bytes(), version: MessageId::from(version) }
}

fn text(store: &impl KeyValue, key: &str) -> Option<String> {
    store.get(key).unwrap().map(|v| String::from_utf8(v).unwrap())
}

/// Reads, writes, and newest-wins with one writer.
pub fn one_writer(store: &impl KeyValue) {
    assert_eq!(store.get("a#b").unwrap(), None);
    store.set("plain", b"x").unwrap();
    assert_eq!(text(store, "plain").as_deref(), Some("x"));
    store.set_many(&[("m1".into(), b"1".to_vec()), ("m2".into(), b"2".to_vec())]).unwrap();
    assert_eq!(
        store.get_many(&["m2".into(), "none".into(), "m1".into()]).unwrap(),
        [Some(b"2".to_vec()), None, Some(b"1".to_vec())]
    );

    let v5 = MessageId::from("0005");
    assert_eq!(store.put_newest(&[put("a#b", "0005", "five")], version_in_value).unwrap(), [PutOutcome::Written]);
    assert_eq!(text(store, "a#b").as_deref(), Some("0005:five"));
    // A duplicate rewrites the same bytes; an older one is refused and named.
    assert_eq!(store.put_newest(&[put("a#b", "0005", "five")], version_in_value).unwrap(), [PutOutcome::Written]);
    assert_eq!(
        store.put_newest(&[put("a#b", "0003", "three")], version_in_value).unwrap(),
        [PutOutcome::NewerKept(v5.clone())]
    );
    assert_eq!(text(store, "a#b").as_deref(), Some("0005:five"));
    // In one call, in order: a later put to a key sees an earlier one.
    let kept = store
        .put_newest(
            &[put("c#d", "0007", "seven"), put("c#d", "0006", "six"), put("a#b", "0009", "nine")],
            version_in_value,
        )
        .unwrap();
    assert_eq!(kept, [PutOutcome::Written, PutOutcome::NewerKept(MessageId::from("0007")), PutOutcome::Written]);
    assert_eq!(text(store, "c#d").as_deref(), Some("0007:seven"));
    assert_eq!(text(store, "a#b").as_deref(), Some("0009:nine"));
    // A plain write replaces whatever a key holds; a value that is not ours has no
    // version, so the next put replaces it in turn.
    store.set("a#b", b"plain").unwrap();
    assert_eq!(text(store, "a#b").as_deref(), Some("plain"));
    store.set("junk", b"not versioned").unwrap();
    assert_eq!(store.put_newest(&[put("junk", "0001", "one")], version_in_value).unwrap(), [PutOutcome::Written]);
    assert_eq!(store.put_newest(&[], version_in_value).unwrap(), []);
}

/// Several writers at once, each putting increasing and decreasing versions of the
/// same keys: an older write never overwrites a newer one, and each key ends at the
/// newest version anyone wrote. `stores` gives each writer its own handle (its own
/// connection) to the one shared store.
pub fn concurrent_writers<S: KeyValue + Send + 'static>(stores: Vec<S>) {
    let handles: Vec<_> = stores
        .into_iter()
        .enumerate()
        .map(|(w, store)| {
            std::thread::spawn(move || {
                let mut newest = std::collections::BTreeMap::<String, String>::new();
                for round in 0..200u32 {
                    // Writer w puts versions in its own interleaving, some going down.
                    let n = if (round + w as u32) % 3 == 0 { 1000 - round } else { round * 7 + w as u32 };
                    let version = format!("{n:08}");
                    let key = format!("k{}", round % 4);
                    let kept = store.put_newest(&[put(&key, &version, &format!("w{w}"))], version_in_value).unwrap();
                    if let PutOutcome::NewerKept(v) = &kept[0] {
                        assert!(v.as_str() > version.as_str(), "refused for an older version {v}");
                    }
                    let now = store.get(&key).unwrap().and_then(|v| version_in_value(&key, &v)).unwrap();
                    assert!(now.as_str() >= version.as_str(), "{key} went back from {version} to {now}");
                    let slot = newest.entry(key).or_default();
                    if version > *slot {
                        *slot = version;
                    }
                }
                (store, newest)
            })
        })
        .collect();
    let mut newest = std::collections::BTreeMap::<String, String>::new();
    let mut last = None;
    for h in handles {
        let (store, theirs) = h.join().expect("a writer");
        for (k, v) in theirs {
            let slot = newest.entry(k).or_default();
            if v > *slot {
                *slot = v;
            }
        }
        last = Some(store);
    }
    let store = last.expect("at least one writer");
    for (key, version) in newest {
        let held = store.get(&key).unwrap().and_then(|v| version_in_value(&key, &v)).unwrap();
        assert_eq!(held.as_str(), version, "{key} holds the newest version any writer put");
    }
}
