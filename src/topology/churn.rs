//! `[[churn]]`: change over time, as Kubernetes makes it. Each entry is one change: a rolling
//! update of a service, a scale-out or scale-in, pod restarts at a steady interval, a node
//! drain, or the control plane down for a time. Read here into what each pod does when: when
//! it runs and when it is Ready (in its Service's endpoints). What a mesh's proxies know of
//! those endpoints, and when, is the simulation's business (`crate::churn`).
//!
//! ```toml
//! [[churn]]
//! kind = "rollout"          # rollout | scale | restart | drain | control-plane-outage
//! service = "face"          # rollout, scale, restart: the service changed
//! at = "10s"                # when it starts
//! max_surge = 3             # rollout: pods over replicas (default 25%, rounded up)
//! max_unavailable = 2       # rollout: pods under replicas (default 25%, rounded down)
//! startup = "10s"           # a new pod is Ready this long after it is created (default [blast] pod_startup)
//! terminate_after = "0s"    # a pod taken out of the endpoints stops serving after this (a preStop sleep)
//!
//! [[churn]]
//! kind = "scale"            # an HPA's decision: replicas become `to` at `at`
//! service = "face"
//! at = "10s"
//! to = 100
//!
//! [[churn]]
//! kind = "restart"          # one pod after another restarts (its container exits, comes back)
//! service = "color"
//! at = "5s"
//! every = "20s"             # a restart every this long, pods in turn
//! until = "60s"             # the last restart starts before this (default the run's end)
//! down = "10s"              # out of the endpoints and not running this long (default `startup`)
//!
//! [[churn]]
//! kind = "drain"            # kubectl drain: the node's pods are evicted and replaced elsewhere
//! node = "node-2"
//! at = "20s"
//!
//! [[churn]]
//! kind = "control-plane-outage"
//! at = "10s"
//! outage = "30s"
//! ```
//!
//! Kubernetes' own order is kept: a pod leaves its Service's endpoints when it is deleted, at
//! the same moment its containers are sent SIGTERM (they are asynchronous: "Termination of Pods"
//! in the Kubernetes documentation), so without a preStop sleep (`terminate_after`) a client
//! that has not yet heard of the removal sends to a pod that has exited. A rolling update
//! follows the Deployment controller: at most `replicas + max_surge` pods exist and at least
//! `replicas - max_unavailable` are available; maxSurge and maxUnavailable default to 25%
//! (rounded up and down), and may not both be 0.

use super::input::ChurnInput;
use super::quantity::duration_in;
use super::{Node, NodeId, Pod, PodId, Service, ServiceId};
use crate::input_error::ErrorSink;
use crate::limits;

/// Most `[[churn]]` entries in one topology.
pub const MAX_CHURN_ENTRIES: usize = 1_000;
/// Most pods all churn entries together may add.
pub const MAX_ADDED_PODS: usize = 100_000;
/// Most restarts one entry may make.
pub const MAX_RESTARTS: u64 = 100_000;
/// Pod windows end here: to the end of the run.
pub const FOREVER: u64 = u64::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChurnKind {
    Rollout,
    Scale,
    Restart,
    Drain,
    ControlPlaneOutage,
}

impl ChurnKind {
    pub const NAMES: [&'static str; 5] = super::input::CHURN_KINDS;

    pub fn as_str(self) -> &'static str {
        match self {
            ChurnKind::Rollout => "rollout",
            ChurnKind::Scale => "scale",
            ChurnKind::Restart => "restart",
            ChurnKind::Drain => "drain",
            ChurnKind::ControlPlaneOutage => "control-plane-outage",
        }
    }
}

/// One validated change.
#[derive(Clone, Debug, PartialEq)]
pub struct ChurnEvent {
    pub kind: ChurnKind,
    /// What it changes, for the report: `rollout face (10 pods, surge 3, unavailable 2)`.
    pub label: String,
    pub at_ns: u64,
    /// When it is done in Kubernetes (its last pod Ready, the control plane back).
    pub end_ns: u64,
    /// Pods it creates, and pods it takes out of the endpoints (a restart counts each time).
    pub created: u32,
    pub removed: u32,
}

/// What one pod does over the run, when that is not "running and Ready throughout".
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PodLife {
    /// Windows `[from, until)` in which it is Ready (in its Service's endpoints), in order.
    pub ready: Vec<(u64, u64)>,
    /// Windows in which its containers run, in order (a deleted pod runs on past its removal
    /// for `terminate_after`).
    pub running: Vec<(u64, u64)>,
    /// Created by a churn entry (absent before it).
    pub added: bool,
}

