//! XLSForm import and export (placeholder).
