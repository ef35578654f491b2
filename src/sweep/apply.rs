//! Apply a case to the base topology: edit the TOML document at dotted paths
//! (`simulation.duration`, `service.face.replicas`, `node.gke.count`), then re-parse it with
//! the topology validator as if read from the base file, so every check of a topology holds
//! for every case. Special paths: `rate` (total rps over the loads, in proportion) and
//! `model.<kind>` (a cost model file, relative to the sweep file).

use std::path::{Path, PathBuf};

use super::spec::{value_cell, Setting};
use crate::topology::{self, Topology};
use crate::units;

/// The base topology as a document to edit.
#[derive(Clone, Debug)]
pub struct Base {
    pub path: PathBuf,
    pub doc: toml::Table,
    /// Folder of the sweep file, against which `model.*` paths resolve.
    pub sweep_dir: PathBuf,
}

/// A problem applying one setting, placed at the setting's span in the sweep file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyError {
    pub span: std::ops::Range<usize>,
    pub message: String,
    /// The case's settings, when the problem is in the topology they make (the same problem
    /// in many cases is then reported once, naming the first case).
    pub settings: Option<String>,
}

const MODEL_FIELDS: [(&str, &str); 5] = [
    ("sidecar", "sidecar_model"),
    ("ztunnel", "ztunnel_model"),
    ("waypoint", "waypoint_model"),
    ("node_proxy", "node_proxy_model"),
    ("node-proxy", "node_proxy_model"),
];

impl Base {
    /// Parse the base topology text into an editable document.
    pub fn new(path: &Path, text: &str, sweep_dir: &Path) -> Result<Base, String> {
        let doc: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
        Ok(Base { path: path.to_path_buf(), doc, sweep_dir: sweep_dir.to_path_buf() })
    }

