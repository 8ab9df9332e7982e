//! [`ExpiringMap`]: the bounded, expiring memory behind retry de-duplication
//! ([`super::dedup`]) and the replay guard ([`super::seen`]).
//!
//! Entries are kept in insertion order and leave when they expire or, when
//! the map is full, oldest first. An insert is never refused: a push the
//! server has just seen is the one it must remember, whatever it forgets to
//! make room. (A TinyLFU cache such as moka's can refuse a new key when full,
//! because a key seen once looks less popular than the ones it would evict.)
//!
//! Keys are 128-bit keyed hashes ([`KeyHasher`]): entries are small and
//! `Copy`, the map needs no hashing of its own, and nobody outside the
//! process can aim for a collision. Time is whatever `u64` clock the caller
//! uses consistently (milliseconds, unix seconds); it is passed in, so tests
//! need no waiting.

use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher, RandomState};
use std::sync::{Mutex, PoisonError};

/// A 128-bit keyed hash naming one entry.
pub type Key = u128;

/// Hashes anything into a [`Key`], with per-process random keys.
pub struct KeyHasher {
    low: RandomState,
    high: RandomState,
}

impl KeyHasher {
    pub fn new() -> KeyHasher {
        KeyHasher {
            low: RandomState::new(),
            high: RandomState::new(),
        }
    }

    pub fn key(&self, value: impl Hash) -> Key {
        let low = self.low.hash_one(&value);
        let high = self.high.hash_one(&value);
        (u128::from(high) << 64) | u128::from(low)
    }
}

impl Default for KeyHasher {
    fn default() -> Self {
        Self::new()
    }
}

/// Keys are already uniform: the map uses their low 64 bits as its hash.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u128(&mut self, k: u128) {
        self.0 = k as u64;
    }
}

struct Slot<V> {
    value: V,
    expires_at: u64,
    /// Which insertion this is, so a stale queue record never removes a
    /// newer entry of the same key.
    seq: u64,
}

struct Shard<V> {
    map: HashMap<Key, Slot<V>, BuildHasherDefault<PassThrough>>,
    /// (expires_at, key, seq) in insertion order.
    order: VecDeque<(u64, Key, u64)>,
    next_seq: u64,
    capacity: usize,
}

impl<V> Shard<V> {
    /// Drops expired entries from the front. Entries inserted later that
    /// expire earlier wait behind them: an expired entry is never returned
    /// (lookups check), it only holds memory a little longer.
    fn purge(&mut self, now: u64) {
        while let Some(&(expires_at, key, seq)) = self.order.front() {
            if expires_at > now && self.map.len() <= self.capacity {
                break;
            }
            self.order.pop_front();
            if self.map.get(&key).is_some_and(|s| s.seq == seq) {
                self.map.remove(&key);
            }
        }
    }
}

/// A live entry, or the place to insert one.
pub enum Entry<'a, V> {
    Occupied(&'a mut V),
    Vacant(VacantEntry<'a, V>),
}

pub struct VacantEntry<'a, V> {
    shard: &'a mut Shard<V>,
    key: Key,
    now: u64,
}

impl<V> VacantEntry<'_, V> {
    /// Inserts `value` until `expires_at`, evicting the oldest entries if the
    /// map is over capacity.
    pub fn insert(self, value: V, expires_at: u64) {
        let shard = self.shard;
        let seq = shard.next_seq;
        shard.next_seq += 1;
        shard.map.insert(
            self.key,
            Slot {
                value,
                expires_at,
                seq,
            },
        );
        shard.order.push_back((expires_at, self.key, seq));
        shard.purge(self.now);
    }
}

pub struct ExpiringMap<V> {
    shards: Box<[Mutex<Shard<V>>]>,
}

