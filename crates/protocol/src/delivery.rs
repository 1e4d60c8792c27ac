//! A delivery in words: how far the driver is from the address, how old their last position is, when the
//! order arrives, and when its ETA moved. One source for these rules and words: the engine records what
//! changed (`Tracking::observe`), the UI words it against the same clock, and the tests read both.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::model::{Delivery, LatLng};

/// A position older than this is shown as a warning: the driver's phone may have lost its signal.
pub const STALE_AFTER: Duration = Duration::minutes(2);

/// An ETA that moves by more than this is news the timeline tells; smaller moves are the usual jitter of an
/// estimate and would only fill the timeline.
pub const ETA_MOVE: Duration = Duration::minutes(3);

/// Within this of its ETA an order is "arriving now", past it "running late".
pub const DUE_GRACE: Duration = Duration::minutes(1);

/// The ETA moves an order keeps: the latest are the ones that matter.
pub const MAX_ETA_MOVES: usize = 10;

/// Mean radius of the Earth, in metres (the IUGG's), for the great-circle distance.
const EARTH_RADIUS_M: f64 = 6_371_008.8;

/// The great-circle distance between two positions, in metres (haversine; a road is longer, and the words
/// say "away", not "to go by road").
pub fn distance_m(a: LatLng, b: LatLng) -> f64 {
    let (la1, la2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = la2 - la1;
    let dlng = (b.lng - a.lng).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + la1.cos() * la2.cos() * (dlng / 2.0).sin().powi(2);
    2.0 * EARTH_RADIUS_M * h.sqrt().min(1.0).asin()
}

/// `120 m`, `950 m`, `1.2 km`, `14 km`: metres rounded to tens below a kilometre, then one decimal below ten.
pub fn distance_text(m: f64) -> String {
    let m = m.max(0.0);
    if m < 995.0 {
        format!("{} m", ((m / 10.0).round() * 10.0) as u64)
    } else if m < 9_950.0 {
        format!("{:.1} km", m / 1000.0)
    } else {
        format!("{} km", (m / 1000.0).round() as u64)
    }
}

/// How far the driver is from the delivery address, in words; `None` without both positions.
pub fn distance_left(driver: Option<LatLng>, to: Option<LatLng>) -> Option<String> {
    Some(format!("{} from your address", distance_text(distance_m(driver?, to?))))
}

/// Whether a position can still be trusted to show where the driver is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Freshness {
    Fresh,
    Stale,
}

/// How old the driver's last position is, and whether that is too old.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PositionAge {
    pub freshness: Freshness,
    /// `Position updated just now`, `… 3 min ago`, or for a stale one a warning that says so.
    pub text: String,
}

/// The age of a position seen at `seen_at`, as of `now`. A position "from the future" (clocks that disagree)
/// reads as just now.
pub fn position_age(seen_at: DateTime<Utc>, now: DateTime<Utc>) -> PositionAge {
    let age = (now - seen_at).max(Duration::zero());
    let ago = match age.num_seconds() {
        0..=44 => "just now".to_owned(),
        s @ 45..=3599 => format!("{} min ago", (s + 30) / 60),
        s => format!("{} h {} min ago", s / 3600, (s % 3600) / 60),
    };
    if age > STALE_AFTER {
        PositionAge {
            freshness: Freshness::Stale,
            text: format!("No new position since {ago}: the driver may be out of signal, so the map may be behind."),
        }
    } else {
        PositionAge { freshness: Freshness::Fresh, text: format!("Position updated {ago}") }
    }
}

/// Where an order stands against its ETA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Eta {
    /// Still ahead: `in 12 min`, `in 1 h 05 min`.
    Ahead(String),
    /// Within [`DUE_GRACE`] of it, either side.
    Due,
    /// Past it by more than the grace: never a negative countdown.
    Late,
}

impl Eta {
    /// The ETA `eta` as of `now`.
    pub fn of(eta: DateTime<Utc>, now: DateTime<Utc>) -> Eta {
        let left = eta - now;
        if left > DUE_GRACE {
            let mins = (left.num_seconds() + 59) / 60;
            let text =
                if mins >= 60 { format!("in {} h {:02} min", mins / 60, mins % 60) } else { format!("in {mins} min") };
            Eta::Ahead(text)
        } else if left >= -DUE_GRACE {
            Eta::Due
        } else {
            Eta::Late
        }
    }

