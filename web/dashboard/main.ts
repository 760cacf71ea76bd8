// Entry point of the dashboard page. URL parameters: ?encoding=msgpack to use
// the binary subprotocol, ?rate=N for the per-subject tick rate.

import { Dashboard } from './app.js';
import './styles.css';

const params = new URLSearchParams(location.search);
const root = document.getElementById('app');
if (!root) throw new Error('dashboard: #app is missing');

const dashboard = new Dashboard(root, {
  encoding: params.get('encoding') === 'msgpack' ? 'msgpack' : 'json',
  tickRate: Number(params.get('rate')) || 4,
});
void dashboard.start();

// Handy in the console and for end-to-end tests.
(globalThis as { streamhub?: Dashboard }).streamhub = dashboard;
