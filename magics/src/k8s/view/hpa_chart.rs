//! What `watch hpa/NAME` draws: a HorizontalPodAutoscaler over time, as a class would want to
//! see it act. Above, the current and desired replicas (with the min and max); below, the
//! metric it scales on against its target; scaling events as marks on both. A text summary
//! goes beside the chart for terminal clients. Pure rendering: the verb keeps the samples.

use output::{escape_html, MimeBundle};
use serde_json::Value;

use super::quantity::parse_quantity;

/// The autoscaler at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// Seconds since the watch began.
    pub t: f64,
    pub current: i64,
    pub desired: i64,
    /// The first metric's current value (a percentage of the request for CPU utilisation).
    pub metric: Option<f64>,
}

/// What does not change from sample to sample (or changes rarely).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scaler {
    pub name: String,
    pub target_ref: String,
    pub min: i64,
    pub max: i64,
    /// `cpu` (as a percentage of the request), or a metric's name.
    pub metric_name: String,
    pub target: Option<f64>,
    /// `%` for utilisation, empty for a plain value.
    pub unit: String,
    /// The API the metric comes from: metrics.k8s.io (metrics-server), custom.metrics.k8s.io or
    /// external.metrics.k8s.io (an adapter).
    pub metrics_api: &'static str,
    /// Why it cannot scale now, from its conditions (ScalingActive or AbleToScale false).
    pub trouble: Option<String>,
}

/// The scaler, and its first metric's current value, from a HorizontalPodAutoscaler (v2).
pub fn read(hpa: &Value, t: f64) -> (Scaler, Sample) {
    let spec = &hpa["spec"];
    let status = &hpa["status"];
    let metric = &spec["metrics"][0];
    let metrics_api = metrics_api(metric);
    let trouble = status["conditions"].as_array().into_iter().flatten().find(|c| {
        (c["type"] == "ScalingActive" || c["type"] == "AbleToScale") && c["status"] == "False"
    });
    let trouble = trouble.map(|c| format!("{}: {}", c["reason"].as_str().unwrap_or("False"), c["message"].as_str().unwrap_or("")));
    let (metric_name, target, unit) = match metric["type"].as_str() {
        Some("Resource") => {
            let r = &metric["resource"];
            let name = r["name"].as_str().unwrap_or("resource").to_string();
            match r["target"]["averageUtilization"].as_f64() {
                Some(u) => (name, Some(u), "%".to_string()),
                None => (name, r["target"]["averageValue"].as_str().and_then(parse_quantity), String::new()),
            }
        }
        Some("Pods") => (metric["pods"]["metric"]["name"].as_str().unwrap_or("metric").to_string(), metric["pods"]["target"]["averageValue"].as_str().and_then(parse_quantity), String::new()),
        Some("External") => (metric["external"]["metric"]["name"].as_str().unwrap_or("metric").to_string(), quantity(&metric["external"]["target"]), String::new()),
        Some("Object") => (metric["object"]["metric"]["name"].as_str().unwrap_or("metric").to_string(), quantity(&metric["object"]["target"]), String::new()),
        _ => ("metric".to_string(), None, String::new()),
    };
    let current = &status["currentMetrics"][0];
    let now = match current["type"].as_str() {
        Some("Resource") if unit == "%" => current["resource"]["current"]["averageUtilization"].as_f64(),
        Some("Resource") => current["resource"]["current"]["averageValue"].as_str().and_then(parse_quantity),
        Some("Pods") => current["pods"]["current"]["averageValue"].as_str().and_then(parse_quantity),
        Some("External") => quantity(&current["external"]["current"]),
        Some("Object") => quantity(&current["object"]["current"]),
        _ => None,
    };
    let r = &spec["scaleTargetRef"];
    let scaler = Scaler {
        name: hpa["metadata"]["name"].as_str().unwrap_or_default().to_string(),
        target_ref: format!("{}/{}", r["kind"].as_str().unwrap_or("").to_lowercase(), r["name"].as_str().unwrap_or("")),
        min: spec["minReplicas"].as_i64().unwrap_or(1),
        max: spec["maxReplicas"].as_i64().unwrap_or(1),
        metric_name,
        target,
        unit,
        metrics_api,
        trouble,
    };
    let sample = Sample { t, current: status["currentReplicas"].as_i64().unwrap_or(0), desired: status["desiredReplicas"].as_i64().unwrap_or(0), metric: now };
    (scaler, sample)
}

