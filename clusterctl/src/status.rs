//! `clusterctl status`: one line per VRRP instance.

use serde_json::Value;
use std::fmt::Write;

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

/// Rows as aligned columns; the last column is not padded.
fn table(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; n];
    for r in rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (k, (w, c)) in widths.iter().zip(r).enumerate() {
            if k + 1 == r.len() {
                line.push_str(c);
            } else {
                let _ = write!(line, "{c:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// The health checks part: the sinks, then one line per check and
/// virtual server using it.
fn render_checks(hc: &Value, out: &mut String) {
    if let Some(sinks) = hc["sinks"].as_array() {
        for l in sinks {
            let _ = writeln!(out, "load balancer: {}", s(l));
        }
    }
    let mut rows = vec![[
        "VIRTUAL SERVER",
        "REAL SERVER",
        "CHECK",
        "UP",
        "RUNS",
        "FAILED",
        "P50 MS",
        "P99 MS",
        "LAST",
    ]
    .map(String::from)
    .to_vec()];
    let ms = |v: &Value| {
        v.as_u64().map_or_else(
            || "-".to_string(),
            |us| format!("{:.1}", us as f64 / 1000.0),
        )
    };
    for c in hc["checks"].as_array().map(Vec::as_slice).unwrap_or(&[]) {
        let failed: u64 = c["downs_by_reason"]
            .as_object()
            .map(|m| m.values().filter_map(Value::as_u64).sum())
            .unwrap_or(0);
        let up = match c["up"].as_bool() {
            Some(true) => "up",
            Some(false) => "DOWN",
            None => "-",
        };
        let last = match c["last"]["reason"].as_str() {
            Some(r) if !r.is_empty() => r.to_string(),
            _ => "-".to_string(),
        };
        for sub in c["subscribers"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            rows.push(vec![
                s(&sub["vs_name"]),
                s(&sub["rs_name"]),
                s(&c["kind"]),
                up.to_string(),
                s(&c["runs"]),
                failed.to_string(),
                ms(&c["latency"]["p50_us"]),
                ms(&c["latency"]["p99_us"]),
                last.clone(),
            ]);
        }
    }
    if rows.len() > 1 {
        out.push_str(&table(&rows));
    }
}

/// The table for a vrrpd `status` document. Unknown or missing fields print
/// as `-`: an older daemon must not make the command fail.
pub fn render(doc: &Value) -> String {
    let mut rows = vec![[
        "INSTANCE", "VRID", "IF", "VER", "STATE", "PRIO", "EFF", "MASTER", "VIPS",
    ]
    .map(String::from)
    .to_vec()];
    for i in doc["instances"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or(&[])
    {
        let master = match (&i["state"], &i["master"]) {
            (Value::String(st), _) if st == "MASTER" => "(this node)".to_string(),
            (_, m) => s(m),
        };
        let vips = i["vips"]
            .as_array()
            .map(|v| v.iter().map(s).collect::<Vec<_>>().join(","))
            .unwrap_or_else(|| "-".into());
        rows.push(vec![
            s(&i["name"]),
            s(&i["vrid"]),
            s(&i["interface"]),
            s(&i["version"]),
            s(&i["state"]),
            s(&i["priority"]),
            s(&i["effective_priority"]),
            master,
            vips,
        ]);
    }
    let mut out = table(&rows);
    if let Some(d) = doc["packets_discarded"]
        .as_object()
        .filter(|d| !d.is_empty())
    {
        let parts: Vec<String> = d.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "discarded packets: {}", parts.join(" "));
    }
    if doc["health_checks"].is_object() {
        render_checks(&doc["health_checks"], &mut out);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_health_checks() {
        let doc: Value = serde_json::from_str(
            r#"{"instances":[],"health_checks":{"sinks":["haproxy /run/h.sock (1 virtual servers, dead servers to maint)"],
               "checks":[{"kind":"HTTP_GET","up":false,"runs":12,"downs_by_reason":{"refused":3,"timeout":1},
                 "latency":{"p50_us":1500,"p99_us":20000},"last":{"reason":"refused"},
                 "subscribers":[{"vs_name":"192.0.2.10:80","rs_name":"192.0.2.21:80"}]}]}}"#,
        )
        .unwrap();
        let out = render(&doc);
        assert!(out.contains("load balancer: haproxy /run/h.sock"), "{out}");
        let line = out
            .lines()
            .find(|l| l.starts_with("192.0.2.10:80"))
            .unwrap();
        let cols: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(
            cols,
            [
                "192.0.2.10:80",
                "192.0.2.21:80",
                "HTTP_GET",
                "DOWN",
                "12",
                "4",
                "1.5",
                "20.0",
                "refused"
            ]
        );
    }

    #[test]
    fn renders_instances_and_discards() {
        let doc: Value = serde_json::from_str(
            r#"{"instances":[
                {"name":"VI_1","vrid":51,"interface":"eth0","version":3,"state":"MASTER",
                 "priority":150,"effective_priority":150,"master":null,"vips":["192.0.2.200/32"]},
                {"name":"VI_2","vrid":52,"interface":"eth0","version":2,"state":"BACKUP",
                 "priority":100,"effective_priority":90,"master":"192.0.2.12","vips":[]}],
               "packets_discarded":{"ttl":3}}"#,
        )
        .unwrap();
        let text = render(&doc);
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("INSTANCE  VRID  IF"));
        assert!(lines[1].contains("VI_1") && lines[1].contains("(this node)"));
        assert!(lines[1].ends_with("192.0.2.200/32"));
        assert!(lines[2].contains("BACKUP") && lines[2].contains("192.0.2.12"));
        assert!(lines[2].contains(" 90 "));
        assert_eq!(lines[3], "discarded packets: ttl=3");
    }

    #[test]
    fn missing_fields_print_as_dash() {
        let doc: Value = serde_json::from_str(r#"{"instances":[{"name":"X"}]}"#).unwrap();
        let text = render(&doc);
        assert!(text.lines().nth(1).unwrap().starts_with("X "));
        assert!(text.contains(" - "));
    }
}
