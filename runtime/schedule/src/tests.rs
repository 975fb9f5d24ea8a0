use super::*;

fn ts(s: &str) -> Timestamp {
    s.parse().unwrap()
}

fn next(expr: &str, after: &str, tz: &str) -> Option<String> {
    let s = Schedule::parse(expr).unwrap();
    let a = ts(after);
    s.next_after(a, a, &zone(tz).unwrap())
        .map(|t| t.to_string())
}

#[test]
fn minutes_hours_and_steps() {
    assert_eq!(
        next("cron(0/15 * * * ? *)", "2026-12-02T10:07:00Z", "UTC").unwrap(),
        "2026-12-02T10:15:00Z"
    );
    assert_eq!(
        next("cron(0/15 * * * ? *)", "2026-12-02T10:15:00Z", "UTC").unwrap(),
        "2026-12-02T10:30:00Z",
        "strictly after"
    );
    assert_eq!(
        next("cron(5,35 8-10/2 * * ? *)", "2026-12-02T08:40:00Z", "UTC").unwrap(),
        "2026-12-02T10:05:00Z"
    );
    assert_eq!(
        next("cron(0 0 1 JAN,jul ? *)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2027-01-01T00:00:00Z"
    );
}

#[test]
fn days_of_the_week_in_a_time_zone() {
    // Friday 20:00 UTC; the next weekday 09:00 in Paris is Monday 08:00 UTC.
    assert_eq!(
        next(
            "cron(0 9 ? * MON-FRI *)",
            "2026-12-04T20:00:00Z",
            "Europe/Paris"
        )
        .unwrap(),
        "2026-12-07T08:00:00Z"
    );
    // 1 is Sunday.
    assert_eq!(
        next("cron(0 12 ? * 1 *)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2026-12-06T12:00:00Z"
    );
    // The third Friday, the last Monday, and `L` (Saturday) of December 2026.
    assert_eq!(
        next("cron(0 12 ? * 6#3 *)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2026-12-18T12:00:00Z"
    );
    assert_eq!(
        next("cron(0 12 ? * 2L *)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2026-12-28T12:00:00Z"
    );
    assert_eq!(
        next("cron(0 12 ? * L *)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2026-12-05T12:00:00Z"
    );
}

#[test]
fn last_and_nearest_weekdays_of_the_month() {
    assert_eq!(
        next("cron(0 0 L * ? *)", "2028-02-10T00:00:00Z", "UTC").unwrap(),
        "2028-02-29T00:00:00Z"
    );
    // 15 November 2026 is a Sunday: the Monday after. 1 August 2026 is a Saturday: the
    // Monday after, never July.
    assert_eq!(
        next("cron(0 0 15W * ? *)", "2026-11-01T00:00:00Z", "UTC").unwrap(),
        "2026-11-16T00:00:00Z"
    );
    assert_eq!(
        next("cron(0 0 1W * ? *)", "2026-07-15T00:00:00Z", "UTC").unwrap(),
        "2026-08-03T00:00:00Z"
    );
    // 31 January 2027 is a Sunday: its last weekday is Friday the 29th.
    assert_eq!(
        next("cron(0 0 LW * ? *)", "2027-01-02T00:00:00Z", "UTC").unwrap(),
        "2027-01-29T00:00:00Z"
    );
}

#[test]
fn daylight_saving_time_moves_no_run_twice_and_skips_none() {
    // 02:30 does not exist in New York on 14 March 2027: the run is at 03:30 EDT.
    assert_eq!(
        next(
            "cron(30 2 * * ? *)",
            "2027-03-13T08:00:00Z",
            "America/New_York"
        )
        .unwrap(),
        "2027-03-14T07:30:00Z"
    );
    assert_eq!(
        next(
            "cron(30 2 * * ? *)",
            "2027-03-14T07:30:00Z",
            "America/New_York"
        )
        .unwrap(),
        "2027-03-15T06:30:00Z"
    );
    // 01:30 happens twice on 7 November 2027: one run, at the first.
    let first = next(
        "cron(30 1 * * ? *)",
        "2027-11-07T00:00:00Z",
        "America/New_York",
    )
    .unwrap();
    assert_eq!(first, "2027-11-07T05:30:00Z");
    assert_eq!(
        next("cron(30 1 * * ? *)", &first, "America/New_York").unwrap(),
        "2027-11-08T06:30:00Z"
    );
}

#[test]
fn expressions_that_never_run_again_say_so() {
    assert_eq!(
        next("cron(0 0 1 1 ? 2020-2025)", "2026-12-02T00:00:00Z", "UTC"),
        None
    );
    assert_eq!(
        next("cron(0 0 30 2 ? *)", "2026-12-02T00:00:00Z", "UTC"),
        None
    );
    assert_eq!(
        next("cron(0 0 1 1 ? 2030)", "2026-12-02T00:00:00Z", "UTC").unwrap(),
        "2030-01-01T00:00:00Z"
    );
}

#[test]
fn rates_count_from_the_start() {
    let s = Schedule::parse("rate(12 hours)").unwrap();
    let start = ts("2026-12-01T06:00:00Z");
    let utc = zone("UTC").unwrap();
    assert_eq!(
        s.next_after(ts("2026-12-01T19:00:00Z"), start, &utc)
            .unwrap(),
        ts("2026-12-02T06:00:00Z")
    );
    assert_eq!(
        s.next_after(ts("2026-12-01T18:00:00Z"), start, &utc)
            .unwrap(),
        ts("2026-12-02T06:00:00Z")
    );
    assert_eq!(
        s.next_after(ts("2026-11-01T00:00:00Z"), start, &utc)
            .unwrap(),
        start
    );
    assert_eq!(
        Schedule::parse("rate(1 minute)").unwrap(),
        Schedule::Rate { seconds: 60 }
    );
    assert_eq!(
        Schedule::parse("rate(3 days)").unwrap(),
        Schedule::Rate {
            seconds: 3 * 86_400
        }
    );
}

#[test]
fn bad_expressions_name_the_field_and_the_rule() {
    let err = |e: &str| Schedule::parse(e).unwrap_err().to_string();
    assert!(
        err("rate(1 hours)").contains("say `rate(1 hour)`"),
        "{}",
        err("rate(1 hours)")
    );
    assert!(err("rate(2 hour)").contains("say `rate(2 hours)`"));
    assert!(err("rate(0 days)").contains("`0` is not a positive whole number"));
    assert!(err("rate(5 weeks)").contains("`weeks` is not a unit"));
    assert!(err("cron(0 0 * * *)").contains("6 fields"));
    assert!(err("cron(0 0 ? * ? *)").contains("cannot both be `?`"));
    assert!(err("cron(0 0 * * MON *)").contains("must be `?`"));
    assert!(err("cron(60 0 * * ? *)").contains("minutes `60`: `60` is not a value from 0 to 59"));
    assert!(
        err("cron(0 0 * FOO ? *)").contains("month `FOO`"),
        "{}",
        err("cron(0 0 * FOO ? *)")
    );
    assert!(err("cron(0 0 ? * FRI-MON *)").contains("runs backwards"));
    assert!(err("cron(0 0 ? * 2#6 *)").contains("after `#`"));
    assert!(err("cron(0 0 * * ? 2200)").contains("year `2200`"));
    assert!(err("cron(*/0 0 * * ? *)").contains("is not a step"));
    assert!(err("every day").contains("a schedule is"));
    assert!(
        zone("Mars/Olympus")
            .unwrap_err()
            .to_string()
            .contains("not a time zone")
    );
}
