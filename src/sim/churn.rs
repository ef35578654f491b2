//! Churn in the engine: endpoint changes, the control plane's pushes, and each client's view
//! of its destinations' endpoints.
//!
//! Kubernetes' view of the endpoints moves at each change (version `k + 1` after change `k`).
//! A proxy's view moves only when a push reaches it and it has applied it: each control plane
//! (a [`Pusher`]) debounces changes as Istio's does (a push once no change came for
//! `debounce_after`, or `debounce_max` after the first), then sends every proxy holding a
//! changed service a push: CPU on its replica's container (`per_push` plus `per_endpoint` for
//! each endpoint of the changed services, at the version pushed), then CPU on the proxy's own
//! container to apply it. Until then the proxy still sends to removed pods (which fail or are
//! retried as the mesh's policy says) and not to new ones. A client with no modelled control
//! plane (a pod under `none`, going through kube-proxy) follows Kubernetes at once.
//!
//! While a control plane is down nothing is pushed; when it is back, every proxy it serves
//! reconnects and gets its whole configuration again.

use rand::Rng;

pub use super::churn_run::{ChurnRun, ChurnStats, EndpointChange, Holder, Pusher};
use super::churn_run::{Round, Task};

use super::engine::{Engine, HOG, NONE};
use super::event::Event;

const WHAT_CHANGE: u32 = 0;
const WHAT_DEBOUNCE: u32 = 1 << 29;
const WHAT_DOWN: u32 = 2 << 29;
const WHAT_UP: u32 = 3 << 29;
const WHAT_FIRST: u32 = 4 << 29;
const WHAT_MASK: u32 = 7 << 29;

