// imapflow (npm, pinned in package-lock.json) driven by test_imap_clients.py.
// usage: NODE_PATH=build/npm/node_modules node imapflow_check.js SCENARIO
// Connection from the environment: IMAP_HOST IMAP_PORT IMAP_MODE (tls|starttls)
// IMAP_CA (PEM file the server certificate must verify against) IMAP_USER IMAP_PASS.
// Every scenario prints what it saw as one line `RESULT <json>` and exits 0; any
// error prints `FAIL: ...` and exits 1. TRACE=1 prints the IMAP dialogue on stderr.
// The `idle` scenario talks to the test over stdin/stdout lines (see there).
'use strict';
const fs = require('fs');
const readline = require('readline');
const { ImapFlow } = require('imapflow');

const env = process.env;
const fail = (m) => { console.log('FAIL: ' + m); process.exit(1); };
process.on('unhandledRejection', (e) => fail((e && (e.stack || e.message)) + (e && e.response ? ' response=' + e.response : '')));
setTimeout(() => fail('overall timeout'), Number(env.IMAP_TIMEOUT || 60) * 1000).unref();

const options = () => ({
  host: env.IMAP_HOST, port: Number(env.IMAP_PORT),
  secure: env.IMAP_MODE === 'tls', doSTARTTLS: env.IMAP_MODE === 'starttls' ? true : undefined,
  servername: 'localhost',
  tls: { ca: [fs.readFileSync(env.IMAP_CA)], servername: 'localhost', rejectUnauthorized: true },
  auth: { user: env.IMAP_USER, pass: env.IMAP_PASS },
  logger: env.TRACE ? { debug: (o) => o.src && console.error(o.src.toUpperCase() + ': ' + o.msg), info() {}, warn(o) { console.error(o); }, error: (o) => console.error(o), trace() {} } : false,
  disableAutoIdle: true, connectionTimeout: 15000, greetingTimeout: 15000, socketTimeout: 60000,
});

async function connect() {
  const c = new ImapFlow(options());
  c.on('error', (e) => fail('connection error ' + e.message));
  await c.connect();
  return c;
}

const result = (obj) => console.log('RESULT ' + JSON.stringify(obj, (k, v) => (typeof v === 'bigint' ? v.toString() : v instanceof Set ? [...v].sort() : v instanceof Map ? Object.fromEntries(v) : v)));

async function download(c, uid) {
  const dl = await c.download(String(uid), undefined, { uid: true });
  const parts = [];
  for await (const chunk of dl.content) parts.push(chunk);
  return Buffer.concat(parts);
}

