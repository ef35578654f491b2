//! End-user load: open loop (ticks at a rate, Poisson or constant, each sending one request
//! per aligned connection) or closed loop (connections that each send their next request
//! when the previous one is answered, after an optional think time and no sooner than a
//! per-connection rate cap allows), or wrk2's pacing (`wrk2.rs`).

use super::engine::{Engine, RequestState, NONE};
use super::event::Event;
use super::sampler::{ns, unit};

impl Engine<'_> {
    /// Gap to the next tick of load `l`: its rate is split over its aligned connections, so
    /// ticks come at `rate / connections`, each sending one request per connection.
    pub(super) fn interarrival(&mut self, l: usize) -> u64 {
        let connections = f64::from(self.plan.load_connections[l].max(1));
        let mean_ns = 1e9 * connections / self.plan.load_rates_rps[l];
        let x = if self.plan.load_poisson[l] { -mean_ns * (1.0 - unit(&mut self.rng)).ln() } else { mean_ns };
        ns(x).max(1)
    }

    /// A tick of load `l`: schedule the next, then send one request on each connection, in
    /// connection order (so the RNG is drawn in a fixed order within the tick).
    pub(super) fn on_arrival(&mut self, l: usize) {
        if self.wrk2[l].is_some() {
            return self.on_wrk2_tick(l);
        }
        let gap = self.interarrival(l);
        let next = self.after(gap);
        if next < self.plan.duration_ns {
            self.schedule(next, Event::Arrival { load: l as u32 });
        }
        for _ in 0..self.plan.load_connections[l].max(1) {
            let n_src = self.plan.edges[l].src_pods.len() as u32;
            let mut src_i = self.rr_source[l] % n_src;
            self.rr_source[l] = self.rr_source[l].wrapping_add(1);
            // A drained source pod (NotReady, or a replacement not yet serving) sends
            // nothing: the next one in turn does, unless every one is drained.
            if self.drained > 0 {
                for _ in 1..n_src {
                    let drained = self.plan.edges[l].src_pods[src_i as usize].is_some_and(|p| self.stations[p].drained);
                    if !drained {
                        break;
                    }
                    src_i = self.rr_source[l] % n_src;
                    self.rr_source[l] = self.rr_source[l].wrapping_add(1);
                }
            }
            self.send_request(l, src_i, NONE);
        }
    }

    /// Build the schedule of wrk2-paced load `l` and schedule its first tick.
    pub(super) fn start_wrk2(&mut self, l: usize, threads: u32) {
        let sources = self.plan.edges[l].src_pods.len() as u32;
        let rng = &mut self.rng;
        let s = super::wrk2::Wrk2Schedule::new(self.plan.load_rates_rps[l], sources, threads, self.plan.load_connections[l], || unit(rng));
        let first = s.at(0);
        self.wrk2[l] = Some(s);
        if first < self.plan.duration_ns {
            self.schedule(first, Event::Arrival { load: l as u32 });
        }
    }

    /// A tick of wrk2-paced load `l`: its pod's threads each send one request now.
    pub(super) fn on_wrk2_tick(&mut self, l: usize) {
        let Some(s) = self.wrk2[l].as_mut() else { return };
        let (_, src) = s.slots[(s.next % s.slots.len() as u64) as usize];
        let threads = s.threads;
        s.next += 1;
        let next = s.at(s.next);
        if next < self.plan.duration_ns {
            self.schedule(next, Event::Arrival { load: l as u32 });
        }
        // A drained load-generator pod sends nothing, as with the other open-loop loads.
        if self.plan.edges[l].src_pods[src as usize].is_some_and(|p| self.stations[p].drained) {
            return;
        }
        for _ in 0..threads {
            self.send_request(l, src, NONE);
        }
    }

    /// A closed-loop connection sends a request, unless the load has stopped.
    pub(super) fn on_connection_send(&mut self, k: usize) {
        if self.now >= self.plan.duration_ns {
            return;
        }
        let conn = self.conns[k];
        // A load generator whose pod is down sends nothing until it is back (and a crashed
        // client answered at once would send again at once, forever).
        if let Some(p) = self.plan.edges[conn.load as usize].src_pods[conn.src_i as usize] {
            if !self.stations[p].up {
                self.parked[p].push(k as u32);
                return;
            }
        }
        self.conns[k].last_send_ns = self.now;
        self.send_request(conn.load as usize, conn.src_i, k as u32);
    }

    /// A closed-loop connection got its answer: it sends again after its think time, and no
    /// sooner than its rate cap allows.
    pub(super) fn connection_answered(&mut self, k: usize) {
        let conn = self.conns[k];
        let l = conn.load as usize;
        let think = match &self.think_samplers[l] {
            Some(s) => ns(s.sample(&mut self.rng)),
            None => 0,
        };
        let mut at = self.after(think);
        if let Some(gap) = self.plan.load_closed[l].and_then(|c| c.min_gap_ns) {
            at = at.max(conn.last_send_ns.saturating_add(gap));
        }
        if at < self.plan.duration_ns {
            self.schedule(at, Event::ConnectionSend { conn: k as u32 });
        }
    }

    /// One end-user request of load `l` from source replica `src_i`, starting now.
    fn send_request(&mut self, l: usize, src_i: u32, conn: u32) {
        let measured = self.now >= self.plan.warmup_ns;
        let req = RequestState { start_ns: self.now, measured, conn };
        let rid = match self.free_requests.pop() {
            Some(r) => {
                self.requests[r as usize] = req;
                r
            }
            None => {
                self.requests.push(req);
                (self.requests.len() - 1) as u32
            }
        };
        self.out.sent += 1;
        if measured {
            self.out.measured_sent += 1;
        }
        if let Some(b) = self.bucket(self.now) {
            self.out.timeline[b].sent += 1;
        }
        self.start_call(l as u32, src_i, NONE, rid, 0, None);
    }

    pub(super) fn bucket(&self, t: u64) -> Option<usize> {
        let b = (t / self.out.bucket_ns) as usize;
        (b < self.out.timeline.len()).then_some(b)
    }
}
