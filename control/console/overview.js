// Overview: messages per second by verdict and by action, Gbit/s, each worker's load, the pool
// addresses' states and the last alerts. The chart starts from the API's 15 minutes of history
// and goes on from the event stream's stats, one sample a second; every figure is a difference
// of two totals over the time between them.
import { cell, describe, load, whenNs } from "./common.js";

const status = document.getElementById("overview-status");
const figures = document.getElementById("overview-figures");
const workerRows = document.getElementById("overview-workers");
const poolRows = document.getElementById("overview-pools");
const alertRows = document.getElementById("overview-alerts");
const kWindowNs = 15 * 60 * 1e9;

// What the charts plot: a label and the rate of which totals; messages by verdict, then by the
// gateway's action (the same messages counted twice, so two charts).
const kVerdicts = [
  ["clean", (s) => s.enforce_records - s.enforce_spam - s.enforce_not_scanned],
  ["spam", (s) => s.enforce_spam],
  ["not scanned", (s) => s.enforce_not_scanned],
];
const kActions = [
  ["allowed", (s) => s.enforce_records - s.enforce_records_refused - s.enforce_records_throttled -
    s.enforce_records_deferred],
  ["refused", (s) => s.enforce_records_refused],
  ["throttled", (s) => s.enforce_records_throttled],
  ["deferred", (s) => s.enforce_records_deferred],
];
const kBytes = [
  ["in", (s) => (s.rx_bytes * 8) / 1e9],
  ["out", (s) => (s.tx_bytes * 8) / 1e9],
];
const kColours = ["#2e7d32", "#c62828", "#757575", "#6a1b9a"];

let samples = [];      // oldest first, as the history gives them
let lastStats = null;  // the previous stats event: the workers' rates are taken against it
let stream = null;
let charts = [];  // [Chart, series] for verdicts, actions, bytes

// The history's sample from a stats event (the same totals).
function sampleOf(stats) {
  const s = { unix_ns: stats.unix_ns, rx_bytes: 0, tx_bytes: 0 };
  for (const w of stats.workers) {
    s.rx_bytes += w.rx_bytes;
    s.tx_bytes += w.tx_bytes;
  }
  for (const k of ["enforce_records", "enforce_spam", "enforce_not_scanned",
    "enforce_records_refused", "enforce_records_throttled", "enforce_records_deferred"]) {
    s[k] = stats.pipeline[k] ?? 0;
  }
  return s;
}

// Per second between two samples; a restart (totals going down) reads as 0, not negative.
function rate(a, b, value) {
  const seconds = (b.unix_ns - a.unix_ns) / 1e9;
  return seconds > 0 ? Math.max(0, (value(b) - value(a)) / seconds) : 0;
}

function timeLabel(unixNs) {
  return new Date(unixNs / 1e6).toISOString().slice(11, 19);
}

function lineChart(id, series, unit) {
  const canvas = document.getElementById(id);
  return new globalThis.Chart(canvas, {  // /ui/chart.min.js: Debian's Chart.js, a global
    type: "line",
    data: {
      labels: [],
      datasets: series.map(([label], i) => ({
        label, data: [], borderColor: kColours[i], backgroundColor: kColours[i],
        borderWidth: 1.5, pointRadius: 0,
      })),
    },
    options: {
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: "index", intersect: false },
      scales: {
        x: { ticks: { maxTicksLimit: 8 } },
        y: { beginAtZero: true, title: { display: true, text: unit } },
      },
    },
  });
}

function draw() {
  const labels = samples.slice(1).map((s) => timeLabel(s.unix_ns));
  for (const [chart, series] of charts) {
    chart.data.labels = labels;
    series.forEach(([, value], k) => {
      chart.data.datasets[k].data = samples.slice(1).map((b, i) => rate(samples[i], b, value));
    });
    chart.update();
  }

  // The figures: the rates over the last ten seconds, steadier than the last one.
  if (samples.length < 2) {
    figures.replaceChildren();
    return;
  }
  const a = samples[Math.max(0, samples.length - 11)];
  const b = samples[samples.length - 1];
  describe(figures, [
    ...[...kVerdicts, ...kActions].map(([name, value]) =>
      [`${name} messages/s`, rate(a, b, value).toFixed(2)]),
    ...kBytes.map(([name, value]) => [`Gbit/s ${name}`, rate(a, b, value).toFixed(4)]),
  ]);
}