const scenarios = {
  // Login, capabilities, LIST, STATUS, SELECT, FETCH ENVELOPE and the raw message.
  async basic() {
    const c = await connect();
    const caps = [...c.capabilities.keys()].sort();
    const list = (await c.list()).map((b) => ({ path: b.path, delimiter: b.delimiter, flags: [...b.flags].sort(), specialUse: b.specialUse || null }));
    const status = await c.status('INBOX', { messages: true, uidNext: true, unseen: true, uidValidity: true });
    const box = await c.mailboxOpen('INBOX');
    const msgs = [];
    for await (const m of c.fetch('1:*', { uid: true, flags: true, envelope: true, size: true })) {
      msgs.push({ uid: m.uid, seq: m.seq, size: m.size, flags: [...m.flags].sort(), subject: m.envelope.subject,
        from: (m.envelope.from || []).map((a) => a.address), messageId: m.envelope.messageId });
    }
    const sources = {};
    for (const m of msgs) sources[m.uid] = (await download(c, m.uid)).toString('base64');
    await c.logout();
    result({ caps, list, status, box: { path: box.path, exists: box.exists, uidValidity: box.uidValidity, uidNext: box.uidNext, highestModseq: box.highestModseq }, msgs, sources });
  },

  // Woken from IDLE by other sessions. The test answers each `IDLING n` line on
  // our stdout by changing the mailbox (roost deliver, an APPEND, a flag change,
  // an expunge) and we print what imapflow reported: `EVENT <json>`.
  async idle() {
    const c = await connect();
    const box = await c.mailboxOpen('INBOX');
    const events = [];
    let wake = null;
    const note = (kind) => (d) => { events.push({ kind, ...d }); console.log('EVENT ' + JSON.stringify({ kind, count: d.count, prevCount: d.prevCount, uid: d.uid, seq: d.seq, flags: d.flags ? [...d.flags].sort() : undefined })); if (wake) wake(); };
    c.on('exists', note('exists'));
    c.on('expunge', note('expunge'));
    c.on('flags', note('flags'));
    const lines = readline.createInterface({ input: process.stdin });
    const next = () => new Promise((resolve) => lines.once('line', resolve));
    const rounds = Number(env.IDLE_ROUNDS || 4);
    for (let i = 1; i <= rounds; i++) {
      const seen = events.length;
      const woken = new Promise((resolve) => { wake = resolve; });
      const idling = c.idle();
      await new Promise((r) => setTimeout(r, 200));
      console.log('IDLING ' + i + ' exists=' + c.mailbox.exists);
      const go = await next();                       // the test changed the mailbox
      if (events.length === seen) await woken;       // wait for the server to tell us
      wake = null;
      await c.noop();                                // ends IDLE (DONE) and lets pending responses in
      await idling;
      console.log('ROUND ' + i + ' ' + go);
    }
    await c.logout();
    result({ uidValidity: box.uidValidity, events });
  },

  // UID MOVE of the messages a search finds, to an existing folder.
  async move() {
    const c = await connect();
    await c.mailboxOpen('INBOX');
    const uids = await c.search({ subject: 'move me' }, { uid: true });
    const moved = await c.messageMove(uids, env.MOVE_TO, { uid: true });
    const left = await c.search({ all: true }, { uid: true });
    await c.mailboxOpen(env.MOVE_TO);
    const there = [];
    for await (const m of c.fetch('1:*', { uid: true, envelope: true, flags: true })) there.push({ uid: m.uid, subject: m.envelope.subject, flags: [...m.flags].sort() });
    await c.logout();
    result({ searched: uids, moved: moved && { destination: moved.destination, uidMap: moved.uidMap ? [...moved.uidMap.entries()] : null }, left, there });
  },

  // CONDSTORE: a flag change by another session shows up in FETCH CHANGEDSINCE.
  async condstore() {
    const c = await connect();
    const box = await c.mailboxOpen('INBOX');
    const before = box.highestModseq;
    const other = await connect();
    await other.mailboxOpen('INBOX');
    const target = Number(env.TARGET_UID);
    await other.messageFlagsAdd(String(target), ['\\Flagged', '$Important'], { uid: true });
    await other.logout();
    const changed = [];
    for await (const m of c.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: before })) changed.push({ uid: m.uid, modseq: m.modseq, flags: [...m.flags].sort() });
    const all = [];
    for await (const m of c.fetch('1:*', { uid: true, flags: true }, { uid: true, changedSince: 0n })) all.push(m.uid);
    const status = await c.status('INBOX', { highestModseq: true });
    await c.logout();
    result({ before, changed, all, after: status.highestModseq, condstoreEnabled: c.enabled ? [...c.enabled] : null });
  },

  // SEARCH with UTF-8 strings (CHARSET UTF-8), in headers and decoded bodies.
  async search() {
    const c = await connect();
    await c.mailboxOpen('INBOX');
    const q = JSON.parse(env.QUERIES);
    const out = {};
    for (const [name, query] of Object.entries(q)) out[name] = await c.search(query, { uid: true });
    await c.logout();
    result(out);
  },

  // BODYSTRUCTURE of every message, as imapflow parses it.
  async bodystructure() {
    const c = await connect();
    await c.mailboxOpen('INBOX');
    const out = {};
    for await (const m of c.fetch('1:*', { uid: true, envelope: true, bodyStructure: true })) out[m.envelope.subject] = m.bodyStructure;
    await c.logout();
    result(out);
  },
};

const name = process.argv[2];
if (!scenarios[name]) fail('unknown scenario ' + name);
scenarios[name]().then(() => process.exit(0));
