//! Maintenance windows: when destructive migrations may deploy without a human.
//!
//! A window is written `DAYS HH:MM-HH:MM ZONE`, for example `Sat 02:00-05:00 UTC`
//! or `Mon-Fri 22:00-06:00 Europe/Berlin`:
//!
//! - `DAYS` is a day (`Mon`..`Sun` or `Monday`..`Sunday`, any case), a range
//!   (`Mon-Fri`; `Fri-Mon` wraps over the weekend), a comma list whose items may
//!   be ranges (`Sat,Sun`, `Mon-Wed,Fri`), or `daily` / `*`. The days are the days
//!   an occurrence *starts* on, in the window's zone.
//! - `HH:MM-HH:MM` is a 24-hour start and end. When the end is not after the start
//!   (`23:00-02:00`, or `02:00-02:00` for a full day) the occurrence ends the next
//!   day; `24:00` is allowed as an end and means midnight at the end of the day.
//! - `ZONE` is required: `UTC`, a fixed offset (`+02:00`, `-05:30`, `UTC+2`) or an
//!   IANA name (`Europe/Berlin`) resolved from the system's time zone database.
//!
//! # Daylight saving time
//!
//! Start and end are wall-clock times in the window's zone, and an occurrence runs
//! from the first instant the local clock reads the start (or later) to the first
//! instant it reads the end (or later):
//!
//! - When clocks are set back (a fold), a time that is read twice counts at its
//!   first reading, which is jiff's `Disambiguation::Earlier`. A window can then
//!   last an hour longer in real time, but it never reopens on the repeated hour.
//! - When clocks are set forward (a gap), a skipped time is passed at the moment
//!   of the jump, so that is where the occurrence starts or ends. The window is
//!   never open while the local clock reads a time outside of it; it just gets
//!   shorter, and an occurrence that lies entirely inside the skipped hour does not
//!   happen that day. (jiff's default, `Compatible`, would instead move a skipped
//!   start or end an hour later, keeping a window open past its written end.)

use std::cmp::Reverse;
use std::fmt;
use std::ops::RangeInclusive;
use std::str::FromStr;

use jiff::civil::{Date, DateTime, Time, Weekday};
use jiff::tz::{AmbiguousOffset, Offset, TimeZone};
use jiff::{Timestamp, ToSpan};

/// Valid windows, quoted in every parse error.
const WINDOW_EXAMPLES: &str = "`Sat 02:00-05:00 UTC` or `Mon-Fri 22:00-06:00 Europe/Berlin`";

/// How many days before the local date of `now` an occurrence that is still open
/// may have started. An occurrence ends at the latest on the day after its start,
/// and every instant before its end reads an earlier wall-clock time, so one day.
const LOOKBACK_DAYS: i64 = 1;

/// How many days after the local date of `now` to look for the next occurrence.
/// Every week holds one of the window's days, but a DST gap can swallow a single
/// occurrence, so look two weeks ahead before giving up.
const LOOKAHEAD_DAYS: i64 = 15;

/// The largest UTC offset in use anywhere (Kiribati's `+14:00`); anything
/// bigger in a config file is a typo.
const MAX_OFFSET_HOURS: i32 = 14;

/// A maintenance window or `--now` value that could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    /// A window that doesn't follow `DAYS HH:MM-HH:MM ZONE`.
    #[error(
        "invalid maintenance window `{input}`: {reason}; expected `DAYS HH:MM-HH:MM ZONE`, e.g. {examples}",
        examples = WINDOW_EXAMPLES
    )]
    InvalidWindow {
        /// The window as written, trimmed.
        input: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A point in time that isn't RFC 3339 with a UTC offset.
    #[error(
        "invalid time `{input}`: {reason}; expected RFC 3339 with a UTC offset, e.g. `2026-11-21T03:00:00Z` or `2026-11-21T03:00:00+01:00`"
    )]
    InvalidTimestamp {
        /// The time as written, trimmed.
        input: String,
        /// What is wrong with it, in jiff's words.
        reason: String,
    },
}

/// A recurring maintenance window, such as `Sat 02:00-05:00 UTC`.
///
/// Parse one with [`str::parse`]; [`fmt::Display`] prints it back in canonical
/// form. Different spellings of the same window compare equal (`Sat,Sun` and
/// `Sat-Sun`, `23:00-00:00` and `23:00-24:00`, `UTC+2` and `+02:00`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// The days an occurrence starts on, in `zone`.
    days: Days,
    /// Wall-clock start of each occurrence.
    start: Time,
    /// Wall-clock end of each occurrence, on the next day when it is not after
    /// `start`. `24:00` is therefore stored as midnight.
    end: Time,
    zone: Zone,
}

impl Window {
    /// Whether `now` is inside an occurrence of the window (start inclusive, end exclusive).
    pub fn contains(&self, now: Timestamp) -> bool {
        self.current_or_next(now)
            .is_some_and(|(start, _)| start <= now)
    }

