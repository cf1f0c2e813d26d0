//! Which items of a pmap call go where, as a pure state machine (no I/O, no clock), so that
//! its promises can be tested alone: every item is handed out until one result for it is taken,
//! each result is taken once (later duplicates are dropped), and the items held by a worker
//! that is gone, or that its beats stop listing (a batch or a result lost on the way), go back
//! to the queue, first in line.
//!
//! Batches follow guided self-scheduling: a share of what is left that shrinks as the queue
//! does, so that large batches keep messages few at the start and small ones balance the end.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};

/// A holder of items: [`LOCAL`] (the master's own threads) or a worker.
pub type Id = u64;
pub const LOCAL: Id = 0;

/// How many beats in a row may leave out an item a worker holds before it goes back to the
/// queue (a result just sent is left out of a beat or two). Beats that cannot know of the item
/// yet (sent before its batch came) do not count: see [`Schedule::beat`].
pub const LEASE_MISSES: u8 = 3;

/// The largest batch, whatever is left.
pub const MAX_BATCH: usize = 1024;

/// The batch for `free` threads when `remaining` items are queued and `total` threads are known:
/// `ceil(remaining × free / (2 × total))`, clamped to [1, MAX_BATCH] and to what is queued.
pub fn guided(remaining: usize, free: usize, total: usize) -> usize {
    if remaining == 0 || free == 0 {
        return 0;
    }
    (remaining * free).div_ceil(2 * total.max(1)).clamp(1, MAX_BATCH).min(remaining)
}

pub struct Schedule {
    /// Items not handed out, or handed back.
    queue: VecDeque<usize>,
    /// Who holds each item now (None: queued, or done).
    holder: Vec<Option<Id>>,
    /// The same by holder, so that a beat looks at its worker's items only.
    held: HashMap<Id, BTreeSet<usize>>,
    /// Beats in a row that have left the item out.
    misses: Vec<u8>,
    /// The number of the batch each item went out in, counted per worker from 1.
    batch_of: Vec<u64>,
    batches: HashMap<Id, u64>,
    done: Vec<bool>,
    left: usize,
    threads: HashMap<Id, usize>,
    /// Threads the world will have once everyone has come (see [`Schedule::expect`]).
    expected: usize,
}

impl Schedule {
    /// A call of `n` items; the master's own threads are already known.
    pub fn new(n: usize, local_threads: usize) -> Schedule {
        let mut threads = HashMap::new();
        if local_threads > 0 {
            threads.insert(LOCAL, local_threads);
        }
        Schedule { queue: (0..n).collect(), holder: vec![None; n], held: HashMap::new(), misses: vec![0; n], batch_of: vec![0; n], batches: HashMap::new(), done: vec![false; n], left: n, threads, expected: 0 }
    }

    /// A worker has come (or says again how many threads it has).
    pub fn join(&mut self, id: Id, threads: usize) {
        self.threads.insert(id, threads.max(1));
    }

    /// The threads of every rank of the world, come or not: batches are sized for them from the
    /// start. Otherwise whoever is first takes half of everything before the others have joined,
    /// and they wait for it at the end.
    pub fn expect(&mut self, threads: usize) {
        self.expected = threads;
    }

    pub fn total_threads(&self) -> usize {
        self.threads.values().sum::<usize>().max(self.expected).max(1)
    }

    /// A batch for `id`'s `free` threads (empty: nothing is queued now); its number is then
    /// [`Schedule::last_batch`].
    pub fn take(&mut self, id: Id, free: usize) -> Vec<usize> {
        let size = guided(self.queue.len(), free, self.total_threads());
        let mut batch = Vec::with_capacity(size);
        let number = self.batches.get(&id).copied().unwrap_or(0) + 1;
        while batch.len() < size {
            let Some(i) = self.queue.pop_front() else { break };
            // A late result may have finished an item that was handed back.
            if !self.done[i] {
                self.holder[i] = Some(id);
                self.misses[i] = 0;
                self.batch_of[i] = number;
                batch.push(i);
            }
        }
        if !batch.is_empty() {
            self.batches.insert(id, number);
            self.held.entry(id).or_default().extend(batch.iter().copied());
        }
        batch
    }

    /// The number of the last batch handed to `id` (0: none yet).
    pub fn last_batch(&self, id: Id) -> u64 {
        self.batches.get(&id).copied().unwrap_or(0)
    }

    /// A result for item `index` has come: true if it is the first (keep it), false for a
    /// duplicate or an index out of range (drop it).
    pub fn finish(&mut self, index: usize) -> bool {
        match self.done.get_mut(index) {
            Some(done) if !*done => {
                *done = true;
                if let Some(id) = self.holder[index].take() {
                    if let Some(set) = self.held.get_mut(&id) {
                        set.remove(&index);
                    }
                }
                self.left -= 1;
                true
            }
            _ => false,
        }
    }

