//! Push to phones and browsers whose app has no live socket: one more reader of the change log.
//!
//! - The *tailer* reads the customer notifications committed after its durable cursor (`meta.push_cursor`),
//!   and for each whose customer has no connected socket at that moment queues one job per device in
//!   `push_outbox`, moving the cursor in the same transaction. A crash before that transaction loses nothing
//!   (the cursor did not move); after it, the jobs are on disk.
//! - One *worker* per configured service (FCM, APNs, Web Push) sends that service's due jobs, a bounded number
//!   at once, and settles each by the service's answer ([`settle`]): done, retry later (5xx and 429, honouring
//!   `Retry-After`), or the device is gone (removed). A job is removed only once settled, so a crash mid-send
//!   sends it again: at least once, and the phone shows it once, since every push of an order carries that
//!   order as its collapse key. Workers share nothing but the database, so a slow service holds up neither the
//!   others nor the sockets.

pub mod apns;
pub mod fcm;
pub mod webpush;

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use order_protocol::{PushMessage, PushPlatform};
use socketioxide::SocketIo;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::store::{OutboxJob, Settled};
use crate::AppCtx;

/// Which services push goes through, and where they are. Every endpoint can be moved (a proxy, a test
/// stand-in).
#[derive(Clone, Debug, Default)]
pub struct PushConfig {
    pub fcm: Option<fcm::FcmConfig>,
    pub apns: Option<apns::ApnsConfig>,
    pub webpush: Option<webpush::WebPushConfig>,
    /// One more trusted root certificate (PEM) for the services' TLS, for a proxy or a stand-in.
    pub extra_root: Option<PathBuf>,
    /// Sends at once per service.
    pub concurrency: usize,
    /// Accept Web Push subscriptions whose endpoint is plain `http://` (a local test receiver; real push
    /// services are all `https://`).
    pub webpush_allow_http: bool,
}

impl PushConfig {
    pub fn platforms(&self) -> Vec<PushPlatform> {
        let mut on = Vec::new();
        if self.fcm.is_some() {
            on.push(PushPlatform::Fcm);
        }
        if self.apns.is_some() {
            on.push(PushPlatform::Apns);
        }
        if self.webpush.is_some() {
            on.push(PushPlatform::Webpush);
        }
        on
    }

    /// "FCM on, APNs off, Web Push on", for the startup line.
    pub fn summary(&self) -> String {
        let on = self.platforms();
        PushPlatform::ALL
            .iter()
            .map(|p| format!("{} {}", p.service(), if on.contains(p) { "on" } else { "off" }))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Sends at once per service unless configured.
pub const DEFAULT_CONCURRENCY: usize = 64;

/// A notification older than this when the tailer reads it is not pushed: news that late only confuses.
pub const MAX_AGE: Duration = Duration::from_secs(3600);

/// Tries of one push before it is given up.
pub const MAX_ATTEMPTS: u32 = 8;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);

/// How long one request to a service may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// What a service answered to one push.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Accepted.
    Sent,
    /// Failed for now (5xx, 429, a network error): try again, after `after` if the service said.
    Retry { after: Option<Duration>, why: String },
    /// The device is no longer registered with the service: forget it.
    Gone { why: String },
    /// Refused for good (a malformed message, a payload too large): drop this push, keep the device.
    Rejected { why: String },
}

/// What to do with a job after `outcome` on its try number `attempts + 1` (pure; tested by a table).
pub fn settle(outcome: &Outcome, attempts: u32, now_ms: i64) -> Settled {
    match outcome {
        Outcome::Sent | Outcome::Rejected { .. } => Settled::Done,
        Outcome::Gone { .. } => Settled::DeviceGone,
        Outcome::Retry { .. } if attempts + 1 >= MAX_ATTEMPTS => Settled::Done,
        Outcome::Retry { after, .. } => {
            let wait = after.map_or_else(|| backoff(attempts), |a| a.min(MAX_RETRY_AFTER));
            Settled::RetryAt(now_ms + wait.as_millis() as i64)
        }
    }
}

/// 1 s after the first failure, doubling, at most 10 minutes.
fn backoff(attempts: u32) -> Duration {
    Duration::from_secs(1u64 << attempts.min(10)).min(Duration::from_secs(600))
}

/// `Retry-After` as seconds or as an HTTP date.
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or(Duration::ZERO))
}

/// The outcome of a request that got no answer.
pub fn network_error(e: &reqwest::Error) -> Outcome {
    Outcome::Retry { after: None, why: format!("no answer: {e}") }
}

/// The most of a service's answer that is read: its error bodies are a few hundred bytes.
const MAX_ANSWER: usize = 16 * 1024;