    /// The words after the time: `(in 12 min)`, `(arriving now)`, `(running late)`.
    pub fn words(&self) -> String {
        match self {
            Eta::Ahead(t) => t.clone(),
            Eta::Due => "arriving now".to_owned(),
            Eta::Late => "running late".to_owned(),
        }
    }

    /// A name for styles and tests.
    pub fn kind(&self) -> &'static str {
        match self {
            Eta::Ahead(_) => "ahead",
            Eta::Due => "due",
            Eta::Late => "late",
        }
    }
}

/// `ETA moved to 22:10`, the time in the customer's own words (the UI formats it in their time zone).
pub fn eta_moved_text(to_local_time: &str) -> String {
    format!("ETA moved to {to_local_time}")
}

/// One move of the ETA by more than [`ETA_MOVE`]: from what to what, and when the app learnt it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EtaMove {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub at: DateTime<Utc>,
}

/// What the app remembers of a delivery beyond its last state: when the driver's position was last reported,
/// and how the ETA moved. The backend sends neither (a location has no time of its own), so the engine records
/// them as changes arrive.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracking {
    /// When the current position arrived (a live update), or the order's last change when it came with a
    /// reload: the best the backend tells.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub located_at: Option<DateTime<Utc>>,
    /// Oldest first, at most [`MAX_ETA_MOVES`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub eta_moves: Vec<EtaMove>,
}

