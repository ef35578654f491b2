//! Dynamic blast scenarios: for one deployment, the failures and squeezes to run, each as
//! engine [`Fault`]s and [`BackgroundLoad`]s. Pure: settings and the static analysis in,
//! scenarios out.
//!
//! | scenario | what happens from `fail_at` |
//! |---|---|
//! | `crash <kind> (worst\|seeded)` | the instance is down (its node refuses new connections, calls in it are reset) for `outage`, its restart time |
//! | `crash node (worst\|seeded)` | every pod and proxy on the node is down for `node_reschedule` (else `outage`), in every placement (the load generator's pods too); nothing answers, so a new connection fails at the client's connect timeout |
//! | `crash zone (worst)`, `crash cluster (worst)` | the same for every node of a zone or cluster (only when the topology has more than one) |
//! | `upgrade <kind>` | a rolling update of the data plane, one wave of `upgrade_restart` after another (`maxUnavailable: 1`): a sidecar is replaced with its pod, one pod of every service per wave, and a waypoint one replica per deployment per wave, each drained (a new replica surged in first, new calls go elsewhere); a ztunnel or node proxy, a DaemonSet's pod with no stand-in on its node, is down for its wave, node after node |
//! | `cpu-limit <kind>` | the worst instance runs under `cpu_limit` for `outage`: fewer workers, slower passes |
//! | `oom <kind>` | if the worst instance's memory at the run's load is over the limit, it is OOM-killed and restarts after `outage` (one kill; crash loops are not modelled) |
//! | `control-plane outage` | the control plane is down for `outage` (`blast/outage.rs`): proxies keep what they hold, new pods wait for it, certificates that expire in the window refuse connections |
//! | `noisy-tenant` | a bulk TCP transfer of `noisy_tenant` bit/s crosses the worst shared node-level proxy (ztunnel or node proxy), which runs under `cpu_limit`, for `outage`; under sidecars the tenant's own sidecars carry it, so no shared proxy is touched |

use super::static_analysis::{clusters, zones, Component, StaticAnalysis, PLACE_KINDS};
use crate::model::CostModels;
use crate::placement::{Deployment, Layer};
use crate::sim::BackgroundLoad;
use crate::sim::{Fault, FaultEffect};
use crate::topology::{BlastConfig, PodId, ProxyKind, Topology};
use std::collections::{HashMap, HashSet};

/// Size of one segment of the noisy tenant's transfer: one proxy pass each.
pub const TENANT_SEGMENT_BYTES: u64 = 64 * 1024;

/// What a scenario does to its target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ScenarioKind {
    Baseline,
    Crash,
    CpuLimit,
    Oom,
    NoisyTenant,
    Upgrade,
    ControlPlaneOutage,
}

/// Resolved settings of a blast run (the topology's `[blast]` with flags applied).
#[derive(Clone, Debug, PartialEq)]
pub struct Settings {
    pub blast: BlastConfig,
    pub seed: u64,
}

/// One dynamic run to make.
#[derive(Clone, Debug, PartialEq)]
pub struct Scenario {
    /// e.g. `crash ztunnel (worst)`; the same name across placements means the same kind of event.
    pub name: String,
    pub kind: ScenarioKind,
    /// The component failed or squeezed (`None` when nothing is touched).
    pub target: Option<Component>,
    pub target_name: String,
    pub faults: Vec<Fault>,
    pub background: Vec<BackgroundLoad>,
    /// Start and end of the disturbance, ns (equal when there is none).
    pub window_ns: (u64, u64),
    /// A short explanation for the report, e.g. why nothing happened.
    pub note: String,
}

fn station_of(t: &Topology, c: Component, d: &Deployment) -> Vec<u32> {
    match c {
        Component::Proxy(x) => vec![(t.pods.len() + x) as u32],
        place => {
            let (zones, clusters) = (zones(t), clusters(t));
            let on = |n| place.holds_node(t, &zones, &clusters, n);
            (0..t.pods.len())
                .filter(|&p| on(t.pods[p].node))
                .map(|p| p as u32)
                .chain((0..d.proxies.len()).filter(|&x| on(d.proxies[x].node)).map(|x| (t.pods.len() + x) as u32))
                .collect()
        }
    }
}

