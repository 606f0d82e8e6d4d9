//! The controllers of `docs/tutorial.md`, once per framework.

pub mod actix;
pub mod axum;
pub mod warp;

/// The frameworks the example runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Framework {
    /// axum 0.8.
    Axum,
    /// actix-web 4.
    Actix,
    /// warp 0.4.
    Warp,
}

impl std::str::FromStr for Framework {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "axum" => Ok(Self::Axum),
            "actix" => Ok(Self::Actix),
            "warp" => Ok(Self::Warp),
            other => Err(format!(
                "unknown framework {other:?}: use axum, actix or warp"
            )),
        }
    }
}
