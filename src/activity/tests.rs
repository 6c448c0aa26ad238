//! The window rule: idle only when every minute of it is read and below both
//! thresholds; anything the bot cannot read is unknown, never idle.

use super::*;
use crate::domain::Lasting;

fn rule(minutes: u32) -> IdleRule {
    IdleRule {
        after: Lasting::from_minutes(minutes).unwrap(),
        cpu_percent: 5.0,
        gpu_percent: 5.0,
    }
}

fn at(minutes_ago: i64, now: DateTime<Utc>) -> DateTime<Utc> {
    now - Duration::minutes(minutes_ago)
}

/// Per-minute points from `lag` minutes ago back `count` minutes, `value` each.
fn points(now: DateTime<Utc>, lag: i64, count: i64, value: f64) -> Points {
    (0..count).map(|m| (at(lag + m, now), value)).collect()
}

fn now() -> DateTime<Utc> {
    "2026-12-07T10:00:00Z".parse().unwrap()
}

#[test]
fn an_hour_below_both_thresholds_is_idle_for_the_window() {
    let cpu = points(now(), 3, 70, 0.02);
    let gpu = GpuSeries::Points(points(now(), 3, 70, 0.0));
    let got = judge(Some(&cpu), &gpu, &rule(60), None, now());
    let Activity::Idle {
        minutes,
        figures,
        since,
    } = got
    else {
        panic!("{got:?}")
    };
    assert_eq!(minutes, 60);
    assert_eq!(since, at(63, now()));
    assert_eq!(figures.to_string(), "CPU 2 %, GPU 0 %");
    assert!(got_idle(&cpu, &gpu, 60));
}

fn got_idle(cpu: &Points, gpu: &GpuSeries, minutes: u32) -> bool {
    judge(Some(cpu), gpu, &rule(minutes), None, now()).idle_for(&rule(minutes))
}

#[test]
fn a_busy_cpu_or_gpu_minute_is_busy() {
    let cpu = points(now(), 2, 70, 0.40);
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(60), None, now());
    assert_eq!(
        got.clone(),
        Activity::Busy(Figures {
            cpu: Tenths(400),
            gpu: Gpu::None
        })
    );
    let quiet = points(now(), 2, 70, 0.01);
    let gpu = GpuSeries::Points(points(now(), 2, 70, 93.0));
    let got = judge(Some(&quiet), &gpu, &rule(60), None, now());
    assert!(
        matches!(
            got,
            Activity::Busy(Figures {
                gpu: Gpu::Percent(Tenths(930)),
                ..
            })
        ),
        "{got:?}"
    );
}

#[test]
fn a_busy_minute_inside_the_window_cuts_the_idle_run_short() {
    let mut cpu = points(now(), 2, 70, 0.01);
    cpu[20].1 = 0.5;
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(60), None, now());
    assert!(matches!(got, Activity::Idle { minutes: 20, .. }), "{got:?}");
    assert!(!got.idle_for(&rule(60)));
}

#[test]
fn no_cpu_points_a_stale_newest_point_or_a_gap_is_unknown() {
    assert_eq!(
        judge(None, &GpuSeries::NoGpu, &rule(60), None, now()),
        Activity::Unknown(Unknown::NoCpu)
    );
    assert_eq!(
        judge(Some(&Vec::new()), &GpuSeries::NoGpu, &rule(60), None, now()),
        Activity::Unknown(Unknown::NoCpu)
    );
    let stale = points(now(), 12, 70, 0.01);
    assert_eq!(
        judge(Some(&stale), &GpuSeries::NoGpu, &rule(60), None, now()),
        Activity::Unknown(Unknown::Stale(12))
    );
    let mut gappy = points(now(), 2, 70, 0.01);
    gappy.remove(30);
    gappy.remove(30);
    assert_eq!(
        judge(Some(&gappy), &GpuSeries::NoGpu, &rule(60), None, now()),
        Activity::Unknown(Unknown::Gap {
            series: "CPU".into(),
            missing: 2
        })
    );
    let cpu = points(now(), 2, 70, 0.01);
    let mut gpu = points(now(), 2, 70, 0.0);
    gpu.remove(10);
    let got = judge(Some(&cpu), &GpuSeries::Points(gpu), &rule(60), None, now());
    assert_eq!(
        got,
        Activity::Unknown(Unknown::Gap {
            series: "GPU".into(),
            missing: 1
        })
    );
}

