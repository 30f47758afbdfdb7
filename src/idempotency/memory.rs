//! The in-process store.

use std::collections::{BTreeMap, HashMap};
use std::future::{Future, ready};
use std::hash::{BuildHasher as _, RandomState};
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::{Claim, IdempotencyStore, LEASE_GRACE, StoreError, Token, capped};
use crate::replay::{Clock, SystemClock};

/// Expired entries removed per call, from the front of the expiry indexes:
/// enough to keep up with any arrival rate (each call adds at most one
/// entry), small enough to keep every call short.
const SWEEP_PER_CALL: usize = 8;

/// A time as the store keeps it: nanoseconds since the Unix epoch. Every
/// deadline is compared many times per call (a B-tree search compares a
/// few dozen), and an integer compares in one instruction where an
/// `OffsetDateTime` normalizes its offset first.
type Nanos = i128;

/// `now` plus `duration`, saturating (a lease of `Duration::MAX` never ends).
fn after(now: Nanos, duration: Duration) -> Nanos {
    now.saturating_add(Nanos::try_from(duration.as_nanos()).unwrap_or(Nanos::MAX))
}

/// An entry's place in an expiry index: its deadline, then a sequence
/// number that keeps equal deadlines apart.
type Slot = (Nanos, u64);

#[derive(Debug, Clone, Copy)]
enum State {
    Held { nonce: [u8; 16] },
    Completed,
}

#[derive(Debug)]
struct Entry {
    state: State,
    /// A spent single-use value ([`SINGLE_USE`](super::SINGLE_USE)):
    /// evicted last, see [`Entries::make_room`].
    guard: bool,
    /// The end of the lease, or of the retention.
    until: Nanos,
    /// The entry's place in its index: when it may be swept (a held claim
    /// is kept [`LEASE_GRACE`] past its lease so its token can still
    /// complete it).
    slot: Slot,
}

/// A key as the store files it: a 128-bit digest, keyed at random per store
/// (two SipHash-1-3 keyed independently), so that comparisons in the trees
/// are integer comparisons and no key is copied. Keys are chosen by
/// verified deliveries; with random keys nobody can aim for a collision,
/// and an accidental one among 100,000 keys has a probability near 10⁻²⁹.
type Id = u128;

/// Hashes an [`Id`] for the map: it is a keyed digest already, so its low
/// 64 bits serve as they are.
#[derive(Default)]
struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not reached for `u128` keys (`write_u128`); kept total.
        for byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*byte);
        }
    }
    #[allow(clippy::cast_possible_truncation)] // The low half, on purpose.
    fn write_u128(&mut self, id: u128) {
        self.0 = id as u64;
    }
}

/// How many hash tables the map is split into.
const SHARDS: usize = 256;

/// The map from key to entry: hash tables (one lookup, about one cache
/// miss, where a B-tree of 100,000 keys takes several) split into
/// [`SHARDS`] by the key's digest. A hash table full of removals rehashes
/// in place from time to time, and grows by rehashing: each is O(n) under
/// the lock (26 ms at 100,000 keys in one table, measured), but O(n / 256)
/// in one shard (well under a millisecond).
struct Shards {
    tables: Vec<HashMap<Id, Entry, BuildHasherDefault<IdHasher>>>,
    len: usize,
}

impl Default for Shards {
    fn default() -> Self {
        Self {
            tables: (0..SHARDS).map(|_| HashMap::default()).collect(),
            len: 0,
        }
    }
}

impl std::fmt::Debug for Shards {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shards")
            .field("len", &self.len)
            .finish_non_exhaustive()
    }
}

impl Shards {
    #[allow(clippy::cast_possible_truncation)] // The top byte, on purpose.
    fn table(key: Id) -> usize {
        (key >> 120) as usize % SHARDS
    }
    fn get(&self, key: &Id) -> Option<&Entry> {
        self.tables[Self::table(*key)].get(key)
    }
    fn get_mut(&mut self, key: &Id) -> Option<&mut Entry> {
        let table = Self::table(*key);
        self.tables[table].get_mut(key)
    }
    fn remove(&mut self, key: &Id) -> Option<Entry> {
        let table = Self::table(*key);
        let removed = self.tables[table].remove(key);
        self.len -= usize::from(removed.is_some());
        removed
    }
    fn insert(&mut self, key: Id, entry: Entry) {
        let table = Self::table(key);
        if self.tables[table].insert(key, entry).is_none() {
            self.len += 1;
        }
    }
    fn len(&self) -> usize {
        self.len
    }
}

/// The digest's two keyed hashers, shared by a store's clones.
#[derive(Clone, Debug, Default)]
struct Ids(RandomState, RandomState);

impl Ids {
    fn of(&self, key: &str) -> Id {
        (u128::from(self.0.hash_one(key)) << 64) | u128::from(self.1.hash_one(key))
    }
}

