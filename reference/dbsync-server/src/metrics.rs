//! What operators measure: the metric families of a server and their
//! recording, in the Prometheus text format (version 0.0.4) through the
//! Prometheus organisation's client (`prometheus-client`).
//!
//! Every label has a bounded set of values: endpoints are the five routes
//! and `unknown` (any other path, whatever it was), statuses the ones the
//! server answers, codes the protocol's error codes (spec §17.2) and
//! `none`, reasons the five limits below. No node id, path or other value
//! a client chooses is ever a label.
//!
//! | family | type | labels |
//! |---|---|---|
//! | `dbsync_requests_total` | counter | `endpoint`, `status`, `code` |
//! | `dbsync_request_duration_seconds` | histogram | `endpoint` |
//! | `dbsync_request_bytes_total` | counter | `endpoint` |
//! | `dbsync_response_bytes_total` | counter | `endpoint` |
//! | `dbsync_open_connections` | gauge | |
//! | `dbsync_limit_rejections_total` | counter | `reason` |
//! | `dbsync_latest_version` | gauge | |
//! | `dbsync_registered_nodes` | gauge | |
//! | `dbsync_stale_nodes` | gauge | |
//!
//! The last three are read from the store at each scrape
//! ([`Metrics::set_census`]).

use dbsync_core::ErrorCode;
use dbsync_engine::{Census, Endpoint};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};
use std::time::Duration;

/// The content type of [`Metrics::encode`]'s text.
pub const CONTENT_TYPE: &str = prometheus_client::encoding::prometheus_text::CONTENT_TYPE;

/// A duration histogram: buckets from 1 ms, doubling, to 32.8 s.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 16))
}

/// The labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    endpoint: &'static str,
    status: u16,
    code: &'static str,
}

/// The label of the per-endpoint families.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EndpointLabel {
    endpoint: &'static str,
}

/// The label of a limit's rejections.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

/// The limits whose rejections are counted, by their `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// A body above the body limit (413 `body_too_large`).
    BodyTooLarge,
    /// A body not read within the body read timeout (408 `request_timeout`).
    RequestTimeout,
    /// A request head not read within the header read timeout (408, then
    /// the connection is closed).
    HeaderTimeout,
    /// A client that read nothing of its answer for the write timeout
    /// (the connection is closed).
    WriteTimeout,
    /// `max_connections` connections open: the server stopped accepting
    /// until one ended (counted once each time it reaches the cap).
    ConnectionCap,
}

impl Limit {
    /// Every limit, in the order of the documentation.
    pub const ALL: [Limit; 5] = [
        Limit::BodyTooLarge,
        Limit::RequestTimeout,
        Limit::HeaderTimeout,
        Limit::WriteTimeout,
        Limit::ConnectionCap,
    ];

    /// Its `reason` label.
    pub fn reason(self) -> &'static str {
        match self {
            Limit::BodyTooLarge => "body_too_large",
            Limit::RequestTimeout => "request_timeout",
            Limit::HeaderTimeout => "header_timeout",
            Limit::WriteTimeout => "write_timeout",
            Limit::ConnectionCap => "connection_cap",
        }
    }

    /// The limit an error code of an answer stands for, if any.
    fn of_code(code: ErrorCode) -> Option<Limit> {
        match code {
            ErrorCode::BodyTooLarge => Some(Limit::BodyTooLarge),
            ErrorCode::RequestTimeout => Some(Limit::RequestTimeout),
            _ => None,
        }
    }
}

/// The `endpoint` label of a request: its route's name, or `unknown`
/// for a path no route serves.
pub fn endpoint_label(endpoint: Option<Endpoint>) -> &'static str {
    // The route's last segment: `/v1/push` is `push`.
    endpoint.map_or("unknown", |e| {
        let path = crate::http::path_of(e);
        path.rsplit('/').next().unwrap_or(path)
    })
}

/// One answered request, as the metrics and the request log see it.
#[derive(Debug, Clone, Copy)]
pub struct Exchange {
    /// The endpoint its path named (`None`: no route).
    pub endpoint: Option<Endpoint>,
    /// The HTTP status of the answer.
    pub status: u16,
    /// The error code of the answer, if it is an error.
    pub code: Option<ErrorCode>,
    /// From the request's arrival to its answer made.
    pub duration: Duration,
    /// The request body's bytes read (0 when it was refused unread).
    pub bytes_in: u64,
    /// The answer body's bytes.
    pub bytes_out: u64,
}

/// A server's metrics ([`crate::Server::metrics`]): the families and
/// their registry. Recording is lock-free but for the first use of a
/// label set.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    durations: Family<EndpointLabel, Histogram>,
    request_bytes: Family<EndpointLabel, Counter>,
    response_bytes: Family<EndpointLabel, Counter>,
    open_connections: Gauge,
    limit_rejections: Family<ReasonLabel, Counter>,
    latest_version: Gauge,
    registered_nodes: Gauge,
    stale_nodes: Gauge,
}

impl Metrics {
    /// Every family registered, each limit's count at 0.
    pub fn new() -> Metrics {
        let mut m = Metrics {
            registry: Registry::with_prefix("dbsync"),
            requests: Family::default(),
            durations: Family::new_with_constructor(duration_histogram as fn() -> Histogram),
            request_bytes: Family::default(),
            response_bytes: Family::default(),
            open_connections: Gauge::default(),
            limit_rejections: Family::default(),
            latest_version: Gauge::default(),
            registered_nodes: Gauge::default(),
            stale_nodes: Gauge::default(),
        };
        for limit in Limit::ALL {
            m.count_limit(limit, 0);
        }
        m.register();
        m
    }

