//! Turning records into numbers: who answered when, the longest client
//! outage, and how long the backup took to advertise as the new master.

use crate::wire::{Advert, ProbeRecord};

/// The longest run of unanswered probes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outage {
    /// Send time of the first unanswered probe.
    pub start_us: u64,
    /// Send time of the first answered probe after the run; `None` if the
    /// run lasted to the end of the probe (service never came back).
    pub end_us: Option<u64>,
    /// Probes in the run.
    pub lost: u64,
    /// Who answered the probe just before the run.
    pub before: Option<String>,
    /// Who answered the probe that ended the run.
    pub after: Option<String>,
}

impl Outage {
    /// Length in µs; an unrecovered run counts up to `last_sent_us`.
    pub fn duration_us(&self, last_sent_us: u64) -> u64 {
        self.end_us
            .unwrap_or(last_sent_us)
            .saturating_sub(self.start_us)
    }
}

/// Summary of one probe run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeStats {
    pub sent: u64,
    pub answered: u64,
    /// Unanswered probes sent after the first answered one (the first
    /// probes may only be waiting for ARP / neighbour discovery).
    pub lost: u64,
    pub longest: Option<Outage>,
    /// Successive responders: (send time of the first probe it answered, name).
    pub responders: Vec<(u64, String)>,
    pub last_sent_us: u64,
}

/// Computes [`ProbeStats`] from records in sequence order.
pub fn probe_stats(records: &[ProbeRecord]) -> ProbeStats {
    let mut stats = ProbeStats {
        sent: records.len() as u64,
        answered: 0,
        lost: 0,
        longest: None,
        responders: Vec::new(),
        last_sent_us: records.last().map_or(0, |r| r.sent_us),
    };
    let Some(first) = records.iter().position(|r| r.responder.is_some()) else {
        return stats;
    };
    let mut run: Option<Outage> = None;
    let mut last_responder: Option<String> = None;
    for r in &records[first..] {
        match &r.responder {
            Some(name) => {
                stats.answered += 1;
                if last_responder.as_deref() != Some(name.as_str()) {
                    stats.responders.push((r.sent_us, name.clone()));
                }
                if let Some(mut o) = run.take() {
                    o.end_us = Some(r.sent_us);
                    o.after = Some(name.clone());
                    keep_longest(&mut stats.longest, o, stats.last_sent_us);
                }
                last_responder = Some(name.clone());
            }
            None => {
                stats.lost += 1;
                let o = run.get_or_insert_with(|| Outage {
                    start_us: r.sent_us,
                    end_us: None,
                    lost: 0,
                    before: last_responder.clone(),
                    after: None,
                });
                o.lost += 1;
            }
        }
    }
    if let Some(o) = run {
        keep_longest(&mut stats.longest, o, stats.last_sent_us);
    }
    stats
}

fn keep_longest(best: &mut Option<Outage>, cand: Outage, last: u64) {
    let better = match best {
        None => true,
        Some(b) => cand.duration_us(last) > b.duration_us(last),
    };
    if better {
        *best = Some(cand);
    }
}

/// When the new master first spoke after a fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    pub new_master: String,
    pub first_advert_us: u64,
    pub gap_from_fault_us: u64,
    /// The old master's last advert (priority > 0) before the new master's
    /// first one, if the capture saw it.
    pub old_last_advert_us: Option<u64>,
    pub gap_from_last_advert_us: Option<u64>,
}

/// The first advert for `vrid` after `fault_us` with priority > 0 from a
/// node other than `old_master`.
pub fn detection(
    adverts: &[Advert],
    vrid: u8,
    old_master: &str,
    fault_us: u64,
) -> Option<Detection> {
    let first = adverts.iter().filter(|a| a.vrid == vrid).find(|a| {
        a.t_us >= fault_us && a.priority > 0 && a.node.as_deref().is_some_and(|n| n != old_master)
    })?;
    let old_last = adverts
        .iter()
        .filter(|a| {
            a.vrid == vrid
                && a.priority > 0
                && a.t_us <= first.t_us
                && a.node.as_deref() == Some(old_master)
        })
        .map(|a| a.t_us)
        .max();
    Some(Detection {
        new_master: first.node.clone().unwrap_or_default(),
        first_advert_us: first.t_us,
        gap_from_fault_us: first.t_us - fault_us,
        old_last_advert_us: old_last,
        gap_from_last_advert_us: old_last.map(|t| first.t_us - t),
    })
}

/// Master changes seen on the wire for `vrid`: (time, node, what). A node
/// "becomes MASTER" when it is the first to advertise after another node
/// did; a priority-0 advert is a resignation (RFC 5798 §6.4.3).
pub fn master_events(adverts: &[Advert], vrid: u8) -> Vec<(u64, String, String)> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    let mut resigned: Option<String> = None;
    for a in adverts.iter().filter(|a| a.vrid == vrid) {
        let node = a.node.clone().unwrap_or_else(|| a.src.to_string());
        if a.priority == 0 {
            if resigned.as_deref() != Some(node.as_str()) {
                out.push((a.t_us, node.clone(), "resigns (priority 0)".to_string()));
                resigned = Some(node);
            }
            continue;
        }
        if current.as_deref() != Some(node.as_str()) {
            out.push((
                a.t_us,
                node.clone(),
                format!("MASTER (priority {})", a.priority),
            ));
            current = Some(node);
            resigned = None;
        }
    }
    out
}

