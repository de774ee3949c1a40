// The controller's dashboard (docs/controller.md, "Dashboard"): the store's images, a form to start a deployment, and
// one card per deployment with its live state, figures, milestones and a chart of the bytes fetched on demand and in
// the background over time. Plain JavaScript, no libraries, nothing fetched but this controller's own API.
'use strict';

const tokenKey = 'bmcast-token';
const pollMs = 3000;      // how often the list is read for deployments started elsewhere (curl, another tab)
const retryMs = 2000;     // before following a running deployment's events again after its stream broke
const terminal = new Set(['finished', 'stopped', 'failed']);
// Deploy events that mark a step of a deployment, shown in order under its figures; starred ones on its chart too.
const milestones = {
  'machine-started': 'booting', ready: 'ready*', complete: 'complete', pivoted: 'pivoted*',
  'pivot-failed': 'pivot failed*', 'source-changed': 'source changed', 'machine-exited': 'machine exited',
};
const $ = id => document.getElementById(id);

// One sign-in: its token, the cards it shows, and what stops its requests when it ends.
let session = null;

class Unauthorized extends Error {}

/** A request to the API with the session's token; a 401 ends the session and shows why. */
async function api(s, path, options = {}) {
  const response = await fetch(path, {
    ...options,
    signal: s.abort.signal,
    headers: { ...options.headers, Authorization: `Bearer ${s.token}` },
  });
  if (response.status === 401) {
    if (s === session)
      signOut('The controller refused this token (401 Unauthorized): enter the one in DATA/token.');
    throw new Unauthorized();
  }
  return response;
}

/** The JSON body of a response, or an Error with the API's own message ({"error": ...}). */
async function body(response) {
  const json = await response.json().catch(() => null);
  if (!response.ok)
    throw new Error(json?.error ?? `${response.status} ${response.statusText}`);
  return json;
}

function ignorable(error, s) {
  return error instanceof Unauthorized || s.abort.signal.aborted;
}

async function signIn(token) {
  signOut('');
  const s = session = { token, abort: new AbortController(), cards: new Map(), poll: 0 };
  try {
    const images = await body(await api(s, '/api/v1/images'));
    sessionStorage.setItem(tokenKey, token);
    showImages(images);
    $('login').hidden = true;
    $('main').hidden = false;
    $('sign-out').hidden = false;
    await refreshDeployments(s);
    s.poll = setInterval(() => refreshDeployments(s).catch(() => {}), pollMs);
  } catch (error) {
    if (!ignorable(error, s))
      signOut(`Cannot reach the controller's API: ${error.message}`);
  }
}

function signOut(message) {
  if (session) {
    session.abort.abort();
    clearInterval(session.poll);
    session = null;
  }
  sessionStorage.removeItem(tokenKey);
  $('images').tBodies[0].replaceChildren();
  $('deployments').replaceChildren();
  $('main').hidden = true;
  $('sign-out').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message;
  $('token').value = '';
  $('token').focus();
}

function showImages(images) {
  const rows = images.map(image => row([
    image.name, bytes(image.size), bytes(image.data_bytes), image.root_hash.slice(0, 16),
    new Date(image.created).toLocaleString(),
  ], [false, true, true, false, false]));
  $('images').tBodies[0].replaceChildren(...rows);
  $('deploy-image').replaceChildren(...images.map(image => new Option(image.name, image.name)));
}

function row(cells, numeric) {
  const tr = document.createElement('tr');
  cells.forEach((text, i) => {
    const td = tr.insertCell();
    td.textContent = text;
    if (numeric[i])
      td.className = 'number';
  });
  return tr;
}

async function refreshDeployments(s) {
  const list = await body(await api(s, '/api/v1/deployments'));
  for (const d of list)
    if (!s.cards.has(d.id))
      addCard(s, d);
  $('no-deployments').hidden = s.cards.size > 0;
}

async function startDeployment(event) {
  event.preventDefault();
  const s = session;
  const button = $('deploy-start');
  const value = id => $(id).value.trim() || null;
  $('deploy-error').textContent = '';
  button.disabled = true;
  try {
    const response = await api(s, '/api/v1/deployments', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({
        image: value('deploy-image'), target: value('deploy-target'), guest_mode: value('deploy-mode'),
        memory: value('deploy-memory'), disk: value('deploy-disk'),
      }),
    });
    const d = await body(response);
    if (!s.cards.has(d.id))
      addCard(s, d);
    $('no-deployments').hidden = true;
  } catch (error) {
    if (!ignorable(error, s))
      $('deploy-error').textContent = error.message;
  } finally {
    button.disabled = false;
  }
}

