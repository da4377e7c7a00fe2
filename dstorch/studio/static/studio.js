// The studio page: tabs, the API with the token, and the five tools.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";
const MAX_TAKE_SECONDS = 5; // a take stops itself after this
const TRY_CHUNK = 1600; // samples sent per Try request (100 ms)
const EPOCHS_SHOWN = 12; // the latest epochs; the report has the whole curve
const $ = (id) => document.getElementById(id);
let state = null;

function say(text, error = false) {
  $("message").textContent = text;
  $("message").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const headers = { "X-Studio-Token": TOKEN, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || response.statusText);
  return body;
}

function postJson(path, data) {
  return api(path, { method: "POST", body: JSON.stringify(data), headers: { "Content-Type": "application/json" } });
}

function showTab(name) {
  document.querySelectorAll("section").forEach((s) => s.classList.toggle("active", s.id === name));
  document.querySelectorAll("nav button").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
  if (name === "report") $("report-frame").src = "/report/?token=" + encodeURIComponent(TOKEN);
  if (name === "train") followTraining();
}

async function refresh() {
  state = await api("/api/state");
  renderCommands();
  renderTakes();
}

// --- Commands --------------------------------------------------------------------------
function renderCommands() {
  const { columns, rows } = state.table;
  $("command-table").tHead.innerHTML = "<tr>" + columns.map((c) => `<th>${c}</th>`).join("") + "<th></th></tr>";
  const body = $("command-table").tBodies[0];
  body.innerHTML = "";
  rows.forEach((row) => addRow(row));
}

function addRow(row) {
  const { columns } = state.table;
  const tr = document.createElement("tr");
  columns.forEach((column) => {
    const td = document.createElement("td");
    const input = document.createElement("input");
    input.dataset.column = column;
    input.value = row[column] || "";
    input.size = column === "id" ? 4 : 28;
    td.appendChild(input);
    tr.appendChild(td);
  });
  const remove = document.createElement("button");
  remove.textContent = "Remove";
  remove.onclick = () => tr.remove();
  tr.appendChild(document.createElement("td")).appendChild(remove);
  $("command-table").tBodies[0].appendChild(tr);
}

function tableFromPage() {
  const rows = [...$("command-table").tBodies[0].rows].map((tr) => {
    const row = {};
    tr.querySelectorAll("input").forEach((input) => { row[input.dataset.column] = input.value; });
    return row;
  });
  return { columns: state.table.columns, rows };
}

function nextId() {
  const ids = tableFromPage().rows.map((r) => parseInt(r.id, 10)).filter((n) => !isNaN(n));
  return String(ids.length ? Math.max(...ids) + 1 : 1);
}

$("add-row").onclick = () => addRow({ id: nextId() });
$("add-language").onclick = () => {
  const name = $("new-language").value.trim();
  if (!name) return;
  const table = tableFromPage();
  state.table = { columns: [...table.columns, name], rows: table.rows };
  renderCommands();
  $("new-language").value = "";
};
$("save-commands").onclick = async () => {
  try {
    state = await postJson("/api/commands", tableFromPage());
    renderCommands(); renderTakes();
    say("commands.csv saved (the previous version is commands.csv.previous)");
  } catch (e) { say(e.message, true); }
};

// --- Record ----------------------------------------------------------------------------
const recording = { queue: [], key: null, chunks: [], samples: null, mic: null, timer: null, audio: null };

function takesOf(key, speaker) {
  return ((state.takes[key] || {})[speaker]) || 0;
}

function renderTakes() {
  const speaker = $("speaker").value.trim();
  $("take-table").tHead.innerHTML = "<tr><th>id</th><th>command</th><th>all takes</th><th>yours</th><th>more would help</th></tr>";
  const body = $("take-table").tBodies[0];
  body.innerHTML = "";
  for (const [key, text] of Object.entries(state.commands)) {
    const all = Object.values(state.takes[key] || {}).reduce((a, b) => a + b, 0);
    const mine = takesOf(key, speaker);
    const more = Math.max(0, state.wanted - mine);
    const tr = body.insertRow();
    tr.dataset.id = key;
    [key, text, all, mine, more ? `${more} more` : "enough"].forEach((v) => { tr.insertCell().textContent = v; });
    tr.cells[4].className = more ? "more" : "enough";
  }
}

