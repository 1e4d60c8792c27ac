//! Words a customer reads that more than one part of the system writes: the notification of an order's new
//! status is written by the order backend when the change happens, and by the app when it finds the change
//! on catching up after an outage, and the two must read the same.

use crate::model::Status;

/// The title and message of the notification that order `number` is now in `status`; `placed` for the order
/// just placed.
pub fn status_note(placed: bool, status: Status, number: &str) -> (String, String) {
    let n = number;
    match (placed, status) {
        (true, _) => ("Order placed".into(), format!("We received your order {n}.")),
        (_, Status::Cancelled) => ("Order cancelled".into(), format!("Your order {n} was cancelled.")),
        (_, Status::Delivered) => ("Order delivered".into(), format!("Your order {n} was delivered. Enjoy!")),
        (_, Status::OutForDelivery) => ("Out for delivery".into(), format!("Your order {n} is on its way.")),
        (_, s) => (format!("Order {}", s.display()), format!("Your order {n} is now {}.", s.display())),
    }
}