impl Tracking {
    /// Records what changed from `before` to `after`, learnt at `at`. Returns whether anything was recorded.
    pub fn observe(&mut self, before: Option<&Delivery>, after: Option<&Delivery>, at: DateTime<Utc>) -> bool {
        let was = self.clone();
        let (old_loc, new_loc) = (before.and_then(|d| d.location), after.and_then(|d| d.location));
        if new_loc.is_none() {
            self.located_at = None;
        } else if new_loc != old_loc || self.located_at.is_none() {
            self.located_at = Some(at);
        }
        let old_eta = before.and_then(|d| d.estimated_delivery);
        if let (Some(from), Some(to)) = (old_eta, after.and_then(|d| d.estimated_delivery)) {
            if (to - from).abs() > ETA_MOVE {
                self.eta_moves.push(EtaMove { from, to, at });
                let extra = self.eta_moves.len().saturating_sub(MAX_ETA_MOVES);
                self.eta_moves.drain(..extra);
            }
        }
        *self != was
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DeliveryStatus;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + s, 0).expect("a time")
    }

    fn at(lat: f64, lng: f64) -> LatLng {
        LatLng { lat, lng }
    }

    fn delivery(location: Option<LatLng>, eta: Option<DateTime<Utc>>) -> Delivery {
        Delivery { delivery_status: DeliveryStatus::InTransit, estimated_delivery: eta, driver: None, location }
    }

    #[test]
    fn distances_are_great_circle_and_read_in_metres_then_kilometres() {
        // One degree of latitude is 111.2 km everywhere; one of longitude shrinks with the cosine of latitude.
        assert!((distance_m(at(0.0, 0.0), at(1.0, 0.0)) - 111_195.0).abs() < 1.0);
        assert!((distance_m(at(60.0, 0.0), at(60.0, 1.0)) - 55_597.0).abs() < 50.0);
        // Manhattan: Union Square to Times Square, about 2.4 km as the crow flies.
        let d = distance_m(at(40.7359, -73.9911), at(40.7580, -73.9855));
        assert!((2_400.0..2_550.0).contains(&d), "{d}");
        assert_eq!(distance_m(at(40.7, -74.0), at(40.7, -74.0)), 0.0);
        // Antipodes: half the circumference, no NaN from rounding past 1.
        assert!((distance_m(at(0.0, 0.0), at(0.0, 180.0)) - 20_015_115.0).abs() < 10.0);
        let words: Vec<String> = [0.0, 4.0, 126.0, 994.0, 996.0, 1_240.0, 9_949.0, 9_951.0, 14_400.0, -3.0]
            .into_iter()
            .map(distance_text)
            .collect();
        assert_eq!(words, ["0 m", "0 m", "130 m", "990 m", "1.0 km", "1.2 km", "9.9 km", "10 km", "14 km", "0 m"]);
        assert_eq!(distance_left(Some(at(0.0, 0.0)), Some(at(0.0, 0.01))).as_deref(), Some("1.1 km from your address"));
        assert_eq!(distance_left(None, Some(at(0.0, 0.0))), None);
        assert_eq!(distance_left(Some(at(0.0, 0.0)), None), None);
    }

    #[test]
    fn a_position_turns_into_a_warning_once_stale() {
        let cases = [
            (0, Freshness::Fresh, "Position updated just now"),
            (-30, Freshness::Fresh, "Position updated just now"),
            (44, Freshness::Fresh, "Position updated just now"),
            (45, Freshness::Fresh, "Position updated 1 min ago"),
            (120, Freshness::Fresh, "Position updated 2 min ago"),
            (121, Freshness::Stale, "No new position since 2 min ago"),
            (600, Freshness::Stale, "No new position since 10 min ago"),
            (3_720, Freshness::Stale, "No new position since 1 h 2 min ago"),
        ];
        for (age, freshness, start) in cases {
            let got = position_age(t(0), t(age));
            assert_eq!(got.freshness, freshness, "{age} s");
            assert!(got.text.starts_with(start), "{age} s: {}", got.text);
        }
    }

    #[test]
    fn an_eta_counts_down_then_says_arriving_then_running_late_never_negative() {
        let eta = t(3_600);
        let words = |now: i64| Eta::of(eta, t(now)).words();
        assert_eq!(words(0), "in 1 h 00 min");
        assert_eq!(words(61), "in 59 min");
        assert_eq!(words(3_600 - 12 * 60), "in 12 min");
        assert_eq!(words(3_600 - 11 * 60 - 30), "in 12 min", "a part minute counts up, never promising early");
        assert_eq!(words(3_600 - 61), "in 2 min");
        assert_eq!(words(3_600 - 60), "arriving now");
        assert_eq!(words(3_600), "arriving now");
        assert_eq!(words(3_660), "arriving now");
        assert_eq!(words(3_661), "running late");
        assert_eq!(words(90_000), "running late");
        assert_eq!(Eta::of(eta, t(0)).kind(), "ahead");
        assert_eq!(Eta::of(eta, t(4_000)).kind(), "late");
        assert_eq!(eta_moved_text("22:10"), "ETA moved to 22:10");
    }

    #[test]
    fn the_engine_records_when_the_position_came_and_each_big_move_of_the_eta() {
        let mut tr = Tracking::default();
        let first = delivery(Some(at(40.0, -74.0)), Some(t(1_800)));
        assert!(tr.observe(None, Some(&first), t(0)));
        assert_eq!(tr.located_at, Some(t(0)));
        assert!(tr.eta_moves.is_empty(), "a first ETA is not a move");
        // The same position again (another field changed) keeps its time: it is no newer.
        let same_place = delivery(Some(at(40.0, -74.0)), Some(t(1_800 + 120)));
        assert!(!tr.observe(Some(&first), Some(&same_place), t(60)), "2 min of ETA jitter is not news");
        assert_eq!(tr.located_at, Some(t(0)));
        // Moved, with the ETA 10 min later: both recorded.
        let moved = delivery(Some(at(40.01, -74.0)), Some(t(1_800 + 720)));
        assert!(tr.observe(Some(&same_place), Some(&moved), t(90)));
        assert_eq!(tr.located_at, Some(t(90)));
        assert_eq!(tr.eta_moves, vec![EtaMove { from: t(1_920), to: t(2_520), at: t(90) }]);
        // Earlier by 4 min is news too.
        let sooner = delivery(Some(at(40.01, -74.0)), Some(t(2_520 - 240)));
        tr.observe(Some(&moved), Some(&sooner), t(100));
        assert_eq!(tr.eta_moves.last().map(|m| m.to), Some(t(2_280)));
        // No position any more: no age to show.
        tr.observe(Some(&sooner), Some(&delivery(None, None)), t(110));
        assert_eq!(tr.located_at, None);
        // Bounded: only the latest moves are kept.
        let mut tr = Tracking::default();
        for i in 0..25 {
            let (a, b) = (delivery(None, Some(t(i * 600))), delivery(None, Some(t((i + 1) * 600))));
            tr.observe(Some(&a), Some(&b), t(i));
        }
        assert_eq!(tr.eta_moves.len(), MAX_ETA_MOVES);
        assert_eq!(tr.eta_moves.last().map(|m| m.to), Some(t(25 * 600)));
    }
}