// A deployment's card: d is the API's view of it (from its 'state' events), points the fetched bytes over time
// (from its progress events), marks its milestones.
function addCard(s, d) {
  const node = $('deployment-card').content.firstElementChild.cloneNode(true);
  const card = { node, d, points: [], marks: [], stopping: false, problem: null, drawing: false };
  s.cards.set(d.id, card);
  node.dataset.id = d.id;
  node.querySelector('.image').textContent = d.image;
  node.querySelector('.target').textContent = d.target;
  node.querySelector('.id').textContent = d.id;
  node.querySelector('.stop').addEventListener('click', () => stop(s, card));
  $('deployments').prepend(node);
  render(card);
  follow(s, card);
}

/** Follow a deployment's Server-Sent Events (from its start) until it ends; again after a broken stream. */
async function follow(s, card) {
  const path = `/api/v1/deployments/${encodeURIComponent(card.d.id)}/events`;
  while (!s.abort.signal.aborted) {
    card.points = [];
    card.marks = [];
    try {
      const response = await api(s, path, { headers: { Accept: 'text/event-stream' } });
      if (!response.ok)
        await body(response);
      card.problem = null;
      await readEvents(response.body, (name, data) => apply(card, name, data));
      if (terminal.has(card.d.state))
        return;
    } catch (error) {
      if (ignorable(error, s))
        return;
      card.problem = `lost its events (${error.message}); following again`;
      redraw(card);
    }
    await new Promise(resolve => setTimeout(resolve, retryMs));
  }
}

/**
 * Server-Sent Events read from a fetch body: an EventSource cannot send the Authorization header. Each event is
 * lines of "event: NAME" and "data: TEXT" ended by an empty line.
 */
async function readEvents(stream, onEvent) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '';
  for (;;) {
    const { value, done } = await reader.read();
    if (done)
      return;
    buffer += value.replaceAll('\r', '');
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      let name = 'message';
      const data = [];
      for (const line of buffer.slice(0, end).split('\n')) {
        if (line.startsWith('event:'))
          name = line.slice(6).trim();
        else if (line.startsWith('data:'))
          data.push(line.slice(5).replace(/^ /, ''));
      }
      buffer = buffer.slice(end + 2);
      const parsed = parse(data.join('\n'));
      if (parsed !== undefined)
        onEvent(name, parsed);
    }
  }
}

/** An event's JSON, or undefined for none or a line that is not JSON (a deploy may print one): skipped, not fatal. */
function parse(text) {
  try {
    return text === '' ? undefined : JSON.parse(text);
  } catch {
    return undefined;
  }
}

function apply(card, name, e) {
  if (name === 'state')
    card.d = e;
  else if (name === 'started')
    card.points.push({ t: e.time, onDemand: 0, background: 0 });
  else if (name === 'progress' || name === 'complete' || name === 'stopped')
    card.points.push({ t: e.time, onDemand: e.on_demand_bytes, background: e.background_bytes });
  if (milestones[name])
    card.marks.push({ label: milestones[name].replace('*', ''), onChart: milestones[name].endsWith('*'), t: e.time });
  redraw(card);
}

async function stop(s, card) {
  card.stopping = true;
  card.problem = null;
  redraw(card);
  try {
    await body(await api(s, `/api/v1/deployments/${encodeURIComponent(card.d.id)}`, { method: 'DELETE' }));
  } catch (error) {
    if (ignorable(error, s))
      return;
    card.stopping = false;
    card.problem = `could not stop it: ${error.message}`;
  }
  redraw(card);
}

/** Draw a card at the next frame, once however many events arrived meanwhile (a replay brings hundreds). */
function redraw(card) {
  if (card.drawing)
    return;
  card.drawing = true;
  requestAnimationFrame(() => {
    card.drawing = false;
    render(card);
  });
}

