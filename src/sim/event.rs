//! The engine's events and the queue that orders them.
//!
//! Ordering contract: events are processed by (time, insertion sequence), so two events at
//! the same nanosecond run in the order they were scheduled. An event is packed into one
//! `u64` (kind, a 24-bit generation, a 32-bit id) so a queue entry is three integers, and it
//! comes out of the queue still packed: the engine dispatches on its [`EventKind`], so an
//! event costs one indirect jump, not one to unpack it and another to dispatch it.

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
    /// A station that went down for memory (an OOM kill, an eviction) is back.
    Restart {
        station: u32,
    },
    /// Periodic work `work` (a control-plane replica's steady CPU) starts its next job.
    Periodic {
        work: u32,
    },
    /// Churn (`sim::churn`): an endpoint change, a control plane's debounce timer, or a
    /// control-plane outage starting or ending, told apart by the id's top bits.
    Churn {
        what: u32,
    },
}

/// The kind of an [`Event`], as its packed form carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum EventKind {
    Arrival = 0,
    ConnectionSend = 1,
    Reach = 2,
    TaskDone = 3,
    NodeCpu = 4,
    WaitDone = 5,
    Response = 6,
    Timeout = 7,
    FaultStart = 8,
    FaultEnd = 9,
    HogStart = 10,
    HogEnd = 11,
    BackgroundArrival = 12,
    WindowMark = 13,
    Restart = 14,
    Periodic = 15,
    Churn = 16,
}

/// An event as the queue holds it: kind (8 bits) | generation (24 bits) | id (32 bits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PackedEvent(u64);

impl PackedEvent {
    /// Its kind; each arm maps a number to the variant of that number, so this compiles to no
    /// branch (a packed event only ever holds a kind [`Event::pack`] wrote).
    #[inline(always)]
    pub fn kind(self) -> EventKind {
        match self.0 >> 56 {
            0 => EventKind::Arrival,
            1 => EventKind::ConnectionSend,
            2 => EventKind::Reach,
            3 => EventKind::TaskDone,
            4 => EventKind::NodeCpu,
            5 => EventKind::WaitDone,
            6 => EventKind::Response,
            7 => EventKind::Timeout,
            8 => EventKind::FaultStart,
            9 => EventKind::FaultEnd,
            10 => EventKind::HogStart,
            11 => EventKind::HogEnd,
            12 => EventKind::BackgroundArrival,
            13 => EventKind::WindowMark,
            14 => EventKind::Restart,
            15 => EventKind::Periodic,
            _ => EventKind::Churn,
        }
    }

    /// The id of whatever the event is about (load, call, task, node, …).
    #[inline(always)]
    pub fn id(self) -> u32 {
        (self.0 & 0xffff_ffff) as u32
    }

    /// The generation a `TaskDone` or `Timeout` carries (0 for the others).
    #[inline(always)]
    pub fn gen(self) -> u32 {
        ((self.0 >> 32) as u32) & GEN_MASK
    }

    /// The event as it was scheduled.
    pub fn unpack(self) -> Event {
        let (id, gen) = (self.id(), self.gen());
        match self.kind() {
            EventKind::Arrival => Event::Arrival { load: id },
            EventKind::ConnectionSend => Event::ConnectionSend { conn: id },
            EventKind::Reach => Event::Reach { call: id },
            EventKind::TaskDone => Event::TaskDone { task: id, gen },
            EventKind::NodeCpu => Event::NodeCpu { node: id },
            EventKind::WaitDone => Event::WaitDone { call: id },
            EventKind::Response => Event::Response { call: id },
            EventKind::Timeout => Event::Timeout { call: id, gen },
            EventKind::FaultStart => Event::FaultStart { fault: id },
            EventKind::FaultEnd => Event::FaultEnd { fault: id },
            EventKind::HogStart => Event::HogStart { hog: id },
            EventKind::HogEnd => Event::HogEnd { hog: id },
            EventKind::BackgroundArrival => Event::BackgroundArrival { load: id },
            EventKind::WindowMark => Event::WindowMark { mark: id },
            EventKind::Restart => Event::Restart { station: id },
            EventKind::Periodic => Event::Periodic { work: id },
            EventKind::Churn => Event::Churn { what: id },
        }
    }
}

const GEN_MASK: u32 = 0xff_ffff;

impl Event {
    fn kind(self) -> EventKind {
        match self {
            Event::Arrival { .. } => EventKind::Arrival,
            Event::ConnectionSend { .. } => EventKind::ConnectionSend,
            Event::Reach { .. } => EventKind::Reach,
            Event::TaskDone { .. } => EventKind::TaskDone,
            Event::NodeCpu { .. } => EventKind::NodeCpu,
            Event::WaitDone { .. } => EventKind::WaitDone,
            Event::Response { .. } => EventKind::Response,
            Event::Timeout { .. } => EventKind::Timeout,
            Event::FaultStart { .. } => EventKind::FaultStart,
            Event::FaultEnd { .. } => EventKind::FaultEnd,
            Event::HogStart { .. } => EventKind::HogStart,
            Event::HogEnd { .. } => EventKind::HogEnd,
            Event::BackgroundArrival { .. } => EventKind::BackgroundArrival,
            Event::WindowMark { .. } => EventKind::WindowMark,
            Event::Restart { .. } => EventKind::Restart,
            Event::Periodic { .. } => EventKind::Periodic,
            Event::Churn { .. } => EventKind::Churn,
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
            | Event::WindowMark { mark: id }
            | Event::Restart { station: id }
            | Event::Periodic { work: id }
            | Event::Churn { what: id } => (id, 0),
            Event::TaskDone { task: id, gen } | Event::Timeout { call: id, gen } => (id, gen),
        };
        ((self.kind() as u64) << 56) | (u64::from(gen & GEN_MASK) << 32) | u64::from(id)
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
    pub fn pop(&mut self) -> Option<(u64, PackedEvent)> {
        self.settle_top();
        let heap_now = self.heap.peek().is_some_and(|r| r.0 == self.now);
        if !heap_now {
            if let Some(p) = self.lane.pop_front() {
                return Some((self.now, PackedEvent(p)));
            }
        }
        let Entry(t, _, p) = *self.heap.peek()?;
        self.top_popped = true;
        self.now = t;
        Some((t, PackedEvent(p)))
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
            assert_eq!(PackedEvent(e.pack()).unpack(), e);
            assert_eq!(PackedEvent(e.pack()).kind(), e.kind());
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
                let (pt, e) = q.pop().map(|(t, e)| (t, e.unpack())).unwrap();
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
        while let Some((t, Event::Reach { call })) = q.pop().map(|(t, e)| (t, e.unpack())) {
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
        assert_eq!(q.pop().map(|(t, e)| (t, e.unpack())), Some((3, Event::Reach { call: 9 })));
        assert_eq!(q.pop().map(|(t, e)| (t, e.unpack())), Some((5, Event::Reach { call: 2 })));
        assert_eq!(q.pop().map(|(t, e)| (t, e.unpack())), Some((5, Event::Reach { call: 1 })));
        assert!(q.is_empty());
    }
}
