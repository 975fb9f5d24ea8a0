//! When an image pipeline runs: AWS's schedule expressions, as Image Builder and EventBridge
//! write them, and their next run in a time zone.
//!
//! - `cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)`: each field `*`, a value, a
//!   range `a-b`, a step `*/n` or `a/n` or `a-b/n`, or a list of those; months `1-12` or
//!   `JAN-DEC`, days of the week `1-7` or `SUN-SAT` (1 is Sunday). One of the two day fields
//!   must be `?` and the other not. Day of month also takes `L` (its last day), `NW` (the
//!   weekday nearest day N, within the month) and `LW` (its last weekday); day of week `L`
//!   (Saturday), `NL` (the month's last such day) and `N#K` (its K-th such day).
//! - `rate(N minute|minutes|hour|hours|day|days)`: every N units from the pipeline's start;
//!   the singular for 1, the plural for more, as AWS requires.
//!
//! ```
//! use davit_schedule::{Schedule, zone};
//! let s = Schedule::parse("cron(0 9 ? * MON-FRI *)").unwrap();
//! let after: jiff::Timestamp = "2026-12-04T20:00:00Z".parse().unwrap(); // a Friday
//! let next = s.next_after(after, after, &zone("Europe/Paris").unwrap()).unwrap();
//! assert_eq!(next.to_string(), "2026-12-07T08:00:00Z"); // Monday 09:00 in Paris
//! ```

use jiff::Timestamp;
use jiff::civil::{Date, DateTime, Weekday};
use jiff::tz::TimeZone;

