//! Parsing of lists given on the command line (durations and bounded values: `kpath_cli::value`).

use crate::error::{Error, Result};

/// Parses a comma-separated list of numbers for `flag`.
pub fn parse_list<T: std::str::FromStr>(flag: &'static str, s: &str) -> Result<Vec<T>> {
    s.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            p.trim().parse().map_err(|_| Error::InvalidArgument {
                flag,
                reason: format!("{p:?} in {s:?} is not a number"),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists() {
        assert_eq!(
            parse_list::<u32>("--clients", "1, 10,100").ok(),
            Some(vec![1, 10, 100])
        );
        assert!(parse_list::<u32>("--clients", "1,x").is_err());
    }
}
