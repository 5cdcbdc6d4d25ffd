//! Text for generated cases and entries, and the suggestion benchmark.
//!
//! Generated text is about a topic: one of the starter entries. About two words in three come
//! from that entry's own words, the rest from the words of the whole starter set (common ones
//! more often) and one in twenty is a rare made-up term (a product or customer name), so the
//! full-text indexes see a realistic spread: a few words in many documents, most words in few.
//! `Vocab::words` alone (no topic) draws from the whole set and gives a denser corpus, kept as
//! the harder case.
//!
//! `kb-suggest` fills a scratch database with the starter set and generated entries up to
//! `--entries`, starts an in-process server, and times `POST /api/v1/solutions/suggest` with
//! the relevance queries and generated questions.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use casedesk_core::audit::{Actor, AuditRecord};
use casedesk_core::kb::{EntryKind, EntryState, EntryText, EntryVisibility, StoredEntry};
use casedesk_core::taxonomy::DEFAULT_ISSUE_AREAS;
use serde_json::{Value, json};

use crate::Rng;

/// Words of the starter knowledge base, most frequent first, and each entry's own words.
pub struct Vocab(Vec<String>, Vec<Vec<String>>);

impl Vocab {
    /// Built from the starter entries compiled into casedesk.
    pub fn new() -> Self {
        let mut counts: HashMap<String, usize> = HashMap::new();
        let mut topics = Vec::new();
        for (_, text) in casedesk_core::kb::starter::STARTER {
            let mut own = Vec::new();
            for w in text.split(|c: char| !c.is_ascii_alphanumeric()) {
                let w = w.to_ascii_lowercase();
                if w.len() >= 3
                    && !w.chars().all(|c| c.is_ascii_digit())
                    && !casedesk_core::kb::search::is_stopword(&w)
                {
                    *counts.entry(w.clone()).or_default() += 1;
                    own.push(w);
                }
            }
            topics.push(own);
        }
        let mut words: Vec<(String, usize)> = counts.into_iter().collect();
        words.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        Self(words.into_iter().map(|(w, _)| w).collect(), topics)
    }

    /// How many distinct words.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// One word; the k-th most common about as often as 1/sqrt(k).
    pub fn word(&self, r: &mut Rng) -> &str {
        let u = (r.next() % 1_000_000) as f64 / 1_000_000.0;
        let i = ((self.0.len() as f64) * u * u) as usize;
        &self.0[i.min(self.0.len() - 1)]
    }

    /// How many topics.
    pub fn topics(&self) -> usize {
        self.1.len()
    }

