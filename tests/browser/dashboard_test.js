// The dashboard in a real Chromium, against a real cluster: run by tests/cluster_browser_test.cc
// with MUSTER_URL, MUSTER_ADMIN_TOKEN (the cluster owner's, whose jobs run), MUSTER_VIEWER_TOKEN,
// MUSTER_VIEWER_NAME, MUSTER_STATE_DIR, MUSTER_BINARY, SCREENSHOT_DIR and NODE_EXTRA_CA_CERTS
// (the cluster CA, for this script's own calls) set. Prints one line per check; exits 1 at the
// first that fails. Screenshots of each page go to SCREENSHOT_DIR.
"use strict";

const puppeteer = require("puppeteer-core");
const { execFileSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(name + " is not set (run through cluster_browser_test)");
  return v;
};
const URL = env("MUSTER_URL");
const ADMIN = env("MUSTER_ADMIN_TOKEN");
const VIEWER = env("MUSTER_VIEWER_TOKEN");
const SHOTS = env("SCREENSHOT_DIR");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";

function ok(what) { console.log("ok " + what); }

async function rest(method, p, token, body) {
  const r = await fetch(URL + p, {
    method, body: body ? JSON.stringify(body) : undefined,
    headers: Object.assign({ Authorization: "Bearer " + token },
                           body ? { "Content-Type": "application/json" } : {}),
  });
  const j = await r.json();
  if (!r.ok) throw new Error(`${method} ${p}: ${r.status} ${JSON.stringify(j)}`);
  return j;
}

async function shot(page, name) {
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
}

async function signIn(page, token) {
  await page.goto(URL + "/", { waitUntil: "networkidle0" });
  await page.waitForSelector("#signin:not([hidden])");
  await page.type("#token", token);
  await page.click("#signin-button");
  await page.waitForSelector("#nav:not([hidden])");
}

