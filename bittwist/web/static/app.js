// The bittwist status page. It uses only the JSON API of docs/web.md:
// GET /api/events (Server-Sent Events) for the torrent list, GET and POST
// /api/torrents/... for the rest. Requests that change something carry the
// X-Bittwist header the server demands against cross-site requests.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let selected = null;        // info hash (hex) of the torrent shown below the table
  let limitsShownFor = null;  // the torrent whose limits the form shows
  let torrents = [];
  // States a torrent leaves by resuming: paused, done seeding (seed again),
  // and error (check the data again and carry on).
  const RESUMABLE = ["paused", "finished", "error"];
  let detailBusy = false;
  // The folding panels of the detail, with what draws each: an open one is
  // asked for with the pieces, a folded one not at all.
  const PANELS = [["peers", showPeers], ["files", showFiles], ["trackers", showTrackers]];

  async function api(method, path, body, contentType) {
    const headers = {};
    if (method !== "GET") headers["X-Bittwist"] = "1";
    if (contentType) headers["Content-Type"] = contentType;
    const response = await fetch(path, {method, headers, body, credentials: "same-origin"});
    let data = null;
    try { data = await response.json(); } catch (e) { /* not JSON */ }
    if (!response.ok) {
      throw new Error((data && data.error) || `${method} ${path}: HTTP ${response.status}`);
    }
    return data;
  }

  function formatSize(n) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? n.toFixed(0) : n.toFixed(n < 10 ? 2 : 1)) + " " + units[i];
  }
  const formatRate = (r) => (r > 0 ? formatSize(r) + "/s" : "–");
  function formatEta(s) {
    if (s === null || s === undefined || !isFinite(s)) return "–";
    s = Math.round(s);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
  }
  const percent = (p) => (Math.floor(p * 1000) / 10).toFixed(1) + "%";

  function showMessage(text, isError) {
    const box = $("message");
    box.textContent = text;
    box.className = "message " + (isError ? "error" : "ok");
    box.hidden = false;
    clearTimeout(showMessage.timer);
    showMessage.timer = setTimeout(() => { box.hidden = true; }, isError ? 10000 : 4000);
  }

  function cell(row, className) {
    const td = document.createElement("td");
    if (className) td.className = className;
    row.appendChild(td);
    return td;
  }

  function button(label, className, onClick) {
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = label;
    b.className = className;
    b.addEventListener("click", (event) => { event.stopPropagation(); onClick(); });
    return b;
  }

  function makeRow(t) {
    const row = document.createElement("tr");
    row.dataset.infoHash = t.infoHash;
    row.addEventListener("click", () => select(t.infoHash));
    cell(row, "name");
    cell(row, "state-cell").appendChild(document.createElement("span")).className = "state";
    const progress = cell(row, "progress-col");
    const bar = progress.appendChild(document.createElement("div"));
    bar.className = "bar";
    bar.appendChild(document.createElement("div")).className = "fill";
    progress.appendChild(document.createElement("span")).className = "progress-text";
    for (const name of ["size", "down", "up", "peers", "eta"]) cell(row, "num " + name);
    const actions = cell(row, "actions");
    actions.appendChild(button("Pause", "pause", () => act(row.dataset.infoHash, row.dataset.state)));
    actions.appendChild(button("Remove", "remove", () => remove(row.dataset.infoHash, false)));
    actions.appendChild(button("Remove + data", "remove-data danger", () => remove(row.dataset.infoHash, true)));
    return row;
  }

  function updateRow(row, t) {
    row.dataset.state = t.state;
    row.classList.toggle("selected", t.infoHash === selected);
    const q = (sel) => row.querySelector(sel);
    q(".name").textContent = t.name;
    q(".name").title = t.infoHash;
    const state = q(".state");
    state.textContent = t.state;
    state.className = "state state-" + t.state.replace(" ", "-");
    if (t.error) state.title = t.error;
    // A magnet's size is unknown until its metadata is in: show that instead.
    const fetching = t.state === "fetching metadata";
    const shown = fetching ? t.metadataProgress : t.progress;
    q(".fill").style.width = (shown * 100).toFixed(2) + "%";
    q(".fill").classList.toggle("done", !fetching && t.progress >= 1);
    q(".progress-text").textContent = fetching ? "metadata " + percent(shown) : percent(t.progress);
    q(".size").textContent = fetching ? "?" : formatSize(t.totalLength);
    q(".down").textContent = formatRate(t.downloadRate);
    q(".up").textContent = formatRate(t.uploadRate);
    q(".peers").textContent = t.peers + (t.knownPeers > t.peers ? " / " + t.knownPeers : "");
    q(".eta").textContent = !fetching && t.progress >= 1 ? "done" : formatEta(t.eta);
    const pause = q("button.pause");
    const resumable = RESUMABLE.includes(t.state);
    pause.textContent = resumable ? "Resume" : "Pause";
    pause.className = resumable ? "pause resume" : "pause";
    pause.disabled = !resumable && !["downloading", "seeding"].includes(t.state);
  }

  function render(list) {
    torrents = list;
    const body = $("torrent-rows");
    const rows = new Map([...body.children].map((r) => [r.dataset.infoHash, r]));
    for (const t of list) {
      let row = rows.get(t.infoHash);
      if (!row) { row = makeRow(t); body.appendChild(row); }
      rows.delete(t.infoHash);
      updateRow(row, t);
    }
    for (const row of rows.values()) row.remove();
    $("empty").hidden = list.length > 0;
    $("torrents-card").hidden = list.length === 0;
    const down = list.reduce((s, t) => s + t.downloadRate, 0);
    const up = list.reduce((s, t) => s + t.uploadRate, 0);
    $("totals").textContent = `↓ ${formatRate(down)}  ↑ ${formatRate(up)}`;
    if (selected && !list.some((t) => t.infoHash === selected)) selected = null;
    if (!selected && list.length) selected = list[0].infoHash;
    refreshDetail();
  }

  function select(infoHash) {
    selected = infoHash;
    for (const row of $("torrent-rows").children) {
      row.classList.toggle("selected", row.dataset.infoHash === selected);
    }
    refreshDetail();
  }

  async function refreshDetail() {
    const t = torrents.find((x) => x.infoHash === selected);
    $("detail").hidden = !t;
    if (!t || detailBusy) return;
    $("detail-name").textContent = t.name;
    $("detail-facts").textContent =
      `${t.infoHash} · ${formatSize(t.verifiedLength)} of ${formatSize(t.totalLength)} verified · ` +
      `downloaded ${formatSize(t.downloaded)}, uploaded ${formatSize(t.uploaded)} · ` +
      `${t.hashFailures} hash failures` + (t.error ? ` · error: ${t.error}` : "");
    const sequential = $("sequential");
    sequential.checked = t.sequential;
    sequential.disabled = t.state === "fetching metadata";
    if (limitsShownFor !== t.infoHash) {
      // Filled once per torrent shown, not under the user's typing.
      limitsShownFor = t.infoHash;
      $("max-peers").value = t.maxPeers;
      $("seed-ratio").value = t.seedRatio === null ? "" : t.seedRatio;
      $("seed-time").value = t.seedTime === null ? "" : Math.round(t.seedTime / 60);
      $("torrent-down").value = t.maxDownloadRate ? Math.round(t.maxDownloadRate / 1024) : "";
      $("torrent-up").value = t.maxUploadRate ? Math.round(t.maxUploadRate / 1024) : "";
    }
    // Nothing is drawn while the page is in the background: ask nothing.
    if (document.hidden) return;
    detailBusy = true;
    try {
      const base = "/api/torrents/" + t.infoHash;
      // The pieces, and each folding panel only while it is open.
      const parts = [["pieces", drawPieces], ...PANELS.filter(([part]) => $(part + "-panel").open)];
      const answers = await Promise.all(parts.map(([part]) => api("GET", `${base}/${part}`)));
      if (t.infoHash === selected) parts.forEach(([, show], i) => show(answers[i]));
    } catch (e) {
      // Removed meanwhile: the next update hides it.
    } finally {
      detailBusy = false;
    }
  }

  function drawPieces(pieces) {
    const canvas = $("piece-map");
    const bits = Uint8Array.from(atob(pieces.bitfield), (c) => c.charCodeAt(0));
    const n = pieces.numPieces;
    const width = canvas.clientWidth || 600;
    // Square cells as large as fit, between 3 and 14 px, in at most 12 rows before shrinking.
    let size = 14;
    while (size > 3 && Math.ceil(n / Math.floor(width / size)) * size > 12 * 14) size--;
    const columns = Math.max(1, Math.floor(width / size));
    const rows = Math.ceil(n / columns);
    const ratio = window.devicePixelRatio || 1;
    canvas.width = width * ratio;
    canvas.height = rows * size * ratio;
    canvas.style.height = rows * size + "px";
    const ctx = canvas.getContext("2d");
    ctx.scale(ratio, ratio);
    const styles = getComputedStyle(document.documentElement);
    const have = styles.getPropertyValue("--have").trim();
    const missing = styles.getPropertyValue("--missing").trim();
    const gap = size > 5 ? 1 : 0;
    for (let i = 0; i < n; i++) {
      const on = (bits[i >> 3] >> (7 - (i & 7))) & 1;
      ctx.fillStyle = on ? have : missing;
      ctx.fillRect((i % columns) * size, Math.floor(i / columns) * size, size - gap, size - gap);
    }
    $("piece-count").textContent = `${pieces.verified} of ${n} verified`;
    canvas.dataset.verified = pieces.verified;
  }

  function showPeers(peers) {
    const body = $("peer-rows");
    body.replaceChildren();
    for (const p of peers) {
      const row = body.insertRow();
      const flags = [
        p.peerChoking ? "choked" : "unchoked",
        p.amInterested ? "interested" : "",
        p.snubbed ? "snubbed" : "",
        p.encrypted ? "encrypted" : "",
        ...(p.extensions || []),
      ].filter(Boolean).join(", ");
      const values = [p.address, p.client, p.source, formatRate(p.downloadRate),
        formatRate(p.uploadRate), percent(p.progress), flags];
      values.forEach((v, i) => { cell(row, i >= 3 && i <= 5 ? "num" : "").textContent = v; });
    }
    $("peers-card").hidden = peers.length === 0;
    $("no-peers").hidden = peers.length > 0;
  }

  const PRIORITIES = [["0", "Skip"], ["1", "Normal"], ["2", "High"]];

  function showFiles(files) {
    const body = $("file-rows");
    // Rows are kept while the same files are shown, so that a priority
    // menu the user has open is not rebuilt under them each second.
    const key = selected + files.map((f) => f.path).join("\n");
    if (body.dataset.key !== key) {
      body.dataset.key = key;
      body.replaceChildren();
      files.forEach((f, index) => {
        const row = body.insertRow();
        cell(row, "").textContent = f.path;
        cell(row, "num").textContent = formatSize(f.size);
        cell(row, "num");
        const choice = document.createElement("select");
        choice.className = "file-priority";
        choice.setAttribute("aria-label", `Priority of ${f.path}`);
        for (const [value, label] of PRIORITIES) choice.add(new Option(label, value));
        choice.addEventListener("change", () => setFilePriority(index, choice));
        cell(row, "").appendChild(choice);
      });
    }
    files.forEach((f, index) => {
      const row = body.rows[index];
      row.cells[2].textContent = percent(f.progress);
      row.classList.toggle("skipped", f.priority === 0);
      const choice = row.cells[3].firstChild;
      if (document.activeElement !== choice) choice.value = String(f.priority);
    });
    $("files-card").hidden = files.length === 0;
  }

  async function setFilePriority(index, choice) {
    if (!selected) return;
    try {
      const files = await api("POST", `/api/torrents/${selected}/files`,
        JSON.stringify({index, priority: Number(choice.value)}), "application/json");
      const f = files[index];
      const label = PRIORITIES[f.priority][1].toLowerCase();
      showMessage(f.priority === 0 ? `${f.path}: skipped` : `${f.path}: ${label} priority`, false);
      showFiles(files);
    } catch (e) {
      showMessage(e.message, true);
      refreshDetail();
    }
  }

  function showTrackers(trackers) {
    const body = $("tracker-rows");
    body.replaceChildren();
    for (const t of trackers) {
      const row = body.insertRow();
      const seeds = t.seeders === null ? "–" : `${t.seeders} / ${t.leechers === null ? "–" : t.leechers}`;
      const values = [t.url, String(t.tier), t.state, formatEta(t.lastAnnounceAgo),
        formatEta(t.nextAnnounceIn), String(t.peers), seeds, t.error || ""];
      values.forEach((v, i) => { cell(row, i === 1 || (i >= 3 && i <= 6) ? "num" : "").textContent = v; });
    }
    $("trackers-card").hidden = trackers.length === 0;
    $("no-trackers").hidden = trackers.length > 0;
  }

  async function announce() {
    if (!selected) return;
    try {
      await api("POST", `/api/torrents/${selected}/announce`);
      refreshDetail();
    } catch (e) {
      showMessage(e.message, true);
    }
  }

  async function act(infoHash, state) {
    const action = RESUMABLE.includes(state) ? "resume" : "pause";
    try {
      await api("POST", `/api/torrents/${infoHash}/${action}`);
    } catch (e) {
      showMessage(e.message, true);
    }
  }

  async function remove(infoHash, deleteData) {
    const t = torrents.find((x) => x.infoHash === infoHash);
    if (deleteData && !confirm(`Remove ${t ? t.name : infoHash} and delete its downloaded files?`)) return;
    try {
      await api("DELETE", `/api/torrents/${infoHash}` + (deleteData ? "?deleteData=1" : ""));
      showMessage(`Removed ${t ? t.name : infoHash}` + (deleteData ? " and its files" : ""), false);
    } catch (e) {
      showMessage(e.message, true);
    }
  }

  $("announce").addEventListener("click", announce);

  // Whether each folding panel is open is remembered for the next visit.
  for (const [part] of PANELS) {
    const panel = $(part + "-panel");
    const saved = localStorage.getItem("bittwist-panel-" + part);
    if (saved !== null) panel.open = saved === "open";
    panel.addEventListener("toggle", () => {
      localStorage.setItem("bittwist-panel-" + part, panel.open ? "open" : "closed");
      if (panel.open) refreshDetail();
    });
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refreshDetail(); });

  // Global rate limits: KiB/s on the page, bytes/s in the API, 0 = none.
  const kib = (rate) => (rate ? String(Math.round(rate / 1024)) : "");
  async function showRates() {
    try {
      const settings = await api("GET", "/api/settings");
      $("max-down").value = kib(settings.maxDownloadRate);
      $("max-up").value = kib(settings.maxUploadRate);
    } catch (e) {
      showMessage(e.message, true);
    }
  }
  $("rates-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const rate = (id) => Math.max(0, Math.round(Number($(id).value || 0) * 1024));
    try {
      const settings = await api("POST", "/api/settings",
        JSON.stringify({maxDownloadRate: rate("max-down"), maxUploadRate: rate("max-up")}), "application/json");
      showMessage(`Limits set: down ${kib(settings.maxDownloadRate) || "unlimited"}, ` +
        `up ${kib(settings.maxUploadRate) || "unlimited"} KiB/s`, false);
    } catch (e) {
      showMessage(e.message, true);
    }
  });
  showRates();
  $("limits-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!selected) return;
    const number = (id) => ($(id).value.trim() === "" ? null : Number($(id).value));
    const minutes = number("seed-time");
    const body = {
      maxPeers: number("max-peers"),
      seedRatio: number("seed-ratio"),
      seedTime: minutes === null ? null : minutes * 60,
      maxDownloadRate: Math.round((number("torrent-down") || 0) * 1024),
      maxUploadRate: Math.round((number("torrent-up") || 0) * 1024),
    };
    if (body.maxPeers === null) delete body.maxPeers;
    try {
      const t = await api("POST", `/api/torrents/${selected}/options`, JSON.stringify(body), "application/json");
      showMessage(`${t.name}: limits saved`, false);
    } catch (e) {
      showMessage(e.message, true);
    }
  });
  $("sequential").addEventListener("change", async (event) => {
    if (!selected) return;
    try {
      const t = await api("POST", `/api/torrents/${selected}/options`,
        JSON.stringify({sequential: event.target.checked}), "application/json");
      showMessage(t.sequential ? `${t.name}: pieces in order` : `${t.name}: rarest pieces first`, false);
    } catch (e) {
      event.target.checked = !event.target.checked;
      showMessage(e.message, true);
    }
  });
  $("add-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("torrent-file");
    const file = input.files[0];
    if (!file) { showMessage("Choose a .torrent file first.", true); return; }
    try {
      const t = await api("POST", "/api/torrents", file, "application/x-bittorrent");
      showMessage(`Added ${t.name}`, false);
      input.value = "";
      selected = t.infoHash;
    } catch (e) {
      showMessage(e.message, true);
    }
  });

  $("url-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("torrent-url");
    const url = input.value.trim();
    if (!url) { showMessage("Paste a magnet link or the address of a .torrent file first.", true); return; }
    const button = $("url-button");
    button.disabled = true;
    const magnet = url.toLowerCase().startsWith("magnet:");
    showMessage(magnet ? "Adding the magnet link…" : `Fetching ${url}…`, false);
    try {
      const body = magnet ? {magnet: url} : {url};
      const t = await api("POST", "/api/torrents", JSON.stringify(body), "application/json");
      showMessage(`Added ${t.name}`, false);
      input.value = "";
      selected = t.infoHash;
    } catch (e) {
      showMessage(e.message, true);
    } finally {
      button.disabled = false;
    }
  });

  function connect() {
    const live = $("live");
    const source = new EventSource("/api/events");
    source.addEventListener("torrents", (event) => {
      live.textContent = "live";
      live.className = "live on";
      render(JSON.parse(event.data));
    });
    source.onerror = () => {
      live.textContent = "reconnecting…";
      live.className = "live off";
    };
  }

  // Opened as /?token=...: the server set a cookie; keep the token out of
  // the address bar, history and screenshots.
  if (new URLSearchParams(location.search).has("token")) {
    history.replaceState(null, "", location.pathname);
  }
  connect();

  // The DHT node's figures, every few seconds; hidden when it is off.
  async function refreshDHT() {
    try {
      const d = await api("GET", "/api/dht");
      $("dht").hidden = !d.enabled;
      if (d.enabled) $("dht").textContent = `DHT ${d.nodes} nodes, ${d.lookupsRunning} lookups`;
    } catch (e) {
      $("dht").hidden = true;
    }
  }
  refreshDHT();
  setInterval(refreshDHT, 5000);
})();
