//! The live table of a `%%k8s job` (a row per rank: pod, host, node, state, progress, pmap
//! items and their rate, the cores it kept busy, time, result, then a totals row) and, at the end of a job that
//! handed out pmap items, a small SVG chart of items done over time per rank, so a class can
//! see the load balance. Pure rendering: the job's loop owns the state.

use output::{escape_html, MimeBundle};

/// One rank as the table shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RankLine {
    pub rank: usize,
    pub pod: String,
    /// The pod's host name, in a connected job (`NAME-i.NAME` resolves to it).
    pub host: String,
    pub node: String,
    pub state: String,
    pub progress: Option<f64>,
    /// pmap items this rank has finished, and how many it holds now.
    pub items: Option<(u64, u64)>,
    /// CPU seconds the rank's process has used (all its threads).
    pub cpu: Option<f64>,
    /// Seconds since the rank started (to its end, once it ended).
    pub seconds: Option<f64>,
    pub result: String,
}

/// The table, with `state` said below it.
pub fn job_table(name: &str, rows: &[RankLine], state: &str) -> MimeBundle {
    let with_items = rows.iter().any(|r| r.items.is_some());
    let with_host = rows.iter().any(|r| !r.host.is_empty());
    let with_cpu = rows.iter().any(|r| r.cpu.is_some());
    let mut headers = vec!["RANK", "POD"];
    if with_host {
        headers.push("HOST");
    }
    headers.extend(["NODE", "STATE", "PROGRESS"]);
    if with_items {
        headers.extend(["ITEMS", "ITEMS/S"]);
    }
    if with_cpu {
        headers.push("CPU");
    }
    headers.extend(["TIME", "RESULT"]);
    let mut cells: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            let mut c = vec![r.rank.to_string(), r.pod.clone()];
            if with_host {
                c.push(r.host.clone());
            }
            let state = if r.pod.is_empty() { "Pending".to_string() } else { r.state.clone() };
            c.extend([r.node.clone(), state, r.progress.map(|p| format!("{:.0}%", p * 100.0)).unwrap_or_default()]);
            if with_items {
                c.push(r.items.map(|(done, _)| done.to_string()).unwrap_or_default());
                c.push(rate(r.items.map(|(d, _)| d), r.seconds));
            }
            if with_cpu {
                c.push(cores(r.cpu, r.seconds));
            }
            c.extend([r.seconds.map(|s| format!("{s:.1} s")).unwrap_or_default(), r.result.clone()]);
            c
        })
        .collect();
    // Totals: how many ranks are done, items and their rate over the longest time.
    if rows.len() > 1 {
        let succeeded = rows.iter().filter(|r| r.state == "Succeeded").count();
        let longest = rows.iter().filter_map(|r| r.seconds).fold(None, |m: Option<f64>, s| Some(m.map_or(s, |m| m.max(s))));
        let mut c = vec!["total".to_string(), counted(distinct(rows.iter().map(|r| r.pod.as_str())), "pod")];
        if with_host {
            c.push(String::new());
        }
        c.extend([counted(distinct(rows.iter().map(|r| r.node.as_str())), "node"), format!("{succeeded} of {} succeeded", rows.len()), String::new()]);
        if with_items {
            let items: u64 = rows.iter().filter_map(|r| r.items.map(|(d, _)| d)).sum();
            c.push(items.to_string());
            c.push(rate(Some(items), longest));
        }
        if with_cpu {
            let used: f64 = rows.iter().filter_map(|r| r.cpu).sum();
            c.push(cores(Some(used), longest));
        }
        c.extend([longest.map(|s| format!("{s:.1} s")).unwrap_or_default(), String::new()]);
        cells.push(c);
    }
    let widths: Vec<usize> = (0..headers.len()).map(|i| cells.iter().map(|r| r[i].chars().count()).chain([headers[i].len()]).max().unwrap_or(0)).collect();
    let line = |r: &[String]| r.iter().zip(&widths).map(|(s, w)| format!("{s:<w$}")).collect::<Vec<_>>().join("   ").trim_end().to_string();
    let mut text = line(&headers.iter().map(|h| h.to_string()).collect::<Vec<_>>());
    for r in &cells {
        text.push('\n');
        text.push_str(&line(r));
    }
    text.push_str(&format!("\njob {name}: {state}\n"));
    let progress_at = headers.iter().position(|h| *h == "PROGRESS");
    let mut html = String::from("<table><thead><tr>");
    for h in &headers {
        html.push_str(&format!("<th style=\"text-align:left\">{h}</th>"));
    }
    html.push_str("</tr></thead><tbody>");
    for (i, r) in cells.iter().enumerate() {
        let total = i == rows.len();
        html.push_str(if total { "<tr style=\"border-top:1px solid #999;font-weight:bold\">" } else { "<tr>" });
        for (c, cell) in r.iter().enumerate() {
            let shown = match rows.get(i).and_then(|row| row.progress).filter(|_| Some(c) == progress_at) {
                Some(p) => format!("<progress value=\"{p:.3}\" max=\"1\"></progress> {}", escape_html(cell)),
                None => escape_html(cell),
            };
            html.push_str(&format!("<td style=\"text-align:left\">{shown}</td>"));
        }
        html.push_str("</tr>");
    }
    html.push_str(&format!("</tbody></table><div><i>job {}: {}</i></div>", escape_html(name), escape_html(state)));
    MimeBundle::plain(text).with("text/html", html)
}

