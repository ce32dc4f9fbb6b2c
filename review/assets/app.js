// memscope review: the page's script. Everything it shows comes from the JSON API
// beside it (api/...); it changes nothing but through POST api/decisions. Text from
// the run (file names, class names) is only ever set as text, never as HTML.
'use strict';

const PAGE_SIZE = 48;
const state = { run: null, sort: null, order: null, cls: null, pair: null, flagged: false, decided: false, offset: 0, page: null, open: null, map: null };

// A daemon with a token is opened as `.../review/#token=...`: the fragment never
// reaches a server; the token is kept for this tab and sent with every API request.
const token = (() => {
  const found = location.hash.match(/token=([^&]+)/);
  if (found) {
    sessionStorage.setItem('memscope-token', decodeURIComponent(found[1]));
    history.replaceState(null, '', location.pathname + location.search);
  }
  return sessionStorage.getItem('memscope-token');
})();

function headers(extra) {
  const all = Object.assign({}, extra);
  if (token) all.Authorization = 'Bearer ' + token;
  return all;
}

async function api(path, options = {}) {
  const response = await fetch('api/' + path, Object.assign({}, options, { headers: headers(options.headers) }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.status + ' ' + response.statusText);
  return body;
}

function el(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (key === 'class') node.className = value;
    else if (key === 'text') node.textContent = value;
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key.startsWith('data-')) node.setAttribute(key, value);
    else node[key] = value;
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}

const $ = (id) => document.getElementById(id);

function fmt(value) {
  if (value == null || Number.isNaN(value)) return '–';
  const magnitude = Math.abs(value);
  if (magnitude >= 1000) return value.toFixed(0);
  if (magnitude >= 10) return value.toFixed(1);
  if (magnitude >= 0.01 || value === 0) return value.toFixed(3);
  return value.toExponential(1);
}

function say(message) { $('status').textContent = message || ''; }

function setImage(img, index) {
  const url = 'api/samples/' + index + '/image.png';
  img.alt = 'sample ' + index;
  if (!token) { img.src = url; return; }
  fetch(url, { headers: headers() }).then((r) => r.blob()).then((blob) => {
    img.src = URL.createObjectURL(blob);
    img.onload = () => URL.revokeObjectURL(img.src);
  });
}

function labelText(label) {
  return label ? label.name + (label.prob != null ? ' (' + label.prob.toFixed(2) + ')' : '') : '–';
}

function sortName(key) {
  const names = { rank: 'verdict rank', given_prob: 'p(given label)', confidence: 'confidence', variability: 'variability', index: 'index' };
  return names[key] || key.replace(/^score:/, '');
}

function decisionText(decision) {
  if (!decision) return 'No decision yet.';
  if (decision.action === 'relabel') return 'Relabel to ' + decision.label.name;
  return decision.action === 'exclude' ? 'Exclude from training' : 'Keep (label is right)';
}

// ---- the run and the controls ----

async function loadRun() {
  state.run = await api('run');
  const run = state.run;
  $('run-name').textContent = run.name;
  document.title = 'memscope review: ' + run.name;
  if (!state.sort) { state.sort = run.sorts[0].key; state.order = run.sorts[0].descending ? 'desc' : 'asc'; }
  renderFacts();
  renderControls();
}

function renderFacts() {
  const run = state.run;
  const epochs = run.verdict && run.verdict.epochs.length ? ' over epochs ' + run.verdict.epochs[0] + '–' + run.verdict.epochs[run.verdict.epochs.length - 1] : '';
  const verdict = run.verdict ? run.verdict.flagged + ' flagged' + epochs : 'no verdict in this run';
  $('rule').hidden = !(run.verdict && run.verdict.rule);
  $('rule-text').textContent = run.verdict && run.verdict.rule ? run.verdict.rule : '';
  const d = run.decisions;
  $('facts').textContent = run.samples + ' samples, ' + run.classes.length + ' classes; ' + verdict + '; decisions: '
    + d.relabel + ' relabel, ' + d.exclude + ' exclude, ' + d.keep + ' keep, saved to ' + run.corrections;
}

