//! `Placement`: how a mesh places its proxies, as a topology names it. Input vocabulary, so it
//! lives with the topology; `crate::placement` reads the topology to place proxies, never the
//! reverse.

use std::fmt;
use std::str::FromStr;

/// How a mesh places its proxies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Placement {
    /// No mesh: the baseline every other placement is compared with.
    None,
    /// One proxy in every pod (Istio legacy, Linkerd).
    Sidecar,
    /// One shared proxy per node (Cilium-style).
    PerNode,
    /// Istio ambient: an L4 ztunnel per node plus L7 waypoints per namespace or service.
    Ambient,
}

impl Placement {
    pub const ALL: [Placement; 4] = [Placement::None, Placement::Sidecar, Placement::PerNode, Placement::Ambient];

    pub fn as_str(self) -> &'static str {
        match self {
            Placement::None => "none",
            Placement::Sidecar => "sidecar",
            Placement::PerNode => "per-node",
            Placement::Ambient => "ambient",
        }
    }
}

impl fmt::Display for Placement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Placement {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "none" => Ok(Placement::None),
            "sidecar" => Ok(Placement::Sidecar),
            "per-node" => Ok(Placement::PerNode),
            "ambient" => Ok(Placement::Ambient),
            other => Err(format!("unknown placement `{other}`: expected none, sidecar, per-node or ambient")),
        }
    }
}
