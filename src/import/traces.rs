//! Traces to the call graph: OTLP JSON (`resourceSpans`), Zipkin v2 JSON (an array of spans)
//! and Jaeger's JSON export (`data[].spans` with `processes`). A span whose parent is in
//! another service (or that has none) is a request into its service; a request's calls are
//! the requests into other services below it, before the next request of its own service.
//! From these: calls per request of every edge, whether a caller's calls overlap in time
//! (parallel) or follow one another, each service's own time (its request spans less the
//! time its calls took) and payload sizes where attributes carry them.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;

use crate::input_error::{InputError, InputErrors};

/// One span, whatever the format.
#[derive(Clone, Debug)]
pub struct Span {
    pub trace: String,
    pub id: String,
    pub parent: Option<String>,
    pub service: String,
    pub start_ns: u64,
    pub end_ns: u64,
    pub request_bytes: Option<u64>,
    pub response_bytes: Option<u64>,
}

/// What the traces say about one caller-callee pair.
#[derive(Clone, Debug, PartialEq)]
pub struct TracedEdge {
    pub from: String,
    pub to: String,
    pub per_request: f64,
    /// Share of the caller's requests where this call overlapped another of its calls.
    pub parallel: bool,
    /// Mean start of the call after its caller's request began (orders the calls).
    pub offset_ns: f64,
}

/// Everything the traces of one or more files give.
#[derive(Clone, Debug, Default)]
pub struct Traced {
    pub edges: Vec<TracedEdge>,
    /// Requests into each service, and those of them that began a trace.
    pub requests: BTreeMap<String, u64>,
    pub roots: BTreeMap<String, u64>,
    /// Own time per request: mean and coefficient of variation.
    pub own: BTreeMap<String, (f64, f64)>,
    pub request_bytes: BTreeMap<String, f64>,
    pub response_bytes: BTreeMap<String, f64>,
    /// From the first span's start to the last one's end, over all traces.
    pub window_ns: u64,
    pub traces: usize,
}

fn error(path: &Path, line: usize, col: usize, message: String) -> InputErrors {
    InputErrors(vec![InputError { path: path.to_path_buf(), line, col, message }])
}

/// Parse JSON text, an error naming the line when it is not JSON.
pub fn json(path: &Path, text: &str) -> Result<Value, InputErrors> {
    serde_json::from_str(text).map_err(|e| error(path, e.line(), e.column(), format!("not valid JSON: {e}")))
}

fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .filter(|x: &f64| x.is_finite() && *x >= 0.0)
}

const REQUEST_SIZE_KEYS: &[&str] =
    &["http.request_content_length", "http.request.body.size", "rpc.request.size", "messaging.message.body.size"];
const RESPONSE_SIZE_KEYS: &[&str] = &["http.response_content_length", "http.response.body.size", "rpc.response.size"];

/// OTLP attributes (`[{key, value: {stringValue|intValue|…}}]`) as a map of scalars.
fn otlp_attributes(v: Option<&Value>) -> HashMap<String, Value> {
    let mut m = HashMap::new();
    for a in v.and_then(Value::as_array).into_iter().flatten() {
        let (Some(k), Some(val)) = (a.get("key").and_then(Value::as_str), a.get("value")) else { continue };
        let scalar =
            ["stringValue", "intValue", "doubleValue", "boolValue"].iter().find_map(|t| val.get(*t)).cloned().unwrap_or(Value::Null);
        m.insert(k.to_string(), scalar);
    }
    m
}

fn size(attrs: &HashMap<String, Value>, keys: &[&str]) -> Option<u64> {
    keys.iter().find_map(|k| attrs.get(*k).and_then(number)).map(|b| b as u64)
}

