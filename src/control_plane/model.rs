//! A control-plane component's cost model, read from `models/<profile>/<component>.toml`:
//! what the mesh installs by default (`[deploy]`), its memory (a base per replica, per
//! connected proxy, per proxy and service in that proxy's configuration, per object it
//! tracks), its steady CPU (a base per replica, per connected proxy, per certificate signed)
//! and the workload certificates it signs (`[certificates]`). A term the file leaves out is
//! not modelled: the figures then leave it out too, and say so.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::input_error::{ErrorSink, InputErrors};
use crate::toml_doc::{self, expect, Fields, Spanned};
use crate::{limits, units};

const SUPPORTED_VERSION: i64 = 1;

/// Most default replicas a model may name.
const MAX_REPLICAS: i64 = 100;

/// A validated control-plane component model. Memory in bytes, CPU in millicores or CPU ns,
/// at the speed of the machine it was measured on.
#[derive(Clone, Debug, PartialEq)]
pub struct ComponentModel {
    pub name: String,
    pub source: PathBuf,
    /// What the mesh installs by default.
    pub replicas: u32,
    pub cpu_request_millicores: f64,
    pub memory_request_bytes: u64,
    /// Memory of each replica with nothing connected.
    pub mem_base_bytes: u64,
    /// Per connected proxy (a proxy connects to one replica).
    pub mem_per_proxy_bytes: Option<u64>,
    /// Per connected proxy and service in its configuration (the configuration built for it).
    pub mem_per_proxy_service_bytes: Option<u64>,
    /// Per Service and per endpoint (pod) every replica tracks.
    pub mem_per_service_bytes: Option<u64>,
    pub mem_per_endpoint_bytes: Option<u64>,
    /// Connected proxies per replica at which the per-proxy memory terms were fitted, if the
    /// file says: outside this range the figures are an extrapolation, and say so.
    pub fitted_proxies: Option<(u64, u64)>,
    /// Steady CPU of each replica with nothing connected.
    pub cpu_base_millicores: f64,
    /// Steady CPU per connected proxy (keepalives, its stream's bookkeeping).
    pub cpu_per_proxy_millicores: Option<f64>,
    /// CPU of signing one workload certificate (verifying the request, signing the leaf).
    pub cpu_per_certificate_ns: Option<u64>,
    /// The workload certificates it signs, if it is the mesh's certificate authority.
    pub certificates: Option<Certificates>,
    /// How it pushes endpoint changes to proxies, if it is the mesh's discovery server.
    pub push: Option<Push>,
    /// Where the numbers came from, as the file gives it.
    pub provenance: BTreeMap<String, String>,
}

/// How a discovery server pushes endpoint changes: it waits for `debounce_after` without a
/// change (or `debounce_max` after the first), then sends every proxy holding a changed service
/// its endpoints, at `per_push` plus `per_endpoint` of CPU per proxy (`None`: not measured).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Push {
    pub debounce_after_ns: u64,
    pub debounce_max_ns: u64,
    pub per_push_ns: Option<u64>,
    pub per_endpoint_ns: Option<u64>,
}

/// How long the workload certificates a component signs live, and when they are renewed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Certificates {
    pub ttl_ns: u64,
    /// Share of its lifetime after which a certificate is renewed (0 to 1).
    pub renew_at: f64,
}

impl Certificates {
    /// Certificates signed per second to keep `held` certificates valid.
    pub fn signings_per_s(&self, held: f64) -> f64 {
        held / (self.ttl_ns as f64 / 1e9 * self.renew_at)
    }
}

/// Read a component model file.
pub fn load(path: &Path) -> Result<ComponentModel, InputErrors> {
    let text = crate::input_file::read_text(path, "control-plane model")?;
    parse(path, &text)
}