function showWorkers(stats) {
  workerRows.replaceChildren();
  stats.workers.forEach((w, i) => {
    const before = lastStats?.workers[i];
    const seconds = lastStats ? (stats.unix_ns - lastStats.unix_ns) / 1e9 : 0;
    const per = (k) => (before && seconds > 0 ? Math.max(0, (w[k] - before[k]) / seconds) : null);
    const busy = per("busy_cycles");
    const row = document.createElement("tr");
    cell(row, i);
    cell(row, busy === null ? "…" : `${Math.min(100, (100 * busy) / stats.tsc_hz).toFixed(1)} %`);
    cell(row, per("rx_packets") === null ? "…" : per("rx_packets").toFixed(0));
    cell(row, per("tx_packets") === null ? "…" : per("tx_packets").toFixed(0));
    workerRows.append(row);
  });
}

function showPools(addresses) {
  const pools = new Map();
  for (const a of addresses) {
    const p = pools.get(a.pool) ?? { active: 0, listed: 0, draining: 0 };
    p[a.state] = (p[a.state] ?? 0) + 1;
    pools.set(a.pool, p);
  }
  poolRows.replaceChildren();
  for (const [name, p] of pools) {
    const row = document.createElement("tr");
    cell(row, name);
    cell(row, p.active);
    cell(row, p.listed);
    cell(row, p.draining);
    poolRows.append(row);
  }
}

function addAlert(a, atTop) {
  const row = document.createElement("tr");
  cell(row, whenNs(a.unix_ns));
  cell(row, a.kind);
  cell(row, a.message);
  if (atTop) {
    alertRows.prepend(row);
  } else {
    alertRows.append(row);
  }
  while (alertRows.children.length > 5) {
    alertRows.lastElementChild.remove();
  }
}

function onStats(event) {
  const stats = JSON.parse(event.data);
  const sample = sampleOf(stats);
  if (samples.length === 0 || sample.unix_ns > samples[samples.length - 1].unix_ns) {
    samples.push(sample);  // not the history's last sample again
  }
  while (samples.length > 2 && samples[samples.length - 1].unix_ns - samples[0].unix_ns > kWindowNs) {
    samples.shift();
  }
  draw();
  showWorkers(stats);
  showPools(stats.pools);
  lastStats = stats;
  status.textContent = `Live: updated ${whenNs(stats.unix_ns)}.`;
}

export async function show() {
  if (charts.length === 0) {
    charts = [[lineChart("overview-verdicts", kVerdicts, "messages/s"), kVerdicts],
      [lineChart("overview-actions", kActions, "messages/s"), kActions],
      [lineChart("overview-bytes", kBytes, "Gbit/s"), kBytes]];
  }
  const [history, alerts, pools] = await Promise.all([
    load("/api/v1/stats/history", status, "the statistics' history"),
    load("/api/v1/alerts?limit=5", status, "the alerts"),
    load("/api/v1/pools", status, "the pools"),
  ]);
  if (history) {
    samples = history.samples;
    draw();
  }
  if (alerts) {
    alertRows.replaceChildren();
    alerts.alerts.forEach((a) => addAlert(a, false));
  }
  if (pools) {
    showPools(pools.addresses);
  }
  if (stream === null) {
    stream = new EventSource("/api/v1/events");
    stream.addEventListener("stats", onStats);
    stream.addEventListener("alert", (e) => addAlert(JSON.parse(e.data), true));
    stream.addEventListener("error", () => {
      status.textContent = "Live updates interrupted; the browser retries.";
    });
  }
}

// Another page: the stream's seat is given back (the API holds four at most).
export function hide() {
  if (stream !== null) {
    stream.close();
    stream = null;
    lastStats = null;
  }
}