    /// The topology of a case, and the TOML text it was parsed from.
    pub fn apply(&self, settings: &[Setting]) -> Result<(Topology, String), Vec<ApplyError>> {
        let mut doc = toml::Value::Table(self.doc.clone());
        let mut rate_rps = None;
        let mut errors = Vec::new();
        for s in settings {
            let err = |message: String| ApplyError { span: s.span.clone(), message, settings: None };
            if s.path == "rate" {
                match rate_of(&s.value) {
                    Ok(r) => rate_rps = Some(r),
                    Err(e) => errors.push(err(format!("rate: {e}"))),
                }
            } else if let Some(kind) = s.path.strip_prefix("model.") {
                let Some((_, field)) = MODEL_FIELDS.iter().find(|(k, _)| *k == kind) else {
                    errors.push(err(format!(
                        "`{}`: unknown proxy kind `{kind}`: use model.sidecar, model.ztunnel, model.waypoint or model.node_proxy",
                        s.path
                    )));
                    continue;
                };
                let Some(file) = s.value.as_str() else {
                    errors.push(err(format!("`{}`: `{}` is not a file path (a string)", s.path, s.value)));
                    continue;
                };
                let p = std::path::absolute(self.sweep_dir.join(file)).unwrap_or_else(|_| self.sweep_dir.join(file));
                if !p.is_file() {
                    errors.push(err(format!(
                        "`{}`: model file `{}` not found (paths are relative to the sweep file's folder)",
                        s.path,
                        p.display()
                    )));
                    continue;
                }
                let value = toml::Value::String(p.to_string_lossy().into_owned());
                if let Err(e) = set_path(&mut doc, &format!("mesh.{field}"), value) {
                    errors.push(err(e));
                }
            } else if let Err(e) = set_path(&mut doc, &s.path, s.value.clone()) {
                errors.push(err(e));
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let text = toml::to_string(&doc)
            .map_err(|e| vec![ApplyError { span: 0..0, message: format!("cannot write the edited topology: {e}"), settings: None }])?;
        let mut t = topology::parse(&self.path, &text).map_err(|es| {
            // The edited text has no lines of its own: place the error at the case's last
            // varied setting and name what it set.
            let culprit = settings.iter().rev().find(|s| s.path != "rate");
            let span = culprit.map(|s| s.span.clone()).unwrap_or(0..0);
            let what: Vec<String> = settings.iter().map(|s| format!("{} = {}", s.path, value_cell(&s.value))).collect();
            es.0.into_iter()
                .map(|e| ApplyError {
                    span: span.clone(),
                    message: format!("the topology `{}` becomes invalid: {}", self.path.display(), e.message),
                    settings: Some(what.join(", ")),
                })
                .collect::<Vec<_>>()
        })?;
        if let Some(r) = rate_rps {
            let at = settings.iter().rev().find(|s| s.path == "rate").map(|s| s.span.clone()).unwrap_or(0..0);
            t.set_total_rate_checked(r).map_err(|e| vec![ApplyError { span: at, message: format!("rate: {e}"), settings: None }])?;
        }
        Ok((t, text))
    }
}

fn rate_of(v: &toml::Value) -> Result<f64, String> {
    let r = match v {
        toml::Value::Integer(i) => *i as f64,
        toml::Value::Float(x) => *x,
        toml::Value::String(s) => {
            units::parse_rate_rps(s).or_else(|_| s.trim().parse::<f64>().map_err(|_| format!("`{s}` is not a rate")))?
        }
        other => return Err(format!("`{other}` is not a rate: write 1200 or \"1200rps\"")),
    };
    if !(r > 0.0 && r.is_finite()) {
        return Err(format!("{r} must be more than zero"));
    }
    topology::check_total_rate(r)?;
    Ok(r)
}

/// Set `value` at a dotted path. Tables are entered by key; arrays of tables by the `name`
/// (or `to`, for calls and loads) of an element, or by its position.
pub fn set_path(doc: &mut toml::Value, path: &str, value: toml::Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut cur = doc;
    for (i, seg) in segments.iter().enumerate() {
        let here = segments[..i].join(".");
        let last = i + 1 == segments.len();
        match cur {
            toml::Value::Table(t) => {
                if last {
                    t.insert((*seg).to_string(), value);
                    return Ok(());
                }
                cur = t.entry((*seg).to_string()).or_insert_with(|| toml::Value::Table(toml::Table::new()));
            }
            toml::Value::Array(items) => {
                let key = |v: &toml::Value, k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
                let pos = items
                    .iter()
                    .position(|v| key(v, "name").as_deref() == Some(seg))
                    .or_else(|| items.iter().position(|v| key(v, "to").as_deref() == Some(seg)))
                    .or_else(|| seg.parse::<usize>().ok().filter(|&k| k < items.len()));
                let Some(pos) = pos else {
                    let names: Vec<String> =
                        items.iter().enumerate().map(|(k, v)| key(v, "name").or(key(v, "to")).unwrap_or(k.to_string())).collect();
                    return Err(format!("`{path}`: `{here}` has no entry named `{seg}`: it has {}", names.join(", ")));
                };
                if last {
                    items[pos] = value;
                    return Ok(());
                }
                cur = &mut items[pos];
            }
            other => return Err(format!("`{path}`: `{here}` is the value {other}, not a table to look `{seg}` up in")),
        }
    }
    Err(format!("`{path}` is empty"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> toml::Value {
        toml::from_str(
            r#"
            [simulation]
            duration = "30s"
            [[service]]
            name = "face"
            replicas = 3
            [[service.call]]
            to = "smiley"
            [[service]]
            name = "color"
            replicas = 3
            "#,
        )
        .unwrap()
    }

    #[test]
    fn paths_reach_tables_and_named_entries() {
        let mut d = doc();
        set_path(&mut d, "simulation.duration", "5s".into()).unwrap();
        set_path(&mut d, "service.color.replicas", 1.into()).unwrap();
        set_path(&mut d, "service.face.call.smiley.probability", 0.5.into()).unwrap();
        set_path(&mut d, "service.0.replicas", 2.into()).unwrap();
        assert_eq!(d["simulation"]["duration"].as_str(), Some("5s"));
        assert_eq!(d["service"][1]["replicas"].as_integer(), Some(1));
        assert_eq!(d["service"][0]["replicas"].as_integer(), Some(2));
        assert_eq!(d["service"][0]["call"][0]["probability"].as_float(), Some(0.5));
    }

    #[test]
    fn unknown_entries_name_the_choices() {
        let mut d = doc();
        let e = set_path(&mut d, "service.smiley.replicas", 1.into()).unwrap_err();
        assert!(e.contains("no entry named `smiley`: it has face, color"), "{e}");
        let e = set_path(&mut d, "simulation.duration.x", 1.into()).unwrap_err();
        assert!(e.contains("not a table"), "{e}");
    }
}
