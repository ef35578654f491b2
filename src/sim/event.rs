//! The engine's events and the queue that orders them.
//!
//! Ordering contract: events are processed by (time, insertion sequence), so two events at
//! the same nanosecond run in the order they were scheduled. An event is packed into one
//! `u64` (kind, a 24-bit generation, a 32-bit id) so a queue entry is three integers.

use std::collections::VecDeque;

/// Something that happens at an instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// A tick of open-loop load `load`.
    Arrival {
        load: u32,
    },
    /// A closed-loop connection sends its next request.
    ConnectionSend {
        conn: u32,
    },
    /// A call reaches the station of its current step.
    Reach {
        call: u32,
    },
    /// A task's CPU work is done (its node is not contended: the task has its own event).
    TaskDone {
        task: u32,
        gen: u32,
    },
    /// A contended node's CPU bookkeeping has something due.
    NodeCpu {
        node: u32,
    },
    /// An application request's off-CPU wait is over.
    WaitDone {
        call: u32,
    },
    /// A call's response (or error) is back at its caller.
    Response {
        call: u32,
    },
    /// A call's timeout; stale when the call's generation moved on.
    Timeout {
        call: u32,
        gen: u32,
    },
    FaultStart {
        fault: u32,
    },
    FaultEnd {
        fault: u32,
    },
    HogStart {
        hog: u32,
    },
    HogEnd {
        hog: u32,
    },
    /// A background job arrives at the stations of background load `load`.
    BackgroundArrival {
        load: u32,
    },
    /// The measurement window opens (0) or closes (1): CPU counters are read.
    WindowMark {
        mark: u32,
    },
}

const GEN_MASK: u32 = 0xff_ffff;

impl Event {
    fn kind(self) -> u64 {
        match self {
            Event::Arrival { .. } => 0,
            Event::ConnectionSend { .. } => 1,
            Event::Reach { .. } => 2,
            Event::TaskDone { .. } => 3,
            Event::NodeCpu { .. } => 4,
            Event::WaitDone { .. } => 5,
            Event::Response { .. } => 6,
            Event::Timeout { .. } => 7,
            Event::FaultStart { .. } => 8,
            Event::FaultEnd { .. } => 9,
            Event::HogStart { .. } => 10,
            Event::HogEnd { .. } => 11,
            Event::BackgroundArrival { .. } => 12,
            Event::WindowMark { .. } => 13,
        }
    }

    /// Pack into kind (8 bits) | generation (24 bits) | id (32 bits).
    #[inline(always)]
    pub fn pack(self) -> u64 {
        let (id, gen) = match self {
            Event::Arrival { load: id }
            | Event::ConnectionSend { conn: id }
            | Event::Reach { call: id }
            | Event::NodeCpu { node: id }
            | Event::WaitDone { call: id }
            | Event::Response { call: id }
            | Event::FaultStart { fault: id }
            | Event::FaultEnd { fault: id }
            | Event::HogStart { hog: id }
            | Event::HogEnd { hog: id }
            | Event::BackgroundArrival { load: id }
            | Event::WindowMark { mark: id } => (id, 0),
            Event::TaskDone { task: id, gen } | Event::Timeout { call: id, gen } => (id, gen),
        };
        (self.kind() << 56) | (u64::from(gen & GEN_MASK) << 32) | u64::from(id)
    }

    #[inline]
    pub fn unpack(p: u64) -> Event {
        let id = (p & 0xffff_ffff) as u32;
        let gen = ((p >> 32) as u32) & GEN_MASK;
        match p >> 56 {
            0 => Event::Arrival { load: id },
            1 => Event::ConnectionSend { conn: id },
            2 => Event::Reach { call: id },
            3 => Event::TaskDone { task: id, gen },
            4 => Event::NodeCpu { node: id },
            5 => Event::WaitDone { call: id },
            6 => Event::Response { call: id },
            7 => Event::Timeout { call: id, gen },
            8 => Event::FaultStart { fault: id },
            9 => Event::FaultEnd { fault: id },
            10 => Event::HogStart { hog: id },
            11 => Event::HogEnd { hog: id },
            12 => Event::BackgroundArrival { load: id },
            _ => Event::WindowMark { mark: id },
        }
    }
}

/// The generation of a counter as events carry it (24 bits).
#[inline]
pub fn gen24(gen: u32) -> u32 {
    gen & GEN_MASK
}