    /// `min` to `min + spread - 1` words about `topic`.
    pub fn about(&self, r: &mut Rng, topic: usize, min: usize, spread: usize) -> String {
        let n = min + r.below(spread);
        let own = &self.1[topic % self.1.len()];
        (0..n)
            .map(|_| match r.below(20) {
                0 => format!("x{}", r.below(50_000)),
                1..=13 => own[r.below(own.len())].clone(),
                _ => self.word(r).to_owned(),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `min` to `min + spread - 1` words separated by spaces.
    pub fn words(&self, r: &mut Rng, min: usize, spread: usize) -> String {
        let n = min + r.below(spread);
        (0..n).map(|_| self.word(r)).collect::<Vec<_>>().join(" ")
    }
}

fn capitalised(s: String) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str(),
        None => s,
    }
}

/// Fills a scratch database with `entries` knowledge-base entries and times suggestions.
pub async fn kb_suggest(
    database_url: Option<String>,
    entries: usize,
    requests: usize,
    concurrency: usize,
) -> anyhow::Result<()> {
    let m = |e: casedesk_core::DomainError| anyhow::anyhow!("{e}");
    let dir = tempfile::tempdir()?;
    let url =
        database_url.unwrap_or_else(|| format!("sqlite://{}", dir.path().join("kb.db").display()));
    let store = casedesk_store::connect(&url).await.map_err(m)?;
    println!(
        "machine: {} cores; load {}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let started = Instant::now();
    let actor = Actor::system("bench");
    let starter = casedesk_core::kb::starter_files();
    casedesk_core::kb::import(store.as_ref(), &actor, &starter)
        .await
        .map_err(m)?;
    let vocab = Vocab::new();
    let mut rng = Rng(0x5eed_0f4b_u64);
    for i in starter.len()..entries {
        let area = DEFAULT_ISSUE_AREAS[rng.below(DEFAULT_ISSUE_AREAS.len())].0;
        let visibility = match rng.below(20) {
            0 => EntryVisibility::Internal,
            1..=3 => EntryVisibility::Customers,
            _ => EntryVisibility::Public,
        };
        let topic = rng.below(vocab.topics());
        let e = EntryText {
            id: format!("generated-{i}"),
            kind: EntryKind::Article,
            title: capitalised(vocab.about(&mut rng, topic, 5, 4)),
            summary: capitalised(vocab.about(&mut rng, topic, 18, 1)) + ".",
            body: capitalised(vocab.about(&mut rng, topic, 120, 130)) + ".",
            url: None,
            issue_areas: vec![area.to_owned()],
            tags: (0..3).map(|_| vocab.word(&mut rng).to_owned()).collect(),
            visibility,
            state: EntryState::Published,
        };
        let audit = AuditRecord::new(actor.clone(), "kb.entry.put", format!("kb:{}", e.id));
        let stored = StoredEntry {
            entry: e,
            version: 1,
            updated_at: casedesk_core::now(),
            updated_by: "bench".into(),
        };
        store.put_kb_entry(&stored, &audit).await.map_err(m)?;
    }
    println!(
        "{} entries ({} distinct words) on {} in {:.1?}",
        entries.max(starter.len()),
        vocab.len(),
        store.backend(),
        started.elapsed()
    );

    let base = crate::serve_in_process(
        store.clone(),
        Default::default(),
        casedesk_bench::mail_off(),
    )
    .await?;

    // Questions: the written relevance queries, and generated ones the length of a subject
    // plus a short description.
    let mut questions: Vec<Value> = casedesk_core::kb::search::relevance_set()
        .map_err(m)?
        .into_iter()
        .map(|j| json!({"subject": j.query, "issue_area": j.issue_area}))
        .collect();
    for _ in 0..200 {
        let area = DEFAULT_ISSUE_AREAS[rng.below(DEFAULT_ISSUE_AREAS.len())].0;
        let topic = rng.below(vocab.topics());
        questions.push(json!({
            "subject": vocab.about(&mut rng, topic, 4, 5),
            "description": vocab.about(&mut rng, topic, 15, 25),
            "issue_area": area,
        }));
    }
    let questions = Arc::new(questions);
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    // The first question builds the index; then warm the connection pool.
    let t0 = Instant::now();
    client
        .post(format!("{base}/api/v1/solutions/suggest"))
        .json(&questions[0])
        .send()
        .await?
        .error_for_status()?;
    println!(
        "first question, building the index of {} entries: {:.0} ms",
        entries.max(starter.len()),
        t0.elapsed().as_secs_f64() * 1e3
    );
    for q in questions.iter().take(50) {
        client
            .post(format!("{base}/api/v1/solutions/suggest"))
            .json(q)
            .send()
            .await?
            .error_for_status()?;
    }
    for c in [1, concurrency] {
        let per = requests / c;
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for w in 0..c {
            let (client, base, questions) = (client.clone(), base.clone(), questions.clone());
            tasks.spawn(async move {
                let mut lat = Vec::with_capacity(per);
                let mut empty = 0usize;
                for i in 0..per {
                    let q = &questions[(w * 7919 + i) % questions.len()];
                    let t0 = Instant::now();
                    let r = client
                        .post(format!("{base}/api/v1/solutions/suggest"))
                        .json(q)
                        .send()
                        .await
                        .context("send")?;
                    let v: Value = r.error_for_status()?.json().await?;
                    lat.push(t0.elapsed());
                    if v["suggestions"].as_array().is_none_or(Vec::is_empty) {
                        empty += 1;
                    }
                }
                anyhow::Ok((lat, empty))
            });
        }
        let mut lat: Vec<Duration> = Vec::new();
        let mut empty = 0;
        while let Some(r) = tasks.join_next().await {
            let (l, e) = r??;
            lat.extend(l);
            empty += e;
        }
        let elapsed = started.elapsed().as_secs_f64();
        lat.sort_unstable();
        let pct =
            |p: f64| lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)].as_secs_f64() * 1e3;
        println!(
            "{}",
            json!({"bench": "kb-suggest", "backend": store.backend(), "entries": entries, "concurrency": c,
                   "requests": lat.len(), "without_hits": empty, "per_s": lat.len() as f64 / elapsed,
                   "p50_ms": pct(0.5), "p99_ms": pct(0.99), "max_ms": pct(1.0)})
        );
    }
    Ok(())
}