impl Engine<'_> {
    /// The first churn events: every change, and every outage's start and end.
    pub(super) fn start_churn(&mut self) {
        let Some(run) = self.opts.churn.as_ref() else { return };
        for (k, c) in run.changes.iter().enumerate() {
            self.schedule(c.at_ns, Event::Churn { what: WHAT_CHANGE | k as u32 });
        }
        for (i, &(from, until)) in run.control_plane_down.iter().enumerate() {
            self.schedule(from, Event::Churn { what: WHAT_DOWN | i as u32 });
            self.schedule(until, Event::Churn { what: WHAT_UP | i as u32 });
        }
        for (i, &(at, _)) in run.first_pushes.iter().enumerate() {
            self.schedule(at, Event::Churn { what: WHAT_FIRST | i as u32 });
        }
    }

    pub(super) fn on_churn(&mut self, what: u32) {
        let i = what & !WHAT_MASK;
        match what & WHAT_MASK {
            WHAT_CHANGE => self.on_endpoint_change(i as usize),
            WHAT_DEBOUNCE => self.on_debounce(i as usize),
            WHAT_FIRST => self.on_first_push(i as usize),
            WHAT_DOWN => {
                if let Some(c) = self.churn.as_mut() {
                    c.down = true;
                }
            }
            WHAT_UP => self.on_control_plane_back(i),
            _ => unreachable!("churn events are one of five kinds"),
        }
    }

    fn on_endpoint_change(&mut self, k: usize) {
        let run = self.opts.churn.as_ref().expect("churn events come with a churn run");
        let service = run.changes[k].service;
        let now = self.now;
        let (after, npushers) = (run.pushers.iter().map(|p| p.debounce_after_ns).collect::<Vec<_>>(), run.pushers.len());
        let c = self.churn.as_mut().expect("churn state");
        c.kube_version = k as u32 + 1;
        c.stats.changes += 1;
        if run.holders.get(service as usize).is_none_or(|h| h.is_empty()) {
            // No proxy holds it: every view that matters follows Kubernetes.
            c.stats.convergence_ns[k] = 0;
        }
        let mut timers = Vec::new();
        for (p, s) in c.pushers.iter_mut().enumerate().take(npushers) {
            if !s.dirty.contains(&service) {
                s.dirty.push(service);
            }
            s.last_ns = now;
            if !s.pending {
                s.pending = true;
                s.first_ns = now;
                timers.push((p, after[p]));
            }
        }
        for (p, delay) in timers {
            let at = self.after(delay);
            self.schedule(at, Event::Churn { what: WHAT_DEBOUNCE | p as u32 });
        }
    }

    /// Pusher `p`'s debounce timer: push now if the changes went quiet or waited long enough.
    fn on_debounce(&mut self, p: usize) {
        let run = self.opts.churn.as_ref().expect("churn run");
        let (after, max) = (run.pushers[p].debounce_after_ns, run.pushers[p].debounce_max_ns);
        let now = self.now;
        let c = self.churn.as_mut().expect("churn state");
        if c.down {
            // Nothing is pushed while it is down; its return pushes everything.
            return;
        }
        let s = &c.pushers[p];
        let quiet = now.saturating_sub(s.last_ns) >= after;
        let waited = now.saturating_sub(s.first_ns) >= max;
        if !quiet && !waited {
            let at = (s.last_ns.saturating_add(after)).min(s.first_ns.saturating_add(max)).max(now);
            self.schedule(at, Event::Churn { what: WHAT_DEBOUNCE | p as u32 });
            return;
        }
        let dirty = std::mem::take(&mut c.pushers[p].dirty);
        let pending = std::mem::replace(&mut c.pushers[p].pending, false);
        // A control plane back from an outage pushed everything already.
        if pending && !dirty.is_empty() {
            self.push_round(p, &dirty, NONE);
        }
    }

    /// One push round of pusher `p`: the changed services' holders it serves, or (a reconnect
    /// after outage `outage`) every proxy it serves, each with its whole configuration.
    fn push_round(&mut self, p: usize, services: &[u32], outage: u32) {
        let run = self.opts.churn.as_ref().expect("churn run");
        let version = self.churn.as_ref().map_or(0, |c| c.kube_version);
        let mut targets: Vec<(Holder, f64)> = Vec::new();
        if outage == NONE {
            // Each proxy once, carrying the endpoints of every changed service it holds.
            let mut by_station: std::collections::BTreeMap<u32, (Holder, f64)> = std::collections::BTreeMap::new();
            for &s in services {
                let endpoints = self.endpoints_at(s, version) as f64;
                for h in run.holders[s as usize].iter().filter(|h| h.pusher == p as u32) {
                    by_station.entry(h.station).or_insert((*h, 0.0)).1 += endpoints;
                }
            }
            targets.extend(by_station.into_values());
        } else {
            targets.extend(run.served[p].iter().map(|h| (*h, f64::from(h.endpoints))));
        }
        self.push_to(p, targets, outage, true);
    }

    /// Push to `targets` (each with the endpoints it carries) from pusher `p`: a round of its
    /// own, which carries the changes since the last one when `carries` (a first push to a
    /// new proxy carries none).
    fn push_to(&mut self, p: usize, targets: Vec<(Holder, f64)>, outage: u32, carries: bool) {
        let run = self.opts.churn.as_ref().expect("churn run");
        let version = self.churn.as_ref().map_or(0, |c| c.kube_version);
        let pusher = &run.pushers[p];
        let c = self.churn.as_mut().expect("churn state");
        let from = if carries { c.pushers[p].pushed } else { version };
        if carries {
            c.pushers[p].pushed = version;
        } else {
            c.stats.first_pushes += 1;
        }
        let round = c.rounds.len() as u32;
        c.rounds.push(Round { version, from, outstanding: targets.len() as u32, outage, started_ns: self.now });
        if carries {
            c.stats.push_rounds += 1;
        }
        c.stats.proxy_pushes += targets.len() as u64;
        if targets.is_empty() {
            self.round_done(round as usize);
            return;
        }
        let mut starts = Vec::with_capacity(targets.len());
        for (holder, endpoints) in targets {
            let work = pusher.per_push_ns + pusher.per_endpoint_ns * endpoints;
            let container = pusher.containers[holder.replica as usize % pusher.containers.len().max(1)];
            let task = Task { round, holder, endpoints, at_proxy: false };
            let id = match c.free.pop() {
                Some(i) => {
                    c.tasks[i as usize] = task;
                    i
                }
                None => {
                    c.tasks.push(task);
                    (c.tasks.len() - 1) as u32
                }
            };
            c.stats.push_cpu_ns += work;
            starts.push((container, work, HOG | (c.token_base + id)));
        }
        for (container, work, token) in starts {
            self.start_config_work(container, work, token);
        }
    }

    /// CPU for configuration work; none at all finishes at once.
    fn start_config_work(&mut self, container: u32, work_ns: f64, token: u32) {
        if work_ns > 0.0 {
            self.start_task(container, work_ns, token);
        } else {
            self.on_config_done(token);
        }
    }

    /// Whether a HOG-tagged CPU token is configuration work (the rest are hogs and periodic jobs).
    #[inline]
    pub(super) fn is_config_token(&self, token: u32) -> bool {
        self.churn.as_ref().is_some_and(|c| (token & !HOG) >= c.token_base)
    }

    /// A push's CPU is done: at the control plane, it goes on to the proxy; at the proxy,
    /// the proxy has the version.
    pub(super) fn on_config_done(&mut self, token: u32) {
        let c = self.churn.as_mut().expect("churn state");
        let id = (token & !HOG) - c.token_base;
        let task = c.tasks[id as usize];
        if !task.at_proxy {
            let h = task.holder;
            let work = h.apply_ns + h.apply_per_endpoint_ns * task.endpoints;
            c.tasks[id as usize].at_proxy = true;
            c.stats.apply_cpu_ns += work;
            let container = self.plan.stations[h.station as usize].container;
            self.start_config_work(container, work, token);
            return;
        }
        c.free.push(id);
        let round = &mut c.rounds[task.round as usize];
        let v = round.version;
        let s = task.holder.station as usize;
        c.version[s] = c.version[s].max(v);
        round.outstanding -= 1;
        if round.outstanding == 0 {
            self.round_done(task.round as usize);
        }
    }

    fn round_done(&mut self, r: usize) {
        let now = self.now;
        let c = self.churn.as_mut().expect("churn state");
        let round = &c.rounds[r];
        let took = now.saturating_sub(round.started_ns);
        if round.outage != NONE {
            c.stats.recovery_ns.push(took);
        }
        let (from, to) = (round.from as usize, round.version as usize);
        let changes = &self.opts.churn.as_ref().expect("churn run").changes;
        let to = to.min(changes.len());
        for (change, conv) in changes[from.min(to)..to].iter().zip(&mut c.stats.convergence_ns[from.min(to)..to]) {
            // A later round may finish first; the change converged when its first round did.
            if *conv == u64::MAX {
                *conv = now.saturating_sub(change.at_ns);
            }
        }
    }

    /// A new proxy connects and gets its whole configuration: one push to it alone.
    fn on_first_push(&mut self, i: usize) {
        let run = self.opts.churn.as_ref().expect("churn run");
        let holder = run.first_pushes[i].1;
        self.push_to(holder.pusher as usize, vec![(holder, f64::from(holder.endpoints))], NONE, false);
    }

    /// Every control plane is back: each reconnects every proxy it serves.
    fn on_control_plane_back(&mut self, outage: u32) {
        let n = self.opts.churn.as_ref().map_or(0, |r| r.pushers.len());
        if let Some(c) = self.churn.as_mut() {
            c.down = false;
            for p in &mut c.pushers {
                p.pending = false;
                p.dirty.clear();
            }
        }
        for p in 0..n {
            self.push_round(p, &[], outage);
        }
    }

    /// Endpoints of service `s` in Kubernetes' view at `version`.
    fn endpoints_at(&self, s: u32, version: u32) -> u32 {
        let run = self.opts.churn.as_ref().expect("churn run");
        let pods = &run.service_pods[s as usize];
        pods.iter().filter(|&&p| member(&run.membership[p as usize], version)).count() as u32
    }

    /// A replica of `edge` for a new call from `src_i`, among those its client's view holds
    /// (retries go to another of them, as Envoy's previous-host predicate has it); when the
    /// view holds none, any. Counts a call to a pod Kubernetes has already removed.
    pub(super) fn churn_pick(&mut self, edge: usize, src_i: u32, retry_after: Option<u32>) -> u32 {
        let plan = self.plan;
        let run = self.opts.churn.as_ref().expect("churn run");
        let c = self.churn.as_ref().expect("churn state");
        let ep = &plan.edges[edge];
        let owner = self.view_owner(edge, src_i);
        let v = if owner != NONE && run.follows_pushes[owner as usize] { c.version[owner as usize] } else { c.kube_version };
        let n = ep.dst_pods.len() as u32;
        let visible = |j: u32| member(&run.membership[ep.dst_pods[j as usize]], v);
        let j = match retry_after {
            Some(prev) => (1..=n).map(|d| (prev + d) % n).find(|&j| visible(j)).unwrap_or((prev + 1) % n),
            None => {
                let count = (0..n).filter(|&j| visible(j)).count() as u32;
                if count == 0 {
                    self.rng.gen_range(0..n)
                } else {
                    let k = self.rng.gen_range(0..count);
                    (0..n).filter(|&j| visible(j)).nth(k as usize).unwrap_or(0)
                }
            }
        };
        let kube = self.churn.as_ref().map_or(0, |c| c.kube_version);
        if !member(&run.membership[ep.dst_pods[j as usize]], kube) {
            if let Some(c) = self.churn.as_mut() {
                c.stats.stale_calls += 1;
            }
        }
        j
    }

    /// The client whose view picks an edge's destination: the first proxy on the path that is
    /// not a ztunnel (a sidecar, a node proxy, a waypoint: the one that balances over the
    /// endpoints), else the first proxy, else the source pod, else `NONE`.
    fn view_owner(&self, edge: usize, src_i: u32) -> u32 {
        let plan = self.plan;
        let run = self.opts.churn.as_ref().expect("churn run");
        let mut first_proxy = NONE;
        // The path's last station is the callee pod, below the proxies' offset, so it never counts.
        for s in plan.path_stations(edge, src_i as usize, 0, 0) {
            let s = s as usize;
            if s >= plan.proxy_station_offset {
                if !run.ztunnel[s] {
                    return s as u32;
                }
                if first_proxy == NONE {
                    first_proxy = s as u32;
                }
            }
        }
        if first_proxy != NONE {
            return first_proxy;
        }
        plan.edges[edge].src_pods[src_i as usize].map_or(NONE, |p| p as u32)
    }

    /// Changes not converged by the end of the run.
    pub(super) fn finish_churn(&mut self) {
        if let Some(c) = self.churn.as_mut() {
            c.stats.unconverged = c.stats.convergence_ns.iter().filter(|&&x| x == u64::MAX).count() as u64;
            c.stats.convergence_ns.retain(|&x| x != u64::MAX);
        }
    }
}

/// Whether version `v` lies in one of `windows` (none: always).
#[inline]
pub fn member(windows: &[(u32, u32)], v: u32) -> bool {
    windows.is_empty() || windows.iter().any(|&(from, until)| from <= v && v < until)
}
