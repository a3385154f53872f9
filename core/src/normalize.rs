//! STUB — replaced by the crypto work. Folding identifying values for blind-index search.

pub fn name_tokens(_name: &str) -> Vec<String> {
    todo!()
}

pub fn phone(_raw: &str) -> Option<String> {
    todo!()
}

pub fn document_number(_raw: &str) -> Option<String> {
    todo!()
}