/// A span timed in microseconds (Zipkin's and Jaeger's `timestamp`/`startTime` and `duration`).
fn micro_span(
    trace: String,
    id: String,
    parent: Option<String>,
    service: String,
    start_us: Option<&Value>,
    duration_us: Option<&Value>,
    tags: &HashMap<String, Value>,
) -> Span {
    let start = start_us.and_then(number).unwrap_or(0.0) * 1000.0;
    let dur = duration_us.and_then(number).unwrap_or(0.0) * 1000.0;
    Span {
        trace,
        id,
        parent,
        service,
        start_ns: start as u64,
        end_ns: (start + dur) as u64,
        request_bytes: size(tags, REQUEST_SIZE_KEYS),
        response_bytes: size(tags, RESPONSE_SIZE_KEYS),
    }
}

/// The spans of one file, in any of the three formats.
pub fn spans(path: &Path, v: &Value) -> Result<Vec<Span>, InputErrors> {
    let mut out = Vec::new();
    if let Some(rs) = v.get("resourceSpans").and_then(Value::as_array) {
        for r in rs {
            let res = otlp_attributes(r.get("resource").and_then(|x| x.get("attributes")));
            let service = res.get("service.name").and_then(text).unwrap_or_else(|| "unknown".into());
            let scopes = r.get("scopeSpans").or_else(|| r.get("instrumentationLibrarySpans")).and_then(Value::as_array);
            for sc in scopes.into_iter().flatten() {
                for s in sc.get("spans").and_then(Value::as_array).into_iter().flatten() {
                    let attrs = otlp_attributes(s.get("attributes"));
                    let (Some(trace), Some(id)) = (s.get("traceId").and_then(text), s.get("spanId").and_then(text)) else { continue };
                    let start = s.get("startTimeUnixNano").and_then(number).unwrap_or(0.0) as u64;
                    let end = s.get("endTimeUnixNano").and_then(number).unwrap_or(start as f64) as u64;
                    out.push(Span {
                        trace,
                        id,
                        parent: s.get("parentSpanId").and_then(text),
                        service: service.clone(),
                        start_ns: start,
                        end_ns: end.max(start),
                        request_bytes: size(&attrs, REQUEST_SIZE_KEYS),
                        response_bytes: size(&attrs, RESPONSE_SIZE_KEYS),
                    });
                }
            }
        }
        return Ok(out);
    }
    if let Some(data) = v.get("data").and_then(Value::as_array) {
        for t in data {
            let procs = t.get("processes");
            for s in t.get("spans").and_then(Value::as_array).into_iter().flatten() {
                let (Some(trace), Some(id)) = (s.get("traceID").and_then(text), s.get("spanID").and_then(text)) else { continue };
                let service = s
                    .get("processID")
                    .and_then(Value::as_str)
                    .and_then(|p| procs.and_then(|ps| ps.get(p)))
                    .and_then(|p| p.get("serviceName"))
                    .and_then(text)
                    .unwrap_or_else(|| "unknown".into());
                let parent = s
                    .get("references")
                    .and_then(Value::as_array)
                    .and_then(|r| r.iter().find(|x| x.get("refType").and_then(Value::as_str) != Some("FOLLOWS_FROM")).or(r.first()))
                    .and_then(|r| r.get("spanID"))
                    .and_then(text)
                    .or_else(|| s.get("parentSpanID").and_then(text));
                let tags: HashMap<String, Value> = s
                    .get("tags")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|t| Some((t.get("key")?.as_str()?.to_string(), t.get("value")?.clone())))
                    .collect();
                out.push(micro_span(trace, id, parent, service, s.get("startTime"), s.get("duration"), &tags));
            }
        }
        return Ok(out);
    }
    if let Some(arr) = v.as_array() {
        // Zipkin v2: an array of spans (or of traces, each an array of spans).
        let flat: Vec<&Value> = arr.iter().flat_map(|x| x.as_array().map(|a| a.iter().collect()).unwrap_or_else(|| vec![x])).collect();
        for s in flat {
            let (Some(trace), Some(id)) = (s.get("traceId").and_then(text), s.get("id").and_then(text)) else { continue };
            let service = s.get("localEndpoint").and_then(|e| e.get("serviceName")).and_then(text).unwrap_or_else(|| "unknown".into());
            let tags: HashMap<String, Value> = s
                .get("tags")
                .and_then(Value::as_object)
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default();
            out.push(micro_span(trace, id, s.get("parentId").and_then(text), service, s.get("timestamp"), s.get("duration"), &tags));
        }
        return Ok(out);
    }
    Err(error(path, 1, 1, "not a trace file meshsim reads: OTLP JSON (resourceSpans), Zipkin v2 JSON (an array of spans) or Jaeger's JSON export (data[].spans)".into()))
}

