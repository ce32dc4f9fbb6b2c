//! `[train] precision`: the precision of the training step, as PyTorch Lightning names
//! it.

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// The values `train.precision` takes, as an error lists them.
const ALLOWED: &str = "\"32\", \"bf16-mixed\" or \"fp16-mixed\"";

/// The precision of the training step's forward pass. The parameters, the optimizer
/// state and the loss stay float32 in every case (fp32 master weights); scoring is
/// float32 regardless (finite differences subtract two nearly equal gradients).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Precision {
    /// `"32"` (or `32`): float32 throughout.
    #[default]
    Full,
    /// `"bf16-mixed"`: autocast to bfloat16 (convolutions, matrix products), on the CPU
    /// or CUDA; bfloat16 has float32's range, so no loss scaling.
    Bf16Mixed,
    /// `"fp16-mixed"`: autocast to float16 with a dynamic loss scaler, on CUDA only.
    Fp16Mixed,
}

impl Precision {
    /// Its name in a job file and in `summary.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Precision::Full => "32",
            Precision::Bf16Mixed => "bf16-mixed",
            Precision::Fp16Mixed => "fp16-mixed",
        }
    }

    /// Whether it is the default, `"32"` (left out of a written config).
    pub fn is_full(&self) -> bool {
        *self == Precision::Full
    }
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Precision {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Precision {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(PrecisionVisitor)
    }
}

struct PrecisionVisitor;

impl Visitor<'_> for PrecisionVisitor {
    type Value = Precision;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "train.precision: one of {ALLOWED}")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Precision, E> {
        match value {
            "32" => Ok(Precision::Full),
            "bf16-mixed" => Ok(Precision::Bf16Mixed),
            "fp16-mixed" => Ok(Precision::Fp16Mixed),
            other => Err(E::custom(format!("train.precision: \"{other}\" is not a precision; use {ALLOWED}"))),
        }
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Precision, E> {
        match value {
            32 => Ok(Precision::Full),
            other => Err(E::custom(format!("train.precision: {other} is not a precision; use {ALLOWED}"))),
        }
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Precision, E> {
        self.visit_i64(i64::try_from(value).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize, Serialize)]
    struct Train {
        precision: Precision,
    }

    fn parse(value: &str) -> Result<Precision, String> {
        toml::from_str::<Train>(&format!("precision = {value}")).map(|t| t.precision).map_err(|e| e.message().to_string())
    }

    #[test]
    fn the_three_precisions_are_read_and_written_by_name() {
        assert_eq!(parse("\"32\""), Ok(Precision::Full));
        assert_eq!(parse("32"), Ok(Precision::Full));
        assert_eq!(parse("\"bf16-mixed\""), Ok(Precision::Bf16Mixed));
        assert_eq!(parse("\"fp16-mixed\""), Ok(Precision::Fp16Mixed));
        assert_eq!(toml::to_string(&Train { precision: Precision::Bf16Mixed }).unwrap().trim(), "precision = \"bf16-mixed\"");
        assert_eq!(Precision::default(), Precision::Full);
    }

    #[test]
    fn another_value_is_refused_naming_the_key_and_the_allowed_values() {
        for (value, shown) in [("\"16\"", "\"16\""), ("\"bf16\"", "\"bf16\""), ("16", "16")] {
            let error = parse(value).unwrap_err();
            assert_eq!(error, format!("train.precision: {shown} is not a precision; use \"32\", \"bf16-mixed\" or \"fp16-mixed\""));
        }
        let error = parse("true").unwrap_err();
        assert!(error.contains("train.precision: one of \"32\", \"bf16-mixed\" or \"fp16-mixed\""), "{error}");
    }
}
