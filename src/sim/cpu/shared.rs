//! Shared mode: the virtual-time bookkeeping of a contended node. Container clocks `v`
//! against the node clock `V`, the water filling of weights (θ), the indexed heaps of next
//! events, and firing what is due at a node event.

use super::*;

impl Cpu {
    /// [`Cpu::start`] on a node that is, or becomes, contended (or in a container whose limit
    /// can bind); kept out of line so the direct path stays short.
    #[inline(never)]
    pub(super) fn start_shared(&mut self, now: u64, container: u32, work: f64, token: u32) {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        let id = self.alloc_task(container);
        let gen = self.tasks[id as usize].gen.wrapping_add(1);
        // A node that just became contended gets its containers placed in one pass below.
        let fresh = self.nodes[ni].direct;
        if fresh {
            self.enter_shared_mode(ni, t);
        }
        self.node_sync(ni, t);
        self.sync(ci, t);
        if self.containers[ci].state == State::Idle {
            let period = now / self.nodes[ni].period_ns;
            let c = &mut self.containers[ci];
            c.v_a = 0.0;
            if c.usage_period != period {
                // Quota used in an earlier period does not count in this one.
                c.usage = 0.0;
                c.usage_period = period;
            }
            let limited = c.quota_ns.is_some();
            let v = c.v_a;
            c.n = 1;
            c.heap.push(Reverse((OrdF64(v + work), id)));
            self.tasks[id as usize] = Task { container, token, finish_v: v + work, gen, slot: NIL, live: true, acct_from: t };
            if limited {
                self.nodes[ni].limited_active += 1;
            }
            self.nodes[ni].runnable += 1;
            if fresh {
                self.containers[ci].state = State::Capped;
                self.partition_scratch.push((0.0, container));
            } else {
                self.enter_capped(ni, ci, t);
            }
        } else {
            let c = &mut self.containers[ci];
            let v = c.v_a;
            c.heap.push(Reverse((OrdF64(v + work), id)));
            self.tasks[id as usize] = Task { container, token, finish_v: v + work, gen, slot: NIL, live: true, acct_from: t };
            if fresh {
                self.containers[ci].n += 1;
                self.nodes[ni].runnable += 1;
            } else {
                self.resize(ni, ci, 1);
            }
        }
        if fresh {
            self.partition(ni, t);
        } else {
            self.rebalance(ni, t);
        }
        self.wake_node(ni, now);
    }

    /// A node's event (shared mode): complete what is due at `now`, throttle and refill
    /// quotas; the tokens of finished tasks are appended to `done`, in a fixed order.
    pub fn on_node_event(&mut self, now: u64, node: u32, done: &mut Vec<u32>) {
        let ni = node as usize;
        if self.nodes[ni].direct || self.nodes[ni].scheduled_ns != now {
            return;
        }
        self.nodes[ni].scheduled_ns = u64::MAX;
        let t = whole_f64(now);
        self.node_sync(ni, t);
        if !self.nodes[ni].limited.is_empty() && now % self.nodes[ni].period_ns == 0 {
            self.refill(ni, t);
        }
        // Whatever is due by now, in (time, container) order; each completion may change θ,
        // which never makes another container's due event later than now.
        for _ in 0..=self.containers.len() + self.tasks.len() {
            let Some(ci) = self.due(ni, t) else { break };
            self.fire(ni, ci, t, done);
            self.rebalance(ni, t);
        }
        self.settle(ni, t, now);
    }

    /// After a change in shared mode: back to direct mode as soon as a core is free and no
    /// limit can bind, otherwise make sure the node's next event is scheduled.
    #[inline]
    pub(super) fn settle(&mut self, ni: usize, t: f64, now: u64) {
        let n = &self.nodes[ni];
        if f64::from(n.runnable) <= n.cores - 1.0 && n.limited_active == 0 {
            self.enter_direct_mode(ni, t, now);
        } else {
            self.wake_node(ni, now);
        }
    }

    /// Advance the node clock `V` to real time `t`.
    #[inline]
    pub(super) fn node_sync(&mut self, ni: usize, t: f64) {
        let n = &mut self.nodes[ni];
        if t > n.t {
            if n.w_sharing > 0 {
                n.v += n.theta * (t - n.t);
            }
            n.t = t;
        }
    }