/// The topology's churn: its entries and what they make every pod do.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Churn {
    pub events: Vec<ChurnEvent>,
    /// Per pod whose life changes.
    pub pods: Vec<(PodId, PodLife)>,
    /// Windows `[from, until)` in which the control plane is down.
    pub control_plane_down: Vec<(u64, u64)>,
}

impl Churn {
    pub fn is_empty(&self) -> bool {
        self.events.is_empty()
    }

    /// Pods the churn adds to the topology as written.
    pub fn added_pods(&self) -> usize {
        self.pods.iter().filter(|(_, l)| l.added).count()
    }
}

/// Check `[[churn]]` against the scheduled topology and add the pods it creates (placed by
/// the spread rule the scheduler uses, off any node being drained). Problems go to `sink`.
pub(super) fn validate(
    sink: &mut ErrorSink,
    input: &[ChurnInput],
    nodes: &[Node],
    services: &mut [Service],
    pods: &mut Vec<Pod>,
    duration_ns: u64,
    default_startup_ns: u64,
) -> Churn {
    let mut churn = Churn::default();
    if input.len() > MAX_CHURN_ENTRIES {
        sink.at(0..0, format!("{} [[churn]] entries: at most {MAX_CHURN_ENTRIES} are supported", input.len()));
        return churn;
    }
    let mut lives: Vec<Option<PodLife>> = vec![None; pods.len()];
    let mut changed_service: Vec<Option<String>> = vec![None; services.len()];
    let max = limits::MAX_DURATION_NS;
    for c in input {
        let Some(kind_s) = &c.kind else { continue };
        let kind = match ChurnKind::NAMES.iter().position(|n| n == kind_s.get_ref()) {
            Some(i) => [ChurnKind::Rollout, ChurnKind::Scale, ChurnKind::Restart, ChurnKind::Drain, ChurnKind::ControlPlaneOutage][i],
            None => {
                let names: Vec<String> = ChurnKind::NAMES.iter().map(|n| format!("\"{n}\"")).collect();
                sink.at(
                    kind_s.span(),
                    format!("{}: `{}` is not a kind of change: write one of {}", kind_s.path(), kind_s.get_ref(), names.join(", ")),
                );
                continue;
            }
        };
        let Some(at_ns) = c.at.as_ref().and_then(|v| duration_in(sink, v, 0, max)) else { continue };
        let at_field = c.at.as_ref().map(|a| (a.span(), a.path().to_string())).unwrap_or((0..0, format!("{}.at", c.path)));
        // Reported, and the entry's other fields still checked (every problem at once).
        let late = at_ns >= duration_ns;
        if late {
            sink.at(at_field.0.clone(), format!("{}: the change starts at or after the end of the run (simulation.duration)", at_field.1));
        }
        let startup_ns = c.startup.as_ref().and_then(|v| duration_in(sink, v, 1, max)).unwrap_or(default_startup_ns.max(1));
        let terminate_ns = c.terminate_after.as_ref().and_then(|v| duration_in(sink, v, 0, max)).unwrap_or(0);
        // Fields that do not belong to the kind are refused, so a typo'd kind is not silently another.
        let allowed: &[&str] = match kind {
            ChurnKind::Rollout => &["service", "max_surge", "max_unavailable", "startup", "terminate_after"],
            ChurnKind::Scale => &["service", "to", "startup", "terminate_after"],
            ChurnKind::Restart => &["service", "every", "until", "down", "startup"],
            ChurnKind::Drain => &["node", "startup", "terminate_after"],
            ChurnKind::ControlPlaneOutage => &["outage"],
        };
        for (key, span) in c.given() {
            if !allowed.contains(&key) {
                sink.at(span, format!("{}.{key}: does not apply to a {} (it takes {})", c.path, kind.as_str(), allowed.join(", ")));
            }
        }
        let service = if matches!(kind, ChurnKind::Rollout | ChurnKind::Scale | ChurnKind::Restart) {
            let Some(name) = &c.service else {
                sink.at(c.span.clone(), format!("{}.service: missing: a {} names the service it changes", c.path, kind.as_str()));
                continue;
            };
            match services.iter().position(|s| &s.name == name.get_ref()) {
                Some(s) => {
                    if matches!(kind, ChurnKind::Rollout | ChurnKind::Scale) {
                        if let Some(before) = &changed_service[s] {
                            sink.at(
                                name.span(),
                                format!(
                                    "{}: service `{}` is already changed by a {before}: one rollout or scale per service",
                                    name.path(),
                                    name.get_ref()
                                ),
                            );
                            continue;
                        }
                        changed_service[s] = Some(kind.as_str().to_string());
                    }
                    Some(s)
                }
                None => {
                    sink.at(name.span(), format!("{}: service `{}` does not exist", name.path(), name.get_ref()));
                    continue;
                }
            }
        } else {
            None
        };
        let mut ev = ChurnEvent { kind, label: String::new(), at_ns, end_ns: at_ns, created: 0, removed: 0 };
        match kind {
            ChurnKind::Rollout => {
                let s = service.unwrap_or(0);
                let r = services[s].pods.len() as i64;
                let surge = c.max_surge.as_ref().map_or(Some((r + 3) / 4), |v| count_in(sink, v, 0, limits::MAX_REPLICAS));
                let unavailable = match &c.max_unavailable {
                    None => Some(r / 4),
                    Some(v) if *v.get_ref() > r => {
                        sink.at(v.span(), format!("{}: {} is more than the service's {r} replicas", v.path(), v.get_ref()));
                        None
                    }
                    Some(v) => count_in(sink, v, 0, r),
                };
                let (Some(surge), Some(unavailable)) = (surge, unavailable) else { continue };
                if surge == 0 && unavailable == 0 {
                    let span = c.max_surge.as_ref().map(|v| v.span()).unwrap_or(c.span.clone());
                    sink.at(span, format!("{}: max_surge and max_unavailable may not both be 0 (the rollout could never start)", c.path));
                    continue;
                }
                let plan = rollout_waves(r as usize, surge as usize, unavailable as usize, at_ns, startup_ns);
                ev.end_ns = plan.end_ns;
                ev.label = format!("rollout {} ({r} pods, surge {surge}, unavailable {unavailable})", services[s].name);
                let old: Vec<PodId> = services[s].pods.clone();
                for (k, &removed_at) in plan.old_removed_ns.iter().enumerate() {
                    end_pod(&mut lives, old[k], removed_at, terminate_ns);
                }
                for &ready_at in &plan.new_ready_ns {
                    add_pod(&mut lives, nodes, services, pods, s, None, ready_at);
                }
                ev.created = plan.new_ready_ns.len() as u32;
                ev.removed = old.len() as u32;
            }
            ChurnKind::Scale => {
                let s = service.unwrap_or(0);
                let Some(to) = c.to.as_ref().and_then(|v| count_in(sink, v, 1, limits::MAX_REPLICAS)) else {
                    if c.to.is_none() {
                        sink.at(c.span.clone(), format!("{}.to: missing: a scale names the replicas it makes, like `to = 100`", c.path));
                    }
                    continue;
                };
                let r = services[s].pods.len();
                let to = to as usize;
                ev.label = format!("scale {} from {r} to {to}", services[s].name);
                if to > r {
                    ev.end_ns = at_ns.saturating_add(startup_ns);
                    for _ in r..to {
                        add_pod(&mut lives, nodes, services, pods, s, None, ev.end_ns);
                    }
                    ev.created = (to - r) as u32;
                } else {
                    let old = services[s].pods.clone();
                    for &p in &old[to..] {
                        end_pod(&mut lives, p, at_ns, terminate_ns);
                    }
                    ev.removed = (r - to) as u32;
                }
            }
            ChurnKind::Restart => {
                let s = service.unwrap_or(0);
                let Some(every) = c.every.as_ref().and_then(|v| duration_in(sink, v, limits::MIN_TIMEOUT_NS, max)) else {
                    if c.every.is_none() {
                        sink.at(c.span.clone(), format!("{}.every: missing: how often a pod restarts, like \"30s\"", c.path));
                    }
                    continue;
                };
                let until = c.until.as_ref().and_then(|v| duration_in(sink, v, 0, max)).unwrap_or(duration_ns);
                if until > duration_ns {
                    if let Some(u) = &c.until {
                        sink.at(u.span(), format!("{}: ends after the run (simulation.duration)", u.path()));
                    }
                    continue;
                }
                let down = c.down.as_ref().and_then(|v| duration_in(sink, v, 1, max)).unwrap_or(startup_ns);
                let restarts = until.saturating_sub(at_ns).div_ceil(every);
                if restarts > MAX_RESTARTS {
                    let span = c.every.as_ref().map(|v| v.span()).unwrap_or(0..0);
                    sink.at(span, format!("{}.every: {restarts} restarts: at most {MAX_RESTARTS} per entry", c.path));
                    continue;
                }
                let own = services[s].pods.clone();
                for k in 0..restarts {
                    let t = at_ns + k * every;
                    restart_pod(&mut lives, own[(k as usize) % own.len()], t, down);
                }
                ev.label = format!("restart {} every {}", services[s].name, crate::units::format_duration_ns(every));
                ev.end_ns = at_ns.saturating_add((restarts.saturating_sub(1)) * every).saturating_add(down);
                ev.created = 0;
                ev.removed = restarts as u32;
            }
            ChurnKind::Drain => {
                let Some(name) = &c.node else {
                    sink.at(c.span.clone(), format!("{}.node: missing: a drain names the node it drains", c.path));
                    continue;
                };
                let Some(n) = nodes.iter().position(|x| &x.name == name.get_ref()) else {
                    sink.at(
                        name.span(),
                        format!("{}: node `{}` does not exist: name a node of a [[node]] table", name.path(), name.get_ref()),
                    );
                    continue;
                };
                // The pods running there at `at` (one a rollout already removed is gone).
                let running = |p: PodId| {
                    lives
                        .get(p)
                        .and_then(|l| l.as_ref())
                        .is_none_or(|l| l.running.iter().any(|&(from, until)| from <= at_ns && at_ns < until))
                };
                let on: Vec<PodId> = (0..pods.len()).filter(|&p| pods[p].node == n && running(p)).collect();
                ev.end_ns = at_ns.saturating_add(startup_ns);
                for &p in &on {
                    end_pod(&mut lives, p, at_ns, terminate_ns);
                    let s = pods[p].service;
                    add_pod(&mut lives, nodes, services, pods, s, Some(n), ev.end_ns);
                }
                ev.label = format!("drain {} ({} pods)", nodes[n].name, on.len());
                ev.created = on.len() as u32;
                ev.removed = on.len() as u32;
            }
            ChurnKind::ControlPlaneOutage => {
                let Some(outage) = c.outage.as_ref().and_then(|v| duration_in(sink, v, 1, max)) else {
                    if c.outage.is_none() {
                        sink.at(c.span.clone(), format!("{}.outage: missing: how long the control plane is down, like \"30s\"", c.path));
                    }
                    continue;
                };
                ev.end_ns = at_ns.saturating_add(outage);
                ev.label = format!("control plane down for {}", crate::units::format_duration_ns(outage));
                churn.control_plane_down.push((at_ns, ev.end_ns));
            }
        }
        // A restart's last one starts before `until`, within the run; it may come back after.
        if ev.end_ns > duration_ns && kind != ChurnKind::Restart && !late {
            sink.at(
                at_field.0.clone(),
                format!(
                    "{}: the {} ends at {}, after the run's end at {} (simulation.duration): start it earlier or run longer",
                    at_field.1,
                    kind.as_str(),
                    crate::units::format_duration_ns(ev.end_ns),
                    crate::units::format_duration_ns(duration_ns)
                ),
            );
        }
        if lives.iter().filter(|l| l.as_ref().is_some_and(|l| l.added)).count() > MAX_ADDED_PODS {
            sink.at(at_field.0, format!("{}: the churn adds more than {MAX_ADDED_PODS} pods", at_field.1));
            break;
        }
        churn.events.push(ev);
    }
    churn.control_plane_down.sort_unstable();
    churn.pods = lives.into_iter().enumerate().filter_map(|(p, l)| l.map(|l| (p, l))).collect();
    churn
}