/// At most `keep` master events; a longer run (two masters fighting) is
/// cut and summarised as one event, so a report stays readable.
pub fn compress_events(
    events: Vec<(u64, String, String)>,
    keep: usize,
) -> Vec<(u64, String, String)> {
    if events.len() <= keep {
        return events;
    }
    let last = events.last().map(|e| e.0).unwrap_or(0);
    let more = events.len() - keep;
    let mut out: Vec<_> = events.into_iter().take(keep).collect();
    out.push((
        last,
        "...".to_string(),
        format!("{more} further master changes (flapping) up to here"),
    ));
    out
}

/// "192.0.2.11 (n1) prio 120: 59110 adverts; ..." for error messages.
pub fn advert_summary(adverts: &[Advert]) -> String {
    let mut counts: std::collections::BTreeMap<(String, u8, u8), usize> = Default::default();
    for a in adverts {
        let who = match &a.node {
            Some(n) => format!("{} ({n})", a.src),
            None => a.src.to_string(),
        };
        *counts.entry((who, a.vrid, a.priority)).or_default() += 1;
    }
    if counts.is_empty() {
        return "no adverts captured".into();
    }
    counts
        .iter()
        .map(|((who, vrid, prio), n)| format!("{who} vrid {vrid} prio {prio}: {n} adverts"))
        .collect::<Vec<_>>()
        .join("; ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn rec(seq: u64, who: Option<&str>) -> ProbeRecord {
        ProbeRecord {
            seq,
            sent_us: 1000 * seq,
            recv_us: who.map(|_| 1000 * seq + 100),
            responder: who.map(str::to_string),
        }
    }

    #[test]
    fn longest_outage_and_responders() {
        let mut r = vec![rec(0, None), rec(1, Some("n1")), rec(2, Some("n1"))];
        r.extend((3..8).map(|s| rec(s, None)));
        r.push(rec(8, Some("n2")));
        r.push(rec(9, None));
        r.push(rec(10, Some("n2")));
        let s = probe_stats(&r);
        assert_eq!(s.sent, 11);
        assert_eq!(s.answered, 4);
        assert_eq!(s.lost, 6); // the leading ARP-wait probe is not counted
        let o = s.longest.unwrap();
        assert_eq!((o.start_us, o.end_us, o.lost), (3000, Some(8000), 5));
        assert_eq!(
            (o.before.as_deref(), o.after.as_deref()),
            (Some("n1"), Some("n2"))
        );
        assert_eq!(o.duration_us(s.last_sent_us), 5000);
        assert_eq!(
            s.responders,
            vec![(1000, "n1".to_string()), (8000, "n2".to_string())]
        );
    }

    #[test]
    fn unrecovered_outage_runs_to_the_end() {
        let r = vec![rec(0, Some("n1")), rec(1, None), rec(2, None)];
        let s = probe_stats(&r);
        let o = s.longest.unwrap();
        assert_eq!(o.end_us, None);
        assert_eq!(o.duration_us(s.last_sent_us), 1000);
        assert!(probe_stats(&[rec(0, None)]).longest.is_none());
    }

    fn adv(t: u64, node: &str, prio: u8) -> Advert {
        Advert {
            t_us: t,
            src: "192.0.2.11".parse().unwrap(),
            dst: "224.0.0.18".parse().unwrap(),
            src_mac: [0; 6],
            ttl: 255,
            version: 2,
            vrid: 10,
            priority: prio,
            advert_int: 1,
            addresses: vec![],
            node: Some(node.to_string()),
        }
    }

    #[test]
    fn flapping_is_summarised() {
        let ev: Vec<_> = (0..30)
            .map(|i| (i, format!("n{}", i % 2 + 1), "MASTER".to_string()))
            .collect();
        let c = compress_events(ev, 10);
        assert_eq!(c.len(), 11);
        assert_eq!(c[10].0, 29);
        assert!(c[10].2.starts_with("20 further"));
        let a = vec![adv(1, "n1", 120), adv(2, "n1", 120)];
        assert_eq!(
            advert_summary(&a),
            "192.0.2.11 (n1) vrid 10 prio 120: 2 adverts"
        );
    }

    #[test]
    fn detection_gap_and_events() {
        let a = vec![
            adv(1_000_000, "n1", 120),
            adv(2_000_000, "n1", 120),
            adv(2_500_000, "n1", 0),
            adv(3_100_000, "n2", 110),
            adv(4_100_000, "n2", 110),
        ];
        let d = detection(&a, 10, "n1", 2_400_000).unwrap();
        assert_eq!(d.new_master, "n2");
        assert_eq!(d.gap_from_fault_us, 700_000);
        assert_eq!(d.old_last_advert_us, Some(2_000_000));
        assert_eq!(d.gap_from_last_advert_us, Some(1_100_000));
        assert!(detection(&a, 11, "n1", 0).is_none());
        let ev = master_events(&a, 10);
        let names: Vec<_> = ev.iter().map(|e| (e.1.as_str(), e.2.as_str())).collect();
        assert_eq!(
            names,
            vec![
                ("n1", "MASTER (priority 120)"),
                ("n1", "resigns (priority 0)"),
                ("n2", "MASTER (priority 110)")
            ]
        );
    }
}