async function main() {
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    // Chromium does not know the cluster's CA (it has its own store); the page's calls go to the
    // same origin as the page itself, so the certificate is the one the tests check elsewhere.
    ignoreHTTPSErrors: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
    defaultViewport: { width: 1280, height: 860 },
  });
  const errors = [];
  try {
    const page = await browser.newPage();
    page.on("pageerror", (e) => errors.push(e.message));
    const consoleLines = [];
    page.on("console", (m) => consoleLines.push(m.text()));
    page.on("requestfailed", (r) => consoleLines.push("request failed: " + r.url() + " " + (r.failure()?.errorText || "")));

    // Sign-in first; no token in the URL or in local storage afterwards.
    await page.goto(URL + "/", { waitUntil: "networkidle0" });
    await page.waitForSelector("#signin:not([hidden])");
    await shot(page, "signin");
    ok("the page asks for a token");
    const csp = (await page.goto(URL + "/", { waitUntil: "networkidle0" })).headers()["content-security-policy"];
    if (!csp || !csp.includes("default-src 'self'")) throw new Error("no Content-Security-Policy: " + csp);
    await signIn(page, ADMIN);
    await page.waitForSelector('#nodes tr.node[data-node="node-0"]');
    if (page.url().includes(ADMIN)) throw new Error("the token is in the URL");
    const stored = await page.evaluate(() => [sessionStorage.getItem("muster.token"), localStorage.length]);
    if (stored[0] !== ADMIN || stored[1] !== 0) throw new Error("token kept elsewhere than sessionStorage");
    ok("signed in as admin; the overview lists node-0");

    // A job with progress lines: it appears in the queue; its bar advances; its log follows.
    const job = (await rest("POST", "/api/v1/jobs", ADMIN, {
      name: "progress", workdir: "/tmp",
      command: "for i in 1 2 3 4 5 6 7 8 9 10; do echo MUSTER_PROGRESS done=$i total=10; echo line $i; sleep 0.5; done",
    })).job_id;
    await page.goto(URL + "/#/queue");
    await page.waitForSelector(`#queue tr.job[data-job="${job}"]`);
    await shot(page, "queue");
    ok("the submitted job is in the queue");
    await page.goto(URL + "/#/job/" + job);
    const done = async () => page.$eval(".progress", (e) => +e.dataset.done).catch(() => 0);
    await page.waitForFunction(() => +(document.querySelector(".progress")?.dataset.done || 0) >= 1,
                               { timeout: 30000 });
    const first = await done();
    await page.waitForFunction((n) => +(document.querySelector(".progress")?.dataset.done || 0) > n,
                               { timeout: 30000 }, first);
    ok(`the progress bar advances (${first} -> ${await done()} of 10)`);
    await page.waitForFunction(() => document.querySelector("#log")?.textContent.includes("line 3"),
                               { timeout: 30000 }).catch(async (e) => {
      const log = await page.$eval("#log", (el) => el.textContent).catch(() => "(no #log)");
      throw new Error(e.message + "; the log shows: " + JSON.stringify(log) + "; console: " + consoleLines.join(" | "));
    });
    await shot(page, "job");
    ok("the log tail follows");
    await page.waitForFunction(() => document.querySelector("#job-state")?.textContent === "succeeded",
                               { timeout: 30000 });
    ok("the job page shows it succeeded");

    // Cancel from the page as admin.
    const sleeper = (await rest("POST", "/api/v1/jobs", ADMIN, { command: "sleep 300", workdir: "/tmp" })).job_id;
    await page.goto(URL + "/#/job/" + sleeper);
    await page.waitForSelector("#cancel");
    await page.click("#cancel");
    await page.waitForFunction(() => document.querySelector("#job-state")?.textContent === "cancelled",
                               { timeout: 30000 });
    ok("cancel from the page cancels the job");

    // A viewer sees everything but the buttons, and the API refuses it the cancel.
    const other = (await rest("POST", "/api/v1/jobs", ADMIN, { command: "sleep 300", workdir: "/tmp" })).job_id;
    const context = await browser.createBrowserContext();
    const vpage = await context.newPage();
    vpage.on("pageerror", (e) => errors.push(e.message));
    await signIn(vpage, VIEWER);
    await vpage.goto(URL + "/#/job/" + other);
    await vpage.waitForSelector("#tasks tr.task");
    if (await vpage.$("#cancel")) throw new Error("a viewer is offered the cancel button");
    const status = await vpage.evaluate(async (id) => (await fetch("/api/v1/jobs/" + id, {
      method: "DELETE", headers: { Authorization: "Bearer " + sessionStorage.getItem("muster.token") } })).status, other);
    if (status !== 403) throw new Error("a viewer's cancel was answered " + status);
    ok("a viewer gets no cancel button, and its cancel is refused (403)");

    // The other pages.
    for (const [name, sel] of [["schedule", "#gantt"], ["balancer", "#loads"]]) {
      await page.goto(URL + "/#/" + name);
      await page.waitForSelector(sel);
      await shot(page, name);
      ok("the " + name + " page renders");
    }
    const report = path.join(SHOTS, "sim-report");
    execFileSync(env("MUSTER_BINARY"), ["sim", "--generate", "jobs=300,rate=200,seed=3", "--cluster", "2x8",
                                        "--policy", "fifo,srtf", "--report", report], { stdio: "ignore" });
    await page.goto(URL + "/#/sim");
    const input = await page.waitForSelector("#report-file");
    await input.uploadFile(path.join(report, "report.json"));
    await page.waitForFunction(() => document.querySelectorAll("#runs tr").length === 3, { timeout: 10000 });
    await page.waitForSelector("#report .uplot canvas", { timeout: 10000 });
    await shot(page, "sim");
    ok("the simulator page shows a report's runs and plots them");
    await page.goto(URL + "/#/overview");
    await page.waitForSelector('#nodes tr.node[data-node="node-0"]');
    await page.waitForSelector("#page .uplot canvas", { timeout: 20000 });
    const series = await page.$$eval("#page .uplot .u-legend .u-series", (els) => els.map((e) => e.textContent));
    if (!series.some((t) => t.includes("Jain"))) throw new Error("the balance chart has no Jain series: " + series);
    await shot(page, "overview");
    ok("the overview charts the balance trend");

    // A token that stops working sends the page back to sign-in.
    execFileSync(env("MUSTER_BINARY"), ["admin", "user", "remove", env("MUSTER_VIEWER_NAME")],
                 { env: process.env, stdio: "ignore" });
    await vpage.waitForSelector("#signin:not([hidden])", { timeout: 15000 });
    const why = await vpage.$eval("#signin-why", (e) => e.textContent);
    if (!why.startsWith("Signed out")) throw new Error("sign-in says: " + why);
    ok("a removed token returns to sign-in (" + why + ")");
    await context.close();
    if (errors.length) throw new Error("errors on the page: " + errors.join("; "));
    ok("no script errors on the pages");
  } finally {
    await browser.close();
  }
}

main().then(() => process.exit(0), (e) => { console.log("FAILED: " + e.message); process.exit(1); });
