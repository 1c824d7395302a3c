#![allow(clippy::unwrap_used)]
//! The VRRP state machine on a simulated clock, to the microsecond.
//!
//! Expected times are computed by hand from RFC 3768 §6.1 / RFC 5798 §6.1
//! with keepalived's microsecond truncation, e.g. v2 priority 100:
//! Skew_Time = 156 / 256 s = 609 375 µs, Master_Down_Interval = 3 s +
//! 609 375 µs.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use vrrpd::fsm::{Action, Instance, InstanceConfig, Reason, ReceivedAdvert, State, Timer, Version};

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(192, 0, 2, last))
}

fn us(n: u64) -> Duration {
    Duration::from_micros(n)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn cfg(priority: u8, version: Version, interval: Duration) -> InstanceConfig {
    InstanceConfig {
        name: "VI_1".into(),
        vrid: 51,
        version,
        priority,
        advert_interval: interval,
        preempt: true,
        preempt_delay: Duration::ZERO,
        start_as_master: false,
        primary_addr: ip(10),
        release_hold: ms(500),
        garp_master_delay: None,
        garp_master_refresh: None,
    }
}

fn drain(i: &mut Instance) -> Vec<Action> {
    std::iter::from_fn(|| i.poll_action()).collect()
}

/// Fires timers up to and including `end`; returns (time, action) pairs.
fn run_until(i: &mut Instance, end: Instant) -> Vec<(Instant, Action)> {
    let mut out = Vec::new();
    while let Some(d) = i.next_deadline() {
        if d > end {
            break;
        }
        i.handle_timeout(d);
        out.extend(drain(i).into_iter().map(|a| (d, a)));
    }
    out
}

fn advert(src: IpAddr, priority: u8, interval: Duration) -> ReceivedAdvert {
    ReceivedAdvert {
        src,
        priority,
        max_adver_int: interval,
    }
}

fn became_master(from: State, reason: Reason, priority: u8) -> Vec<Action> {
    vec![
        Action::SendAdvert { priority },
        Action::AddVips,
        Action::Announce,
        Action::StateChanged {
            from,
            to: State::Master,
            reason,
        },
    ]
}

/// A master at `t0`: an owner-free instance forced through its down timer.
fn master_at(c: InstanceConfig) -> (Instance, Instant) {
    let mut i = Instance::new(c);
    let t = Instant::now();
    i.handle_startup(t);
    let d = i.next_deadline().unwrap();
    i.handle_timeout(d);
    assert_eq!(i.state(), State::Master);
    drain(&mut i);
    (i, d)
}

#[test]
fn v2_backup_takes_over_after_master_down_interval() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.next_deadline(), None);
    i.handle_startup(t0);
    assert_eq!(
        drain(&mut i),
        vec![Action::StateChanged {
            from: State::Initialize,
            to: State::Backup,
            reason: Reason::Startup
        }]
    );
    // 3 × 1 s + (256 − 100) / 256 s = 3.609375 s.
    let down = t0 + us(3_609_375);
    assert_eq!(i.next_deadline(), Some(down));
    // One microsecond early: nothing happens.
    i.handle_timeout(down - us(1));
    assert_eq!(i.state(), State::Backup);
    assert!(drain(&mut i).is_empty());
    let acts = run_until(&mut i, down);
    assert_eq!(
        acts.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        became_master(State::Backup, Reason::MasterDownTimer, 100)
    );
    assert!(acts.iter().all(|(t, _)| *t == down));
    // Then one advert per second, on the dot, and one follow-up
    // announcement 100 ms after becoming master (a racing loser's
    // gratuitous ARP may have reached clients after ours).
    let acts = run_until(&mut i, down + ms(3000));
    assert_eq!(
        acts,
        vec![
            (down + ms(100), Action::Announce),
            (down + ms(1000), Action::SendAdvert { priority: 100 }),
            (down + ms(2000), Action::SendAdvert { priority: 100 }),
            (down + ms(3000), Action::SendAdvert { priority: 100 }),
        ]
    );
    assert_eq!(i.stats().became_master, 1);
    assert_eq!(i.stats().transitions, 2);
    assert_eq!(i.stats().adverts_out, 4);
}

