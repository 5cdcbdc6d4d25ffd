//! The ranked knowledge-base index: every casedesk process keeps the published entries in an
//! in-memory tantivy index and answers suggestions from it.
//!
//! Why not the database's full-text search, as for cases: a suggestion is a long question
//! (a subject and a description) matched against every entry, and SQLite FTS5 and PostgreSQL
//! score every entry sharing a word with it. With 10,000 entries that is tens of
//! milliseconds per question; tantivy keeps only the best few while it reads (block-max
//! WAND) and answers in about a millisecond.
//!
//! Several processes: the database stays the only record. Each write to the knowledge base
//! moves a counter (`KbStore::kb_generation`); before answering, an index compares the counter
//! it was built at with the database's and rebuilds from the stored entries when they
//! differ, so every process sees a change made by any other on its next question. A rebuild
//! of 10,000 entries takes well under a second and happens only after an edit; questions
//! asked meanwhile wait for it rather than read a stale index.

use std::sync::{Arc, RwLock};

use casedesk_core::kb::search::{AREA_BOOST, KbHit, KbSearch, SolutionIndex};
use casedesk_core::kb::{EntryKind, EntryState, KbStore, StoredEntry};
use casedesk_core::{DomainError, Result};
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query, QueryParser, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions, Value,
};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Index, IndexReader, ReloadPolicy, TantivyDocument, Term, doc};

/// Candidates read before the issue-area boost picks the page.
const CANDIDATES: usize = 20;
/// Characters of a snippet.
const SNIPPET_CHARS: usize = 220;
/// Memory the index writer may use while building (tantivy's minimum is 15 MB).
const WRITER_BYTES: usize = 32_000_000;

#[derive(Clone, Copy)]
struct Fields {
    id: Field,
    kind: Field,
    url: Field,
    visibility: Field,
    areas: Field,
    title: Field,
    summary: Field,
    tags: Field,
    area_words: Field,
    body: Field,
}

struct Built {
    generation: i64,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
    // Each entry's words as the index stems them (every field), for how much of a question
    // an entry covers; and the analyzer that stems them.
    stems: std::collections::HashMap<String, std::collections::HashSet<String>>,
    analyzer: tantivy::tokenizer::TextAnalyzer,
}

/// The stems of `text` as `analyzer` cuts them.
fn stems_of(analyzer: &tantivy::tokenizer::TextAnalyzer, text: &str) -> Vec<String> {
    use tantivy::tokenizer::TokenStream;
    let mut a = analyzer.clone();
    let mut stream = a.token_stream(text);
    let mut out = Vec::new();
    while stream.advance() {
        out.push(stream.token().text.clone());
    }
    out
}

/// The in-memory index of one process (cheap to share behind an `Arc`).
#[derive(Default)]
pub struct KbIndex {
    built: RwLock<Option<Arc<Built>>>,
    rebuilding: tokio::sync::Mutex<()>,
}

fn internal(e: impl std::fmt::Display) -> DomainError {
    DomainError::Internal(format!("knowledge-base index: {e}"))
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    // English stemming, term frequencies for BM25; positions are not needed (no phrases).
    let text = |stored: bool| {
        let o = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("en_stem")
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        if stored { o.set_stored() } else { o }
    };
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        kind: b.add_text_field("kind", STORED),
        url: b.add_text_field("url", STORED),
        visibility: b.add_text_field("visibility", STRING),
        areas: b.add_text_field("areas", STRING | STORED),
        title: b.add_text_field("title", text(true)),
        summary: b.add_text_field("summary", text(true)),
        tags: b.add_text_field("tags", text(false)),
        area_words: b.add_text_field("area_words", text(false)),
        body: b.add_text_field("body", text(true)),
    };
    (b.build(), fields)
}

fn build(generation: i64, entries: &[StoredEntry]) -> tantivy::Result<Built> {
    let (schema, f) = schema();
    let index = Index::create_in_ram(schema);
    let mut writer = index.writer_with_num_threads::<TantivyDocument>(1, WRITER_BYTES)?;
    let analyzer = index
        .tokenizers()
        .get("en_stem")
        .ok_or_else(|| tantivy::TantivyError::InvalidArgument("no en_stem tokenizer".into()))?;
    let mut stems = std::collections::HashMap::new();
    for e in entries
        .iter()
        .map(|e| &e.entry)
        .filter(|e| e.state == EntryState::Published)
    {
        let mut d = doc!(
            f.id => e.id.as_str(),
            f.kind => e.kind.key(),
            f.visibility => e.visibility.key(),
            f.title => e.title.as_str(),
            f.summary => e.summary.as_str(),
            f.tags => e.tags.join(", "),
            f.area_words => e.issue_areas.join(" ").replace('-', " "),
            f.body => e.body.as_str(),
        );
        if let Some(u) = &e.url {
            d.add_text(f.url, u);
        }
        for a in &e.issue_areas {
            d.add_text(f.areas, a);
        }
        let all = format!(
            "{} {} {} {} {}",
            e.title,
            e.summary,
            e.tags.join(" "),
            e.issue_areas.join(" ").replace('-', " "),
            e.body
        );
        stems.insert(
            e.id.clone(),
            stems_of(&analyzer, &all).into_iter().collect(),
        );
        writer.add_document(d)?;
    }
    writer.commit()?;
    let reader = index
        .reader_builder()
        .reload_policy(ReloadPolicy::Manual)
        .try_into()?;
    let mut parser = QueryParser::for_index(
        &index,
        vec![f.title, f.summary, f.tags, f.area_words, f.body],
    );
    // The title says what an entry is about; the body mentions many things in passing.
    parser.set_field_boost(f.title, 4.0);
    parser.set_field_boost(f.summary, 2.0);
    parser.set_field_boost(f.tags, 2.0);
    parser.set_field_boost(f.area_words, 1.0);
    parser.set_field_boost(f.body, 1.0);
    Ok(Built {
        generation,
        reader,
        fields: f,
        parser,
        stems,
        analyzer,
    })
}