/// The map and two expiry indexes, one for held claims and one for
/// completed keys, ordered by deadline. Every operation is O(log n); no
/// call walks the map.
#[derive(Debug, Default)]
struct Entries {
    /// Completed keys (and ended claims) evicted before their time to make
    /// room.
    evicted: u64,
    /// Sharded hash tables: see [`Shards`].
    map: Shards,
    held: BTreeMap<Slot, Id>,
    completed: BTreeMap<Slot, Id>,
    /// Completed single-use values, apart from the other completed keys.
    guards: BTreeMap<Slot, Id>,
    sequence: u64,
}

impl Entries {
    fn index(&mut self, state: State, guard: bool) -> &mut BTreeMap<Slot, Id> {
        match state {
            State::Held { .. } => &mut self.held,
            State::Completed if guard => &mut self.guards,
            State::Completed => &mut self.completed,
        }
    }

    /// The state of `key` if its lease or retention has not ended.
    fn live(&self, key: Id, now: Nanos) -> Option<State> {
        self.map
            .get(&key)
            .filter(|entry| entry.until > now)
            .map(|entry| entry.state)
    }

    /// Whether `token` still holds its key: the nonce matches, and the lease
    /// has not ended more than [`LEASE_GRACE`] ago (nobody took it over).
    fn held_by(&self, key: Id, token: &Token, now: Nanos) -> bool {
        self.map.get(&key).is_some_and(|entry| {
            matches!(entry.state, State::Held { nonce } if nonce == token.nonce)
                && after(entry.until, LEASE_GRACE) > now
        })
    }

    fn remove(&mut self, key: Id) {
        if let Some(entry) = self.map.remove(&key) {
            self.index(entry.state, entry.guard).remove(&entry.slot);
        }
    }

    /// A new entry for `key`, which the caller has just removed.
    fn insert(&mut self, key: Id, state: State, until: Nanos, guard: bool) {
        self.sequence += 1;
        let sweep_at = match state {
            State::Held { .. } => after(until, LEASE_GRACE),
            State::Completed => until,
        };
        let slot = (sweep_at, self.sequence);
        self.index(state, guard).insert(slot, key);
        self.map.insert(
            key,
            Entry {
                state,
                guard,
                until,
                slot,
            },
        );
    }

    /// Marks the held `key` completed in place (no new key, no second
    /// lookup of the map).
    fn complete(&mut self, key: Id, until: Nanos) {
        self.sequence += 1;
        let slot = (until, self.sequence);
        let Some(entry) = self.map.get_mut(&key) else {
            return;
        };
        let old = std::mem::replace(&mut entry.slot, slot);
        let was = std::mem::replace(&mut entry.state, State::Completed);
        let guard = entry.guard;
        entry.until = until;
        if let Some(name) = self.index(was, guard).remove(&old) {
            self.index(State::Completed, guard).insert(slot, name);
        }
    }

    /// Removes up to `budget` expired entries from each index's front.
    fn sweep(&mut self, now: Nanos, budget: usize) {
        for _ in 0..budget {
            let expired = [&self.held, &self.completed, &self.guards]
                .into_iter()
                .filter_map(|index| index.first_key_value())
                .filter(|(slot, _)| slot.0 <= now)
                .map(|(_, key)| *key)
                .next();
            match expired {
                Some(key) => self.remove(key),
                None => break,
            }
        }
    }

    /// Makes room for one more entry: expired entries first, then the
    /// completed key closest to the end of its retention, then the held
    /// claim whose lease ended first (if it ended), and only then a spent
    /// single-use value. Live claims are never evicted.
    ///
    /// Spent single-use values go last because forgetting one early lets a
    /// captured signature carry other events again (Mailgun signs its
    /// token, not the events), where forgetting an event's key only lets a
    /// redelivery be handled twice; and only verified deliveries spend
    /// them, so a flood of other keys (one provider's weak credential, a
    /// burst of traffic) cannot push them out.
    fn make_room(&mut self, capacity: usize, now: Nanos) -> Result<(), StoreError> {
        if self.map.len() < capacity {
            return Ok(());
        }
        self.sweep(now, SWEEP_PER_CALL);
        while self.map.len() >= capacity {
            let victim = self
                .completed
                .first_key_value()
                .or_else(|| {
                    // Held slots are ordered by lease end (plus the same
                    // grace for all), so the first is the earliest lease.
                    self.held
                        .first_key_value()
                        .filter(|(_, key)| self.live(**key, now).is_none())
                })
                .or_else(|| self.guards.first_key_value())
                .map(|(_, key)| *key);
            let Some(key) = victim else {
                return Err(StoreError::Full { capacity });
            };
            self.remove(key);
            self.evicted += 1;
        }
        Ok(())
    }
}