#[test]
fn v2_skew_ignores_the_interval() {
    // RFC 3768 §6.1: Skew_Time = (256 − Priority) / 256 seconds, whatever
    // the interval. Priority 1, 3 s: 9 s + 255 / 256 s = 9.99609375 s,
    // truncated to 9.996093 s.
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(1, Version::V2, ms(3000)));
    i.handle_startup(t0);
    assert_eq!(i.next_deadline(), Some(t0 + us(9_996_093)));
}

#[test]
fn v3_ten_millisecond_backup() {
    // 3 × 10 ms + 156 × 10 ms / 256 = 30 ms + 6 093.75 µs → 36 093 µs.
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V3, ms(10)));
    i.handle_startup(t0);
    drain(&mut i);
    let down = t0 + us(36_093);
    assert_eq!(i.next_deadline(), Some(down));
    let acts = run_until(&mut i, down + ms(20));
    assert_eq!(
        acts.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        [
            became_master(State::Backup, Reason::MasterDownTimer, 100),
            vec![
                Action::SendAdvert { priority: 100 },
                // Follow-up announcement one interval after becoming master.
                Action::Announce,
                Action::SendAdvert { priority: 100 },
            ]
        ]
        .concat()
    );
    assert_eq!(acts.last().unwrap().0, down + ms(20));
    assert_eq!(i.advert_interval_cs(), 1);
}

#[test]
fn v3_backup_learns_the_master_interval() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V3, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    assert_eq!(i.master_adver_interval(), ms(1000));
    let t = t0 + ms(100);
    i.handle_advert(t, &advert(ip(20), 200, ms(50)));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.master_adver_interval(), ms(50));
    assert_eq!(i.master_addr(), Some(ip(20)));
    // 3 × 50 ms + 156 × 50 ms / 256 = 150 ms + 30 468.75 µs → 180 468 µs.
    assert_eq!(i.next_deadline(), Some(t + us(180_468)));
    // Becoming master, it advertises its own interval again.
    run_until(&mut i, t + ms(200));
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.master_adver_interval(), ms(1000));
    assert_eq!(i.timer(Timer::Advert), Some(t + us(180_468) + ms(1000)));
}

#[test]
fn v2_backup_does_not_learn() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    i.handle_advert(t0, &advert(ip(20), 200, ms(2000)));
    assert_eq!(i.master_adver_interval(), ms(1000));
    assert_eq!(i.next_deadline(), Some(t0 + us(3_609_375)));
}

#[test]
fn backup_resets_its_timer_on_equal_or_higher_priority() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    for k in 1..=10u64 {
        // Equal priority counts as "greater than or equal" (RFC 5798
        // §6.4.2): a backup never preempts an equal master.
        let prio = if k % 2 == 0 { 100 } else { 150 };
        i.handle_advert(t0 + ms(1000 * k), &advert(ip(20), prio, ms(1000)));
        assert!(run_until(&mut i, t0 + ms(1000 * k)).is_empty());
    }
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.next_deadline(), Some(t0 + ms(10_000) + us(3_609_375)));
}

