#!/usr/bin/env node
// Prints Switchboard workspace events, one JSON object per line.
//
// usage: events_client.js WS_URL TOKEN COUNT [TIMEOUT_MS]
// Connects to WS_URL (e.g. ws://127.0.0.1:8080/v1/events) with the bearer
// token, prints "connected" on stderr once the upgrade succeeded, then prints
// COUNT events and exits 0; exits 1 if they do not arrive within TIMEOUT_MS.
'use strict';
const WebSocket = require('ws');

const [url, token, countArg, timeoutArg] = process.argv.slice(2);
if (!url || !token || !countArg) {
  console.error('usage: events_client.js WS_URL TOKEN COUNT [TIMEOUT_MS]');
  process.exit(2);
}
const want = Number(countArg);
const timeout = Number(timeoutArg || 10000);

const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${token}` } });
let seen = 0;
const timer = setTimeout(() => {
  console.error(`timed out after ${seen} of ${want} events`);
  process.exit(1);
}, timeout);

ws.on('open', () => console.error('connected'));
ws.on('unexpected-response', (req, res) => {
  console.error(`upgrade refused: HTTP ${res.statusCode}`);
  process.exit(1);
});
ws.on('message', (data) => {
  process.stdout.write(`${data}\n`);
  seen += 1;
  if (seen >= want) {
    clearTimeout(timer);
    ws.close(1000);
  }
});
ws.on('close', (code) => {
  if (seen < want) {
    console.error(`closed with ${code} after ${seen} of ${want} events`);
    process.exit(1);
  }
  process.exit(0);
});
ws.on('error', (err) => {
  console.error(`error: ${err.message}`);
  process.exit(1);
});