    /// The occurrence containing `now`, or else the next one to start, as `(start, end)`.
    ///
    /// `None` only when no occurrence is found within about two weeks, which happens
    /// at the very end of the range of dates jiff supports.
    pub fn current_or_next(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        let tz = self.zone.time_zone();
        let today = tz.to_datetime(now).date();
        // Occurrences never overlap and come in order of their start dates, so the
        // first one that hasn't ended yet either contains `now` or is the next one.
        (-LOOKBACK_DAYS..=LOOKAHEAD_DAYS)
            .filter_map(|offset| today.checked_add(offset.days()).ok())
            .filter(|date| self.days.contains(date.weekday()))
            .filter_map(|date| self.occurrence(&tz, date))
            .find(|&(_, end)| now < end)
    }

    /// The occurrence starting on `date`, unless a DST gap leaves nothing of it.
    fn occurrence(&self, tz: &TimeZone, date: Date) -> Option<(Timestamp, Timestamp)> {
        let end_date = if self.end <= self.start {
            date.tomorrow().ok()?
        } else {
            date
        };
        let start = first_instant_at(tz, date.to_datetime(self.start))?;
        let end = first_instant_at(tz, end_date.to_datetime(self.end))?;
        (start < end).then_some((start, end))
    }
}

/// For several windows, the soonest occurrence: an open one if any (the one that
/// stays open longest), else the next one to start.
///
/// Windows are not merged: of two back-to-back windows, the end of the first is
/// reported.
pub fn next_opening(windows: &[Window], now: Timestamp) -> Option<(Timestamp, Timestamp)> {
    windows
        .iter()
        .filter_map(|window| window.current_or_next(now))
        .min_by_key(|&(start, end)| (start.max(now), Reverse(end)))
}

/// Parses the value of a `--now` flag: RFC 3339 with a UTC offset, such as
/// `2026-11-21T03:00:00Z` or `2026-11-21T03:00:00+01:00`.
///
/// jiff's parser is a little more lenient than RFC 3339: it also takes a space
/// for the `T` and a trailing `[Europe/Berlin]` annotation (RFC 9557).
pub fn parse_now(text: &str) -> Result<Timestamp, WindowError> {
    let text = text.trim();
    text.parse()
        .map_err(|err: jiff::Error| WindowError::InvalidTimestamp {
            input: text.to_owned(),
            reason: err.to_string(),
        })
}

/// The first instant at which the wall clock in `tz` reads `wall` or a later time.
fn first_instant_at(tz: &TimeZone, wall: DateTime) -> Option<Timestamp> {
    let ambiguous = tz.to_ambiguous_timestamp(wall);
    let earlier = ambiguous.earlier().ok()?;
    match ambiguous.offset() {
        AmbiguousOffset::Unambiguous { .. } | AmbiguousOffset::Fold { .. } => Some(earlier),
        // `earlier` reads `wall` with the offset from after the jump, which puts it
        // before the jump; the clock passes `wall` at the jump itself.
        AmbiguousOffset::Gap { .. } => tz
            .following(earlier)
            .next()
            .map(|transition| transition.timestamp()),
    }
}

impl FromStr for Window {
    type Err = WindowError;

    fn from_str(text: &str) -> Result<Window, WindowError> {
        parse_window(text).map_err(|reason| WindowError::InvalidWindow {
            input: text.trim().to_owned(),
            reason,
        })
    }
}

impl fmt::Display for Window {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // An end stored as midnight is always the one that closes the start day.
        let end_hour = if self.end == Time::midnight() {
            24
        } else {
            self.end.hour()
        };
        write!(
            f,
            "{} {:02}:{:02}-{:02}:{:02} {}",
            self.days,
            self.start.hour(),
            self.start.minute(),
            end_hour,
            self.end.minute(),
            self.zone
        )
    }
}

/// Parses a whole window; the error is the reason, without the input.
fn parse_window(text: &str) -> Result<Window, String> {
    let parts: Vec<&str> = text.split_whitespace().collect();
    let (days, times, zone) = match parts[..] {
        [days, times, zone] => (days, times, zone),
        [] => return Err("it is empty".to_owned()),
        [first, _] if starts_like_time(first) => {
            return Err("the days are missing (e.g. `Sat`, `Mon-Fri` or `daily`)".to_owned());
        }
        [_, second] if starts_like_time(second) => {
            return Err(
                "the time zone is missing; it is required so that the window doesn't \
                 depend on the clock of the machine that runs the check \
                 (use `UTC`, an offset like `+02:00`, or an IANA name like `Europe/Berlin`)"
                    .to_owned(),
            );
        }
        [_, _] => return Err("the time range is missing (e.g. `02:00-05:00`)".to_owned()),
        _ => {
            return Err(format!(
                "expected 3 parts separated by spaces (days, time range, zone), found {}",
                parts.len()
            ));
        }
    };
    let days = parse_days(days)?;
    let (start, end) = parse_times(times)?;
    let zone = parse_zone(zone)?;
    Ok(Window {
        days,
        start,
        end,
        zone,
    })
}