#[test]
fn preempting_backup_discards_lower_priority_and_takes_over() {
    // Priority 200: Skew_Time = 56 / 256 s = 218 750 µs.
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(200, Version::V2, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    for k in 1..=3u64 {
        i.handle_advert(t0 + ms(1000 * k), &advert(ip(20), 100, ms(1000)));
    }
    assert_eq!(i.stats().lower_priority_discarded, 3);
    let down = t0 + us(3_218_750);
    assert_eq!(i.next_deadline(), Some(down));
    let acts = run_until(&mut i, down);
    assert_eq!(
        acts.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        became_master(
            State::Backup,
            Reason::PreemptLowerPriority { priority: 100 },
            200
        )
    );
}

#[test]
fn nopreempt_backup_follows_a_lower_priority_master() {
    let t0 = Instant::now();
    let mut c = cfg(200, Version::V2, ms(1000));
    c.preempt = false;
    let mut i = Instance::new(c);
    i.handle_startup(t0);
    drain(&mut i);
    for k in 1..=20u64 {
        let t = t0 + ms(1000 * k);
        assert!(run_until(&mut i, t).is_empty());
        i.handle_advert(t, &advert(ip(20), 100, ms(1000)));
    }
    assert_eq!(i.state(), State::Backup);
    // The lower master goes silent: takeover one Master_Down_Interval later.
    let acts = run_until(&mut i, t0 + ms(30_000));
    assert_eq!(acts[0].0, t0 + ms(20_000) + us(3_218_750));
    assert_eq!(
        acts[3].1,
        Action::StateChanged {
            from: State::Backup,
            to: State::Master,
            reason: Reason::MasterDownTimer
        }
    );
}

#[test]
fn preempt_delay_holds_off_preemption() {
    // keepalived: the first lower advert (t0 + 1 s) starts a 10 s clock;
    // until t0 + 11 s lower adverts still reset the timer; from t0 + 11 s
    // on they are discarded, so the last reset is at t0 + 10 s and the
    // takeover at t0 + 10 s + 3.21875 s.
    let t0 = Instant::now();
    let mut c = cfg(200, Version::V2, ms(1000));
    c.preempt_delay = ms(10_000);
    let mut i = Instance::new(c);
    i.handle_startup(t0);
    drain(&mut i);
    let mut took_over = None;
    for k in 1..=20u64 {
        let t = t0 + ms(1000 * k);
        for (at, a) in run_until(&mut i, t) {
            if matches!(
                a,
                Action::StateChanged {
                    to: State::Master,
                    ..
                }
            ) {
                took_over = Some((at, a));
            }
        }
        if i.state() == State::Master {
            break;
        }
        i.handle_advert(t, &advert(ip(20), 100, ms(1000)));
    }
    assert_eq!(
        took_over,
        Some((
            t0 + ms(10_000) + us(3_218_750),
            Action::StateChanged {
                from: State::Backup,
                to: State::Master,
                reason: Reason::PreemptLowerPriority { priority: 100 }
            }
        ))
    );
    assert_eq!(i.stats().lower_priority_discarded, 3); // at 11, 12, 13 s
}

#[test]
fn preempt_delay_is_cancelled_by_a_higher_priority_advert() {
    let t0 = Instant::now();
    let mut c = cfg(200, Version::V2, ms(1000));
    c.preempt_delay = ms(3000);
    let mut i = Instance::new(c);
    i.handle_startup(t0);
    i.handle_advert(t0 + ms(1000), &advert(ip(20), 100, ms(1000))); // clock: 4 s
    i.handle_advert(t0 + ms(2000), &advert(ip(21), 250, ms(1000))); // cancels it
    i.handle_advert(t0 + ms(3000), &advert(ip(20), 100, ms(1000))); // restarts: 6 s
    i.handle_advert(t0 + ms(5000), &advert(ip(20), 100, ms(1000))); // still delaying
    assert_eq!(i.stats().lower_priority_discarded, 0);
    i.handle_advert(t0 + ms(6000), &advert(ip(20), 100, ms(1000))); // discarded
    assert_eq!(i.stats().lower_priority_discarded, 1);
    assert_eq!(i.next_deadline(), Some(t0 + ms(5000) + us(3_218_750)));
}

#[test]
fn master_yields_to_higher_priority_and_learns_v3_interval() {
    let (mut i, t) = master_at(cfg(100, Version::V3, ms(1000)));
    let t1 = t + ms(300);
    i.handle_advert(t1, &advert(ip(20), 150, ms(200)));
    assert_eq!(
        drain(&mut i),
        vec![
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason: Reason::HigherPriorityAdvert {
                    priority: 150,
                    src: ip(20)
                }
            }
        ]
    );
    assert_eq!(i.master_adver_interval(), ms(200));
    // 3 × 200 ms + 156 × 200 ms / 256 = 600 ms + 121 875 µs.
    assert_eq!(i.next_deadline(), Some(t1 + us(721_875)));
    assert_eq!(i.timer(Timer::Advert), None);
}

#[test]
fn equal_priority_tie_break_by_primary_address() {
    // RFC 5798 §6.4.3: the higher primary address wins. We are .10.
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.handle_advert(t + ms(10), &advert(ip(9), 100, ms(1000)));
    assert_eq!(
        drain(&mut i),
        vec![Action::SendAdvert { priority: 100 }, Action::Announce]
    );
    assert_eq!(i.state(), State::Master);
    i.handle_advert(t + ms(20), &advert(ip(11), 100, ms(1000)));
    assert_eq!(
        drain(&mut i),
        vec![
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason: Reason::TieBreakLost { src: ip(11) }
            }
        ]
    );
    // An advert claiming our own address is ignored.
    let (mut j, t) = master_at(cfg(100, Version::V2, ms(1000)));
    j.handle_advert(t, &advert(ip(10), 100, ms(1000)));
    assert!(drain(&mut j).is_empty());
    assert_eq!(j.state(), State::Master);
}

