//! Stations: admission to a pod's concurrency slots or a proxy's workers, a FIFO queue in
//! front of them, and the service itself: a pass's CPU work (proxies) or a request's CPU work
//! then off-CPU wait (pods), run on the node's shared cores in the station's container.

use super::engine::{Engine, Refusal, BG_JOB, REFUSAL};
use super::event::Event;

impl Engine<'_> {
    /// Change the count of calls present at a station, integrating the old count over the
    /// part of the elapsed time that lies in the measurement window.
    #[inline]
    pub(super) fn occupancy(&mut self, s: usize, delta: i32) {
        let st = &mut self.stations[s];
        let from = st.since_ns.max(self.plan.warmup_ns);
        let to = self.now.min(self.window_end);
        if to > from && st.present > 0 {
            self.out.stations[s].occupancy_ns += st.present as f64 * (to - from) as f64;
        }
        st.since_ns = self.now;
        st.present = (st.present as i64 + delta as i64).max(0) as u32;
    }

    /// A call reaches the station of its current step: served now, queued, or refused.
    pub(super) fn on_reach(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let step = self.path_steps[call.at as usize];
        let s = step.station as usize;
        if !self.stations[s].up {
            if self.stations[s].silent {
                // A dead node answers nothing: the connection attempt waits for the timeout.
                self.fail_call_after(c, self.connect_timeout_ns(call.edge));
            } else {
                // A crashed process on a live node: its node's kernel resets the connection.
                self.refuse(c, s, crate::kernel::REFUSED_CONNECTION_CPU_NS, Refusal::Down);
            }
            return;
        }
        if self.stations[s].busy < self.stations[s].servers {
            self.occupancy(s, 1);
            self.begin_service(c, s);
            self.admitted(s, call.edge);
        } else if self.stations[s].queue.len() >= self.plan.queue_limit as usize {
            if call.measured {
                self.out.stations[s].rejected += 1;
            }
            // Past its queue limit a pod or proxy takes no more: the connection is refused by
            // its node's kernel (the limit stands for the listen backlog), a reset's CPU.
            self.refuse(c, s, crate::kernel::REFUSED_CONNECTION_CPU_NS, Refusal::QueueFull);
        } else {
            self.occupancy(s, 1);
            self.stations[s].queue.push_back(c);
            let q = self.stations[s].queue.len() as u32;
            let st = &mut self.out.stations[s];
            st.queue_max = st.queue_max.max(q);
            self.admitted(s, call.edge);
        }
    }

    /// A call on `edge` was admitted at station `s`: a proxy holds it in memory until its
    /// response is back past it (should that take the proxy past its limit, it dies, and the
    /// call with it).
    #[inline]
    fn admitted(&mut self, s: usize, edge: u32) {
        if s >= self.plan.proxy_station_offset {
            self.hold_call(s, self.plan.edges[edge as usize].per_request_connection);
        }
    }

    /// Station `s` refuses call `c`: its node's kernel spends `work_ns` of reference CPU on the
    /// reset, charged to the station's container (outside its workers), then the error
    /// travels back. A refusal that costs no CPU is answered at once.
    fn refuse(&mut self, c: u32, s: usize, work_ns: u64, why: Refusal) {
        self.last_refusal = Some((self.now, s as u32, why));
        if work_ns == 0 {
            self.fail_call(c);
            return;
        }
        let spec = &self.plan.stations[s];
        self.start_task(spec.container, work_ns as f64 * spec.cpu_mult, REFUSAL | c);
    }

    /// Take a worker and start the CPU work: a proxy pass's, an application request's, or a
    /// background job's.
    pub(super) fn begin_service(&mut self, c: u32, s: usize) {
        self.stations[s].busy += 1;
        let spec = &self.plan.stations[s];
        let container = spec.container;
        if c & BG_JOB != 0 {
            let work = self.opts.background[(c & !BG_JOB) as usize].job_ns as f64 * spec.cpu_mult;
            self.start_task(container, work, BG_JOB | s as u32);
            return;
        }
        let call = self.calls[c as usize];
        let mut work_ref = match &self.cpu_samplers[s] {
            Some(sampler) => sampler.sample(&mut self.rng),
            None => {
                let step = self.path_steps[call.at as usize];
                step.work_ns as f64
            }
        };
        // Only a pass that finds every worker asleep pays for waking one.
        let idle_ns = if self.stations[s].busy == 1 { self.now.saturating_sub(self.stations[s].last_active_ns) } else { 0 };
        self.stations[s].last_active_ns = self.now;
        if let Some((after_idle_ns, wake_ns)) = spec.wake_up {
            if idle_ns > after_idle_ns {
                work_ref += wake_ns as f64;
            }
        }
        if self.in_window(self.now) {
            let st = &mut self.out.stations[s];
            st.passes += 1;
            for (count, &threshold) in st.idle_starts.iter_mut().zip(&super::output::IDLE_THRESHOLDS_NS) {
                if idle_ns <= threshold {
                    break;
                }
                *count += 1;
            }
        }
        self.calls[c as usize].epoch = self.stations[s].epoch;
        if work_ref > 0.0 {
            self.start_task(container, work_ref * spec.cpu_mult, c);
        } else {
            self.after_cpu(c, s);
        }
    }

    /// A CPU task finished.
    pub(super) fn on_cpu_done(&mut self, token: u32) {
        if token & BG_JOB != 0 {
            let s = (token & !BG_JOB) as usize;
            self.stations[s].busy -= 1;
            self.stations[s].last_active_ns = self.now;
            self.start_queued(s);
            return;
        }
        if token & super::engine::HOG != 0 {
            if self.is_config_token(token) {
                self.on_config_done(token);
            }
            return;
        }
        if token & REFUSAL != 0 {
            self.fail_call(token & !REFUSAL);
            return;
        }

        let call = self.calls[token as usize];
        let s = self.path_steps[call.at as usize].station as usize;
        self.after_cpu(token, s);
    }

    /// CPU work done: an application request then waits off-CPU, if it has a wait.
    #[inline(always)]
    fn after_cpu(&mut self, c: u32, s: usize) {
        match &self.wait_samplers[s] {
            Some(sampler) => {
                let wait = super::sampler::ns(sampler.sample(&mut self.rng));
                let at = self.after(wait);
                self.schedule(at, Event::WaitDone { call: c });
            }
            None => self.end_service(c, s),
        }
    }

    /// The off-CPU wait of a request is over, unless its pod crashed meanwhile.
    pub(super) fn on_wait_done(&mut self, c: u32) {
        let call = self.calls[c as usize];
        let s = self.path_steps[call.at as usize].station as usize;
        if self.stations[s].epoch != call.epoch {
            // The station crashed while serving this call; its worker is already gone.
            self.fail_call(c);
            return;
        }
        self.end_service(c, s);
    }

    /// Release the worker, serve the next in the queue, and move the call on: to the next
    /// step after the pass's fixed delay, or, at the callee pod, to its downstream calls.
    // Inlined into its two callers, like `after_cpu`: 1.1–1.4% fewer engine instructions on
    // Faces each, as every pass goes through both.
    #[inline(always)]
    fn end_service(&mut self, c: u32, s: usize) {
        let call = self.calls[c as usize];
        let (first, len, _) = self.paths[call.path as usize];
        let step = self.path_steps[call.at as usize];
        self.occupancy(s, -1);
        self.stations[s].last_active_ns = self.now;
        let after_ns = self.plan.stations[s].after_response_ns;
        if after_ns > 0 {
            // The worker stays busy with the pass's own bookkeeping; the call moves on now.
            let spec = &self.plan.stations[s];
            self.start_task(spec.container, after_ns as f64 * spec.cpu_mult, BG_JOB | s as u32);
        } else {
            self.stations[s].busy -= 1;
            self.start_queued(s);
        }
        if call.at + 1 == first + len {
            self.next_group(c);
        } else {
            let next = self.path_steps[call.at as usize + 1];
            self.calls[c as usize].at += 1;
            let held_ns = match self.plan.stations[s].pass_latency {
                Some(l) => super::sampler::ns(l.delay_at_score_ns(super::sampler::standard_normal(&mut self.rng))),
                None => step.fixed_ns,
            };
            let at = self.after(held_ns.saturating_add(next.delay_ns));
            self.schedule(at, Event::Reach { call: c });
        }
    }

    pub(super) fn start_queued(&mut self, s: usize) {
        while self.stations[s].up && self.stations[s].busy < self.stations[s].servers {
            match self.stations[s].queue.pop_front() {
                Some(next) => self.begin_service(next, s),
                None => break,
            }
        }
    }
}
