//! CFS bandwidth control: CPU limits as quota per period, throttling when the quota is used
//! and the refill at the start of each period.

use super::*;

impl Cpu {
    /// Set or lift a container's CPU limit (a squeeze that starts or ends).
    pub fn set_limit(&mut self, now: u64, container: u32, limit_cores: Option<f64>, max_parallel: u32) {
        let t = whole_f64(now);
        let ci = container as usize;
        let ni = self.containers[ci].node as usize;
        if self.nodes[ni].direct {
            self.enter_shared_mode(ni, t);
            self.partition(ni, t);
        }
        self.node_sync(ni, t);
        self.sync(ci, t);
        let period = self.nodes[ni].period_ns as f64;
        let quota = limit_cores.and_then(|l| (l < f64::from(max_parallel)).then_some(l * period));
        let had = self.containers[ci].quota_ns.is_some();
        let active = self.containers[ci].n > 0;
        match (had, quota.is_some()) {
            (false, true) => {
                self.nodes[ni].limited.push(container);
                if active {
                    self.nodes[ni].limited_active += 1;
                }
            }
            (true, false) => {
                self.nodes[ni].limited.retain(|&c| c != container);
                if active {
                    self.nodes[ni].limited_active -= 1;
                }
            }
            _ => {}
        }
        self.containers[ci].quota_ns = quota;
        let c = &self.containers[ci];
        if c.state == State::Throttled && quota.is_none_or(|q| c.usage < q) {
            self.unthrottle(ni, ci, t);
        } else if matches!(c.state, State::Capped | State::Sharing) {
            self.update_key(ni, ci);
        }
        self.rebalance(ni, t);
        self.settle(ni, t, now);
    }

    // ----------------------------------------------------------------- clocks and accounting

    /// A new period: limited containers get their quota back.
    pub(super) fn refill(&mut self, ni: usize, t: f64) {
        let period = t as u64 / self.nodes[ni].period_ns;
        for k in 0..self.nodes[ni].limited.len() {
            let ci = self.nodes[ni].limited[k] as usize;
            self.sync(ci, t);
            self.containers[ci].usage = 0.0;
            self.containers[ci].usage_period = period;
            match self.containers[ci].state {
                State::Throttled => self.unthrottle(ni, ci, t),
                State::Capped | State::Sharing => self.update_key(ni, ci),
                State::Idle => {}
            }
        }
    }

    pub(super) fn unthrottle(&mut self, ni: usize, ci: usize, t: f64) {
        self.sync(ci, t);
        let n = self.containers[ci].n;
        self.nodes[ni].runnable += n;
        self.enter_capped(ni, ci, t);
    }
}