#[test]
fn master_answers_lower_priority_at_once_without_resetting_its_timer() {
    let (mut i, t) = master_at(cfg(150, Version::V2, ms(1000)));
    let next = i.timer(Timer::Advert).unwrap();
    i.handle_advert(t + ms(400), &advert(ip(20), 100, ms(1000)));
    // The other router believed it was master: clients may have followed
    // its GARP, so we re-announce as well as answer.
    assert_eq!(
        drain(&mut i),
        vec![Action::SendAdvert { priority: 150 }, Action::Announce]
    );
    assert_eq!(i.timer(Timer::Advert), Some(next));
    assert_eq!(i.stats().lower_priority_answered, 1);
    // The loser's own GARP may follow ours: a second announcement comes
    // min(advert interval, 100 ms) later.
    assert_eq!(i.timer(Timer::Reannounce), Some(t + ms(500)));
    i.handle_timeout(t + ms(500));
    assert_eq!(drain(&mut i), vec![Action::Announce]);
    assert_eq!(i.timer(Timer::Reannounce), None);
    // Within one Master_Down_Interval (3 s + 414.0625 ms at priority 150) it
    // answers again but does not re-announce; after it, it does.
    i.handle_advert(t + ms(1400), &advert(ip(20), 100, ms(1000)));
    assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 150 }]);
    i.handle_advert(t + ms(3815), &advert(ip(20), 100, ms(1000)));
    assert_eq!(
        drain(&mut i),
        vec![Action::SendAdvert { priority: 150 }, Action::Announce]
    );
}

#[test]
fn address_owner_is_master_at_startup() {
    let t0 = Instant::now();
    let mut c = cfg(255, Version::V3, ms(100));
    c.preempt = false; // keepalived clears nopreempt for an owner
    let mut i = Instance::new(c);
    assert!(i.config().preempt);
    i.handle_startup(t0);
    assert_eq!(
        drain(&mut i),
        became_master(State::Initialize, Reason::AddressOwner, 255)
    );
    assert_eq!(i.next_deadline(), Some(t0 + ms(100)));
    // The owner's priority never changes.
    i.set_effective_priority(t0, 10);
    assert_eq!(i.effective_priority(), 255);
}

#[test]
fn two_owners_the_lower_address_yields_at_254() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255, Version::V2, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    i.handle_advert(t0 + ms(5), &advert(ip(20), 255, ms(1000)));
    assert_eq!(i.effective_priority(), 254);
    assert_eq!(i.state(), State::Backup);
}

#[test]
fn priority_zero_backup_side_sets_skew() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    let t = t0 + ms(1500);
    i.handle_advert(t, &advert(ip(20), 0, ms(1000)));
    assert_eq!(i.next_deadline(), Some(t + us(609_375)));
    let acts = run_until(&mut i, t + us(609_375));
    assert_eq!(
        acts.iter().map(|(_, a)| *a).collect::<Vec<_>>(),
        became_master(State::Backup, Reason::PriorityZeroReceived, 100)
    );
    assert_eq!(i.stats().priority_zero_in, 1);
}

#[test]
fn priority_zero_master_side_sends_and_resets_the_timer() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    let t1 = t + ms(250);
    i.handle_advert(t1, &advert(ip(20), 0, ms(1000)));
    assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 100 }]);
    assert_eq!(i.timer(Timer::Advert), Some(t1 + ms(1000)));
    assert_eq!(i.state(), State::Master);
}

