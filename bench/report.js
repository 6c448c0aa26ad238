// Turns bench/run's measurements into the Markdown of bench/results.md.
//   node report.js RESULTS_DIR
// RESULTS_DIR holds meta.json, and per system measured SYSTEM.json (start-up,
// the fixed load), SYSTEM-roundN.json (its saturation in round N) and
// SYSTEM-after.json (its RSS once every round is over).
'use strict';
const fs = require('fs');
const path = require('path');

const dir = process.argv[2];
const meta = JSON.parse(fs.readFileSync(path.join(dir, 'meta.json'), 'utf8'));
const systems = [
  ['bot', 'workbench-bot'],
  ['bolt', `Bolt JS ${meta.bolt_version || ''}`.trim()],
  ['reply', 'ceiling: ack + reply'],
  ['bare', 'ceiling: bare ack'],
];
const r = {};
for (const [key] of systems) {
  const f = path.join(dir, `${key}.json`);
  if (fs.existsSync(f)) r[key] = JSON.parse(fs.readFileSync(f, 'utf8'));
}
const present = systems.filter(([k]) => r[k]);

const get = (obj, dotted) =>
  dotted.split('.').reduce((o, k) => (o == null ? undefined : o[k]), obj);

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  return v.length ? v[Math.floor((v.length - 1) / 2)] : undefined;
};

// Every saturation round of each system, each back to back with the other
// systems'. The table shows the system's median round by throughput; errors,
// busy acks, answers and RSS count every round.
const read = (f) => JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
for (const [k] of present) {
  const s = r[k];
  s.rounds = [];
  for (let n = 1; fs.existsSync(path.join(dir, `${k}-round${n}.json`)); n++) {
    s.rounds.push(read(`${k}-round${n}.json`));
  }
  if (!s.rounds.length) throw new Error(`no saturation round of ${k} in ${dir}`);
  s.rss_kib.after = fs.existsSync(path.join(dir, `${k}-after.json`)) ? read(`${k}-after.json`).rss_kib_after : undefined;
  const byRate = [...s.rounds].sort((a, b) => (a.saturate.throughput_rps || 0) - (b.saturate.throughput_rps || 0));
  const mid = byRate[Math.floor((byRate.length - 1) / 2)];
  s.median_round = mid.round;
  s.saturate = mid.saturate;
  s.cpu.saturate = mid.cpu.saturate;
  s.answers_posted += s.rounds.reduce((n, x) => n + x.answers_posted, 0);
  s.answers_expected += s.rounds.reduce((n, x) => n + x.answers_expected, 0);
}
// The saturations' errors and busy acks over every round, as one load.
const allRounds = (s) => {
  const t = { errors: 0, acks_with_body: 0, errors_by_kind: {} };
  for (const { saturate: x } of s.rounds) {
    t.errors += x.errors || 0;
    t.acks_with_body += x.acks_with_body || 0;
    for (const [kind, n] of Object.entries(x.errors_by_kind || {})) {
      t.errors_by_kind[kind] = kind === 'last_status' ? n || t.errors_by_kind[kind] : (t.errors_by_kind[kind] || 0) + n;
    }
  }
  return t;
};
const rounds = present.length ? r[present[0][0]].rounds.length : 0;
const roundsText = rounds === 1 ? '1 round' : `${rounds} rounds`;