fn starts_like_time(text: &str) -> bool {
    text.starts_with(|c: char| c.is_ascii_digit())
}

/// A set of weekdays, one bit per day with Monday as bit 0.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Days(u8);

impl fmt::Debug for Days {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Days({self})")
    }
}

impl Days {
    const ALL: Days = Days(0b111_1111);

    fn bit(day: Weekday) -> u8 {
        1 << day.to_monday_zero_offset()
    }

    fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    /// `from` through `to`, wrapping past Sunday when `to` comes earlier in the week.
    fn range(from: Weekday, to: Weekday) -> Days {
        Days(
            (0..=from.until(to))
                .map(|offset| Self::bit(from.wrapping_add(offset)))
                .fold(0, |bits, bit| bits | bit),
        )
    }
}

/// Parses `DAYS`: a day, a range, a comma list of those, or `daily` / `*`.
fn parse_days(text: &str) -> Result<Days, String> {
    if text == "*" || text.eq_ignore_ascii_case("daily") {
        return Ok(Days::ALL);
    }
    let mut days = Days(0);
    for item in text.split(',') {
        let (from, to) = item.split_once('-').unwrap_or((item, item));
        days.0 |= Days::range(parse_weekday(from, text)?, parse_weekday(to, text)?).0;
    }
    Ok(days)
}

const WEEKDAYS: [(Weekday, &str, &str); 7] = [
    (Weekday::Monday, "Mon", "Monday"),
    (Weekday::Tuesday, "Tue", "Tuesday"),
    (Weekday::Wednesday, "Wed", "Wednesday"),
    (Weekday::Thursday, "Thu", "Thursday"),
    (Weekday::Friday, "Fri", "Friday"),
    (Weekday::Saturday, "Sat", "Saturday"),
    (Weekday::Sunday, "Sun", "Sunday"),
];

/// Parses one day name; `days` is the whole `DAYS` part, for the error.
fn parse_weekday(name: &str, days: &str) -> Result<Weekday, String> {
    WEEKDAYS
        .iter()
        .find(|(_, short, long)| {
            name.eq_ignore_ascii_case(short) || name.eq_ignore_ascii_case(long)
        })
        .map(|&(day, _, _)| day)
        .ok_or_else(|| {
            let what = if name.is_empty() {
                format!("a day name is missing in `{days}`")
            } else {
                format!("unknown day `{name}`")
            };
            format!(
                "{what} (use `Mon`..`Sun` or full names, a range like `Mon-Fri`, \
                 a list like `Sat,Sun`, or `daily`)"
            )
        })
}

fn short_name(day: Weekday) -> &'static str {
    WEEKDAYS
        .iter()
        .find(|&&(candidate, _, _)| candidate == day)
        .map_or("?", |&(_, short, _)| short)
}

impl fmt::Display for Days {
    /// Prints runs of three or more days as ranges and the rest as a list, e.g.
    /// `Mon-Wed,Fri,Sun`, or `daily` for the whole week.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if *self == Days::ALL {
            return f.write_str("daily");
        }
        // Start the week at Monday, unless a run wraps past Sunday: then start at
        // the beginning of that run so it prints as one range (`Fri-Mon`). Some day
        // is missing, so the walk back ends.
        let mut first = Weekday::Monday;
        while self.contains(first) && self.contains(first.previous()) {
            first = first.previous();
        }
        let week: Vec<Weekday> = first.cycle_forward().take(7).collect();
        let mut items = Vec::new();
        for run in week.split(|&day| !self.contains(day)) {
            match run {
                [] => {}
                [from, .., to] if run.len() >= 3 => {
                    items.push(format!("{}-{}", short_name(*from), short_name(*to)));
                }
                _ => items.extend(run.iter().map(|&day| short_name(day).to_owned())),
            }
        }
        f.write_str(&items.join(","))
    }
}

/// Parses `HH:MM-HH:MM` into a start and an end, `24:00` only as the end.
fn parse_times(text: &str) -> Result<(Time, Time), String> {
    let Some((start, end)) = text.split_once('-') else {
        return Err(format!(
            "`{text}` is not a time range (write HH:MM-HH:MM, e.g. `02:00-05:00`)"
        ));
    };
    let (start_hour, start_minute) = parse_clock(start)?;
    if start_hour == 24 {
        return Err("`24:00` can only end a window; start it at `00:00`".to_owned());
    }
    let (end_hour, end_minute) = parse_clock(end)?;
    let time = |hour: i8, minute| Time::new(hour, minute, 0, 0).map_err(|err| err.to_string());
    // `24:00` is the midnight that starts the next day, and an end on the next day
    // is what an end at or before the start means anyway.
    Ok((
        time(start_hour, start_minute)?,
        time(end_hour % 24, end_minute)?,
    ))
}