fn count_in(sink: &mut ErrorSink, v: &crate::toml_doc::Spanned<i64>, min: i64, max: i64) -> Option<i64> {
    let x = *v.get_ref();
    if x < min || x > max {
        sink.at(v.span(), format!("{}: {x} is out of range: it must be between {min} and {max}", v.path()));
        None
    } else {
        Some(x)
    }
}

fn life(lives: &mut Vec<Option<PodLife>>, p: PodId) -> &mut PodLife {
    if lives.len() <= p {
        lives.resize(p + 1, None);
    }
    lives[p].get_or_insert_with(|| PodLife { ready: vec![(0, FOREVER)], running: vec![(0, FOREVER)], added: false })
}

/// Pod `p` leaves the endpoints at `at` and stops running `terminate` later, for good.
fn end_pod(lives: &mut Vec<Option<PodLife>>, p: PodId, at: u64, terminate: u64) {
    let l = life(lives, p);
    cut(&mut l.ready, at);
    cut(&mut l.running, at.saturating_add(terminate));
}

/// Pod `p` restarts at `at`: out of the endpoints and not running for `down`.
fn restart_pod(lives: &mut Vec<Option<PodLife>>, p: PodId, at: u64, down: u64) {
    let l = life(lives, p);
    for w in [&mut l.ready, &mut l.running] {
        let tail_open = w.last().is_some_and(|&(from, until)| from <= at && until > at);
        if tail_open {
            let until = w.last().map_or(FOREVER, |x| x.1);
            cut(w, at);
            let back = at.saturating_add(down);
            if back < until {
                w.push((back, until));
            }
        }
    }
}