fn text_of(d: &TantivyDocument, f: Field) -> Option<String> {
    d.get_first(f).and_then(|v| v.as_str()).map(str::to_owned)
}

impl Built {
    fn search(&self, q: &KbSearch) -> tantivy::Result<Vec<KbHit>> {
        let f = self.fields;
        // Terms are lowercase letters and digits only, so the parser sees no operators.
        let Ok(words) = self.parser.parse_query(&q.terms.join(" ")) else {
            return Ok(Vec::new());
        };
        let allowed: Vec<(Occur, Box<dyn Query>)> = q
            .visibilities
            .iter()
            .map(|v| {
                let t = Term::from_field_text(f.visibility, v.key());
                (
                    Occur::Should,
                    Box::new(TermQuery::new(t, IndexRecordOption::Basic)) as Box<dyn Query>,
                )
            })
            .collect();
        let query = BooleanQuery::new(vec![
            (Occur::Must, words),
            (
                Occur::Must,
                // A filter: who may read an entry says nothing about how well it answers.
                Box::new(ConstScoreQuery::new(
                    Box::new(BooleanQuery::new(allowed)),
                    0.0,
                )),
            ),
        ]);
        let searcher = self.reader.searcher();
        let top = searcher.search(
            &query,
            &TopDocs::with_limit(CANDIDATES.max(q.limit as usize)).order_by_score(),
        )?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let d: TantivyDocument = searcher.doc(addr)?;
            let in_area = q.issue_area.as_deref().is_some_and(|area| {
                d.get_all(f.areas)
                    .any(|v| v.as_str().is_some_and(|a| a == area))
            });
            let score = f64::from(score) * if in_area { AREA_BOOST } else { 1.0 };
            hits.push((score, addr, d));
        }
        hits.sort_by(|a, b| b.0.total_cmp(&a.0));
        hits.truncate(q.limit as usize);
        // How much of the question each entry answers: the share of its words the entry
        // contains (stemmed, in any field). A rank says which entry is best; this says
        // whether the best is any good.
        let asked: Vec<String> = q
            .terms
            .iter()
            .filter_map(|t| stems_of(&self.analyzer, t).into_iter().next())
            .collect();
        let coverage = |id: &str| -> f64 {
            let Some(have) = self.stems.get(id) else {
                return 0.0;
            };
            if asked.is_empty() {
                return 0.0;
            }
            asked.iter().filter(|t| have.contains(*t)).count() as f64 / asked.len() as f64
        };
        let mut snippets = SnippetGenerator::create(&searcher, &query, f.body)?;
        snippets.set_max_num_chars(SNIPPET_CHARS);
        Ok(hits
            .into_iter()
            .filter_map(|(score, _, d)| {
                let id = text_of(&d, f.id)?;
                let coverage = coverage(&id);
                let kind = EntryKind::parse(&text_of(&d, f.kind)?)?;
                let snippet = snippets.snippet_from_doc(&d);
                let snippet = if snippet.fragment().trim().is_empty() {
                    text_of(&d, f.summary).unwrap_or_default()
                } else {
                    snippet.fragment().to_owned()
                };
                Some(KbHit {
                    id,
                    kind,
                    title: text_of(&d, f.title).unwrap_or_default(),
                    summary: text_of(&d, f.summary).unwrap_or_default(),
                    url: text_of(&d, f.url),
                    snippet,
                    score,
                    coverage,
                })
            })
            .collect())
    }
}

impl KbIndex {
    /// An empty index; it is built on the first question.
    pub fn new() -> Self {
        Self::default()
    }

    fn current(&self) -> Option<Arc<Built>> {
        self.built.read().ok().and_then(|b| b.clone())
    }

    /// The index as of the database's current generation, rebuilt if it moved.
    async fn fresh(&self, store: &dyn KbStore) -> Result<Arc<Built>> {
        let generation = store.kb_generation().await?;
        if let Some(b) = self.current().filter(|b| b.generation == generation) {
            return Ok(b);
        }
        let _one_at_a_time = self.rebuilding.lock().await;
        if let Some(b) = self.current().filter(|b| b.generation >= generation) {
            return Ok(b);
        }
        // The generation is read before the entries: a change landing in between makes the
        // index newer than its number says, and the next question rebuilds again.
        let entries = store.kb_entries().await?;
        let started = std::time::Instant::now();
        let built = tokio::task::spawn_blocking(move || build(generation, &entries))
            .await
            .map_err(internal)?
            .map_err(internal)?;
        let built = Arc::new(built);
        tracing::info!(
            generation,
            entries = built.reader.searcher().num_docs(),
            ms = started.elapsed().as_millis() as u64,
            "knowledge-base index built"
        );
        if let Ok(mut slot) = self.built.write() {
            *slot = Some(built.clone());
        }
        Ok(built)
    }
}

#[async_trait::async_trait]
impl SolutionIndex for KbIndex {
    async fn search(&self, store: &dyn KbStore, q: &KbSearch) -> Result<Vec<KbHit>> {
        if q.terms.is_empty() || q.visibilities.is_empty() || q.limit == 0 {
            return Ok(Vec::new());
        }
        let built = self.fresh(store).await?;
        built.search(q).map_err(internal)
    }
}