/// What a service answered to one request.
pub struct Answer {
    pub status: u16,
    pub retry_after: Option<Duration>,
    /// The body's first [`MAX_ANSWER`] bytes, as text.
    pub body: String,
}

/// Reads a service's answer (a bounded part of its body), or the outcome of getting none.
pub async fn read_answer(sent: Result<reqwest::Response, reqwest::Error>) -> Result<Answer, Outcome> {
    let mut res = sent.map_err(|e| network_error(&e))?;
    let status = res.status().as_u16();
    let retry_after = retry_after(res.headers());
    let mut body = Vec::new();
    while let Ok(Some(chunk)) = res.chunk().await {
        body.extend_from_slice(&chunk[..chunk.len().min(MAX_ANSWER - body.len())]);
        if body.len() >= MAX_ANSWER {
            break;
        }
    }
    Ok(Answer { status, retry_after, body: String::from_utf8_lossy(&body).into_owned() })
}

/// The collapse key of an order's pushes: its id when that is a plain token (ours are 24 hex digits), which
/// fits every service's limits (Web Push's `Topic`: 32 characters of base64url).
pub fn collapse_key(message: &PushMessage) -> String {
    let id = &message.order_id;
    if !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        id.clone()
    } else {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        id.hash(&mut h);
        format!("{:016x}", h.finish())
    }
}

/// An HTTP client for the services: rustls with the public roots (and the configured extra one).
pub fn http_client(extra_root: Option<&reqwest::Certificate>, http2_only: bool) -> anyhow::Result<reqwest::Client> {
    let mut builder = reqwest::Client::builder()
        .use_rustls_tls()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(5))
        .pool_max_idle_per_host(DEFAULT_CONCURRENCY);
    if let Some(root) = extra_root {
        builder = builder.add_root_certificate(root.clone());
    }
    if http2_only {
        builder = builder.http2_prior_knowledge();
    }
    builder.build().context("cannot build the HTTP client for push")
}

/// One configured service.
pub enum Sender {
    Fcm(fcm::Fcm),
    Apns(apns::Apns),
    WebPush(webpush::WebPush),
}

impl Sender {
    pub async fn send(&self, job: &OutboxJob) -> Outcome {
        match self {
            Sender::Fcm(s) => s.send(&job.address, &job.message).await,
            Sender::Apns(s) => s.send(&job.address, &job.message).await,
            Sender::WebPush(s) => s.send(&job.address, &job.message).await,
        }
    }
}

/// Counters per service, shown in `/metrics`.
#[derive(Debug, Default)]
pub struct PushCounters {
    pub sent: AtomicU64,
    pub retried: AtomicU64,
    /// Given up: refused for good, or out of tries.
    pub failed: AtomicU64,
    pub devices_removed: AtomicU64,
}

impl PushCounters {
    pub fn snapshot(&self) -> serde_json::Value {
        let n = |c: &AtomicU64| c.load(Ordering::Relaxed);
        serde_json::json!({
            "sent": n(&self.sent),
            "retried": n(&self.retried),
            "failed": n(&self.failed),
            "devicesRemoved": n(&self.devices_removed),
        })
    }
}

/// The configured push services, ready to run (see [`Push::spawn`]); `None` services are off.
pub struct Push {
    senders: Vec<(PushPlatform, Arc<Sender>)>,
    platforms: Vec<PushPlatform>,
    concurrency: usize,
}

impl Push {
    /// Reads the configured key files and makes each service's sender: a bad file stops the start with its
    /// reason.
    pub fn new(config: &PushConfig) -> anyhow::Result<Push> {
        let root = match &config.extra_root {
            Some(path) => {
                let pem =
                    std::fs::read(path).with_context(|| format!("cannot read the push CA file {}", path.display()))?;
                Some(
                    reqwest::Certificate::from_pem(&pem)
                        .with_context(|| format!("{} is not a PEM certificate", path.display()))?,
                )
            }
            None => None,
        };
        let mut senders = Vec::new();
        if let Some(c) = &config.fcm {
            senders.push((PushPlatform::Fcm, Arc::new(Sender::Fcm(fcm::Fcm::new(c, root.as_ref())?))));
        }
        if let Some(c) = &config.apns {
            senders.push((PushPlatform::Apns, Arc::new(Sender::Apns(apns::Apns::new(c, root.as_ref())?))));
        }
        if let Some(c) = &config.webpush {
            senders.push((PushPlatform::Webpush, Arc::new(Sender::WebPush(webpush::WebPush::new(c, root.as_ref())?))));
        }
        Ok(Push { senders, platforms: config.platforms(), concurrency: config.concurrency.max(1) })
    }

    /// Whether any service is configured.
    pub fn is_on(&self) -> bool {
        !self.platforms.is_empty()
    }