#[test]
fn a_gpu_nobody_reports_is_decided_on_cpu_and_said() {
    let cpu = points(now(), 2, 70, 0.01);
    let got = judge(Some(&cpu), &GpuSeries::Missing, &rule(60), None, now());
    assert!(got.idle_for(&rule(60)));
    let Activity::Idle { figures, .. } = got else {
        unreachable!()
    };
    assert_eq!(figures.gpu, Gpu::NotReported);
    assert!(figures.to_string().contains("GPU not reported"));
}

#[test]
fn minutes_before_the_instance_started_are_not_a_gap_nor_idle_time() {
    let cpu = points(now(), 2, 20, 0.01);
    let started = at(22, now());
    let got = judge(
        Some(&cpu),
        &GpuSeries::NoGpu,
        &rule(60),
        Some(started),
        now(),
    );
    assert!(matches!(got, Activity::Idle { minutes: 20, .. }), "{got:?}");
    assert!(!got.idle_for(&rule(60)));
}

#[test]
fn thresholds_are_strict_and_percent_figures_read_to_a_tenth() {
    let cpu = points(now(), 1, 10, 0.05);
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(5), None, now());
    assert!(
        matches!(got, Activity::Busy(_)),
        "5 % is not below 5 %: {got:?}"
    );
    assert_eq!(Tenths::of(4.63).to_string(), "4.6 %");
    assert_eq!(Tenths::of(93.0).to_string(), "93 %");
}

#[test]
fn a_reading_survives_the_store_round_trip() {
    let r = Reading {
        at: now(),
        activity: Activity::Unknown(Unknown::Gap {
            series: "GPU".into(),
            missing: 3,
        }),
    };
    let back: Reading = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
    assert_eq!(back, r);
}

#[test]
fn a_gpu_figure_newer_than_the_newest_cpu_one_counts_as_now() {
    let cpu = points(now(), 4, 70, 0.01);
    let mut gpu = points(now(), 4, 70, 0.0);
    gpu.push((at(1, now()), 95.0));
    let got = judge(Some(&cpu), &GpuSeries::Points(gpu), &rule(60), None, now());
    assert!(
        matches!(
            got,
            Activity::Busy(Figures {
                gpu: Gpu::Percent(Tenths(950)),
                ..
            })
        ),
        "{got:?}"
    );
}

#[test]
fn minutes_before_a_series_first_figure_end_the_run_rather_than_count_as_a_gap() {
    // A VM that booted 20 minutes ago, its start not known to the bot.
    let cpu = points(now(), 2, 20, 0.01);
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(60), None, now());
    assert!(matches!(got, Activity::Idle { minutes: 20, .. }), "{got:?}");
    // An agent that has sent no GPU figure yet says nothing of the GPU.
    let got = judge(
        Some(&cpu),
        &GpuSeries::Points(Vec::new()),
        &rule(60),
        None,
        now(),
    );
    assert!(
        matches!(got, Activity::Unknown(Unknown::Gap { .. })),
        "{got:?}"
    );
}

#[test]
fn a_newest_figure_just_over_five_minutes_old_is_stale() {
    let cpu: Points = (0..70)
        .map(|m| {
            (
                now() - Duration::seconds(5 * 60 + 59) - Duration::minutes(m),
                0.01,
            )
        })
        .collect();
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(60), None, now());
    assert_eq!(got, Activity::Unknown(Unknown::Stale(6)));
}

#[test]
fn a_gap_counts_the_minutes_missing_up_to_the_oldest_figure() {
    let mut cpu = points(now(), 2, 4, 0.01);
    cpu.push((at(2 + 33, now()), 0.01));
    let got = judge(Some(&cpu), &GpuSeries::NoGpu, &rule(30), None, now());
    assert_eq!(
        got,
        Activity::Unknown(Unknown::Gap {
            series: "CPU".into(),
            missing: 26
        })
    );
}
