//! Prometheus answers as people read them: an instant vector as a table (one row per series,
//! its labels and value), a range as a chart of one line per series (with a PNG). Pure: the
//! verb fetches the JSON of Prometheus' HTTP API.

use super::Table;
use output::{escape_html, MimeBundle};
use serde_json::Value;

/// A series' labels as PromQL writes them: `name{a="1", b="2"}`.
pub fn series_name(metric: &Value) -> String {
    let name = metric["__name__"].as_str().unwrap_or_default();
    let labels: Vec<String> = metric
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| *k != "__name__")
        .map(|(k, v)| format!("{k}=\"{}\"", v.as_str().unwrap_or_default()))
        .collect();
    if labels.is_empty() {
        if name.is_empty() { "{}".into() } else { name.to_string() }
    } else {
        format!("{name}{{{}}}", labels.join(", "))
    }
}

fn value_text(v: &Value) -> String {
    let raw = v.as_str().unwrap_or_default();
    match raw.parse::<f64>() {
        Ok(f) if f.is_finite() && f.fract() != 0.0 => format!("{:.4}", f).trim_end_matches('0').to_string(),
        _ => raw.to_string(),
    }
}

/// An instant query's `data` as a table: SERIES and VALUE (or the scalar, or a string).
pub fn instant(query: &str, data: &Value) -> MimeBundle {
    match data["resultType"].as_str() {
        Some("scalar") | Some("string") => {
            let v = value_text(&data["result"][1]);
            MimeBundle::plain(format!("{query} = {v}")).with("text/html", format!("<code>{}</code> = <b>{}</b>", escape_html(query), escape_html(&v)))
        }
        _ => {
            let result = data["result"].as_array().cloned().unwrap_or_default();
            if result.is_empty() {
                return super::note(&format!("no series match {query}"));
            }
            let mut t = Table::new(&["SERIES", "VALUE"]);
            for s in &result {
                let value = if s["value"].is_array() { value_text(&s["value"][1]) } else { value_text(&s["values"].as_array().and_then(|v| v.last()).cloned().unwrap_or_default()[1]) };
                t.rows.push(vec![series_name(&s["metric"]), value]);
            }
            t.bundle()
        }
    }
}

