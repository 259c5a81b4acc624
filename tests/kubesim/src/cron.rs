//! CronJob schedules, parsed as the CronJob controller does (`cron.ParseStandard` of
//! github.com/robfig/cron/v3):
//!
//! - five fields: minute (0-59), hour (0-23), day of month (1-31), month (1-12 or JAN-DEC), day of
//!   week (0-6 or SUN-SAT), each a comma list of `*`, `?`, `N`, `N-M`, with an optional `/step`
//!   (`N/step` means N to the maximum);
//! - the descriptors `@yearly`, `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`,
//!   `@hourly` and `@every <duration>` (Go duration syntax, rounded down to whole seconds, at least
//!   one second);
//! - an optional `TZ=<zone>` or `CRON_TZ=<zone>` prefix (the API server rejects it in CronJob
//!   specs since 1.27 in favour of `spec.timeZone`; [`Schedule::tz_prefix`] lets the caller do so);
//! - day-of-month and day-of-week: when either field starts with `*` or `?` (and has no step > 1),
//!   both must match; otherwise either may match (robfig's "star bit" rule, the same as Vixie cron).
//!
//! Hand-written rather than using the `cron`/`croner` crates because neither reproduces this
//! dialect exactly (`@every`, the star-bit rule, `N/step`, and they accept extensions such as
//! seconds fields, `L`, `W` and `#` that Kubernetes rejects).

use jiff::Timestamp;
use jiff::civil::{Date, DateTime};
use jiff::tz::TimeZone;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CronError {
    #[error("empty spec string")]
    Empty,
    #[error("expected exactly 5 fields, found {found}: {spec}")]
    FieldCount { found: usize, spec: String },
    #[error("failed to parse int from {value}: invalid syntax")]
    BadNumber { value: String },
    #[error("beginning of range ({value}) below minimum ({min}): {expr}")]
    BelowMin { value: u32, min: u32, expr: String },
    #[error("end of range ({value}) above maximum ({max}): {expr}")]
    AboveMax { value: u32, max: u32, expr: String },
    #[error("beginning of range ({start}) beyond end of range ({end}): {expr}")]
    Inverted { start: u32, end: u32, expr: String },
    #[error("step of range should be a positive number: {expr}")]
    BadStep { expr: String },
    #[error("too many hyphens: {expr}")]
    TooManyHyphens { expr: String },
    #[error("too many slashes: {expr}")]
    TooManySlashes { expr: String },
    #[error("unrecognized descriptor: {descriptor}")]
    UnknownDescriptor { descriptor: String },
    #[error("failed to parse duration {value}: {reason}")]
    BadDuration { value: String, reason: String },
    #[error("provided bad location {zone}: {reason}")]
    BadLocation { zone: String, reason: String },
}

const STAR: u64 = 1 << 63;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    Spec {
        minute: u64,
        hour: u64,
        dom: u64,
        month: u64,
        dow: u64,
    },
    Every {
        seconds: i64,
    },
}

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
    tz: Option<String>,
}

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MINUTE: Bounds = Bounds {
    min: 0,
    max: 59,
    names: &[],
};
const HOUR: Bounds = Bounds {
    min: 0,
    max: 23,
    names: &[],
};
const DOM: Bounds = Bounds {
    min: 1,
    max: 31,
    names: &[],
};
const MONTH: Bounds = Bounds {
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
};
const DOW: Bounds = Bounds {
    min: 0,
    max: 6,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
};

/// Parses a CronJob `spec.schedule`.
pub fn parse(spec: &str) -> Result<Schedule, CronError> {
    let mut s = spec.trim();
    if s.is_empty() {
        return Err(CronError::Empty);
    }
    let mut tz = None;
    if s.starts_with("TZ=") || s.starts_with("CRON_TZ=") {
        let (head, rest) = s.split_once(char::is_whitespace).unwrap_or((s, ""));
        let zone = head.split_once('=').map(|(_, z)| z).unwrap_or("");
        TimeZone::get(zone).map_err(|e| CronError::BadLocation {
            zone: zone.to_string(),
            reason: e.to_string(),
        })?;
        tz = Some(zone.to_string());
        s = rest.trim();
    }
    if let Some(d) = s.strip_prefix('@') {
        let expand = |e: &str| parse_fields(e, spec);
        let kind = match d {
            "yearly" | "annually" => expand("0 0 1 1 *")?,
            "monthly" => expand("0 0 1 * *")?,
            "weekly" => expand("0 0 * * 0")?,
            "daily" | "midnight" => expand("0 0 * * *")?,
            "hourly" => expand("0 * * * *")?,
            _ => match d.strip_prefix("every ") {
                Some(dur) => Kind::Every {
                    seconds: parse_go_duration(dur.trim())?.max(1),
                },
                None => {
                    return Err(CronError::UnknownDescriptor {
                        descriptor: s.to_string(),
                    });
                }
            },
        };
        return Ok(Schedule { kind, tz });
    }
    Ok(Schedule {
        kind: parse_fields(s, spec)?,
        tz,
    })
}