function renderControls() {
  const run = state.run;
  $('sorts').replaceChildren(...run.sorts.map((s) => {
    const active = s.key === state.sort;
    const arrow = active ? (state.order === 'desc' ? ' ↓' : ' ↑') : '';
    return el('button', { type: 'button', class: active ? 'active' : '', 'data-sort': s.key, text: sortName(s.key) + arrow, onclick: () => chooseSort(s) });
  }));
  const chip = (label, text, title) => el('button', {
    type: 'button', class: state.cls === label ? 'active' : '', 'data-class': label == null ? 'all' : String(label), text, title,
    onclick: () => { state.cls = label; state.offset = 0; renderControls(); loadPage(); },
  });
  $('classes').replaceChildren(chip(null, 'all', run.samples + ' samples'), ...run.classes.map((c) => chip(c.label, c.name, c.count + ' samples')));
  const names = run.classes.map((c) => c.name);
  $('pair').replaceChildren(el('option', { value: '', text: 'all' }),
    ...run.pairs.map((p) => el('option', { value: p.given + '-' + p.suggested, text: names[p.given] + ' → ' + names[p.suggested] + ' (' + p.count + ')' })));
  $('pair').value = state.pair || '';
  $('pair-box').hidden = run.pairs.length === 0;
  $('flagged-box').hidden = !run.verdict;
}

function chooseSort(sort) {
  if (state.sort === sort.key) state.order = state.order === 'desc' ? 'asc' : 'desc';
  else { state.sort = sort.key; state.order = sort.descending ? 'desc' : 'asc'; }
  state.offset = 0;
  renderControls();
  loadPage();
}

// ---- pages of cards ----

function query() {
  const q = new URLSearchParams({ sort: state.sort, order: state.order, offset: state.offset, limit: PAGE_SIZE });
  if (state.cls != null) q.set('class', state.cls);
  if (state.pair) q.set('pair', state.pair);
  if (state.flagged) q.set('flagged', 'true');
  if (state.decided) q.set('decided', 'true');
  return q.toString();
}

let pageRequest = 0;
async function loadPage() {
  const asked = query();
  const mine = ++pageRequest;
  try {
    const page = await api('samples?' + asked);
    if (mine !== pageRequest) return; // a newer request was made meanwhile
    state.page = page;
    renderPage(asked);
    say('');
  } catch (error) {
    say('error: ' + error.message);
  }
}

function renderPage(asked) {
  const page = state.page;
  $('cards').replaceChildren(...page.items.map(card));
  $('cards').setAttribute('data-query', asked);
  const last = Math.min(page.offset + page.items.length, page.total);
  $('range').textContent = page.total === 0 ? 'no samples' : (page.offset + 1) + '–' + last + ' of ' + page.total;
  $('prev').disabled = page.offset === 0;
  $('next').disabled = last >= page.total;
}

function card(item) {
  const img = el('img', { loading: 'lazy', width: 96, height: 96 });
  setImage(img, item.index);
  const changed = item.suggested && item.suggested.label !== item.given.label;
  const badges = el('div', {},
    item.flagged ? el('span', { class: 'badge flag', text: 'flag #' + item.flagged.rank, title: 'flagged by ' + item.flagged.by }) : null,
    item.original ? el('span', { class: 'badge', text: 'noise: was ' + item.original.name }) : null,
    item.decision ? el('span', { class: 'badge ' + item.decision.action, text: item.decision.action === 'relabel' ? 'relabel → ' + item.decision.label.name : item.decision.action }) : null);
  const classes = ['card', item.flagged ? 'flagged' : '', state.open === item.index ? 'open' : ''].join(' ');
  return el('div', { class: classes, 'data-index': item.index, onclick: () => openSample(item.index) },
    img,
    el('div', { class: 'source', text: '#' + item.index + ' ' + item.source, title: item.source }),
    el('div', { class: 'labels' }, 'given ' + labelText(item.given),
      item.suggested ? el('span', { class: changed ? 'changed' : '', text: ' → ' + labelText(item.suggested) }) : null),
    el('div', { class: 'scores', text: item.scores.map((s) => s.name + ' ' + fmt(s.value)).join(' · ') }),
    badges);
}

// ---- one sample ----

async function openSample(index) {
  state.open = index;
  try {
    const [sample, history] = await Promise.all([api('samples/' + index), api('samples/' + index + '/history')]);
    if (state.open !== index) return;
    renderSample(sample, history);
    for (const node of document.querySelectorAll('.card')) node.classList.toggle('open', Number(node.dataset.index) === index);
    drawMap();
    say('');
  } catch (error) {
    say('error: ' + error.message);
  }
}

