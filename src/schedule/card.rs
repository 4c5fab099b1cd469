//! Generated cards: airings that carry no media but a [`CardSpec`] (a template and its
//! texts), which playout's graphics layer draws full screen in the channel's era theme. The
//! scheduler makes them where the library has nothing that fits: an out- or in-bumper ("We'll
//! be right back", "Now back to ..."), "Coming up next", the sign-off and sign-on of a
//! channel's off-air hours and the test card between them. Because they are airings, the
//! guide, the as-run log and XMLTV see them like any other item. Pure: no I/O.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

/// The layout a card uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CardTemplate {
    /// Into a break: "We'll be right back".
    BreakOut,
    /// Out of a break: "Now back to <program>".
    BreakIn,
    /// Before the next program: "Coming up next: <program> at <time>".
    ComingUp,
    /// The station closes for the night.
    SignOff,
    /// The station opens for the day.
    SignOn,
    /// SMPTE colour bars with the call sign, while off the air (1 kHz tone).
    TestBars,
    /// A classic test card with the call sign and the time, while off the air (1 kHz tone).
    TestClassic,
    /// "Please stand by": what covers an item that cannot play.
    StandBy,
}

impl CardTemplate {
    /// Whether the channel plays the 1 kHz line-up tone under it.
    pub fn has_tone(self) -> bool {
        matches!(self, Self::TestBars | Self::TestClassic)
    }
}

/// What a generated card shows: its template and texts, fixed when it is planned.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CardSpec {
    /// Layout.
    pub template: CardTemplate,
    /// Texts, most important first: a headline, then the program title, then small print.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub lines: Vec<String>,
}

/// How a card announces a program's start: "8:30" in the channel's time zone.
pub fn clock_text(at: DateTime<Utc>, tz: Tz) -> String {
    at.with_timezone(&tz).format("%-I:%M").to_string()
}

impl CardSpec {
    /// Into a break.
    pub fn break_out(program: Option<&str>) -> Self {
        let mut lines = vec!["We'll be right back".to_owned()];
        if let Some(p) = program {
            lines.push(p.to_owned());
        }
        Self { template: CardTemplate::BreakOut, lines }
    }

    /// Back from a break to `program`.
    pub fn break_in(program: &str) -> Self {
        Self { template: CardTemplate::BreakIn, lines: vec!["Now back to".into(), program.to_owned()] }
    }

    /// "Coming up next": the program and its start (`None` while the next program is not
    /// planned yet: the card then says "Stay tuned").
    pub fn coming_up(next: Option<(&str, DateTime<Utc>)>, tz: Tz) -> Self {
        let lines = match next {
            Some((title, at)) => vec!["Coming up next".into(), title.to_owned(), format!("at {}", clock_text(at, tz))],
            None => vec!["Stay tuned".into()],
        };
        Self { template: CardTemplate::ComingUp, lines }
    }

    /// The station closes; it returns at `back`.
    pub fn sign_off(back: DateTime<Utc>, tz: Tz) -> Self {
        Self {
            template: CardTemplate::SignOff,
            lines: vec![
                "This concludes our broadcast day".into(),
                "Good night".into(),
                format!("We return at {}", back.with_timezone(&tz).format("%-I:%M %p")),
            ],
        }
    }

    /// The station opens for the day.
    pub fn sign_on() -> Self {
        Self {
            template: CardTemplate::SignOn,
            lines: vec!["Good morning".into(), "We now begin our broadcast day".into()],
        }
    }

    /// The test card between sign-off and sign-on.
    pub fn test_card(template: CardTemplate) -> Self {
        Self { template, lines: Vec::new() }
    }

    /// What covers an item that cannot play.
    pub fn stand_by() -> Self {
        Self {
            template: CardTemplate::StandBy,
            lines: vec!["Please stand by".into(), "We are experiencing technical difficulties".into()],
        }
    }

    /// The airing title the guide and the as-run log show.
    pub fn title(&self) -> String {
        match self.template {
            CardTemplate::BreakOut => "We'll Be Right Back".into(),
            CardTemplate::BreakIn => format!("Now Back To {}", self.lines.get(1).map_or("", String::as_str)),
            CardTemplate::ComingUp => match self.lines.get(1) {
                Some(t) => format!("Coming Up Next: {t}"),
                None => "Stay Tuned".into(),
            },
            CardTemplate::SignOff => "Sign Off".into(),
            CardTemplate::SignOn => "Sign On".into(),
            CardTemplate::TestBars | CardTemplate::TestClassic => "Off Air".into(),
            CardTemplate::StandBy => "Please Stand By".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn cards_say_what_the_schedule_knows() {
        let tz: Tz = "America/Chicago".parse().unwrap();
        let at = Utc.with_ymd_and_hms(2026, 11, 24, 2, 30, 0).unwrap();
        let c = CardSpec::coming_up(Some(("Taxi", at)), tz);
        assert_eq!(c.lines, ["Coming up next", "Taxi", "at 8:30"]);
        assert_eq!(c.title(), "Coming Up Next: Taxi");
        assert_eq!(CardSpec::coming_up(None, tz).title(), "Stay Tuned");
        assert_eq!(CardSpec::break_in("Cheers").title(), "Now Back To Cheers");
        let off = CardSpec::sign_off(Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(), tz);
        assert_eq!(off.lines[2], "We return at 6:00 AM");
        let json = serde_json::to_string(&off).unwrap();
        assert_eq!(serde_json::from_str::<CardSpec>(&json).unwrap(), off);
        assert!(CardTemplate::TestBars.has_tone() && !CardTemplate::SignOff.has_tone());
    }
}