#[test]
fn shutdown_is_make_before_break() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    let t1 = t + ms(100);
    i.handle_shutdown(t1);
    // Priority 0 goes out, the addresses stay.
    assert_eq!(drain(&mut i), vec![Action::SendAdvert { priority: 0 }]);
    assert!(i.is_releasing());
    assert_eq!(i.state(), State::Master);
    // No successor yet after one interval: priority 0 again, never more.
    let acts = run_until(&mut i, t1 + ms(1000));
    assert_eq!(
        acts,
        vec![(t1 + ms(1000), Action::SendAdvert { priority: 0 })]
    );
    // Adverts of priority 0 (another router releasing) do not count.
    i.handle_advert(t1 + ms(1100), &advert(ip(30), 0, ms(1000)));
    assert!(drain(&mut i).is_empty());
    // The new master speaks: hold for release_hold (500 ms), then release.
    let heard = t1 + ms(1200);
    i.handle_advert(heard, &advert(ip(20), 90, ms(1000)));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.next_deadline(), Some(heard + ms(500)));
    let acts = run_until(&mut i, heard + ms(10_000));
    assert_eq!(
        acts,
        vec![
            (heard + ms(500), Action::RemoveVips),
            (
                heard + ms(500),
                Action::StateChanged {
                    from: State::Master,
                    to: State::Initialize,
                    reason: Reason::Shutdown
                }
            ),
            (heard + ms(500), Action::Stopped),
        ]
    );
    assert!(i.is_stopped());
    assert_eq!(i.next_deadline(), None);
    // Nothing more, whatever happens.
    i.handle_advert(heard + ms(600), &advert(ip(20), 90, ms(1000)));
    i.handle_shutdown(heard + ms(700));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.stats().priority_zero_out, 2);
}

#[test]
fn shutdown_releases_anyway_when_nobody_answers() {
    // Bound: 3 × 1 s + 255/256 s (a priority 1 backup) + 1 s = 4.996093 s.
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.handle_shutdown(t);
    drain(&mut i);
    let acts = run_until(&mut i, t + ms(60_000));
    let release = t + us(4_996_093);
    assert_eq!(
        acts,
        vec![
            (t + ms(1000), Action::SendAdvert { priority: 0 }),
            (t + ms(2000), Action::SendAdvert { priority: 0 }),
            (t + ms(3000), Action::SendAdvert { priority: 0 }),
            (t + ms(4000), Action::SendAdvert { priority: 0 }),
            (release, Action::RemoveVips),
            (
                release,
                Action::StateChanged {
                    from: State::Master,
                    to: State::Initialize,
                    reason: Reason::Shutdown
                }
            ),
            (release, Action::Stopped),
        ]
    );
}

#[test]
fn second_shutdown_while_releasing_releases_at_once() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.handle_shutdown(t);
    drain(&mut i);
    i.handle_shutdown(t + ms(10));
    assert_eq!(
        drain(&mut i),
        vec![
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
            Action::Stopped
        ]
    );
}

#[test]
fn backup_and_initialize_stop_at_once() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    i.handle_shutdown(t0 + ms(1));
    assert_eq!(
        drain(&mut i),
        vec![
            Action::StateChanged {
                from: State::Backup,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
            Action::Stopped
        ]
    );
    assert_eq!(i.next_deadline(), None);
    let mut j = Instance::new(cfg(100, Version::V2, ms(1000)));
    j.handle_shutdown(t0);
    assert_eq!(drain(&mut j), vec![Action::Stopped]);
}

#[test]
fn fault_on_master_sends_priority_zero_and_removes_vips() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.set_fault(t + ms(5), true);
    assert_eq!(
        drain(&mut i),
        vec![
            Action::SendAdvert { priority: 0 },
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Fault,
                reason: Reason::Fault
            }
        ]
    );
    assert_eq!(i.next_deadline(), None);
    // Adverts are ignored in FAULT.
    i.handle_advert(t + ms(6), &advert(ip(20), 0, ms(1000)));
    assert!(drain(&mut i).is_empty());
    let t2 = t + ms(2000);
    i.set_fault(t2, false);
    assert_eq!(
        drain(&mut i),
        vec![Action::StateChanged {
            from: State::Fault,
            to: State::Backup,
            reason: Reason::FaultCleared
        }]
    );
    assert_eq!(i.next_deadline(), Some(t2 + us(3_609_375)));
}

#[test]
fn fault_before_startup_starts_in_fault() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(255, Version::V2, ms(1000)));
    i.set_fault(t0, true);
    i.handle_startup(t0);
    assert_eq!(
        drain(&mut i),
        vec![Action::StateChanged {
            from: State::Initialize,
            to: State::Fault,
            reason: Reason::Fault
        }]
    );
    // An owner leaves FAULT straight into MASTER (keepalived try_up_instance).
    i.set_fault(t0 + ms(1), false);
    assert_eq!(
        drain(&mut i),
        became_master(State::Fault, Reason::FaultCleared, 255)
    );
}

#[test]
fn fault_during_release_finishes_it() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.handle_shutdown(t);
    drain(&mut i);
    i.set_fault(t + ms(1), true);
    assert_eq!(
        drain(&mut i),
        vec![
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Initialize,
                reason: Reason::Shutdown
            },
            Action::Stopped
        ]
    );
}