impl<V> ExpiringMap<V> {
    /// A map of at most about `capacity` live entries. Large maps are
    /// sharded (one lock each) so concurrent pushes rarely wait for each
    /// other; small ones are one shard, so "oldest first" is exact.
    pub fn new(capacity: usize) -> ExpiringMap<V> {
        let shards = (capacity / 4096).clamp(1, 16);
        let per_shard = capacity.div_ceil(shards).max(1);
        ExpiringMap {
            shards: (0..shards)
                .map(|_| {
                    Mutex::new(Shard {
                        map: HashMap::default(),
                        order: VecDeque::new(),
                        next_seq: 0,
                        capacity: per_shard,
                    })
                })
                .collect(),
        }
    }

    /// Runs `f` on the live entry of `key` at `now`, or on the place to
    /// insert one, under its shard's lock (keep `f` short and non-blocking).
    pub fn entry<R>(&self, key: Key, now: u64, f: impl FnOnce(Entry<'_, V>) -> R) -> R {
        let index = ((key >> 64) as usize) % self.shards.len();
        let mut shard = self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let shard = &mut *shard;
        shard.purge(now);
        match shard.map.get_mut(&key) {
            Some(slot) if slot.expires_at > now => f(Entry::Occupied(&mut slot.value)),
            _ => f(Entry::Vacant(VacantEntry { shard, key, now })),
        }
    }

    /// A copy of the live value of `key` at `now`.
    pub fn get(&self, key: Key, now: u64) -> Option<V>
    where
        V: Clone,
    {
        self.entry(key, now, |e| match e {
            Entry::Occupied(v) => Some(v.clone()),
            Entry::Vacant(_) => None,
        })
    }

    /// Live entries (and expired ones not yet dropped).
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.lock().unwrap_or_else(PoisonError::into_inner).map.len())
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn insert(m: &ExpiringMap<u32>, key: Key, value: u32, now: u64, expires_at: u64) -> bool {
        m.entry(key, now, |e| match e {
            Entry::Occupied(_) => false,
            Entry::Vacant(v) => {
                v.insert(value, expires_at);
                true
            }
        })
    }

    #[test]
    fn a_full_map_always_takes_a_new_entry_and_forgets_the_oldest() {
        let m = ExpiringMap::new(10);
        for k in 0..10u128 {
            assert!(insert(&m, k, k as u32, 0, 1000));
        }
        // Looked up often, the old entries would win a popularity contest.
        for _ in 0..20 {
            for k in 0..10u128 {
                assert!(m.get(k, 1).is_some());
            }
        }
        for k in 10..25u128 {
            assert!(insert(&m, k, k as u32, 2, 1000), "{k}");
            assert_eq!(m.get(k, 2), Some(k as u32), "{k} is remembered");
            assert!(m.len() <= 10);
            assert_eq!(m.get(k - 10, 2), None, "{} is the oldest", k - 10);
        }
    }

    #[test]
    fn entries_expire_and_a_key_can_be_inserted_again() {
        let m = ExpiringMap::new(100);
        assert!(insert(&m, 7, 1, 0, 10));
        assert!(!insert(&m, 7, 2, 9, 20), "still live at 9");
        assert_eq!(m.get(7, 10), None, "expired at 10");
        assert!(insert(&m, 7, 3, 10, 30));
        // The first insertion's queue record must not remove the second.
        assert!(insert(&m, 8, 4, 25, 40));
        assert_eq!(m.get(7, 25), Some(3));
        assert_eq!(m.get(7, 30), None);
        assert!(m.len() <= 1, "expired entries are dropped as time passes");
    }

    #[test]
    fn later_entries_that_expire_sooner_are_never_returned_expired() {
        let m = ExpiringMap::new(100);
        assert!(insert(&m, 1, 1, 0, 100));
        assert!(insert(&m, 2, 2, 0, 5));
        assert_eq!(m.get(2, 5), None);
        assert_eq!(m.get(1, 5), Some(1));
    }

    #[test]
    fn key_hashes_tell_values_apart() {
        let h = KeyHasher::new();
        assert_eq!(h.key(("a", 1)), h.key(("a", 1)));
        assert_ne!(h.key(("a", 1)), h.key(("a", 2)));
        assert_ne!(h.key(("ab", "c")), h.key(("a", "bc")));
        assert_ne!(KeyHasher::new().key("a"), h.key("a"));
    }
}
