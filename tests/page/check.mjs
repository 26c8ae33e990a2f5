// Validates the overview page's HTML (html-validate), drives it in Debian's
// headless chromium (puppeteer-core, no browser download) and asserts what a
// person would see. Run by
// tests/it/page.rs, which starts the exporter and the scenario containers:
//   node tests/page/check.mjs <base url> <container name prefix> <screenshot dir>
// Exits non-zero with the failed check on stderr.
import puppeteer from "puppeteer-core";
import { HtmlValidate } from "html-validate";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const [base, prefix, shots] = process.argv.slice(2);
const n = (short) => prefix + short;
const profile = mkdtempSync(join(tmpdir(), "page-check-"));
const browser = await puppeteer.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  userDataDir: profile,
  args: [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
  ],
});

const problems = [];
function watch(page) {
  page.on("console", (m) => {
    if (m.type() === "error" || m.type() === "warn") problems.push(`console ${m.type()}: ${m.text()}`);
  });
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("dialog", async (d) => {
    problems.push(`dialog: ${d.message()}`);
    await d.dismiss();
  });
  page.on("response", (r) => {
    if (r.status() >= 400) problems.push(`HTTP ${r.status()}: ${r.url()}`);
  });
  page.on("requestfailed", (r) => problems.push(`request failed: ${r.url()}`));
  page.on("request", (r) => {
    if (!r.url().startsWith(base)) problems.push(`request off the exporter: ${r.url()}`);
  });
}

/** The table as the DOM has it: every row, visible or not. */
const rows = (page) =>
  page.$$eval("#containers tbody tr", (trs) =>
    trs.map((r) => ({
      name: r.dataset.name,
      state: r.dataset.state,
      project: r.dataset.project,
      attention: r.dataset.attention,
      flagged: r.classList.contains("attn"),
      hidden: r.hidden,
      text: [...r.cells].map((c) => c.textContent),
      v: [...r.cells].map((c) => c.dataset.v),
    })),
  );
const ours = async (page) => (await rows(page)).filter((r) => r.name.startsWith(prefix));
const byName = async (page) => Object.fromEntries((await ours(page)).map((r) => [r.name, r]));
const CPU = 9;
const COMPOSE = 1;

async function setInput(page, selector, value) {
  await page.$eval(
    selector,
    (el, v) => {
      el.value = v;
      el.dispatchEvent(new Event("input", { bubbles: true }));
    },
    value,
  );
}