    /// Starts the tailer and one worker per service, until `stop`. One instance of several runs them (the
    /// `push` lease), so each push is queued once.
    pub fn spawn(
        &self,
        ctx: &AppCtx,
        io: &SocketIo,
        poll: Duration,
        stop: watch::Receiver<bool>,
    ) -> Vec<JoinHandle<()>> {
        let mut tasks = Vec::new();
        let mut bells = Vec::new();
        for (platform, sender) in &self.senders {
            let bell = Arc::new(Notify::new());
            bells.push(bell.clone());
            let worker = work(ctx.clone(), *platform, sender.clone(), bell, self.concurrency, stop.clone());
            tasks.push(tokio::spawn(worker));
        }
        if self.is_on() {
            tasks.push(tokio::spawn(tail(ctx.clone(), io.clone(), self.platforms.clone(), bells, poll, stop)));
        }
        tasks
    }
}

/// Changes read per page.
const PAGE: u32 = 500;

/// Turns committed customer notifications into outbox jobs, from the durable cursor on.
async fn tail(
    ctx: AppCtx,
    io: SocketIo,
    platforms: Vec<PushPlatform>,
    workers: Vec<Arc<Notify>>,
    poll: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let committed = ctx.store.commit_bell();
    let mut cursor = None;
    loop {
        match step(&ctx, &io, &platforms, &mut cursor).await {
            Ok(Step { queued, more }) => {
                if queued > 0 {
                    workers.iter().for_each(|w| w.notify_one());
                }
                if more {
                    continue;
                }
            }
            Err(e) => tracing::error!(error = %e, "push: cannot read or queue from the change log"),
        }
        tokio::select! {
            _ = committed.notified() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

struct Step {
    queued: u64,
    /// A full page was read: read on at once.
    more: bool,
}

async fn step(
    ctx: &AppCtx,
    io: &SocketIo,
    platforms: &[PushPlatform],
    cursor: &mut Option<u64>,
) -> crate::store::Result<Step> {
    let from = match *cursor {
        Some(c) => c,
        None => match ctx.store.push_cursor().await? {
            Some(c) => c,
            None => {
                // First run: from the log's end; what happened before push was configured is not pushed.
                let head = ctx.store.latest_seq().await?;
                ctx.store.enqueue_pushes(&[], platforms, None, head).await?;
                return Ok(Step { queued: 0, more: true });
            }
        },
    };
    let (notables, next) = ctx.store.notables_after(from, PAGE).await?;
    let more = next > from && notables.len() == PAGE as usize;
    if next == from {
        *cursor = Some(from);
        return Ok(Step { queued: 0, more: false });
    }
    let now = chrono::Utc::now();
    let pushes: Vec<(String, PushMessage)> = notables
        .into_iter()
        .filter(|n| (now - n.created_at).to_std().map_or(true, |age| age <= MAX_AGE))
        .filter(|n| io.to(order_protocol::rooms::customer(&n.customer_id)).sockets().is_empty())
        .map(|n| (n.customer_id, n.message))
        .collect();
    let Some(queued) = ctx.store.enqueue_pushes(&pushes, platforms, Some(from), next).await? else {
        // Another process on this database moved the cursor: read it again.
        *cursor = None;
        return Ok(Step { queued: 0, more: true });
    };
    *cursor = Some(next);
    ctx.metrics.push_cursor.store(next, Ordering::Relaxed);
    Ok(Step { queued, more })
}

/// Sends one service's due jobs, `concurrency` at once, until `stop`.
async fn work(
    ctx: AppCtx,
    platform: PushPlatform,
    sender: Arc<Sender>,
    bell: Arc<Notify>,
    concurrency: usize,
    mut stop: watch::Receiver<bool>,
) {
    let counters = ctx.metrics.push(platform);
    // Devices with a push on its way.
    let mut busy: HashSet<String> = HashSet::new();
    let (done, mut results) = tokio::sync::mpsc::unbounded_channel::<(OutboxJob, Outcome)>();
    loop {
        if busy.len() < concurrency {
            match ctx.store.due_pushes(platform, concurrency - busy.len(), &busy).await {
                Ok(jobs) => {
                    for job in jobs {
                        busy.insert(job.device_id.clone());
                        let (sender, done) = (sender.clone(), done.clone());
                        tokio::spawn(async move {
                            let outcome = sender.send(&job).await;
                            let _ = done.send((job, outcome));
                        });
                    }
                }
                Err(e) => tracing::error!(service = platform.service(), error = %e, "push: cannot read the outbox"),
            }
        }
        // With room to send, wake when the next retry falls due; a new job rings the bell.
        let wait = if busy.len() < concurrency {
            match ctx.store.next_push_due(platform).await {
                Ok(Some(due)) => {
                    Duration::from_millis((due - chrono::Utc::now().timestamp_millis()).clamp(1, 5000) as u64)
                }
                _ => Duration::from_secs(5),
            }
        } else {
            Duration::from_secs(5)
        };
        tokio::select! {
            Some(first) = results.recv() => {
                let mut batch = vec![first];
                while let Ok(more) = results.try_recv() {
                    batch.push(more);
                }
                let now = chrono::Utc::now().timestamp_millis();
                let settled: Vec<(OutboxJob, Settled)> = batch
                    .into_iter()
                    .map(|(job, outcome)| {
                        let what = settle(&outcome, job.attempts, now);
                        record(platform, counters, &job, &outcome, &what);
                        (job, what)
                    })
                    .collect();
                if let Err(e) = ctx.store.settle_pushes(&settled).await {
                    tracing::error!(service = platform.service(), error = %e, "push: cannot record what was sent");
                }
                for (job, _) in &settled {
                    busy.remove(&job.device_id);
                }
            }
            _ = bell.notified() => {}
            _ = tokio::time::sleep(wait) => {}
            // The guard `wait_for` returns must not live on across the other branch's awaits.
            _ = async { drop(stop.wait_for(|s| *s).await) } => return,
        }
    }
}

fn record(platform: PushPlatform, counters: &PushCounters, job: &OutboxJob, outcome: &Outcome, what: &Settled) {
    let service = platform.service();
    let add = |c: &AtomicU64| {
        c.fetch_add(1, Ordering::Relaxed);
    };
    match (outcome, what) {
        (Outcome::Sent, _) => {
            add(&counters.sent);
            tracing::debug!(service, job = job.id, seq = job.message.seq, "push sent");
        }
        (Outcome::Gone { why }, _) => {
            add(&counters.devices_removed);
            tracing::info!(service, device = %job.device_id, why, "push: device no longer registered; removed");
        }
        (Outcome::Rejected { why }, _) => {
            add(&counters.failed);
            tracing::warn!(service, job = job.id, why, "push refused");
        }
        (Outcome::Retry { why, .. }, Settled::RetryAt(_)) => {
            add(&counters.retried);
            tracing::info!(service, job = job.id, attempt = job.attempts + 1, why, "push failed; will retry");
        }
        (Outcome::Retry { why, .. }, _) => {
            add(&counters.failed);
            tracing::warn!(service, job = job.id, attempts = job.attempts + 1, why, "push given up");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_settle_a_push() {
        let retry = |after: Option<u64>| Outcome::Retry { after: after.map(Duration::from_secs), why: "x".into() };
        let cases = [
            (Outcome::Sent, 0, Settled::Done),
            (Outcome::Rejected { why: "too large".into() }, 0, Settled::Done),
            (Outcome::Gone { why: "unregistered".into() }, 3, Settled::DeviceGone),
            (retry(None), 0, Settled::RetryAt(1_000)),
            (retry(None), 3, Settled::RetryAt(8_000)),
            (retry(Some(30)), 0, Settled::RetryAt(30_000)),
            (retry(Some(86_400)), 0, Settled::RetryAt(3_600_000)),
            (retry(Some(30)), MAX_ATTEMPTS - 1, Settled::Done),
        ];
        for (outcome, attempts, want) in cases {
            assert_eq!(settle(&outcome, attempts, 0), want, "{outcome:?} after {attempts} tries");
        }
    }

    #[test]
    fn retry_after_is_seconds_or_a_date() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(reqwest::header::RETRY_AFTER, "120".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(120)));
        let later = (chrono::Utc::now() + chrono::Duration::seconds(90)).to_rfc2822();
        h.insert(reqwest::header::RETRY_AFTER, later.parse().unwrap());
        let got = retry_after(&h).unwrap();
        assert!(got > Duration::from_secs(85) && got <= Duration::from_secs(90), "{got:?}");
    }

    #[test]
    fn collapse_keys_fit_every_service() {
        let m = |id: &str| PushMessage {
            order_id: id.into(),
            order_number: "ORD-1".into(),
            status: order_protocol::Status::Confirmed,
            kind: "order_status".into(),
            title: "t".into(),
            body: "b".into(),
            seq: 1,
        };
        assert_eq!(collapse_key(&m("65a1b2c3d4e5f60718293a4b")), "65a1b2c3d4e5f60718293a4b");
        let odd = collapse_key(&m("an id/with spaces and more than thirty-two characters"));
        assert_eq!(odd.len(), 16);
        assert_eq!(odd, collapse_key(&m("an id/with spaces and more than thirty-two characters")));
    }
}