/// Parses `HH:MM` (the hour may have one digit) into hour and minute; allows `24:00`.
fn parse_clock(text: &str) -> Result<(i8, i8), String> {
    let Some((hour, minute)) = text.split_once(':') else {
        return Err(format!(
            "`{text}` is missing the `:` between hours and minutes (write HH:MM, e.g. `02:00`)"
        ));
    };
    let (Some(hour), Some(minute)) = (number(hour, 1..=2), number(minute, 2..=2)) else {
        return Err(format!(
            "`{text}` is not a time (write HH:MM, e.g. `02:00`)"
        ));
    };
    if hour > 24 || (hour == 24 && minute != 0) {
        return Err(format!(
            "hour {hour} in `{text}` is out of range (00-23, or `24:00` as an end)"
        ));
    }
    if minute > 59 {
        return Err(format!(
            "minute {minute} in `{text}` is out of range (00-59)"
        ));
    }
    Ok((hour, minute))
}

/// `text` as a number, if it is made of `digits` ASCII digits.
fn number(text: &str, digits: RangeInclusive<usize>) -> Option<i8> {
    if digits.contains(&text.len()) && text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse().ok()
    } else {
        None
    }
}

/// The zone a window's wall-clock times are in.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Zone {
    Utc,
    /// A fixed offset other than zero.
    Fixed(Offset),
    /// An IANA zone, with its canonical name for display.
    Named {
        name: String,
        tz: TimeZone,
    },
}

impl Zone {
    fn time_zone(&self) -> TimeZone {
        match self {
            Zone::Utc => TimeZone::UTC,
            Zone::Fixed(offset) => TimeZone::fixed(*offset),
            Zone::Named { tz, .. } => tz.clone(),
        }
    }
}

impl fmt::Display for Zone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(offset) => {
                let seconds = offset.seconds();
                let sign = if seconds < 0 { '-' } else { '+' };
                let minutes = seconds.unsigned_abs() / 60;
                write!(f, "{sign}{:02}:{:02}", minutes / 60, minutes % 60)
            }
            Zone::Named { name, .. } => f.write_str(name),
        }
    }
}

/// Parses `ZONE`: `UTC`, `+HH:MM` / `UTC+H` style offsets, or an IANA name.
fn parse_zone(text: &str) -> Result<Zone, String> {
    if text.eq_ignore_ascii_case("UTC") {
        return Ok(Zone::Utc);
    }
    let offset = match text.get(..3) {
        Some(prefix) if prefix.eq_ignore_ascii_case("UTC") => &text[3..],
        _ => text,
    };
    if offset.starts_with(['+', '-']) {
        return parse_offset(offset, text);
    }
    jiff::tz::db()
        .get(text)
        .map(|tz| Zone::Named {
            name: tz.iana_name().unwrap_or(text).to_owned(),
            tz,
        })
        .map_err(|_| {
            if jiff::tz::db().is_definitively_empty() {
                format!(
                    "no IANA time zone database was found on this system to look up `{text}` \
                     (install tzdata, or use `UTC` or an offset like `+02:00`)"
                )
            } else {
                format!(
                    "unknown time zone `{text}` (use `UTC`, an offset like `+02:00`, \
                     or an IANA name like `Europe/Berlin`)"
                )
            }
        })
}

