//! The switch between direct and shared mode: a node enters the shared bookkeeping when it
//! becomes contended and leaves it as soon as a core is free again.

use super::*;

impl Cpu {
    /// Direct → shared: every running container gets its tasks in a heap and its clock
    /// anchored at `t`, and is listed for [`Cpu::partition`], which then places them.
    pub(super) fn enter_shared_mode(&mut self, ni: usize, t: f64) {
        let node = &mut self.nodes[ni];
        node.direct = false;
        node.t = t;
        node.v = 0.0;
        // Taken out for the loop, so it is read as a slice rather than indexed again each time.
        let members = std::mem::take(&mut node.members);
        let mut running = std::mem::take(&mut self.partition_scratch);
        running.clear();
        for &c in &members {
            let ci = c as usize;
            if self.containers[ci].n == 0 {
                continue;
            }
            running.push((0.0, c));
            // What the tasks ran at one core each up to `t` (as `settle_direct` counts it), in
            // the same pass that moves them to the heap.
            let list = std::mem::take(&mut self.containers[ci].list);
            let mut ran = 0.0;
            for &id in &list {
                let tk = &mut self.tasks[id as usize];
                ran += (t.min(tk.finish_v) - tk.acct_from).max(0.0);
                tk.gen = tk.gen.wrapping_add(1);
                tk.slot = NIL;
                self.containers[ci].heap.push(Reverse((OrdF64(tk.finish_v), id)));
            }
            let c = &mut self.containers[ci];
            c.counters.work_ns += ran;
            c.counters.present_ns += ran;
            c.t_acc = t;
            // The clock of a container in direct mode is real time.
            c.v_a = t;
            c.t_a = t;
            c.list = list;
            c.list.clear();
            c.state = State::Capped;
            if c.quota_ns.is_some() {
                self.nodes[ni].limited_active += 1;
            }
        }
        self.nodes[ni].members = members;
        self.partition_scratch = running;
    }

    /// Place the runnable containers of a node that has none placed (it just left direct
    /// mode; [`Cpu::enter_shared_mode`] listed them) in their final sets at once: sorted by
    /// weight per task, the capped ones are the largest prefix whose smallest still gets a
    /// core per task at the resulting θ.
    pub(super) fn partition(&mut self, ni: usize, t: f64) {
        let mut items = std::mem::take(&mut self.partition_scratch);
        for item in &mut items {
            item.0 = self.containers[item.1 as usize].x();
        }
        // A total order (containers are distinct), so an unstable sort gives the same order.
        items.sort_unstable_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let cores = self.nodes[ni].cores;
        let w_total: u64 = items.iter().map(|&(_, c)| self.containers[c as usize].shares).sum();
        let (mut n_cap, mut w_cap) = (0u64, 0u64);
        let mut capped = items.len();
        for (j, &(x, c)) in items.iter().enumerate() {
            // Would the first j capped and the rest sharing be consistent? The largest
            // sharing one (j) must get less than a core per task.
            let w_sh = w_total - w_cap;
            if x * (cores - whole_f64(n_cap)) < whole_f64(w_sh) {
                capped = j;
                break;
            }
            n_cap += u64::from(self.containers[c as usize].n);
            w_cap += self.containers[c as usize].shares;
        }
        for (j, &(_, c)) in items.iter().enumerate() {
            if j < capped {
                self.enter_capped(ni, c as usize, t);
            } else {
                self.enter_sharing(ni, c as usize);
            }
        }
        self.partition_scratch = items;
        self.rebalance(ni, t);
    }

    /// Shared → direct: every task gets its own completion event again.
    #[inline(never)]
    pub(super) fn enter_direct_mode(&mut self, ni: usize, t: f64, now: u64) {
        let members = std::mem::take(&mut self.nodes[ni].members);
        for &c in &members {
            let ci = c as usize;
            if self.containers[ci].n == 0 {
                continue;
            }
            self.sync(ci, t);
            let v = self.containers[ci].v_a;
            // Tasks in finish order (their keys are distinct), so their events are scheduled
            // in a fixed order; sorting the few at once costs less than popping them one by one.
            let mut by_finish = std::mem::take(&mut self.containers[ci].heap).into_vec();
            by_finish.sort_unstable();
            let c = &mut self.containers[ci];
            c.v_a = t;
            c.t_a = t;
            c.state = State::Capped;
            for &Reverse((f, id)) in by_finish.iter().rev() {
                let finish = t + (f.0 - v).max(0.0);
                let slot = self.containers[ci].list.len() as u32;
                self.containers[ci].list.push(id);
                let tk = &mut self.tasks[id as usize];
                tk.finish_v = finish;
                tk.acct_from = t;
                tk.gen = tk.gen.wrapping_add(1);
                tk.slot = slot;
                if finish.is_finite() {
                    self.wakes.push(CpuWake::Task { task: id, gen: tk.gen & 0xff_ffff, at_ns: ceil_ns(finish, now) });
                }
            }
            by_finish.clear();
            self.containers[ci].heap = BinaryHeap::from(by_finish);
        }
        self.nodes[ni].members = members;
        // Every runnable container was in the sets (none is throttled: no limit can bind).
        let n = &mut self.nodes[ni];
        n.cap_x.clear();
        n.cap_t.clear();
        n.shr_x.clear();
        n.shr_v.clear();
        n.n_capped = 0;
        n.w_sharing = 0;
        n.direct = true;
        n.v = 0.0;
        n.theta = 0.0;
        // A node event still pending (a fault ended contention before it) is void: a direct
        // node ignores it, and the next shared spell must schedule its own, even a later one.
        n.scheduled_ns = u64::MAX;
    }

    // ------------------------------------------------------------------ water filling
}
