//! Bulk import (todo).