fn parse_fields(s: &str, spec: &str) -> Result<Kind, CronError> {
    let fields: Vec<&str> = s.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(CronError::FieldCount {
            found: fields.len(),
            spec: format!("{:?}", spec.split_whitespace().collect::<Vec<_>>()),
        });
    }
    Ok(Kind::Spec {
        minute: field(fields[0], &MINUTE)?,
        hour: field(fields[1], &HOUR)?,
        dom: field(fields[2], &DOM)?,
        month: field(fields[3], &MONTH)?,
        dow: field(fields[4], &DOW)?,
    })
}

fn field(f: &str, b: &Bounds) -> Result<u64, CronError> {
    let mut bits = 0;
    for part in f.split(',') {
        bits |= range(part, b)?;
    }
    Ok(bits)
}

fn number(s: &str, b: &Bounds) -> Result<u32, CronError> {
    let lower = s.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(i as u32 + if b.names.len() == 12 { 1 } else { 0 });
    }
    s.parse::<u32>().map_err(|_| CronError::BadNumber {
        value: s.to_string(),
    })
}

fn range(expr: &str, b: &Bounds) -> Result<u64, CronError> {
    let slash: Vec<&str> = expr.split('/').collect();
    if slash.len() > 2 {
        return Err(CronError::TooManySlashes {
            expr: expr.to_string(),
        });
    }
    let hyphen: Vec<&str> = slash[0].split('-').collect();
    if hyphen.len() > 2 {
        return Err(CronError::TooManyHyphens {
            expr: expr.to_string(),
        });
    }
    let (start, mut end, mut extra) = if hyphen[0] == "*" || hyphen[0] == "?" {
        (b.min, b.max, STAR)
    } else {
        let s = number(hyphen[0], b)?;
        let e = if hyphen.len() == 2 {
            number(hyphen[1], b)?
        } else {
            s
        };
        (s, e, 0)
    };
    let mut step = 1;
    if slash.len() == 2 {
        step = slash[1].parse::<u32>().map_err(|_| CronError::BadNumber {
            value: slash[1].to_string(),
        })?;
        if step == 0 {
            return Err(CronError::BadStep {
                expr: expr.to_string(),
            });
        }
        if hyphen.len() == 1 && extra == 0 {
            end = b.max; // "N/step" = N-max/step
        }
        if step > 1 {
            extra = 0;
        }
    }
    if start < b.min {
        return Err(CronError::BelowMin {
            value: start,
            min: b.min,
            expr: expr.to_string(),
        });
    }
    if end > b.max {
        return Err(CronError::AboveMax {
            value: end,
            max: b.max,
            expr: expr.to_string(),
        });
    }
    if start > end {
        return Err(CronError::Inverted {
            start,
            end,
            expr: expr.to_string(),
        });
    }
    let mut bits = extra;
    let mut i = start;
    while i <= end {
        bits |= 1 << i;
        i += step;
    }
    Ok(bits)
}

/// Go's `time.ParseDuration` for the units CronJobs use (h, m, s, ms, us, ns, fractional values),
/// truncated to whole seconds.
fn parse_go_duration(s: &str) -> Result<i64, CronError> {
    let err = |r: &str| CronError::BadDuration {
        value: s.to_string(),
        reason: r.to_string(),
    };
    if s.is_empty() {
        return Err(err("empty duration"));
    }
    let mut nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("missing number"));
        }
        let n: f64 = rest[..num_len].parse().map_err(|_| err("bad number"))?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let mult = match &rest[..unit_len] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            "" => return Err(err("missing unit")),
            u => return Err(err(&format!("unknown unit {u:?}"))),
        };
        nanos += n * mult;
        rest = &rest[unit_len..];
    }
    Ok((nanos / 1e9).floor() as i64)
}

impl Schedule {
    /// The zone named by a `TZ=`/`CRON_TZ=` prefix, if any.
    pub fn tz_prefix(&self) -> Option<&str> {
        self.tz.as_deref()
    }