/// A rolling restart of every instance of a proxy kind: the waves of stations down one after
/// another, each wave for `restart_ns`. Sidecars go with their pods, one pod of every service
/// per wave (not the load generator's: it stands for the users, outside the rollout);
/// ztunnels and node proxies one node per wave; waypoint replicas one per deployment per
/// wave. Empty when the kind has no instance.
fn upgrade_waves(t: &Topology, d: &Deployment, kind: ProxyKind, users_side: &HashSet<usize>) -> Vec<Vec<u32>> {
    let station = |x: usize| (t.pods.len() + x) as u32;
    let mut waves: Vec<Vec<u32>> = Vec::new();
    let mut put = |wave: usize, stations: &[u32]| {
        if waves.len() <= wave {
            waves.resize(wave + 1, Vec::new());
        }
        waves[wave].extend_from_slice(stations);
    };
    match kind {
        ProxyKind::Sidecar => {
            let sidecars: HashMap<PodId, usize> =
                d.proxies.iter().enumerate().filter(|(_, x)| x.kind == kind).filter_map(|(i, x)| x.pod.map(|p| (p, i))).collect();
            for s in &t.services {
                let mut wave = 0;
                for &p in &s.pods {
                    if let Some(&x) = sidecars.get(&p) {
                        if !users_side.contains(&x) {
                            put(wave, &[p as u32, station(x)]);
                            wave += 1;
                        }
                    }
                }
            }
        }
        ProxyKind::Waypoint => {
            // Replicas of one deployment share their name up to the replica number.
            let mut deployments: Vec<(&str, usize)> = Vec::new();
            for (x, p) in d.proxies.iter().enumerate().filter(|(_, p)| p.kind == kind) {
                let base = p.name.rsplit_once('-').map_or(p.name.as_str(), |(b, _)| b);
                let wave = match deployments.iter_mut().find(|(b, _)| *b == base) {
                    Some(e) => {
                        e.1 += 1;
                        e.1
                    }
                    None => {
                        deployments.push((base, 0));
                        0
                    }
                };
                put(wave, &[station(x)]);
            }
        }
        _ => {
            for (wave, x) in (0..d.proxies.len()).filter(|&x| d.proxies[x].kind == kind).enumerate() {
                put(wave, &[station(x)]);
            }
        }
    }
    waves
}

/// The effect of a CPU limit on an instance with `workers` threads: a CFS quota of that many
/// cores (a limit at or above the worker count cannot bind, and the engine ignores it).
pub fn cpu_limit_effect(workers: u32, limit_millicores: f64) -> FaultEffect {
    FaultEffect::CpuLimit { cores: (limit_millicores / 1000.0).clamp(1e-3, workers.max(1) as f64) }
}

fn kind_of(label: &str) -> Option<ProxyKind> {
    ProxyKind::ALL.into_iter().find(|k| k.as_str() == label)
}

