//! Which partition of the orders topic an order goes to: the partition of its
//! `accountid`, so one account's orders stay in one partition's order, and a topic of
//! `P` partitions spreads accounts evenly over `P` independent servers.
//!
//! **The hash, written down** so that any implementation computes the same partition,
//! whatever its libraries (no `std::hash`, whose output may change between releases):
//!
//! 1. `h` = FNV-1a, 64 bits, over the `accountid`'s UTF-8 bytes: start from
//!    `0xcbf29ce484222325`; for each byte, `h = (h XOR byte) * 0x100000001b3` (mod 2^64).
//! 2. The partition is Lamping and Veach's jump consistent hash of `h` into `P` buckets
//!    ("A Fast, Minimal Memory, Consistent Hash Algorithm", 2014):
//!
//!    ```text
//!    b = -1, j = 0
//!    while j < P:
//!        b = j
//!        h = h * 2862933555777941757 + 1             (mod 2^64)
//!        j = floor((b + 1) * 2^31 / ((h >> 33) + 1))  (IEEE 754 doubles)
//!    partition = b
//!    ```
//!
//! Test vectors are in this file's tests (`the_hash_is_the_one_written_down`).
//!
//! **Why a jump hash, not `h mod P`:** when `P` grows by one, only the accounts that
//! must move do (about `1/(P+1)` of them), and they all move to the new partition;
//! `mod P` would move almost every account. So changing `P` leaves most accounts'
//! idempotency records and backlogs where they are. Partitions can only be added or
//! removed at the end of the list.

/// The most partitions a topic may have (see `docs/scaling.md`: each is a host every
/// component that reaches the topic must be allowed).
pub const MAX_PARTITIONS: u32 = 4;

/// FNV-1a, 64 bits.
pub fn fnv1a_64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

/// Lamping and Veach's jump consistent hash of `key` into `buckets` buckets (at least 1).
pub fn jump_hash(mut key: u64, buckets: u32) -> u32 {
    assert!(buckets >= 1, "a topic has at least one partition");
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b as u32
}

/// The partition (0 to `partitions - 1`) of the account `accountid`.
pub fn partition_of(accountid: &str, partitions: u32) -> u32 {
    jump_hash(fnv1a_64(accountid.as_bytes()), partitions)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_one_written_down() {
        // FNV-1a's published vectors.
        assert_eq!(fnv1a_64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a_64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a_64(b"foobar"), 0x8594_4171_f739_67e8);
        // Jump hash and the whole rule, as computed by a Python transcription of the
        // paper's C++ code (not this one).
        assert_eq!([0, 1, 0xdead_beef, u64::MAX].map(|k| jump_hash(k, 1000)), [0, 549, 285, 313]);
        let accounts = ["a0", "account1", "acct-42", "a", "Z.z_9-"];
        let vectors: Vec<(&str, [u32; 4])> =
            accounts.into_iter().map(|a| (a, [1, 2, 3, 4].map(|p| partition_of(a, p)))).collect();
        assert_eq!(
            vectors,
            vec![
                ("a0", [0, 1, 1, 1]),
                ("account1", [0, 0, 0, 0]),
                ("acct-42", [0, 0, 0, 0]),
                ("a", [0, 1, 2, 2]),
                ("Z.z_9-", [0, 1, 1, 1]),
            ]
        );
    }

    #[test]
    fn one_partition_takes_every_account() {
        for a in ["a", "account1", "x".repeat(64).as_str()] {
            assert_eq!(partition_of(a, 1), 0);
        }
    }

    #[test]
    fn accounts_spread_evenly_over_three_partitions() {
        let mut counts = [0u32; 3];
        for i in 0..3000 {
            counts[partition_of(&format!("account-{i:05}"), 3) as usize] += 1;
        }
        assert!(counts.iter().all(|c| *c < 1200), "none with more than 40 %: {counts:?}");
        assert!(counts.iter().all(|c| *c > 800), "none with less than 27 %: {counts:?}");
    }

    #[test]
    fn adding_a_partition_moves_only_its_share_and_only_to_it() {
        let accounts: Vec<String> = (0..3000).map(|i| format!("acct{i}")).collect();
        let moved: Vec<&String> = accounts.iter().filter(|a| partition_of(a, 2) != partition_of(a, 3)).collect();
        assert!(moved.iter().all(|a| partition_of(a, 3) == 2), "a moved account goes to the new partition");
        let share = moved.len() as f64 / accounts.len() as f64;
        assert!((0.28..0.39).contains(&share), "about a third moves: {share}");
    }
}