/// End every window at `at`.
fn cut(windows: &mut Vec<(u64, u64)>, at: u64) {
    windows.retain(|&(from, _)| from < at);
    if let Some(last) = windows.last_mut() {
        last.1 = last.1.min(at);
    }
}

/// A new pod of service `s`, Ready (and, for the engine, running) from `ready_at`, on the
/// eligible node with the fewest of the service's pods, then the fewest pods, then the
/// lowest index, avoiding `avoid` (a node being drained).
fn add_pod(
    lives: &mut Vec<Option<PodLife>>,
    nodes: &[Node],
    services: &mut [Service],
    pods: &mut Vec<Pod>,
    s: ServiceId,
    avoid: Option<NodeId>,
    ready_at: u64,
) {
    let mut on_node = vec![(0u32, 0u32); nodes.len()];
    for p in pods.iter() {
        on_node[p.node].1 += 1;
        if p.service == s {
            on_node[p.node].0 += 1;
        }
    }
    let svc = &services[s];
    let candidates: Vec<NodeId> = if svc.eligible_nodes.is_empty() { (0..nodes.len()).collect() } else { svc.eligible_nodes.clone() };
    let node = candidates.iter().copied().filter(|&n| Some(n) != avoid).min_by_key(|&n| (on_node[n], n)).unwrap_or(candidates[0]);
    let id = pods.len();
    let name = format!("{}-{}", svc.name, svc.pods.len() + 1);
    services[s].pods.push(id);
    pods.push(Pod { name, service: s, node });
    if lives.len() <= id {
        lives.resize(id + 1, None);
    }
    lives[id] = Some(PodLife { ready: vec![(ready_at, FOREVER)], running: vec![(ready_at, FOREVER)], added: true });
}

