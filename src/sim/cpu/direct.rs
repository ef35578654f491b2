//! Direct mode: a node that is not contended runs every task at one core, so each task
//! completes at its own event (its own [`CpuWake::Task`]) and no heap of the node is touched.
//! Starting a task, on any node, begins here.

use super::*;

impl Cpu {
    /// Direct mode: count what a container's tasks ran (at one core each) up to `t`.
    pub(super) fn settle_direct(&mut self, ci: usize, t: f64) {
        let mut ran = 0.0;
        for k in 0..self.containers[ci].list.len() {
            let tk = &mut self.tasks[self.containers[ci].list[k] as usize];
            ran += (t.min(tk.finish_v) - tk.acct_from).max(0.0);
            tk.acct_from = t.min(tk.finish_v).max(tk.acct_from);
        }
        let c = &mut self.containers[ci];
        c.counters.work_ns += ran;
        c.counters.present_ns += ran;
        c.t_acc = t;
    }

    /// Start a task of `work_ns` core-ns in `container` at `now`; `token` comes back when it is
    /// done. Infinite work never finishes (a CPU hog, removed with [`Cpu::clear`]). On an
    /// uncontended node the task's own completion event is returned for the caller to
    /// schedule; anything else to schedule waits in [`Cpu::drain_wakes`].
    #[inline]
    pub fn start(&mut self, now: u64, container: u32, work_ns: f64, token: u32) -> Option<CpuWake> {
        let ci = container as usize;
        let c = &self.containers[ci];
        let ni = c.node as usize;
        let node = &self.nodes[ni];
        let work = if work_ns.is_nan() { 0.0 } else { work_ns.max(0.0) };
        if node.direct && c.quota_ns.is_none() && f64::from(node.runnable + 1) <= node.cores {
            // Direct mode: every task has a core, its finish is real time, and its container's
            // counters are settled when it ends.
            let finish_v = whole_f64(now) + work;
            let id = self.alloc_task(container);
            let c = &mut self.containers[ci];
            c.state = State::Capped;
            c.n += 1;
            let slot = c.list.len() as u32;
            c.list.push(id);
            let tk = &mut self.tasks[id as usize];
            let gen = tk.gen.wrapping_add(1);
            *tk = Task { container, token, finish_v, gen, slot, live: true, acct_from: whole_f64(now) };
            self.nodes[ni].runnable += 1;
            return finish_v.is_finite().then(|| CpuWake::Task { task: id, gen: gen & 0xff_ffff, at_ns: ceil_ns(finish_v, now) });
        }
        self.start_shared(now, container, work, token);
        None
    }

    /// A free task slot (its contents are overwritten by the caller, its generation kept).
    #[inline]
    pub(super) fn alloc_task(&mut self, container: u32) -> u32 {
        match self.free_tasks.pop() {
            Some(id) => id,
            None => self.new_task(container),
        }
    }

    #[cold]
    #[inline(never)]
    pub(super) fn new_task(&mut self, container: u32) -> u32 {
        self.tasks.push(Task { container, token: 0, finish_v: 0.0, gen: 0, slot: NIL, live: false, acct_from: 0.0 });
        (self.tasks.len() - 1) as u32
    }

    /// A task's own completion event (direct mode). Returns its token if it is still the task
    /// the event was for.
    #[inline]
    pub fn on_task_event(&mut self, task: u32, gen: u32) -> Option<u32> {
        let tk = self.tasks.get(task as usize)?;
        if !tk.live || tk.gen & 0xff_ffff != gen {
            return None;
        }
        let (ci, token, slot) = (tk.container as usize, tk.token, tk.slot);
        let ran = (tk.finish_v - tk.acct_from).max(0.0);
        let c = &mut self.containers[ci];
        let ni = c.node as usize;
        if !self.nodes[ni].direct {
            return None;
        }
        c.counters.work_ns += ran;
        c.counters.present_ns += ran;
        let last = c.list.pop().expect("a live task is in its container's list");
        if last != task {
            c.list[slot as usize] = last;
            self.tasks[last as usize].slot = slot;
        }
        c.n -= 1;
        if c.n == 0 {
            c.state = State::Idle;
        }
        self.nodes[ni].runnable -= 1;
        self.retire(task);
        Some(token)
    }
}