/// An in-memory [`IdempotencyStore`]: bounded, cheap to clone (clones share
/// the same map), for a single process. Several replicas need a shared store.
///
/// Defaults: capacity 100,000 keys, the system clock.
///
/// - **Never refuses for lack of room while anything is completed:** when
///   full, expired entries go first, then the completed keys closest to the
///   end of their retention, then claims whose lease ended, and last the
///   spent single-use values (Mailgun's tokens: forgetting one lets a
///   captured signature carry other events; only verified deliveries spend
///   them, so no flood of other keys pushes them out). Only a store
///   full of *live* claims answers
///   [`StoreError::Full`] (answer with a retryable status: dropping the
///   event is never the store's decision). An evicted completed key is
///   forgotten early: a redelivery after that is processed again, and a
///   captured delivery replayed inside its provider's window is no longer a
///   duplicate. Size the capacity above the events you receive within the
///   longest replay window (73 hours for SendGrid) and watch
///   [`evicted`](Self::evicted) (each key costs about 200 bytes, whatever its
///   length).
/// - **No pauses:** keys live in 256 hash tables by a keyed 128-bit digest
///   (the key itself is not kept), so a rehash touches 1/256 of them;
///   expiry is kept in B-trees; no call walks the map, and each removes at
///   most a few expired entries. `cargo bench --bench store` measures it at
///   capacity: about 1 µs per key claimed and completed, the longest
///   call under a millisecond.
/// - **Never poisoned:** nothing that can panic runs under the lock; times
///   saturate instead of overflowing.
#[derive(Clone)]
pub struct MemoryStore {
    entries: Arc<Mutex<Entries>>,
    ids: Ids,
    capacity: usize,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryStore")
            .field("len", &self.len())
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl Default for MemoryStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryStore {
    /// A store with the defaults.
    #[must_use]
    pub fn new() -> Self {
        Self::with_capacity_and_clock(100_000, Arc::new(SystemClock))
    }

    fn with_capacity_and_clock(capacity: usize, clock: Arc<dyn Clock>) -> Self {
        let capacity = capacity.max(1);
        Self {
            entries: Arc::new(Mutex::new(Entries::default())),
            ids: Ids::default(),
            capacity,
            clock,
        }
    }

    /// Sets the most keys held at once (default 100,000; at least 1).
    /// Entries already stored are dropped.
    #[must_use]
    pub fn with_capacity(self, capacity: usize) -> Self {
        Self::with_capacity_and_clock(capacity, self.clock)
    }

    /// Uses `clock` instead of the system clock (for tests).
    #[must_use]
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Entries currently stored, including expired ones not yet swept.
    #[must_use]
    pub fn len(&self) -> usize {
        self.lock().map(|m| m.map.len()).unwrap_or_default()
    }

    /// How many completed keys (or ended claims) were evicted before the end
    /// of their retention to make room. Each is a redelivery that would now
    /// be processed again, and a replay inside a provider's window that
    /// would no longer be a duplicate: if this grows, raise the capacity
    /// above the events you receive within the longest replay window (73
    /// hours for SendGrid), or use a shared store.
    #[must_use]
    pub fn evicted(&self) -> u64 {
        self.lock().map(|m| m.evicted).unwrap_or_default()
    }

    /// Whether the store holds no entries.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> Result<MutexGuard<'_, Entries>, StoreError> {
        self.entries
            .lock()
            .map_err(|_| StoreError::Backend("the store's lock is poisoned".into()))
    }

    fn begin_now(&self, key: &str, lease: Duration) -> Result<Claim, StoreError> {
        // Everything that allocates a key or reads the clock or the random
        // source happens before the lock.
        let now = self.clock.now().unix_timestamp_nanos();
        let until = after(now, capped(lease));
        let token = Token::new(key)?;
        let id = self.ids.of(&token.key);
        let mut entries = self.lock()?;
        entries.sweep(now, SWEEP_PER_CALL);
        match entries.map.get(&id) {
            Some(entry) if entry.until > now => {
                return Ok(match entry.state {
                    State::Held { .. } => Claim::InProgress,
                    State::Completed => Claim::Completed,
                });
            }
            // Its lease or retention ended: take it over.
            Some(_) => entries.remove(id),
            None => {}
        }
        entries.make_room(self.capacity, now)?;
        let guard = key.starts_with(super::SINGLE_USE);
        entries.insert(id, State::Held { nonce: token.nonce }, until, guard);
        drop(entries);
        Ok(Claim::Acquired(token))
    }

    fn complete_now(&self, token: &Token, retention: Duration) -> Result<(), StoreError> {
        let now = self.clock.now().unix_timestamp_nanos();
        let until = after(now, capped(retention));
        let id = self.ids.of(&token.key);
        let mut entries = self.lock()?;
        if !entries.held_by(id, token, now) {
            return Err(StoreError::StaleToken);
        }
        entries.complete(id, until);
        Ok(())
    }

    fn release_now(&self, token: &Token) -> Result<(), StoreError> {
        let now = self.clock.now().unix_timestamp_nanos();
        let id = self.ids.of(&token.key);
        let mut entries = self.lock()?;
        if !entries.held_by(id, token, now) {
            return Err(StoreError::StaleToken);
        }
        entries.remove(id);
        Ok(())
    }
}

impl IdempotencyStore for MemoryStore {
    fn begin(
        &self,
        key: &str,
        lease: Duration,
    ) -> impl Future<Output = Result<Claim, StoreError>> + Send {
        ready(self.begin_now(key, lease))
    }

    fn complete(
        &self,
        token: &Token,
        retention: Duration,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.complete_now(token, retention))
    }

    fn release(&self, token: &Token) -> impl Future<Output = Result<(), StoreError>> + Send {
        ready(self.release_now(token))
    }
}
