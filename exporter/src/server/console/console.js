// The live console: reads the series of the most recent collection every second, derives
// rates from consecutive collections, and draws servers, models, processes, GPUs and
// sparklines. Every value from the exporter (names, aliases, labels) is set as text
// (textContent, title, data-*); nothing is ever parsed as HTML.
'use strict';
(function () {
  const DATA = '/-/console/metrics';
  // A little over the default minimum interval between collections (1 s), measured by the
  // exporter from when a collection started: a poll a whole second after the last one then
  // finds a new collection instead of the same one every other time.
  const PERIOD_MS = 1050;
  const HISTORY = 300; // sparkline points: five minutes at one a second
  const DASH = '–';

  // ---- The Prometheus text format, as the exporter writes it: name{labels} value.

  function parse(text) {
    const families = new Map();
    for (const line of text.split('\n')) {
      if (line === '' || line.charCodeAt(0) === 35) continue;
      let p = 0;
      while (p < line.length && line[p] !== '{' && line[p] !== ' ') p++;
      const name = line.slice(0, p);
      const labels = {};
      const escaped = line.indexOf('\\') >= 0;
      if (line[p] === '{') {
        p++;
        while (p < line.length && line[p] !== '}') {
          const eq = line.indexOf('=', p);
          if (eq < 0 || line[eq + 1] !== '"') return families;
          const key = line.slice(p, eq);
          p = eq + 2;
          let value = '';
          for (;;) {
            const quote = line.indexOf('"', p);
            const slash = escaped ? line.indexOf('\\', p) : -1;
            if (quote < 0) return families;
            if (slash < 0 || quote < slash) { value += line.slice(p, quote); p = quote + 1; break; }
            const c = line[slash + 1];
            value += line.slice(p, slash) + (c === 'n' ? '\n' : c);
            p = slash + 2;
          }
          labels[key] = value;
          if (line[p] === ',') p++;
        }
        p++;
      }
      const text = line.slice(p).trim().split(' ')[0];
      const value = text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text);
      let list = families.get(name);
      if (!list) families.set(name, (list = []));
      list.push({ l: labels, v: value });
    }
    return families;
  }

  /** One reading: its families, looked up by name and by the label rows are keyed by. */
  function reading(text, t) {
    const families = parse(text);
    const indexes = new Map(); // "key name" -> Map(label value -> samples), built when first asked
    const of = (name) => families.get(name) || [];
    const by = (key, id, name, match) => {
      let index = indexes.get(key + ' ' + name);
      if (!index) {
        index = new Map();
        for (const sample of of(name)) {
          const value = sample.l[key];
          const found = index.get(value);
          if (found) found.push(sample); else index.set(value, [sample]);
        }
        indexes.set(key + ' ' + name, index);
      }
      const list = index.get(id) || [];
      return match ? list.filter((s) => Object.keys(match).every((k) => s.l[k] === match[k])) : list;
    };
    return { t, of, by };
  }

  const sum = (list) => (list.length ? list.reduce((a, s) => a + s.v, 0) : null);
  const max = (list) => (list.length ? list.reduce((a, s) => Math.max(a, s.v), -Infinity) : null);
  const unique = (list, key) => [...new Set(list.map((s) => s.l[key]).filter((v) => v !== undefined && v !== ''))];

  // ---- Rates and history, kept in the page only.

  let previous = null; // { t, counters }
  let current = null;
  const history = new Map();
  let seen = new Set();

  /** The per-second rate of a counter since the previous reading; null without one or after a reset. */
  function rate(key, value) {
    if (value === null) return null;
    current.counters.set(key, value);
    if (!previous) return null;
    const old = previous.counters.get(key);
    const seconds = (current.t - previous.t) / 1000;
    if (old === undefined || value < old || seconds <= 0) return null;
    return (value - old) / seconds;
  }

  /** Change of a histogram's sum over the change of its count: the mean of new observations. */
  function mean(key, sumValue, countValue) {
    const sums = rate(key + ':sum', sumValue);
    const counts = rate(key + ':count', countValue);
    return sums === null || !counts ? null : sums / counts;
  }

  function remember(key, value) {
    seen.add(key);
    let points = history.get(key);
    if (!points) history.set(key, (points = []));
    points.push(value === null || !isFinite(value) ? NaN : value);
    if (points.length > HISTORY) points.shift();
    return points;
  }

  // ---- Units a person reads.

  function bytes(b) {
    if (b === null || !isFinite(b)) return DASH;
    const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
    let i = 0;
    while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
    return (i === 0 ? b.toFixed(0) : b.toFixed(b < 10 ? 2 : 1)) + ' ' + units[i];
  }
  const fixed = (v, digits, unit) => (v === null || !isFinite(v) ? DASH : v.toFixed(digits) + (unit ? ' ' + unit : ''));
  const count = (v) => (v === null || !isFinite(v) ? DASH : String(Math.round(v)));
  const percent = (r) => fixed(r === null ? null : r * 100, 0, '%');
  const perSecond = (b) => (b === null ? DASH : bytes(b) + '/s');
  const seconds = (s) => (s === null ? DASH : s < 1 ? (s * 1000).toFixed(0) + ' ms' : s.toFixed(2) + ' s');
  const hertz = (h) => (h === null ? DASH : (h / 1e6).toFixed(0) + ' MHz');

  // ---- Drawing: keyed rows and cells, so an update only changes text that changed.

  // What each cell shows, kept beside it so an update compares without reading the DOM.
  const shown = new WeakMap();

  function cell(td, spec) {
    let last = shown.get(td);
    if (!last) {
      td.dataset.col = spec.n;
      shown.set(td, (last = {}));
    }
    if (spec.spark) {
      let canvas = td.firstChild;
      if (!canvas) {
        canvas = document.createElement('canvas');
        canvas.className = 'spark';
        td.appendChild(canvas);
      }
      spark(canvas, spec.spark, 100, spec.top);
      return;
    }
    if (last.t !== spec.t) td.textContent = last.t = spec.t;
    const cls = (spec.c || '') + (spec.o ? ' opt' : '');
    if (last.c !== cls) td.className = last.c = cls;
    const v = spec.v === undefined ? undefined : String(spec.v);
    if (last.v !== v) {
      last.v = v;
      if (v === undefined) delete td.dataset.v; else td.dataset.v = v;
    }
    const title = spec.title || '';
    if (last.title !== title) td.title = last.title = title;
  }

  function section(id, rows, emptyText) {
    const root = document.getElementById(id);
    const table = root.querySelector('table');
    const empty = root.querySelector('.empty');
    empty.hidden = rows.length > 0;
    table.hidden = rows.length === 0;
    if (!rows.length && empty.textContent !== emptyText) empty.textContent = emptyText;
    const tbody = table.tBodies[0];
    const old = new Map([...tbody.rows].map((tr) => [tr.dataset.key, tr]));
    rows.forEach((row, i) => {
      let tr = old.get(row.key);
      old.delete(row.key);
      if (!tr) {
        tr = document.createElement('tr');
        tr.dataset.key = row.key;
        for (let j = 0; j < row.cells.length; j++) tr.appendChild(document.createElement('td'));
      }
      if (tbody.rows[i] !== tr) tbody.insertBefore(tr, tbody.rows[i] || null);
      row.cells.forEach((spec, j) => cell(tr.cells[j], spec));
    });
    for (const tr of old.values()) tr.remove();
    return table;
  }

  let colors = null;
  const HEIGHT = 22;

  // A sparkline is drawn only while it is on screen: a canvas scrolled out of view keeps its
  // latest points and is drawn when it comes back.
  const onScreen = new WeakSet();
  const latest = new WeakMap();
  const observer = new IntersectionObserver((entries) => {
    for (const entry of entries) {
      if (!entry.isIntersecting) { onScreen.delete(entry.target); continue; }
      onScreen.add(entry.target);
      const pending = latest.get(entry.target);
      if (pending) draw(entry.target, ...pending);
    }
  });

  /** Draws `points` scaled to `ceiling` (a ratio's 1, a memory's total), else to their maximum. */
  function spark(canvas, points, width, ceiling) {
    if (!latest.has(canvas)) observer.observe(canvas);
    latest.set(canvas, [points, width, ceiling]);
    if (onScreen.has(canvas)) draw(canvas, points, width, ceiling);
  }

  function draw(canvas, points, width, ceiling) {
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(HEIGHT * dpr);
    }
    const ctx = canvas.getContext('2d');
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, HEIGHT);
    let top = ceiling || 0;
    for (const v of points) if (v > top) top = v;
    if (!(top > 0)) top = 1;
    // A minute wide at first, then widening to the whole history.
    const step = width / Math.max(59, points.length - 1);
    const x0 = width - (points.length - 1) * step;
    ctx.strokeStyle = colors.accent;
    ctx.lineWidth = 1.25;
    ctx.beginPath();
    let drawing = false;
    points.forEach((v, i) => {
      if (isNaN(v)) { drawing = false; return; }
      const x = x0 + i * step;
      const y = HEIGHT - 1 - (v / top) * (HEIGHT - 3);
      if (drawing) ctx.lineTo(x, y); else ctx.moveTo(x, y);
      drawing = true;
    });
    ctx.stroke();
  }

  // ---- The sections.

  function servers(r) {
    return r.of('llm_server_up').map((up) => {
      const name = up.l.server;
      const on = (family, match) => r.by('server', name, family, match);
      const sleeping = up.v === 1 && max(on('llm_server_sleeping')) === 1;
      const state = up.v !== 1 ? 'down' : sleeping ? 'sleeping' : 'up';
      const loaded = on('llm_model_loaded').filter((s) => s.v === 1);
      const models = unique(on('llm_server_info').concat(on('llm_slots'), loaded), 'model');
      const busy = sum(on('llm_slots', { state: 'busy' }));
      const slots = sum(on('llm_slots'));
      const generation = rate('gen:' + name, sum(on('llm_generation_tokens_total')));
      const prompt = rate('prompt:' + name, sum(on('llm_prompt_tokens_total')));
      const used = max(on('llm_slot_context_used_tokens'));
      const size = max(on('llm_context_size_tokens'));
      const kv = max(on('llm_kv_cache_usage_ratio'));
      const latency = mean('lat:' + name, sum(on('llm_request_duration_seconds_sum')), sum(on('llm_request_duration_seconds_count')));
      const ttft = mean('ttft:' + name, sum(on('llm_time_to_first_token_seconds_sum')), sum(on('llm_time_to_first_token_seconds_count')));
      const down = state === 'down';
      return {
        key: name,
        cells: [
          { n: 'server', t: name, c: 'text', title: name },
          { n: 'backend', o: true, t: up.l.backend || DASH, c: 'text' },
          { n: 'model', o: true, t: models.join(', ') || DASH, c: 'text', title: models.join('\n'), v: models.join('\n') },
          { n: 'state', t: state, c: 'text ' + state, v: state, title: down ? 'The last collection could not read this server; the exporter\'s log says why.' : '' },
          { n: 'slots', t: slots === null ? DASH : count(busy || 0) + ' / ' + count(slots), v: slots === null ? '' : (busy || 0) + '/' + slots },
          { n: 'running', o: true, t: count(sum(on('llm_requests_running'))) },
          { n: 'waiting', o: true, t: count(sum(on('llm_requests_waiting'))) },
          { n: 'generation', t: fixed(generation, 1), v: generation === null ? '' : generation },
          { n: 'prompt', o: true, t: fixed(prompt, 1), v: prompt === null ? '' : prompt },
          { n: 'context', t: size === null ? DASH : count(used) + ' / ' + count(size), v: size === null ? '' : used + '/' + size, title: 'tokens in the fullest slot / context per slot' },
          { n: 'kv', t: percent(kv) },
          { n: 'latency', o: true, t: seconds(latency), title: 'mean duration of the requests finished since the previous collection' },
          { n: 'ttft', o: true, t: seconds(ttft), title: 'mean time to first token since the previous collection' },
          { n: 'spark', spark: remember('gen:' + name, down ? null : generation) },
        ],
      };
    });
  }

  function models(r) {
    const rows = new Map();
    const row = (s) => {
      const key = s.l.server + '\u0000' + s.l.model;
      if (!rows.has(key)) rows.set(key, { server: s.l.server, model: s.l.model, state: null, loaded: null, vram: null, size: null });
      return rows.get(key);
    };
    for (const s of r.of('llm_model_state')) if (s.v === 1) row(s).state = s.l.state; else row(s);
    for (const s of r.of('llm_model_loaded')) row(s).loaded = s.v;
    for (const s of r.of('llm_model_vram_bytes')) row(s).vram = s.v;
    for (const s of r.of('llm_model_size_bytes')) row(s).size = s.v;
    return [...rows.entries()].map(([key, m]) => ({
      key,
      cells: [
        { n: 'server', t: m.server, c: 'text' },
        { n: 'model', t: m.model, c: 'text', title: m.model, v: m.model },
        { n: 'state', t: m.state || DASH, c: 'text ' + (m.state || ''), v: m.state || '' },
        { n: 'loaded', o: true, t: m.loaded === null ? DASH : m.loaded === 1 ? 'yes' : 'no' },
        { n: 'vram', t: bytes(m.vram) },
        { n: 'size', t: bytes(m.size) },
      ],
    }));
  }

  function processes(r) {
    let footprint = false;
    const rows = r.of('llm_process_info').map((info) => {
      const pid = info.l.pid;
      const on = (family) => r.by('pid', pid, family);
      const cpu = rate('cpu:' + pid, sum(on('llm_process_cpu_seconds_total')));
      const rss = sum(on('llm_process_resident_memory_bytes'));
      const mac = sum(on('llm_process_memory_footprint_bytes'));
      if (mac !== null) footprint = true;
      const open = sum(on('llm_process_open_fds'));
      const limit = sum(on('llm_process_max_fds'));
      return {
        key: pid,
        cells: [
          { n: 'pid', t: pid, c: 'text' },
          { n: 'process', o: true, t: info.l.process || DASH, c: 'text', title: info.l.workload || '' },
          { n: 'server', t: info.l.server || DASH, c: 'text' },
          { n: 'model', o: true, t: info.l.model || DASH, c: 'text', title: info.l.model || '' },
          { n: 'cpu', t: fixed(cpu, 2), v: cpu === null ? '' : cpu },
          { n: 'rss', t: bytes(rss), v: rss === null ? '' : rss },
          { n: 'footprint', o: true, t: bytes(mac), c: 'mac' },
          { n: 'threads', o: true, t: count(sum(on('llm_process_threads'))) },
          { n: 'fds', o: true, t: open === null ? DASH : count(open) + (limit === null ? '' : ' / ' + count(limit)) },
          { n: 'read', o: true, t: perSecond(rate('read:' + pid, sum(on('llm_process_read_bytes_total')))) },
          { n: 'written', o: true, t: perSecond(rate('write:' + pid, sum(on('llm_process_written_bytes_total')))) },
          { n: 'gpumem', t: bytes(sum(on('llm_process_gpu_memory_bytes'))) },
          { n: 'cpuspark', spark: remember('cpu:' + pid, cpu) },
          { n: 'rssspark', o: true, spark: remember('rss:' + pid, rss) },
        ],
      };
    });
    rows.sort((a, b) => Number(a.key) - Number(b.key));
    return { rows, footprint };
  }

  /** One line of a GPU card; `hot` marks its bar when above 90 %. */
  function gauge(label, text, ratio, v, hot = true) {
    return { label, text, ratio, v, hot };
  }

  const CLOCKS = { graphics: 'Graphics clock', sm: 'SM clock', memory: 'Memory clock' };

  function gpus(r) {
    const ids = new Set();
    for (const family of ['llm_gpu_info', 'llm_gpu_utilization_ratio', 'llm_gpu_memory_used_bytes', 'llm_gpu_renderer_utilization_ratio']) {
      for (const s of r.of(family)) ids.add(s.l.gpu);
    }
    return [...ids].sort((a, b) => Number(a) - Number(b)).map((gpu) => {
      const on = (family, match) => r.by('gpu', gpu, family, match);
      const info = on('llm_gpu_info')[0];
      const util = max(on('llm_gpu_utilization_ratio'));
      const used = max(on('llm_gpu_memory_used_bytes'));
      const total = max(on('llm_gpu_memory_total_bytes'));
      const power = max(on('llm_gpu_power_watts'));
      const limit = max(on('llm_gpu_power_limit_watts'));
      const temp = max(on('llm_gpu_temperature_celsius'));
      const gauges = [];
      if (util !== null) gauges.push(gauge('Utilization', percent(util), util, util));
      const renderer = max(on('llm_gpu_renderer_utilization_ratio'));
      if (renderer !== null) gauges.push(gauge('Renderer', percent(renderer), renderer, renderer));
      const tiler = max(on('llm_gpu_tiler_utilization_ratio'));
      if (tiler !== null) gauges.push(gauge('Tiler', percent(tiler), tiler, tiler));
      if (used !== null) gauges.push(gauge('Memory', bytes(used) + (total ? ' / ' + bytes(total) : ''), total ? used / total : null, used));
      const allocated = max(on('llm_gpu_memory_allocated_bytes'));
      if (allocated !== null) gauges.push(gauge('Allocated', bytes(allocated), null, allocated));
      if (temp !== null) gauges.push(gauge('Temperature', fixed(temp, 0, '°C'), temp / 100, temp));
      if (power !== null) gauges.push(gauge('Power', fixed(power, 0, 'W') + (limit ? ' / ' + fixed(limit, 0, 'W') : ''), limit ? power / limit : null, power));
      for (const clock in CLOCKS) {
        const now = max(on('llm_gpu_clock_hertz', { clock }));
        const top = max(on('llm_gpu_clock_max_hertz', { clock }));
        if (now !== null) gauges.push(gauge(CLOCKS[clock], hertz(now) + (top ? ' / ' + hertz(top) : ''), top ? now / top : null, now, false));
      }
      const fan = max(on('llm_gpu_fan_speed_ratio'));
      if (fan !== null) gauges.push(gauge('Fan', percent(fan), fan, fan, false));
      const pstate = max(on('llm_gpu_performance_state'));
      if (pstate !== null) gauges.push(gauge('P-state', 'P' + pstate, null, pstate));
      const throttled = on('llm_gpu_throttled').filter((s) => s.v === 1).map((s) => s.l.reason);
      return {
        key: gpu,
        title: 'GPU ' + gpu + (info && info.l.name ? ' · ' + info.l.name : ''),
        gauges,
        throttled,
        util: remember('gpu-util:' + gpu, util === null ? renderer : util),
        mem: remember('gpu-mem:' + gpu, used === null ? allocated : used),
        total,
      };
    });
  }

  function card(root, g) {
    let el = root.querySelector(':scope > .card[data-key="' + CSS.escape(g.key) + '"]');
    if (!el) {
      el = document.createElement('div');
      el.className = 'card';
      el.dataset.key = g.key;
      el.appendChild(document.createElement('h3'));
      el.appendChild(document.createElement('div')).className = 'gauges';
      el.appendChild(document.createElement('div')).className = 'throttle';
      const sparks = el.appendChild(document.createElement('div'));
      sparks.className = 'sparks';
      for (const label of ['utilization', 'memory']) {
        const box = sparks.appendChild(document.createElement('div'));
        box.appendChild(document.createElement('div')).textContent = label + ' history';
        box.appendChild(document.createElement('canvas')).className = 'spark';
      }
      root.appendChild(el);
    }
    const [h3, box, throttle, sparks] = el.children;
    if (h3.textContent !== g.title) { h3.textContent = g.title; h3.title = g.title; }
    while (box.children.length > g.gauges.length) box.lastChild.remove();
    g.gauges.forEach((spec, i) => {
      let row = box.children[i];
      if (!row) {
        row = box.appendChild(document.createElement('div'));
        row.className = 'gauge';
        row.appendChild(document.createElement('span')).className = 'label';
        row.appendChild(document.createElement('div')).className = 'bar';
        row.lastChild.appendChild(document.createElement('div'));
        row.appendChild(document.createElement('span')).className = 'value';
      }
      const [label, bar, value] = row.children;
      if (label.textContent !== spec.label) label.textContent = spec.label;
      if (value.textContent !== spec.text) value.textContent = spec.text;
      if (row.dataset.name !== spec.label) row.dataset.name = spec.label;
      if (row.dataset.v !== String(spec.v)) row.dataset.v = String(spec.v);
      const ratio = spec.ratio === null ? 0 : Math.max(0, Math.min(1, spec.ratio));
      bar.classList.toggle('none', spec.ratio === null);
      bar.classList.toggle('hot', spec.hot && ratio > 0.9);
      const width = (ratio * 100).toFixed(1) + '%';
      if (bar.dataset.w !== width) {
        bar.dataset.w = width;
        bar.firstChild.style.width = width;
      }
    });
    const reasons = g.throttled.length ? 'Throttled: ' + g.throttled.join(', ') : '';
    if (throttle.textContent !== reasons) throttle.textContent = reasons;
    spark(sparks.children[0].lastChild, g.util, 130, 1);
    spark(sparks.children[1].lastChild, g.mem, 130, g.total);
    return el;
  }

  function collectorState(r, name) {
    const s = r.of('llm_exporter_collector_success').find((x) => x.l.collector === name);
    return s ? (s.v === 1 ? 'ok' : 'failed') : 'off';
  }

  // ---- One update.

  function update(text, t) {
    const started = performance.now();
    const r = reading(text, t);
    current = { t, counters: new Map() };
    seen = new Set();
    colors = { accent: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb' };

    const llm = collectorState(r, 'llm');
    section('servers', servers(r), llm === 'off'
      ? 'The LLM server collector is off (--no-collector.llm).'
      : 'No LLM server: none is configured (--server) and none was found running on this machine.');
    section('models', models(r), 'No models to list: no llama.cpp router, llama-swap or Ollama server.');
    const procs = processes(r);
    const table = section('processes', procs.rows, collectorState(r, 'process') === 'off'
      ? 'The process collector is off (--no-collector.process).'
      : 'No LLM server or GPU process is running on this machine.');
    table.classList.toggle('mac', procs.footprint);

    const root = document.getElementById('gpus');
    const cards = root.querySelector('.cards');
    const list = gpus(r);
    const keep = new Set(list.map((g) => card(cards, g)));
    for (const el of [...cards.children]) if (!keep.has(el)) el.remove();
    const nvml = collectorState(r, 'nvml');
    const apple = collectorState(r, 'apple_gpu');
    const empty = root.querySelector('.empty');
    empty.hidden = list.length > 0;
    empty.textContent = nvml === 'failed'
      ? 'No GPU: NVML cannot be used here (no NVIDIA driver?); the exporter\'s log says why.'
      : nvml === 'off' && apple === 'off' ? 'The GPU collector is off (--no-collector.nvml).' : 'No GPU found.';

    for (const key of history.keys()) if (!seen.has(key)) history.delete(key);
    previous = current;
    api.lastMs = performance.now() - started;
  }

  // ---- Polling.

  let lastTime = null;
  const status = () => document.getElementById('status');

  async function tick() {
    const started = Date.now();
    try {
      const response = await fetch(DATA, { cache: 'no-store', credentials: 'same-origin' });
      if (!response.ok) throw new Error('HTTP ' + response.status);
      const text = await response.text();
      const header = Number(response.headers.get('x-collection-time'));
      const t = header > 0 ? header * 1000 : Date.now();
      if (t !== lastTime) {
        update(text, t);
        lastTime = t;
      }
      document.getElementById('console').classList.remove('stale');
      status().classList.remove('error');
      status().textContent = 'Collected ' + new Date(t).toLocaleTimeString();
    } catch (e) {
      document.getElementById('console').classList.add('stale');
      status().classList.add('error');
      status().textContent = 'The exporter does not answer (' + e.message + ')' +
        (lastTime ? '; showing the collection of ' + new Date(lastTime).toLocaleTimeString() : '');
    }
    setTimeout(tick, Math.max(100, PERIOD_MS - (Date.now() - started)));
  }

  // For the benchmark and tests: feed a collection's text directly, and read the last update's time.
  const api = { update, lastMs: null };
  window.llmConsole = api;
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', tick);
  else tick();
})();
