//! Attachment upload throughput: an in-process server over a temporary SQLite file with the
//! content store in a temporary folder; workers upload files of one size, each to a case of its own.

use std::sync::Arc;
use std::time::Instant;

fn m(e: casedesk_core::DomainError) -> anyhow::Error {
    anyhow::anyhow!("{e:?}")
}

/// A file of `size` bytes: binary (kept as it came) or a log (text, scrubbed of secrets).
fn file(kind: &str, size: usize, seed: u64) -> Vec<u8> {
    let mut rng = crate::Rng(seed | 1);
    match kind {
        "text" => {
            let mut out = Vec::with_capacity(size);
            let mut i = 0u64;
            while out.len() < size {
                let line = format!(
                    "2026-11-23T10:00:{:02}Z GET /oauth2/v1/userinfo 401 req-{i} Bearer tok{}abcdef0123456789 client_secret=s{}\n",
                    i % 60,
                    rng.next() % 100_000,
                    rng.next() % 1000
                );
                out.extend_from_slice(line.as_bytes());
                i += 1;
            }
            out.truncate(size);
            out
        }
        _ => {
            let mut out = b"%PDF-1.7\n".to_vec();
            while out.len() < size {
                out.extend_from_slice(&rng.next().to_le_bytes());
            }
            out.truncate(size);
            out
        }
    }
}

pub async fn attach_load(
    files: usize,
    size_kb: usize,
    concurrency: usize,
    kind: String,
) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let url = format!("sqlite://{}", dir.path().join("bench.db").display());
    let store = casedesk_store::connect(&url).await.map_err(m)?;
    let s = store.as_ref();
    let (_, p) = crate::mail::bench_account(s).await?;
    let token = crate::token(s, "ops@bench.example").await?;
    // One case per worker, as uploads from different people land on different cases.
    let mut cases = Vec::new();
    for w in 0..concurrency.max(1) {
        let (case, _, _, _) = casedesk_core::service::create_case(
            s,
            &p,
            &crate::mail::case_body(&format!("Upload bench {w}")),
            None,
            None,
        )
        .await
        .map_err(m)?;
        cases.push(case.number);
    }
    let blobs: Arc<dyn casedesk_core::attachments::Blobs> =
        Arc::new(casedesk_store::LocalBlobs::new(dir.path().join("attachments")).map_err(m)?);
    let base = crate::serve_in_process_with(
        store.clone(),
        Default::default(),
        casedesk_bench::mail_off(),
        Some(blobs),
    )
    .await?;
    let size = size_kb * 1024;
    println!(
        "machine: {} cores; load {}; {files} {kind} files of {size_kb} KiB, concurrency {concurrency}",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()?;
    let per = files / concurrency.max(1);
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (w, case) in cases.iter().enumerate() {
        let url = format!("{base}/api/v1/cases/{case}/attachments");
        let (client, token, kind) = (client.clone(), token.clone(), kind.clone());
        tasks.spawn(async move {
            let mut lat = Vec::with_capacity(per);
            for i in 0..per {
                // Distinct content each time, so every upload is stored (no dedup).
                let body = file(&kind, size, (w * 1_000_003 + i) as u64 + 7);
                let part = reqwest::multipart::Part::bytes(body).file_name(if kind == "text" {
                    "server.log"
                } else {
                    "report.pdf"
                });
                let form = reqwest::multipart::Form::new().part("file", part);
                let t0 = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(&token)
                    .multipart(form)
                    .send()
                    .await?;
                let status = r.status();
                let _ = r.bytes().await?;
                anyhow::ensure!(status.as_u16() == 201, "upload answered {status}");
                lat.push(t0.elapsed().as_secs_f64() * 1e3);
            }
            anyhow::Ok(lat)
        });
    }
    let mut lat = Vec::new();
    while let Some(r) = tasks.join_next().await {
        lat.extend(r??);
    }
    let secs = started.elapsed().as_secs_f64();
    lat.sort_by(|a, b| a.total_cmp(b));
    let pct = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    let mb = (lat.len() * size) as f64 / 1048576.0;
    println!(
        "{} uploads in {secs:.2} s: {:.1} files/s, {:.1} MiB/s; latency p50 {:.1} ms, p99 {:.1} ms",
        lat.len(),
        lat.len() as f64 / secs,
        mb / secs,
        pct(0.5),
        pct(0.99)
    );
    Ok(())
}