/// Calls, own time and sizes from spans. A trace whose parent links loop is an error
/// naming it.
pub fn analyse(path: &Path, spans: &[Span]) -> Result<Traced, InputErrors> {
    let mut by_trace: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in spans.iter().enumerate() {
        by_trace.entry(&s.trace).or_default().push(i);
    }
    let mut t = Traced { traces: by_trace.len(), ..Traced::default() };
    let (mut first, mut last) = (u64::MAX, 0u64);
    // Per edge: calls, calls that overlapped a sibling, sum of start offsets.
    let mut edges: BTreeMap<(String, String), (u64, u64, f64)> = BTreeMap::new();
    let mut own: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // Per service: (sum, count) of request sizes and of response sizes.
    let mut sizes: BTreeMap<String, [(f64, u64); 2]> = BTreeMap::new();
    for (trace, idx) in &by_trace {
        let by_id: HashMap<&str, usize> = idx.iter().map(|&i| (spans[i].id.as_str(), i)).collect();
        let parent = |i: usize| spans[i].parent.as_deref().and_then(|p| by_id.get(p).copied());
        // A request span: no parent in the trace, or a parent in another service.
        let is_request = |i: usize| parent(i).is_none_or(|p| spans[p].service != spans[i].service);
        // The request span of the service a span belongs to (itself, or an ancestor).
        let request_of = |mut i: usize| -> Result<usize, InputErrors> {
            let mut steps = 0;
            while !is_request(i) {
                i = parent(i).unwrap_or(i);
                steps += 1;
                if steps > idx.len() {
                    return Err(error(path, 0, 0, format!("trace {trace}: its spans' parent links form a loop")));
                }
            }
            Ok(i)
        };
        let mut children: HashMap<usize, Vec<(usize, usize)>> = HashMap::new();
        for &i in idx {
            let s = &spans[i];
            first = first.min(s.start_ns);
            last = last.max(s.end_ns);
            if !is_request(i) {
                continue;
            }
            *t.requests.entry(s.service.clone()).or_insert(0) += 1;
            match parent(i) {
                None => *t.roots.entry(s.service.clone()).or_insert(0) += 1,
                Some(p) => {
                    let caller = request_of(p)?;
                    // The caller's own span this call hangs from, right below its request
                    // (a client span when instrumented): its interval is time spent calling.
                    let mut top = i;
                    while let Some(up) = parent(top).filter(|&up| up != caller) {
                        top = up;
                    }
                    children.entry(caller).or_default().push((i, top));
                }
            }
            let e = sizes.entry(s.service.clone()).or_insert([(0.0, 0); 2]);
            for (k, b) in [s.request_bytes, s.response_bytes].into_iter().enumerate() {
                if let Some(b) = b {
                    e[k].0 += b as f64;
                    e[k].1 += 1;
                }
            }
        }
        for &i in idx {
            if !is_request(i) {
                continue;
            }
            let s = &spans[i];
            let calls = children.get(&i).map(Vec::as_slice).unwrap_or_default();
            // Own time: the request less the union of its calls' intervals.
            let mut iv: Vec<(u64, u64)> = calls
                .iter()
                .map(|&(_, top)| (spans[top].start_ns.max(s.start_ns), spans[top].end_ns.min(s.end_ns)))
                .filter(|(a, b)| b > a)
                .collect();
            iv.sort_unstable();
            let (mut busy, mut cur) = (0u64, None::<(u64, u64)>);
            for (a, b) in iv {
                match cur {
                    Some((ca, cb)) if a <= cb => cur = Some((ca, cb.max(b))),
                    Some((ca, cb)) => {
                        busy += cb - ca;
                        cur = Some((a, b));
                    }
                    None => cur = Some((a, b)),
                }
            }
            if let Some((a, b)) = cur {
                busy += b - a;
            }
            own.entry(s.service.clone()).or_default().push((s.end_ns - s.start_ns).saturating_sub(busy) as f64);
            for &(c, top) in calls {
                let cs = &spans[c];
                let ts = &spans[top];
                let overlaps = calls.iter().any(|&(o, ot)| o != c && spans[ot].start_ns < ts.end_ns && ts.start_ns < spans[ot].end_ns);
                let e = edges.entry((s.service.clone(), cs.service.clone())).or_insert((0, 0, 0.0));
                e.0 += 1;
                e.1 += u64::from(overlaps);
                e.2 += ts.start_ns.saturating_sub(s.start_ns) as f64;
            }
        }
    }
    t.window_ns = last.saturating_sub(first);
    for ((from, to), (n, par, off)) in edges {
        let requests = t.requests.get(&from).copied().unwrap_or(1).max(1);
        t.edges.push(TracedEdge { per_request: n as f64 / requests as f64, parallel: par * 2 > n, offset_ns: off / n as f64, from, to });
    }
    t.edges.sort_by(|a, b| a.from.cmp(&b.from).then(a.offset_ns.total_cmp(&b.offset_ns)));
    for (svc, v) in own {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / v.len() as f64;
        let cv = if mean > 0.0 { var.sqrt() / mean } else { 0.0 };
        t.own.insert(svc, (mean, cv));
    }
    for (svc, [(rq, rn), (sq, sn)]) in sizes {
        if rn > 0 {
            t.request_bytes.insert(svc.clone(), rq / rn as f64);
        }
        if sn > 0 {
            t.response_bytes.insert(svc, sq / sn as f64);
        }
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, parent: Option<&str>, service: &str, start: u64, end: u64) -> Span {
        Span {
            trace: trace.into(),
            id: id.into(),
            parent: parent.map(Into::into),
            service: service.into(),
            start_ns: start,
            end_ns: end,
            request_bytes: None,
            response_bytes: None,
        }
    }

    #[test]
    fn overlapping_calls_are_parallel_and_own_time_excludes_them() {
        // a calls b and c at once (through client spans of its own), then d.
        let s = vec![
            span("t", "1", None, "a", 0, 100),
            span("t", "2", Some("1"), "a", 10, 40),
            span("t", "3", Some("2"), "b", 12, 38),
            span("t", "4", Some("1"), "c", 15, 35),
            span("t", "5", Some("1"), "d", 50, 70),
        ];
        let t = analyse(Path::new("t.json"), &s).unwrap();
        let e = |to: &str| t.edges.iter().find(|e| e.from == "a" && e.to == to).unwrap().clone();
        assert!(e("b").parallel && e("c").parallel && !e("d").parallel);
        assert_eq!(e("b").per_request, 1.0);
        // a: 100 less its client span to b (10..40), which covers its call to c, and d (50..70).
        assert_eq!(t.own["a"].0, 50.0);
        assert_eq!(t.roots["a"], 1);
    }

    #[test]
    fn a_parent_loop_is_an_error() {
        let s = vec![span("t", "1", Some("2"), "a", 0, 10), span("t", "2", Some("1"), "a", 0, 10), span("t", "3", Some("1"), "b", 1, 2)];
        let e = analyse(Path::new("t.json"), &s).unwrap_err();
        assert!(e.to_string().contains("loop"), "{e}");
    }
}