/// Parse a component model read from `path`. Every problem in the file is reported at once.
pub fn parse(path: &Path, text: &str) -> Result<ComponentModel, InputErrors> {
    let doc = toml_doc::parse(path, text)?;
    let mut sink = ErrorSink::new(path, text);
    let mut root = Fields::root(&doc);
    root.req_version(&mut sink, SUPPORTED_VERSION, None);
    let name = root.req_text(&mut sink, "name", expect::NAME).map(Spanned::into_inner).unwrap_or_default();
    let mut deploy = root.req_table(&mut sink, "deploy");
    let mut memory = root.req_table(&mut sink, "memory");
    let mut cpu = root.req_table(&mut sink, "cpu");
    let mut certs = root.table(&mut sink, "certificates");
    let mut push_t = root.table(&mut sink, "push");
    let provenance = match root.table(&mut sink, "provenance") {
        Some(p) => crate::model::read_provenance(p),
        None => {
            sink.at(0..0, "[provenance]: missing: say where every figure of the file comes from (`source = \"...\"`)");
            BTreeMap::new()
        }
    };
    root.finish(&mut sink, &["version", "name", "deploy", "memory", "cpu", "certificates", "push", "provenance"]);

    let replicas = deploy.as_mut().and_then(|d| d.req_int(&mut sink, "replicas")).map(|r| {
        let x = *r.get_ref();
        if !(1..=MAX_REPLICAS).contains(&x) {
            sink.at(r.span(), format!("{}: {x} is out of range: it must be between 1 and {MAX_REPLICAS}", r.path()));
        }
        x.clamp(1, MAX_REPLICAS) as u32
    });
    let cpu_request_millicores =
        deploy.as_mut().and_then(|d| d.req_text(&mut sink, "cpu_request", expect::CPU)).and_then(|s| millicores(&mut sink, &s));
    let memory_request_bytes =
        deploy.as_mut().and_then(|d| d.req_text(&mut sink, "memory_request", expect::SIZE)).and_then(|s| bytes(&mut sink, &s));
    if let Some(d) = deploy.as_mut() {
        let _ = d.req_text(&mut sink, "source", expect::TEXT);
        d.finish(&mut sink, &["replicas", "cpu_request", "memory_request", "source"]);
    }

    let size = |sink: &mut ErrorSink, t: &mut Option<Fields>, key: &str| {
        t.as_mut().and_then(|t| t.text(sink, key, expect::SIZE)).and_then(|s| bytes(sink, &s))
    };
    let mem_base_bytes = memory.as_mut().and_then(|m| m.req_text(&mut sink, "base", expect::SIZE)).and_then(|s| bytes(&mut sink, &s));
    let mem_per_proxy_bytes = size(&mut sink, &mut memory, "per_proxy");
    let mem_per_proxy_service_bytes = size(&mut sink, &mut memory, "per_proxy_service");
    let mem_per_service_bytes = size(&mut sink, &mut memory, "per_service");
    let mem_per_endpoint_bytes = size(&mut sink, &mut memory, "per_endpoint");
    let fitted_min = memory.as_mut().and_then(|m| m.int(&mut sink, "fitted_proxies_min"));
    let fitted_max = memory.as_mut().and_then(|m| m.int(&mut sink, "fitted_proxies_max"));
    let fitted_proxies = match (fitted_min, fitted_max) {
        (None, None) => None,
        (Some(lo), Some(hi)) if *lo.get_ref() >= 1 && *lo.get_ref() <= *hi.get_ref() && *hi.get_ref() <= limits::MAX_PODS as i64 => {
            Some((*lo.get_ref() as u64, *hi.get_ref() as u64))
        }
        (Some(lo), Some(_)) => {
            sink.at(
                lo.span(),
                format!(
                    "{}: the fitted range must satisfy 1 <= fitted_proxies_min <= fitted_proxies_max <= {}",
                    lo.path(),
                    limits::MAX_PODS
                ),
            );
            None
        }
        (Some(x), None) | (None, Some(x)) => {
            sink.at(x.span(), format!("{}: give both fitted_proxies_min and fitted_proxies_max, or neither", x.path()));
            None
        }
    };
    if let Some(m) = memory.as_mut() {
        m.finish(
            &mut sink,
            &["base", "per_proxy", "per_proxy_service", "per_service", "per_endpoint", "fitted_proxies_min", "fitted_proxies_max"],
        );
    }

    let cpu_base_millicores = cpu.as_mut().and_then(|c| c.req_text(&mut sink, "base", expect::CPU)).and_then(|s| millicores(&mut sink, &s));
    let cpu_per_proxy_millicores =
        cpu.as_mut().and_then(|c| c.text(&mut sink, "per_proxy", expect::CPU)).and_then(|s| millicores(&mut sink, &s));
    let cpu_per_certificate_ns =
        cpu.as_mut().and_then(|c| c.text(&mut sink, "per_certificate", expect::DURATION)).and_then(|s| duration(&mut sink, &s));
    if let Some(c) = cpu.as_mut() {
        c.finish(&mut sink, &["base", "per_proxy", "per_certificate"]);
    }

    let signs = certs.is_some();
    let certificates = certs.as_mut().and_then(|c| {
        let ttl = c.req_text(&mut sink, "ttl", expect::DURATION).and_then(|s| duration(&mut sink, &s));
        let renew_at = c.req_number(&mut sink, "renew_at").and_then(|r| {
            let x = *r.get_ref();
            if x > 0.0 && x <= 1.0 {
                Some(x)
            } else {
                sink.at(
                    r.span(),
                    format!("{}: {x} is out of range: it must be a share of the lifetime, more than 0 and at most 1", r.path()),
                );
                None
            }
        });
        let _ = c.req_text(&mut sink, "source", expect::TEXT);
        c.finish(&mut sink, &["ttl", "renew_at", "source"]);
        match (ttl, renew_at) {
            (Some(ttl_ns), Some(renew_at)) if ttl_ns > 0 => Some(Certificates { ttl_ns, renew_at }),
            _ => None,
        }
    });
    let push = push_t.as_mut().and_then(|p| {
        let after = p.req_text(&mut sink, "debounce_after", expect::DURATION).and_then(|s| duration(&mut sink, &s));
        let max = p.req_text(&mut sink, "debounce_max", expect::DURATION).and_then(|s| duration(&mut sink, &s));
        let per_push_ns = p.text(&mut sink, "per_push", expect::DURATION).and_then(|s| duration(&mut sink, &s));
        let per_endpoint_ns = p.text(&mut sink, "per_endpoint", expect::DURATION).and_then(|s| duration(&mut sink, &s));
        let _ = p.req_text(&mut sink, "source", expect::TEXT);
        p.finish(&mut sink, &["debounce_after", "debounce_max", "per_push", "per_endpoint", "source"]);
        match (after, max) {
            (Some(a), Some(m)) if a <= m => Some(Push { debounce_after_ns: a, debounce_max_ns: m, per_push_ns, per_endpoint_ns }),
            (Some(_), Some(_)) => {
                sink.at(p.span(), "push.debounce_after: must be at most push.debounce_max");
                None
            }
            _ => None,
        }
    });
    if signs && cpu_per_certificate_ns.is_none() {
        if let Some(c) = &cpu {
            sink.at(c.span(), "cpu.per_certificate: a component with [certificates] needs the CPU of one signing (like \"480us\")");
        }
    }
    if !provenance.contains_key("source") && !provenance.is_empty() {
        sink.at(0..0, "provenance.source: missing: say where the file's figures come from");
    }
    sink.finish()?;
    Ok(ComponentModel {
        name,
        source: path.to_path_buf(),
        replicas: replicas.unwrap_or(1),
        cpu_request_millicores: cpu_request_millicores.unwrap_or(0.0),
        memory_request_bytes: memory_request_bytes.unwrap_or(0),
        mem_base_bytes: mem_base_bytes.unwrap_or(0),
        mem_per_proxy_bytes,
        mem_per_proxy_service_bytes,
        mem_per_service_bytes,
        mem_per_endpoint_bytes,
        fitted_proxies,
        cpu_base_millicores: cpu_base_millicores.unwrap_or(0.0),
        cpu_per_proxy_millicores,
        cpu_per_certificate_ns,
        certificates,
        push,
        provenance,
    })
}