    /// The first activation strictly after `t`, evaluated in the prefix zone if any, else in
    /// `default_tz`. None when nothing matches within five years (e.g. `0 0 30 2 *`).
    pub fn next_after(&self, t: Timestamp, default_tz: &TimeZone) -> Option<Timestamp> {
        let (minute, hour, dom, month, dow) = match &self.kind {
            Kind::Every { seconds } => {
                // ConstantDelaySchedule: t + delay, rounded down to the second.
                return Timestamp::from_second(t.as_second().checked_add(*seconds)?).ok();
            }
            Kind::Spec {
                minute,
                hour,
                dom,
                month,
                dow,
            } => (*minute, *hour, *dom, *month, *dow),
        };
        let tz = match &self.tz {
            Some(z) => TimeZone::get(z).ok()?,
            None => default_tz.clone(),
        };
        let start =
            Timestamp::from_second(t.as_second() + 60 - t.as_second().rem_euclid(60)).ok()?;
        let mut dt: DateTime = start.to_zoned(tz.clone()).datetime();
        dt = dt.date().at(dt.hour(), dt.minute(), 0, 0);
        let limit = dt.year() + 5;
        let has = |bits: u64, v: i64| bits & (1u64 << v) != 0;
        while dt.year() <= limit {
            if !has(month, i64::from(dt.month())) {
                let (y, m) = if dt.month() == 12 {
                    (dt.year() + 1, 1)
                } else {
                    (dt.year(), dt.month() + 1)
                };
                dt = Date::new(y, m, 1).ok()?.at(0, 0, 0, 0);
                continue;
            }
            let dom_ok = has(dom, i64::from(dt.day()));
            let dow_ok = has(dow, i64::from(dt.weekday().to_sunday_zero_offset()));
            let day_ok = if dom & STAR != 0 || dow & STAR != 0 {
                dom_ok && dow_ok
            } else {
                dom_ok || dow_ok
            };
            if !day_ok {
                dt = dt.date().tomorrow().ok()?.at(0, 0, 0, 0);
                continue;
            }
            if !has(hour, i64::from(dt.hour())) {
                dt = if dt.hour() == 23 {
                    dt.date().tomorrow().ok()?.at(0, 0, 0, 0)
                } else {
                    dt.date().at(dt.hour() + 1, 0, 0, 0)
                };
                continue;
            }
            if !has(minute, i64::from(dt.minute())) {
                dt = if dt.minute() == 59 {
                    if dt.hour() == 23 {
                        dt.date().tomorrow().ok()?.at(0, 0, 0, 0)
                    } else {
                        dt.date().at(dt.hour() + 1, 0, 0, 0)
                    }
                } else {
                    dt.date().at(dt.hour(), dt.minute() + 1, 0, 0)
                };
                continue;
            }
            let ts = tz.to_ambiguous_timestamp(dt).compatible().ok()?;
            if ts > t {
                return Some(ts);
            }
            // A repeated wall-clock time (DST fold) maps before `t`: keep going.
            dt = dt.checked_add(jiff::Span::new().minutes(1)).ok()?;
        }
        None
    }