function renderSample(sample, history) {
  const detail = $('detail');
  detail.hidden = false;
  detail.setAttribute('data-index', sample.index);
  $('detail-title').textContent = 'Sample ' + sample.index;
  setImage($('detail-image'), sample.index);
  const facts = [['source', sample.source], ['given', labelText(sample.given)], ['suggested', labelText(sample.suggested)]];
  if (sample.flagged) facts.push(['flagged', '#' + sample.flagged.rank + ' by ' + sample.flagged.by]);
  if (sample.original) facts.push(['noise', 'the noise injector changed it from ' + sample.original.name]);
  if (sample.confidence != null) facts.push(['data map', 'confidence ' + fmt(sample.confidence) + ', variability ' + fmt(sample.variability)]);
  if (sample.probs) {
    const names = state.run.classes.map((c) => c.name);
    const top = sample.probs.map((p, c) => [p, c]).sort((a, b) => b[0] - a[0]).slice(0, 3);
    facts.push(['most likely', top.map(([p, c]) => names[c] + ' ' + p.toFixed(2)).join(', ')]);
  }
  $('detail-facts').replaceChildren(...facts.flatMap(([k, v]) => [el('dt', { text: k }), el('dd', { text: v })]));
  $('detail-scores').replaceChildren(...sample.scores.map((s) => el('tr', {}, el('td', { text: s.name }), el('td', { text: fmt(s.value) }))));
  renderDecision(sample);
  $('history').replaceChildren(...(history.series.length ? history.series.map(chart) : [el('p', { class: 'note', text: 'This run kept no per-epoch values.' })]));
}

function renderDecision(sample) {
  $('decision').textContent = decisionText(sample.decision);
  const current = sample.decision && sample.decision.action === 'relabel' ? sample.decision.label.label : null;
  $('relabel').replaceChildren(...state.run.classes.map((c) => el('button', {
    type: 'button', 'data-label': c.name, text: c.name, disabled: c.label === sample.given.label,
    class: [c.label === current ? 'active' : '', sample.suggested && sample.suggested.label === c.label ? 'suggested' : ''].join(' '),
    onclick: () => decide(sample, 'relabel', c.name),
  })));
  $('exclude').onclick = () => decide(sample, 'exclude');
  $('keep').onclick = () => decide(sample, 'keep');
}

async function decide(sample, action, label) {
  const body = { index: sample.index, action };
  if (label != null) body.label = label;
  try {
    const answer = await api('decisions', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    sample.decision = answer.decision;
    state.run.decisions = answer.decisions;
    renderDecision(sample);
    renderFacts();
    const item = state.page && state.page.items.find((i) => i.index === sample.index);
    if (item) {
      item.decision = answer.decision;
      const old = document.querySelector('.card[data-index="' + sample.index + '"]');
      if (old) old.replaceWith(card(item));
    }
    say('');
  } catch (error) {
    say('error: ' + error.message);
  }
}

// A small line chart of one series: the sample's values (solid) against the median
// over all samples (dashed), epochs 1-based on the x axis.
function chart(series) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 360, H = 90, L = 44, R = 8, T = 14, B = 16;
  const values = series.values.concat(series.median).filter((v) => Number.isFinite(v));
  let lo = Math.min(...values), hi = Math.max(...values);
  if (series.name === 'label_prob') { lo = 0; hi = 1; }
  if (!(hi > lo)) { hi = lo + 1; }
  const e0 = series.epochs[0], e1 = series.epochs[series.epochs.length - 1];
  const x = (e) => L + (e1 > e0 ? (e - e0) / (e1 - e0) : 0.5) * (W - L - R);
  const y = (v) => T + (1 - (v - lo) / (hi - lo)) * (H - T - B);
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('width', W);
  svg.setAttribute('height', H);
  svg.setAttribute('data-series', series.name);
  const add = (tag, attrs, text) => {
    const node = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
    if (text != null) node.textContent = text;
    svg.append(node);
  };
  const points = (list) => list.map((v, k) => x(series.epochs[k]).toFixed(1) + ',' + y(v).toFixed(1)).join(' ');
  add('text', { x: L, y: 10 }, (series.name === 'label_prob' ? 'probability of its label' : series.name) + ' (dashed: median of all samples)');
  add('text', { x: 2, y: T + 8 }, fmt(hi));
  add('text', { x: 2, y: H - B }, fmt(lo));
  add('text', { x: L, y: H - 3 }, 'epoch ' + e0);
  add('text', { x: W - R - 40, y: H - 3 }, 'epoch ' + e1);
  add('polyline', { class: 'median', points: points(series.median) });
  add('polyline', { class: 'line', points: points(series.values) });
  for (const [k, v] of series.values.entries()) add('circle', { cx: x(series.epochs[k]), cy: y(v), r: 2, fill: '#1f5fbf' });
  return svg;
}

