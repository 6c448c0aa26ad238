// Reads `perf script` output (call graphs) on stdin; writes folded stacks (for a
// flame graph) to the file named by argv[2] and a Markdown summary on stdout:
// the share of samples spent in each group of code, inclusive and by leaf, and the
// top functions by inclusive and by self cost.
'use strict';
const fs = require('fs');
const readline = require('readline');

const foldedPath = process.argv[2];

// Groups, in the order that decides a sample's "by leaf" group: walking from the
// leaf up, the first frame that matches a group names it. Frames of no group
// (libc, the allocator, core/alloc/std, the kernel) pass the sample to their caller.
const GROUPS = [
  ['signature verify (HMAC-SHA256)', /workbench_bot::verify|signature_verifier|\bhmac::|\bsha2::|sha256|\bsubtle::/i],
  ['form & command parsing', /serde_urlencoded|form_urlencoded|percent_encoding|workbench_bot::parse|workbench_bot::transport::commands|SlackCommandEvent/],
  ['audit / SQLite (sqlx)', /\bsqlx|sqlite3|workbench_bot::store|workbench_bot::record/],
  // Not tracing::instrument::Instrumented: it wraps whole tasks; entering and leaving
  // its span shows up as tracing_subscriber frames below it.
  ['logging / tracing', /^(?!.*instrument::Instrumented)(?=.*(tracing_subscriber|workbench_bot::logging|tracing_core|\btracing::))/],
  ['metrics', /prometheus_client|workbench_bot::metrics/],
  ['reply HTTP client (response_url)', /workbench_bot::report|slack_morphism|hyper_util::client|hyper::client|hyper_rustls|\breqwest/],
  ['policy, pipeline & dry-run backend', /workbench_bot::decide|workbench_bot::pipeline|workbench_bot::domain|workbench_bot::act|workbench_bot::config|\bgovernor/],
  ['HTTP server (hyper, axum, tower)', /hyper::proto|hyper::server|hyper::body|hyper_util::server|hyper_util::rt|\baxum|\btower|workbench_bot::transport|workbench_bot::startup/],
  ['tokio runtime', /\btokio::|tokio_util|\bmio::/],
];
const OTHER = 'other (libc, allocator, std, kernel without a caller above)';

// Tasks and threads, the first whose test the sample's thread name and stack
// (root first, frames joined by ';') pass: which piece of work a sample was
// spent on, whatever code it ran. The ceiling has the two connections too, so
// this is the view to set beside its profile. Under fat LTO hyper's dispatcher is
// inlined away: a server connection is recognised by axum's connection task, and
// a client connection by hyper's HTTP/1 connection code outside it.
const TASKS = [
  ['SQLite thread (sqlx runs each connection on a thread)', (comm) => /^sqlx-sqlite/.test(comm)],
  ['request task: the pipeline, the audit queue and line, building and sending the answer', (_, st) => /workbench_bot::pipeline::App::handle/.test(st)],
  ['audit writer task', (_, st) => /workbench_bot::store::writer/.test(st)],
  ['server connection (hyper: reading the request, the handler up to the ack, writing it)', (_, st) => /axum::serve::handle_connection|hyper::proto::h1::role::Server/.test(st)],
  ['response_url connection (hyper client: writing the POST, reading its answer)', (_, st) => /hyper::client::conn|hyper::proto::h1/.test(st)],
];
const TASK_OTHER = 'other (scheduler, timers, spawning)';
const byTask = new Map();

const stacks = new Map(); // folded stack -> count
let total = 0;
const inclusive = new Map(); // group -> samples
const byLeaf = new Map();
const fnIncl = new Map();
const fnSelf = new Map();
let kernelLeaf = 0;
let allocLeaf = 0;

function clean(sym) {
  return sym
    .replace(/\+0x[0-9a-f]+$/, '')
    .replace(/::h[0-9a-f]{16}$/, '')
    .replace(/;/g, ':');
}