    /// The most recent activation in `(earliest, now]` and how many activations fell in that
    /// window (the CronJob controller's `mostRecentScheduleTime`). Stops counting after
    /// `max_iterations` activations, returning the last one found.
    pub fn most_recent(
        &self,
        earliest: Timestamp,
        now: Timestamp,
        tz: &TimeZone,
        max_iterations: usize,
    ) -> (Option<Timestamp>, usize) {
        if let Kind::Every { seconds } = &self.kind {
            // Constant delay: computed directly.
            let span = now.as_second() - earliest.as_second();
            if span < *seconds {
                return (None, 0);
            }
            let n = span / seconds;
            return (
                Timestamp::from_second(earliest.as_second() + n * seconds).ok(),
                n as usize,
            );
        }
        let mut last = None;
        let mut count = 0;
        let mut t = earliest;
        while count < max_iterations {
            match self.next_after(t, tz) {
                Some(n) if n <= now => {
                    last = Some(n);
                    count += 1;
                    t = n;
                }
                _ => break,
            }
        }
        (last, count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn next(spec: &str, after: &str) -> String {
        parse(spec)
            .unwrap()
            .next_after(t(after), &TimeZone::UTC)
            .unwrap()
            .to_string()
    }

    #[test]
    fn basic_fields() {
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:07:00Z"),
            "2024-01-01T00:15:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2024-01-01T00:15:00Z"),
            "2024-01-01T00:30:00Z"
        );
        assert_eq!(
            next("5 4 * * *", "2024-01-01T04:05:00Z"),
            "2024-01-02T04:05:00Z"
        );
        assert_eq!(
            next("0 0 1 jan *", "2024-03-01T00:00:00Z"),
            "2025-01-01T00:00:00Z"
        );
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "2024-01-06T00:00:00Z"),
            "2024-01-08T09:00:00Z"
        ); // Sat → Mon
        assert_eq!(
            next("0 9-17/4 * * MON-FRI", "2024-01-08T09:00:00Z"),
            "2024-01-08T13:00:00Z"
        );
        assert_eq!(
            next("30 2 * * 0,3", "2024-01-01T00:00:00Z"),
            "2024-01-03T02:30:00Z"
        );
        assert_eq!(
            next("10/20 * * * *", "2024-01-01T00:00:00Z"),
            "2024-01-01T00:10:00Z"
        );
        assert_eq!(
            next("10/20 * * * *", "2024-01-01T00:31:00Z"),
            "2024-01-01T00:50:00Z"
        );
        assert_eq!(
            next("0 0 29 2 *", "2024-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
    }

    #[test]
    fn dom_dow_star_rule() {
        // Both restricted: either matches (1st of the month OR a Monday).
        assert_eq!(
            next("0 0 1 * 1", "2024-01-02T00:00:00Z"),
            "2024-01-08T00:00:00Z"
        );
        // DOW is a star: day of month only.
        assert_eq!(
            next("0 0 1 * *", "2024-01-02T00:00:00Z"),
            "2024-02-01T00:00:00Z"
        );
        // "*/2" in DOW is not a star: OR semantics with the 15th.
        assert_eq!(
            next("0 0 15 * */2", "2024-01-01T00:00:00Z"),
            "2024-01-02T00:00:00Z"
        );
    }

    #[test]
    fn descriptors_and_every() {
        assert_eq!(
            next("@hourly", "2024-01-01T00:00:00Z"),
            "2024-01-01T01:00:00Z"
        );
        assert_eq!(
            next("@daily", "2024-01-01T00:00:01Z"),
            "2024-01-02T00:00:00Z"
        );
        assert_eq!(
            next("@weekly", "2024-01-01T00:00:00Z"),
            "2024-01-07T00:00:00Z"
        );
        assert_eq!(
            next("@every 1h30m", "2024-01-01T00:00:00Z"),
            "2024-01-01T01:30:00Z"
        );
        assert_eq!(
            next("@every 90s", "2024-01-01T00:00:00Z"),
            "2024-01-01T00:01:30Z"
        );
        assert!(matches!(
            parse("@fortnightly"),
            Err(CronError::UnknownDescriptor { .. })
        ));
        assert!(matches!(
            parse("@every 5x"),
            Err(CronError::BadDuration { .. })
        ));
    }

    #[test]
    fn timezone_prefix() {
        let s = parse("CRON_TZ=Asia/Tokyo 0 9 * * *").unwrap();
        assert_eq!(s.tz_prefix(), Some("Asia/Tokyo"));
        assert_eq!(
            s.next_after(t("2024-01-01T00:00:00Z"), &TimeZone::UTC)
                .unwrap()
                .to_string(),
            "2024-01-02T00:00:00Z"
        );
        assert!(matches!(
            parse("TZ=Nowhere/Else * * * * *"),
            Err(CronError::BadLocation { .. })
        ));
    }

    #[test]
    fn errors() {
        assert_eq!(parse(""), Err(CronError::Empty));
        assert!(matches!(
            parse("* * * *"),
            Err(CronError::FieldCount { found: 4, .. })
        ));
        assert!(matches!(
            parse("* * * * * *"),
            Err(CronError::FieldCount { found: 6, .. })
        ));
        assert_eq!(
            parse("0-60 * * * *").unwrap_err().to_string(),
            "end of range (60) above maximum (59): 0-60"
        );
        assert!(matches!(
            parse("* * 0 * *"),
            Err(CronError::BelowMin { .. })
        ));
        assert!(matches!(
            parse("5-1 * * * *"),
            Err(CronError::Inverted { .. })
        ));
        assert!(matches!(
            parse("*/0 * * * *"),
            Err(CronError::BadStep { .. })
        ));
        assert!(matches!(
            parse("L * * * *"),
            Err(CronError::BadNumber { .. })
        ));
        assert!(matches!(
            parse("* * * * 7"),
            Err(CronError::AboveMax { .. })
        ));
        assert!(
            parse("0 0 30 2 *")
                .unwrap()
                .next_after(t("2024-01-01T00:00:00Z"), &TimeZone::UTC)
                .is_none()
        );
    }

    #[test]
    fn most_recent_counts_missed() {
        let s = parse("*/10 * * * *").unwrap();
        let (last, n) = s.most_recent(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T01:05:00Z"),
            &TimeZone::UTC,
            1000,
        );
        assert_eq!(last.unwrap().to_string(), "2024-01-01T01:00:00Z");
        assert_eq!(n, 6);
        let (last, n) = s.most_recent(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T00:09:59Z"),
            &TimeZone::UTC,
            1000,
        );
        assert_eq!((last, n), (None, 0));
        let e = parse("@every 5m").unwrap();
        let (last, n) = e.most_recent(
            t("2024-01-01T00:00:00Z"),
            t("2024-01-01T00:12:00Z"),
            &TimeZone::UTC,
            1000,
        );
        assert_eq!(
            (last.unwrap().to_string().as_str(), n),
            ("2024-01-01T00:10:00Z", 2)
        );
    }
}