    /// The clock at real time `t` of a container in `state` (for a sharing container, the node
    /// clock must be at `t`). Callers that know the state pass it as a constant, so no branch
    /// on it is left.
    #[inline(always)]
    pub(super) fn v_at(&self, ci: usize, t: f64, state: State) -> f64 {
        let c = &self.containers[ci];
        match state {
            State::Capped => c.v_a + (t - c.t_a),
            State::Sharing => c.v_a + c.x() * (self.nodes[c.node as usize].v - c.t_a),
            State::Idle | State::Throttled => c.v_a,
        }
    }

    /// Bring a container's clock and counters to real time `t` (the node clock must be at `t`)
    /// and re-anchor it there. Re-anchoring leaves the container's heap keys unchanged.
    #[inline(always)]
    pub(super) fn sync(&mut self, ci: usize, t: f64) {
        self.sync_in(ci, t, self.containers[ci].state);
    }

    /// [`Cpu::sync`] for a container known to be in `state`.
    #[inline(always)]
    pub(super) fn sync_in(&mut self, ci: usize, t: f64, state: State) {
        if self.containers[ci].t_acc == t {
            // Already synced at `t`: its clock has not moved since (neither real time nor the
            // node clock has), so syncing again would add nothing. Only an idle or throttled
            // container keeps a stale anchor, and it is re-anchored before it runs again.
            return;
        }
        let v = self.v_at(ci, t, state);
        let node_v = self.nodes[self.containers[ci].node as usize].v;
        let c = &mut self.containers[ci];
        let dt = (t - c.t_acc).max(0.0);
        let dv = (v - c.v_a).max(0.0);
        let n = f64::from(c.n);
        c.counters.work_ns += n * dv;
        c.counters.present_ns += n * dt;
        if state == State::Throttled {
            c.counters.throttled_ns += dt;
        }
        c.usage += n * dv;
        c.t_acc = t;
        c.v_a = v;
        c.t_a = if state == State::Sharing { node_v } else { t };
    }

    /// The next event of a container, in its own clock: its first task done, or its quota used.
    #[inline(always)]
    pub(super) fn next_v(&self, ci: usize) -> f64 {
        let c = &self.containers[ci];
        let first = c.heap.peek().map(|Reverse((f, _))| f.0).unwrap_or(f64::INFINITY);
        match c.quota_ns {
            Some(q) if c.n > 0 => first.min(c.v_a + (q - c.usage).max(0.0) / f64::from(c.n)),
            _ => first,
        }
    }

    #[inline]
    pub(super) fn retire(&mut self, id: u32) {
        let tk = &mut self.tasks[id as usize];
        tk.live = false;
        tk.gen = tk.gen.wrapping_add(1);
        tk.slot = NIL;
        self.free_tasks.push(id);
    }

    // ------------------------------------------------------------------------ mode changes

    #[inline(always)]
    pub(super) fn enter_capped(&mut self, ni: usize, ci: usize, t: f64) {
        let c = &mut self.containers[ci];
        c.state = State::Capped;
        c.t_a = t;
        let (local, x, n) = (c.local, c.x(), c.n);
        let key = self.key_of_in(ci, State::Capped);
        let node = &mut self.nodes[ni];
        node.cap_x.set(local, x);
        node.cap_t.set(local, key);
        node.n_capped += u64::from(n);
    }

    #[inline(always)]
    pub(super) fn enter_sharing(&mut self, ni: usize, ci: usize) {
        let v = self.nodes[ni].v;
        let c = &mut self.containers[ci];
        c.state = State::Sharing;
        c.t_a = v;
        let (local, x, w) = (c.local, c.x(), c.shares);
        let key = self.key_of_in(ci, State::Sharing);
        let node = &mut self.nodes[ni];
        node.shr_x.set(local, x);
        node.shr_v.set(local, key);
        node.w_sharing += w;
    }

    /// Take a runnable container out of its heaps (its clock must be synced).
    #[inline(always)]
    pub(super) fn leave_sets(&mut self, ni: usize, ci: usize) {
        self.leave_sets_in(ni, ci, self.containers[ci].state);
    }