#[test]
fn start_as_master_non_owner_is_a_backup_with_the_full_timer() {
    // keepalived 2.x: `state MASTER` without priority 255 enters BACKUP
    // (init) with 3 × interval + skew, and clears nopreempt/preempt_delay.
    let t0 = Instant::now();
    let mut c = cfg(100, Version::V2, ms(1000));
    c.start_as_master = true;
    c.preempt = false;
    c.preempt_delay = ms(5000);
    let mut i = Instance::new(c);
    assert!(i.config().preempt);
    assert_eq!(i.config().preempt_delay, Duration::ZERO);
    i.handle_startup(t0);
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.next_deadline(), Some(t0 + us(3_609_375)));
}

#[test]
fn priority_change_moves_the_down_timer_by_the_skew_difference() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    // 100 → 200: skew 609 375 µs → 218 750 µs.
    i.set_effective_priority(t0 + ms(10), 200);
    assert_eq!(i.effective_priority(), 200);
    assert_eq!(i.next_deadline(), Some(t0 + us(3_218_750)));
    // Clamped to 254: a tracker cannot make us an owner.
    i.set_effective_priority(t0 + ms(20), 255);
    assert_eq!(i.effective_priority(), 254);
    assert_eq!(i.next_deadline(), Some(t0 + us(3_000_000 + 7_812)));
}

#[test]
fn master_advertises_its_new_priority() {
    let (mut i, t) = master_at(cfg(100, Version::V2, ms(1000)));
    i.set_effective_priority(t, 80);
    assert!(drain(&mut i).is_empty());
    let acts = run_until(&mut i, t + ms(1000));
    assert_eq!(
        acts,
        vec![
            (t + ms(100), Action::Announce),
            (t + ms(1000), Action::SendAdvert { priority: 80 })
        ]
    );
}

#[test]
fn garp_delay_and_refresh() {
    let mut c = cfg(100, Version::V2, ms(1000));
    c.garp_master_delay = Some(ms(5000));
    c.garp_master_refresh = Some(ms(2500));
    let (mut i, t) = master_at(c);
    let announces: Vec<Instant> = run_until(&mut i, t + ms(7500))
        .into_iter()
        .filter(|(_, a)| *a == Action::Announce)
        .map(|(at, _)| at)
        .collect();
    assert_eq!(
        announces,
        vec![
            t + ms(100),
            t + ms(2500),
            t + ms(5000),
            t + ms(5000),
            t + ms(7500)
        ]
    );
    // Leaving master stops them.
    i.handle_advert(t + ms(7600), &advert(ip(20), 200, ms(1000)));
    assert_eq!(i.timer(Timer::GarpRefresh), None);
    assert_eq!(i.timer(Timer::GarpDelay), None);
}

#[test]
fn initialize_ignores_adverts_and_timeouts() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_advert(t0, &advert(ip(20), 0, ms(1000)));
    i.handle_timeout(t0 + ms(10_000));
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.state(), State::Initialize);
    assert_eq!(i.stats().adverts_in, 1);
}

#[test]
fn v2_interval_rounds_to_whole_seconds_and_v3_to_centiseconds() {
    let i = Instance::new(cfg(100, Version::V2, ms(1400)));
    assert_eq!(i.advert_interval_cs(), 100);
    let i = Instance::new(cfg(100, Version::V2, ms(0)));
    assert_eq!(i.advert_interval_cs(), 100);
    let i = Instance::new(cfg(100, Version::V3, ms(1234)));
    assert_eq!(i.advert_interval_cs(), 123);
    assert_eq!(i.advert_interval(), ms(1230));
    let i = Instance::new(cfg(100, Version::V3, ms(100_000)));
    assert_eq!(i.advert_interval_cs(), 4095);
}

#[test]
fn reason_display_for_the_log_line() {
    assert_eq!(
        Reason::HigherPriorityAdvert {
            priority: 150,
            src: ip(20)
        }
        .to_string(),
        "higher priority 150 advert from 192.0.2.20"
    );
    assert_eq!(State::Master.to_string(), "MASTER");
}