/// Parses `+H`, `+HH`, `+H:MM` or `+HH:MM` (or `-`); `zone` is the whole `ZONE`
/// part, for the error.
fn parse_offset(offset: &str, zone: &str) -> Result<Zone, String> {
    let invalid =
        || format!("`{zone}` is not a UTC offset (write e.g. `+02:00`, `-05:30` or `UTC+2`)");
    let (sign, rest) = offset.split_at(1);
    let (hours, minutes) = rest.split_once(':').unwrap_or((rest, "00"));
    let (Some(hours), Some(minutes)) = (number(hours, 1..=2), number(minutes, 2..=2)) else {
        return Err(invalid());
    };
    if minutes > 59 {
        return Err(invalid());
    }
    let magnitude = i32::from(hours) * 3600 + i32::from(minutes) * 60;
    if magnitude > MAX_OFFSET_HOURS * 3600 {
        return Err(format!(
            "offset `{zone}` is out of range (UTC offsets go up to {MAX_OFFSET_HOURS} hours)"
        ));
    }
    if magnitude == 0 {
        return Ok(Zone::Utc);
    }
    let seconds = if sign == "-" { -magnitude } else { magnitude };
    Offset::from_seconds(seconds)
        .map(Zone::Fixed)
        .map_err(|err| err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Window {
        text.parse()
            .unwrap_or_else(|err| panic!("`{text}` should parse: {err}"))
    }

    fn error(text: &str) -> String {
        match text.parse::<Window>() {
            Ok(window) => panic!("`{text}` should not parse, got {window:?}"),
            Err(err) => err.to_string(),
        }
    }

    fn ts(text: &str) -> Timestamp {
        text.parse().unwrap()
    }

    fn span(start: &str, end: &str) -> Option<(Timestamp, Timestamp)> {
        Some((ts(start), ts(end)))
    }

    fn assert_canonical(input: &str, canonical: &str) {
        let parsed = parse(input);
        assert_eq!(parsed.to_string(), canonical, "display of `{input}`");
        assert_eq!(parse(canonical), parsed, "round trip of `{input}`");
    }

    #[test]
    fn parses_single_days_in_any_case_and_length() {
        assert_canonical("Sat 02:00-05:00 UTC", "Sat 02:00-05:00 UTC");
        assert_canonical("sat 02:00-05:00 utc", "Sat 02:00-05:00 UTC");
        assert_canonical("Saturday 02:00-05:00 UTC", "Sat 02:00-05:00 UTC");
        assert_canonical("WEDNESDAY 2:00-5:00 UTC", "Wed 02:00-05:00 UTC");
        assert_canonical("  Sat   02:00-05:00\tUTC ", "Sat 02:00-05:00 UTC");
    }

    #[test]
    fn parses_ranges_lists_and_every_day() {
        assert_canonical("Mon-Fri 22:00-06:00 UTC", "Mon-Fri 22:00-06:00 UTC");
        assert_canonical("Fri-Mon 01:00-03:00 UTC", "Fri-Mon 01:00-03:00 UTC");
        assert_canonical("Sat,Sun 01:00-03:00 UTC", "Sat,Sun 01:00-03:00 UTC");
        assert_canonical("Sat-Sun 01:00-03:00 UTC", "Sat,Sun 01:00-03:00 UTC");
        assert_canonical("Fri,Mon-Wed 01:00-03:00 UTC", "Mon-Wed,Fri 01:00-03:00 UTC");
        assert_canonical(
            "Sun,Wed,Sat,Mon 01:00-03:00 UTC",
            "Sat-Mon,Wed 01:00-03:00 UTC",
        );
        assert_canonical("Sun,Tue,Sat,Mon 01:00-03:00 UTC", "Sat-Tue 01:00-03:00 UTC");
        assert_canonical("Wed-Wed 01:00-03:00 UTC", "Wed 01:00-03:00 UTC");
        assert_canonical("daily 01:00-03:00 UTC", "daily 01:00-03:00 UTC");
        assert_canonical("DAILY 01:00-03:00 UTC", "daily 01:00-03:00 UTC");
        assert_canonical("* 01:00-03:00 UTC", "daily 01:00-03:00 UTC");
        assert_canonical("Mon-Sun 01:00-03:00 UTC", "daily 01:00-03:00 UTC");
        assert_canonical("Tue-Mon 01:00-03:00 UTC", "daily 01:00-03:00 UTC");
        assert_eq!(
            parse("Sat,Sun 01:00-03:00 UTC"),
            parse("Sun,Sat,Sat 01:00-03:00 UTC")
        );
    }

    #[test]
    fn parses_overnight_and_end_of_day_times() {
        assert_canonical("Sat 23:00-02:00 UTC", "Sat 23:00-02:00 UTC");
        assert_canonical("Sat 22:00-24:00 UTC", "Sat 22:00-24:00 UTC");
        assert_canonical("Sat 22:00-00:00 UTC", "Sat 22:00-24:00 UTC");
        assert_canonical("Sat 00:00-24:00 UTC", "Sat 00:00-24:00 UTC");
        assert_canonical("Sat 02:00-02:00 UTC", "Sat 02:00-02:00 UTC");
    }

    #[test]
    fn parses_zones() {
        assert_canonical("Sat 02:00-05:00 +02:00", "Sat 02:00-05:00 +02:00");
        assert_canonical("Sat 02:00-05:00 -05:30", "Sat 02:00-05:00 -05:30");
        assert_canonical("Sat 02:00-05:00 UTC+2", "Sat 02:00-05:00 +02:00");
        assert_canonical("Sat 02:00-05:00 utc-5:30", "Sat 02:00-05:00 -05:30");
        assert_canonical("Sat 02:00-05:00 +14", "Sat 02:00-05:00 +14:00");
        assert_canonical("Sat 02:00-05:00 UTC+0", "Sat 02:00-05:00 UTC");
        assert_canonical("Sat 02:00-05:00 -00:00", "Sat 02:00-05:00 UTC");
        assert_canonical(
            "Sat 02:00-05:00 Europe/Berlin",
            "Sat 02:00-05:00 Europe/Berlin",
        );
        assert_canonical(
            "Sat 02:00-05:00 europe/berlin",
            "Sat 02:00-05:00 Europe/Berlin",
        );
        assert_canonical(
            "Sat 02:00-05:00 America/New_York",
            "Sat 02:00-05:00 America/New_York",
        );
        assert_eq!(
            parse("Sat 02:00-05:00 UTC+2"),
            parse("Sat 02:00-05:00 +02:00")
        );
        assert_ne!(
            parse("Sat 02:00-05:00 +02:00"),
            parse("Sat 02:00-05:00 -02:00")
        );
    }

    #[test]
    fn every_error_shows_the_valid_syntax() {
        for bad in [
            "",
            "Sat",
            "Sta 02:00-05:00 UTC",
            "Sat 25:00-05:00 UTC",
            "Sat 02:00-05:00",
        ] {
            let message = error(bad);
            assert!(
                message.contains("expected `DAYS HH:MM-HH:MM ZONE`, e.g. `Sat 02:00-05:00 UTC`"),
                "{message}"
            );
            assert!(message.contains(&format!("`{bad}`")), "{message}");
        }
    }

    #[test]
    fn rejects_bad_days() {
        assert!(error("Sta 02:00-05:00 UTC").contains("unknown day `Sta`"));
        assert!(error("Mon-Fir 02:00-05:00 UTC").contains("unknown day `Fir`"));
        assert!(error("Weekend 02:00-05:00 UTC").contains("unknown day `Weekend`"));
        assert!(error("Sat, 02:00-05:00 UTC").contains("a day name is missing in `Sat,`"));
        assert!(error("Sat,,Sun 02:00-05:00 UTC").contains("a day name is missing"));
        assert!(error("-Fri 02:00-05:00 UTC").contains("a day name is missing"));
    }

    #[test]
    fn rejects_bad_times() {
        assert!(error("Sat 25:00-05:00 UTC").contains("hour 25 in `25:00` is out of range"));
        assert!(error("Sat 02:00-24:30 UTC").contains("hour 24 in `24:30` is out of range"));
        assert!(error("Sat 12:60-13:00 UTC").contains("minute 60 in `12:60` is out of range"));
        assert!(error("Sat 1200-13:00 UTC").contains("`1200` is missing the `:`"));
        assert!(error("Sat 12:00-1300 UTC").contains("`1300` is missing the `:`"));
        assert!(error("Sat 02:00 UTC").contains("`02:00` is not a time range"));
        assert!(error("Sat 2:0-05:00 UTC").contains("`2:0` is not a time"));
        assert!(error("Sat 002:00-05:00 UTC").contains("`002:00` is not a time"));
        assert!(error("Sat :30-05:00 UTC").contains("`:30` is not a time"));
        assert!(error("Sat +2:00-05:00 UTC").contains("`+2:00` is not a time"));
        assert!(error("Sat 24:00-05:00 UTC").contains("`24:00` can only end a window"));
    }

    #[test]
    fn rejects_missing_parts() {
        let message = error("Sat 02:00-05:00");
        assert!(
            message.contains("the time zone is missing; it is required"),
            "{message}"
        );
        assert!(error("Sat Europe/Berlin").contains("the time range is missing"));
        assert!(error("02:00-05:00 UTC").contains("the days are missing"));
        assert!(error("").contains("it is empty"));
        assert!(error("Sat").contains("found 1"));
        assert!(error("Sat 02:00 - 05:00 UTC").contains("found 5"));
    }

    #[test]
    fn rejects_bad_zones() {
        assert!(error("Sat 02:00-05:00 Europe/Berln").contains("unknown time zone `Europe/Berln`"));
        assert!(error("Sat 02:00-05:00 CEST").contains("unknown time zone `CEST`"));
        assert!(error("Sat 02:00-05:00 +2:0").contains("`+2:0` is not a UTC offset"));
        assert!(error("Sat 02:00-05:00 UTC+").contains("`UTC+` is not a UTC offset"));
        assert!(error("Sat 02:00-05:00 +02:60").contains("`+02:60` is not a UTC offset"));
        assert!(error("Sat 02:00-05:00 +0200").contains("`+0200` is not a UTC offset"));
        assert!(error("Sat 02:00-05:00 +15:00").contains("offset `+15:00` is out of range"));
    }

    #[test]
    fn contains_is_inclusive_at_start_and_exclusive_at_end() {
        // 2026-11-21 is a Saturday.
        let window = parse("Sat 02:00-05:00 UTC");
        assert!(!window.contains(ts("2026-11-21T01:59:59.999999999Z")));
        assert!(window.contains(ts("2026-11-21T02:00:00Z")));
        assert!(window.contains(ts("2026-11-21T03:30:00Z")));
        assert!(window.contains(ts("2026-11-21T04:59:59.999999999Z")));
        assert!(!window.contains(ts("2026-11-21T05:00:00Z")));
        // Same time of day, wrong day.
        assert!(!window.contains(ts("2026-11-22T03:00:00Z")));
    }

    #[test]
    fn overnight_occurrence_is_still_open_the_next_morning() {
        // Friday night into Saturday morning.
        let window = parse("Fri 23:00-02:00 UTC");
        let now = ts("2026-11-21T01:00:00Z");
        assert!(window.contains(now));
        assert_eq!(
            window.current_or_next(now),
            span("2026-11-20T23:00:00Z", "2026-11-21T02:00:00Z")
        );
        assert!(!window.contains(ts("2026-11-21T02:00:00Z")));
        assert!(!window.contains(ts("2026-11-21T23:30:00Z")));
    }

    #[test]
    fn daily_overnight_window_seen_from_both_sides_of_midnight() {
        let window = parse("daily 22:00-06:00 UTC");
        assert_eq!(
            window.current_or_next(ts("2026-11-18T23:00:00Z")),
            span("2026-11-18T22:00:00Z", "2026-11-19T06:00:00Z")
        );
        assert_eq!(
            window.current_or_next(ts("2026-11-19T05:00:00Z")),
            span("2026-11-18T22:00:00Z", "2026-11-19T06:00:00Z")
        );
        assert_eq!(
            window.current_or_next(ts("2026-11-19T12:00:00Z")),
            span("2026-11-19T22:00:00Z", "2026-11-20T06:00:00Z")
        );
    }

    #[test]
    fn end_of_day_and_full_day_windows() {
        assert_eq!(
            parse("Sat 22:00-24:00 UTC").current_or_next(ts("2026-11-18T12:00:00Z")),
            span("2026-11-21T22:00:00Z", "2026-11-22T00:00:00Z")
        );
        let full_day = parse("Sat 02:00-02:00 UTC");
        assert_eq!(
            full_day.current_or_next(ts("2026-11-22T01:00:00Z")),
            span("2026-11-21T02:00:00Z", "2026-11-22T02:00:00Z")
        );
        assert!(!full_day.contains(ts("2026-11-22T02:00:00Z")));
    }

    #[test]
    fn next_occurrence_from_mid_week() {
        let window = parse("Sat 02:00-05:00 UTC");
        // Wednesday noon.
        let now = ts("2026-11-18T12:00:00Z");
        assert!(!window.contains(now));
        assert_eq!(
            window.current_or_next(now),
            span("2026-11-21T02:00:00Z", "2026-11-21T05:00:00Z")
        );
        // Right after this week's occurrence, the next one is a week later.
        assert_eq!(
            window.current_or_next(ts("2026-11-21T05:00:00Z")),
            span("2026-11-28T02:00:00Z", "2026-11-28T05:00:00Z")
        );
    }

    #[test]
    fn lists_and_wrapping_ranges_choose_the_soonest_day() {
        let window = parse("Tue,Sat 02:00-05:00 UTC");
        assert_eq!(
            window.current_or_next(ts("2026-11-18T12:00:00Z")),
            span("2026-11-21T02:00:00Z", "2026-11-21T05:00:00Z")
        );
        assert_eq!(
            window.current_or_next(ts("2026-11-22T12:00:00Z")),
            span("2026-11-24T02:00:00Z", "2026-11-24T05:00:00Z")
        );
        let weekend = parse("Fri-Mon 02:00-05:00 UTC");
        assert!(weekend.contains(ts("2026-11-22T03:00:00Z")));
        assert!(weekend.contains(ts("2026-11-23T03:00:00Z")));
        assert!(!weekend.contains(ts("2026-11-24T03:00:00Z")));
        assert_eq!(
            weekend.current_or_next(ts("2026-11-24T03:00:00Z")),
            span("2026-11-27T02:00:00Z", "2026-11-27T05:00:00Z")
        );
    }

    #[test]
    fn next_opening_picks_the_soonest_window() {
        let windows = [
            parse("Sat 02:00-05:00 UTC"),
            parse("Thu 22:00-23:00 UTC"),
            parse("Sun 01:00-03:00 UTC"),
        ];
        let wednesday = ts("2026-11-18T12:00:00Z");
        assert_eq!(
            next_opening(&windows, wednesday),
            span("2026-11-19T22:00:00Z", "2026-11-19T23:00:00Z")
        );
        assert_eq!(
            next_opening(&windows, ts("2026-11-21T03:00:00Z")),
            span("2026-11-21T02:00:00Z", "2026-11-21T05:00:00Z")
        );
        assert_eq!(next_opening(&[], wednesday), None);
    }

    #[test]
    fn next_opening_prefers_the_open_window_that_stays_open_longest() {
        let windows = [
            parse("Sat 01:00-04:00 UTC"),
            parse("Sat 02:00-06:00 UTC"),
            parse("Sat 03:30-09:00 UTC"),
        ];
        assert_eq!(
            next_opening(&windows, ts("2026-11-21T03:00:00Z")),
            span("2026-11-21T02:00:00Z", "2026-11-21T06:00:00Z")
        );
    }

    #[test]
    fn days_refer_to_the_start_day_in_the_window_zone() {
        // Saturday 00:30 at +02:00 is Friday 22:30 UTC.
        let window = parse("Sat 00:30-01:00 +02:00");
        assert!(window.contains(ts("2026-11-20T22:45:00Z")));
        assert!(!window.contains(ts("2026-11-21T22:45:00Z")));
    }

    #[test]
    fn fixed_offsets_shift_the_window() {
        let now = ts("2026-11-18T12:00:00Z");
        assert_eq!(
            parse("Sat 02:00-05:00 +02:00").current_or_next(now),
            span("2026-11-21T00:00:00Z", "2026-11-21T03:00:00Z")
        );
        assert_eq!(
            parse("Sat 02:00-05:00 -05:30").current_or_next(now),
            span("2026-11-21T07:30:00Z", "2026-11-21T10:30:00Z")
        );
        assert_eq!(
            parse("Sat 02:00-05:00 UTC+2").current_or_next(now),
            parse("Sat 02:00-05:00 +02:00").current_or_next(now)
        );
    }

    #[test]
    fn iana_zone_follows_summer_and_winter_time() {
        let window = parse("Sat 02:00-05:00 Europe/Berlin");
        assert_eq!(
            window.current_or_next(ts("2026-07-01T12:00:00Z")),
            span("2026-07-04T00:00:00Z", "2026-07-04T03:00:00Z")
        );
        assert_eq!(
            window.current_or_next(ts("2026-11-18T12:00:00Z")),
            span("2026-11-21T01:00:00Z", "2026-11-21T04:00:00Z")
        );
    }

    #[test]
    fn dst_spring_forward_shortens_the_window() {
        // On 2026-03-29 Berlin jumps from 02:00 CET (+01) to 03:00 CEST (+02).
        let saturday = ts("2026-03-28T12:00:00Z");
        assert_eq!(
            parse("Sun 01:00-05:00 Europe/Berlin").current_or_next(saturday),
            span("2026-03-29T00:00:00Z", "2026-03-29T03:00:00Z")
        );
        // A start in the skipped hour opens at the jump, when the clock reads 03:00.
        let skipped_start = parse("Sun 02:30-04:00 Europe/Berlin");
        assert_eq!(
            skipped_start.current_or_next(saturday),
            span("2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z")
        );
        assert!(!skipped_start.contains(ts("2026-03-29T00:59:59Z")));
        // An end in the skipped hour closes at the jump, when the clock leaves 01:59.
        assert_eq!(
            parse("Sun 01:30-02:30 Europe/Berlin").current_or_next(saturday),
            span("2026-03-29T00:30:00Z", "2026-03-29T01:00:00Z")
        );
        // Start and end both skipped: no occurrence that day, the next is a week later.
        assert_eq!(
            parse("Sun 02:00-02:45 Europe/Berlin").current_or_next(saturday),
            span("2026-04-05T00:00:00Z", "2026-04-05T00:45:00Z")
        );
    }

    #[test]
    fn dst_fall_back_uses_the_first_reading_of_a_repeated_time() {
        // On 2026-10-25 Berlin goes back from 03:00 CEST (+02) to 02:00 CET (+01),
        // so 02:00-02:59 is read twice.
        let window = parse("Sun 02:30-04:00 Europe/Berlin");
        assert_eq!(
            window.current_or_next(ts("2026-10-24T12:00:00Z")),
            span("2026-10-25T00:30:00Z", "2026-10-25T03:00:00Z")
        );
        // 02:45 CET, the second reading, is inside the occurrence that opened at
        // the first reading of 02:30.
        assert!(window.contains(ts("2026-10-25T01:45:00Z")));
        // An end in the repeated hour closes at its first reading; the window does
        // not reopen when the clock reads the time again.
        let repeated_end = parse("Sun 01:00-02:30 Europe/Berlin");
        assert_eq!(
            repeated_end.current_or_next(ts("2026-10-24T12:00:00Z")),
            span("2026-10-24T23:00:00Z", "2026-10-25T00:30:00Z")
        );
        assert!(!repeated_end.contains(ts("2026-10-25T01:15:00Z")));
    }

    #[test]
    fn search_is_bounded_at_the_ends_of_time() {
        let window = parse("Sat 02:00-05:00 UTC");
        assert_eq!(window.current_or_next(Timestamp::MAX), None);
        assert!(!window.contains(Timestamp::MAX));
        assert!(window.current_or_next(Timestamp::MIN).is_some());
    }

    #[test]
    fn parse_now_accepts_rfc3339() {
        assert_eq!(
            parse_now("2026-11-21T03:00:00Z"),
            Ok(ts("2026-11-21T03:00:00Z"))
        );
        assert_eq!(
            parse_now("2026-11-21T03:00:00+01:00"),
            Ok(ts("2026-11-21T02:00:00Z"))
        );
        assert_eq!(
            parse_now(" 2026-11-21T03:00:00Z\n"),
            Ok(ts("2026-11-21T03:00:00Z"))
        );
    }

    #[test]
    fn parse_now_rejects_times_without_offset_and_garbage() {
        for bad in ["2026-11-21T03:00:00", "2026-11-21", "tomorrow", ""] {
            let message = match parse_now(bad) {
                Ok(now) => panic!("`{bad}` should not parse, got {now}"),
                Err(err) => err.to_string(),
            };
            assert!(
                message.starts_with(&format!("invalid time `{bad}`: ")),
                "{message}"
            );
            assert!(message.contains("e.g. `2026-11-21T03:00:00Z`"), "{message}");
        }
    }
}
