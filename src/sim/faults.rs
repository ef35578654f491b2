//! Faults and background work: a crash (calls in service or queued fail; the station refuses
//! new ones until it restarts, or, gone with its node, leaves them unanswered until the
//! client's connect timeout), a drain (new calls choose other replicas), a CPU-limit squeeze (a CFS quota on the station's container),
//! background jobs pushed through stations (a noisy tenant's traffic through a shared proxy)
//! and CPU hogs on nodes (a noisy neighbour's batch job on the same cores).

use super::engine::{Engine, BG_JOB, HOG, REFUSAL};
use super::event::Event;
use super::output::FaultEffect;

impl Engine<'_> {
    pub(super) fn on_fault(&mut self, f: usize, start: bool) {
        let fault = &self.opts.faults[f];
        for &s in &fault.stations {
            let s = s as usize;
            let container = self.plan.stations[s].container;
            match (fault.effect, start) {
                (FaultEffect::Down | FaultEffect::Unreachable, true) => self.crash_station(s, fault.effect == FaultEffect::Unreachable),
                (FaultEffect::Down | FaultEffect::Unreachable, false) => self.revive_station(s),
                (FaultEffect::Drained, start) => {
                    if self.stations[s].drained != start {
                        self.stations[s].drained = start;
                        self.drained = if start { self.drained + 1 } else { self.drained.saturating_sub(1) };
                    }
                }
                (FaultEffect::CpuLimit { cores }, true) => {
                    let servers = self.plan.stations[s].servers;
                    self.cpu.set_limit(self.now, container, Some(cores), servers);
                    self.flush_cpu();
                }
                (FaultEffect::CpuLimit { .. }, false) => {
                    let own = &self.plan.containers[container as usize].cpu;
                    self.cpu.set_limit(self.now, container, own.limit_cores, own.max_parallel);
                    self.flush_cpu();
                }
            }
        }
    }

    /// Station `s` dies: calls in service or queued fail now, what it held in memory is
    /// freed, and it refuses new calls (`silent`: gone with its node, it answers nothing).
    pub(super) fn crash_station(&mut self, s: usize, silent: bool) {
        let container = self.plan.stations[s].container;
        let present = self.stations[s].present as i32;
        self.occupancy(s, -present);
        let st = &mut self.stations[s];
        st.up = false;
        st.silent = silent;
        st.epoch = st.epoch.wrapping_add(1);
        st.busy = 0;
        let queued: Vec<u32> = st.queue.drain(..).collect();
        for c in queued.into_iter().filter(|c| c & BG_JOB == 0) {
            self.fail_call(c);
        }
        // Work on the CPU dies with the process: its calls fail now.
        let running = self.cpu.clear(self.now, container);
        self.flush_cpu();
        for c in running.into_iter().filter(|c| c & (BG_JOB | HOG) == 0) {
            self.fail_call(c & !REFUSAL);
        }
        self.drop_memory(s);
    }

    /// Station `s` is back up; closed-loop users behind it send again.
    pub(super) fn revive_station(&mut self, s: usize) {
        self.stations[s].up = true;
        self.stations[s].silent = false;
        for k in std::mem::take(&mut self.parked[s]) {
            self.schedule(self.now, Event::ConnectionSend { conn: k });
        }
    }

    /// A node hog starts (its threads become runnable) or ends.
    pub(super) fn on_hog(&mut self, h: usize, start: bool) {
        let container = (self.plan.containers.len() + h) as u32;
        if start {
            for _ in 0..self.opts.hogs[h].threads {
                self.start_task(container, f64::INFINITY, HOG | h as u32);
            }
        } else {
            self.cpu.clear(self.now, container);
        }
        self.flush_cpu();
    }

    pub(super) fn background_end(&self, i: usize) -> u64 {
        let b = &self.opts.background[i];
        b.end_ns.unwrap_or(self.plan.duration_ns).min(self.plan.duration_ns)
    }

    /// A background job arrives at every station of load `i`; the next one is scheduled.
    pub(super) fn on_background_arrival(&mut self, i: usize) {
        let b = &self.opts.background[i];
        let gap = super::sampler::ns(1e9 / b.jobs_per_s).max(1);
        let next = self.after(gap);
        if next < self.background_end(i) {
            self.schedule(next, Event::BackgroundArrival { load: i as u32 });
        }
        for k in 0..self.opts.background[i].stations.len() {
            let s = self.opts.background[i].stations[k] as usize;
            let job = BG_JOB | i as u32;
            let st = &self.stations[s];
            if !st.up {
                continue;
            }
            if st.busy < st.servers {
                self.begin_service(job, s);
            } else if st.queue.len() < self.plan.queue_limit as usize {
                self.stations[s].queue.push_back(job);
            }
        }
    }
}
