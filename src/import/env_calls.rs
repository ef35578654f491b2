//! The call graph guessed from manifests alone: a container's environment variable whose
//! name says it holds an address (`*_ADDR`, `*_URL`, `*_HOST`, …) and whose value names a
//! Service of the input (`cart:7070`, `http://cart.shop.svc.cluster.local:80/api`) is taken
//! as a call from the workload to the workload behind that Service. Such edges are marked
//! guessed: a variable says whom a service can reach, not how often.

use super::k8s::{Cluster, EnvVar, KService};

/// Name endings of variables that hold an address.
const ADDRESS_SUFFIXES: &[&str] = &[
    "_ADDR",
    "_ADDRESS",
    "_ADDRS",
    "_URL",
    "_URI",
    "_HOST",
    "_HOSTNAME",
    "_HOSTS",
    "_ENDPOINT",
    "_SERVER",
    "_SERVERS",
    "_SERVICE",
    "_SVC",
    "_TARGET",
    "_BROKER",
    "_BROKERS",
    "_DSN",
];

/// Variables that point at telemetry or the mesh itself: exporting spans or metrics is no call
/// of a request.
const TELEMETRY: &[&str] =
    &["OTEL_", "JAEGER", "ZIPKIN", "COLLECTOR", "TRACING", "TELEMETRY", "METRICS", "PROMETHEUS", "STATSD", "PROFILER"];

/// A guessed call from workload `from` to the workloads behind a Service.
#[derive(Clone, Debug)]
pub struct Guess {
    pub from: usize,
    pub service: usize,
    pub var: EnvVar,
}

/// Why an address-like variable gave no call (for the summary).
#[derive(Clone, Debug)]
pub struct Miss {
    pub var: EnvVar,
    pub why: String,
}

fn address_name(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    ADDRESS_SUFFIXES.iter().any(|s| up.ends_with(s)) || up == "ADDR" || up == "URL"
}

fn telemetry(name: &str) -> bool {
    let up = name.to_ascii_uppercase();
    TELEMETRY.iter().any(|t| up.contains(t))
}

/// The host names in a variable's value: `host`, `host:port`, URLs, comma-separated lists.
pub fn hosts(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    for part in value.split([',', ' ', ';']).map(str::trim).filter(|p| !p.is_empty()) {
        let rest = match part.find("://") {
            Some(i) => &part[i + 3..],
            None => part,
        };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let host_port = authority.rsplit('@').next().unwrap_or_default();
        if host_port.starts_with('[') {
            continue;
        }
        let host = host_port.split(':').next().unwrap_or_default().trim_end_matches('.').to_ascii_lowercase();
        let valid = !host.is_empty()
            && host.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
            && host.starts_with(|c: char| c.is_ascii_alphanumeric())
            && !host.chars().all(|c| c.is_ascii_digit() || c == '.')
            && host != "localhost";
        if valid {
            out.push(host);
        }
    }
    out
}

/// The Service a host names from a pod in `namespace`: `name`, `name.ns`, `name.ns.svc` and
/// `name.ns.svc.<cluster domain>`.
pub fn resolve<'c>(cluster: &'c Cluster, namespace: &str, host: &str) -> Option<(usize, &'c KService)> {
    let labels: Vec<&str> = host.split('.').collect();
    let (name, ns) = match labels.as_slice() {
        [name] => (*name, namespace),
        [name, ns] => (*name, *ns),
        [name, ns, "svc", ..] => (*name, *ns),
        _ => return None,
    };
    cluster.services.iter().enumerate().find(|(_, s)| s.name == name && s.namespace == ns)
}

/// Every guessed call of every workload, and the address variables that named no Service.
pub fn guesses(cluster: &Cluster) -> (Vec<Guess>, Vec<Miss>) {
    let mut found = Vec::new();
    let mut misses = Vec::new();
    for (wi, w) in cluster.workloads.iter().enumerate() {
        if w.replicas.is_none() {
            continue;
        }
        for c in &w.containers {
            for var in &c.env {
                let is_url = var.value.contains("://");
                if !(address_name(&var.name) || is_url) {
                    continue;
                }
                let hs = hosts(&var.value);
                if hs.is_empty() {
                    continue;
                }
                if telemetry(&var.name) {
                    if hs.iter().any(|h| resolve(cluster, &w.namespace, h).is_some()) {
                        misses.push(Miss {
                            var: var.clone(),
                            why: "a telemetry address (spans or metrics sent out of band), not a call of a request".into(),
                        });
                    }
                    continue;
                }
                for h in hs {
                    match resolve(cluster, &w.namespace, &h) {
                        Some((si, _)) if !found.iter().any(|g: &Guess| g.from == wi && g.service == si) => {
                            found.push(Guess { from: wi, service: si, var: var.clone() });
                        }
                        Some(_) => {}
                        None if address_name(&var.name) && !h.contains('.') => misses.push(Miss {
                            var: var.clone(),
                            why: format!("`{h}` is no Service of the input (not deployed, or an outside host)"),
                        }),
                        None => {}
                    }
                }
            }
        }
    }
    (found, misses)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_come_out_of_addresses_urls_and_lists() {
        assert_eq!(hosts("cartservice:7070"), ["cartservice"]);
        assert_eq!(hosts("http://user:pw@Catalogue.shop.svc.cluster.local:80/api?x=1"), ["catalogue.shop.svc.cluster.local"]);
        assert_eq!(hosts("a:1, b:2"), ["a", "b"]);
        assert_eq!(hosts("mongodb://m-0:27017,m-1:27017/shop"), ["m-0", "m-1"]);
        assert_eq!(hosts("jdbc:mysql://db:3306/orders"), ["db"]);
        assert!(hosts("10.0.0.1:80").is_empty());
        assert!(hosts("localhost:6379").is_empty());
        assert!(hosts("8080").is_empty());
        assert!(hosts("true").iter().all(|h| h == "true"));
    }

    #[test]
    fn address_names_and_telemetry() {
        assert!(address_name("PRODUCT_CATALOG_SERVICE_ADDR"));
        assert!(address_name("redis_host"));
        assert!(address_name("KAFKA_BOOTSTRAP_SERVERS"));
        assert!(!address_name("PORT"));
        assert!(telemetry("OTEL_EXPORTER_OTLP_ENDPOINT"));
    }
}
