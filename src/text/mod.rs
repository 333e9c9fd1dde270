//! Text handling between the caller and the tokenizer: placeholder protection (`protect`).
//! Sentence splitting belongs here too when it arrives.

pub mod protect;
