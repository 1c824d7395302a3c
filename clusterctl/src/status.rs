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

/// The table for a vrrpd `status` document. Unknown or missing fields print
/// as `-`: an older daemon must not make the command fail.
pub fn render(doc: &Value) -> String {
    let mut rows = vec![[
        "INSTANCE", "VRID", "IF", "VER", "STATE", "PRIO", "EFF", "MASTER", "VIPS",
    ]
    .map(String::from)];
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
        rows.push([
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
    let mut widths = [0usize; 9];
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut out = String::new();
    for r in &rows {
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
    if let Some(d) = doc["packets_discarded"]
        .as_object()
        .filter(|d| !d.is_empty())
    {
        let parts: Vec<String> = d.iter().map(|(k, v)| format!("{k}={v}")).collect();
        let _ = writeln!(out, "discarded packets: {}", parts.join(" "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

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