/// The last year a cron expression can name (AWS's bound).
const LAST_YEAR: i16 = 2199;
const FIRST_YEAR: i16 = 1970;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{expression}`: {message}")]
pub struct ScheduleError {
    pub expression: String,
    pub message: String,
}

/// A parsed schedule expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Schedule {
    Cron(Cron),
    /// Every so many seconds from the pipeline's start.
    Rate {
        seconds: i64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cron {
    minutes: Vec<bool>,
    hours: Vec<bool>,
    days: Days,
    months: Vec<bool>,
    years: Vec<bool>,
}

/// The day fields: exactly one of them says something.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Days {
    OfMonth(Vec<MonthDay>),
    OfWeek(Vec<WeekDay>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MonthDay {
    Day(i8),
    Last,
    NearestWeekday(i8),
    LastWeekday,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum WeekDay {
    /// 1 (Sunday) to 7 (Saturday).
    Day(i8),
    /// The month's last such day.
    Last(i8),
    /// The month's K-th such day.
    Nth(i8, i8),
}

/// The time zone of a pipeline's schedule, by IANA name (`UTC`, `Europe/Paris`).
pub fn zone(name: &str) -> Result<TimeZone, ScheduleError> {
    TimeZone::get(name).map_err(|e| ScheduleError {
        expression: name.to_owned(),
        message: format!(
            "not a time zone this host knows (an IANA name such as Europe/Paris): {e}"
        ),
    })
}

impl Schedule {
    pub fn parse(text: &str) -> Result<Schedule, ScheduleError> {
        let fail = |message: String| ScheduleError {
            expression: text.to_owned(),
            message,
        };
        let t = text.trim();
        if let Some(body) = t.strip_prefix("cron(").and_then(|r| r.strip_suffix(')')) {
            return Cron::parse(body).map(Schedule::Cron).map_err(fail);
        }
        if let Some(body) = t.strip_prefix("rate(").and_then(|r| r.strip_suffix(')')) {
            return rate(body)
                .map(|seconds| Schedule::Rate { seconds })
                .map_err(fail);
        }
        Err(fail(
            "a schedule is `cron(MINUTES HOURS DAY-OF-MONTH MONTH DAY-OF-WEEK YEAR)` or `rate(N UNIT)`"
                .into(),
        ))
    }

    /// The first run strictly after `after`, in `zone`; a rate counts from `start`. `None`
    /// when a cron expression never runs again (its years are past, or it names a day that
    /// does not exist, such as 30 February).
    pub fn next_after(
        &self,
        after: Timestamp,
        start: Timestamp,
        zone: &TimeZone,
    ) -> Option<Timestamp> {
        match self {
            Schedule::Rate { seconds } => {
                let (a, s) = (after.as_second(), start.as_second());
                let next = if a < s {
                    s
                } else {
                    s + ((a - s) / seconds + 1) * seconds
                };
                Timestamp::from_second(next).ok()
            }
            Schedule::Cron(c) => c.next_after(after, zone),
        }
    }
}

/// The next run of `schedule` in the zone named `timezone` strictly after `after`, a rate
/// counting from `start` (all in seconds since the epoch): what a caller that keeps times as
/// numbers needs. `Ok(None)`: it never runs again.
///
/// # Errors
///
/// A schedule or time zone that does not parse.
pub fn next_run(
    schedule: &str,
    timezone: &str,
    after: i64,
    start: i64,
) -> Result<Option<i64>, ScheduleError> {
    let parsed = Schedule::parse(schedule)?;
    let zone = zone(timezone)?;
    let at = |s: i64| Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH);
    Ok(parsed
        .next_after(at(after), at(start), &zone)
        .map(|t| t.as_second()))
}

fn rate(body: &str) -> Result<i64, String> {
    let mut parts = body.split_whitespace();
    let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err("a rate is `rate(N UNIT)`, such as rate(12 hours)".into());
    };
    let n: i64 = match n.parse() {
        Ok(n) if (1..=1_000_000).contains(&n) => n,
        _ => return Err(format!("`{n}` is not a positive whole number")),
    };
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        other => {
            return Err(format!(
                "`{other}` is not a unit: minute(s), hour(s) or day(s)"
            ));
        }
    };
    let wanted = if n == 1 {
        singular.to_owned()
    } else {
        format!("{singular}s")
    };
    if unit != wanted {
        return Err(format!(
            "say `rate({n} {wanted})`: the singular for 1, the plural for more"
        ));
    }
    Ok(n * seconds)
}

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const WEEKDAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

impl Cron {
    fn parse(body: &str) -> Result<Cron, String> {
        let fields: Vec<&str> = body.split_whitespace().collect();
        let [min, hour, dom, month, dow, year] = fields[..] else {
            return Err(format!(
                "a cron expression has 6 fields (minutes hours day-of-month month day-of-week year), not {}",
                fields.len()
            ));
        };
        let named = |name: &str, text: &str, r: Result<Vec<bool>, String>| {
            r.map_err(|e| format!("{name} `{text}`: {e}"))
        };
        let minutes = named("minutes", min, set(min, 0, 59, &[]))?;
        let hours = named("hours", hour, set(hour, 0, 23, &[]))?;
        let months = named("month", month, set(month, 1, 12, &MONTHS))?;
        let years = named(
            "year",
            year,
            set(year, FIRST_YEAR as i64, LAST_YEAR as i64, &[]),
        )?;
        let days = match (dom, dow) {
            ("?", "?") => {
                return Err("day-of-month and day-of-week cannot both be `?`".into());
            }
            ("?", _) => {
                Days::OfWeek(week_days(dow).map_err(|e| format!("day-of-week `{dow}`: {e}"))?)
            }
            (_, "?") => {
                Days::OfMonth(month_days(dom).map_err(|e| format!("day-of-month `{dom}`: {e}"))?)
            }
            _ => {
                return Err(
                    "one of day-of-month and day-of-week must be `?` (AWS cannot take both)".into(),
                );
            }
        };
        Ok(Cron {
            minutes,
            hours,
            days,
            months,
            years,
        })
    }

    fn next_after(&self, after: Timestamp, zone: &TimeZone) -> Option<Timestamp> {
        let local = after.to_zoned(zone.clone()).datetime();
        let mut date = local.date();
        // Candidate local times are checked against `after` as instants, so a time that DST
        // moves is still taken once, at its instant.
        while date.year() <= LAST_YEAR {
            if !self.years[(date.year() - FIRST_YEAR) as usize] {
                date = Date::new(date.year().checked_add(1)?, 1, 1).ok()?;
                continue;
            }
            if !self.months[(date.month() - 1) as usize] {
                date = date.last_of_month().tomorrow().ok()?;
                continue;
            }
            if self.day_matches(date) {
                for h in members(&self.hours) {
                    for m in members(&self.minutes) {
                        let dt = DateTime::new(
                            date.year(),
                            date.month(),
                            date.day(),
                            h as i8,
                            m as i8,
                            0,
                            0,
                        )
                        .ok()?;
                        if dt <= local.saturating_sub(jiff::Span::new().hours(3)) {
                            continue;
                        }
                        let Ok(z) = zone.to_ambiguous_zoned(dt).compatible() else {
                            continue;
                        };
                        if z.timestamp() > after {
                            return Some(z.timestamp());
                        }
                    }
                }
            }
            date = date.tomorrow().ok()?;
        }
        None
    }

    fn day_matches(&self, date: Date) -> bool {
        let last = date.days_in_month();
        match &self.days {
            Days::OfMonth(items) => items.iter().any(|d| match *d {
                MonthDay::Day(n) => date.day() == n,
                MonthDay::Last => date.day() == last,
                MonthDay::NearestWeekday(n) => n <= last && nearest_weekday(date, n) == date.day(),
                MonthDay::LastWeekday => nearest_weekday(date, last) == date.day(),
            }),
            Days::OfWeek(items) => {
                let wd = date.weekday().to_sunday_one_offset();
                items.iter().any(|d| match *d {
                    WeekDay::Day(n) => wd == n,
                    WeekDay::Last(n) => wd == n && date.day() + 7 > last,
                    WeekDay::Nth(n, k) => wd == n && (date.day() - 1) / 7 + 1 == k,
                })
            }
        }
    }
}

/// The weekday nearest day `n` of `date`'s month, without leaving the month (Quartz's `W`).
fn nearest_weekday(date: Date, n: i8) -> i8 {
    let Ok(target) = Date::new(date.year(), date.month(), n) else {
        return 0;
    };
    let last = date.days_in_month();
    match target.weekday() {
        Weekday::Saturday if n == 1 => 3,
        Weekday::Saturday => n - 1,
        Weekday::Sunday if n == last => n - 2,
        Weekday::Sunday => n + 1,
        _ => n,
    }
}

/// A field of values `lo..=hi` (names, if any, for `lo`, `lo + 1`, …) as a membership table
/// indexed from `lo`.
fn set(text: &str, lo: i64, hi: i64, names: &[&str]) -> Result<Vec<bool>, String> {
    let mut on = vec![false; (hi - lo + 1) as usize];
    for item in text.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => {
                let step: i64 = s
                    .parse()
                    .ok()
                    .filter(|s| *s >= 1)
                    .ok_or_else(|| format!("`{s}` is not a step (a whole number from 1)"))?;
                (r, step)
            }
            None => (item, 1),
        };
        let (a, b) = if range == "*" {
            (lo, hi)
        } else if let Some((a, b)) = range.split_once('-') {
            (value(a, lo, hi, names)?, value(b, lo, hi, names)?)
        } else {
            let a = value(range, lo, hi, names)?;
            // `a/n` runs from `a` to the end.
            (a, if item.contains('/') { hi } else { a })
        };
        if a > b {
            return Err(format!("the range `{range}` runs backwards"));
        }
        let mut v = a;
        while v <= b {
            on[(v - lo) as usize] = true;
            v += step;
        }
    }
    Ok(on)
}

/// The indexes a membership table of [`set`] holds, in order.
fn members(on: &[bool]) -> impl Iterator<Item = usize> + '_ {
    on.iter().enumerate().filter(|(_, v)| **v).map(|(i, _)| i)
}

fn value(text: &str, lo: i64, hi: i64, names: &[&str]) -> Result<i64, String> {
    if let Some(i) = names.iter().position(|n| n.eq_ignore_ascii_case(text)) {
        return Ok(lo + i as i64);
    }
    match text.parse::<i64>() {
        Ok(v) if (lo..=hi).contains(&v) && text.bytes().all(|b| b.is_ascii_digit()) => Ok(v),
        _ if names.is_empty() => Err(format!("`{text}` is not a value from {lo} to {hi}")),
        _ => Err(format!(
            "`{text}` is not a value from {lo} to {hi} or {}-{}",
            names[0],
            names[names.len() - 1]
        )),
    }
}

fn month_days(text: &str) -> Result<Vec<MonthDay>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        match item {
            "L" => out.push(MonthDay::Last),
            "LW" => out.push(MonthDay::LastWeekday),
            w if w.ends_with('W') => {
                let n = value(&w[..w.len() - 1], 1, 31, &[])?;
                out.push(MonthDay::NearestWeekday(n as i8));
            }
            other => {
                let on = set(other, 1, 31, &[])?;
                out.extend(members(&on).map(|i| MonthDay::Day(i as i8 + 1)));
            }
        }
    }
    Ok(out)
}

fn week_days(text: &str) -> Result<Vec<WeekDay>, String> {
    let mut out = Vec::new();
    for item in text.split(',') {
        if item == "L" {
            out.push(WeekDay::Day(7));
        } else if let Some(d) = item.strip_suffix('L') {
            out.push(WeekDay::Last(value(d, 1, 7, &WEEKDAYS)? as i8));
        } else if let Some((d, k)) = item.split_once('#') {
            let k = value(k, 1, 5, &[]).map_err(|e| format!("after `#`: {e}"))?;
            out.push(WeekDay::Nth(value(d, 1, 7, &WEEKDAYS)? as i8, k as i8));
        } else {
            let on = set(item, 1, 7, &WEEKDAYS)?;
            out.extend(members(&on).map(|i| WeekDay::Day(i as i8 + 1)));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
