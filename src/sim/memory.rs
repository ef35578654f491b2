//! Memory: what each station holds (a pod its request, a proxy its base and configuration
//! plus every call it holds), each node's total, and what happens when it runs out. A
//! container past its memory limit is OOM-killed and restarts after the kubelet's back-off;
//! a node whose free memory falls under the kubelet's hard eviction threshold has the pod
//! whose use most exceeds its request evicted, replaced after a readiness period. Either way
//! the calls it held fail, as in a crash.
//!
//! A call is held by a proxy from its admission (served or queued) until its response comes
//! back past it; a proxy that dies drops what it held, and calls it held before then are not
//! released again when their responses come back.

use super::engine::Engine;
use super::event::Event;
use crate::kubernetes::{restart_backoff_ns, EVICTED_POD_REPLACEMENT_NS, EVICTION_HARD_MEMORY_AVAILABLE_BYTES};

impl Engine<'_> {
    /// The bytes station `s` holds now.
    #[inline]
    pub(super) fn memory_bytes(&self, s: usize) -> f64 {
        let m = &self.plan.memory[s];
        let st = &self.mem[s];
        m.static_bytes + m.per_call_bytes * f64::from(st.calls) + m.per_new_connection_bytes * f64::from(st.new_connection_calls)
    }

    /// Add the calls proxy `s` held since their count last changed to its integrals of calls
    /// held (the part of that time in the measurement window): their means are its mean
    /// calls in flight and new connections.
    pub(super) fn integrate_held(&mut self, s: usize) {
        let st = &mut self.mem[s];
        let from = st.since_ns.max(self.plan.warmup_ns);
        let to = self.now.min(self.window_end);
        if to > from {
            let out = &mut self.out.stations[s];
            out.inflight_ns += f64::from(st.calls) * (to - from) as f64;
            out.new_conn_ns += f64::from(st.new_connection_calls) * (to - from) as f64;
        }
        st.since_ns = self.now;
    }

    /// Proxy `s` takes on a call: its memory and its node's grow; past the container's
    /// limit it is OOM-killed, under node memory pressure the kubelet evicts.
    pub(super) fn hold_call(&mut self, s: usize, new_connection: bool) {
        self.integrate_held(s);
        let m = &self.plan.memory[s];
        let delta = m.per_call_bytes + if new_connection { m.per_new_connection_bytes } else { 0.0 };
        self.mem[s].calls += 1;
        self.mem[s].new_connection_calls += u32::from(new_connection);
        let node = m.node as usize;
        self.node_mem[node] += delta;
        let used = self.memory_bytes(s);
        // What would pass a limit is never held: the container or pod dies first, so the
        // peaks stay within their limits.
        if m.limit_bytes.is_some_and(|limit| used > limit) {
            self.oom_kill(s);
        } else {
            let peak = &mut self.out.stations[s].mem_peak_bytes;
            *peak = peak.max(used);
            // The kubelet evicts once free memory is under its threshold: the node held this
            // much (within its memory, unless one call alone took more than the threshold).
            let held = self.node_mem[node];
            if held <= self.plan.node_memory_bytes[node] {
                let node_peak = &mut self.out.node_mem_peak_bytes[node];
                *node_peak = node_peak.max(held);
            }
            if held > self.plan.node_memory_bytes[node] - EVICTION_HARD_MEMORY_AVAILABLE_BYTES {
                self.evict_on(node);
            }
        }
    }

    /// A call that started at `start_ns` is released by proxy `s` (its response went back
    /// past it), unless `s` died since the call started: it dropped the call then.
    #[inline]
    pub(super) fn release_call(&mut self, s: usize, new_connection: bool, start_ns: u64) {
        if self.mem[s].died_at_ns.is_some_and(|d| start_ns <= d) {
            return;
        }
        self.integrate_held(s);
        let m = &self.plan.memory[s];
        let st = &mut self.mem[s];
        st.calls = st.calls.saturating_sub(1);
        let mut delta = m.per_call_bytes;
        if new_connection {
            st.new_connection_calls = st.new_connection_calls.saturating_sub(1);
            delta += m.per_new_connection_bytes;
        }
        self.node_mem[m.node as usize] -= delta;
    }

    /// Station `s` dies (a crash, an OOM kill, an eviction): what it held is freed.
    pub(super) fn drop_memory(&mut self, s: usize) {
        self.integrate_held(s);
        let node = self.plan.memory[s].node as usize;
        let held = self.memory_bytes(s) - self.plan.memory[s].static_bytes;
        self.node_mem[node] -= held;
        let st = &mut self.mem[s];
        st.calls = 0;
        st.new_connection_calls = 0;
        st.died_at_ns = Some(self.now);
    }

    /// Proxy `s` is OOM-killed at its limit: it restarts after the kubelet's back-off.
    fn oom_kill(&mut self, s: usize) {
        self.out.stations[s].oom_kills += 1;
        self.mem[s].kills += 1;
        let backoff = restart_backoff_ns(self.mem[s].kills);
        self.memory_down(s, backoff);
    }

    /// Under memory pressure on `node`, the kubelet evicts pods in turn, the one whose use
    /// most exceeds its request first, until the node has its threshold free again (or no
    /// pod uses more than it requests).
    fn evict_on(&mut self, node: usize) {
        let threshold = self.plan.node_memory_bytes[node] - EVICTION_HARD_MEMORY_AVAILABLE_BYTES;
        while self.node_mem[node] > threshold {
            let over = |e: &Self, s: usize| {
                let m = &e.plan.memory[s];
                // A sidecar's pod is the application's and the sidecar's together.
                let pod = m.pod_station.map_or(0.0, |p| e.memory_bytes(p as usize) - e.plan.memory[p as usize].request_bytes);
                e.memory_bytes(s) - m.request_bytes + pod
            };
            let victim = (self.plan.proxy_station_offset..self.plan.stations.len())
                .filter(|&s| self.plan.memory[s].node as usize == node && self.stations[s].up)
                .map(|s| (s, over(self, s)))
                .filter(|&(_, x)| x > 0.0)
                .max_by(|a, b| a.1.total_cmp(&b.1).then(b.0.cmp(&a.0)));
            let Some((s, _)) = victim else { return };
            self.out.stations[s].evictions += 1;
            self.memory_down(s, EVICTED_POD_REPLACEMENT_NS);
            if let Some(p) = self.plan.memory[s].pod_station {
                self.out.stations[p as usize].evictions += 1;
                self.memory_down(p as usize, EVICTED_POD_REPLACEMENT_NS);
            }
        }
    }

    /// Station `s` goes down for memory, and comes back after `for_ns`.
    fn memory_down(&mut self, s: usize, for_ns: u64) {
        self.crash_station(s, false);
        self.mem[s].down = true;
        let at = self.after(for_ns);
        self.schedule(at, Event::Restart { station: s as u32 });
    }

    /// A station down for memory is back (restarted, or replaced).
    pub(super) fn on_restart(&mut self, s: usize) {
        if self.mem[s].down {
            self.mem[s].down = false;
            self.revive_station(s);
        }
    }
}
