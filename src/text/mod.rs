//! Text handling between the caller and the tokenizer: sentence splitting (`sentences`) and
//! placeholder protection (`protect`).

pub mod protect;
pub mod sentences;
