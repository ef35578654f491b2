//! The control plane of one placement as the terminal and `summary.md` show it: each
//! component's replicas and nodes, its steady CPU and memory, and the terms its model leaves
//! out (`results.json` carries the same as `results::ComponentResult`).

/// Lines under a comparison table: each placement's control-plane components (replicas,
/// nodes, steady CPU and memory), the proxy kinds whose control plane no model covers, and the
/// terms the models leave out.
pub fn notes(rows: &[crate::metrics::PlacementSummary]) -> Vec<String> {
    let mut lines = Vec::new();
    let mut left: Vec<String> = Vec::new();
    let mut outside: Vec<String> = Vec::new();
    for r in rows {
        let parts: Vec<String> = r
            .control_plane
            .iter()
            .map(|c| {
                format!(
                    "{} x{} on {} ({:.1} mC, {:.1} MiB; {:.0} certificates, {:.4} signed/s)",
                    c.name,
                    c.replicas,
                    c.node_names.join(" "),
                    c.cpu_millicores,
                    c.mem_bytes / (1024.0 * 1024.0),
                    c.certificates,
                    c.signings_per_s
                )
            })
            .collect();
        let missing: Vec<&str> = r.cp_unmodelled.iter().map(|k| k.as_str()).collect();
        if parts.is_empty() && missing.is_empty() {
            continue;
        }
        let mut line =
            format!("control plane, {}: {}", r.placement, if parts.is_empty() { "none modelled".to_string() } else { parts.join("; ") });
        if !missing.is_empty() {
            line.push_str(&format!(" (no control-plane model for {} proxies: not counted)", missing.join(", ")));
        }
        lines.push(line);
        for c in &r.control_plane {
            if let Some((lo, hi)) = c.extrapolated_from {
                outside.push(format!(
                    "{} in {} connects {} proxies per replica, outside the {lo} to {hi} its per-proxy memory terms were fitted at",
                    c.name,
                    r.placement,
                    (c.proxies as f64 / f64::from(c.replicas.max(1))).round()
                ));
            }
            let l = format!("{}: {}", c.name, c.left_out.join(", "));
            if !c.left_out.is_empty() && !left.contains(&l) {
                left.push(l);
            }
        }
    }
    if !outside.is_empty() {
        lines.push(format!(
            "warning: control-plane memory extrapolated (its model's `checked` says how it compares with published figures there): {}",
            outside.join("; ")
        ));
    }
    if !left.is_empty() {
        lines.push(format!("control-plane terms not modelled (no published or measured figure): {}", left.join("; ")));
    }
    lines
}
