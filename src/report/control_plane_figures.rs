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
        outside.extend(extrapolations(r));
        for c in &r.control_plane {
            let l = format!("{}: {}", c.name, c.left_out.join(", "));
            if !c.left_out.is_empty() && !left.contains(&l) {
                left.push(l);
            }
        }
    }
    if !outside.is_empty() {
        lines.push(format!("warning: {EXTRAPOLATED}: {}", outside.join("; ")));
    }
    if !left.is_empty() {
        lines.push(format!("control-plane terms not modelled (no published or measured figure): {}", left.join("; ")));
    }
    lines
}

const EXTRAPOLATED: &str = "control-plane memory extrapolated (its model's `checked` says how it compares with published figures there)";

/// Each component of a placement whose memory rests on per-proxy terms fitted far from the
/// number of proxies it serves, in a phrase.
fn extrapolations(r: &crate::metrics::PlacementSummary) -> Vec<String> {
    r.control_plane
        .iter()
        .filter_map(|c| {
            let (lo, hi) = c.extrapolated_from?;
            Some(format!(
                "{} in {} connects {} proxies per replica, outside the {lo} to {hi} its per-proxy memory terms were fitted at",
                c.name,
                r.placement,
                (c.proxies as f64 / f64::from(c.replicas.max(1))).round()
            ))
        })
        .collect()
}

/// The warning `results.json` and the report carry for a placement whose control-plane
/// memory is extrapolated, if it is.
pub fn extrapolation_warning(r: &crate::metrics::PlacementSummary) -> Option<String> {
    let outside = extrapolations(r);
    (!outside.is_empty()).then(|| format!("{EXTRAPOLATED}: {}", outside.join("; ")))
}