    /// [`Cpu::leave_sets`] for a container known to be in `state`.
    #[inline(always)]
    pub(super) fn leave_sets_in(&mut self, ni: usize, ci: usize, state: State) {
        let c = &self.containers[ci];
        let (local, n, w) = (c.local, u64::from(c.n), c.shares);
        let node = &mut self.nodes[ni];
        match state {
            State::Capped => {
                node.cap_x.remove(local);
                node.cap_t.remove(local);
                node.n_capped -= n;
            }
            State::Sharing => {
                node.shr_x.remove(local);
                node.shr_v.remove(local);
                node.w_sharing -= w;
            }
            State::Idle | State::Throttled => {}
        }
    }

    /// A runnable container gains (or loses) `delta` tasks: its weight per task and next
    /// event change (its clock must be synced).
    pub(super) fn resize(&mut self, ni: usize, ci: usize, delta: i32) {
        let c = &mut self.containers[ci];
        let old = c.n;
        c.n = (i64::from(old) + i64::from(delta)) as u32;
        let (state, local, x) = (c.state, c.local, c.x());
        match state {
            State::Capped => {
                let key = self.key_of_in(ci, State::Capped);
                let node = &mut self.nodes[ni];
                node.n_capped = node.n_capped + u64::from(self.containers[ci].n) - u64::from(old);
                node.cap_x.set(local, x);
                node.cap_t.set(local, key);
                node.runnable = (i64::from(node.runnable) + i64::from(delta)) as u32;
            }
            State::Sharing => {
                // Re-anchor in V with the new x (the clock was synced by the caller).
                self.containers[ci].t_a = self.nodes[ni].v;
                let key = self.key_of_in(ci, State::Sharing);
                let node = &mut self.nodes[ni];
                node.shr_x.set(local, x);
                node.shr_v.set(local, key);
                node.runnable = (i64::from(node.runnable) + i64::from(delta)) as u32;
            }
            State::Idle | State::Throttled => {}
        }
    }

    #[inline]
    pub(super) fn theta(&self, ni: usize) -> f64 {
        let n = &self.nodes[ni];
        if n.w_sharing == 0 {
            0.0
        } else {
            ((n.cores - whole_f64(n.n_capped)) / whole_f64(n.w_sharing)).max(0.0)
        }
    }

    /// Move containers between capped and sharing until each task of a capped container
    /// would get at least one core and each of a sharing one less (water filling). Every move
    /// raises θ, and a container moves at most twice, so this ends.
    pub(super) fn rebalance(&mut self, ni: usize, t: f64) {
        let mut settled = None;
        for _ in 0..=2 * self.nodes[ni].members.len() + 2 {
            let theta = self.theta(ni);
            let node = &self.nodes[ni];
            if let Some((x, local)) = node.shr_x.top() {
                if x * theta >= 1.0 {
                    let ci = node.members[local as usize] as usize;
                    self.sync_in(ci, t, State::Sharing);
                    self.leave_sets_in(ni, ci, State::Sharing);
                    self.enter_capped(ni, ci, t);
                    continue;
                }
            }
            let node = &self.nodes[ni];
            if let Some((x, local)) = node.cap_x.top() {
                // Capped only if its tasks would get a core each were it sharing:
                // x·(cores − N_capped) ≥ W_sharing (with no sharing: N_capped ≤ cores).
                if x * (node.cores - whole_f64(node.n_capped)) < whole_f64(node.w_sharing) {
                    let ci = node.members[local as usize] as usize;
                    self.sync_in(ci, t, State::Capped);
                    self.leave_sets_in(ni, ci, State::Capped);
                    self.enter_sharing(ni, ci);
                    continue;
                }
            }
            settled = Some(theta);
            break;
        }
        // θ changed: sharing containers' keys are in V, so none needs an update.
        self.nodes[ni].theta = settled.unwrap_or_else(|| self.theta(ni));
    }

    // ------------------------------------------------------------------------- events

    /// Key of a container in its node heap: the real time (capped) or node clock (sharing)
    /// of its next event.
    #[inline(always)]
    pub(super) fn key_of(&self, ci: usize) -> f64 {
        self.key_of_in(ci, self.containers[ci].state)
    }

    /// [`Cpu::key_of`] for a container known to be in `state`.
    #[inline(always)]
    pub(super) fn key_of_in(&self, ci: usize, state: State) -> f64 {
        let c = &self.containers[ci];
        let e = self.next_v(ci);
        match state {
            State::Capped => c.t_a + (e - c.v_a),
            State::Sharing => c.t_a + (e - c.v_a) / c.x(),
            State::Idle | State::Throttled => f64::INFINITY,
        }
    }