    fn register(&mut self) {
        let r = &mut self.registry;
        r.register(
            "requests",
            "Requests answered, by endpoint, HTTP status and error code (none: success)",
            self.requests.clone(),
        );
        r.register_with_unit(
            "request_duration",
            "Time from a request's arrival to its answer, by endpoint",
            Unit::Seconds,
            self.durations.clone(),
        );
        r.register_with_unit(
            "request",
            "Request body bytes read, by endpoint",
            Unit::Bytes,
            self.request_bytes.clone(),
        );
        r.register_with_unit(
            "response",
            "Answer body bytes sent, by endpoint",
            Unit::Bytes,
            self.response_bytes.clone(),
        );
        r.register(
            "open_connections",
            "Connections open now",
            self.open_connections.clone(),
        );
        r.register(
            "limit_rejections",
            "Requests or connections refused or cut by a limit, by reason",
            self.limit_rejections.clone(),
        );
        r.register(
            "latest_version",
            "The latest version of the history",
            self.latest_version.clone(),
        );
        r.register(
            "registered_nodes",
            "Registered nodes, stale ones included",
            self.registered_nodes.clone(),
        );
        r.register(
            "stale_nodes",
            "Registered nodes that are stale (unseen too long, must repair)",
            self.stale_nodes.clone(),
        );
    }

    /// Records one answered request.
    pub fn record(&self, exchange: &Exchange) {
        let endpoint = endpoint_label(exchange.endpoint);
        let code = exchange.code.map_or("none", ErrorCode::as_str);
        let status = exchange.status;
        self.requests
            .get_or_create(&RequestLabels {
                endpoint,
                status,
                code,
            })
            .inc();
        let label = EndpointLabel { endpoint };
        self.durations
            .get_or_create(&label)
            .observe(exchange.duration.as_secs_f64());
        self.request_bytes
            .get_or_create(&label)
            .inc_by(exchange.bytes_in);
        self.response_bytes
            .get_or_create(&label)
            .inc_by(exchange.bytes_out);
        if let Some(limit) = exchange.code.and_then(Limit::of_code) {
            self.count_limit(limit, 1);
        }
    }

    /// Counts `n` rejections for `limit`.
    pub fn count_limit(&self, limit: Limit, n: u64) {
        self.limit_rejections
            .get_or_create(&ReasonLabel {
                reason: limit.reason(),
            })
            .inc_by(n);
    }

    /// The counter of `limit`'s rejections (for a connection's write
    /// timeout, which counts where it fires).
    pub(crate) fn limit_counter(&self, limit: Limit) -> Counter {
        self.limit_rejections.get_or_create_owned(&ReasonLabel {
            reason: limit.reason(),
        })
    }

    /// Counts a connection as open until the returned guard is dropped.
    pub(crate) fn connection_opened(&self) -> OpenConnection {
        self.open_connections.inc();
        OpenConnection(self.open_connections.clone())
    }

    /// Sets the gauges read from the store.
    pub fn set_census(&self, census: &Census) {
        let gauge = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
        self.latest_version.set(gauge(census.latest_version));
        self.registered_nodes.set(gauge(census.nodes.registered));
        self.stale_nodes.set(gauge(census.nodes.stale));
    }

    /// Every family in the Prometheus text format ([`CONTENT_TYPE`]).
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::prometheus_text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics::new()
    }
}

/// An open connection's place in `dbsync_open_connections`: given back
/// when dropped, however the connection ends.
pub(crate) struct OpenConnection(Gauge);

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.0.dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fresh_registry_shows_every_limit_at_zero_and_the_gauges() {
        let text = Metrics::new().encode();
        for limit in Limit::ALL {
            let line = format!(
                "dbsync_limit_rejections_total{{reason=\"{}\"}} 0",
                limit.reason()
            );
            assert!(text.contains(&line), "{line} missing from\n{text}");
        }
        for gauge in [
            "latest_version",
            "registered_nodes",
            "stale_nodes",
            "open_connections",
        ] {
            assert!(
                text.contains(&format!("\ndbsync_{gauge} 0\n")),
                "{gauge}: {text}"
            );
        }
    }

    #[test]
    fn a_request_is_counted_under_its_endpoint_status_and_code() {
        let m = Metrics::new();
        m.record(&Exchange {
            endpoint: None,
            status: 413,
            code: Some(ErrorCode::BodyTooLarge),
            duration: Duration::from_millis(3),
            bytes_in: 0,
            bytes_out: 120,
        });
        let text = m.encode();
        assert!(text.contains(
            "dbsync_requests_total{endpoint=\"unknown\",status=\"413\",code=\"body_too_large\"} 1"
        ));
        assert!(text.contains("dbsync_limit_rejections_total{reason=\"body_too_large\"} 1"));
        assert!(text.contains("dbsync_response_bytes_total{endpoint=\"unknown\"} 120"));
        assert!(text.contains("dbsync_request_duration_seconds_count{endpoint=\"unknown\"} 1"));
    }
}
