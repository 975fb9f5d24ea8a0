//! How a revision rolls across a group: the minimum of healthy hosts to keep, and optional batch
//! sizes (a ramp such as `1,5,20%`).

use std::fmt;
use std::str::FromStr;

/// A number of hosts, or a percentage of the group. Stored as it is written: `3`, `75%`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(into = "String", try_from = "String")]
pub enum Amount {
    /// Exactly this many hosts.
    Hosts(usize),
    /// This percentage of the group's hosts.
    Percent(u8),
}

impl Amount {
    /// The number of hosts this is in a group of `n`: a percentage rounds up for a minimum
    /// (`round_up`), down for a batch, as CodeDeploy does.
    pub fn of(self, n: usize, round_up: bool) -> usize {
        match self {
            Amount::Hosts(h) => h.min(n),
            Amount::Percent(p) => {
                let scaled = n * usize::from(p);
                if round_up {
                    scaled.div_ceil(100)
                } else {
                    scaled / 100
                }
            }
        }
    }
}

impl FromStr for Amount {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if let Some(p) = text.strip_suffix('%') {
            match p.trim().parse::<u8>() {
                Ok(p) if p <= 100 => Ok(Amount::Percent(p)),
                _ => Err(format!("`{text}` is not a percentage from 0% to 100%")),
            }
        } else {
            text.parse::<usize>().map(Amount::Hosts).map_err(|_| {
                format!("`{text}` is not a number of hosts or a percentage like `75%`")
            })
        }
    }
}

impl From<Amount> for String {
    fn from(amount: Amount) -> String {
        amount.to_string()
    }
}

impl TryFrom<String> for Amount {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
    }
}

impl fmt::Display for Amount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Amount::Hosts(h) => write!(f, "{h}"),
            Amount::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// A deployment configuration. It is stored with the deployment (`{"min_healthy": "50%",
/// "batches": ["1", "20%"]}`), so that its rollback rolls out the same way.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeploymentConfig {
    /// Hosts that must stay healthy throughout.
    pub min_healthy: Amount,
    /// Batch sizes in order; the last repeats. Empty: as many at once as the minimum allows.
    pub batches: Vec<Amount>,
    /// At most this many hosts at once, a new one starting as soon as one ends (State
    /// Manager's `MaxConcurrency`); none: as batches and the minimum allow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<Amount>,
    /// Stop once more hosts than this have failed (State Manager's `MaxErrors`: 0 stops at
    /// the first failure); none: only the minimum of healthy hosts stops it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_errors: Option<Amount>,
}

impl DeploymentConfig {
    /// CodeDeploy's `OneAtATime`: one host at a time, keeping 99 % (all but one) healthy, so
    /// the first failure ends it.
    pub fn one_at_a_time() -> Self {
        Self {
            min_healthy: Amount::Percent(99),
            batches: vec![Amount::Hosts(1)],
            concurrency: None,
            max_errors: None,
        }
    }

    /// CodeDeploy's `HalfAtATime`: up to half the hosts (rounded down) at a time, keeping half.
    pub fn half_at_a_time() -> Self {
        Self {
            min_healthy: Amount::Percent(50),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        }
    }

    /// CodeDeploy's `AllAtOnce`: every host at once.
    pub fn all_at_once() -> Self {
        Self {
            min_healthy: Amount::Hosts(0),
            batches: Vec::new(),
            concurrency: None,
            max_errors: None,
        }
    }

    /// State Manager's rate controls: `concurrency` hosts at once (a number or a percentage),
    /// stopping once more than `max_errors` have failed; no minimum of healthy hosts.
    pub fn rate(concurrency: Amount, max_errors: Amount) -> Self {
        Self {
            min_healthy: Amount::Hosts(0),
            batches: Vec::new(),
            concurrency: Some(concurrency),
            max_errors: Some(max_errors),
        }
    }

    /// A named configuration (`OneAtATime`, `HalfAtATime`, `AllAtOnce`, any case).
    ///
    /// # Errors
    ///
    /// Another name.
    pub fn named(name: &str) -> Result<Self, String> {
        match name.to_ascii_lowercase().as_str() {
            "oneatatime" => Ok(Self::one_at_a_time()),
            "halfatatime" => Ok(Self::half_at_a_time()),
            "allatonce" => Ok(Self::all_at_once()),
            _ => Err(format!(
                "`{name}` is not a deployment configuration: use OneAtATime, HalfAtATime or AllAtOnce"
            )),
        }
    }

    /// Parses a ramp like `1,5,20%`.
    ///
    /// # Errors
    ///
    /// A part that is not an amount, or a zero batch.
    pub fn ramp(text: &str) -> Result<Vec<Amount>, String> {
        text.split(',')
            .map(|part| {
                let amount: Amount = part.parse()?;
                if matches!(amount, Amount::Hosts(0) | Amount::Percent(0)) {
                    Err(format!("batch `{part}` would deploy to no host"))
                } else {
                    Ok(amount)
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_parse_and_round_as_codedeploy_does() {
        assert_eq!("3".parse::<Amount>().unwrap(), Amount::Hosts(3));
        assert_eq!("75%".parse::<Amount>().unwrap(), Amount::Percent(75));
        assert!("101%".parse::<Amount>().is_err());
        assert!("x".parse::<Amount>().is_err());
        assert_eq!(Amount::Percent(75).of(5, true), 4, "a minimum rounds up");
        assert_eq!(Amount::Percent(50).of(5, false), 2, "a batch rounds down");
        assert_eq!(Amount::Hosts(9).of(5, true), 5);
    }

    #[test]
    fn names_and_ramps() {
        assert_eq!(
            DeploymentConfig::named("halfAtATime").unwrap(),
            DeploymentConfig::half_at_a_time()
        );
        assert!(DeploymentConfig::named("Blue").is_err());
        assert_eq!(
            DeploymentConfig::ramp("1,5,20%").unwrap(),
            [Amount::Hosts(1), Amount::Hosts(5), Amount::Percent(20)]
        );
        assert!(DeploymentConfig::ramp("1,0").is_err());
    }

    #[test]
    fn a_configuration_is_stored_as_it_is_written() {
        let config = DeploymentConfig {
            min_healthy: Amount::Percent(75),
            batches: DeploymentConfig::ramp("1,20%").unwrap(),
            concurrency: None,
            max_errors: None,
        };
        let text = serde_json::to_string(&config).unwrap();
        assert_eq!(text, r#"{"min_healthy":"75%","batches":["1","20%"]}"#);
        let rate = DeploymentConfig::rate(Amount::Percent(50), Amount::Hosts(0));
        let rate_text = serde_json::to_string(&rate).unwrap();
        assert_eq!(
            rate_text,
            r#"{"min_healthy":"0","batches":[],"concurrency":"50%","max_errors":"0"}"#
        );
        assert_eq!(
            serde_json::from_str::<DeploymentConfig>(&rate_text).unwrap(),
            rate
        );
        assert_eq!(
            serde_json::from_str::<DeploymentConfig>(&text).unwrap(),
            config
        );
        assert!(
            serde_json::from_str::<DeploymentConfig>(r#"{"min_healthy":"x","batches":[]}"#)
                .is_err()
        );
    }
}