fn bytes(sink: &mut ErrorSink, s: &Spanned<String>) -> Option<u64> {
    crate::model::memory_bytes(sink, s)
}

fn millicores(sink: &mut ErrorSink, s: &Spanned<String>) -> Option<f64> {
    match units::parse_millicores(s.get_ref()) {
        Ok(m) if (0.0..=limits::MAX_MILLICORES).contains(&m) => Some(m),
        Ok(_) => {
            sink.at(
                s.span(),
                format!(
                    "{}: `{}` is out of range: it must be between 0 and {} cores",
                    s.path(),
                    s.get_ref(),
                    limits::MAX_MILLICORES / 1000.0
                ),
            );
            None
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            None
        }
    }
}

fn duration(sink: &mut ErrorSink, s: &Spanned<String>) -> Option<u64> {
    match units::parse_duration_ns(s.get_ref()) {
        Ok(ns) if ns <= limits::MAX_DURATION_NS => Some(ns),
        Ok(_) => {
            sink.at(
                s.span(),
                format!("{}: `{}` is longer than the limit of {}", s.path(), s.get_ref(), limits::describe_ns(limits::MAX_DURATION_NS)),
            );
            None
        }
        Err(e) => {
            sink.at(s.span(), format!("{}: {e}", s.path()));
            None
        }
    }
}