function num(x, unit) {
  if (x === undefined || x === null || Number.isNaN(x)) return '–';
  if (unit === 'int') return Math.round(x).toLocaleString('en-US');
  if (unit === 'mib') return (x / 1024).toFixed(1);
  if (Math.abs(x) >= 100) return x.toFixed(0);
  if (Math.abs(x) >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

// "25.5 (9.3 + 15.0)": VmRSS, then RssAnon + RssFile (RssShmem, rarely any, is the rest).
function rss(m) {
  if (!m) return '–';
  return `${num(m.rss, 'mib')} (${num(m.anon, 'mib')} + ${num(m.file, 'mib')})`;
}

function pct(x) {
  return x === undefined || x === null || !Number.isFinite(x) ? '–' : `${(x * 100).toFixed(0)} %`;
}

function errors(load) {
  if (!load) return '–';
  const k = load.errors_by_kind || {};
  const parts = [];
  if (k.timeout) parts.push(`${k.timeout} timed out`);
  if (k.status) parts.push(`${k.status} HTTP ${k.last_status}`);
  if (k.transport) parts.push(`${k.transport} transport`);
  let s = `${load.errors}`;
  if (parts.length) s += ` (${parts.join(', ')})`;
  if (load.acks_with_body) s += `; ${load.acks_with_body} acks with a body`;
  return s;
}

const P = meta.params;

// CPU over a phase: the server's share of one CPU, its CPU time per acknowledged
// request, and the load side's (load generator + sink) share of its CPUs.
const cpuPct = (s, phase) => {
  const c = get(s, `cpu.${phase}`);
  return c && c.wall_s ? (100 * c.server_s) / c.wall_s : undefined;
};
const cpuPerReq = (s, phase) => {
  const c = get(s, `cpu.${phase}`);
  const n = get(s, `${phase}.acked_total`);
  return c && n ? (1e6 * c.server_s) / n : undefined;
};
const eachRound = (s, f) => s.rounds.map((x) => f(x)).join(' / ');
const loadPct = (s, phase) => {
  const c = get(s, `cpu.${phase}`);
  const lg = get(s, `${phase}.loadgen_cpu_s`);
  return c && c.wall_s && lg !== undefined
    ? (100 * (lg + c.sink_s)) / c.wall_s / (meta.load_ncpu || 1)
    : undefined;
};
const rows = [
  [`**Start-up**, exec → first 200 from \`GET /healthz\`, median of ${P.startup_runs} (ms)`, (s) => num(get(s, 'startup.median_ms')), 'bot < 10 ms'],
  [`… fastest / slowest of ${P.startup_runs} (ms)`, (s) => `${num(get(s, 'startup.min_ms'))} / ${num(get(s, 'startup.max_ms'))}`, ''],
  [`**Fixed load** ${P.rate} req/s for ${P.rate_seconds} s: throughput (req/s)`, (s) => num(get(s, 'rate.throughput_rps'), 'int'), ''],
  ['… p50 (ms)', (s) => num(get(s, 'rate.p50_ms')), ''],
  ['… p99 (ms)', (s) => num(get(s, 'rate.p99_ms')), 'bot < 2 ms'],
  ['… max (ms)', (s) => num(get(s, 'rate.max_ms')), ''],
  [`… errors (of ${P.rate * P.rate_seconds})`, (s) => errors(s.rate), ''],
  ['… acks with a body (the bot turning a request away as busy)', (s) => num(get(s, 'rate.acks_with_body'), 'int'), 'bot 0'],
  ['… server CPU, % of one CPU', (s) => num(cpuPct(s, 'rate')), ''],
  [`… the server's CPU(s) busy with anything, %`, (s) => num(get(s, 'cpu.rate.server_cpus_busy_pct')), ''],
  ['… server CPU time per request (µs)', (s) => num(cpuPerReq(s, 'rate')), ''],
  [`**Saturation**, ${P.sat_connections} connections for ${P.sat_seconds} s, the median of ${roundsText}: throughput (req/s)`, (s) => num(get(s, 'saturate.throughput_rps'), 'int'), 'bot ≥ 10× Bolt, ≥ 70 % of ack + reply'],
  ['… throughput in each round, in order (req/s)', (s) => eachRound(s, (x) => num(x.saturate.throughput_rps, 'int')), ''],
  ['… server CPU time per request in each round (µs)', (s) => eachRound(s, (x) => num(cpuPerReq(x, 'saturate'))), ''],
  ['The median round, whose figures follow', (s) => `${s.median_round}`, ''],
  ['… p50 (ms)', (s) => num(get(s, 'saturate.p50_ms')), ''],
  ['… p99 (ms)', (s) => num(get(s, 'saturate.p99_ms')), 'bot ≤ 2× ack + reply'],
  ['… max (ms)', (s) => num(get(s, 'saturate.max_ms')), ''],
  ['… errors, all rounds', (s) => errors(allRounds(s)).replace(/; .*$/, ''), ''],
  ['… acks with a body (the bot turning a request away as busy), all rounds', (s) => num(allRounds(s).acks_with_body, 'int'), 'bot 0'],
  ['… server CPU, % of one CPU', (s) => num(cpuPct(s, 'saturate')), ''],
  [`… the server's CPU(s) busy with anything, %`, (s) => num(get(s, 'cpu.saturate.server_cpus_busy_pct')), '≈ server CPU'],
  ['… server CPU time per request (µs)', (s) => num(cpuPerReq(s, 'saturate')), ''],
  [`… load side CPU (load generator + sink), % of its ${meta.load_ncpu} CPU(s)`, (s) => num(loadPct(s, 'saturate')), ''],
  [`… the load side's CPU(s) busy with anything, %`, (s) => num(get(s, 'cpu.saturate.load_cpus_busy_pct')), 'under 100 %'],
  ['Answers posted to the response_url / empty acks received (+1 for the check before the loads)', (s) => `${num(s.answers_posted, 'int')} / ${num(s.answers_expected, 'int')}`, 'all'],
  ['**RSS** idle (MiB; anonymous + file-backed)', (s) => rss(get(s, 'rss_kib.idle')), ''],
  ['RSS at the end of each round (MiB; anonymous + file-backed)', (s) => eachRound(s, (x) => rss(x.rss_kib_end)), 'bot < 20 MB'],
  [`RSS ${P.after_seconds} s after the last round (MiB; anonymous + file-backed)`, (s) => rss(get(s, 'rss_kib.after')), 'bot < 20 MB'],
];

const out = [];
out.push('| | ' + present.map(([, name]) => name).join(' | ') + ' | target |');
out.push('|---|' + present.map(() => '---:').join('|') + '|---|');
for (const [label, f, target] of rows) {
  out.push(`| ${label} | ` + present.map(([k]) => f(r[k])).join(' | ') + ` | ${target} |`);
}

// Ratios and targets. A throughput ratio is taken in each round (the two
// systems' saturations of that round) and the median of those is judged.
const roundRatios = (a, b) =>
  r[a] && r[b]
    ? r[a].rounds.map((x, i) => x.saturate.throughput_rps / get(r[b].rounds[i], 'saturate.throughput_rps'))
    : [];
const ratio = (a, b) => median(roundRatios(a, b));
const inRounds = (xs, f) => (xs.length > 1 ? ` (rounds: ${xs.map(f).join(', ')})` : '');
const times = (x) => (Number.isFinite(x) ? `${x.toFixed(1)}×` : '–');
const verdict = (ok) => (ok === undefined ? '–' : ok ? 'met' : '**not met**');
const b = r.bot;
const checks = [];
const vsBolt = ratio('bot', 'bolt');
checks.push([`Saturation throughput, bot ÷ Bolt, the median of the ratios in each round`, vsBolt === undefined ? '–' : `${times(vsBolt)}${inRounds(roundRatios('bot', 'bolt'), times)}`, '≥ 10×', verdict(vsBolt === undefined ? undefined : vsBolt >= 10)]);
const vsReply = ratio('bot', 'reply');
checks.push([`Saturation throughput, bot ÷ ceiling (ack + reply, like for like), the median of the ratios in each round`, `${pct(vsReply)}${inRounds(roundRatios('bot', 'reply'), pct)}`, '≥ 70 %', verdict(vsReply === undefined ? undefined : vsReply >= 0.7)]);
const vsBare = ratio('bot', 'bare');
checks.push(['Saturation throughput, bot ÷ ceiling (bare ack)', pct(vsBare), '(for scale)', '']);
const cpuRatio = (a, b2) => {
  const x = r[a] && cpuPerReq(r[a], 'rate');
  const y = r[b2] && cpuPerReq(r[b2], 'rate');
  return x && y ? x / y : undefined;
};
const cr = cpuRatio('bot', 'reply');
checks.push(['CPU time per request at the fixed load, bot ÷ ceiling (ack + reply)', cr === undefined ? '–' : `${cr.toFixed(1)}×`, '(for scale)', '']);
// Flags over every round, since every round enters the ratios.
const flagged = (test) =>
  present.flatMap(([k, n]) => r[k].rounds.filter(test).map((x) => `${n}, round ${x.round}`));
const loadBound = flagged((x) => (get(x, 'cpu.saturate.load_cpus_busy_pct') || 0) >= 95);
if (loadBound.length) {
  checks.push([`Load side's CPUs ≥ 95 % busy during saturation: that throughput is the load side's limit (or the machine's other work), not the server's`, loadBound.join('; '), 'none', '**check**']);
}
const crowded = flagged((x) => (get(x, 'cpu.saturate.server_cpus_busy_pct') || 0) - (cpuPct(x, 'saturate') || 0) > 10);
if (crowded.length) {
  checks.push([`Other work took > 10 % of the server's CPU during saturation (a noisy run)`, crowded.join('; '), 'none', '**check**']);
}
if (b) {
  const p99 = get(b, 'saturate.p99_ms');
  const ceilP99 = r.reply && get(r.reply, 'saturate.p99_ms');
  checks.push(['Bot p99 at saturation, against the ceiling (ack + reply), each in its median round', `${num(p99)} ms (ceiling ${num(ceilP99)} ms)`, '≤ 2× the ceiling\'s', verdict(p99 == null || ceilP99 == null ? undefined : p99 <= 2 * ceilP99)]);
  const fixedP99 = get(b, 'rate.p99_ms');
  checks.push([`Bot p99 at the fixed ${P.rate} req/s`, `${num(fixedP99)} ms`, '< 2 ms', verdict(fixedP99 == null ? undefined : fixedP99 < 2)]);
  const st = get(b, 'startup.median_ms');
  checks.push(['Bot start-up, median', `${num(st)} ms`, '< 10 ms', verdict(st == null ? undefined : st < 10)]);
  const rss = Math.max(get(b, 'rss_kib.after.rss') || 0, ...b.rounds.map((x) => get(x, 'rss_kib_end.rss') || 0));
  // 20 MB read as 20 × 10^6 bytes: the stricter reading.
  checks.push(['Bot RSS after the load (the largest of each round\'s end and ' + P.after_seconds + ' s after the last)', `${num(rss, 'mib')} MiB (${(rss * 1024 / 1e6).toFixed(1)} MB)`, '< 20 MB', verdict(rss ? rss * 1024 < 20e6 : undefined)]);
  const errs = (get(b, 'rate.errors') || 0) + allRounds(b).errors;
  checks.push(['Bot errors, both loads, all rounds', `${errs}`, '0', verdict(errs === 0)]);
  // A request turned away as busy is acknowledged with its answer in the body
  // and costs little: throughput bought that way is not throughput.
  const busy = (get(b, 'rate.acks_with_body') || 0) + allRounds(b).acks_with_body;
  checks.push(['Bot requests turned away as busy (acks with a body), both loads, all rounds', `${busy}`, '0', verdict(busy === 0)]);
}
out.push('');
out.push('| check | value | target | |');
out.push('|---|---:|---|---|');
for (const c of checks) out.push(`| ${c.join(' | ')} |`);
const table = out.join('\n');

const env = [
  `- Date: ${meta.date}`,
  `- Machine: ${meta.nproc} CPUs (${meta.cpu_model}), kernel ${meta.kernel}`,
  `- CPUs: ${meta.pinning}`,
  `- Environment: SSL_CERT_DIR=${process.env.SSL_CERT_DIR || '(unset)'} for every system`,
  `- Versions: ${meta.rustc}; node ${meta.node}; @slack/bolt ${meta.bolt_version || '(not run)'}; ${meta.bot_commit}`,
  `- Load averages (\`uptime\`): before the run ${meta.uptime_before}; after it ${meta.uptime_after}`,
];
for (const [k, name] of present) {
  if (r[k].uptime) env.push(`  - before ${name}'s loads: ${r[k].uptime}`);
}
if (meta.trial) env.push(`- **Trial run: parameters differ from the issue's** (${meta.trial})`);

const doc = `# workbench-bot benchmark results

Written by \`bench/run\`; \`bench/README.md\` says what each figure measures and how.
A busy machine makes every figure worse: the load averages below show how quiet it was.

${env.join('\n')}

${table}

An answer can also be posted for a request the load generator gave up on (after 3 s),
so a server that times out may post more answers than it acknowledged in time.
Latencies are from when a request was due (fixed load) or sent (saturation) to its
acknowledgement. An error is a transport failure, a status other than 200, or no
acknowledgement within Slack's 3 s. The saturations came after every system's fixed load, in
${roundsText}: in each, every system in turn, back to back (the bot, the ack + reply ceiling, Bolt,
the bare ceiling). The table gives each system's median round, so dividing two of its figures
need not give a check's ratio: each throughput ratio is the median of the ratios taken round by
round. CPU is utime + stime from /proc/PID/stat over the
phase (warm-up included for the fixed load), per acknowledged request. RSS is VmRSS from /proc/PID/status (MiB = 2^20 bytes),
then its anonymous and file-backed parts (RssAnon, RssFile: the latter is mostly the
program's own code, mapped from its binary).
`;
process.stdout.write(doc);