function render(card) {
  const { d, node } = card;
  const field = selector => node.querySelector(selector);
  const ended = terminal.has(d.state);
  field('.state').textContent = card.stopping && !ended ? 'stopping' : d.state;
  field('.state').className = `state ${d.state}`;
  field('progress').value = d.percent_present;
  field('.percent').textContent = `${d.percent_present} %`;
  field('.ready-time').textContent = d.time_to_ready == null ? '-' : `${d.time_to_ready.toFixed(2)} s`;
  field('.on-demand').textContent = bytes(d.on_demand_bytes);
  field('.background').textContent = bytes(d.background_bytes);
  field('.present').textContent = `${bytes(d.present_bytes)} of ${bytes(d.total_bytes)}`;
  field('.stop').disabled = ended || card.stopping;
  field('.error').textContent = d.error ?? card.problem ?? '';
  field('.milestones').replaceChildren(...card.marks.map(mark => {
    const li = document.createElement('li');
    li.dataset.milestone = mark.label;
    li.append(Object.assign(document.createElement('b'), { textContent: mark.label }), ` ${mark.t.toFixed(1)} s`);
    return li;
  }));
  drawChart(field('.chart'), card.points, card.marks.filter(mark => mark.onChart));
}

const svgNs = 'http://www.w3.org/2000/svg';

function svg(tag, attributes, text) {
  const element = document.createElementNS(svgNs, tag);
  for (const [name, value] of Object.entries(attributes))
    element.setAttribute(name, value);
  if (text !== undefined)
    element.textContent = text;
  return element;
}

/**
 * Bytes fetched over time, stacked: on demand (what the guest waited for) at the bottom, the background copy above
 * it, so the top edge is everything fetched; dashed lines at ready and at the pivot. Seconds since the deploy started.
 */
function drawChart(chart, points, marks) {
  const [width, height, left, right, top, bottom] = [640, 180, 70, 14, 16, 22];
  const tMax = Math.max(1, ...points.map(p => p.t), ...marks.map(m => m.t));
  const yMax = Math.max(1, ...points.map(p => p.onDemand + p.background));
  const x = t => (left + (width - left - right) * t / tMax).toFixed(1);
  const y = v => (height - bottom - (height - top - bottom) * v / yMax).toFixed(1);
  const line = (list, value) => list.map(p => `${x(p.t)},${y(value(p))}`);
  const area = (lower, upper, kind) => svg('polygon', {
    class: kind, points: [...line(points, upper), ...line([...points].reverse(), lower)].join(' '),
  });
  const parts = [
    svg('line', { class: 'axis', x1: left, y1: y(0), x2: width - right, y2: y(0) }),
    svg('line', { class: 'axis', x1: left, y1: y(0), x2: left, y2: top }),
    svg('text', { x: left - 6, y: Number(y(yMax)) + 4, 'text-anchor': 'end' }, bytes(yMax)),
    svg('text', { x: left - 6, y: y(0), 'text-anchor': 'end' }, '0'),
    svg('text', { x: left, y: height - 6 }, '0 s'),
    svg('text', { x: width - right, y: height - 6, 'text-anchor': 'end' }, `${tMax.toFixed(1)} s`),
  ];
  if (points.length > 0) {
    parts.push(area(() => 0, p => p.onDemand, 'on-demand'));
    parts.push(area(p => p.onDemand, p => p.onDemand + p.background, 'background'));
  }
  marks.forEach((mark, i) => {
    const at = Number(x(mark.t));
    const leftOfLine = at > width - right - 90; // near the right edge the label goes on the line's left
    parts.push(svg('line', { class: 'mark', x1: at, y1: y(0), x2: at, y2: top }));
    parts.push(svg('text', {
      class: 'mark-label', x: leftOfLine ? at - 4 : at + 4, y: top + 10 + 14 * (i % 3), 'text-anchor': leftOfLine ? 'end' : 'start',
    }, mark.label));
  });
  chart.replaceChildren(...parts);
}

function bytes(n) {
  if (n == null)
    return '-';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  for (; n >= 1024 && i < units.length - 1; i++)
    n /= 1024;
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

$('token-form').addEventListener('submit', event => {
  event.preventDefault();
  signIn($('token').value.trim());
});
$('sign-out').addEventListener('click', () => signOut(''));
$('deploy-form').addEventListener('submit', startDeployment);
const saved = sessionStorage.getItem(tokenKey);
if (saved)
  signIn(saved);
else
  signOut('');