/// When a Deployment controller replacing `r` pods takes each old pod out and brings each
/// new one up, given at most `r + surge` pods and at least `r - unavailable` available.
#[derive(Debug, PartialEq)]
pub(crate) struct RolloutPlan {
    pub old_removed_ns: Vec<u64>,
    pub new_ready_ns: Vec<u64>,
    pub end_ns: u64,
}

pub(crate) fn rollout_waves(r: usize, surge: usize, unavailable: usize, at: u64, startup: u64) -> RolloutPlan {
    let (mut old_alive, mut new_ready, mut pending): (usize, usize, Vec<u64>) = (r, 0, Vec::new());
    let mut plan = RolloutPlan { old_removed_ns: Vec::new(), new_ready_ns: Vec::new(), end_ns: at };
    let mut t = at;
    let min_available = r.saturating_sub(unavailable);
    // Each step either removes an old pod, creates a new one, or waits for one to be Ready:
    // at most 3r steps, bounded here all the same.
    for _ in 0..(4 * r + 4) {
        while old_alive > 0 && old_alive + new_ready > min_available {
            old_alive -= 1;
            plan.old_removed_ns.push(t);
        }
        while old_alive + new_ready + pending.len() < r + surge && new_ready + pending.len() < r {
            pending.push(t.saturating_add(startup));
        }
        if old_alive == 0 && pending.is_empty() {
            break;
        }
        let Some(&next) = pending.iter().min() else { break };
        t = next;
        let (ready, rest): (Vec<u64>, Vec<u64>) = pending.iter().partition(|&&x| x <= t);
        new_ready += ready.len();
        plan.new_ready_ns.extend(ready);
        pending = rest;
    }
    plan.end_ns = plan.new_ready_ns.iter().copied().max().unwrap_or(at).max(plan.old_removed_ns.iter().copied().max().unwrap_or(at));
    plan
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_follows_surge_and_unavailable() {
        // 10 pods, the defaults (surge 3, unavailable 2), 10 s to Ready.
        let p = rollout_waves(10, 3, 2, 0, 10);
        assert_eq!(p.new_ready_ns.len(), 10);
        assert_eq!(p.old_removed_ns.len(), 10);
        // Two old pods go at once, five new ones start (13 at most), then five more old ones.
        assert_eq!(&p.old_removed_ns[..2], &[0, 0]);
        assert_eq!(p.new_ready_ns[..5], [10; 5]);
        assert_eq!(p.end_ns, 20);
        // maxUnavailable 0: one surge pod at a time, the old one leaves when it is Ready.
        let p = rollout_waves(3, 1, 0, 5, 10);
        assert_eq!(p.new_ready_ns, vec![15, 25, 35]);
        assert_eq!(p.old_removed_ns, vec![15, 25, 35]);
    }
}