/// `1 node`, `3 nodes`.
fn counted(n: usize, what: &str) -> String {
    format!("{n} {what}{}", if n == 1 { "" } else { "s" })
}

fn distinct<'a>(names: impl Iterator<Item = &'a str>) -> usize {
    names.filter(|n| !n.is_empty()).collect::<std::collections::BTreeSet<_>>().len()
}

/// The cores kept busy on average: CPU seconds over the seconds the rank has run.
fn cores(cpu: Option<f64>, seconds: Option<f64>) -> String {
    match (cpu, seconds) {
        (Some(c), Some(s)) if s > 0.5 => format!("{:.2}", c / s),
        _ => String::new(),
    }
}

fn rate(items: Option<u64>, seconds: Option<f64>) -> String {
    match (items, seconds) {
        (Some(n), Some(s)) if s > 0.05 && n > 0 => {
            let r = n as f64 / s;
            if r >= 100.0 { format!("{r:.0}") } else { format!("{r:.1}") }
        }
        _ => String::new(),
    }
}

/// Items done over time, one line per rank: `(rank, [(seconds since the job began, done)])`.
/// A step line per rank, the rank's number at its end; the axes say seconds and items.
pub fn items_chart(name: &str, series: &[(usize, Vec<(f64, u64)>)]) -> MimeBundle {
    const W: f64 = 520.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 52.0;
    const BOTTOM: f64 = 30.0;
    const COLOURS: &[&str] = &["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"];
    let t_max = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.0)).fold(0.0f64, f64::max).max(0.1);
    let n_max = series.iter().flat_map(|(_, s)| s.iter().map(|p| p.1)).max().unwrap_or(0).max(1) as f64;
    let x = |t: f64| LEFT + t / t_max * (W - LEFT - 40.0);
    let y = |n: f64| H - BOTTOM - n / n_max * (H - BOTTOM - 20.0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" font-family=\"sans-serif\" font-size=\"11\">\
         <text x=\"{LEFT}\" y=\"13\">job {}: items done per rank (pmap or queue)</text>\
         <line x1=\"{LEFT}\" y1=\"{b}\" x2=\"{r}\" y2=\"{b}\" stroke=\"#444\"/><line x1=\"{LEFT}\" y1=\"20\" x2=\"{LEFT}\" y2=\"{b}\" stroke=\"#444\"/>\
         <text x=\"{r}\" y=\"{lb}\" text-anchor=\"end\">{t_max:.1} s</text><text x=\"{LEFT}\" y=\"{lb}\">0</text>\
         <text x=\"{lx}\" y=\"24\" text-anchor=\"end\">{n}</text><text x=\"{lx}\" y=\"{b}\" text-anchor=\"end\">0</text>",
        escape_html(name),
        b = H - BOTTOM,
        r = W - 40.0,
        lb = H - BOTTOM + 14.0,
        lx = LEFT - 4.0,
        n = n_max as u64,
    );
    for (i, (rank, points)) in series.iter().enumerate() {
        let colour = COLOURS[i % COLOURS.len()];
        let mut path = format!("M{:.1},{:.1}", x(0.0), y(0.0));
        let mut last = 0u64;
        for &(t, done) in points {
            // A step: the count holds until the next report.
            path.push_str(&format!(" L{:.1},{:.1} L{:.1},{:.1}", x(t), y(last as f64), x(t), y(done as f64)));
            last = done;
        }
        let end = points.last().map_or(0.0, |p| p.0);
        svg.push_str(&format!("<path d=\"{path}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"2\"/>"));
        svg.push_str(&format!("<text x=\"{:.1}\" y=\"{:.1}\" fill=\"{colour}\">rank {rank}</text>", x(end) + 3.0, y(last as f64) + 4.0));
    }
    svg.push_str("</svg>");
    let mut text = format!("job {name}: items done per rank (pmap or queue)\n");
    for (rank, points) in series {
        let (t, n) = points.last().copied().unwrap_or((0.0, 0));
        text.push_str(&format!("  rank {rank}: {n} items by {t:.1} s\n"));
    }
    output::with_chart(MimeBundle::plain(text), svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(rank: usize, state: &str, items: Option<(u64, u64)>) -> RankLine {
        RankLine { rank, pod: format!("sq-{rank}-x"), node: "kubernel".into(), state: state.into(), items, seconds: Some(2.0), ..RankLine::default() }
    }

    #[test]
    fn a_row_per_rank_and_totals() {
        let b = job_table("sq", &[row(0, "Succeeded", Some((600, 0))), row(1, "Running", Some((400, 8)))], "running");
        let text = b.text().unwrap().to_string();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("RANK") && lines[0].contains("ITEMS/S"), "{text}");
        assert!(lines[1].contains("sq-0-x") && lines[1].contains("600") && lines[1].contains("300"), "{text}");
        assert!(lines[3].starts_with("total") && lines[3].contains("1000") && lines[3].contains("500") && lines[3].contains("1 of 2 succeeded") && lines[3].contains("1 node "), "{text}");
        assert!(text.ends_with("job sq: running\n"));
        // Without pmap items there are no item columns, and a lone rank has no totals.
        let one = job_table("sq", &[row(0, "Running", None)], "running").text().unwrap().to_string();
        assert!(!one.contains("ITEMS") && !one.contains("total") && !one.contains("CPU"), "{one}");
        // The cores each rank kept busy, and all of them together over the longest time.
        let busy = |rank, cpu| RankLine { cpu: Some(cpu), ..row(rank, "Succeeded", None) };
        let t = job_table("sq", &[busy(0, 3.9), busy(1, 2.0)], "succeeded").text().unwrap().to_string();
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[0].contains("CPU") && lines[1].contains("1.95") && lines[2].contains("1.00") && lines[3].contains("2.95"), "{t}");
    }

    #[test]
    fn the_chart_has_a_line_per_rank() {
        let b = items_chart("sq", &[(0, vec![(0.5, 10), (1.0, 30)]), (1, vec![(0.8, 20)])]);
        let svg = b.data["image/svg+xml"].as_str().unwrap();
        assert_eq!(svg.matches("<path").count(), 2);
        assert!(svg.contains("rank 1") && svg.contains("1.0 s"));
        assert!(b.data.contains_key("image/png"), "no PNG for untrusted notebooks");
        assert!(b.text().unwrap().contains("rank 0: 30 items by 1.0 s"));
    }
}
