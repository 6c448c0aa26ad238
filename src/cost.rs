//! What a running instance costs, from the team's own price table (`[cost]`):
//! an hourly price per machine type and per accelerator. The bot never guesses
//! a price: a machine type or GPU the table does not list makes the cost
//! unknown, and messages say which one is missing.

use crate::act::InstanceStatus;
use std::collections::BTreeMap;
use std::fmt;

/// `[cost]` as the config validated it.
#[derive(Debug, Clone, PartialEq)]
pub struct PriceTable {
    pub currency: String,
    pub machine_types: BTreeMap<String, f64>,
    pub accelerators: BTreeMap<String, f64>,
}

/// The hourly price of one instance as configured, or what the table lacks.
#[derive(Debug, Clone, PartialEq)]
pub enum Hourly {
    Known(Money),
    /// Names of the machine type or accelerators with no price.
    Unpriced(Vec<String>),
}

/// An amount in the table's currency.
#[derive(Debug, Clone, PartialEq)]
pub struct Money {
    pub amount: f64,
    pub currency: String,
}

impl Money {
    /// This hourly amount over `hours`.
    pub fn over(&self, hours: f64) -> Money {
        Money {
            amount: self.amount * hours.max(0.0),
            currency: self.currency.clone(),
        }
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.2} {}", self.amount, self.currency)
    }
}

impl PriceTable {
    /// The instance's hourly price: its machine type plus each accelerator
    /// times its count.
    pub fn hourly(&self, status: &InstanceStatus) -> Hourly {
        let mut missing = Vec::new();
        let mut amount = 0.0;
        match &status.machine_type {
            Some(m) => match self.machine_types.get(m) {
                Some(price) => amount += price,
                None => missing.push(m.clone()),
            },
            None => missing.push("its machine type (Google did not say)".into()),
        }
        for acc in &status.accelerators {
            match self.accelerators.get(&acc.kind) {
                Some(price) => amount += price * f64::from(acc.count),
                None => missing.push(acc.kind.clone()),
            }
        }
        if missing.is_empty() {
            Hourly::Known(Money {
                amount,
                currency: self.currency.clone(),
            })
        } else {
            Hourly::Unpriced(missing)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::act::{Accelerator, State};

    fn table() -> PriceTable {
        PriceTable {
            currency: "USD".into(),
            machine_types: BTreeMap::from([("n1-standard-8".into(), 0.38)]),
            accelerators: BTreeMap::from([("NVIDIA_TESLA_T4".into(), 0.35)]),
        }
    }

    fn status(machine: Option<&str>, gpus: &[(&str, u32)]) -> InstanceStatus {
        InstanceStatus {
            machine_type: machine.map(str::to_owned),
            accelerators: gpus
                .iter()
                .map(|(k, n)| Accelerator {
                    kind: (*k).into(),
                    count: *n,
                })
                .collect(),
            ..InstanceStatus::bare(State::Active)
        }
    }

    #[test]
    fn a_machine_and_its_gpus_add_up() {
        let Hourly::Known(m) =
            table().hourly(&status(Some("n1-standard-8"), &[("NVIDIA_TESLA_T4", 2)]))
        else {
            panic!("priced")
        };
        assert!((m.amount - 1.08).abs() < 1e-9);
        assert_eq!(m.to_string(), "1.08 USD");
        assert_eq!(m.over(2.5).to_string(), "2.70 USD");
    }

    #[test]
    fn anything_unlisted_makes_the_cost_unknown_and_is_named() {
        assert_eq!(
            table().hourly(&status(Some("a2-highgpu-1g"), &[("NVIDIA_TESLA_A100", 1)])),
            Hourly::Unpriced(vec!["a2-highgpu-1g".into(), "NVIDIA_TESLA_A100".into()])
        );
        assert!(matches!(
            table().hourly(&status(None, &[])),
            Hourly::Unpriced(_)
        ));
    }
}
