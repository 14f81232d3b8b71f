//! The normalized shipment status model every provider maps into.

use crate::names::named_enum;

named_enum! {
    "snake_case";
    /// One status vocabulary for every carrier and aggregator (the union of AfterShip, EasyPost
    /// and Karrio).
    pub enum ShipmentStatus {
        Pending,
        InfoReceived,
        InTransit,
        OutForDelivery,
        AvailableForPickup,
        FailedAttempt,
        Exception,
        ReturnToSender,
        Delivered,
        Cancelled,
        Expired,
    }
}

impl ShipmentStatus {
    /// Terminal statuses are final: later events go into the history but never replace them.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Delivered | Self::ReturnToSender | Self::Cancelled
        )
    }

    /// Tie-breaker between two events stamped with the same time: the one further along the journey wins.
    pub fn milestone_rank(self) -> u8 {
        match self {
            Self::Pending => 0,
            Self::InfoReceived => 1,
            Self::Expired => 2,
            Self::InTransit => 3,
            Self::Exception => 4,
            Self::OutForDelivery => 5,
            Self::FailedAttempt => 6,
            Self::AvailableForPickup => 7,
            Self::ReturnToSender => 8,
            Self::Cancelled => 9,
            Self::Delivered => 10,
        }
    }
}

named_enum! {
    "snake_case";
    /// Why a shipment is in `exception` (or why an attempt failed).
    pub enum ExceptionReason {
        Delay,
        Customs,
        Damaged,
        Address,
        Recipient,
        Lost,
        Weather,
        Other,
    }
}

/// A provider code mapped to the normalized model: one row of a provider's mapping table.
pub type StatusRow = (&'static str, ShipmentStatus, Option<ExceptionReason>);

/// Looks a raw provider code up in its mapping table (exact match, then case-insensitive).
pub fn lookup(
    table: &[StatusRow],
    code: &str,
) -> Option<(ShipmentStatus, Option<ExceptionReason>)> {
    table
        .iter()
        .find(|(raw, _, _)| *raw == code)
        .or_else(|| {
            table
                .iter()
                .find(|(raw, _, _)| raw.eq_ignore_ascii_case(code))
        })
        .map(|(_, status, reason)| (*status, *reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_name() {
        for &status in ShipmentStatus::all() {
            assert_eq!(status.as_str().parse::<ShipmentStatus>().unwrap(), status);
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        assert!("teleported".parse::<ShipmentStatus>().is_err());
    }

    #[test]
    fn only_delivered_returned_and_cancelled_are_terminal() {
        let terminal: Vec<_> = ShipmentStatus::all()
            .iter()
            .filter(|s| s.is_terminal())
            .collect();
        assert_eq!(
            terminal,
            [
                &ShipmentStatus::ReturnToSender,
                &ShipmentStatus::Delivered,
                &ShipmentStatus::Cancelled
            ]
        );
    }

    #[test]
    fn lookup_prefers_exact_then_case_insensitive() {
        let table: &[StatusRow] = &[("InTransit", ShipmentStatus::InTransit, None)];
        assert_eq!(
            lookup(table, "intransit").unwrap().0,
            ShipmentStatus::InTransit
        );
        assert!(lookup(table, "nope").is_none());
    }
}
