//! Orderings for the CPU's heaps: a total order on `f64` task finishes ([`OrdF64`]) and a
//! binary heap of a node's containers that can update or remove any member ([`IndexedHeap`]).

use std::cmp::Ordering;

use super::NIL;

#[derive(Clone, Copy, Debug)]
pub(super) struct OrdF64(pub(super) f64);
impl PartialEq for OrdF64 {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for OrdF64 {}
impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// A binary heap of (key, member) pairs that can update or remove any member: members are a
/// node's containers by their local index. Ties on the key go to the lower index, so the
/// order is total and runs are repeatable. `MAX_FIRST`: largest key first (else smallest).
/// Keys are held as integers that order as [`f64::total_cmp`] orders the keys (reversed
/// when largest first), so a comparison is two integer compares; [`IndexedHeap::top`] gives
/// back the very same `f64`.
#[derive(Debug)]
pub(super) struct IndexedHeap<const MAX_FIRST: bool> {
    items: Vec<(i64, u32)>,
    pos: Vec<u32>,
}

impl<const MAX_FIRST: bool> IndexedHeap<MAX_FIRST> {
    pub(super) fn new(members: usize) -> Self {
        IndexedHeap { items: Vec::new(), pos: vec![NIL; members] }
    }

    /// The integer that orders as the key does (the transform of `f64::total_cmp`), reversed
    /// when largest first. The transform is its own inverse, and so is the reversal.
    #[inline(always)]
    pub(super) fn encode(key: f64) -> i64 {
        let bits = key.to_bits() as i64;
        let k = bits ^ ((((bits >> 63) as u64) >> 1) as i64);
        if MAX_FIRST {
            !k
        } else {
            k
        }
    }

    #[inline(always)]
    pub(super) fn decode(k: i64) -> f64 {
        let k = if MAX_FIRST { !k } else { k };
        f64::from_bits((k ^ ((((k >> 63) as u64) >> 1) as i64)) as u64)
    }

    #[inline]
    pub(super) fn top(&self) -> Option<(f64, u32)> {
        self.items.first().map(|&(k, m)| (Self::decode(k), m))
    }

    #[inline(always)]
    pub(super) fn before(a: (i64, u32), b: (i64, u32)) -> bool {
        a < b
    }

    #[inline(always)]
    pub(super) fn set(&mut self, m: u32, key: f64) {
        let key = Self::encode(key);
        match self.pos[m as usize] {
            NIL => {
                self.items.push((key, m));
                self.up(self.items.len() - 1);
            }
            p => {
                // A key moves one way only: towards the top if it now comes before its old
                // value, else towards the leaves (the same heap as sifting both ways).
                let i = p as usize;
                let old = self.items[i];
                if key == old.0 {
                    // Re-keyed to the value it has: nothing moves.
                    return;
                }
                self.items[i].0 = key;
                if Self::before((key, m), old) {
                    self.up(i);
                } else {
                    self.down(i);
                }
            }
        }
    }

    #[inline(always)]
    pub(super) fn remove(&mut self, m: u32) {
        let p = self.pos[m as usize];
        if p == NIL {
            return;
        }
        self.pos[m as usize] = NIL;
        let last = self.items.pop().expect("a member with a position is in the heap");
        let i = p as usize;
        if i < self.items.len() {
            let gone = self.items[i];
            self.items[i] = last;
            if Self::before(last, gone) {
                self.up(i);
            } else {
                self.down(i);
            }
        }
    }

    /// Remove every member at once.
    pub(super) fn clear(&mut self) {
        for &(_, m) in &self.items {
            self.pos[m as usize] = NIL;
        }
        self.items.clear();
    }

    /// Sift the item at `i` towards the top, moving a hole rather than swapping.
    #[inline(always)]
    pub(super) fn up(&mut self, mut i: usize) {
        let x = self.items[i];
        while i > 0 {
            let p = (i - 1) / 2;
            let y = self.items[p];
            if !Self::before(x, y) {
                break;
            }
            self.items[i] = y;
            self.pos[y.1 as usize] = i as u32;
            i = p;
        }
        self.items[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }

    #[inline(always)]
    pub(super) fn down(&mut self, mut i: usize) {
        let len = self.items.len();
        let x = self.items[i];
        loop {
            let l = 2 * i + 1;
            if l >= len {
                break;
            }
            let mut c = l;
            if l + 1 < len && Self::before(self.items[l + 1], self.items[l]) {
                c = l + 1;
            }
            let y = self.items[c];
            if !Self::before(y, x) {
                break;
            }
            self.items[i] = y;
            self.pos[y.1 as usize] = i as u32;
            i = c;
        }
        self.items[i] = x;
        self.pos[x.1 as usize] = i as u32;
    }
}