/// Every scenario for one deployment. `memory_bytes[x]` is proxy `x`'s memory at the run's
/// load (from the baseline run), used by the OOM scenario.
pub fn scenarios(
    t: &Topology,
    d: &Deployment,
    models: &CostModels,
    analysis: &StaticAnalysis,
    s: &Settings,
    memory_bytes: &[f64],
) -> Vec<Scenario> {
    let b = &s.blast;
    let start = b.fail_at_ns;
    let end = start.saturating_add(b.outage_ns);
    let quiet = |name: String, kind, note: String| Scenario {
        name,
        kind,
        target: None,
        target_name: "-".into(),
        faults: Vec::new(),
        background: Vec::new(),
        window_ns: (start, start),
        note,
    };
    let mut out = vec![quiet("baseline".into(), ScenarioKind::Baseline, String::new())];
    let proxy_kinds: Vec<&'static str> =
        super::static_analysis::KINDS.iter().copied().filter(|k| !PLACE_KINDS.contains(k) && !analysis.of_kind(k).is_empty()).collect();

    // Crashes: the worst instance of each kind, and one picked by seed (the worst only for
    // zones and clusters, which are few).
    for &kind in proxy_kinds.iter().chain(PLACE_KINDS.iter()) {
        let worst = analysis.worst(kind);
        let seeded = if matches!(kind, "zone" | "cluster") { None } else { analysis.seeded(kind, s.seed) };
        for (pick, c) in [("worst", worst), ("seeded", seeded)] {
            let Some(c) = c else { continue };
            let until = if PLACE_KINDS.contains(&kind) { start.saturating_add(b.node_reschedule_ns.unwrap_or(b.outage_ns)) } else { end };
            out.push(Scenario {
                name: format!("crash {kind} ({pick})"),
                kind: ScenarioKind::Crash,
                target: Some(c.component),
                target_name: c.name.clone(),
                faults: vec![Fault {
                    stations: station_of(t, c.component, d),
                    start_ns: start,
                    end_ns: Some(until),
                    // A process crash on a live node is refused; a dead node answers nothing.
                    effect: if PLACE_KINDS.contains(&kind) { FaultEffect::Unreachable } else { FaultEffect::Down },
                }],
                background: Vec::new(),
                window_ns: (start, until),
                note: String::new(),
            });
        }
    }

    // Squeezes of the worst instance of each proxy kind.
    for &kind in &proxy_kinds {
        let (Some(c), Some(pk)) = (analysis.worst(kind), kind_of(kind)) else {
            continue;
        };
        let Component::Proxy(x) = c.component else {
            continue;
        };
        let model = models.get(pk);
        let workers = model.map(|m| m.workers).unwrap_or(1);
        out.push(Scenario {
            name: format!("cpu-limit {kind}"),
            kind: ScenarioKind::CpuLimit,
            target: Some(c.component),
            target_name: c.name.clone(),
            faults: vec![Fault {
                stations: station_of(t, c.component, d),
                start_ns: start,
                end_ns: Some(end),
                effect: cpu_limit_effect(workers, b.cpu_limit_millicores),
            }],
            background: Vec::new(),
            window_ns: (start, end),
            note: format!("limit {:.0}m", b.cpu_limit_millicores),
        });
        let limit = b.memory_limit_bytes.or_else(|| model.and_then(|m| m.mem_limit_bytes));
        let Some(limit) = limit else { continue };
        let used = memory_bytes.get(x).copied().unwrap_or(0.0);
        let mib = |x: f64| x / (1024.0 * 1024.0);
        let mut sc = Scenario {
            name: format!("oom {kind}"),
            kind: ScenarioKind::Oom,
            target: Some(c.component),
            target_name: c.name.clone(),
            faults: Vec::new(),
            background: Vec::new(),
            window_ns: (start, start),
            note: format!("memory {:.1} MiB, limit {:.1} MiB: not killed", mib(used), mib(limit as f64)),
        };
        if used > limit as f64 {
            sc.faults.push(Fault {
                stations: station_of(t, c.component, d),
                start_ns: start,
                end_ns: Some(end),
                effect: FaultEffect::Down,
            });
            sc.window_ns = (start, end);
            sc.note = format!("memory {:.1} MiB over limit {:.1} MiB: OOM-killed, restarts after outage", mib(used), mib(limit as f64));
        }
        out.push(sc);
    }

    // Rolling upgrades of the data plane, one kind at a time.
    let users_side: HashSet<usize> = analysis
        .components
        .iter()
        .filter(|c| c.users_side_only)
        .filter_map(|c| match c.component {
            Component::Proxy(x) => Some(x),
            _ => None,
        })
        .collect();
    for &kind in &proxy_kinds {
        let Some(pk) = kind_of(kind) else { continue };
        let waves = upgrade_waves(t, d, pk, &users_side);
        if waves.is_empty() {
            continue;
        }
        let step = b.upgrade_restart_ns.max(1);
        // Deployments (pods with their sidecars, waypoints) surge a new replica and drain the
        // old one; a DaemonSet's pod (ztunnel, node proxy) has no stand-in on its node.
        let effect = if matches!(pk, ProxyKind::Sidecar | ProxyKind::Waypoint) { FaultEffect::Drained } else { FaultEffect::Down };
        let faults: Vec<Fault> = waves
            .into_iter()
            .enumerate()
            .map(|(i, stations)| {
                let from = start.saturating_add(step.saturating_mul(i as u64));
                Fault { stations, start_ns: from, end_ns: Some(from.saturating_add(step)), effect }
            })
            .collect();
        let instances = faults.iter().flat_map(|f| &f.stations).filter(|&&x| x as usize >= t.pods.len()).count();
        let last = faults.last().and_then(|f| f.end_ns).unwrap_or(start);
        let within = faults.iter().filter(|f| f.start_ns < t.simulation.duration_ns).count();
        let mut note = format!("{instances} instances in {} waves of {}", faults.len(), crate::units::format_duration_ns(step));
        if within < faults.len() {
            note += &format!("; only {within} waves start before the run ends: lengthen the run to see the whole rollout");
        }
        out.push(Scenario {
            name: format!("upgrade {kind}"),
            kind: ScenarioKind::Upgrade,
            target: None,
            target_name: format!("every {kind}"),
            faults,
            background: Vec::new(),
            window_ns: (start, last.min(t.simulation.duration_ns).max(start.saturating_add(1))),
            note,
        });
    }

    // The noisy tenant: through the worst shared node-level proxy of each kind present.
    let mut noisy =
        quiet("noisy-tenant".into(), ScenarioKind::NoisyTenant, "no shared proxy: the tenant's traffic passes its own proxies only".into());
    let mut targets = Vec::new();
    for kind in [ProxyKind::Ztunnel, ProxyKind::NodeProxy] {
        let Some(c) = analysis.worst(kind.as_str()) else {
            continue;
        };
        let Some(m) = models.get(kind) else { continue };
        let stations = station_of(t, c.component, d);
        let job_ns = m.pass_cpu_ns(Layer::L4, TENANT_SEGMENT_BYTES, false);
        let jobs_per_s = b.noisy_tenant_bits_per_s / 8.0 / TENANT_SEGMENT_BYTES as f64;
        noisy.faults.push(Fault {
            stations: stations.clone(),
            start_ns: start,
            end_ns: Some(end),
            effect: cpu_limit_effect(m.workers, b.cpu_limit_millicores),
        });
        noisy.background.push(BackgroundLoad { stations, start_ns: start, end_ns: Some(end), job_ns, jobs_per_s });
        noisy.target.get_or_insert(c.component);
        noisy.window_ns = (start, end);
        targets.push(c.name.clone());
        let tenant_mc = job_ns as f64 * jobs_per_s / 1e6;
        noisy.note = format!(
            "{:.0} Mbit/s costs {tenant_mc:.0}m on a {:.0}m-limited {}",
            b.noisy_tenant_bits_per_s / 1e6,
            b.cpu_limit_millicores,
            kind.as_str()
        );
    }
    if !targets.is_empty() {
        noisy.target_name = targets.join(" ");
    }
    out.push(noisy);
    out
}
