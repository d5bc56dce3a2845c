// The live page: reads GET /pipeline every second and draws it. Plain browser JavaScript,
// no framework and no build step. Text from the server is only ever set as text, never
// as HTML. The admin token and the read key live in this script's memory (and the read
// key in its input box) until the page is reloaded.
"use strict";

const REFRESH_MS = 1000;
// Throughput history kept per group: one minute of one-second samples.
const WINDOW_S = 60;
// A group is "behind" when its oldest pending message has waited this long, or when it
// has had a backlog for this long that has not shrunk.
const BEHIND_MS = 5000;

const $ = (id) => document.getElementById(id);

/** An element with attributes and children (strings become text nodes). */
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}

const svgNS = "http://www.w3.org/2000/svg";
const groups = new Map(); // name -> {card, letters, samples: [{t, acked, backlog}]}
let adminToken = null;
let pendingAdminAction = null;
let lastGood = null;

function fmtInt(n) {
  return n === null || n === undefined ? "?" : Number(n).toLocaleString("en");
}

function fmtAge(ms) {
  if (ms === null || ms === undefined) return "none";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** The problem+json detail of a failed answer, or its status line. */
async function problemText(resp) {
  try {
    const p = await resp.json();
    return `${resp.status} ${p.title || ""}: ${p.detail || ""}`.trim();
  } catch {
    return `${resp.status} ${resp.statusText}`;
  }
}

function card(name) {
  const dd = (k) => el("dd", { "data-k": k, class: "num" }, "–");
  const spark = document.createElementNS(svgNS, "svg");
  spark.setAttribute("class", "spark");
  spark.setAttribute("viewBox", `0 0 ${WINDOW_S} 100`);
  spark.setAttribute("preserveAspectRatio", "none");
  spark.setAttribute("role", "img");
  spark.setAttribute("aria-label", `${name}: orders per second over the last minute`);
  spark.append(document.createElementNS(svgNS, "polyline"));
  const c = el(
    "article",
    { class: "group", "data-group": name },
    el("h2", {}, name, el("span", { class: "health", "data-k": "health" }, "")),
    spark,
    el(
      "p",
      { class: "rate" },
      el("b", { "data-k": "rate", class: "num" }, "0"),
      " orders/s now, ",
      el("b", { "data-k": "avg", class: "num" }, "0"),
      "/s over the last ",
      el("span", { "data-k": "span" }, "minute"),
      ", peak ",
      el("b", { "data-k": "peak", class: "num" }, "0"),
      "/s",
    ),
    el(
      "dl",
      {},
      el("dt", {}, "backlog (not yet delivered)"), dd("lag"),
      el("dt", {}, "pending (delivered, not acknowledged)"), dd("pending"),
      el("dt", {}, "oldest pending"), dd("age"),
      el("dt", {}, "dead letters"), dd("dead"),
      el("dt", {}, "acknowledged"), dd("acked"),
    ),
  );
  $("groups").append(c);

  const showButton = el("button", { type: "button", class: "show" }, "Show them");
  const redriveButton = el("button", { type: "button", class: "redrive" }, "Redrive");
  const letters = el(
    "div",
    { class: "dl-group", "data-group": name },
    el("h3", {}, `${name}: `, el("span", { "data-k": "count", class: "num" }, "0")),
    showButton,
    " ",
    redriveButton,
    el("ul", {}),
  );
  showButton.addEventListener("click", () => withAdminToken(() => refreshDeadLetters(name)));
  redriveButton.addEventListener("click", () => withAdminToken(() => redrive(name)));
  $("dead-letter-groups").append(letters);
  return { card: c, letters, samples: [], listed: false };
}

function set(root, key, text) {
  root.querySelector(`[data-k="${key}"]`).textContent = text;
}

function draw(status) {
  const now = performance.now() / 1000;
  $("accepted").textContent = fmtInt(status.orders_accepted);
  $("stream").textContent = fmtInt(status.stream_length);
  $("clock").textContent = status.retry_clock.state;
  $("clock").title = status.retry_clock.detail || "";
  const d = status.durability;
  if (d) {
    $("durability").textContent = `${d.level} (${d.confirmed_by})`;
    $("durability").title = d.detail || d.survives;
  }
  drawPartitions(status.partitions || []);
  for (const g of status.groups) {
    if (!groups.has(g.group)) groups.set(g.group, card(g.group));
    const view = groups.get(g.group);
    const backlog = (g.lag || 0) + g.pending;
    view.samples.push({ t: now, acked: g.acked, backlog });
    while (view.samples.length > 1 && now - view.samples[0].t > WINDOW_S) view.samples.shift();

    const s = view.samples;
    const rates = [];
    for (let i = 1; i < s.length; i++) {
      const dt = s[i].t - s[i - 1].t;
      rates.push({ t: s[i].t, r: dt > 0 ? Math.max(0, s[i].acked - s[i - 1].acked) / dt : 0 });
    }
    const span = s[s.length - 1].t - s[0].t;
    const avg = span > 0 ? Math.max(0, s[s.length - 1].acked - s[0].acked) / span : 0;
    const last = rates.length ? rates[rates.length - 1].r : 0;
    const top = Math.max(1, ...rates.map((x) => x.r));
    const points = rates.map((x) => `${(WINDOW_S - (now - x.t)).toFixed(2)},${(100 - (x.r / top) * 96).toFixed(1)}`);
    view.card.querySelector("polyline").setAttribute("points", points.join(" "));

    set(view.card, "rate", fmtInt(Math.round(last)));
    set(view.card, "avg", avg.toFixed(1));
    set(view.card, "peak", fmtInt(Math.round(Math.max(0, ...rates.map((x) => x.r)))));
    // Until the page has watched for a minute, the average is over what it has seen.
    set(view.card, "span", span >= WINDOW_S - 1 ? "minute" : `${Math.round(span)} s`);
    set(view.card, "lag", g.lag === null ? "unknown" : fmtInt(g.lag));
    set(view.card, "pending", fmtInt(g.pending));
    set(view.card, "age", fmtAge(g.oldest_pending_age_ms));
    set(view.card, "dead", fmtInt(g.dead_letters));
    set(view.card, "acked", fmtInt(g.acked));

    // Behind: a message has waited BEHIND_MS, or, at the rate of the last BEHIND_MS, the
    // backlog would take BEHIND_MS or longer to drain (forever, for a stopped consumer).
    // A steady backlog that drains as fast as orders come is not behind.
    const then = s.find((x) => now - x.t <= BEHIND_MS / 1000);
    const watched = now - s[0].t >= BEHIND_MS / 1000 - 0.5;
    const recentRate = then && now > then.t ? Math.max(0, g.acked - then.acked) / (now - then.t) : 0;
    const drainMs = backlog === 0 ? 0 : recentRate > 0 ? (backlog / recentRate) * 1000 : Infinity;
    const behind = (g.oldest_pending_age_ms || 0) >= BEHIND_MS || (watched && drainMs >= BEHIND_MS);
    const state = g.dead_letters > 0 ? "dead" : behind ? "behind" : "ok";
    view.card.className = `group ${state}`;
    view.card.dataset.state = state;
    set(
      view.card,
      "health",
      state === "dead" ? `${fmtInt(g.dead_letters)} dead letter${g.dead_letters === 1 ? "" : "s"}` : state === "behind" ? "falling behind" : backlog ? "draining" : "keeping up",
    );

    set(view.letters, "count", fmtInt(g.dead_letters));
    view.letters.classList.toggle("has-letters", g.dead_letters > 0);
    if (view.listed && adminToken && (g.dead_letters > 0 || view.letters.querySelector("li"))) {
      refreshDeadLetters(g.group);
    }
  }
}

/** The topic's partitions, one row each, when there is more than one: its orders, its
 * entries, its groups' backlog (not yet delivered, and pending), and whether it answers. */
function drawPartitions(partitions) {
  $("partitions").hidden = partitions.length < 2;
  const rows = partitions.map((p) => {
    const backlog = p.groups.reduce((n, g) => n + (g.lag || 0) + g.pending, 0);
    const down = p.unavailable !== undefined;
    const row = el(
      "tr",
      { "data-partition": String(p.partition), class: down ? "down" : "up" },
      el("td", {}, String(p.partition)),
      el("td", { class: "num" }, down ? "?" : fmtInt(p.orders_accepted)),
      el("td", { class: "num" }, down ? "?" : fmtInt(p.stream_length)),
      el("td", { class: "num" }, down ? "?" : fmtInt(backlog)),
      el("td", { title: p.unavailable || "" }, down ? "unavailable: its accounts' orders are refused" : "up"),
    );
    return row;
  });
  $("partition-rows").replaceChildren(...rows);
}

function banner(text) {
  const b = $("banner");
  b.hidden = text === null;
  b.textContent = text || "";
  document.body.classList.toggle("stale", text !== null);
}

async function tick() {
  try {
    const resp = await fetch("pipeline", { cache: "no-store" });
    if (resp.ok) {
      draw(await resp.json());
      lastGood = new Date();
      banner(null);
      $("updated").textContent = `updated ${lastGood.toLocaleTimeString("en-GB")}`;
    } else {
      const why = await problemText(resp);
      const since = lastGood ? ` Showing the numbers from ${lastGood.toLocaleTimeString("en-GB")}.` : "";
      // A 503 names what failed: Redis away, or the app's configuration.
      const what = why.includes("redis is unavailable") ? "Redis is not answering" : "The pipeline's status is unavailable";
      banner(`${what} (${why}).${since} Retrying every second.`);
    }
  } catch (e) {
    banner(`The app is not answering (${e.message}). Retrying every second.`);
  } finally {
    setTimeout(tick, REFRESH_MS);
  }
}

// --- dead letters (admin token) ---------------------------------------------------------

function adminMessage(text, refused) {
  $("admin-message").textContent = text;
  $("admin-message").classList.toggle("refused", !!refused);
}

/** Runs `action` with the admin token, asking for it first if the page has none. */
function withAdminToken(action) {
  if (adminToken) return action();
  pendingAdminAction = action;
  $("admin-form").hidden = false;
  $("admin-token").focus();
}

/** A refusal forgets the token, so the next action asks again. */
function refused(text) {
  adminToken = null;
  for (const view of groups.values()) view.listed = false;
  adminMessage(`Refused: ${text}. The page forgot the token; the next action asks again.`, true);
}

/** An admin request; `null` (and a message) when the app does not answer. */
async function adminFetch(url, method) {
  try {
    return await fetch(url, { method, cache: "no-store", headers: { authorization: `Bearer ${adminToken}` } });
  } catch (e) {
    adminMessage(`The app is not answering (${e.message}).`, true);
    return null;
  }
}

async function refreshDeadLetters(group) {
  const view = groups.get(group);
  const resp = await adminFetch(`pipeline/dead-letters?group=${encodeURIComponent(group)}`, "GET");
  if (!resp) return;
  if (resp.status === 401 || resp.status === 403) return refused(await problemText(resp));
  if (!resp.ok) return adminMessage(`Could not list ${group}'s dead letters: ${await problemText(resp)}`, true);
  const body = await resp.json();
  view.listed = true;
  const items = body.dead_letters.map((d) =>
    el(
      "li",
      {},
      el("span", { class: "reason" }, d.reason),
      el(
        "div",
        { class: "muted" },
        `${d.accountid ? `${d.accountid} / ${d.vendorid}, ` : ""}${d.deliveries} deliveries, ` +
          `dead-lettered ${d.dead_lettered_at || d.entry}`,
      ),
    ),
  );
  if (body.total > body.dead_letters.length) items.push(el("li", { class: "muted" }, `… and ${body.total - body.dead_letters.length} older`));
  view.letters.querySelector("ul").replaceChildren(...items);
}

async function redrive(group) {
  const resp = await adminFetch(`pipeline/redrive?group=${encodeURIComponent(group)}`, "POST");
  if (!resp) return;
  if (resp.status === 401 || resp.status === 403) return refused(await problemText(resp));
  if (!resp.ok) return adminMessage(`The redrive of ${group} failed: ${await problemText(resp)}`, true);
  const body = await resp.json();
  adminMessage(`Redrove ${body.redriven} dead letter${body.redriven === 1 ? "" : "s"} of ${group}.`, false);
  await refreshDeadLetters(group);
}

$("admin-form").addEventListener("submit", (e) => {
  e.preventDefault();
  adminToken = $("admin-token").value;
  $("admin-token").value = "";
  $("admin-form").hidden = true;
  adminMessage("", false);
  const action = pendingAdminAction;
  pendingAdminAction = null;
  if (action) action();
});
$("admin-cancel").addEventListener("click", () => {
  pendingAdminAction = null;
  $("admin-token").value = "";
  $("admin-form").hidden = true;
});

// --- order lookup (read key) -------------------------------------------------------------

$("lookup-form").addEventListener("submit", async (e) => {
  e.preventDefault();
  const q = `accountid=${encodeURIComponent($("lookup-accountid").value)}&vendorid=${encodeURIComponent($("lookup-vendorid").value)}`;
  const headers = { authorization: `Bearer ${$("lookup-key").value}` };
  const message = (text, bad) => {
    $("lookup-message").textContent = text;
    $("lookup-message").classList.toggle("refused", bad);
  };
  $("lookup-order").hidden = true;
  $("lookup-invoice").hidden = true;
  message("Looking…", false);
  try {
    const order = await fetch(`order?${q}`, { headers, cache: "no-store" });
    if (!order.ok) return message(`No order: ${await problemText(order)}`, true);
    $("lookup-order").textContent = JSON.stringify(await order.json(), null, 2);
    $("lookup-order").hidden = false;
    const invoice = await fetch(`invoice?${q}`, { headers, cache: "no-store" });
    if (!invoice.ok) return message(`The order is stored; its invoice: ${await problemText(invoice)}`, invoice.status !== 404);
    const inv = await invoice.json();
    $("lookup-invoice-link").href = inv.url;
    $("lookup-invoice-expiry").textContent = `(the link expires ${inv.expires_at})`;
    $("lookup-invoice").hidden = false;
    message("", false);
  } catch (err) {
    message(`The app is not answering (${err.message}).`, true);
  }
});

tick();