/// A range query's matrix as a chart over `seconds` (the range), one line per series; the
/// text form gives each series' last value.
pub fn range_chart(query: &str, data: &Value, seconds: f64, state: &str) -> MimeBundle {
    const W: f64 = 600.0;
    const H: f64 = 260.0;
    const LEFT: f64 = 60.0;
    const RIGHT: f64 = 440.0;
    const TOP: f64 = 30.0;
    const BOTTOM: f64 = 230.0;
    const COLOURS: &[&str] = &["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    let series: Vec<(String, Vec<(f64, f64)>)> = data["result"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let points = s["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| Some((p[0].as_f64()?, p[1].as_str()?.parse::<f64>().ok().filter(|v| v.is_finite())?)))
                .collect();
            (series_name(&s["metric"]), points)
        })
        .collect();
    let mut text = format!("{query} over the last {}\n", super::human_duration(seconds as i64));
    for (name, points) in &series {
        let last = points.last().map(|p| format!("{:.4}", p.1).trim_end_matches('0').trim_end_matches('.').to_string()).unwrap_or_else(|| "none".into());
        text.push_str(&format!("  {name}: {last} now\n"));
    }
    if series.is_empty() {
        text.push_str("  no series match\n");
    }
    text.push_str(&format!("({state})\n"));
    let t_end = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.0)).fold(f64::MIN, f64::max);
    let t_start = t_end - seconds;
    let v_max = series.iter().flat_map(|(_, p)| p.iter().map(|q| q.1)).fold(0.0f64, f64::max);
    let v_max = if v_max <= 0.0 { 1.0 } else { v_max * 1.1 };
    let x = |t: f64| LEFT + ((t - t_start) / seconds).clamp(0.0, 1.0) * (RIGHT - LEFT);
    let y = |v: f64| BOTTOM - (v / v_max).clamp(0.0, 1.0) * (BOTTOM - TOP);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\
         <text x=\"{LEFT}\" y=\"16\" font-weight=\"bold\">{}</text>\
         <line x1=\"{LEFT}\" y1=\"{BOTTOM}\" x2=\"{RIGHT}\" y2=\"{BOTTOM}\" stroke=\"#444\"/><line x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{BOTTOM}\" stroke=\"#444\"/>\
         <text x=\"{lx}\" y=\"{t4}\" text-anchor=\"end\">{top}</text><text x=\"{lx}\" y=\"{BOTTOM}\" text-anchor=\"end\">0</text>\
         <text x=\"{LEFT}\" y=\"{b14}\">-{range}</text><text x=\"{RIGHT}\" y=\"{b14}\" text-anchor=\"end\">now</text>",
        escape_html(query),
        lx = LEFT - 4.0,
        t4 = TOP + 4.0,
        b14 = BOTTOM + 14.0,
        top = short(v_max),
        range = super::human_duration(seconds as i64),
    );
    for (i, (name, points)) in series.iter().enumerate().take(COLOURS.len()) {
        let colour = COLOURS[i];
        let path: Vec<String> = points.iter().enumerate().map(|(j, &(t, v))| format!("{}{:.1},{:.1}", if j == 0 { "M" } else { " L" }, x(t), y(v))).collect();
        svg.push_str(&format!("<path d=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>", path.join("")));
        let label: String = name.chars().take(40).collect();
        svg.push_str(&format!("<rect x=\"{:.1}\" y=\"{:.1}\" width=\"10\" height=\"3\" fill=\"{colour}\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\">{}</text>", RIGHT + 10.0, TOP + 14.0 * i as f64 + 2.0, RIGHT + 24.0, TOP + 14.0 * i as f64 + 6.0, escape_html(&label)));
    }
    if series.len() > COLOURS.len() {
        svg.push_str(&format!("<text x=\"{}\" y=\"{:.1}\" font-size=\"10\">and {} more</text>", RIGHT + 24.0, TOP + 14.0 * COLOURS.len() as f64 + 6.0, series.len() - COLOURS.len()));
    }
    svg.push_str("</svg>");
    output::with_chart(MimeBundle::plain(text), svg)
}

fn short(v: f64) -> String {
    if v >= 1000.0 || v.fract() == 0.0 { format!("{v:.0}") } else if v >= 10.0 { format!("{v:.1}") } else { format!("{v:.2}") }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_instant_vector_is_a_table_of_series() {
        let data = json!({"resultType": "vector", "result": [
            {"metric": {"__name__": "up", "job": "prometheus", "instance": "localhost:9090"}, "value": [1.0, "1"]},
            {"metric": {"pod": "w-1"}, "value": [1.0, "0.25"]}
        ]});
        let b = instant("up", &data);
        let text = b.text().unwrap();
        assert!(text.starts_with("SERIES") && text.contains("up{instance=\"localhost:9090\", job=\"prometheus\"}") && text.contains("{pod=\"w-1\"}") && text.contains("0.25"), "{text}");
        assert!(instant("up", &json!({"resultType": "vector", "result": []})).text().unwrap().contains("no series match up"));
        assert_eq!(instant("1+1", &json!({"resultType": "scalar", "result": [1.0, "2"]})).text().unwrap(), "1+1 = 2");
    }

    #[test]
    fn a_range_is_a_chart_of_one_line_per_series() {
        let data = json!({"resultType": "matrix", "result": [
            {"metric": {"pod": "a"}, "values": [[100.0, "1"], [110.0, "3"], [120.0, "2"]]},
            {"metric": {"pod": "b"}, "values": [[100.0, "0"], [120.0, "NaN"]]}
        ]});
        let b = range_chart("rate(x_total[30s])", &data, 20.0, "drawn");
        let svg = b.data["image/svg+xml"].as_str().unwrap();
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("{pod=&quot;a&quot;}") || svg.contains("{pod=\"a\"}"), "{svg}");
        let text = b.text().unwrap();
        assert!(text.contains("{pod=\"a\"}: 2 now") && text.contains("{pod=\"b\"}: 0 now"), "{text}");
        assert!(b.data.contains_key("image/png"));
    }
}
