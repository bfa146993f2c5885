//! Times as the console shows them: UTC, ISO 8601.

/// `ms` since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso8601(ms: u64) -> String {
    let secs = ms / 1000;
    let (year, month, day) = civil_date(secs / 86_400);
    let rest = secs % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest / 60 % 60,
        rest % 60
    )
}

/// `ms` since the Unix epoch as the date `YYYY-MM-DD` (UTC).
pub fn date(ms: u64) -> String {
    let (year, month, day) = civil_date(ms / 1000 / 86_400);
    format!("{year:04}-{month:02}-{day:02}")
}

/// The proleptic Gregorian date `days` after 1970-01-01, counted in
/// 400-year eras of 146,097 days whose years start on 1 March (so the leap
/// day is the last day of a year).
fn civil_date(days: u64) -> (u64, u64, u64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_instants_format_as_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        // 2000-02-29 12:34:56 UTC is 951827696 s after the epoch.
        assert_eq!(iso8601(951_827_696_000), "2000-02-29T12:34:56Z");
        // 2026-12-31 23:59:59 UTC is 1798761599 s.
        assert_eq!(iso8601(1_798_761_599_999), "2026-12-31T23:59:59Z");
        assert_eq!(date(1_798_761_600_000), "2027-01-01");
        // 2100 is not a leap year: 2100-03-01 is 4107542400 s.
        assert_eq!(date(4_107_542_400_000), "2100-03-01");
    }
}