/// The aggregated API an autoscaler reads a metric of its spec from: metrics.k8s.io
/// (metrics-server) for CPU and memory, custom or external metrics from an adapter.
pub fn metrics_api(metric: &Value) -> &'static str {
    match metric["type"].as_str() {
        Some("Pods") | Some("Object") => "custom.metrics.k8s.io",
        Some("External") => "external.metrics.k8s.io",
        _ => "metrics.k8s.io",
    }
}

fn quantity(v: &Value) -> Option<f64> {
    v["averageValue"].as_str().or(v["value"].as_str()).and_then(parse_quantity)
}

fn figure(v: f64, unit: &str) -> String {
    if unit == "%" {
        format!("{v:.0}%")
    } else if v.abs() >= 100.0 || v.fract() == 0.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// The chart and its text form. `events`: (seconds since the watch began, the event's message).
pub fn hpa_chart(s: &Scaler, samples: &[Sample], events: &[(f64, String)], state: &str) -> MimeBundle {
    let last = samples.last().cloned().unwrap_or_default();
    let metric_now = last.metric.map(|m| figure(m, &s.unit)).unwrap_or_else(|| "unknown".into());
    let target = s.target.map(|t| figure(t, &s.unit)).unwrap_or_else(|| "?".into());
    let mut text = format!(
        "hpa {} scales {} between {} and {}: {} replicas now, {} desired; {} {} (target {})\n",
        s.name, s.target_ref, s.min, s.max, last.current, last.desired, s.metric_name, metric_now, target
    );
    for (t, message) in events {
        text.push_str(&format!("  at {t:>5.0} s  {message}\n"));
    }
    if let Some(trouble) = &s.trouble {
        text.push_str(&format!("  not scaling now: {trouble}\n"));
    }
    text.push_str(&format!("({state})\n"));
    let svg = svg(s, samples, events);
    let bundle = MimeBundle::plain(text);
    output::with_chart(bundle, svg)
}

fn svg(s: &Scaler, samples: &[Sample], events: &[(f64, String)]) -> String {
    const W: f64 = 600.0;
    const LEFT: f64 = 52.0;
    const RIGHT: f64 = 560.0;
    // Two panels: replicas (top), the metric (bottom).
    const TOP: (f64, f64) = (28.0, 128.0);
    const BOTTOM: (f64, f64) = (158.0, 248.0);
    const H: f64 = 272.0;
    let t_max = samples.iter().map(|p| p.t).chain(events.iter().map(|e| e.0)).fold(10.0f64, f64::max);
    let x = |t: f64| LEFT + t / t_max * (RIGHT - LEFT);
    let r_max = samples.iter().map(|p| p.current.max(p.desired)).chain([s.max]).max().unwrap_or(1).max(1) as f64;
    let yr = |n: f64| TOP.1 - n / r_max * (TOP.1 - TOP.0);
    let m_max = samples.iter().filter_map(|p| p.metric).chain(s.target.map(|t| t * 1.5)).fold(0.0f64, f64::max).max(if s.unit == "%" { 100.0 } else { 1.0 });
    let ym = |v: f64| BOTTOM.1 - v / m_max * (BOTTOM.1 - BOTTOM.0);
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\
         <text x=\"{LEFT}\" y=\"14\" font-weight=\"bold\">hpa {} on {}</text>",
        escape_html(&s.name),
        escape_html(&s.target_ref)
    );
    // Axes and their labels.
    for (top, bottom) in [TOP, BOTTOM] {
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{bottom}\" x2=\"{RIGHT}\" y2=\"{bottom}\" stroke=\"#444\"/><line x1=\"{LEFT}\" y1=\"{top}\" x2=\"{LEFT}\" y2=\"{bottom}\" stroke=\"#444\"/>"
        ));
    }
    out.push_str(&format!(
        "<text x=\"{lx}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{lx}\" y=\"{}\" text-anchor=\"end\">0</text>\
         <text x=\"{lx}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{lx}\" y=\"{}\" text-anchor=\"end\">0</text>\
         <text x=\"{RIGHT}\" y=\"{}\" text-anchor=\"end\">{t_max:.0} s</text>",
        TOP.0 + 4.0,
        r_max as i64,
        TOP.1,
        BOTTOM.0 + 4.0,
        figure(m_max, &s.unit),
        BOTTOM.1,
        BOTTOM.1 + 14.0,
        lx = LEFT - 4.0,
    ));
    // Events: a dotted line across both panels.
    for (t, _) in events {
        out.push_str(&format!("<line x1=\"{0:.1}\" y1=\"{1}\" x2=\"{0:.1}\" y2=\"{2}\" stroke=\"#999\" stroke-dasharray=\"2,3\"/>", x(*t), TOP.0, BOTTOM.1));
    }
    // The max, and the target.
    out.push_str(&format!("<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{RIGHT}\" y2=\"{0:.1}\" stroke=\"#bbb\"/>", yr(s.max as f64)));
    if let Some(target) = s.target {
        out.push_str(&format!(
            "<line x1=\"{LEFT}\" y1=\"{0:.1}\" x2=\"{RIGHT}\" y2=\"{0:.1}\" stroke=\"#d62728\" stroke-dasharray=\"6,4\"/>\
             <text x=\"{RIGHT}\" y=\"{1:.1}\" text-anchor=\"end\" fill=\"#d62728\">target {2}</text>",
            ym(target),
            ym(target) - 3.0,
            figure(target, &s.unit)
        ));
    }
    let steps = |values: Vec<(f64, f64)>, y: &dyn Fn(f64) -> f64| {
        let mut path = String::new();
        let mut prev: Option<f64> = None;
        for (t, v) in values {
            match prev {
                None => path.push_str(&format!("M{:.1},{:.1}", x(t), y(v))),
                Some(p) => path.push_str(&format!(" L{:.1},{:.1} L{:.1},{:.1}", x(t), y(p), x(t), y(v))),
            }
            prev = Some(v);
        }
        path
    };
    let desired = steps(samples.iter().map(|p| (p.t, p.desired as f64)).collect(), &yr);
    let current = steps(samples.iter().map(|p| (p.t, p.current as f64)).collect(), &yr);
    let metric = steps(samples.iter().filter_map(|p| p.metric.map(|m| (p.t, m))).collect(), &ym);
    out.push_str(&format!("<path d=\"{desired}\" fill=\"none\" stroke=\"#ff7f0e\" stroke-width=\"2\" stroke-dasharray=\"5,3\"/>"));
    out.push_str(&format!("<path d=\"{current}\" fill=\"none\" stroke=\"#1f77b4\" stroke-width=\"2.5\"/>"));
    out.push_str(&format!("<path d=\"{metric}\" fill=\"none\" stroke=\"#2ca02c\" stroke-width=\"2\"/>"));
    let last = samples.last().cloned().unwrap_or_default();
    out.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{0}\"><tspan fill=\"#1f77b4\">replicas {1}</tspan>  <tspan fill=\"#ff7f0e\">desired {2}</tspan>  <tspan fill=\"#777\">min {3}, max {4}</tspan></text>",
        TOP.0 - 4.0,
        last.current,
        last.desired,
        s.min,
        s.max
    ));
    out.push_str(&format!(
        "<text x=\"{LEFT}\" y=\"{0}\" fill=\"#2ca02c\">{1} {2}</text>",
        BOTTOM.0 - 4.0,
        escape_html(&s.metric_name),
        last.metric.map(|m| figure(m, &s.unit)).unwrap_or_else(|| "unknown yet".into())
    ));
    if let Some(trouble) = &s.trouble {
        // The reason only (FailedGetPodsMetric ...): the whole message is in the text.
        let reason = trouble.split(':').next().unwrap_or(trouble);
        out.push_str(&format!("<text x=\"{RIGHT}\" y=\"{0}\" text-anchor=\"end\" fill=\"#d62728\">not scaling now: {1}</text>", TOP.0 - 4.0, escape_html(reason)));
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa(current: i64, desired: i64, util: Option<i64>) -> Value {
        let mut h = json!({
            "metadata": {"name": "cpu"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "burn"}, "minReplicas": 1, "maxReplicas": 4,
                     "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]},
            "status": {"currentReplicas": current, "desiredReplicas": desired}
        });
        if let Some(u) = util {
            h["status"]["currentMetrics"] = json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": u, "averageValue": "123m"}}}]);
        }
        h
    }

    #[test]
    fn a_cpu_autoscaler_is_read_from_its_object() {
        let (s, p) = read(&hpa(2, 3, Some(97)), 12.0);
        assert_eq!((s.name.as_str(), s.target_ref.as_str(), s.min, s.max), ("cpu", "deployment/burn", 1, 4));
        assert_eq!((s.metric_name.as_str(), s.target, s.unit.as_str()), ("cpu", Some(50.0), "%"));
        assert_eq!(p, Sample { t: 12.0, current: 2, desired: 3, metric: Some(97.0) });
        // Before the first metric, the value is unknown, not 0.
        assert_eq!(read(&hpa(1, 1, None), 0.0).1.metric, None);
    }

    #[test]
    fn a_pods_metric_and_its_target_are_read_as_quantities() {
        let h = json!({
            "metadata": {"name": "q"}, "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "w"}, "maxReplicas": 5,
            "metrics": [{"type": "Pods", "pods": {"metric": {"name": "items_in_progress"}, "target": {"type": "AverageValue", "averageValue": "2"}}}]},
            "status": {"currentReplicas": 1, "desiredReplicas": 2, "currentMetrics": [{"type": "Pods", "pods": {"metric": {"name": "items_in_progress"}, "current": {"averageValue": "3500m"}}}]}
        });
        let (s, p) = read(&h, 1.0);
        assert_eq!((s.metric_name.as_str(), s.target, s.min), ("items_in_progress", Some(2.0), 1));
        assert_eq!(p.metric, Some(3.5));
        assert_eq!((s.metrics_api, s.trouble), ("custom.metrics.k8s.io", None));
    }

    #[test]
    fn an_autoscaler_that_cannot_read_its_metric_says_why() {
        let mut h = hpa(1, 1, None);
        h["status"]["conditions"] = json!([
            {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
            {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric", "message": "the HPA was unable to compute the replica count: failed to get cpu utilization"}
        ]);
        let (s, p) = read(&h, 0.0);
        assert_eq!(s.metrics_api, "metrics.k8s.io");
        let b = hpa_chart(&s, &[p], &[], "watching");
        assert!(b.text().unwrap().contains("not scaling now: FailedGetResourceMetric: the HPA was unable to compute the replica count"), "{:?}", b.text());
        assert!(b.data["image/svg+xml"].as_str().unwrap().contains("not scaling now: FailedGetResourceMetric</text>"));
    }

    #[test]
    fn the_chart_shows_replicas_the_metric_the_target_and_events() {
        let (s, _) = read(&hpa(1, 1, Some(0)), 0.0);
        let samples = vec![
            Sample { t: 0.0, current: 1, desired: 1, metric: Some(0.0) },
            Sample { t: 20.0, current: 1, desired: 3, metric: Some(180.0) },
            Sample { t: 35.0, current: 3, desired: 3, metric: Some(60.0) },
        ];
        let b = hpa_chart(&s, &samples, &[(20.0, "New size: 3; reason: cpu resource utilization (percentage of request) above target".into())], "watching");
        let text = b.text().unwrap();
        assert!(text.starts_with("hpa cpu scales deployment/burn between 1 and 4: 3 replicas now, 3 desired; cpu 60% (target 50%)"), "{text}");
        assert!(text.contains("at    20 s  New size: 3"), "{text}");
        let svg = b.data["image/svg+xml"].as_str().unwrap();
        assert_eq!(svg.matches("<path").count(), 3);
        assert!(svg.contains("target 50%") && svg.contains("replicas 3") && svg.contains("stroke-dasharray=\"2,3\""), "{svg}");
        assert!(b.data.contains_key("image/png"));
    }
}