    #[inline]
    pub(super) fn update_key(&mut self, ni: usize, ci: usize) {
        let key = self.key_of(ci);
        let c = &self.containers[ci];
        let local = c.local;
        match c.state {
            State::Capped => self.nodes[ni].cap_t.set(local, key),
            State::Sharing => self.nodes[ni].shr_v.set(local, key),
            State::Idle | State::Throttled => {}
        }
    }

    /// Real time of the next event of a node (shared mode).
    pub(super) fn next_time(&self, ni: usize) -> f64 {
        let n = &self.nodes[ni];
        let mut next = f64::INFINITY;
        if let Some((k, _)) = n.cap_t.top() {
            next = next.min(k);
        }
        if let Some((k, _)) = n.shr_v.top() {
            if n.theta > 0.0 {
                next = next.min(n.t + (k - n.v).max(0.0) / n.theta);
            }
        }
        if n.limited_active > 0 {
            let p = whole_f64(n.period_ns);
            next = next.min(((n.t / p).floor() + 1.0) * p);
        }
        next
    }

    #[inline]
    pub(super) fn wake_node(&mut self, ni: usize, now: u64) {
        let next = self.next_time(ni);
        if !next.is_finite() {
            return;
        }
        let at = ceil_ns(next, now);
        if at < self.nodes[ni].scheduled_ns {
            self.nodes[ni].scheduled_ns = at;
            self.wakes.push(CpuWake::Node { node: ni as u32, at_ns: at });
        }
    }

    /// The container whose event is due by `t`, earliest first (ties by container).
    pub(super) fn due(&self, ni: usize, t: f64) -> Option<usize> {
        let n = &self.nodes[ni];
        let tol = 1e-6 * (1.0 + t.abs() * 1e-9);
        let cap = n.cap_t.top().filter(|(k, _)| *k <= t + tol);
        let shr = n.shr_v.top().filter(|_| n.theta > 0.0).and_then(|(k, m)| {
            let at = n.t + (k - n.v) / n.theta;
            (at <= t + tol).then_some((at, m))
        });
        let local = match (cap, shr) {
            (Some(a), Some(b)) => {
                if a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).is_le() {
                    a.1
                } else {
                    b.1
                }
            }
            (a, b) => a.or(b)?.1,
        };
        Some(n.members[local as usize] as usize)
    }

    /// A container's due event: its first task is done (with any other task due at the same
    /// clock), or its quota ran out (then it is throttled until the next period).
    pub(super) fn fire(&mut self, ni: usize, ci: usize, t: f64, done: &mut Vec<u32>) {
        self.sync(ci, t);
        let c = &self.containers[ci];
        let v = c.v_a;
        let first = c.heap.peek().map(|Reverse((f, _))| f.0).unwrap_or(f64::INFINITY);
        let quota_v = match c.quota_ns {
            Some(q) if c.n > 0 => v + (q - c.usage).max(0.0) / f64::from(c.n),
            _ => f64::INFINITY,
        };
        let mut finished = 0u32;
        if first <= quota_v {
            // Its first task's event fired: finish it, and every task due at the same clock.
            let upto = first.max(v) + 1e-9 * (1.0 + v.abs());
            while let Some(&Reverse((f, id))) = self.containers[ci].heap.peek() {
                if finished > 0 && f.0 > upto {
                    break;
                }
                self.containers[ci].heap.pop();
                done.push(self.tasks[id as usize].token);
                self.retire(id);
                finished += 1;
            }
        }
        let c = &self.containers[ci];
        let out_of_quota = c.quota_ns.is_some_and(|q| c.usage >= q - 1e-9 * q.max(1.0));
        if c.n == finished {
            self.leave_sets(ni, ci);
            self.nodes[ni].runnable -= finished;
            let c = &mut self.containers[ci];
            c.n = 0;
            c.state = State::Idle;
            c.v_a = 0.0;
            if c.quota_ns.is_some() {
                self.nodes[ni].limited_active -= 1;
            }
        } else if finished == 0 || out_of_quota {
            self.leave_sets(ni, ci);
            self.nodes[ni].runnable -= finished;
            let c = &mut self.containers[ci];
            c.n -= finished;
            c.state = State::Throttled;
            c.counters.throttled_periods += 1;
            self.nodes[ni].runnable -= c.n;
        } else {
            self.resize(ni, ci, -(finished as i32));
        }
    }
}