// ---- the data map ----

const PAD = { left: 34, right: 8, top: 16, bottom: 28 };

// Where sample `i` is drawn on the canvas: variability across, confidence up.
function mapPoint(i) {
  const canvas = $('datamap');
  const xMax = Number(canvas.dataset.xMax), yMax = Number(canvas.dataset.yMax);
  const w = canvas.width - PAD.left - PAD.right, h = canvas.height - PAD.top - PAD.bottom;
  return [PAD.left + Math.min(state.map.variability[i] / xMax, 1) * w, PAD.top + (1 - Math.min(state.map.confidence[i] / yMax, 1)) * h];
}

async function loadMap() {
  if (!state.run.history_epochs) {
    $('datamap').hidden = true;
    $('map-note').textContent = 'No data map: this run has no probability of each label per epoch (predictions/label_prob_epochs.npy).';
    return;
  }
  state.map = await api('datamap');
  state.map.isFlagged = new Set(state.map.flagged);
  $('map-note').textContent = 'Each dot is a sample: its confidence (mean probability of its label over '
    + state.map.epochs + ' epochs) against its variability. Red: flagged. Click a dot to open it.';
  drawMap();
}

function drawMap() {
  if (!state.map) return;
  const canvas = $('datamap');
  const g = canvas.getContext('2d');
  g.clearRect(0, 0, canvas.width, canvas.height);
  g.strokeStyle = '#999';
  g.strokeRect(PAD.left, PAD.top, canvas.width - PAD.left - PAD.right, canvas.height - PAD.top - PAD.bottom);
  g.fillStyle = '#555';
  g.font = '10px sans-serif';
  g.fillText('confidence', 2, 10);
  g.fillText('1', PAD.left - 10, PAD.top + 4);
  g.fillText('0', PAD.left - 10, canvas.height - PAD.bottom);
  g.fillText('variability 0', PAD.left, canvas.height - 10);
  g.fillText(canvas.dataset.xMax, canvas.width - PAD.right - 16, canvas.height - 10);
  const n = state.map.confidence.length;
  const dot = (i, colour, size) => { const [px, py] = mapPoint(i); g.fillStyle = colour; g.fillRect(px - size / 2, py - size / 2, size, size); };
  for (let i = 0; i < n; i++) if (!state.map.isFlagged.has(i)) dot(i, 'rgba(60,60,60,0.35)', 2);
  for (const i of state.map.flagged) dot(i, '#d62728', 3);
  if (state.open != null) {
    const [px, py] = mapPoint(state.open);
    g.strokeStyle = '#1f5fbf';
    g.lineWidth = 2;
    g.beginPath();
    g.arc(px, py, 6, 0, 2 * Math.PI);
    g.stroke();
    g.lineWidth = 1;
  }
}

function clickMap(event) {
  if (!state.map) return;
  const canvas = $('datamap');
  const box = canvas.getBoundingClientRect();
  const cx = (event.clientX - box.left) * canvas.width / box.width, cy = (event.clientY - box.top) * canvas.height / box.height;
  let best = null, bestDistance = 10 * 10;
  for (let i = 0; i < state.map.confidence.length; i++) {
    const [px, py] = mapPoint(i);
    const d = (px - cx) * (px - cx) + (py - cy) * (py - cy);
    if (d < bestDistance) { best = i; bestDistance = d; }
  }
  if (best != null) openSample(best);
}

// ---- start ----

function start() {
  $('prev').onclick = () => { state.offset = Math.max(0, state.offset - PAGE_SIZE); loadPage(); };
  $('next').onclick = () => { state.offset += PAGE_SIZE; loadPage(); };
  $('pair').onchange = () => { state.pair = $('pair').value || null; state.offset = 0; loadPage(); };
  $('flagged').onchange = () => { state.flagged = $('flagged').checked; state.offset = 0; loadPage(); };
  $('decided').onchange = () => { state.decided = $('decided').checked; state.offset = 0; loadPage(); };
  $('close').onclick = () => { $('detail').hidden = true; state.open = null; drawMap(); };
  $('datamap').onclick = clickMap;
  loadRun().then(() => Promise.all([loadPage(), loadMap()])).catch((error) => say('error: ' + error.message));
}

start();