    /// `id` is presumed dead: the items it held go back to the front of the queue. Gives how
    /// many.
    pub fn gone(&mut self, id: Id) -> usize {
        self.threads.remove(&id);
        let held: Vec<usize> = self.held.remove(&id).unwrap_or_default().into_iter().collect();
        self.requeue(&held)
    }

    /// `id`'s beat lists what it holds: items handed to it that [`LEASE_MISSES`] beats in a row
    /// have left out are lost on the way and go back to the front of the queue. Gives how many.
    ///
    /// Only items of batches up to number `upto` count: the last batch the worker says it got,
    /// or a later one the master has waited too long to hear of (lost on the way). A beat sent
    /// before a batch came says nothing of it, and a master slow to read its beats would
    /// otherwise hand that batch out again.
    pub fn beat(&mut self, id: Id, holding: &HashSet<usize>, upto: u64) -> usize {
        let mut lost = Vec::new();
        for &i in self.held.get(&id).into_iter().flatten() {
            if holding.contains(&i) {
                self.misses[i] = 0;
            } else if self.batch_of[i] <= upto {
                self.misses[i] += 1;
                if self.misses[i] >= LEASE_MISSES {
                    lost.push(i);
                }
            }
        }
        if let Some(set) = self.held.get_mut(&id) {
            for i in &lost {
                set.remove(i);
            }
        }
        self.requeue(&lost)
    }

    /// Items back to the front of the queue, in their order (taken from their holder's set).
    fn requeue(&mut self, items: &[usize]) -> usize {
        for &i in items.iter().rev() {
            self.holder[i] = None;
            self.misses[i] = 0;
            self.queue.push_front(i);
        }
        items.len()
    }

    pub fn is_done(&self) -> bool {
        self.left == 0
    }

    /// Items not done yet.
    #[cfg(test)]
    pub fn left(&self) -> usize {
        self.left
    }
}

/// What the master does with a worker's ask for call `ask` (0: any call), when `current` is
/// the call it is in (if any) and `finished` the last call it completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The worker is behind: that call is over.
    Over,
    /// To the call being run.
    Forward,
    /// The worker is ahead (or asks for any call and none is on): it waits for that call.
    Park,
}