function finish(comm, frames) {
  if (!comm) return;
  total += 1;
  // frames: leaf first, as perf prints them.
  const root = frames.slice().reverse();
  const key = [comm, ...root.map((f) => f.sym)].join(';');
  const task = TASKS.find(([, test]) => test(comm, key));
  const taskName = task ? task[0] : TASK_OTHER;
  byTask.set(taskName, (byTask.get(taskName) || 0) + 1);
  stacks.set(key, (stacks.get(key) || 0) + 1);
  const seenGroups = new Set();
  const seenFns = new Set();
  for (const f of frames) {
    for (const [name, re] of GROUPS) if (re.test(f.sym)) seenGroups.add(name);
    seenFns.add(f.sym);
  }
  for (const g of seenGroups) inclusive.set(g, (inclusive.get(g) || 0) + 1);
  for (const s of seenFns) fnIncl.set(s, (fnIncl.get(s) || 0) + 1);
  if (frames.length) {
    fnSelf.set(frames[0].sym, (fnSelf.get(frames[0].sym) || 0) + 1);
    if (frames[0].kernel) kernelLeaf += 1;
    if (/malloc|free|realloc|memalign|_int_|tcache/.test(frames[0].sym) && !frames[0].kernel) allocLeaf += 1;
  }
  let leafGroup = OTHER;
  outer: for (const f of frames) {
    for (const [name, re] of GROUPS) {
      if (re.test(f.sym)) {
        leafGroup = name;
        break outer;
      }
    }
  }
  byLeaf.set(leafGroup, (byLeaf.get(leafGroup) || 0) + 1);
}

const rl = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
let comm = null;
let frames = [];
rl.on('line', (line) => {
  if (line === '') {
    finish(comm, frames);
    comm = null;
    frames = [];
    return;
  }
  if (!/^\s/.test(line)) {
    // "comm pid/tid [cpu] time: period event:"
    finish(comm, frames);
    comm = line.trim().split(/\s+/)[0].replace(/-\d+$/, '');
    frames = [];
    return;
  }
  const t = line.trim();
  const sp = t.indexOf(' ');
  if (sp < 0) return;
  let rest = t.slice(sp + 1);
  const dsoAt = rest.lastIndexOf(' (');
  let dso = '';
  if (dsoAt >= 0) {
    dso = rest.slice(dsoAt + 2, -1);
    rest = rest.slice(0, dsoAt);
  }
  let sym = clean(rest);
  if (sym === '[unknown]') sym = `[unknown in ${dso.split('/').pop()}]`;
  frames.push({ sym, kernel: dso.includes('kernel') });
});

rl.on('close', () => {
  finish(comm, frames);
  fs.writeFileSync(
    foldedPath,
    [...stacks].map(([k, v]) => `${k} ${v}`).join('\n') + '\n',
  );
  const p = (n) => `${((100 * n) / total).toFixed(1)} %`;
  const out = [];
  out.push(`${total} samples.`);
  out.push('');
  out.push('| group | inclusive | by leaf |');
  out.push('|---|---:|---:|');
  for (const [name] of GROUPS) {
    out.push(`| ${name} | ${p(inclusive.get(name) || 0)} | ${p(byLeaf.get(name) || 0)} |`);
  }
  out.push(`| ${OTHER} | | ${p(byLeaf.get(OTHER) || 0)} |`);
  out.push(`| *(of all samples: leaf in the kernel)* | | ${p(kernelLeaf)} |`);
  out.push(`| *(of all samples: leaf in malloc/free)* | | ${p(allocLeaf)} |`);
  out.push('');
  out.push('| task or thread | samples |');
  out.push('|---|---:|');
  for (const [name] of [...TASKS, [TASK_OTHER]]) out.push(`| ${name} | ${p(byTask.get(name) || 0)} |`);
  out.push('');
  const top = (m, n, skip) =>
    [...m]
      .filter(([s, c]) => !skip || c / total < skip)
      .sort((a, b) => b[1] - a[1])
      .slice(0, n);
  out.push('Top functions by inclusive cost (frames under 90 % of samples; the roots, thread starts and');
  out.push('run loops above that are left out):');
  out.push('');
  out.push('| # | function | inclusive |');
  out.push('|---:|---|---:|');
  top(fnIncl, 40, 0.9).forEach(([s, c], i) => out.push(`| ${i + 1} | \`${s.replace(/\|/g, '\\|')}\` | ${p(c)} |`));
  out.push('');
  out.push('Top functions by self cost (the leaf of the sample):');
  out.push('');
  out.push('| # | function | self |');
  out.push('|---:|---|---:|');
  top(fnSelf, 25).forEach(([s, c], i) => out.push(`| ${i + 1} | \`${s.replace(/\|/g, '\\|')}\` | ${p(c)} |`));
  process.stdout.write(out.join('\n') + '\n');
});
