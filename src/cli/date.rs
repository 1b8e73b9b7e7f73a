//! Expiry dates as `YYYY-MM-DD` (UTC), converted to and from Unix seconds.

use anyhow::{Result, bail};

const DAY: u64 = 86_400;

/// Parses `YYYY-MM-DD` into the Unix time of that day's start (UTC).
pub fn parse_date(text: &str) -> Result<u64> {
    let parts: Vec<&str> = text.split('-').collect();
    let numbers: Option<Vec<u32>> = parts.iter().map(|p| p.parse().ok()).collect();
    let Some([year, month, day]) = numbers
        .as_deref()
        .and_then(|n| <[u32; 3]>::try_from(n).ok())
    else {
        bail!("invalid date {text:?}: use YYYY-MM-DD, e.g. 2027-01-31");
    };
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day == 0
        || day > days_in_month(year, month)
    {
        bail!("invalid date {text:?}: use a real date from 1970 on, as YYYY-MM-DD");
    }
    Ok(days_from_civil(year, month, day) * DAY)
}

/// Formats Unix seconds as the UTC date `YYYY-MM-DD`.
pub fn format_date(unix: u64) -> String {
    let (year, month, day) = civil_from_days(unix / DAY);
    format!("{year:04}-{month:02}-{day:02}")
}

/// Formats Unix seconds as `YYYY-MM-DD HH:MM:SS` (UTC).
pub fn format_time(unix: u64) -> String {
    let secs = unix % DAY;
    format!(
        "{} {:02}:{:02}:{:02}",
        format_date(unix),
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

fn days_in_month(year: u32, month: u32) -> u32 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days, restricted to dates from 1970 on.
fn days_from_civil(year: u32, month: u32, day: u32) -> u64 {
    let y = u64::from(if month <= 2 { year - 1 } else { year });
    let era = y / 400;
    let yoe = y - era * 400;
    let mp = u64::from((month + 9) % 12);
    let doy = (153 * mp + 2) / 5 + u64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_dates() {
        assert_eq!(parse_date("1970-01-01").unwrap(), 0);
        assert_eq!(parse_date("2000-03-01").unwrap(), 951_868_800);
        assert_eq!(parse_date("2024-02-29").unwrap(), 1_709_164_800);
        assert_eq!(format_date(1_709_164_800), "2024-02-29");
        assert_eq!(format_date(1_709_164_800 + DAY - 1), "2024-02-29");
    }

    #[test]
    fn round_trips_every_day_for_decades() {
        for day in (0..40_000).step_by(7) {
            assert_eq!(parse_date(&format_date(day * DAY)).unwrap(), day * DAY);
        }
    }

    #[test]
    fn rejects_bad_dates() {
        for bad in [
            "2023-02-29",
            "2024-13-01",
            "2024-00-10",
            "24-1-1x",
            "",
            "2024-01",
            "1969-12-31",
        ] {
            assert!(parse_date(bad).is_err(), "{bad}");
        }
    }
}
