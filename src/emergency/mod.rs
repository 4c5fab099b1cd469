//! Emergency alerts: the model, storage (`emergency_alerts`), activation and expiry, and a
//! watch of the active alert that every channel follows.
