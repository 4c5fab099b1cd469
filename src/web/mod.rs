//! The configuration web page and its JSON API under `/api/`, with the admin login.