pub fn route(ask: u64, current: Option<u64>, finished: u64) -> Route {
    match (ask, current) {
        (0, Some(_)) => Route::Forward,
        (0, None) => Route::Park,
        (k, _) if k <= finished => Route::Over,
        (k, Some(c)) if k == c => Route::Forward,
        _ => Route::Park,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_item_a_workers_beats_leave_out_goes_back_and_its_late_result_still_counts() {
        let mut s = Schedule::new(8, 0);
        s.join(7, 1);
        s.join(8, 1);
        let batch = s.take(7, 1);
        assert_eq!(batch, vec![0, 1]);
        let holding: HashSet<usize> = [1].into();
        // Item 0 never arrived: left out of beat after beat, it goes back after LEASE_MISSES.
        for _ in 1..LEASE_MISSES {
            assert_eq!(s.beat(7, &holding, 1), 0);
        }
        assert_eq!(s.beat(7, &holding, 1), 1);
        assert_eq!(s.take(8, 1)[0], 0, "first in line");
        // Worker 7's late result for 0 is still good (first one in); 8's is then a duplicate.
        assert!(s.finish(0));
        assert!(!s.finish(0));
        assert!(s.finish(1));
        assert_eq!(s.left(), 6);
        // Nothing of 7's is left to lose, and 8's items are its own.
        assert_eq!(s.beat(7, &HashSet::new(), 1), 0);
        assert_eq!(s.gone(8), 1, "item 2 (0 is done)");
    }

    #[test]
    fn beats_sent_before_a_batch_came_do_not_hand_it_out_again() {
        let mut s = Schedule::new(8, 0);
        s.join(7, 1);
        s.join(8, 1);
        assert_eq!(s.take(7, 1), vec![0, 1]);
        assert_eq!(s.last_batch(7), 1);
        assert_eq!(s.take(7, 1), vec![2, 3]);
        assert_eq!(s.last_batch(7), 2);
        // A stalled master reads many beats at once, all sent before either batch came.
        for _ in 0..10 {
            assert_eq!(s.beat(7, &HashSet::new(), 0), 0);
        }
        // The worker has batch 1 (holds 0 and 1); batch 2 is on its way: nothing goes back.
        let holding: HashSet<usize> = [0, 1].into();
        for _ in 0..10 {
            assert_eq!(s.beat(7, &holding, 1), 0);
        }
        // Batch 2 overdue (the master waited too long to hear of it): 2 and 3 go back, once.
        for _ in 1..LEASE_MISSES {
            assert_eq!(s.beat(7, &holding, 2), 0);
        }
        assert_eq!(s.beat(7, &holding, 2), 2);
        assert_eq!(s.beat(7, &holding, 2), 0);
        assert_eq!(s.take(7, 1), vec![2, 3], "first in line, in batch 3");
        assert_eq!(s.last_batch(7), 3);
    }

    #[test]
    fn batches_shrink_as_the_queue_does() {
        assert_eq!(guided(20_000, 1, 4), 1024);
        assert_eq!(guided(1000, 1, 4), 125);
        assert_eq!(guided(1000, 2, 4), 250);
        assert_eq!(guided(7, 1, 4), 1);
        assert_eq!(guided(1, 8, 2), 1);
        assert_eq!(guided(0, 1, 4), 0);
        assert_eq!(guided(5, 0, 4), 0);
        // A schedule hands out every item once, in shrinking batches.
        let mut s = Schedule::new(1000, 2);
        s.join(1, 2);
        let mut sizes = Vec::new();
        let mut seen = vec![false; 1000];
        loop {
            let batch = s.take(if sizes.len() % 2 == 0 { LOCAL } else { 1 }, 1);
            if batch.is_empty() {
                break;
            }
            sizes.push(batch.len());
            for i in batch {
                assert!(!std::mem::replace(&mut seen[i], true), "item {i} handed out twice");
            }
        }
        assert!(seen.iter().all(|&s| s));
        assert_eq!(sizes[0], 125);
        assert!(sizes.windows(2).all(|w| w[0] >= w[1]), "{sizes:?}");
        assert_eq!(*sizes.last().unwrap(), 1);
    }

    #[test]
    fn each_result_is_taken_once() {
        let mut s = Schedule::new(10, 1);
        s.join(7, 1);
        let a = s.take(7, 1);
        assert!(!a.is_empty());
        assert!(s.finish(a[0]));
        assert!(!s.finish(a[0]), "a duplicate is dropped");
        assert!(!s.finish(99), "an index out of range is dropped");
        assert_eq!(s.left(), 9);
    }

    #[test]
    fn the_first_to_come_does_not_take_the_share_of_those_still_coming() {
        let mut s = Schedule::new(40, 1);
        assert_eq!(s.take(LOCAL, 1).len(), 20, "alone, half of what is left");
        let mut s = Schedule::new(40, 1);
        s.expect(2);
        assert_eq!(s.take(LOCAL, 1).len(), 10, "a quarter: a second rank is on its way");
        s.join(5, 1);
        assert_eq!(s.take(5, 1).len(), 8);
    }

    #[test]
    fn a_dead_workers_items_go_to_the_others_and_late_results_count_once() {
        let mut s = Schedule::new(100, 1);
        s.join(1, 1);
        s.join(2, 1);
        let held = s.take(1, 1);
        let first = held[0];
        // Worker 1 finished one item, then went silent.
        assert!(s.finish(first));
        assert_eq!(s.gone(1), held.len() - 1);
        assert_eq!(s.total_threads(), 2);
        // Its other items are first in line for the next taker.
        let again = s.take(2, 1);
        assert_eq!(again[0], held[1]);
        // Worker 1 was only slow: its late result for held[1] is taken, worker 2's is dropped.
        assert!(s.finish(held[1]));
        assert!(!s.finish(held[1]));
        // Everyone finishes everything; every item is done once.
        let mut taken = 2;
        for &i in &again[1..] {
            taken += s.finish(i) as usize;
        }
        loop {
            let b = s.take(LOCAL, 1);
            if b.is_empty() {
                break;
            }
            for i in b {
                assert!(s.finish(i));
                taken += 1;
            }
        }
        // The rest of worker 1's batch came back through the queue, not lost.
        for &i in &held[2..] {
            assert!(!s.finish(i));
        }
        assert_eq!(taken, 100);
        assert!(s.is_done());
    }

    #[test]
    fn a_handed_back_item_that_finished_late_is_not_handed_out_again() {
        let mut s = Schedule::new(3, 0);
        s.join(1, 1);
        s.join(2, 1);
        let b = s.take(1, 1);
        assert_eq!(b, vec![0]);
        s.gone(1);
        assert!(s.finish(0));
        let rest: Vec<usize> = std::iter::from_fn(|| Some(s.take(2, 1)).filter(|b| !b.is_empty())).flatten().collect();
        assert_eq!(rest, vec![1, 2]);
    }

    #[test]
    fn calls_are_routed_by_number() {
        // In call 3 (2 done): call 1 and 2 are over, 3 goes on, 4 waits; 0 is any call.
        assert_eq!(route(1, Some(3), 2), Route::Over);
        assert_eq!(route(2, Some(3), 2), Route::Over);
        assert_eq!(route(3, Some(3), 2), Route::Forward);
        assert_eq!(route(4, Some(3), 2), Route::Park);
        assert_eq!(route(0, Some(3), 2), Route::Forward);
        // Between calls: 3 is over, 4 waits for the master to reach it.
        assert_eq!(route(3, None, 3), Route::Over);
        assert_eq!(route(4, None, 3), Route::Park);
        assert_eq!(route(0, None, 3), Route::Park);
    }
}
