//! The `navigation` scenario (issue 17): a browser's top-level navigation to a cookie rule of the
//! notes app (`GET /notes/`, its HTML page).
//!
//! (a) with a valid access cookie against (b) the same request authenticated by
//! `Authorization: Bearer` (the rule accepts both): edge CPU per request, alternating runs, and
//! the ratio (target ≤ 1.05×). (c) navigations that need a silent refresh (a refresh cookie and
//! no access cookie: the browser dropped it when its `Max-Age`, the token's lifetime, ran out),
//! driven one after the other by a client presenting the cookies the previous answer set, against
//! the same client's plain `POST /api/refresh` rotations in the same run.

use std::time::{Duration, Instant};

use edgeauth_core::headers::{ACCESS_COOKIE, REFRESH_COOKIE};
use edgeauth_e2e::client::{Reply, Session};
use edgeauth_e2e::stack::BoxError;
use edgeauth_e2e::Api;
use serde_json::json;

use super::{percentile, Bench, Runs, PROFILE_RUNS, REFERENCE_WARM_UP};
use crate::load::Traffic;
use crate::procfs::group_cpu_seconds;
use crate::report::{Bound, Ratio};

/// The notes app's page: a `"cookie": true` rule of the stack's route table (as of wrangler.toml).
const PAGE: &str = "/notes/";

