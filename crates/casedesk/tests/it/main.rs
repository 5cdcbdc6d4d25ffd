//! Integration tests: HTTP against a real casedesk server on a random loopback port, each
//! run on SQLite and on PostgreSQL. One test binary, so linking happens once.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod attachments;
mod audit;
mod basics;
mod cli;
mod connections;
mod crash;
mod diagnostics;
mod durability;
mod edges;
mod email;
mod har_corpus;
mod idempotency;
mod kb;
mod lifecycle;
mod listing;
mod mail_trust;
mod oidc;
mod openapi;
mod outage;
mod permissions;
mod search;
mod secrets_at_rest;
mod signin;
mod sla;
mod sla_clocks;
mod status;
mod support_center;
mod users_admin;
mod validation;
mod web_ui;
mod web_ui_desk;
mod webhooks;
