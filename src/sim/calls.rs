//! Calls: a call walks its path's steps to the callee pod, which then issues its own calls
//! (parallel neighbours together, a sequential call alone) and answers when they are done;
//! responses and errors travel back over the links crossed. Retries (on another replica,
//! within the retrying proxy's budget of retries in flight), per-try timeouts and outlier
//! detection (per client proxy: a sidecar's view of an endpoint is its own, a ztunnel's or
//! node proxy's is shared by its node's pods) live here, and so does the end of an end-user
//! request.

use rand::Rng;

use super::engine::{CallState, Engine, NONE};
use super::event::{gen24, Event};
use super::output::record;
use super::plan::{ContainerKind, MAX_PATH_STEPS, NO_PATHS};
use crate::topology::{CallMode, ProxyKind};

impl Engine<'_> {
    /// Start a call on `edge` from source replica `src_i`, as a child of call `parent` (or of
    /// the request, when `NONE`), to replica `dst_j` (picked when `None`). Returns its id.
    pub(super) fn start_call(&mut self, edge: u32, src_i: u32, parent: u32, request: u32, attempt: u32, dst_j: Option<u32>) -> u32 {
        let plan = self.plan;
        let ep = &plan.edges[edge as usize];
        let n_dst = ep.dst_pods.len() as u32;
        let mut dst_j = dst_j.unwrap_or_else(|| {
            if self.churn.is_some() {
                self.churn_pick(edge as usize, src_i, None)
            } else if n_dst == 1 {
                0
            } else {
                self.pick_replica(edge as usize, src_i, n_dst)
            }
        });
        let mut w = if ep.waypoints == 1 { 0 } else { self.rng.gen_range(0..ep.waypoints) };
        if self.drained > 0 {
            (dst_j, w) = self.avoid_drained(edge as usize, src_i, dst_j, w);
        }
        let id = self.alloc_call();
        let path = if ep.path_offset != NO_PATHS {
            ep.path_offset + (src_i * n_dst + dst_j) * ep.waypoints + w
        } else {
            // The call's own slot, after the plan's whole paths.
            let path = plan.paths.len() as u32 + id;
            let first = (plan.steps.len() + id as usize * MAX_PATH_STEPS) as u32;
            let slot: &mut [_; MAX_PATH_STEPS] =
                (&mut self.path_steps[first as usize..][..MAX_PATH_STEPS]).try_into().expect("a slot per call");
            let (len, back_ns) = plan.write_path(edge as usize, src_i as usize, dst_j as usize, w as usize, slot);
            self.paths[path as usize] = (first, len, back_ns);
            path
        };
        let (first, len, _) = self.paths[path as usize];
        let callee = self.path_steps[(first + len - 1) as usize].station;
        let gen = self.calls[id as usize].gen.wrapping_add(1);
        self.calls[id as usize] = CallState {
            gen,
            edge,
            path,
            at: first,
            src_i,
            dst_j,
            callee,
            parent,
            request,
            attempt,
            cursor: 0,
            outstanding: 0,
            epoch: 0,
            start_ns: self.now,
            failed: false,
            abandoned: false,
            measured: self.in_window(self.now),
            retrier: NONE,
        };
        // A caller whose pod is down sends nothing: the call fails where it starts, in every
        // placement alike (under `none` no proxy of the dead node is on the path to fail it);
        // the users behind a load generator gone with its node get no answer until their
        // connect timeout.
        if let Some(src) = ep.src_pods[src_i as usize] {
            if !self.stations[src].up {
                self.calls[id as usize].failed = true;
                let wait = if self.stations[src].silent && edge < plan.load_count as u32 { self.connect_timeout_ns(edge) } else { 0 };
                let at = self.after(wait);
                self.schedule(at, Event::Response { call: id });
                return id;
            }
        }
        if let Some(t) = ep.timeout_ns {
            let at = self.after(t);
            self.schedule(at, Event::Timeout { call: id, gen: gen24(gen) });
        }
        let at = self.after(self.path_steps[first as usize].delay_ns);
        self.schedule(at, Event::Reach { call: id });
        id
    }

    /// Issue the next group of downstream calls of a call being served at its pod (parallel
    /// neighbours together, a sequential call alone), or respond when none are left.
    // Inlined: a thin wrapper on every callee pod's pass.
    #[inline(always)]
    pub(super) fn next_group(&mut self, c: u32) {
        if let Some(at) = self.issue_next_group(c) {
            self.schedule(at, Event::Response { call: c });
        }
    }

    /// Issue the next group of downstream calls of call `c`; when none are left, the instant
    /// its response is due back at its caller (the caller of this schedules it).
    fn issue_next_group(&mut self, c: u32) -> Option<u64> {
        let plan = self.plan;
        let call = self.calls[c as usize];
        let pod = call.callee as usize;
        let out = &plan.pod_calls[pod];
        let src_i = plan.pod_index[pod];
        let mut cursor = call.cursor as usize;
        while cursor < out.len() {
            let start = cursor;
            if plan.edges[out[cursor] as usize].mode == CallMode::Sequential {
                cursor += 1;
            } else {
                while cursor < out.len() && plan.edges[out[cursor] as usize].mode == CallMode::Parallel {
                    cursor += 1;
                }
            }
            let mut issued = 0;
            for &edge in &out[start..cursor] {
                let ep = &plan.edges[edge as usize];
                for _ in 0..ep.count {
                    if ep.probability >= 1.0 || self.rng.gen::<f64>() < ep.probability {
                        issued += 1;
                        self.calls[c as usize].outstanding += 1;
                        self.start_call(edge, src_i, c, call.request, 0, None);
                    }
                }
            }
            if issued > 0 {
                self.calls[c as usize].cursor = cursor as u32;
                return None;
            }
        }
        self.calls[c as usize].cursor = cursor as u32;
        Some(self.after(self.paths[call.path as usize].2))
    }

    /// The call failed where it is now: the error travels back over the links crossed so far.
    pub(super) fn fail_call(&mut self, c: u32) {
        self.fail_call_after(c, 0);
    }

    /// The call fails where it is now after waiting `wait_ns` (a connect timeout), then the
    /// error travels back over the links crossed so far.
    pub(super) fn fail_call_after(&mut self, c: u32, wait_ns: u64) {
        let call = &mut self.calls[c as usize];
        call.failed = true;
        let (first, _, _) = self.paths[call.path as usize];
        let back = (first..=call.at).fold(wait_ns, |a, i| a.saturating_add(self.path_steps[i as usize].delay_ns));
        let at = self.after(back);
        self.schedule(at, Event::Response { call: c });
    }

    /// A call's response is back; so, in turn, are those of the callers it was the last
    /// outstanding call of whose answers are due this instant with nothing else due (each is
    /// handled here rather than as an event of its own: it would have been the very next).
    pub(super) fn on_response(&mut self, c: u32) {
        let mut next = Some(c);
        while let Some(c) = next {
            next = self.response(c);
        }
    }

    /// Handle call `c`'s response; returns a caller to answer next, directly.
    fn response(&mut self, c: u32) -> Option<u32> {
        let plan = self.plan;
        let call = self.calls[c as usize];
        let ep = &plan.edges[call.edge as usize];
        // Proxies it passed release it; where it stopped, it was never held (refused) or
        // was dropped (the proxy died).
        let first = self.paths[call.path as usize].0;
        for i in first..call.at {
            let s = self.path_steps[i as usize].station as usize;
            if s >= plan.proxy_station_offset {
                self.release_call(s, ep.per_request_connection, call.start_ns);
            }
        }
        if call.abandoned {
            self.free_call(c);
            return None;
        }
        if call.measured {
            let es = &mut self.out.edges[call.edge as usize];
            es.calls += 1;
            if call.failed {
                es.failed += 1;
            } else {
                let latency = (self.now - call.start_ns).max(1);
                es.latency_sum_ns += latency as f64;
                es.latency_ns.record(latency);
            }
        }
        self.free_call(c);
        self.finish_attempt(call, call.failed, false)
    }

    pub(super) fn on_timeout(&mut self, c: u32, gen: u32) {
        let call = self.calls[c as usize];
        if gen24(call.gen) != gen || call.abandoned {
            return;
        }
        self.calls[c as usize].abandoned = true;
        if call.measured {
            let es = &mut self.out.edges[call.edge as usize];
            es.calls += 1;
            es.failed += 1;
        }
        if let Some(p) = self.finish_attempt(call, true, true) {
            self.on_response(p);
        }
    }

    /// The client whose view of an edge's endpoints outlier detection keeps: the first proxy
    /// on the path from source replica `src_i` (a sidecar sees for its pod alone; a ztunnel or
    /// node proxy for every pod of its node), else the source pod itself (its own client
    /// library), else `NONE` for requests from outside.
    fn outlier_client(&self, edge: usize, src_i: u32) -> u32 {
        let plan = self.plan;
        let station = plan.path_stations(edge, src_i as usize, 0, 0).next().expect("a path ends at its pod") as usize;
        if station >= plan.proxy_station_offset {
            station as u32
        } else {
            plan.edges[edge].src_pods[src_i as usize].map_or(NONE, |p| p as u32)
        }
    }

    /// A destination replica for a new call: uniform over the replicas outlier detection has
    /// not ejected in this client's view (over all of them when none or all are ejected, or
    /// it is off).
    fn pick_replica(&mut self, edge: usize, src_i: u32, n: u32) -> u32 {
        if self.plan.outlier_detection.is_some() {
            let client = self.outlier_client(edge, src_i);
            if let Some((_, until)) = self.outliers.get(&(client, edge as u32)) {
                let now = self.now;
                let eligible = until.iter().filter(|&&u| u <= now).count() as u32;
                if eligible > 0 && eligible < n {
                    let k = self.rng.gen_range(0..eligible) as usize;
                    return until.iter().enumerate().filter(|(_, &u)| u <= now).nth(k).map(|(j, _)| j as u32).unwrap_or(0);
                }
            }
        }
        self.rng.gen_range(0..n)
    }

    /// Outlier detection of the call's client sees the outcome of an attempt to replica `j`.
    fn observe_outcome(&mut self, edge: usize, src_i: u32, j: usize, failed: bool) {
        let Some(od) = self.plan.outlier_detection else { return };
        let client = self.outlier_client(edge, src_i);
        let n = self.plan.edges[edge].dst_pods.len();
        let now = self.now;
        let (consecutive, until) = self.outliers.entry((client, edge as u32)).or_insert_with(|| (vec![0; n], vec![0; n]));
        if !failed {
            consecutive[j] = 0;
            return;
        }
        consecutive[j] += 1;
        if consecutive[j] >= od.consecutive_errors && until[j] <= now {
            let ejected = until.iter().filter(|&&u| u > now).count();
            let allowed = (until.len() * od.max_ejection_percent as usize / 100).max(1);
            if ejected < allowed {
                until[j] = now.saturating_add(od.ejection_ns);
                consecutive[j] = 0;
            }
        }
    }

    /// An attempt ended (its state may already be freed): retry it elsewhere or report up.
    /// Must be the last thing its event does: when the caller's answer is due now and no other
    /// event is due now, that caller is returned to be answered directly (its `Response` event
    /// would have been the next one popped, so the order of everything is unchanged).
    fn finish_attempt(&mut self, call: CallState, failed: bool, timed_out: bool) -> Option<u32> {
        self.observe_outcome(call.edge as usize, call.src_i, call.dst_j as usize, failed);
        let plan = self.plan;
        let ep = &plan.edges[call.edge as usize];
        let cluster = ep.dst_pods.first().map_or(NONE, |&p| p as u32);
        if call.retrier != NONE {
            if let Some(k) = self.retries_in_flight.get_mut(&(call.retrier, cluster)) {
                *k = k.saturating_sub(1);
            }
        }
        if failed && call.attempt < ep.retries && self.retrier_saw(&call, timed_out) {
            // The retrier's budget of retries in flight to this service (Envoy's circuit
            // breaker): past it the retry is not sent and the failure stands.
            let retrier = if ep.retry_budget == u32::MAX { NONE } else { self.retrier_of(&call) };
            let spent = retrier != NONE && {
                let k = self.retries_in_flight.entry((retrier, cluster)).or_insert(0);
                let spent = *k >= ep.retry_budget;
                if !spent {
                    *k += 1;
                    self.out.retries_in_flight_max = self.out.retries_in_flight_max.max(*k);
                }
                spent
            };
            if spent {
                self.out.retries_over_budget += 1;
            } else {
                let n = ep.dst_pods.len() as u32;
                if call.measured {
                    self.out.edges[call.edge as usize].retried += 1;
                }
                self.out.retries += 1;
                let next = if self.churn.is_some() {
                    self.churn_pick(call.edge as usize, call.src_i, Some(call.dst_j))
                } else {
                    (call.dst_j + 1) % n
                };
                let id = self.start_call(call.edge, call.src_i, call.parent, call.request, call.attempt + 1, Some(next));
                self.calls[id as usize].retrier = retrier;
                return None;
            }
        }
        if call.parent == NONE {
            self.finish_request(call.request, failed);
            return None;
        }
        let p = call.parent as usize;
        self.calls[p].outstanding -= 1;
        self.calls[p].failed |= failed;
        if self.calls[p].outstanding != 0 {
            return None;
        }
        // A pod that crashed while its calls were out has nobody left to answer.
        let pod = self.calls[p].callee as usize;
        if self.stations[pod].epoch != self.calls[p].epoch {
            self.calls[p].failed = true;
        }
        let at =
            if self.calls[p].failed { self.after(self.paths[self.calls[p].path as usize].2) } else { self.issue_next_group(p as u32)? };
        if at == self.now && self.queue.nothing_due_now() {
            return Some(p as u32);
        }
        self.schedule(at, Event::Response { call: p as u32 });
        None
    }

    /// A replica, then a waypoint, whose path crosses no drained station, each picked
    /// uniformly among those that qualify (the load of a drained replica spreads over the
    /// others, as a Service's endpoints would); `(j, w)` as picked when none qualifies.
    fn avoid_drained(&mut self, edge: usize, src_i: u32, j: u32, w: u32) -> (u32, u32) {
        let plan = self.plan;
        let ep = &plan.edges[edge];
        let (n, nw) = (ep.dst_pods.len() as u32, ep.waypoints.max(1));
        let clear = |e: &Self, jj: u32, ww: u32| {
            plan.path_stations(edge, src_i as usize, jj as usize, ww as usize).all(|s| !e.stations[s as usize].drained)
        };
        if clear(self, j, w) {
            return (j, w);
        }
        let pick = |e: &mut Self, options: Vec<(u32, u32)>| match options.len() {
            0 => None,
            k => Some(options[e.rng.gen_range(0..k)]),
        };
        let replicas: Vec<(u32, u32)> = (0..n).filter(|&jj| clear(self, jj, w)).map(|jj| (jj, w)).collect();
        if let Some(x) = pick(self, replicas) {
            return x;
        }
        let pairs: Vec<(u32, u32)> =
            (0..n).flat_map(|jj| (0..nw).map(move |ww| (jj, ww))).filter(|&(jj, ww)| clear(self, jj, ww)).collect();
        pick(self, pairs).unwrap_or((j, w))
    }

    /// Whether whoever retries a call saw its attempt fail and can try again: the caller's pod
    /// is up, and the failure happened past the retrying proxy (the first proxy on the path
    /// that is not a ztunnel: a sidecar, a node proxy, a waypoint; the caller itself when
    /// there is none). A proxy that is itself down, or fails before it, retries nothing, so a
    /// dead waypoint replica is not hidden by the waypoint's own retries. A per-try timeout is
    /// the retrier's own verdict.
    fn retrier_saw(&self, call: &CallState, timed_out: bool) -> bool {
        let plan = self.plan;
        if let Some(p) = plan.edges[call.edge as usize].src_pods[call.src_i as usize] {
            if !self.stations[p].up {
                return false;
            }
        }
        if timed_out {
            return true;
        }
        let (first, len, _) = self.paths[call.path as usize];
        let retrier = (first..first + len).find(|&i| {
            let s = self.path_steps[i as usize].station as usize;
            matches!(
                plan.containers[plan.stations[s].container as usize].kind,
                ContainerKind::Proxy(_, k) if k != ProxyKind::Ztunnel
            )
        });
        retrier.is_none_or(|r| call.at > r)
    }

    /// The connect timeout of the client of `edge` (0 when the run sets none).
    pub(super) fn connect_timeout_ns(&self, edge: u32) -> u64 {
        self.opts.connect_timeout_ns.get(edge as usize).copied().unwrap_or(0)
    }

    /// The station whose retry budget a retry of this attempt spends: the retrying proxy (the
    /// first proxy on the path that is not a ztunnel), else the calling pod, else the first
    /// station (requests from outside).
    fn retrier_of(&self, call: &CallState) -> u32 {
        let plan = self.plan;
        let (first, len, _) = self.paths[call.path as usize];
        let proxy = (first..first + len).map(|i| self.path_steps[i as usize].station as usize).find(
            |&s| matches!(plan.containers[plan.stations[s].container as usize].kind, ContainerKind::Proxy(_, k) if k != ProxyKind::Ztunnel),
        );
        let pod = plan.edges[call.edge as usize].src_pods[call.src_i as usize];
        proxy.or(pod).unwrap_or(self.path_steps[first as usize].station as usize) as u32
    }

    fn free_call(&mut self, c: u32) {
        // A new generation makes pending timeouts of the old call stale.
        let g = self.calls[c as usize].gen.wrapping_add(1);
        self.calls[c as usize].gen = g;
        self.free_calls.push(c);
    }

    /// An end-user request is answered (or failed): count it, and let a closed-loop
    /// connection send its next one.
    pub(super) fn finish_request(&mut self, r: u32, failed: bool) {
        let req = self.requests[r as usize];
        self.free_requests.push(r);
        let latency = (self.now - req.start_ns).max(1);
        if failed {
            self.out.failed += 1;
        } else {
            self.out.succeeded += 1;
        }
        if req.measured {
            if failed {
                self.out.measured_failed += 1;
            } else {
                self.out.measured_succeeded += 1;
                record(&mut self.out.latency_ns, latency);
            }
        }
        if let Some(b) = self.bucket(req.start_ns) {
            let slo = self.opts.slo_ns;
            let bucket = &mut self.out.timeline[b];
            if failed {
                bucket.failed += 1;
                bucket.slo_missed += 1;
                record(&mut bucket.failed_latency_ns, latency);
            } else {
                bucket.succeeded += 1;
                record(&mut bucket.latency_ns, latency);
                if slo.is_some_and(|s| latency > s) {
                    bucket.slo_missed += 1;
                }
            }
        }
        if req.conn != NONE {
            self.connection_answered(req.conn as usize);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::model::CostModels;
    use crate::placement::{Deployment, Placement};
    use crate::sim::{simulate, Plan, SimOptions};

    /// Three services in a chain (a calls b calls c) on one node with no network delay.
    fn chain_events_and_requests() -> (u64, u64) {
        let mut text = String::from(
            "version = 1\nname = \"chain\"\n[simulation]\nduration = \"2s\"\nwarmup = \"200ms\"\nseed = 3\n[mesh]\n\
             [network]\nsame_node = \"0us\"\nsame_zone = \"0us\"\ncross_zone = \"0us\"\ncross_cluster = \"0us\"\n\
             [[node]]\nname = \"n\"\nvcpu = 8\nmemory = \"8Gi\"\n[[namespace]]\nname = \"app\"\n",
        );
        for (name, next) in [("a", Some("b")), ("b", Some("c")), ("c", None)] {
            text.push_str(&format!(
                "[[service]]\nname = \"{name}\"\nnamespace = \"app\"\nreplicas = 1\nconcurrency = 1\n\
                 service_time = {{ dist = \"exponential\", mean = \"100us\" }}\n"
            ));
            if let Some(to) = next {
                text.push_str(&format!("[[service.call]]\nto = \"{to}\"\nmode = \"sequential\"\n"));
            }
        }
        text.push_str("[[load]]\nto = \"a\"\nrate = \"100rps\"\n");
        let t = crate::topology::parse(Path::new("chain.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        let d = Deployment::new(&t, Placement::None, Default::default());
        let plan = Plan::new(&t, &d, &CostModels::default());
        let out = simulate(&plan, &SimOptions::new(3)).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(out.succeeded, out.sent);
        (out.events, out.sent)
    }

    #[test]
    fn callers_whose_last_call_returns_with_nothing_else_due_are_answered_without_events_of_their_own() {
        // Per request: its arrival, then a reach and a CPU completion at each of the three
        // pods, then one response event for c that answers b and a directly (not three);
        // plus the two window marks.
        let (events, sent) = chain_events_and_requests();
        assert!(sent > 100, "{sent} requests");
        assert_eq!(events, 8 * sent + 2);
    }
}
