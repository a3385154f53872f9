//! Prometheus metrics, served at `GET /metrics`.
//!
//! Labels are routes as registered (`/v1/admin/devices/{device_id}/revoke`, never the id
//! itself), methods, status codes and outcomes: nothing that identifies a person or a record.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    /// `applied`, `skipped` or `rejected`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DeviceStateLabels {
    /// `active` or `revoked`.
    pub state: String,
}

fn duration_histogram() -> Histogram {
    // 1 ms … ~33 s: a sync over 2G takes seconds, an admin call milliseconds.
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The server's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub duration: Family<RouteLabels, Histogram, fn() -> Histogram>,
    pub ops_pushed: Family<OutcomeLabels, Counter>,
    pub ops_pulled: Counter,
    pub devices: Family<DeviceStateLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics(..)")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fieldcase");
        let requests = Family::<RequestLabels, Counter>::default();
        let duration = Family::<RouteLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram,
        );
        let ops_pushed = Family::<OutcomeLabels, Counter>::default();
        let ops_pulled = Counter::default();
        let devices = Family::<DeviceStateLabels, Gauge>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route, method and status",
            requests.clone(),
        );
        registry.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by route",
            duration.clone(),
        );
        registry.register(
            "sync_ops_pushed",
            "Operations devices pushed, by outcome (applied, skipped, rejected)",
            ops_pushed.clone(),
        );
        registry.register(
            "sync_ops_pulled",
            "Operations sent to devices in pull pages",
            ops_pulled.clone(),
        );
        registry.register(
            "devices",
            "Enrolled devices, by state (active, revoked)",
            devices.clone(),
        );
        Metrics {
            registry,
            requests,
            duration,
            ops_pushed,
            ops_pulled,
            devices,
        }
    }

    pub fn observe_request(&self, route: &str, method: &str, status: u16, seconds: f64) {
        self.requests
            .get_or_create(&RequestLabels {
                route: route.to_owned(),
                method: method.to_owned(),
                status,
            })
            .inc();
        self.duration
            .get_or_create(&RouteLabels {
                route: route.to_owned(),
            })
            .observe(seconds);
    }

    pub fn observe_sync(&self, stats: &crate::sync::SyncStats) {
        for (outcome, n) in [
            ("applied", stats.applied),
            ("skipped", stats.skipped),
            ("rejected", stats.rejected),
        ] {
            self.ops_pushed
                .get_or_create(&OutcomeLabels {
                    outcome: outcome.to_owned(),
                })
                .inc_by(u64::from(n));
        }
        self.ops_pulled.inc_by(u64::from(stats.pulled));
    }

    pub fn set_devices(&self, counts: crate::storage::DeviceCounts) {
        for (state, n) in [("active", counts.active), ("revoked", counts.revoked)] {
            self.devices
                .get_or_create(&DeviceStateLabels {
                    state: state.to_owned(),
                })
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// The OpenMetrics text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)
            .expect("writing to a String cannot fail");
        out
    }
}