try {
  // Valid HTML, as served (the whole page, with the hostile label in it).
  const served = await (await fetch(base + "/")).text();
  const report = await new HtmlValidate({ extends: ["html-validate:standard"] }).validateString(served);
  const messages = report.results.flatMap((r) => r.messages.map((m) => `${m.line}:${m.column} ${m.ruleId}: ${m.message}`));
  assert.deepEqual(messages, [], "html-validate (standard) finds nothing");

  const page = await browser.newPage();
  watch(page);
  await page.setViewport({ width: 1440, height: 900 });
  await page.evaluateOnNewDocument(() => {
    window.__pwned = 0;
  });
  await page.goto(base + "/", { waitUntil: "load" });
  assert.equal(await page.$eval("#controls", (f) => f.hidden), false, "the script shows the controls");

  // The busy container's CPU rate needs two samples: wait for a refresh that has it.
  const deadline = Date.now() + 40_000;
  let seen;
  for (;;) {
    seen = await byName(page);
    const busy = seen[n("busy")];
    if (busy && busy.v[CPU] !== "" && busy.v[CPU] !== undefined && Number(busy.v[CPU]) > 0.3) break;
    assert.ok(Date.now() < deadline, `no CPU rate for the busy container: ${JSON.stringify(busy)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
  console.log(JSON.stringify(seen, null, 1));

  // Each container with its state, the bad ones flagged with the reason.
  const expect = {
    running: ["running", null],
    exited3: ["exited", "exited non-zero"],
    unhealthy: ["running", "unhealthy"],
    paused: ["paused", "paused"],
    busy: ["running", undefined],
  };
  for (const [short, [state, why]] of Object.entries(expect)) {
    const r = seen[n(short)];
    assert.ok(r, `row for ${short}`);
    assert.equal(r.state, state, `${short} state`);
    assert.ok(r.text[3] === state, `${short} state cell`);
    if (why === undefined) {
      // Flagged only at 90% of its quota or more, which a loaded machine may not give.
    } else if (why) {
      assert.ok(r.flagged && r.attention.includes(why), `${short} flagged: ${r.attention}`);
    } else {
      assert.ok(!r.flagged, `${short} not flagged`);
    }
  }
  const oom = Object.values(seen).find((r) => r.name.startsWith(n("oom")));
  assert.ok(oom && oom.flagged && oom.attention.includes("OOM-killed"), `OOM row: ${JSON.stringify(oom)}`);
  assert.equal(oom.text[7], "yes");
  assert.equal(seen[n("exited3")].text[5], "3", "exit code shown");
  assert.equal(seen[n("unhealthy")].text[4], "unhealthy");

  // The busy loop under --cpus 0.5: its rate is near the quota.
  const cpu = Number(seen[n("busy")].v[CPU]);
  assert.ok(cpu > 0.3 && cpu < 0.6, `busy CPU ${cpu} near its 0.5 quota`);
  assert.match(seen[n("busy")].text[CPU], /\/ 0\.50 \(\d+%\)$/);

  // The hostile compose-service label is text, and nothing it holds ran.
  const hostile = seen[n("hostile")];
  assert.ok(hostile.text[COMPOSE].includes('<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'));
  assert.equal(await page.evaluate(() => window.__pwned), 0, "no script from a label ran");
  assert.equal(await page.$$eval("script", (s) => s.length), 1, "only the page's own script");
  assert.equal(await page.$$eval("#containers img", (s) => s.length), 0);

  // Sorting: by name both ways, by CPU descending puts the busy loop first.
  const order = async () => (await ours(page)).map((r) => r.name);
  await page.click("#containers th[data-col='0']");
  const asc = await order();
  assert.deepEqual(asc, [...asc].sort((a, b) => a.localeCompare(b)), "name ascending");
  await page.click("#containers th[data-col='0']");
  assert.deepEqual(await order(), [...asc].reverse(), "name descending");
  await page.click(`#containers th[data-col='${CPU}']`);
  await page.click(`#containers th[data-col='${CPU}']`);
  assert.equal(await page.$eval(`#containers th[data-col='${CPU}']`, (t) => t.getAttribute("aria-sort")), "descending");
  assert.equal((await ours(page))[0].name, n("busy"), "highest CPU first");

  // Filtering: by name, by state, by attention, by compose project.
  const visible = async () => (await rows(page)).filter((r) => !r.hidden);
  await setInput(page, "#q", n("exited3"));
  assert.deepEqual((await visible()).map((r) => r.name), [n("exited3")]);
  await setInput(page, "#q", prefix);
  await page.select("#state", "paused");
  assert.deepEqual((await visible()).map((r) => r.name), [n("paused")]);
  await page.select("#state", "attention");
  const flagged = (await visible()).map((r) => r.name);
  for (const short of ["exited3", "unhealthy", "paused"]) assert.ok(flagged.includes(n(short)), short);
  assert.ok(!flagged.includes(n("running")));
  await page.select("#state", "");
  await page.select("#project", "demo");
  assert.deepEqual((await visible()).map((r) => r.name).sort(), [n("busy"), n("hostile"), n("running")]);
  await page.select("#project", "");

  // The refresh swaps the live part in place: no reload, and sort and filter stay.
  await page.evaluate(() => {
    window.__marker = 1;
    document.getElementById("live").dataset.old = "1";
  });
  await page.waitForFunction(() => !document.getElementById("live").dataset.old, { timeout: 15_000 });
  assert.equal(await page.evaluate(() => window.__marker), 1, "not reloaded");
  assert.equal((await ours(page))[0].name, n("busy"), "sort kept after the refresh");
  assert.ok((await visible()).every((r) => r.name.startsWith(prefix)), "filter kept after the refresh");
  assert.match(await page.$eval("#refresh", (e) => e.textContent), /^updated /);

  // Screenshots: the scenario's rows, desktop (light and dark) and phone width.
  await page.click("#containers th[data-col='0']");
  await page.screenshot({ path: join(shots, "overview.png") });
  const background = () => page.evaluate(() => getComputedStyle(document.body).backgroundColor);
  assert.equal(await background(), "rgb(255, 255, 255)");
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "dark" }]);
  assert.equal(await background(), "rgb(21, 24, 28)", "dark mode follows the system");
  await page.screenshot({ path: join(shots, "overview-dark.png") });
  await page.emulateMediaFeatures([{ name: "prefers-color-scheme", value: "light" }]);
  // isMobile reloads the page: filter to the scenario again.
  await page.setViewport({ width: 390, height: 844, deviceScaleFactor: 1, isMobile: true, hasTouch: true });
  await page.waitForSelector("#controls:not([hidden])");
  await setInput(page, "#q", prefix);
  await page.screenshot({ path: join(shots, "overview-phone.png") });

  // With JavaScript off: the same table, static, without the controls.
  const off = await browser.newPage();
  watch(off);
  await off.setJavaScriptEnabled(false);
  await off.goto(base + "/", { waitUntil: "load" });
  const still = await byName(off);
  assert.equal(still[n("exited3")]?.attention, "exited non-zero");
  assert.equal(await off.$eval("#controls", (f) => f.hidden), true);

  assert.deepEqual(problems, [], "no console errors, dialogs or failed requests");
  console.log("page check passed");
} finally {
  await browser.close();
  rmSync(profile, { recursive: true, force: true });
}