/// A heap entry: (time ns, insertion sequence, packed event), ordered by (time, sequence)
/// alone, earliest first (the sequence is unique, so the event never decides), compared as
/// one 128-bit integer.
#[derive(Clone, Copy, Debug)]
struct Entry(u64, u64, u64);

impl Entry {
    #[inline(always)]
    fn key(&self) -> u128 {
        (u128::from(self.0) << 64) | u128::from(self.1)
    }
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
    #[inline(always)]
    fn lt(&self, other: &Self) -> bool {
        other.key() < self.key()
    }
    #[inline(always)]
    fn le(&self, other: &Self) -> bool {
        other.key() <= self.key()
    }
}
impl Ord for Entry {
    #[inline(always)]
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        // Reversed: the standard library's heap pops its largest.
        other.key().cmp(&self.key())
    }
}

/// Events by (time, insertion sequence): a binary heap of (time, sequence, event), and a FIFO
/// lane for events due at the current instant (they skip the heap). The lane keeps the total
/// order: an event already in the heap for this instant was scheduled before we reached it,
/// so before anything in the lane. Entries compare as one 128-bit (time, sequence) integer:
/// 1.6–1.8% fewer engine instructions on Faces at 1200 rps under callgrind than comparing a
/// (time, sequence, event) tuple. A popped event stays at the heap's top until the next push
/// into the heap replaces it: most events schedule one more, so a pop and a push cost one sift
/// down (3.2% fewer engine instructions on Faces ambient, 3.5% on sidecar, 5.4% on none, at
/// 1200 rps). Measured and not kept, each against this heap: a 4-ary heap
/// (5% more instructions on the 10-station tandem); a radix heap on time (9% more on Faces
/// ambient at 1200 rps: events move down its buckets ~10 times each at ns resolution); a wheel
/// of 4.096 µs buckets over the next 16.8 ms in front of the heap (1.5% fewer instructions,
/// no faster in wall time); an entry held outside the heap when earlier than all of it (5% more);
/// on Faces ambient, against replacing the popped top: entries kept sorted in an array while
/// fewer than 96 wait (the queue averages 21; 0.6% more), a hand-written binary heap that
/// sifts to the bottom then up (4% more), replacing the top by a push then a pop (3% more).
#[derive(Debug, Default)]
pub struct EventQueue {
    heap: std::collections::BinaryHeap<Entry>,
    /// The heap's top is the event last popped, left in place: the next push into the heap
    /// takes its slot (one sift down instead of a pop's sift to the bottom and back up, then
    /// the push's sift up), and anything else removes it first.
    top_popped: bool,
    lane: VecDeque<u64>,
    now: u64,
    seq: u64,
}

impl EventQueue {
    pub fn with_capacity(n: usize) -> EventQueue {
        EventQueue {
            heap: std::collections::BinaryHeap::with_capacity(n),
            top_popped: false,
            lane: VecDeque::with_capacity(64),
            now: 0,
            seq: 0,
        }
    }

    // Always inlined, so the event's packing folds to a constant at each call site: 3% fewer
    // engine instructions on Faces at 1200 rps than a call.
    #[inline(always)]
    pub fn push(&mut self, at_ns: u64, e: Event) {
        self.seq += 1;
        if at_ns <= self.now {
            self.lane.push_back(e.pack());
            return;
        }
        let entry = Entry(at_ns, self.seq, e.pack());
        if self.top_popped {
            self.top_popped = false;
            if let Some(mut top) = self.heap.peek_mut() {
                *top = entry;
                return;
            }
        }
        self.heap.push(entry);
    }

    /// Remove the popped event still at the heap's top.
    #[inline]
    fn settle_top(&mut self) {
        if self.top_popped {
            self.top_popped = false;
            self.heap.pop();
        }
    }

    /// Schedule a CPU wake-up.
    #[inline]
    pub fn push_wake(&mut self, w: super::cpu::CpuWake) {
        match w {
            super::cpu::CpuWake::Task { task, gen, at_ns } => self.push(at_ns, Event::TaskDone { task, gen }),
            super::cpu::CpuWake::Node { node, at_ns } => self.push(at_ns, Event::NodeCpu { node }),
        }
    }

    #[inline]
    pub fn pop(&mut self) -> Option<(u64, Event)> {
        self.settle_top();
        let heap_now = self.heap.peek().is_some_and(|r| r.0 == self.now);
        if !heap_now {
            if let Some(p) = self.lane.pop_front() {
                return Some((self.now, Event::unpack(p)));
            }
        }
        let Entry(t, _, p) = *self.heap.peek()?;
        self.top_popped = true;
        self.now = t;
        Some((t, Event::unpack(p)))
    }