function shuffle(items) {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

function nextPrompt() {
  const speaker = $("speaker").value.trim();
  if (!recording.queue.length) { // a new round: each command still short of takes, shuffled
    const keys = Object.keys(state.commands);
    const short = keys.filter((k) => takesOf(k, speaker) < state.wanted);
    recording.queue = shuffle(short.length ? short : keys);
  }
  recording.key = recording.queue.shift();
  $("prompt-text").textContent = state.commands[recording.key];
  $("prompt-id").textContent = `(id ${recording.key})`;
  resetTake();
}

function resetTake() {
  recording.samples = null;
  $("replay").disabled = $("redo").disabled = $("keep").disabled = true;
  $("rec").disabled = false;
  $("trim-info").textContent = "";
  drawWave($("wave"), new Int16Array(1), null);
}

$("begin").onclick = async () => {
  await refresh();
  if (!Object.keys(state.commands).length) return say("add commands first (Commands page)", true);
  if (!/^[A-Za-z0-9][A-Za-z0-9-]{0,39}$/.test($("speaker").value.trim())) {
    return say("speaker: letters, digits or '-' (no spaces or '_')", true);
  }
  $("session").hidden = false;
  recording.queue = [];
  renderTakes();
  nextPrompt();
};
$("speaker").oninput = () => state && renderTakes();

$("rec").onclick = async () => {
  if (recording.mic) return stopTake();
  recording.chunks = [];
  try {
    recording.mic = await openMicrophone((samples) => {
      recording.chunks.push(samples);
      $("level").style.width = levelOf(samples) + "%";
    });
  } catch (e) { return say("microphone: " + e.message, true); }
  $("rec").textContent = "Stop";
  recording.timer = setTimeout(stopTake, MAX_TAKE_SECONDS * 1000);
};

async function stopTake() {
  clearTimeout(recording.timer);
  recording.mic.close();
  recording.mic = null;
  $("rec").textContent = "Record";
  $("level").style.width = "0";
  recording.samples = concatInt16(recording.chunks);
  try {
    const trim = await api("/api/trim", { method: "POST", body: wavBlob(recording.samples) });
    drawWave($("wave"), recording.samples, trim.speech ? trim : null);
    $("trim-info").textContent = trim.speech
      ? `speech ${trim.start.toFixed(2)}-${trim.end.toFixed(2)} s of ${trim.seconds.toFixed(2)} s`
      : "no speech found: redo it";
    $("keep").disabled = !trim.speech;
  } catch (e) { say(e.message, true); }
  $("replay").disabled = $("redo").disabled = false;
  $("rec").disabled = true;
}

$("replay").onclick = () => {
  if (recording.audio) URL.revokeObjectURL(recording.audio.src);
  recording.audio = new Audio(URL.createObjectURL(wavBlob(recording.samples)));
  recording.audio.play();
};
$("redo").onclick = resetTake;
$("skip").onclick = nextPrompt;
$("keep").onclick = async () => {
  const speaker = encodeURIComponent($("speaker").value.trim());
  const key = encodeURIComponent(recording.key);
  try {
    const saved = await api(`/api/takes?speaker=${speaker}&id=${key}`, { method: "POST", body: wavBlob(recording.samples) });
    state.takes = saved.takes;
    say(`saved ${saved.name}`);
    renderTakes();
    nextPrompt();
  } catch (e) { say(e.message, true); }
};

// --- Train -----------------------------------------------------------------------------
let events = null;
function followTraining() {
  if (events) return;
  events = new EventSource("/api/train/events?token=" + encodeURIComponent(TOKEN));
  events.onmessage = (event) => showTraining(JSON.parse(event.data));
}

function showTraining(s) {
  const preparing = s.step === "prepare" || s.step === "build";
  $("train-status").textContent = preparing ? `${s.step}... (${s.status})` : s.status;
  $("epochs").tBodies[0].innerHTML = s.epochs.slice(-EPOCHS_SHOWN).map((e) =>
    `<tr><td>${e.epoch}</td><td>${e.train_loss ?? ""}</td><td>${e.dev_loss ?? ""}</td></tr>`).join("");
  $("accuracy").innerHTML = s.accuracy.map((line) => `<li>${line.replace(/</g, "&lt;")}</li>`).join("");
  const log = $("train-log");
  log.textContent = [...s.output, ...s.log].join("\n");
  log.scrollTop = log.scrollHeight; // the newest lines in view
}

$("train-start").onclick = async () => {
  try { await api("/api/train/start", { method: "POST" }); say("training starts: prepare, build, run"); }
  catch (e) { say(e.message, true); }
};
$("train-stop").onclick = async () => {
  say("stopping...");
  try { showTraining(await api("/api/train/stop", { method: "POST" })); say("stopped; Start resumes"); }
  catch (e) { say(e.message, true); }
};

// --- Try -------------------------------------------------------------------------------
const trying = { mic: null, session: null, pending: [], sending: Promise.resolve() };

function showHeard(utterances) {
  for (const u of utterances) {
    const tr = $("heard").tBodies[0].insertRow(0);
    tr.className = u.command ? "accepted" : "rejected";
    const confidence = u.confidence === null ? "" : u.confidence.toFixed(2);
    [u.text || "(nothing)", u.command || "rejected: no command", confidence,
      `${u.start.toFixed(2)}-${u.end.toFixed(2)} s`].forEach((v) => { tr.insertCell().textContent = v; });
  }
}

function sendChunk(session, samples) { // in order, one request at a time
  trying.sending = trying.sending.then(async () => {
    const found = await api(`/api/try/${session}`, { method: "POST", body: samples.buffer });
    showHeard(found.utterances);
  }).catch((e) => say(e.message, true));
}

$("listen").onclick = async () => {
  try {
    const session = (await api("/api/try", { method: "POST" })).session;
    trying.session = session;
    trying.pending = [];
    trying.mic = await openMicrophone((samples) => {
      if (trying.session !== session) return; // stopped: the last blocks are not wanted
      $("try-level").style.width = levelOf(samples) + "%";
      trying.pending.push(samples);
      if (trying.pending.reduce((n, c) => n + c.length, 0) >= TRY_CHUNK) {
        sendChunk(session, concatInt16(trying.pending));
        trying.pending = [];
      }
    });
    $("listen").disabled = true; $("listen-stop").disabled = false;
    say("listening: say a command");
  } catch (e) { say(e.message, true); }
};
$("listen-stop").onclick = async () => {
  const session = trying.session;
  trying.session = null;
  trying.mic.close(); trying.mic = null;
  if (trying.pending.length) sendChunk(session, concatInt16(trying.pending));
  await trying.sending;
  try {
    showHeard((await api(`/api/try/${session}/close`, { method: "POST" })).utterances);
    say("stopped listening");
  } catch (e) { say(e.message, true); }
  $("listen").disabled = false; $("listen-stop").disabled = true;
};

// --- start -----------------------------------------------------------------------------
document.querySelectorAll("nav button").forEach((b) => { b.onclick = () => { location.hash = b.dataset.tab; }; });
window.addEventListener("hashchange", () => showTab(location.hash.slice(1) || "commands"));
// The tab shows at once; its contents follow when the state arrives.
showTab(location.hash.slice(1) || "commands");
refresh().then(() => { document.body.dataset.ready = "yes"; }).catch((e) => say(e.message, true));
