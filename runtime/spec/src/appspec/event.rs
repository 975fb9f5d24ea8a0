//! CodeDeploy lifecycle events.

use std::fmt;

/// A lifecycle event of an EC2/on-premises CodeDeploy deployment, or a custom one.
///
/// Ordered as an in-place deployment runs them, then the traffic events, then custom events by
/// name.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Event {
    /// `ApplicationStop`.
    ApplicationStop,
    /// `DownloadBundle` (run by the agent; no hooks).
    DownloadBundle,
    /// `BeforeInstall`.
    BeforeInstall,
    /// `Install` (run by the agent; no hooks).
    Install,
    /// `AfterInstall`.
    AfterInstall,
    /// `ApplicationStart`.
    ApplicationStart,
    /// `ValidateService`.
    ValidateService,
    /// `BeforeBlockTraffic`.
    BeforeBlockTraffic,
    /// `AfterBlockTraffic`.
    AfterBlockTraffic,
    /// `BeforeAllowTraffic`.
    BeforeAllowTraffic,
    /// `AfterAllowTraffic`.
    AfterAllowTraffic,
    /// Any other name; CodeDeploy runs these only when a deployment asks for them.
    Custom(String),
}

impl Event {
    /// The events of an in-place deployment, in the order they run.
    pub const IN_PLACE_ORDER: [Event; 7] = [
        Event::ApplicationStop,
        Event::DownloadBundle,
        Event::BeforeInstall,
        Event::Install,
        Event::AfterInstall,
        Event::ApplicationStart,
        Event::ValidateService,
    ];

    /// Every event CodeDeploy defines for EC2/on-premises deployments, in the order the
    /// CodeDeploy agent runs them: the traffic is blocked before ApplicationStop and allowed
    /// after ValidateService.
    pub const KNOWN: [Event; 11] = [
        Event::BeforeBlockTraffic,
        Event::AfterBlockTraffic,
        Event::ApplicationStop,
        Event::DownloadBundle,
        Event::BeforeInstall,
        Event::Install,
        Event::AfterInstall,
        Event::ApplicationStart,
        Event::ValidateService,
        Event::BeforeAllowTraffic,
        Event::AfterAllowTraffic,
    ];

    /// The event called `name`: a known event spelled exactly, or a custom one.
    ///
    /// ```
    /// use davit_spec::Event;
    ///
    /// assert_eq!(Event::parse("AfterInstall"), Ok(Event::AfterInstall));
    /// assert_eq!(Event::parse("CustomEvent"), Ok(Event::Custom("CustomEvent".into())));
    /// assert!(Event::parse("AfterInstal").is_err());
    /// assert!(Event::parse("afterinstall").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`UnknownEvent`] for a name that is not an identifier (letters, digits, `_`, `-`,
    /// starting with a letter), or that is within two edits (ignoring case) of a known event
    /// without being it: a custom event that close to a real one is almost always a typo.
    pub fn parse(name: &str) -> Result<Event, UnknownEvent> {
        if let Some(known) = Self::KNOWN.iter().find(|e| e.name() == name) {
            return Ok(known.clone());
        }
        let lower = name.to_ascii_lowercase();
        let suggestion = Self::KNOWN
            .iter()
            .map(|e| (edit_distance(&lower, &e.name().to_ascii_lowercase()), e))
            .filter(|(d, _)| *d <= 2)
            .min_by_key(|(d, _)| *d)
            .map(|(_, e)| e.clone());
        let identifier = name.starts_with(|c: char| c.is_ascii_alphabetic())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if identifier && suggestion.is_none() {
            Ok(Event::Custom(name.to_owned()))
        } else {
            Err(UnknownEvent {
                name: name.to_owned(),
                suggestion,
            })
        }
    }

    /// The name as CodeDeploy spells it.
    pub fn name(&self) -> &str {
        match self {
            Event::ApplicationStop => "ApplicationStop",
            Event::DownloadBundle => "DownloadBundle",
            Event::BeforeInstall => "BeforeInstall",
            Event::Install => "Install",
            Event::AfterInstall => "AfterInstall",
            Event::ApplicationStart => "ApplicationStart",
            Event::ValidateService => "ValidateService",
            Event::BeforeBlockTraffic => "BeforeBlockTraffic",
            Event::AfterBlockTraffic => "AfterBlockTraffic",
            Event::BeforeAllowTraffic => "BeforeAllowTraffic",
            Event::AfterAllowTraffic => "AfterAllowTraffic",
            Event::Custom(name) => name,
        }
    }

    /// Whether an appspec may attach hooks to this event (not `DownloadBundle` or `Install`,
    /// which the agent performs itself).
    pub fn is_scriptable(&self) -> bool {
        !matches!(self, Event::DownloadBundle | Event::Install)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An event name [`Event::parse`] refuses.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown event `{name}`{}", suggestion.as_ref().map(|s| format!(", did you mean `{s}`")).unwrap_or_default())]
pub struct UnknownEvent {
    /// The name as written.
    pub name: String,
    /// The known event it most resembles.
    pub suggestion: Option<Event>,
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(row[j + 1] + 1);
        }
    }
    row[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_known_events() {
        for e in Event::KNOWN {
            assert_eq!(Event::parse(&e.to_string()), Ok(e));
        }
    }

    #[test]
    fn typos_are_caught_custom_names_are_kept() {
        let err = Event::parse("BeforeInstal").unwrap_err();
        assert_eq!(err.suggestion, Some(Event::BeforeInstall));
        assert_eq!(
            err.to_string(),
            "unknown event `BeforeInstal`, did you mean `BeforeInstall`"
        );
        assert!(Event::parse("validateservice").is_err());
        assert!(Event::parse("After Install").is_err());
        let odd = Event::parse("my event!").unwrap_err();
        assert_eq!(odd.to_string(), "unknown event `my event!`");
        assert_eq!(
            Event::parse("Smoke-Test_2"),
            Ok(Event::Custom("Smoke-Test_2".into()))
        );
    }

    #[test]
    fn order_and_scriptable() {
        assert!(Event::ApplicationStop < Event::BeforeInstall);
        assert!(Event::ValidateService < Event::Custom("A".into()));
        assert!(!Event::Install.is_scriptable());
        assert!(!Event::DownloadBundle.is_scriptable());
        assert!(Event::AfterInstall.is_scriptable());
        assert_eq!(edit_distance("kitten", "sitting"), 3);
    }
}
