// nodemailer (npm, pinned in package-lock.json) driven by test_smtp_clients.py.
// usage: NODE_PATH=build/npm/node_modules node nodemailer_send.js
// From the environment: SMTP_HOST SMTP_PORT SMTP_MODE (tls|starttls|lmtp) SMTP_CA
// (PEM file the server certificate must verify against) SMTP_USER SMTP_PASS (no
// AUTH when SMTP_USER is empty), FROM, TO (comma-separated), SUBJECT, ATTACH (a
// file sent as an attachment, by its base name). Sends one HTML message with a
// text alternative and the attachment; prints `accepted [...] rejected [...]
// RESPONSE` (LMTP may refuse some recipients and deliver to the others) and
// then `NODEMAILER OK`, exit 0. Any error prints `FAIL: ...` and exits 1.
// TRACE=1 prints the SMTP dialogue on stderr.
'use strict';
const fs = require('fs');
const path = require('path');
const nodemailer = require('nodemailer');

const env = process.env;
const fail = (m) => { console.log('FAIL: ' + m); process.exit(1); };
process.on('unhandledRejection', (e) => fail(e && (e.stack || e.message)));
setTimeout(() => fail('overall timeout'), 50000).unref();

async function main() {
  const t = nodemailer.createTransport({
    host: env.SMTP_HOST, port: Number(env.SMTP_PORT),
    secure: env.SMTP_MODE === 'tls', requireTLS: env.SMTP_MODE === 'starttls',
    lmtp: env.SMTP_MODE === 'lmtp', ignoreTLS: env.SMTP_MODE === 'lmtp',
    auth: env.SMTP_USER ? { user: env.SMTP_USER, pass: env.SMTP_PASS } : undefined,
    tls: { ca: [fs.readFileSync(env.SMTP_CA)], rejectUnauthorized: true },
    name: 'client.example',
    connectionTimeout: 15000, greetingTimeout: 15000, socketTimeout: 30000,
    logger: !!env.TRACE, debug: !!env.TRACE,
  });
  const info = await t.sendMail({
    from: env.FROM,
    to: env.TO.split(','),
    subject: env.SUBJECT,
    text: 'Plain alternative.\n.\nA lone dot above.\n',
    html: '<p>HTML <b>body</b> with a Grüße.</p>',
    attachments: [{ filename: path.basename(env.ATTACH), content: fs.readFileSync(env.ATTACH),
                    contentType: 'application/octet-stream' }],
  });
  console.log('accepted', JSON.stringify(info.accepted), 'rejected', JSON.stringify(info.rejected), info.response);
  if (!info.accepted.length)
    fail('no recipient accepted');
  console.log('NODEMAILER OK');
}

main().catch((e) => fail((e.code || '') + ' ' + (e.response || e.message)));