/// What Chromium sends as `Accept` on a navigation.
const CHROME_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,\
                             image/avif,image/webp,image/apng,*/*;q=0.8";

/// A top-level navigation from a page of the edge's own origin (a reload, a link on the site).
const NAVIGATION: [(&str, &str); 4] = [
    ("sec-fetch-mode", "navigate"),
    ("sec-fetch-site", "same-origin"),
    ("sec-fetch-dest", "document"),
    ("accept", CHROME_ACCEPT),
];

/// Silent-refresh navigations (and as many API rotations) per block; blocks alternate.
const ROTATIONS_PER_BLOCK: usize = 300;

/// One sequential chain's figures.
struct Chain {
    latencies: Vec<Duration>,
    elapsed: Duration,
    /// Edge (workerd) CPU seconds, and origin + bridge + Redis CPU seconds, over the chain.
    edge_cpu: f64,
    operator_cpu: f64,
}

impl Chain {
    fn new() -> Self {
        Self {
            latencies: Vec::new(),
            elapsed: Duration::ZERO,
            edge_cpu: 0.0,
            operator_cpu: 0.0,
        }
    }

    fn count(&self) -> f64 {
        self.latencies.len().max(1) as f64
    }

    fn edge_ms(&self) -> f64 {
        self.edge_cpu * 1000.0 / self.count()
    }

    fn operator_ms(&self) -> f64 {
        self.operator_cpu * 1000.0 / self.count()
    }

    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    fn summary(&self) -> String {
        format!(
            "{:.0}/s, p50 {:.1} ms, p99 {:.1} ms; edge CPU {:.3} ms, origin + bridge + Redis {:.3} ms per request",
            self.rate(),
            percentile(&self.latencies, 50.0),
            percentile(&self.latencies, 99.0),
            self.edge_ms(),
            self.operator_ms()
        )
    }

    fn json(&self) -> serde_json::Value {
        json!({
            "requests": self.latencies.len(),
            "per_second": self.rate(),
            "p50_ms": percentile(&self.latencies, 50.0),
            "p99_ms": percentile(&self.latencies, 99.0),
            "max_ms": percentile(&self.latencies, 100.0),
            "edge_cpu_ms_per_request": self.edge_ms(),
            "operator_cpu_ms_per_request": self.operator_ms(),
        })
    }
}

/// The value the response's `Set-Cookie` gives the cookie `name`, if it sets one.
fn set_cookie(reply: &Reply, name: &str) -> Option<String> {
    reply.set_cookies().into_iter().find_map(|c| {
        let rest = c.strip_prefix(name)?.strip_prefix('=')?;
        Some(rest.split(';').next().unwrap_or("").to_owned())
    })
}

impl Bench<'_> {
    pub(super) fn navigation(&mut self) -> Result<(), BoxError> {
        self.navigation_with_access_cookie()?;
        self.navigation_with_silent_refresh()
    }

    /// A browser-like client of the edge: redirects shown, not followed; the API client's
    /// address.
    fn browser(&self) -> Result<reqwest::Client, BoxError> {
        let mut headers = reqwest::header::HeaderMap::new();
        headers.insert("cf-connecting-ip", self.api.client_ip.parse()?);
        Ok(reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .default_headers(headers)
            .build()?)
    }

    async fn navigate(
        &self,
        http: &reqwest::Client,
        extra: &[(&str, &str)],
    ) -> Result<Reply, BoxError> {
        let mut request = http.get(format!("{}{PAGE}", self.stack.edge));
        for (name, value) in NAVIGATION.iter().chain(extra) {
            request = request.header(*name, *value);
        }
        Api::read(request.send().await?).await
    }

    /// The page as the session's user, answered by the app (not a redirect or the bounce page).
    fn expect_page(reply: &Reply, session: &Session, what: &str) -> Result<(), BoxError> {
        let html = reply
            .header("content-type")
            .is_some_and(|t| t.starts_with("text/html"));
        if reply.status != 200 || !html || !reply.text.contains(&session.user.username) {
            return Err(format!(
                "{what}: {} {:?}, not the notes page of {}: {}",
                reply.status,
                reply.header("content-type"),
                session.user.username,
                reply.text
            )
            .into());
        }
        Ok(())
    }

    /// (a) against (b): [`PROFILE_RUNS`] alternating runs each after a warm-up of both.
    fn navigation_with_access_cookie(&mut self) -> Result<(), BoxError> {
        self.log(&format!(
            "navigation GET {PAGE}: access cookie vs Bearer ({PROFILE_RUNS} alternating runs each)"
        ));
        let session = self.runtime.block_on(self.api.new_session())?;
        let cookie = format!("{ACCESS_COOKIE}={}", session.access);
        let bearer = format!("Bearer {}", session.access);
        let http = self.browser()?;
        self.runtime.block_on(async {
            let by_cookie = self.navigate(&http, &[("cookie", &cookie)]).await?;
            Self::expect_page(&by_cookie, &session, "navigation with the access cookie")?;
            if !by_cookie.set_cookies().is_empty() {
                return Err::<_, BoxError>(
                    format!(
                        "a valid access cookie must not refresh: {:?}",
                        by_cookie.set_cookies()
                    )
                    .into(),
                );
            }
            let by_bearer = self.navigate(&http, &[("authorization", &bearer)]).await?;
            Self::expect_page(&by_bearer, &session, "the same request with Bearer")
        })?;
        // The same header lines but the credential: the edge's only difference is where the
        // token comes from (a navigation never carries Bearer; this isolates the cookie's cost).
        let lines = |credential: String| -> Vec<String> {
            NAVIGATION
                .iter()
                .map(|(name, value)| format!("{name}: {value}"))
                .chain([credential])
                .collect()
        };
        let cookie_lines = lines(format!("cookie: {cookie}"));
        let bearer_lines = lines(format!("authorization: {bearer}"));
        let url = format!("{}{PAGE}", self.stack.edge);
        let workerd = self.pid("workerd")?;
        for headers in [&cookie_lines, &bearer_lines] {
            let mut warm = self.load(&url, Traffic::GetWithHeaders { headers });
            warm.duration = REFERENCE_WARM_UP;
            self.load_generators.run(&warm)?;
        }
        let (mut by_cookie, mut by_bearer) = (Vec::new(), Vec::new());
        for _ in 0..PROFILE_RUNS {
            let traffic = Traffic::GetWithHeaders {
                headers: &cookie_lines,
            };
            by_cookie.push(self.measure(&self.load(&url, traffic), workerd)?);
            let traffic = Traffic::GetWithHeaders {
                headers: &bearer_lines,
            };
            by_bearer.push(self.measure(&self.load(&url, traffic), workerd)?);
        }
        let (by_cookie, by_bearer) = (Runs(by_cookie), Runs(by_bearer));
        let (cookie_ms, bearer_ms) = (
            by_cookie.median(|m| m.cpu_ms),
            by_bearer.median(|m| m.cpu_ms),
        );
        let ratio = cookie_ms / bearer_ms;
        self.report.check(
            &format!(
                "navigation GET {PAGE} with the access cookie: edge CPU vs the same request with \
                 Bearer, median of {PROFILE_RUNS} alternating runs"
            ),
            format!(
                "{cookie_ms:.3} ms vs {bearer_ms:.3} ms = {ratio:.3}× (runs: {} vs {} ms)",
                by_cookie.each(|m| m.cpu_ms, 3),
                by_bearer.each(|m| m.cpu_ms, 3)
            ),
            "≤ 1.05×, no errors",
            ratio <= 1.05 && by_cookie.errors() == 0 && by_bearer.errors() == 0,
        );
        self.report.info(
            &format!("navigation GET {PAGE} with the access cookie, 32 conns"),
            by_cookie.latency_summary(),
        );
        self.report.info(
            &format!("the same GET {PAGE} with Bearer, 32 conns"),
            by_bearer.latency_summary(),
        );
        self.report.ratio(Ratio {
            name: format!("navigation edge CPU, access cookie ÷ Bearer (GET {PAGE})"),
            value: ratio,
            figures: (cookie_ms, bearer_ms),
            edgeauth: format!("cookie {cookie_ms:.3} ms"),
            other: format!("Bearer {bearer_ms:.3} ms"),
            target: Some(Bound::AtMost(1.05)),
        });
        self.report.record(
            "navigation_access_cookie",
            json!({
                "path": PAGE,
                "cookie": by_cookie.json(),
                "bearer": by_bearer.json(),
                "edge_cpu_ratio_cookie_over_bearer": ratio,
            }),
        );
        Ok(())
    }

    /// (c): blocks of [`ROTATIONS_PER_BLOCK`] silent-refresh navigations and as many
    /// `POST /api/refresh` rotations, alternating, by one keep-alive client; every answer must
    /// be the page with both cookies replaced (or the rotation's 200).
    fn navigation_with_silent_refresh(&mut self) -> Result<(), BoxError> {
        self.log(&format!(
            "navigation GET {PAGE} needing a silent refresh vs POST /api/refresh, \
             {PROFILE_RUNS} alternating blocks of {ROTATIONS_PER_BLOCK} sequential requests"
        ));
        let session = self.runtime.block_on(self.api.new_session())?;
        // Its own session for the API chain: each chain consumes its own refresh tokens.
        let api_session = self.runtime.block_on(self.api.sign_in(&session.user))?;
        let http = self.browser()?;
        let workerd = self.pid("workerd")?;
        let operator = || -> Result<f64, BoxError> {
            Ok(self.cpu_of_services()?.iter().map(|(_, s)| s).sum())
        };
        let (mut navigations, mut rotations) = (Chain::new(), Chain::new());
        let mut refresh_cookie = session.refresh.clone();
        let mut refresh_token = api_session.refresh.clone();
        // One untimed round of each first (connections, JIT tiers of the refresh path).
        for block in 0..=PROFILE_RUNS {
            let warm_up = block == 0;
            let rounds = if warm_up { 50 } else { ROTATIONS_PER_BLOCK };
            let (edge_before, operator_before) = (group_cpu_seconds(workerd)?, operator()?);
            let started = Instant::now();
            let latencies = self.runtime.block_on(async {
                let mut latencies = Vec::with_capacity(rounds);
                for i in 0..rounds {
                    let cookie = format!("{REFRESH_COOKIE}={refresh_cookie}");
                    let t0 = Instant::now();
                    let reply = self.navigate(&http, &[("cookie", &cookie)]).await?;
                    latencies.push(t0.elapsed());
                    Self::expect_page(&reply, &session, &format!("silent refresh {i}"))?;
                    let (Some(rt), Some(at)) = (
                        set_cookie(&reply, REFRESH_COOKIE),
                        set_cookie(&reply, ACCESS_COOKIE),
                    ) else {
                        return Err::<_, BoxError>(
                            format!("silent refresh {i} set {:?}", reply.set_cookies()).into(),
                        );
                    };
                    if rt.is_empty() || at.is_empty() || rt == refresh_cookie {
                        return Err(format!("silent refresh {i}: rt {rt:?}, at {at:?}").into());
                    }
                    refresh_cookie = rt;
                }
                Ok(latencies)
            })?;
            let elapsed = started.elapsed();
            let (edge_after, operator_after) = (group_cpu_seconds(workerd)?, operator()?);
            if !warm_up {
                navigations.latencies.extend(latencies);
                navigations.elapsed += elapsed;
                navigations.edge_cpu += edge_after - edge_before;
                navigations.operator_cpu += operator_after - operator_before;
            }

            let (edge_before, operator_before) = (group_cpu_seconds(workerd)?, operator()?);
            let started = Instant::now();
            let latencies = self.runtime.block_on(async {
                let mut latencies = Vec::with_capacity(rounds);
                for i in 0..rounds {
                    let t0 = Instant::now();
                    let reply = self.api.refresh(&refresh_token).await?;
                    latencies.push(t0.elapsed());
                    match reply.body["refresh_token"].as_str() {
                        Some(next) if reply.status == 200 => refresh_token = next.to_owned(),
                        _ => {
                            return Err::<_, BoxError>(
                                format!("rotation {i}: {} {}", reply.status, reply.text).into(),
                            )
                        }
                    }
                }
                Ok(latencies)
            })?;
            let elapsed = started.elapsed();
            let (edge_after, operator_after) = (group_cpu_seconds(workerd)?, operator()?);
            if !warm_up {
                rotations.latencies.extend(latencies);
                rotations.elapsed += elapsed;
                rotations.edge_cpu += edge_after - edge_before;
                rotations.operator_cpu += operator_after - operator_before;
            }
        }
        self.report.info(
            &format!(
                "navigation GET {PAGE} needing a silent refresh (refresh cookie, no access \
                 cookie), {} sequential",
                navigations.latencies.len()
            ),
            navigations.summary(),
        );
        self.report.info(
            &format!(
                "POST /api/refresh by the same client, same run, {} sequential",
                rotations.latencies.len()
            ),
            rotations.summary(),
        );
        self.report.ratio(Ratio {
            name: format!(
                "edge CPU: navigation needing a silent refresh (GET {PAGE}) ÷ POST /api/refresh"
            ),
            value: navigations.edge_ms() / rotations.edge_ms(),
            figures: (navigations.edge_ms(), rotations.edge_ms()),
            edgeauth: format!("navigation {:.3} ms", navigations.edge_ms()),
            other: format!("refresh {:.3} ms", rotations.edge_ms()),
            target: None,
        });
        self.report.record(
            "navigation_silent_refresh",
            json!({
                "path": PAGE,
                "navigation": navigations.json(),
                "api_refresh": rotations.json(),
                "edge_cpu_ratio_navigation_over_api_refresh":
                    navigations.edge_ms() / rotations.edge_ms(),
            }),
        );
        Ok(())
    }
}