    /// Whether no event is due at the current instant: one scheduled for now would be the
    /// next popped.
    #[inline]
    pub fn nothing_due_now(&mut self) -> bool {
        self.settle_top();
        self.lane.is_empty() && self.heap.peek().is_none_or(|r| r.0 > self.now)
    }

    /// Events waiting (stale ones included, until they are popped).
    #[inline]
    pub fn len(&self) -> usize {
        self.heap.len() - usize::from(self.top_popped) + self.lane.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_survives_packing() {
        let all = [
            Event::Arrival { load: 7 },
            Event::ConnectionSend { conn: u32::MAX },
            Event::Reach { call: 1 },
            Event::TaskDone { task: 3, gen: 0xff_ffff },
            Event::NodeCpu { node: 2 },
            Event::WaitDone { call: 9 },
            Event::Response { call: 10 },
            Event::Timeout { call: 11, gen: 5 },
            Event::FaultStart { fault: 0 },
            Event::FaultEnd { fault: 1 },
            Event::HogStart { hog: 2 },
            Event::HogEnd { hog: 3 },
            Event::BackgroundArrival { load: 4 },
            Event::WindowMark { mark: 1 },
        ];
        for e in all {
            assert_eq!(Event::unpack(e.pack()), e);
        }
    }

    #[test]
    fn the_queue_orders_like_a_sort_by_time_then_sequence() {
        // Offsets from the current instant of a few ns (many ties), up to ms, and up to the
        // end of time.
        for spread in [50u64, 5_000_000, u64::MAX / 4] {
            queue_orders_like_a_sort(spread);
        }
    }

    /// Random pushes, some at the current instant, interleaved with pops, then the rest
    /// popped: the pops must come out as (time, sequence) sorting says.
    fn queue_orders_like_a_sort(spread: u64) {
        let mut q = EventQueue::default();
        let mut reference: Vec<(u64, u64, u32)> = Vec::new();
        let (mut seq, mut now, mut x) = (0u64, 0u64, 99u64);
        let mut popped = Vec::new();
        let mut expected = Vec::new();
        for i in 0..20_000u32 {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            if x >> 62 == 0 && !reference.is_empty() {
                reference.sort();
                let (t, _, id) = reference.remove(0);
                expected.push((t, id));
                let (pt, e) = q.pop().unwrap();
                now = pt;
                popped.push((
                    pt,
                    match e {
                        Event::Reach { call } => call,
                        _ => unreachable!(),
                    },
                ));
            } else {
                let at = now.saturating_add(if x >> 61 & 1 == 0 { 0 } else { (x >> 8) % spread });
                seq += 1;
                reference.push((at, seq, i));
                q.push(at, Event::Reach { call: i });
            }
            assert_eq!(q.len(), reference.len(), "events waiting");
        }
        reference.sort();
        expected.extend(reference.iter().map(|&(t, _, id)| (t, id)));
        while let Some((t, Event::Reach { call })) = q.pop() {
            popped.push((t, call));
        }
        assert!(q.is_empty());
        assert_eq!(popped, expected);
    }

    #[test]
    fn nothing_is_due_now_exactly_when_an_event_for_now_would_be_the_next_popped() {
        let mut q = EventQueue::default();
        assert!(q.nothing_due_now());
        q.push(5, Event::Reach { call: 1 });
        assert!(q.nothing_due_now(), "due later");
        q.pop();
        q.push(5, Event::Reach { call: 2 });
        assert!(!q.nothing_due_now(), "one in the lane");
        q.pop();
        assert!(q.nothing_due_now());
        q.push(7, Event::Reach { call: 3 });
        q.push(7, Event::Reach { call: 4 });
        q.pop();
        assert!(!q.nothing_due_now(), "one in the heap for this instant");
        q.pop();
        assert!(q.nothing_due_now());
    }

    #[test]
    fn ties_in_time_keep_insertion_order() {
        let mut q = EventQueue::default();
        q.push(5, Event::Reach { call: 2 });
        q.push(3, Event::Reach { call: 9 });
        q.push(5, Event::Reach { call: 1 });
        assert_eq!(q.pop(), Some((3, Event::Reach { call: 9 })));
        assert_eq!(q.pop(), Some((5, Event::Reach { call: 2 })));
        assert_eq!(q.pop(), Some((5, Event::Reach { call: 1 })));
        assert!(q.is_empty());
    }
}