#[test]
fn reconfigure_keeps_a_master_master_with_the_new_priority_and_interval() {
    let (mut i, t) = master_at(cfg(150, Version::V3, ms(1000)));
    let t1 = t + ms(200);
    i.reconfigure(t1, cfg(120, Version::V3, ms(100)));
    // No state change, no address change: nothing to do now.
    assert!(drain(&mut i).is_empty());
    assert_eq!(i.state(), State::Master);
    assert_eq!(i.effective_priority(), 120);
    // The next advert comes at the new interval at the latest, with the new
    // priority and interval.
    assert_eq!(i.timer(Timer::Advert), Some(t1 + ms(100)));
    i.handle_timeout(t1 + ms(100));
    // (The follow-up announcement of becoming master was due too.)
    assert_eq!(
        drain(&mut i),
        vec![Action::Announce, Action::SendAdvert { priority: 120 }]
    );
    assert_eq!(i.advert_interval_cs(), 10);
}

#[test]
fn reconfigure_moves_a_backups_down_timer_with_its_priority() {
    let t0 = Instant::now();
    let mut i = Instance::new(cfg(100, Version::V2, ms(1000)));
    i.handle_startup(t0);
    drain(&mut i);
    // Priority 100 at 1 s: 3 s + 156/256 s.
    assert_eq!(i.next_deadline(), Some(t0 + us(3_609_375)));
    i.reconfigure(t0 + ms(10), cfg(200, Version::V2, ms(1000)));
    assert_eq!(i.state(), State::Backup);
    assert_eq!(i.effective_priority(), 200);
    // The skew shrinks to 56/256 s: the timer moves 390.625 ms earlier.
    assert_eq!(i.next_deadline(), Some(t0 + us(3_218_750)));
}

/// A sync group member's down timer asks the group instead of taking
/// MASTER; an advert cancels the wish; `sync_master` then moves it.
#[test]
fn sync_gated_backup_waits_for_its_group() {
    let c = cfg(100, Version::V3, ms(100));
    let mut i = Instance::new(c);
    let t0 = Instant::now();
    i.set_sync_gated(t0, true);
    i.handle_startup(t0);
    drain(&mut i);
    let down = i.next_deadline().unwrap();
    let acts = run_until(&mut i, down + ms(1000));
    assert_eq!(acts, vec![(down, Action::WantMaster)]);
    assert_eq!(i.state(), State::Backup);
    assert!(i.wants_master());
    // A master speaks: the wish is gone and the down timer runs again.
    let t1 = down + ms(1000);
    i.handle_advert(t1, &advert(ip(20), 150, ms(100)));
    assert!(!i.wants_master());
    assert!(i.next_deadline().is_some());
    // The group moves it.
    i.sync_master(t1);
    assert_eq!(
        drain(&mut i),
        became_master(State::Backup, Reason::SyncGroup, 100)
    );
    // A partner lost mastership: step down without priority 0.
    let t2 = t1 + ms(50);
    i.sync_backup(t2);
    assert_eq!(
        drain(&mut i),
        vec![
            Action::RemoveVips,
            Action::StateChanged {
                from: State::Master,
                to: State::Backup,
                reason: Reason::SyncGroup
            }
        ]
    );
}

/// Ungating a member that is waiting lets it take MASTER at once (its
/// group went away in a reload).
#[test]
fn ungating_a_waiting_member_makes_it_master() {
    let mut i = Instance::new(cfg(100, Version::V3, ms(100)));
    let t0 = Instant::now();
    i.set_sync_gated(t0, true);
    i.handle_startup(t0);
    drain(&mut i);
    let down = i.next_deadline().unwrap();
    run_until(&mut i, down);
    assert!(i.wants_master());
    i.set_sync_gated(down + ms(5), false);
    assert_eq!(i.state(), State::Master);
}

/// A master served late keeps its cadence: the next advert is due one
/// interval after the previous one was due, not after it was sent; one
/// more than an interval behind restarts from the late moment.
#[test]
fn late_advert_timer_keeps_the_cadence() {
    let (mut i, t0) = master_at(cfg(100, Version::V3, ms(100)));
    let due = i.next_deadline().unwrap();
    assert_eq!(due, t0 + ms(100));
    i.handle_timeout(due + ms(7));
    drain(&mut i);
    assert_eq!(i.timer(Timer::Advert), Some(due + ms(100)));
    let due = due + ms(100);
    i.handle_timeout(due + ms(250));
    drain(&mut i);
    assert_eq!(i.timer(Timer::Advert), Some(due + ms(350)));
}
